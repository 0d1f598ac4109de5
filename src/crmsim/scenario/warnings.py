"""Warnings: files that load but whose meaning is probably not what was intended.

An error (:mod:`crmsim.scenario.checks`) stops loading; a warning does not. Each warning
is a :class:`~crmsim.scenario.errors.Problem` with ``severity="warning"``, a stable
``code``, a field path in the file's words, what is wrong and why it matters, and a hint
that says how to fix it or how to silence it. The kinds:

``capacity_below_plan``
    A mine's or processor's planned output (mean demand propagated upstream by shares and
    recipes, :func:`crmsim.network.graph.baseline_flows`, the flows the engine sets its
    stock targets from) is above its capacity: the baseline is short before any
    disruption. With demand growth (``growth_per_year`` or ``by_year``) the check uses the
    planned flow of the peak year: each scored year's flows from every market's largest
    mean in that year, and the node's largest over the years (the message names the year).
    Recyclers are left out: their planned flow is an upper bound that their feedstock
    limits anyway, and orders they cannot fill move to qualified alternatives.
``recycler_no_feedstock``
    A recycler (in ``nodes``, or one a ``recycling`` policy adds or changes) that can
    collect nothing: no market it collects from demands a product whose ``content``
    includes the recycler's output *and* that has a ``lifetime``, or its collection rate
    or recovery efficiency is 0, or every such product's shortest lifetime is longer than
    the simulated days while its market has no ``in_use_initial``.
``disruption_matches_nothing``
    A disruption's target matches no node (outage, demand shock) or no edge (export
    restriction, logistics), by the engine's own rules
    (:func:`crmsim.engine.disruptions.match_nodes`, :func:`~crmsim.engine.disruptions.match_edges`).
``entrant_never_supplies``
    An entrant (a node's ``entry``, or an ``msme_entrant`` policy) that cannot enter, or
    cannot be qualified, within the scored horizon: an entry day after the last scored
    day, a shortage trigger that needs more consecutive scored days than there are, a
    threshold of 0 (performance is never below 0), a finance probability of 0.
``development_after_horizon``
    A UNFC development (a node's ``development``, or a ``develop_resource`` policy) whose
    earliest possible start (the lower end of its lead time) is after the last scored day,
    or whose success probability is 0.
``ignored_field``
    A field set to a value the engine does not use: ``cv`` of a Poisson demand (its
    variance equals its mean).
``size_contradicts_sme_test``
    A node's declared ``size`` (or an ``msme_entrant``'s) differs from the EU class
    (Recommendation 2003/361/EC) that its staff and its *estimated* turnover (capacity ×
    ``reference_price_eur`` × 365) imply. The model uses the derived class (for the MSME
    share); a size that contradicts *stated* figures (``employees``, ``turnover_eur``,
    ``balance_sheet_eur``) is an error instead.

Silence a warning on purpose with the top-level ``silence_warnings`` list: a code alone
silences every warning of that kind, ``{code: ..., id: ...}`` only the one about that
node, disruption or policy. An entry that silences nothing is itself reported
(``unused_silence``), so a stale entry does not hide a future problem.

:func:`check_warnings` returns the warnings of a scenario (without line numbers: a
scenario object has none); :func:`load_with_warnings` loads a file and locates them
(file, line, column). Loading alone (:func:`crmsim.load_scenario`) never warns.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, get_args

from crmsim.scenario.checks import suggest
from crmsim.scenario.distributions import Dist
from crmsim.scenario.errors import Problem, format_path
from crmsim.scenario.schema import (
    DisruptionKind,
    Node,
    Role,
    Scenario,
    Target,
    WarningCode,
)

if TYPE_CHECKING:
    import networkx as nx

__all__ = ["WARNING_CODES", "check_warnings", "load_with_warnings", "locate_warnings"]

#: Every warning code that ``silence_warnings`` accepts.
WARNING_CODES: tuple[str, ...] = get_args(WarningCode)

#: Planned flow may exceed capacity by this relative margin (rounding) without a warning.
_REL_TOL = 1e-9

PathT = tuple[str | int, ...]


@dataclass(frozen=True)
class _Found:
    """One warning before silencing: the problem and the id of the element it is about."""

    problem: Problem
    subject: str


def _lower(dist: Dist) -> float:
    """The lower end of a distribution's support (0 for the unbounded families)."""
    if dist.fixed is not None:
        return float(dist.fixed)
    if dist.uniform is not None:
        return float(dist.uniform.low)
    if dist.triangular is not None:
        return float(dist.triangular.low)
    if dist.lognormal is not None and dist.lognormal.sd == 0:
        return float(dist.lognormal.mean)
    if dist.normal is not None and dist.normal.sd == 0:
        return float(dist.normal.mean)
    return 0.0


def _num(x: float) -> str:
    return f"{x:.4g}"


def _signal_field(window_days: int | None, shortage_days: int | None) -> str:
    """The trigger field that sets how many scored days a shortage rule needs."""
    if window_days is None:
        return "for_days"
    return "window_days" if shortage_days is None else "shortage_days"


def _silence_hint(code: str, subject: str) -> str:
    return f"to silence it: silence_warnings: [{{code: {code}, id: {subject}}}]"


class _Collector:
    """Collects the warnings of one scenario."""

    def __init__(self, scenario: Scenario):
        from crmsim.network.graph import build_graph

        self.s = scenario
        self.G: nx.MultiDiGraph = build_graph(scenario)
        self.H = scenario.horizon_days
        self.found: list[_Found] = []

    def add(
        self,
        code: str,
        subject: str,
        message: str,
        path: PathT,
        *,
        fix: str | None = None,
        value: Any = ...,
    ) -> None:
        hint = "; ".join(h for h in (fix, _silence_hint(code, subject)) if h)
        problem = Problem(message, path, value=value, hint=hint, code=code, severity="warning")
        self.found.append(_Found(problem, subject))

    def run(self) -> list[_Found]:
        self.capacity()
        self.recyclers()
        self.disruptions()
        self.entrants()
        self.developments()
        self.ignored_fields()
        self.sizes()
        return self.found

    # ------------------------------------------------------------------ (a) capacity
    def peak_year_means(self) -> list[tuple[int, dict[str, float] | None]]:
        """Each scored year with each market's largest mean demand in it.

        ``(0, None)`` (the written means) when no market's demand grows; otherwise one
        entry per scored year ``y`` with the means on its first or last scored day,
        whichever is larger (a compound path is monotone, a table by year constant within
        a year).
        """
        markets = [n for n in self.s.nodes if n.role is Role.MARKET and n.demand is not None]
        if not any(n.demand is not None and n.demand.grows for n in markets):
            return [(0, None)]
        horizon = int(self.s.horizon_days)
        years: list[tuple[int, dict[str, float] | None]] = []
        for y in range(max(1, math.ceil(horizon / 365))):
            first, last = 365 * y, min(365 * y + 364, horizon - 1)
            means = {
                n.id: n.demand.mean * max(n.demand.multiplier(first), n.demand.multiplier(last))
                for n in markets
                if n.demand is not None
            }
            years.append((y, means))
        return years

    def capacity(self) -> None:
        from crmsim.network.graph import baseline_flows

        # The planned output of each node in its peak year (year 0 without growth).
        years = self.peak_year_means()
        grows = years[0][1] is not None
        peak: dict[str, tuple[float, int, dict[str, float]]] = {}
        for year, means in years:
            rates, flows = baseline_flows(self.G, means=means)
            to_buyers: dict[str, dict[str, float]] = {}
            for (u, v, _), f in flows.items():
                if f > 0:
                    to_buyers.setdefault(u, {})[v] = to_buyers.get(u, {}).get(v, 0.0) + f
            for node, rate in rates.items():
                if node not in peak or rate > peak[node][0] * (1 + _REL_TOL):
                    peak[node] = (rate, year, to_buyers.get(node, {}))
        for i, n in enumerate(self.s.nodes):
            if n.role not in (Role.MINE, Role.PROCESSOR) or n.capacity is None:
                continue
            planned, year, buyer_flows = peak.get(n.id, (0.0, 0, {}))
            if planned <= n.capacity * (1 + _REL_TOL):
                continue
            buyers = sorted(buyer_flows.items())
            listed = ", ".join(f"{v} {_num(f)}" for v, f in buyers[:6])
            more = f", ... ({len(buyers)} buyers)" if len(buyers) > 6 else ""
            short = planned - n.capacity
            when = (
                f" in scored year {year + 1} (days {365 * year}–"
                f"{min(365 * year + 364, int(self.s.horizon_days) - 1)}, its peak with demand "
                "growth)"
                if grows
                else ""
            )
            self.add(
                "capacity_below_plan",
                n.id,
                f"planned output {_num(planned)}/day{when} is above the capacity "
                f"{_num(n.capacity)}/day, so the baseline is short by {_num(short)}/day "
                f"({short / planned:.0%}) before any disruption (planned flows to buyers, from "
                f"mean demand by shares and recipes: {listed}{more})",
                ("nodes", i, "capacity"),
                fix=f"raise the capacity to at least {_num(planned)}, or lower its buyers' shares",
            )

    # ------------------------------------------------------------------ (b) recyclers
    def feedstock_gap(self, G: nx.MultiDiGraph, recycler: Node) -> str | None:
        """Why ``recycler`` can collect nothing in ``G`` (None when it can)."""
        if recycler.collection_rate == 0:
            return "its collection_rate is 0"
        if recycler.recovery_efficiency == 0:
            return "its recovery_efficiency is 0"
        output = recycler.output
        materials = G.graph["materials"]
        markets = [n for n in sorted(G.nodes) if G.nodes[n]["role"] is Role.MARKET]
        if recycler.collects_from:
            markets = [m for m in markets if m in recycler.collects_from]
        if not markets:
            return "there is no market to collect from"
        simulated = G.graph["warmup_days"] + G.graph["horizon_days"]
        reasons: list[str] = []
        for m in markets:
            product = G.nodes[m]["material"]
            if product is None:
                reasons.append(f"market {m} has no single product")
                continue
            spec = materials[product]
            if spec.content.get(output, 0.0) <= 0:
                reasons.append(f"{product} (market {m}) has no `content` of {output}")
            elif spec.lifetime is None:
                reasons.append(f"{product} (market {m}) has no `lifetime`")
            elif not G.nodes[m]["spec"].in_use_initial and _lower(spec.lifetime) > simulated - 1:
                reasons.append(
                    f"{product} (market {m}) lasts at least {_num(_lower(spec.lifetime))} "
                    f"days, longer than the {simulated} simulated days, and the market has "
                    "no in_use_initial"
                )
            else:
                return None
        scope = "the markets it collects from" if recycler.collects_from else "every market"
        return f"{scope}: " + "; ".join(reasons)

    def recyclers(self) -> None:
        for i, n in enumerate(self.s.nodes):
            if n.role is not Role.RECYCLER:
                continue
            gap = self.feedstock_gap(self.G, n)
            if gap is not None:
                self.add(
                    "recycler_no_feedstock",
                    n.id,
                    f"recycler {n.id!r} can get no end-of-life feedstock of {n.output!r}, so it "
                    f"never produces: {gap}",
                    ("nodes", i),
                    fix="give the product a `content` of the recovered material and a "
                    "`lifetime`, and collect from a market that demands it",
                )
        from crmsim.network.graph import build_graph
        from crmsim.policy import PolicyError
        from crmsim.policy.levers import apply_recycling

        for i, p in enumerate(self.s.policies):
            if p.recycling is None:
                continue
            try:
                changed = apply_recycling(self.s, p.recycling, p.id)
            except PolicyError:
                continue  # a lever that cannot be applied is reported when it is run
            node = changed.node(p.recycling.id)
            gap = self.feedstock_gap(build_graph(changed), node)
            if gap is not None:
                what = "adds" if p.recycling.id not in self.G.nodes else "changes"
                self.add(
                    "recycler_no_feedstock",
                    p.id,
                    f"policy {p.id!r} {what} recycler {node.id!r}, which can get no end-of-life "
                    f"feedstock of {node.output!r}, so the policy cannot help (the orders its "
                    f"buyers place with it move elsewhere only after the switching delay): {gap}",
                    ("policies", i, "recycling"),
                    fix="give the product a `content` of the recovered material and a "
                    "`lifetime`, and collect from a market that demands it",
                )

    # ------------------------------------------------------------------ (c) disruptions
    def matches(self, target: Target, kind: DisruptionKind) -> int:
        from crmsim.engine.disruptions import NODE_KINDS, match_edges, match_nodes

        if kind in NODE_KINDS:
            return len(match_nodes(self.G, target, kind))
        return len(match_edges(self.G, target, kind))

    def disruptions(self) -> None:
        from crmsim.engine.disruptions import NODE_KINDS

        conditions = ("node", "role", "country", "region", "material", "edge")
        for i, d in enumerate(self.s.disruptions):
            if self.matches(d.target, d.kind):
                continue
            what = "node" if d.kind in NODE_KINDS else "edge"
            given = [c for c in conditions if getattr(d.target, c)]
            empty = {c: () for c in conditions}
            alone_nothing = [
                c
                for c in given
                if not self.matches(
                    d.target.model_copy(update={**empty, c: getattr(d.target, c)}), d.kind
                )
            ]
            if alone_nothing:
                why = "nothing meets " + ", ".join(
                    f"{c}={','.join(str(v) for v in getattr(d.target, c))}" for c in alone_nothing
                )
            else:
                why = "each condition matches something, but nothing meets all of them (AND)"
            rule = {
                DisruptionKind.DEMAND_SHOCK: "a demand_shock hits markets only",
                DisruptionKind.OUTAGE: "an outage hits nodes",
                DisruptionKind.EXPORT_RESTRICTION: "an export restriction hits edges whose "
                "supplier meets the target and, with a country or region, whose buyer is "
                "outside it",
                DisruptionKind.LOGISTICS: "a logistics disruption hits edges whose supplier "
                "meets the target",
            }[d.kind]
            self.add(
                "disruption_matches_nothing",
                d.id,
                f"the target of {d.kind.value} {d.id!r} matches no {what}, so it never has an "
                f"effect: {why} ({rule})",
                ("disruptions", i, "target"),
                fix="check the ids, countries and roles of the target",
            )

    # ------------------------------------------------------------------ (d) entrants
    def entry_gaps(
        self,
        *,
        day: float | None,
        fill_rate_below: float | None,
        for_days: int,
        signal_field: str = "for_days",
        finance_probability: float,
        qualification_days: float,
    ) -> list[tuple[str, str]]:
        """(field, why) for an entry that never supplies within the scored horizon."""
        last = self.H - 1
        if finance_probability == 0:
            return [("finance_probability", "its finance probability is 0, so it never enters")]
        if day is not None:
            if day > last:
                return [
                    (
                        "day",
                        f"it enters on scored day {_num(day)}, after the last scored day "
                        f"{last} (horizon_days {self.H})",
                    )
                ]
            earliest = day
        else:
            if fill_rate_below == 0:
                return [
                    (
                        "fill_rate_below",
                        "its trigger waits for performance below 0, which never happens",
                    )
                ]
            if for_days > last:
                words = {
                    "for_days": "consecutive scored days of shortage",
                    "window_days": "scored days (a full moving window)",
                    "shortage_days": "scored days of shortage",
                }[signal_field]
                return [
                    (
                        signal_field,
                        f"its trigger needs {for_days} {words} "
                        f"before entry, but entry must come by the last scored day {last} "
                        f"(horizon_days {self.H})",
                    )
                ]
            earliest = float(for_days)
        if earliest + qualification_days > last:
            return [
                (
                    "qualification_days",
                    f"it enters on scored day {_num(earliest)} at the earliest, and buyers "
                    f"order from it only {_num(qualification_days)} days later, after the last "
                    f"scored day {last}",
                )
            ]
        return []

    def entrants(self) -> None:
        for i, n in enumerate(self.s.nodes):
            e = n.entry
            if e is None:
                continue
            for f, why in self.entry_gaps(
                day=e.day,
                fill_rate_below=e.fill_rate_below,
                for_days=e.signal_days,
                signal_field=_signal_field(e.window_days, e.shortage_days),
                finance_probability=e.finance_probability,
                qualification_days=e.qualification_days,
            ):
                self.add(
                    "entrant_never_supplies",
                    n.id,
                    f"entrant {n.id!r} never supplies within the horizon: {why}",
                    ("nodes", i, "entry", f),
                    fix="enter earlier or lengthen horizon_days",
                )
        for i, p in enumerate(self.s.policies):
            m = p.msme_entrant
            if m is None:
                continue
            t = m.trigger
            for f, why in self.entry_gaps(
                day=t.day,
                fill_rate_below=t.fill_rate_below,
                for_days=t.signal_days,
                signal_field=_signal_field(t.window_days, t.shortage_days),
                finance_probability=m.finance_probability,
                qualification_days=m.qualification_days,
            ):
                on_trigger = f in (
                    "day",
                    "fill_rate_below",
                    "for_days",
                    "window_days",
                    "shortage_days",
                )
                path: PathT = ("policies", i, "msme_entrant", *(("trigger",) if on_trigger else ()))
                self.add(
                    "entrant_never_supplies",
                    p.id,
                    f"the entrants of policy {p.id!r} never supply within the horizon: {why}",
                    (*path, f),
                    fix="enter earlier or lengthen horizon_days",
                )

    # ------------------------------------------------------------------ (e) developments
    def development_gap(self, lead_time: Dist, success_probability: float) -> str | None:
        """Why a development never starts production within the horizon (None if it may)."""
        if success_probability == 0:
            return "its success probability is 0"
        earliest = _lower(lead_time)
        if earliest > self.H - 1:
            return (
                f"its lead time ({lead_time}) is at least {_num(earliest)} days, so production "
                f"starts after the last scored day {self.H - 1} (horizon_days {self.H})"
            )
        return None

    def developments(self) -> None:
        for i, n in enumerate(self.s.nodes):
            dev = n.development
            if dev is None:
                continue
            gap = self.development_gap(dev.lead_time, dev.success_probability)
            if gap is not None:
                field = "success_probability" if dev.success_probability == 0 else "lead_time"
                self.add(
                    "development_after_horizon",
                    n.id,
                    f"the development of {n.id!r} never produces within the horizon: {gap}",
                    ("nodes", i, "development", field),
                    fix="shorten the lead time or lengthen horizon_days",
                )
        from crmsim.policy import PolicyError
        from crmsim.policy.levers import apply_develop_resource

        for i, p in enumerate(self.s.policies):
            lever = p.develop_resource
            if lever is None:
                continue
            try:
                changed = apply_develop_resource(self.s, lever, p.id)
            except PolicyError:
                continue  # reported when the policy is run
            dev = changed.node(lever.node).development
            assert dev is not None  # the lever sets it
            gap = self.development_gap(dev.lead_time, dev.success_probability)
            if gap is None:
                continue
            field = "success_probability" if dev.success_probability == 0 else "lead_time"
            given = getattr(lever, field) is not None
            self.add(
                "development_after_horizon",
                p.id,
                f"policy {p.id!r} develops {lever.node!r}, which never produces within the "
                f"horizon: {gap}" + ("" if given else " (the default of its UNFC class)"),
                ("policies", i, "develop_resource", *((field,) if given else ())),
                fix="shorten the lead time or lengthen horizon_days",
            )

    # ------------------------------------------------------------------ (f) ignored
    def ignored_fields(self) -> None:
        for i, n in enumerate(self.s.nodes):
            d = n.demand
            if d is not None and d.distribution == "poisson" and d.cv > 0:
                sd = math.sqrt(d.mean)
                self.add(
                    "ignored_field",
                    n.id,
                    f"cv is ignored for Poisson demand: its variance equals its mean, so the "
                    f"cv is 1/sqrt(mean) = {_num(sd / d.mean) if d.mean else 'undefined'}",
                    ("nodes", i, "demand", "cv"),
                    value=d.cv,
                    fix="drop cv, or use distribution: gamma or normal for another spread",
                )

    # ------------------------------------------------------------------ (g) SME test
    def sizes(self) -> None:
        from crmsim.scenario.schema import Size

        for i, n in enumerate(self.s.nodes):
            derived = n.derived_size
            if n.size is None or derived is None or derived is n.size:
                continue
            turnover = n.turnover_estimate_eur
            self.add(
                "size_contradicts_sme_test",
                n.id,
                f"node {n.id!r} is declared {n.size.value!r} but the EU SME test gives "
                f"{derived.value!r}: estimated turnover {_num(turnover or 0)} EUR/year "
                f"(capacity × reference_price_eur × 365)"
                + (f" with {n.employees} staff" if n.employees is not None else "")
                + f"; the model uses {derived.value!r}",
                ("nodes", i, "size"),
                value=n.size.value,
                fix="give turnover_eur (or balance_sheet_eur) if the estimate is wrong, or "
                "correct size",
            )
        for i, p in enumerate(self.s.policies):
            m = p.msme_entrant
            if m is None or m.reference_price_eur is None:
                continue
            turnover = m.capacity * m.reference_price_eur * 365.0
            derived = Size.eu_class(m.employees, turnover)
            assert derived is not None
            if derived is Size(m.size):
                continue
            self.add(
                "size_contradicts_sme_test",
                p.id,
                f"the entrants of policy {p.id!r} are declared {Size(m.size).value!r} but the "
                f"EU SME test gives {derived.value!r}: estimated turnover {_num(turnover)} "
                f"EUR/year each; the model uses {derived.value!r}",
                ("policies", i, "msme_entrant", "size"),
                value=Size(m.size).value,
                fix="check capacity and reference_price_eur, or correct size",
            )


def _silence(scenario: Scenario, found: list[_Found]) -> list[Problem]:
    """Drop silenced warnings; report entries of ``silence_warnings`` that silence nothing."""
    used = [False] * len(scenario.silence_warnings)
    kept: list[Problem] = []
    for f in found:
        hit = [
            j
            for j, s in enumerate(scenario.silence_warnings)
            if s.code == f.problem.code and (s.id is None or s.id == f.subject)
        ]
        for j in hit:
            used[j] = True
        if not hit:
            kept.append(f.problem)
    for j, s in enumerate(scenario.silence_warnings):
        if used[j]:
            continue
        about = f" about {s.id!r}" if s.id is not None else ""
        hint = "remove the entry (what it silenced is gone), or correct it"
        if s.id is not None:
            other_codes = sorted({f.problem.code for f in found if f.subject == s.id})
            subjects = [f.subject for f in found if f.problem.code == s.code]
            if other_codes:
                hint = f"the warnings about {s.id!r} have code {', '.join(other_codes)}"
            elif close := suggest(s.id, subjects):
                hint = f"did you mean id {close!r}?"
        kept.append(
            Problem(
                f"silences no warning: there is no {s.code} warning{about}",
                ("silence_warnings", j),
                hint=hint,
                code="unused_silence",
                severity="warning",
            )
        )
    return kept


def check_warnings(scenario: Scenario) -> list[Problem]:
    """Warnings of a valid scenario: what loads but probably does not mean what was meant.

    Parameters
    ----------
    scenario : Scenario
        A loaded scenario (:func:`crmsim.load_scenario`).

    Returns
    -------
    list of Problem
        Each with ``severity="warning"``, a ``code`` (see the module docstring), a field
        path and a hint; without file positions (see :func:`load_with_warnings`). Warnings
        silenced by ``silence_warnings`` are left out.

    Examples
    --------
    >>> from crmsim.scenario.loader import scenario_from_dict
    >>> data = {
    ...     "crmsim": 1, "name": "short mine",
    ...     "materials": [{"id": "ore"}],
    ...     "nodes": [
    ...         {"id": "mine", "role": "mine", "country": "AUS", "output": "ore", "capacity": 8},
    ...         {"id": "buyer", "role": "market", "country": "DEU", "demand": {"mean": 10}},
    ...     ],
    ...     "edges": [{"from": "mine", "to": "buyer"}],
    ... }
    >>> [(w.code, w.field_path) for w in check_warnings(scenario_from_dict(data))]
    [('capacity_below_plan', 'nodes[0].capacity')]
    >>> data["silence_warnings"] = [{"code": "capacity_below_plan", "id": "mine"}]
    >>> check_warnings(scenario_from_dict(data))
    []
    """
    return _silence(scenario, _Collector(scenario).run())


def _value_at(data: Any, path: Sequence[str | int]) -> Any:
    cur = data
    for part in path:
        try:
            cur = cur[part]
        except (KeyError, IndexError, TypeError):
            return None
    return cur


def locate_warnings(problems: Iterable[Problem], text: str, filename: str) -> list[Problem]:
    """Add file, line and column to warnings of the scenario read from ``text``.

    Parameters
    ----------
    problems : iterable of Problem
        From :func:`check_warnings`.
    text : str
        The YAML text the scenario was loaded from.
    filename : str
        Named in the problems.

    Returns
    -------
    list of Problem
        The same problems, located, sorted by position in the file.
    """
    from crmsim.scenario.loader import parse_yaml

    data, index, _ = parse_yaml(text, filename)
    out = []
    for p in problems:
        at_key = isinstance(_value_at(data, p.path), dict | list)
        line, col = index.locate(p.path, key=at_key)
        out.append(p.located(filename, line, col))
    big = 1 << 62
    return sorted(out, key=lambda p: (p.line or big, p.column or 0, format_path(p.path)))


def load_with_warnings(path: str | Path) -> tuple[Scenario, list[Problem]]:
    """Load a scenario file and return it with its located warnings.

    Parameters
    ----------
    path : str or pathlib.Path
        The YAML file.

    Returns
    -------
    scenario : Scenario
        As :func:`crmsim.load_scenario` returns it.
    warnings : list of Problem
        :func:`check_warnings`, with file, line and column.

    Raises
    ------
    ScenarioError
        When the file has errors (as :func:`crmsim.load_scenario`).
    OSError
        When it cannot be read.
    """
    from crmsim.scenario.loader import load_scenario

    name = path if isinstance(path, str) else str(path)
    scenario = load_scenario(path)
    text = Path(path).read_bytes().decode("utf-8-sig")
    return scenario, locate_warnings(check_warnings(scenario), text, name)
