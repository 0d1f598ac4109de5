"""Combine policies: ``"a+b"`` applies ``a`` then ``b``, and rejects conflicts.

Policies apply in the order written. Two policies *conflict* when they would change the
same field of the same object to different values, so that the result would depend on
their order — for example two diversification caps on the same buyer and material, two
trade facilitations that both shorten the same edge, two entrants that both rescale the
same buyer's shares, or two levers that add a node with the same id. A conflict is a
:class:`~crmsim.policy.PolicyError` naming both policies and the field; combine such
options into one policy instead. Changing an object that an earlier policy *added*
(e.g. trade facilitation shortening an entrant's new cross-border edge) is not a
conflict: it is the point of combining them.

Examples
--------
>>> parse_combination("msme_api_makers + stockpile_60d")
('msme_api_makers', 'stockpile_60d')
>>> parse_combination("baseline")
()
>>> parse_combination("a+a")
Traceback (most recent call last):
...
crmsim.policy.PolicyError: 'a+a' names policy 'a' twice
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from crmsim.policy import PolicyError
from crmsim.policy.levers import apply_policy, diversify_claims, planned_nodes
from crmsim.scenario.schema import Edge, Node, Scenario

__all__ = ["BASELINE", "PolicyApplication", "apply_policies", "parse_combination"]

#: The unchanged scenario.
BASELINE = "baseline"


def parse_combination(text: str) -> tuple[str, ...]:
    """Split a combination such as ``"a+b"`` into policy ids (``"baseline"`` → ``()``).

    Parameters
    ----------
    text : str
        ``baseline``, a policy id, or ids joined by ``+`` (spaces around ``+`` allowed).

    Returns
    -------
    tuple of str
        The ids in the order written.

    Raises
    ------
    PolicyError
        An empty part, a repeated id, or ``baseline`` combined with policies.
    """
    parts = tuple(p.strip() for p in str(text).split("+"))
    if any(not p for p in parts):
        raise PolicyError(f"empty policy id in {text!r}; combine policies as 'a+b'")
    if parts == (BASELINE,):
        return ()
    if BASELINE in parts:
        raise PolicyError(
            f"'baseline' cannot be combined with policies in {text!r}; it is the unchanged scenario"
        )
    seen: set[str] = set()
    for p in parts:
        if p in seen:
            raise PolicyError(f"{text!r} names policy {p!r} twice")
        seen.add(p)
    return parts


@dataclass(frozen=True)
class PolicyApplication:
    """A scenario with a combination of policies applied.

    Attributes
    ----------
    scenario : Scenario
        The transformed (validated) scenario; the baseline itself for ``baseline``.
    policies : tuple of str
        Policy ids in the order applied (empty for the baseline).
    costs : tuple of StaticCost
        Static cost of each policy, in the same order.
    """

    scenario: Scenario
    policies: tuple[str, ...]
    costs: tuple[Any, ...]

    @property
    def combination(self) -> str:
        """The combination as written: ``"a+b"``, or ``"baseline"``."""
        return "+".join(self.policies) or BASELINE

    @property
    def label(self) -> str:
        """Plain-language label: the policies' labels joined by " + "."""
        if not self.policies:
            return "baseline (no policy)"
        return " + ".join(self.scenario.policy(p).label or p for p in self.policies)

    @property
    def total_cost(self) -> Any:
        """The static costs of all policies added up (a StaticCost)."""
        from crmsim.policy.costs import StaticCost

        return StaticCost.total(self.costs, self.combination)


# ---------------------------------------------------------------------------- conflicts
def _edge_key(scenario: Scenario, e: Edge, outputs: dict[str, str | None]) -> tuple[str, ...]:
    return (e.from_, e.to, e.material or outputs.get(e.from_) or "")


def _objects(scenario: Scenario) -> dict[tuple[str, ...], Node | Edge]:
    outputs = {n.id: n.output for n in scenario.nodes}
    objs: dict[tuple[str, ...], Node | Edge] = {("node", n.id): n for n in scenario.nodes}
    for e in scenario.edges:
        objs[("edge", *_edge_key(scenario, e, outputs))] = e
    return objs


def _describe(key: tuple[str, ...]) -> str:
    if key[0] == "node":
        return f"node {key[1]!r}"
    return f"edge {key[1]}->{key[2]} ({key[3]})"


def _short(value: Any) -> str:
    if hasattr(value, "model_dump"):
        value = value.model_dump(exclude_none=True)
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _changes(
    before: Scenario, after: Scenario
) -> tuple[set[tuple[str, ...]], dict[tuple[tuple[str, ...], str], Any]]:
    """Objects added, and (object, field) → new value for every changed field."""
    old, new = _objects(before), _objects(after)
    added = {k for k in new if k not in old}
    changed: dict[tuple[tuple[str, ...], str], Any] = {}
    for k, obj in new.items():
        if k in added:
            continue
        prev = old[k]
        for f in type(obj).model_fields:
            if getattr(obj, f) != getattr(prev, f):
                changed[(k, f)] = getattr(obj, f)
    for k in old:
        if k not in new:
            changed[(k, "(removed)")] = None
    return added, changed


def _unknown(pid: str, scenario: Scenario) -> PolicyError:
    valid = [BASELINE, *(p.id for p in scenario.policies)]
    close = difflib.get_close_matches(pid, valid, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else "."
    return PolicyError(
        f"unknown policy {pid!r}{hint} Policies of this scenario: {', '.join(valid)}"
    )


def apply_policies(scenario: Scenario, policies: str | Sequence[str]) -> PolicyApplication:
    """Apply a combination of the scenario's policies, in the order written.

    Parameters
    ----------
    scenario : Scenario
        The baseline scenario, whose ``policies`` define the ids.
    policies : str or sequence of str
        ``"baseline"``, ``"a"``, ``"a+b"``, or a list of ids.

    Returns
    -------
    PolicyApplication
        The transformed scenario, the ids applied and their static costs.

    Raises
    ------
    PolicyError
        An unknown id (with a did-you-mean suggestion), a lever that cannot be applied,
        or two policies that conflict (naming both and the field).

    Examples
    --------
    >>> from crmsim.scenario.loader import scenario_from_dict
    >>> s = scenario_from_dict({
    ...     "crmsim": 1, "name": "x",
    ...     "materials": [{"id": "ore"}],
    ...     "nodes": [
    ...         {"id": "m1", "role": "mine", "country": "AUS", "output": "ore", "capacity": 9},
    ...         {"id": "city", "role": "market", "country": "DEU", "demand": {"mean": 5}},
    ...     ],
    ...     "edges": [{"from": "m1", "to": "city", "lead_time": 30}],
    ...     "policies": [
    ...         {"id": "fast", "trade_facilitation": {"factor": 0.5}},
    ...         {"id": "faster", "trade_facilitation": {"minus_days": 5}},
    ...     ],
    ... })
    >>> apply_policies(s, "baseline").scenario is s
    True
    >>> apply_policies(s, "fast").scenario.edges[0].lead_time.fixed
    15.0
    >>> apply_policies(s, "fast+faster")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    crmsim.policy.PolicyError: policies 'fast' and 'faster' conflict: both change lead_time ...
    """
    from crmsim.policy.costs import static_cost

    ids = parse_combination(policies) if isinstance(policies, str) else tuple(policies)
    if not isinstance(policies, str):
        ids = parse_combination("+".join(ids)) if ids else ()
    known = {p.id for p in scenario.policies}
    for pid in ids:
        if pid not in known:
            raise _unknown(pid, scenario)

    result = scenario
    added_by: dict[tuple[str, ...], str] = {}
    changed_by: dict[tuple[tuple[str, ...], str], tuple[str, Any]] = {}
    claimed_by: dict[str, str] = {}
    for pid in ids:
        policy = scenario.policy(pid)
        for node_id, lever in planned_nodes(result, policy):
            owner = added_by.get(("node", node_id))
            if owner is not None:
                raise PolicyError(
                    f"policies {owner!r} and {pid!r} conflict: both add node {node_id!r} "
                    f"({pid!r} through its {lever} lever); give one of them another `id`"
                )
        if policy.diversify is not None:
            for claim in diversify_claims(result, policy.diversify, pid):
                owner = claimed_by.get(claim)
                if owner is not None:
                    raise PolicyError(
                        f"policies {owner!r} and {pid!r} conflict: both set {claim}; keep "
                        "one diversification per buyer and material"
                    )
                claimed_by[claim] = pid
        after = apply_policy(result, policy)
        added, changed = _changes(result, after)
        for (key, field), value in sorted(changed.items(), key=lambda kv: str(kv[0])):
            if key in added_by:
                continue  # changing what an earlier policy added is combining, not conflict
            previous = changed_by.get((key, field))
            if previous is not None and previous[0] != pid:
                raise PolicyError(
                    f"policies {previous[0]!r} and {pid!r} conflict: both change {field} of "
                    f"{_describe(key)} ({previous[0]!r} to {_short(previous[1])}, {pid!r} to "
                    f"{_short(value)}); combine them into one policy or apply only one"
                )
            changed_by[(key, field)] = (pid, value)
        for key in added:
            added_by[key] = pid
        result = after
    costs = tuple(static_cost(result, scenario.policy(pid)) for pid in ids)
    return PolicyApplication(scenario=result, policies=ids, costs=costs)
