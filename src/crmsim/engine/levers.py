"""Runtime pieces of the policy levers: entrants, development, releases, end of life.

Entrants, resource development, stockpile releases, and the end-of-life (EoL) pipeline
that feeds recyclers.

The policy module turns each lever into scenario changes (new nodes and edges, node fields
``entry``, ``development`` and ``release``); this module reads those fields from the graph
and prepares what the engine needs, drawing every random quantity from the node's own
named stream so that adding a lever never shifts anything else's draws.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import networkx as nx
import numpy as np

from crmsim.engine.layout import Layout
from crmsim.engine.streams import Streams
from crmsim.scenario.distributions import Dist, truncated_normal
from crmsim.scenario.schema import Role

__all__ = [
    "EntryPlan",
    "RecyclingPlan",
    "ReleasePlan",
    "lifetime_pmf",
    "plan_development",
    "plan_entries",
    "plan_recycling",
    "plan_releases",
]


@dataclass
class EntryPlan:
    """An entrant's realised plan in one replication (days are simulated day indices).

    Exit follows a cumulative hazard: the entrant exits at the start of the first day on
    which ``(days since entry × base + stressed days × stress) / 365`` reaches
    ``exit_draw``, a standard exponential drawn once from the entrant's own stream.
    """

    node: int
    financed: bool
    day: float | None  # entry day (None until a shortage trigger fires, or never)
    rule: str  # "day", "consecutive", "moving_average" or "shortage_days"
    trigger_below: float | None
    trigger_days: int  # consecutive: for_days; window rules: window_days
    shortage_days: int | None
    watch: int | None  # market position (column) watched, None = overall
    ramp_up_days: float
    qualification_days: float
    exit_base: float  # baseline exit hazard per year
    exit_stress: float  # extra exit hazard per year on a stressed day
    stress_below: float  # utilisation below which a day is stressed
    exit_draw: float  # standard exponential: the cumulative hazard at exit
    stressed_days: int = 0  # stressed days counted so far
    exited: bool = False

    @property
    def life_days(self) -> float:
        """Days from entry to exit without stress (inf without a baseline hazard)."""
        return self.exit_draw * 365.0 / self.exit_base if self.exit_base > 0 else math.inf

    def exits_by(self, d: int) -> bool:
        """Whether the cumulative exit hazard has reached the draw by the start of day ``d``."""
        assert self.day is not None
        hazard = max(0.0, d - self.day) * self.exit_base + self.stressed_days * self.exit_stress
        return hazard / 365.0 >= self.exit_draw and hazard > 0


@dataclass(frozen=True)
class ReleasePlan:
    """A stockpile's release rule, resolved to array positions."""

    node: int
    edge: int  # stockpile -> buyer edge used for releases
    buyer: int
    buyer_slot: int
    buyer_market: int | None  # market column if the buyer is a market
    below_fill_rate: float | None
    below_days_of_cover: float | None
    per_day: float
    replenish: bool
    replenish_per_day: float
    need: float  # buyer's planned daily need of the material


@dataclass(frozen=True)
class RecyclingPlan:
    """What each recycler collects: (market column, share of that market's EoL, content)."""

    recycler: int
    sources: tuple[tuple[int, float, float], ...]
    collection_rate: float
    recovery_efficiency: float


def plan_entries(G: nx.MultiDiGraph, lay: Layout, streams: Streams) -> list[EntryPlan]:
    """Draw finance, fixed entry days and exit draws for every node with an ``entry``.

    Each entrant's stream gives, in order, one uniform (finance) and one standard
    exponential (the cumulative exit hazard at which it exits).
    """
    W = lay.warmup_days
    market_col = {int(i): j for j, i in enumerate(lay.markets)}
    plans = []
    for i, name in enumerate(lay.nodes):
        entry = G.nodes[name]["spec"].entry
        if entry is None:
            continue
        rng = streams.get("entry", name)
        financed = bool(rng.random() < entry.finance_probability)
        exit_draw = float(rng.standard_exponential())
        watch = None
        if entry.watch is not None and entry.watch in lay.node_index:
            watch = market_col.get(lay.node_index[entry.watch])
        rule = entry.rule
        plans.append(
            EntryPlan(
                node=i,
                financed=financed,
                day=(W + float(entry.day)) if (entry.day is not None and financed) else None,
                rule=rule,
                trigger_below=entry.fill_rate_below,
                trigger_days=(
                    entry.consecutive_days if entry.window_days is None else entry.window_days
                ),
                shortage_days=entry.shortage_days,
                watch=watch,
                ramp_up_days=float(entry.ramp_up_days),
                qualification_days=float(entry.qualification_days),
                exit_base=float(entry.exit_hazard_per_year),
                exit_stress=float(entry.stress_hazard_per_year),
                stress_below=float(entry.stress_utilisation_below),
                exit_draw=exit_draw,
            )
        )
    return plans


def plan_development(
    G: nx.MultiDiGraph, lay: Layout, streams: Streams
) -> list[tuple[int, float | None, float]]:
    """Draw (node, start day or None for never, capacity factor) for developed resources."""
    W = lay.warmup_days
    out = []
    for i, name in enumerate(lay.nodes):
        dev = G.nodes[name]["spec"].development
        if dev is None:
            continue
        rng = streams.get("development", name)
        success = bool(rng.random() < dev.success_probability)
        lead = float(dev.lead_time.sample(rng))
        z = float(rng.standard_normal())
        if dev.capacity_cv > 0:
            sigma2 = math.log1p(dev.capacity_cv**2)
            factor = math.exp(-sigma2 / 2 + math.sqrt(sigma2) * z)
        else:
            factor = 1.0
        out.append((i, (W + lead) if success else None, factor))
    return out


def plan_releases(G: nx.MultiDiGraph, lay: Layout) -> list[ReleasePlan]:
    """Resolve every stockpile ``release`` rule to array positions."""
    market_col = {int(i): j for j, i in enumerate(lay.markets)}
    plans = []
    for i, name in enumerate(lay.nodes):
        if lay.role[i] is not Role.STOCKPILE:
            continue
        rule = G.nodes[name]["spec"].release
        if rule is None:
            continue
        b = lay.node_index[rule.to]
        edge = next(
            (j for j, (u, v, _) in enumerate(lay.edges) if u == name and v == rule.to), None
        )
        if edge is None:
            raise ValueError(f"stockpile {name!r} has no edge to its release buyer {rule.to!r}")
        slot = int(lay.edge_slot[edge])
        need = float(lay.rate[b] * lay.slot_coef[slot])
        plans.append(
            ReleasePlan(
                node=i,
                edge=edge,
                buyer=b,
                buyer_slot=slot,
                buyer_market=market_col.get(b),
                below_fill_rate=rule.below_fill_rate,
                below_days_of_cover=rule.below_days_of_cover,
                per_day=float(rule.per_day) if rule.per_day is not None else need,
                replenish=rule.replenish,
                replenish_per_day=(
                    float(rule.replenish_per_day)
                    if rule.replenish_per_day is not None
                    else 0.1 * need
                ),
                need=need,
            )
        )
    return plans


def plan_recycling(G: nx.MultiDiGraph, lay: Layout) -> list[RecyclingPlan]:
    """Which markets' end-of-life units each recycler collects, and their content."""
    materials = G.graph["materials"]
    market_col = {lay.nodes[int(i)]: j for j, i in enumerate(lay.markets)}
    recyclers = [i for i, r in enumerate(lay.role) if r is Role.RECYCLER]
    # Which recyclers collect from each market (to split a market's EoL among them).
    wanted: dict[int, list[tuple[int, float]]] = {}
    for i in recyclers:
        spec = G.nodes[lay.nodes[i]]["spec"]
        out_mat = lay.materials[lay.node_material[i]]
        for name, col in market_col.items():
            product = G.nodes[name]["material"]
            content = materials[product].content.get(out_mat, 0.0) if product else 0.0
            if spec.collects_from and name not in spec.collects_from:
                continue
            if content <= 0:
                continue
            wanted.setdefault(col, []).append((i, content))
    plans = []
    for i in recyclers:
        spec = G.nodes[lay.nodes[i]]["spec"]
        sources = []
        for col, lst in sorted(wanted.items()):
            for r, content in lst:
                if r == i:
                    sources.append((col, 1.0 / len(lst), content))
        plans.append(
            RecyclingPlan(
                recycler=i,
                sources=tuple(sources),
                collection_rate=float(
                    spec.collection_rate if spec.collection_rate is not None else 1.0
                ),
                recovery_efficiency=float(
                    spec.recovery_efficiency if spec.recovery_efficiency is not None else 1.0
                ),
            )
        )
    return plans


def _cdf(dist: Dist, x: np.ndarray) -> np.ndarray:
    from scipy import stats  # here, not at import: scipy.stats costs half a second

    fam = dist.family
    if fam == "fixed":
        return (x >= float(dist.fixed)).astype(float)  # type: ignore[arg-type]
    if fam == "uniform":
        u = dist.uniform
        assert u is not None
        if u.high == u.low:
            return (x >= u.low).astype(float)
        return stats.uniform.cdf(x, u.low, u.high - u.low)
    if fam == "triangular":
        t = dist.triangular
        assert t is not None
        if t.high == t.low:
            return (x >= t.low).astype(float)
        return stats.triang.cdf(x, (t.mode - t.low) / (t.high - t.low), t.low, t.high - t.low)
    if fam == "exponential":
        assert dist.exponential is not None
        return stats.expon.cdf(x, scale=dist.exponential.mean)
    if fam == "lognormal":
        ln = dist.lognormal
        assert ln is not None
        if ln.sd == 0:
            return (x >= ln.mean).astype(float)
        s2 = math.log1p((ln.sd / ln.mean) ** 2)
        return stats.lognorm.cdf(x, math.sqrt(s2), scale=ln.mean * math.exp(-s2 / 2))
    if fam == "normal":
        n = dist.normal
        assert n is not None
        if n.sd == 0:
            return (x >= n.mean).astype(float)
        return truncated_normal(n.mean, n.sd).cdf(x)
    w = dist.weibull
    assert w is not None
    return stats.weibull_min.cdf(x, w.shape, scale=w.scale)


def lifetime_pmf(dist: Dist, days: int) -> tuple[np.ndarray, np.ndarray]:
    """Discretised lifetime: probability of reaching end of life ``k`` days after service.

    Returns ``(pmf, survival)`` over ``k = 0..days-1``: ``pmf[k] = F(k + ½) − F(k − ½)``
    (a lifetime is rounded to whole days; day 0 is the service day itself, so a lifetime
    below half a day ends the same day) and ``survival[k] = 1 − F(k + ½)``.

    Examples
    --------
    >>> pmf, surv = lifetime_pmf(Dist(fixed=3), 6)
    >>> pmf.tolist(), surv.tolist()
    ([0.0, 0.0, 0.0, 1.0, 0.0, 0.0], [1.0, 1.0, 1.0, 0.0, 0.0, 0.0])
    """
    k = np.arange(days, dtype=float)
    upper = _cdf(dist, k + 0.5)
    lower = _cdf(dist, k - 0.5)
    return np.clip(upper - lower, 0.0, 1.0), np.clip(1.0 - upper, 0.0, 1.0)
