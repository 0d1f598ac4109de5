"""The six levers, each a pure function ``(scenario, lever, policy_id) -> Scenario``.

Every lever expresses a policy as changes to scenario objects — new nodes and edges,
changed shares, lead times or node fields — and never mutates its input: it rebuilds the
tuples of nodes and edges with :meth:`pydantic.BaseModel.model_copy` and new models. The
result is re-validated from scratch (:func:`crmsim.scenario.loader.scenario_from_dict`),
so a lever can never silently produce an invalid scenario: a problem becomes a
:class:`~crmsim.policy.PolicyError` naming the policy and the lever.

The runtime mechanics are the engine's: it reads ``Node.entry`` (MSME entrants: finance,
entry trigger, ramp-up, qualification, exit), ``Node.development`` (UNFC resources:
drawn start day, success, capacity spread) and the ``release`` rule of stockpile nodes.
Edges from recyclers are ordinary sourcing edges: their ``share`` (the maximum
substitution share) is part of the buyer's sum-to-one shares, and orders a recycler
cannot fill for lack of feedstock move to qualified alternatives after the switching
delay.

Examples
--------
>>> from crmsim.scenario.loader import scenario_from_dict
>>> from crmsim.scenario.schema import MsmeEntrant
>>> s = scenario_from_dict({
...     "crmsim": 1, "name": "two suppliers",
...     "materials": [{"id": "api"}, {"id": "pills"}],
...     "nodes": [
...         {"id": "cn", "role": "processor", "country": "CHN", "output": "api",
...          "capacity": 50},
...         {"id": "in", "role": "processor", "country": "IND", "output": "api",
...          "capacity": 30},
...         {"id": "fm", "role": "processor", "country": "DEU", "output": "pills",
...          "capacity": 100, "recipe": {"api": 1.0}},
...         {"id": "mk", "role": "market", "country": "DEU", "demand": {"mean": 60}},
...     ],
...     "edges": [
...         {"from": "cn", "to": "fm", "share": 0.75, "lead_time": 35},
...         {"from": "in", "to": "fm", "share": 0.25, "lead_time": 28},
...         {"from": "fm", "to": "mk"},
...     ],
... })
>>> lever = MsmeEntrant(count=2, country="DEU", size="small", capacity=5,
...                     supplies=["fm"], share=0.2)
>>> t = apply_msme_entrant(s, lever, "msme")
>>> [(e.from_, round(e.share, 3)) for e in t.edges if e.to == "fm"]
[('cn', 0.6), ('in', 0.2), ('msme_1', 0.1), ('msme_2', 0.1)]
>>> t.node("msme_1").entry.day, s is not t, len(s.nodes)
(0.0, True, 4)
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from pydantic import ValidationError

from crmsim.policy import PolicyError
from crmsim.policy.unfc_defaults import capacity_cv, development_default
from crmsim.scenario.distributions import Dist
from crmsim.scenario.schema import (
    LEVERS,
    Development,
    DevelopResource,
    Diversify,
    Edge,
    Entry,
    MsmeEntrant,
    Node,
    Policy,
    Recycling,
    Release,
    Role,
    Scenario,
    Stockpile,
    TradeFacilitation,
)

__all__ = [
    "SHARE_TOLERANCE",
    "apply_develop_resource",
    "apply_diversify",
    "apply_msme_entrant",
    "apply_policy",
    "apply_recycling",
    "apply_stockpile",
    "apply_trade_facilitation",
    "diversify_claims",
    "planned_nodes",
    "scale_lead_time",
]

#: Shares of one buyer and material sum to one within this after a lever.
SHARE_TOLERANCE = 1e-9


# ============================================================================ helpers
def _listing(values: Iterable[str]) -> str:
    items = sorted(set(values))
    return ", ".join(items) if items else "(none)"


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def _revalidate(scenario: Scenario, policy_id: str, lever: str) -> Scenario:
    """Validate a transformed scenario from scratch, as if it were read from a file."""
    from crmsim.scenario.errors import ScenarioError
    from crmsim.scenario.loader import scenario_from_dict

    data = scenario.model_dump(mode="json", by_alias=True, exclude_none=True)
    try:
        return scenario_from_dict(data, filename=f"<policy {policy_id}>")
    except ScenarioError as exc:
        details = "\n".join(f"  {p.field_path}: {p.message}" for p in exc.problems)
        raise PolicyError(
            f"policy {policy_id!r} ({lever}) would make the scenario invalid:\n{details}"
        ) from None


def _model(cls: Callable[..., Any], policy_id: str, lever: str, **fields: Any) -> Any:
    """Build a schema model, turning a validation error into a PolicyError."""
    try:
        return cls(**fields)
    except ValidationError as exc:
        msgs = "; ".join(str(err["msg"]).removeprefix("Value error, ") for err in exc.errors())
        raise PolicyError(f"policy {policy_id!r} ({lever}): {msgs}") from None


def _node(scenario: Scenario, node_id: str, policy_id: str, lever: str, what: str) -> Node:
    try:
        return scenario.node(node_id)
    except KeyError:
        import difflib

        close = difflib.get_close_matches(node_id, [n.id for n in scenario.nodes], n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise PolicyError(
            f"policy {policy_id!r} ({lever}): {what} {node_id!r} is not a node of the "
            f"scenario{hint}"
        ) from None


def _edge_material(scenario: Scenario, e: Edge) -> str | None:
    if e.material is not None:
        return e.material
    for n in scenario.nodes:
        if n.id == e.from_:
            return n.output
    return None


def _uses(scenario: Scenario, node: Node) -> set[str]:
    """Materials a node takes from its suppliers."""
    if node.role is Role.PROCESSOR and node.recipe:
        return set(node.recipe)
    if node.role is Role.MARKET and node.output is None:
        return {m for e in scenario.edges if e.to == node.id and (m := _edge_material(scenario, e))}
    if node.role in (Role.PROCESSOR, Role.STOCKPILE, Role.MARKET) and node.output:
        return {node.output}
    return set()


def _roles(scenario: Scenario) -> dict[str, Role]:
    return {n.id: n.role for n in scenario.nodes}


def _pull_edges(scenario: Scenario, buyer: str, material: str) -> list[int]:
    """Indices of the buyer's sourcing edges for a material."""
    return [
        i
        for i, e in enumerate(scenario.edges)
        if e.to == buyer and _edge_material(scenario, e) == material
    ]


def _planned(scenario: Scenario) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """Planned output per node and planned need per node and input material."""
    from crmsim.network.graph import baseline_flows, build_graph, node_need

    G = build_graph(scenario)
    rates, _ = baseline_flows(G)
    needs = {n: node_need(G, n, rates[n]) for n in G.nodes}
    return rates, needs


def _require_new_ids(scenario: Scenario, ids: Sequence[str], policy_id: str, lever: str) -> None:
    existing = {n.id for n in scenario.nodes}
    taken = [i for i in ids if i in existing]
    if taken:
        raise PolicyError(
            f"policy {policy_id!r} ({lever}) adds node {taken[0]!r}, but the scenario "
            "already has a node with that id; give the lever another `id`"
        )


# ============================================================================ msme_entrant
def _entrant_ids(lever: MsmeEntrant, policy_id: str) -> list[str]:
    prefix = lever.id or policy_id
    return [f"{prefix}_{k}" for k in range(1, lever.count + 1)]


def apply_msme_entrant(scenario: Scenario, lever: MsmeEntrant, policy_id: str) -> Scenario:
    """Add ``count`` MSME entrants that enter during the run.

    The new nodes are ``<id>_1 … <id>_n`` (``id`` defaults to the policy id), with the
    lever's role, country, size, capacity, recipe and days of cover, and an
    :class:`~crmsim.scenario.schema.Entry` built from the trigger (its rule fields:
    ``for_days``, or ``window_days`` with or without ``shortage_days``) and the finance,
    ramp-up, qualification, exit and stress-exit parameters. Their output is the lever's ``output``,
    or else the one material every buyer in ``supplies`` uses (an error when that is
    ambiguous). A shortage trigger watches ``trigger.buyer`` (default: the first buyer
    supplied) when that buyer is a market, and all markets otherwise.

    Edges added (lead time ``lever.lead_time``, default 2 days — an assumption):

    * from ``suppliers`` to each entrant, for each recipe input, the input's share split
      equally among the listed suppliers that produce it;
    * from each entrant to each buyer in ``supplies``, marked ``qualified``. With
      ``share`` given, the buyer's existing shares of that material are scaled by
      ``1 − share`` and each entrant gets ``share / count``; without it, each entrant
      edge has share 0 (an alternative the buyer re-sources to when a supplier fails).

    A recycler entrant is treated the same way (its ``share`` is the maximum substitution
    share of secondary material).

    Parameters
    ----------
    scenario : Scenario
        The scenario to change (not modified).
    lever : MsmeEntrant
        The lever.
    policy_id : str
        The policy's id (node id prefix and error messages).

    Returns
    -------
    Scenario
        A new, validated scenario.

    Raises
    ------
    PolicyError
        Unknown buyers or suppliers, an ambiguous or unusable output, a recipe input
        without a listed supplier, or node ids already taken.
    """
    name = "msme_entrant"
    ids = _entrant_ids(lever, policy_id)
    _require_new_ids(scenario, ids, policy_id, name)
    buyers = [_node(scenario, b, policy_id, name, "buyer") for b in lever.supplies]
    suppliers = [_node(scenario, s, policy_id, name, "supplier") for s in lever.suppliers]
    if not buyers:
        raise PolicyError(f"policy {policy_id!r} ({name}): `supplies` names no buyer")
    role = Role(lever.role)

    uses = {b.id: _uses(scenario, b) for b in buyers}
    if lever.output is not None:
        output = lever.output
        for b in buyers:
            if output not in uses[b.id]:
                raise PolicyError(
                    f"policy {policy_id!r} ({name}): buyer {b.id!r} does not use {output!r} "
                    f"(it uses {_listing(uses[b.id])})"
                )
    else:
        common = set.intersection(*(uses[b.id] for b in buyers))
        if len(common) != 1:
            used = "; ".join(f"{b.id} uses {_listing(uses[b.id])}" for b in buyers)
            raise PolicyError(
                f"policy {policy_id!r} ({name}): cannot infer the entrants' output from "
                f"their buyers ({used}); give `output`"
            )
        output = common.pop()

    if lever.recipe and role is not Role.PROCESSOR:
        raise PolicyError(f"policy {policy_id!r} ({name}): only a processor has a recipe")
    if suppliers and not lever.recipe:
        raise PolicyError(
            f"policy {policy_id!r} ({name}): `suppliers` are given but the entrants have no "
            "recipe that would use their material; give `recipe`"
        )
    supplier_edges: list[tuple[str, str, float]] = []  # (supplier, material, share)
    for material in lever.recipe:
        makers = [s.id for s in suppliers if s.output == material]
        if not makers:
            raise PolicyError(
                f"policy {policy_id!r} ({name}): recipe input {material!r} has no supplier in "
                f"`suppliers` ({_listing(s.id for s in suppliers)}); list a node that "
                f"produces {material!r}"
            )
        supplier_edges += [(m, material, 1.0 / len(makers)) for m in makers]
    stray = [s.id for s in suppliers if s.output not in lever.recipe]
    if stray:
        raise PolicyError(
            f"policy {policy_id!r} ({name}): supplier {stray[0]!r} produces "
            f"{scenario.node(stray[0]).output!r}, which the recipe does not use"
        )

    trig = lever.trigger
    if trig.day is not None:
        when: dict[str, Any] = {"day": trig.day}
    else:
        watched = trig.buyer or buyers[0].id
        watched_node = _node(scenario, watched, policy_id, name, "trigger buyer")
        when = {
            "fill_rate_below": trig.fill_rate_below,
            "watch": watched if watched_node.role is Role.MARKET else None,
        }
        # Pass only the rule fields the trigger selects (Entry rejects for_days together
        # with window_days as ambiguous).
        if trig.window_days is None:
            when["for_days"] = trig.consecutive_days
        else:
            when["window_days"] = trig.window_days
            if trig.shortage_days is not None:
                when["shortage_days"] = trig.shortage_days
    entry = _model(
        Entry,
        policy_id,
        name,
        **when,
        finance_probability=lever.finance_probability,
        ramp_up_days=lever.ramp_up_days,
        qualification_days=lever.qualification_days,
        exit_hazard_per_year=lever.exit_hazard_per_year,
        stress_hazard_per_year=lever.stress_hazard_per_year,
        stress_utilisation_below=lever.stress_utilisation_below,
    )
    new_nodes = [
        _model(
            Node,
            policy_id,
            name,
            id=i,
            role=role,
            country=lever.country,
            size=lever.size,
            employees=lever.employees,
            reference_price_eur=lever.reference_price_eur,
            output=output,
            capacity=lever.capacity,
            recipe=dict(lever.recipe),
            stock_days=lever.stock_days,
            entry=entry,
            source=f"added by policy {policy_id} (msme_entrant)",
        )
        for i in ids
    ]

    edges = list(scenario.edges)
    new_edges: list[Edge] = []
    for i in ids:
        for sup, material, share in supplier_edges:
            new_edges.append(
                Edge.model_validate(
                    {
                        "from": sup,
                        "to": i,
                        "material": material,
                        "share": share,
                        "lead_time": lever.lead_time,
                    }
                )
            )
    for b in buyers:
        if lever.share is None:
            share_each = 0.0
        else:
            share_each = lever.share / lever.count
            for k in _pull_edges(scenario, b.id, output):
                edges[k] = edges[k].model_copy(update={"share": edges[k].share * (1 - lever.share)})
        for i in ids:
            new_edges.append(
                Edge.model_validate(
                    {
                        "from": i,
                        "to": b.id,
                        "material": output,
                        "share": share_each,
                        "lead_time": lever.lead_time,
                        "qualified": True,
                    }
                )
            )
    result = scenario.model_copy(
        update={"nodes": (*scenario.nodes, *new_nodes), "edges": (*edges, *new_edges)}
    )
    return _revalidate(result, policy_id, name)


# ============================================================================ recycling
def apply_recycling(scenario: Scenario, lever: Recycling, policy_id: str) -> Scenario:
    """Add a recycler, or change an existing one, and its edges to the buyers.

    A new recycler (``id`` not in the scenario) needs ``country``, ``output`` and
    ``capacity``; it gets role ``recycler`` with the lever's size, collection rate,
    recovery efficiency, markets collected from and UNFC code. An existing recycler
    gets its capacity multiplied by ``capacity_factor`` (or set to ``capacity``) and any
    of collection rate, recovery efficiency, ``collects_from``, size and UNFC code the
    lever gives.

    For each buyer in ``supplies`` an edge recycler → buyer is added (or its share
    updated) with ``share = max_share`` and lead time ``lever.lead_time`` (default 2
    days, an assumption); the buyer's other shares of that material are scaled so that
    they still sum to one. ``max_share`` is the maximum substitution share: the buyer
    orders that share of its need from the recycler, and what the recycler cannot fill
    for lack of end-of-life feedstock moves to qualified alternatives after the switching
    delay. The edge is ``qualified``: when another supplier fails, the buyer re-sources to
    the recycler up to what its feedstock and recovered stock allow.

    Parameters
    ----------
    scenario : Scenario
        The scenario to change (not modified).
    lever : Recycling
        The lever.
    policy_id : str
        The policy's id (for error messages).

    Returns
    -------
    Scenario
        A new, validated scenario.

    Raises
    ------
    PolicyError
        A new recycler without country, output or capacity; an existing node that is not
        a recycler; a buyer that does not use the recovered material.
    """
    name = "recycling"
    existing = next((n for n in scenario.nodes if n.id == lever.id), None)
    nodes = list(scenario.nodes)
    if existing is None:
        missing = [f for f in ("country", "output", "capacity") if getattr(lever, f) is None]
        if missing:
            raise PolicyError(
                f"policy {policy_id!r} ({name}): {lever.id!r} is a new recycler (no node has "
                f"this id), so it needs {', '.join(missing)}"
            )
        if lever.capacity_factor is not None:
            raise PolicyError(
                f"policy {policy_id!r} ({name}): capacity_factor scales an existing recycler; "
                f"{lever.id!r} is new, so give `capacity`"
            )
        fields: dict[str, Any] = {
            "id": lever.id,
            "role": Role.RECYCLER,
            "country": lever.country,
            "size": lever.size,
            "output": lever.output,
            "capacity": lever.capacity,
            "collection_rate": lever.collection_rate,
            "recovery_efficiency": lever.recovery_efficiency,
            "collects_from": lever.collects_from,
            "unfc": lever.unfc,
            "source": f"added by policy {policy_id} (recycling)",
        }
        given = {k: v for k, v in fields.items() if v is not None}
        recycler = _model(Node, policy_id, name, **given)
        nodes.append(recycler)
    else:
        if existing.role is not Role.RECYCLER:
            raise PolicyError(
                f"policy {policy_id!r} ({name}): {lever.id!r} is an existing "
                f"{existing.role.value}; recycling adds a new recycler or changes an existing "
                "recycler"
            )
        for f in ("country", "output"):
            value = getattr(lever, f)
            if value is not None and value != getattr(existing, f):
                raise PolicyError(
                    f"policy {policy_id!r} ({name}): recycler {lever.id!r} has {f} "
                    f"{getattr(existing, f)!r}; the lever cannot change it to {value!r}"
                )
        update: dict[str, Any] = {}
        if lever.capacity is not None and lever.capacity_factor is not None:
            raise PolicyError(
                f"policy {policy_id!r} ({name}): give capacity or capacity_factor, not both"
            )
        if lever.capacity is not None:
            update["capacity"] = lever.capacity
        elif lever.capacity_factor is not None:
            update["capacity"] = (existing.capacity or 0.0) * lever.capacity_factor
        for f in ("collection_rate", "recovery_efficiency", "size", "unfc"):
            if getattr(lever, f) is not None:
                update[f] = getattr(lever, f)
        if lever.collects_from:
            update["collects_from"] = lever.collects_from
        recycler = existing.model_copy(update=update)
        nodes[nodes.index(existing)] = recycler

    output = recycler.output
    assert output is not None  # a recycler always has an output (schema)
    edges = list(scenario.edges)
    for b in lever.supplies:
        buyer = _node(scenario, b, policy_id, name, "buyer")
        if output not in _uses(scenario, buyer):
            raise PolicyError(
                f"policy {policy_id!r} ({name}): buyer {b!r} does not use {output!r} "
                f"(it uses {_listing(_uses(scenario, buyer))}), so it cannot take the "
                "recycler's output"
            )
        k = next(
            (
                k
                for k, e in enumerate(edges)
                if e.from_ == recycler.id
                and e.to == b
                and _edge_material(scenario, e) in (None, output)
            ),
            None,
        )
        old_share = 0.0 if k is None else edges[k].share
        if old_share != lever.max_share:
            others = [
                j
                for j, e in enumerate(edges)
                if j != k and e.to == b and _edge_material(scenario, e) == output
            ]
            rest = sum(edges[j].share for j in others)
            if rest <= 0 and lever.max_share < 1:
                raise PolicyError(
                    f"policy {policy_id!r} ({name}): buyer {b!r} has no other supplier of "
                    f"{output!r} to take the remaining {1 - lever.max_share:g} of its need"
                )
            factor = (1.0 - lever.max_share) / rest if rest > 0 else 0.0
            for j in others:
                edges[j] = edges[j].model_copy(update={"share": edges[j].share * factor})
        if k is None:
            edges.append(
                Edge.model_validate(
                    {
                        "from": recycler.id,
                        "to": b,
                        "material": output,
                        "share": lever.max_share,
                        "lead_time": lever.lead_time,
                        "qualified": True,
                    }
                )
            )
        elif edges[k].share != lever.max_share:
            edges[k] = edges[k].model_copy(update={"share": lever.max_share})
    result = scenario.model_copy(update={"nodes": tuple(nodes), "edges": tuple(edges)})
    return _revalidate(result, policy_id, name)


# ============================================================================ stockpile
def stockpile_id(lever: Stockpile, policy_id: str) -> str:
    """The id of the node a stockpile lever adds (its ``id``, default the policy id)."""
    return lever.id or policy_id


def apply_stockpile(scenario: Scenario, lever: Stockpile, policy_id: str) -> Scenario:
    """Add a strategic stockpile node for a buyer.

    The node (id ``lever.id``, default the policy id) has role ``stockpile``, the
    buyer's country, ``output`` = the material held, ``stock_days = days_of_cover``
    (its target, in days of the buyer's planned need), ``initial_stock_days =
    days_of_cover × initial_fill``, ``capacity = release_per_day`` (left unset when not
    given: the engine then releases up to the buyer's planned need per day) and a
    :class:`~crmsim.scenario.schema.Release` rule to ``at``.

    Edges added: stockpile → ``at`` (share 0, not qualified, so ordinary orders never go
    there: only the release rule moves stock; lead time ``lever.lead_time``, default 1
    day — an assumption), and from each of the buyer's ordinary suppliers of the
    material to the stockpile, with the buyer's shares and lead times (for refilling).

    Parameters
    ----------
    scenario : Scenario
        The scenario to change (not modified).
    lever : Stockpile
        The lever.
    policy_id : str
        The policy's id.

    Returns
    -------
    Scenario
        A new, validated scenario.

    Raises
    ------
    PolicyError
        An unknown buyer, a material it does not use or has no supplier of, no release
        rule, or a node id already taken.
    """
    name = "stockpile"
    sid = stockpile_id(lever, policy_id)
    _require_new_ids(scenario, [sid], policy_id, name)
    at = _node(scenario, lever.at, policy_id, name, "buyer (`at`)")
    if lever.material not in _uses(scenario, at):
        raise PolicyError(
            f"policy {policy_id!r} ({name}): {at.id!r} does not use {lever.material!r}; a "
            f"stockpile there can hold {_listing(_uses(scenario, at))}"
        )
    if lever.release_below_fill_rate is None and lever.release_below_days_of_cover is None:
        raise PolicyError(
            f"policy {policy_id!r} ({name}): a stockpile needs a release rule: "
            "release_below_fill_rate or release_below_days_of_cover"
        )
    roles = _roles(scenario)
    sources = [
        scenario.edges[k]
        for k in _pull_edges(scenario, at.id, lever.material)
        if roles.get(scenario.edges[k].from_) is not Role.STOCKPILE
    ]
    if not sources:
        raise PolicyError(
            f"policy {policy_id!r} ({name}): {at.id!r} has no supplier of {lever.material!r} "
            "to fill the stockpile from"
        )
    release = _model(
        Release,
        policy_id,
        name,
        to=at.id,
        below_fill_rate=lever.release_below_fill_rate,
        below_days_of_cover=lever.release_below_days_of_cover,
        per_day=lever.release_per_day,
        replenish=lever.replenish,
        replenish_per_day=lever.replenish_per_day,
    )
    node = _model(
        Node,
        policy_id,
        name,
        id=sid,
        role=Role.STOCKPILE,
        country=at.country,
        output=lever.material,
        capacity=lever.release_per_day,
        stock_days=lever.days_of_cover,
        initial_stock_days=lever.days_of_cover * lever.initial_fill,
        release=release,
        source=f"added by policy {policy_id} (stockpile)",
    )
    # Shares of the stockpile's own suppliers must sum to one even when the buyer's
    # ordinary shares do not start exactly at one (e.g. after earlier levers).
    total = sum(e.share for e in sources) or 1.0
    refill = [
        e.model_copy(
            update={
                "to": sid,
                "material": lever.material,
                "share": e.share / total,
                "source": f"added by policy {policy_id} (stockpile refill)",
            }
        )
        for e in sources
    ]
    if sum(e.share for e in sources) == 0:
        refill = [e.model_copy(update={"share": 1.0 / len(refill)}) for e in refill]
    out_edge = Edge.model_validate(
        {
            "from": sid,
            "to": at.id,
            "material": lever.material,
            "share": 0.0,
            "qualified": False,
            "lead_time": lever.lead_time,
            "source": f"added by policy {policy_id} (stockpile release)",
        }
    )
    result = scenario.model_copy(
        update={"nodes": (*scenario.nodes, node), "edges": (*scenario.edges, *refill, out_edge)}
    )
    return _revalidate(result, policy_id, name)


# ============================================================================ develop_resource
def apply_develop_resource(scenario: Scenario, lever: DevelopResource, policy_id: str) -> Scenario:
    """Start developing a UNFC-classified mine or recycler that is not On Production.

    Sets the node's :class:`~crmsim.scenario.schema.Development`: the lead time and the
    chance of success default to the row of its UNFC class in
    :data:`crmsim.policy.unfc_defaults.DEVELOPMENT_DEFAULTS` (overridden by the lever's
    ``lead_time`` and ``success_probability``), and the spread of the realised capacity
    comes from the G category (:data:`~crmsim.policy.unfc_defaults.CAPACITY_CV`).

    Parameters
    ----------
    scenario : Scenario
        The scenario to change (not modified).
    lever : DevelopResource
        The lever.
    policy_id : str
        The policy's id.

    Returns
    -------
    Scenario
        A new, validated scenario.

    Raises
    ------
    PolicyError
        A node that is not a mine or recycler, has no UNFC code, is already On
        Production, or is a potential deposit (G4) that needs exploration first.
    """
    name = "develop_resource"
    node = _node(scenario, lever.node, policy_id, name, "node")
    if node.role not in (Role.MINE, Role.RECYCLER):
        raise PolicyError(
            f"policy {policy_id!r} ({name}): develop_resource applies to a mine or recycler; "
            f"{node.id!r} is a {node.role.value}"
        )
    code = node.unfc_code
    if code is None:
        raise PolicyError(
            f"policy {policy_id!r} ({name}): {node.id!r} has no UNFC code, so it is treated as "
            "On Production; give it `unfc` (e.g. 'E2 F2.1 G2') to develop it"
        )
    if code.on_production:
        raise PolicyError(
            f"policy {policy_id!r} ({name}): {node.id!r} is already On Production "
            f"(UNFC {code.code}); there is nothing to develop"
        )
    if not code.known_deposit:
        raise PolicyError(
            f"policy {policy_id!r} ({name}): {node.id!r} (UNFC {code.code}, {code.label}) is a "
            "potential deposit (G4): it cannot be developed without exploration; explore "
            "first, then classify it G1–G3 (discovery to first production took more than 16 "
            "years on average, IEA 2021)"
        )
    default = development_default(code)
    development = _model(
        Development,
        policy_id,
        name,
        lead_time=lever.lead_time if lever.lead_time is not None else default.lead_time,
        success_probability=(
            lever.success_probability
            if lever.success_probability is not None
            else default.success_probability
        ),
        capacity_cv=capacity_cv(code),
    )
    nodes = tuple(
        n.model_copy(update={"development": development}) if n.id == node.id else n
        for n in scenario.nodes
    )
    return _revalidate(scenario.model_copy(update={"nodes": nodes}), policy_id, name)


# ============================================================================ diversify
def _buyer_materials(scenario: Scenario, lever: Diversify, policy_id: str) -> list[str]:
    buyer = _node(scenario, lever.buyer, policy_id, "diversify", "buyer")
    uses = _uses(scenario, buyer)
    if lever.material is not None:
        if lever.material not in uses:
            raise PolicyError(
                f"policy {policy_id!r} (diversify): {buyer.id!r} does not use "
                f"{lever.material!r} (it uses {_listing(uses)})"
            )
        return [lever.material]
    if not uses:
        raise PolicyError(f"policy {policy_id!r} (diversify): {buyer.id!r} buys nothing")
    return sorted(uses)


def diversify_claims(scenario: Scenario, lever: Diversify, policy_id: str) -> list[str]:
    """The (buyer, material) sourcing caps a diversify lever sets, as readable names.

    Two policies that cap the same buyer and material conflict even if the second cap
    happens to change nothing.
    """
    return [
        f"the sourcing cap of {lever.buyer!r} for {m!r}"
        for m in _buyer_materials(scenario, lever, policy_id)
    ]


def _mean_lead_time(scenario: Scenario, buyer: str, country: str) -> float | None:
    countries = {n.id: n.country for n in scenario.nodes}
    means = [
        float(e.lead_time.mean)
        for e in scenario.edges
        if e.to == buyer and countries.get(e.from_) == country
    ]
    return sum(means) / len(means) if means else None


def _diversify_one(scenario: Scenario, lever: Diversify, material: str, policy_id: str) -> Scenario:
    name = "diversify"
    buyer = lever.buyer
    nodes = {n.id: n for n in scenario.nodes}
    rates, needs = _planned(scenario)
    need = needs.get(buyer, {}).get(material, 0.0)
    pull = _pull_edges(scenario, buyer, material)
    share = {scenario.edges[k].from_: scenario.edges[k].share for k in pull}
    qualified = {scenario.edges[k].from_ for k in pull if scenario.edges[k].qualified}
    country = {n: nodes[n].country for n in nodes}

    if lever.to:
        alts = list(dict.fromkeys(lever.to))
        for a in alts:
            node = _node(scenario, a, policy_id, name, "alternative")
            if node.output != material or node.role in (Role.MARKET, Role.STOCKPILE):
                raise PolicyError(
                    f"policy {policy_id!r} ({name}): alternative {a!r} does not supply "
                    f"{material!r} (it is a {node.role.value} of {node.output!r})"
                )
            if a == buyer:
                raise PolicyError(f"policy {policy_id!r} ({name}): {a!r} is the buyer itself")
    else:
        alts = sorted(qualified)

    s_cap = lever.max_share_per_supplier
    c_cap = lever.max_share_per_country
    x = {s: v for s, v in share.items()}
    for a in alts:
        x.setdefault(a, 0.0)
    # Cut the over-cap suppliers and countries; what is cut is the excess to move.
    if s_cap is not None:
        for s in x:
            x[s] = min(x[s], s_cap)
    if c_cap is not None:
        by_country: dict[str, float] = defaultdict(float)
        for s, v in x.items():
            by_country[country[s]] += v
        for c, total in by_country.items():
            if total > c_cap:
                for s in x:
                    if country[s] == c:
                        x[s] *= c_cap / total
    donors = {s for s in x if x[s] < share.get(s, 0.0) - 1e-15}
    excess = sum(share.values()) - sum(x.values())

    def spare_share(a: str) -> float:
        cap = nodes[a].capacity
        if cap is None:
            return math.inf
        spare = max(0.0, float(cap) - rates.get(a, 0.0))
        return math.inf if need <= 0 else spare / need

    room = {a: spare_share(a) for a in alts if a not in donors}
    weight = {a: (nodes[a].capacity or 0.0) - rates.get(a, 0.0) for a in room}
    moved = dict.fromkeys(room, 0.0)
    remaining = excess
    for _ in range(4 * (len(room) + 2)):
        if remaining <= SHARE_TOLERANCE:
            break
        # How much more each receiver may take: its spare capacity, the supplier cap and
        # (shared with others in its country) the country cap.
        limit = {}
        for a in room:
            lim = room[a] - moved[a]
            if s_cap is not None:
                lim = min(lim, s_cap - x[a])
            limit[a] = max(0.0, lim)
        open_ = [a for a in room if limit[a] > 1e-15 and weight[a] > 0]
        if c_cap is not None:
            used: dict[str, float] = defaultdict(float)
            for s, v in x.items():
                used[country[s]] += v
            open_ = [a for a in open_ if c_cap - used[country[a]] > 1e-15]
        if not open_:
            break
        total_w = sum(weight[a] for a in open_)
        add = {a: min(limit[a], remaining * weight[a] / total_w) for a in open_}
        if c_cap is not None:
            per_country: dict[str, float] = defaultdict(float)
            for a, v in add.items():
                per_country[country[a]] += v
            for c, v in per_country.items():
                head = c_cap - used[c]
                if v > head:
                    for a in add:
                        if country[a] == c:
                            add[a] *= max(0.0, head) / v
        for a, v in add.items():
            x[a] += v
            moved[a] += v
        remaining -= sum(add.values())

    if remaining > SHARE_TOLERANCE:
        caps = " and ".join(
            f"{lbl} {cap:g}"
            for lbl, cap in (("per country", c_cap), ("per supplier", s_cap))
            if cap is not None
        )
        spare = ", ".join(
            f"{a} {_fmt(max(0.0, (nodes[a].capacity or 0.0) - rates.get(a, 0.0)))}/day"
            for a in room
        )
        raise PolicyError(
            f"policy {policy_id!r} ({name}): cannot cap {buyer!r}'s {material!r} supply at "
            f"{caps}: {_fmt(remaining)} of its supply ({_fmt(100 * remaining)} percentage "
            f"points, {_fmt(remaining * need)} units/day of its planned need "
            f"{_fmt(need)}/day) has nowhere to go within the alternatives' spare capacity "
            f"and the caps (alternatives: {spare or 'none'}); add alternatives with `to` or "
            "raise the cap"
        )

    # Keep the sum exactly one: put any rounding on the largest share.
    drift = sum(share.values()) - sum(x.values())
    if x:
        top = max(x, key=lambda s: x[s])
        x[top] += drift
    edges = list(scenario.edges)
    for k in pull:
        e = edges[k]
        new = max(0.0, min(1.0, x[e.from_]))
        if new != e.share:
            edges[k] = e.model_copy(update={"share": new})
    for a in alts:
        if a in share or x.get(a, 0.0) <= 0.0:
            continue
        if lever.lead_time is not None:
            lead: Dist | float = lever.lead_time
        else:
            mean = _mean_lead_time(scenario, buyer, country[a])
            if mean is None:
                raise PolicyError(
                    f"policy {policy_id!r} ({name}): {buyer!r} has no supplier in "
                    f"{country[a]} to take a lead time for the new edge from {a!r}; give "
                    "diversify `lead_time`"
                )
            lead = mean
        edges.append(
            Edge.model_validate(
                {
                    "from": a,
                    "to": buyer,
                    "material": material,
                    "share": max(0.0, min(1.0, x[a])),
                    "lead_time": lead,
                    "qualified": True,
                    "source": f"added by policy {policy_id} (diversify)",
                }
            )
        )
    return scenario.model_copy(update={"edges": tuple(edges)})


def apply_diversify(scenario: Scenario, lever: Diversify, policy_id: str) -> Scenario:
    """Cap a buyer's sourcing share from any one country and/or supplier.

    For the buyer's ``material`` (or each of its inputs), suppliers above
    ``max_share_per_supplier`` are cut to it, and the suppliers of a country above
    ``max_share_per_country`` are scaled down together to it. The excess moves to the
    alternatives in ``to`` (default: the buyer's qualified suppliers that were not cut),
    in proportion to their spare capacity (capacity − planned output from
    :func:`~crmsim.network.graph.baseline_flows`), never above it and never above the
    caps. An alternative not yet supplying the buyer gets a new, qualified edge whose
    lead time is ``lever.lead_time`` or else the mean of the buyer's edges from
    suppliers in the same country. Shares still sum to one (within 1e-9).

    Parameters
    ----------
    scenario : Scenario
        The scenario to change (not modified).
    lever : Diversify
        The lever.
    policy_id : str
        The policy's id.

    Returns
    -------
    Scenario
        A new, validated scenario.

    Raises
    ------
    PolicyError
        When the cap cannot be met: the message says by how much, as a share of the
        buyer's supply and in units/day.
    """
    result = scenario
    for material in _buyer_materials(scenario, lever, policy_id):
        result = _diversify_one(result, lever, material, policy_id)
    return _revalidate(result, policy_id, "diversify")


# ============================================================================ trade_facilitation
def scale_lead_time(lead_time: Dist, factor: float, minus_days: float) -> Dist:
    """A lead time whose mean becomes ``max(0, mean × factor − minus_days)``.

    A fixed lead time is set to that value. A distributed one is scaled as a whole, by
    ``k = new mean / old mean``, so its shape (coefficient of variation) is kept: uniform
    and triangular bounds, normal and lognormal mean and sd, the exponential mean and
    the Weibull scale are all multiplied by ``k`` (each family is a scale family, so the
    mean — also of the normal truncated at zero — is multiplied by ``k`` exactly). A
    lead time whose new mean is 0 becomes a fixed 0.

    Examples
    --------
    >>> scale_lead_time(Dist(fixed=30), 0.5, 3).fixed
    12.0
    >>> d = scale_lead_time(Dist.model_validate({"uniform": {"low": 20, "high": 40}}), 1, 15)
    >>> d.uniform.low, d.uniform.high, d.mean
    (10.0, 20.0, 15.0)
    >>> scale_lead_time(Dist(fixed=5), 1, 10).fixed
    0.0
    """
    mean = float(lead_time.mean)
    target = max(0.0, mean * factor - minus_days)
    if lead_time.fixed is not None or target <= 0 or mean <= 0:
        return Dist(fixed=target if mean > 0 else 0.0)
    k = target / mean
    fields = {
        "uniform": ("low", "high"),
        "triangular": ("low", "mode", "high"),
        "normal": ("mean", "sd"),
        "lognormal": ("mean", "sd"),
        "exponential": ("mean",),
        "weibull": ("scale",),
    }
    for family, params in fields.items():
        spec = getattr(lead_time, family)
        if spec is not None:
            data = spec.model_dump()
            for p in params:
                data[p] = data[p] * k
            return Dist.model_validate({family: data})
    raise AssertionError(f"unknown distribution {lead_time!r}")  # pragma: no cover


def apply_trade_facilitation(
    scenario: Scenario, lever: TradeFacilitation, policy_id: str
) -> Scenario:
    """Shorten cross-border lead times (customs, border delays).

    Every edge whose supplier and buyer are in different countries (and, when
    ``countries`` is given, whose buyer is in one of them) gets its lead time multiplied
    by ``factor`` and then shortened by ``minus_days``, never below 0. A distributed
    lead time is scaled so that its mean becomes ``max(0, mean × factor − minus_days)``
    (see :func:`scale_lead_time`).

    Parameters
    ----------
    scenario : Scenario
        The scenario to change (not modified).
    lever : TradeFacilitation
        The lever.
    policy_id : str
        The policy's id.

    Returns
    -------
    Scenario
        A new, validated scenario.
    """
    countries = {n.id: n.country for n in scenario.nodes}
    into = set(lever.countries)
    edges = []
    for e in scenario.edges:
        cu, cv = countries.get(e.from_), countries.get(e.to)
        if cu != cv and (not into or cv in into):
            lead = scale_lead_time(e.lead_time, lever.factor, lever.minus_days)
            if lead != e.lead_time:
                e = e.model_copy(update={"lead_time": lead})
        edges.append(e)
    result = scenario.model_copy(update={"edges": tuple(edges)})
    return _revalidate(result, policy_id, "trade_facilitation")


# ============================================================================ a whole policy
_APPLY: dict[str, Callable[[Scenario, Any, str], Scenario]] = {
    "msme_entrant": apply_msme_entrant,
    "recycling": apply_recycling,
    "stockpile": apply_stockpile,
    "develop_resource": apply_develop_resource,
    "diversify": apply_diversify,
    "trade_facilitation": apply_trade_facilitation,
}


def planned_nodes(scenario: Scenario | None, policy: Policy) -> list[tuple[str, str]]:
    """Nodes a policy adds, as ``(node id, lever)``, before applying it.

    Examples
    --------
    >>> from crmsim.scenario.schema import Policy
    >>> p = Policy.model_validate({"id": "p", "stockpile": {"at": "b", "material": "m",
    ...     "days_of_cover": 30, "release_below_fill_rate": 0.9}})
    >>> planned_nodes(None, p)
    [('p', 'stockpile')]
    """
    ids = {n.id for n in scenario.nodes} if scenario is not None else set()
    out: list[tuple[str, str]] = []
    if policy.msme_entrant is not None:
        out += [(i, "msme_entrant") for i in _entrant_ids(policy.msme_entrant, policy.id)]
    if policy.recycling is not None and policy.recycling.id not in ids:
        out.append((policy.recycling.id, "recycling"))
    if policy.stockpile is not None:
        out.append((stockpile_id(policy.stockpile, policy.id), "stockpile"))
    return out


def apply_policy(scenario: Scenario, policy: Policy) -> Scenario:
    """Apply every lever of one policy, in the order of :data:`~crmsim.scenario.schema.LEVERS`.

    Parameters
    ----------
    scenario : Scenario
        The scenario to change (not modified).
    policy : Policy
        The policy.

    Returns
    -------
    Scenario
        A new, validated scenario.
    """
    result = scenario
    for lever in LEVERS:
        spec = getattr(policy, lever)
        if spec is not None:
            result = _APPLY[lever](result, spec, policy.id)
    return result
