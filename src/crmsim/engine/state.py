"""Run state of a batch of replications, and the per-scenario arrays every batch shares.

:class:`Static` holds what depends only on the scenario (index arrays, planned-flow
scaling, end-of-life lifetimes): built once per layout and shared by every batch.
:class:`State` holds the run state of ``R`` replications advancing together: every array
has a leading replication axis — ``(R, nodes)``, ``(R, slots)``, ``(R, edges)``,
``(R, markets)``. The stage functions of :mod:`crmsim.engine.stages` read and update it.

Sums over a batch keep the arithmetic of a single replication: :func:`bincount2` sums each
bin of each replication in the same order as ``np.bincount`` over that replication alone,
so a replication's numbers are bitwise the same whatever the batch it is in.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from crmsim.engine.disruptions import DisruptionEvent
from crmsim.engine.layout import Layout
from crmsim.engine.levers import (
    RecyclingPlan,
    ReleasePlan,
    lifetime_pmf,
    plan_recycling,
    plan_releases,
)
from crmsim.scenario.distributions import normal_for_moments, truncated_normal
from crmsim.scenario.schema import MAX_FACTOR, Demand

__all__ = [
    "MAX_DEMAND_FACTOR",
    "State",
    "Static",
    "bincount2",
    "demand_multipliers",
    "draw_demand",
    "draw_demand_batch",
    "static_for",
]

#: Cap on the combined factor of the demand shocks in force at a market (documented in
#: docs/engine.md): overlapping shocks multiply, and 50 shocks of factor 2 would otherwise
#: ask for 2^50 times the demand.
MAX_DEMAND_FACTOR = 1000.0


def bincount2(idx: np.ndarray, weights: np.ndarray, n: int) -> np.ndarray:
    """``np.bincount(idx, weights=w[r], minlength=n)`` for every row ``r`` of ``weights``.

    One call over the batch: bin ``i`` of row ``r`` is bin ``i + n r`` of the flattened
    array, and each bin sums its weights in the same order as the one-row call.

    Parameters
    ----------
    idx : numpy.ndarray
        Bin of each column, shape ``(C,)``.
    weights : numpy.ndarray
        Shape ``(R, C)``.
    n : int
        Number of bins.

    Returns
    -------
    numpy.ndarray
        Shape ``(R, n)``.

    Examples
    --------
    >>> bincount2(np.array([1, 0, 1]), np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]), 2)
    array([[ 2.,  4.],
           [ 5., 10.]])
    """
    R = weights.shape[0]
    if R == 1:
        return np.bincount(idx, weights=weights[0], minlength=n)[None, :]
    key = (id(idx), n, R)
    got = _OFFSETS.get(key)
    if got is None or got[0] is not idx:
        if len(_OFFSETS) > 256:
            _OFFSETS.clear()
        got = (idx, (idx[None, :] + n * np.arange(R)[:, None]).reshape(-1))
        _OFFSETS[key] = got
    return np.bincount(got[1], weights=weights.reshape(-1), minlength=R * n).reshape(R, n)


#: Flattened bin indices of :func:`bincount2` per (index array, bins, rows): the index
#: arrays are the layout's, so the same few are used every day.
_OFFSETS: dict[tuple[int, int, int], tuple[np.ndarray, np.ndarray]] = {}


def draw_demand(
    spec: Demand, rng: np.random.Generator, days: int, mult: np.ndarray | None = None
) -> np.ndarray:
    """Daily demand draws (never negative) for one market.

    ``normal`` demand is the zero-truncated normal whose own mean and cv are the scenario's
    ``mean`` and ``cv`` (:func:`~crmsim.scenario.distributions.normal_for_moments`). With
    demand growth (``mult``, the factor on the mean per day) a normal or gamma draw is
    scaled by the day's factor — the same family with the mean scaled and the cv kept — and
    a Poisson draw has the day's mean.
    """
    mean, cv = float(spec.mean), float(spec.cv)
    grows = mult is not None and bool(np.any(mult != 1.0))
    if mean == 0:
        return np.zeros(days)
    if spec.distribution == "poisson":
        if grows:
            assert mult is not None
            return rng.poisson(mean * mult).astype(float)
        return rng.poisson(mean, days).astype(float)
    if grows:
        assert mult is not None
        return draw_demand(spec, rng, days) * mult
    if cv < 1e-6 or not cv * mean > 0:  # practically deterministic (no gamma shape 1/cv² = inf)
        return np.full(days, mean)
    if spec.distribution == "gamma":
        shape = 1.0 / cv**2
        return rng.gamma(shape, mean / shape, days)
    loc, scale = normal_for_moments(mean, cv)
    return truncated_normal(loc, scale).rvs(days, rng)


def draw_demand_batch(
    spec: Demand,
    rngs: Sequence[np.random.Generator],
    days: int,
    mult: np.ndarray | None = None,
) -> np.ndarray:
    """:func:`draw_demand` for one market in every replication of a batch, ``(days, R)``.

    Column ``r`` is bitwise ``draw_demand(spec, rngs[r], days, mult)``: for ``normal``
    demand each stream gives its uniforms and the inversion (elementwise) runs once over
    the batch; the other families draw stream by stream.

    Examples
    --------
    >>> spec = Demand(mean=10, cv=0.2)
    >>> rngs = [np.random.default_rng(k) for k in (1, 2)]
    >>> got = draw_demand_batch(spec, rngs, 5)
    >>> bool((got[:, 1] == draw_demand(spec, np.random.default_rng(2), 5)).all())
    True
    """
    mean, cv = float(spec.mean), float(spec.cv)
    R = len(rngs)
    grows = mult is not None and bool(np.any(mult != 1.0))
    if mean == 0 or spec.distribution != "normal":
        out = np.empty((days, R))
        for r, rng in enumerate(rngs):
            out[:, r] = draw_demand(spec, rng, days, mult)
        return out
    if cv < 1e-6 or not cv * mean > 0:
        out = np.full((days, R), mean)
    else:
        loc, scale = normal_for_moments(mean, cv)
        u = np.empty((R, days))
        for r, rng in enumerate(rngs):
            rng.random(out=u[r])  # the draws of rng.random(days), written in place
        np.subtract(1.0, u, out=u)
        out = truncated_normal(loc, scale).invert(u).T
    if grows:
        assert mult is not None
        out *= mult[:, None]
    return out


def demand_multipliers(spec: Demand, warmup_days: int, days: int) -> np.ndarray:
    """The factor on ``spec.mean`` on each simulated day (warm-up days: day 0's factor).

    Examples
    --------
    >>> demand_multipliers(Demand(mean=1, by_year=(1, 2)), 2, 4).tolist()
    [1.0, 1.0, 1.0, 1.0]
    >>> demand_multipliers(Demand(mean=1, growth_per_year=1.0), 1, 3).round(6).tolist()
    [1.0, 1.0, 1.001901]
    """
    scored = np.arange(days, dtype=float) - warmup_days
    scored = np.maximum(scored, 0.0)
    if spec.by_year:
        table = np.asarray(spec.by_year, dtype=float)
        year = np.minimum((scored // 365).astype(np.intp), len(table) - 1)
        return table[year]
    if spec.growth_per_year == 0:
        return np.ones(days)
    # Capped like the schema's multiplier (MAX_FACTOR): a century of growth stays finite.
    return np.minimum(np.power(1.0 + float(spec.growth_per_year), scored / 365.0), MAX_FACTOR)


def _plan_scale(G: Any, lay: Layout, mult: np.ndarray) -> np.ndarray:
    """Per day and node, planned output ÷ planned output at the day-0 means, ``(T, N)``.

    Planned flows are linear in the markets' mean demands, so each node's planned output
    on day ``d`` is ``Σ_k m_k(d) × r_ik``, where ``r_ik`` is its planned output when only
    market ``k`` demands (at its ``mean``). A node without planned output keeps 1.
    """
    import networkx as nx

    from crmsim.engine.layout import _reference_rate
    from crmsim.network.graph import baseline_flows

    order = list(nx.topological_sort(G))
    N, K = lay.n_nodes, len(lay.markets)
    contrib = np.zeros((K, N))
    for k, (m, spec) in enumerate(zip(lay.markets, lay.market_demand, strict=True)):
        rates, flows = baseline_flows(G, order, means={lay.nodes[int(m)]: float(spec.mean)})
        for i, v in enumerate(lay.nodes):
            contrib[k, i] = _reference_rate(G, v, flows) if lay.stockpile[i] else rates[v]
    base = contrib.sum(axis=0)
    today = mult @ contrib
    return np.divide(today, base, out=np.ones_like(today), where=base > 0)


@dataclass(eq=False)
class Static:
    """What every batch of one scenario shares (built once per layout).

    Attributes are index arrays and flags derived from the layout, the demand growth
    factors (``mult``, ``scale``), the release and recycling plans and the end-of-life
    lifetime distributions.
    """

    layout: Layout
    W: int
    H: int
    T: int
    mult: np.ndarray  # (T, K) factor on each market's mean demand
    scale: np.ndarray | None  # (T, N) planned output ÷ day-0 planned output (growth only)
    releases: list[ReleasePlan]
    recycling: list[RecyclingPlan]
    efficiency: np.ndarray  # (N,) recovery efficiency (1 where not a recycler)
    eol_due0: np.ndarray  # (T + 1, K) end of life of the initial in-use stock
    in_use_start: np.ndarray  # (K,)
    pmf: dict[int, np.ndarray]  # market column -> lifetime pmf (collected markets only)
    slot_groups: tuple[np.ndarray, np.ndarray, np.ndarray] | None
    prod_sel: np.ndarray
    prod_owner: np.ndarray
    prod_coef: np.ndarray
    prod_material: np.ndarray  # material of each recipe slot (prod_sel)
    developed: np.ndarray  # (D,) positions of nodes brought into production by a development
    has_entrants: bool  # some node has an ``entry``
    primary: np.ndarray
    primary_material: np.ndarray
    has_stockpile: bool
    has_recycler: bool
    has_backorders: bool
    cap_nonzero: np.ndarray
    unlimited: np.ndarray  # (U,) nodes without a capacity limit (capacity inf)
    unavailable_supplier: bool  # a producer with buyers that can never produce
    release_slots: dict[int, np.ndarray]  # stockpile node -> its slots
    plant_col: dict[int, int]  # stockpile node -> column of its (non-market) buyer's record
    plant_buyers: np.ndarray  # (P,) those buyers' nodes
    plant_slots: np.ndarray  # (P,) and the slots the stockpiles feed
    dynamic_supply: bool  # availability can change without events (levers, recyclers)
    pair_edges: np.ndarray  # (U,) edges of (impaired edge, alternative) pairs, sorted
    pair_from_u: np.ndarray  # (P,) position of each pair's impaired edge in pair_edges
    pair_to_u: np.ndarray  # (P,) position of each pair's alternative in pair_edges
    pair_src: np.ndarray  # (U,) supplier of each pair edge
    alt_src: np.ndarray  # (P,) supplier of each pair's alternative edge
    recycler_material: np.ndarray  # material of each recycler
    recyclers: np.ndarray  # node positions of the recyclers
    market_material: np.ndarray  # (K,) material of each market slot
    # The ring's edge columns: edges of fixed lead time grouped by it (in edge order within
    # a group), then the edges with drawn lead times; ring_pos[e] is edge e's column and
    # lead_groups the (lead, first column, end column) of each group.
    ring_order: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.intp))
    ring_pos: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.intp))
    lead_groups: list[tuple[int, int, int]] = field(default_factory=list)
    matches: dict[str, Any] = field(default_factory=dict)  # what each disruption hits


def _ring_columns(lay: Layout) -> dict[str, Any]:
    """The arrival ring's edge columns (see :class:`Static`), as keyword arguments.

    Edges of one fixed lead time share their due row every day: in adjacent columns, a
    day's shipments enter the ring one slice per lead time.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> lay = SimpleNamespace(edge_lead_fixed=np.array([3, 5, 5, 3, 9]),
    ...                       edge_lead_random=np.array([False, False, False, False, True]))
    >>> got = _ring_columns(lay)
    >>> got["ring_order"].tolist(), got["ring_pos"].tolist(), got["lead_groups"]
    ([0, 3, 1, 2, 4], [0, 2, 3, 1, 4], [(3, 0, 2), (5, 2, 4)])
    """
    fixed = np.flatnonzero(~lay.edge_lead_random)
    leads = lay.edge_lead_fixed[fixed]
    by_lead = fixed[np.argsort(leads, kind="stable")]
    order = np.concatenate([by_lead, np.flatnonzero(lay.edge_lead_random)]).astype(np.intp)
    groups = []
    sorted_leads = lay.edge_lead_fixed[by_lead]
    for lead in np.unique(sorted_leads):
        a, b = np.searchsorted(sorted_leads, [lead, lead + 1])
        groups.append((int(lead), int(a), int(b)))
    pos = np.empty_like(order)
    pos[order] = np.arange(order.size)
    return {"ring_order": order, "ring_pos": pos, "lead_groups": groups}


_STATIC: weakref.WeakKeyDictionary[Layout, Static] = weakref.WeakKeyDictionary()


def static_for(G: Any, lay: Layout) -> Static:
    """The :class:`Static` arrays of a layout (built on first use, then shared).

    Parameters
    ----------
    G : networkx.MultiDiGraph
        The supply network the layout was built from.
    lay : Layout
        Its layout.

    Returns
    -------
    Static
    """
    got = _STATIC.get(lay)
    if got is not None:
        return got
    W, H = lay.warmup_days, lay.horizon_days
    T = W + H
    N, E, K = lay.n_nodes, lay.n_edges, len(lay.markets)
    mult = np.ones((T, K))
    for j, spec in enumerate(lay.market_demand):
        if spec.grows:
            mult[:, j] = demand_multipliers(spec, W, T)
    scale = _plan_scale(G, lay, mult) if any(s.grows for s in lay.market_demand) else None
    releases = plan_releases(G, lay)
    # Release rules on the fill rate of a buyer that is not a market read that buyer's
    # input performance (docs/engine.md, "Stocks and targets").
    plant_plans = [p for p in releases if p.below_fill_rate is not None and p.buyer_market is None]
    recycling = plan_recycling(G, lay)
    efficiency = np.ones(N)
    for rplan in recycling:
        efficiency[rplan.recycler] = rplan.recovery_efficiency
    eol_due0 = np.zeros((T + 1, K))
    in_use_start = np.zeros(K)
    pmf: dict[int, np.ndarray] = {}
    collected_markets = {col for plan in recycling for col, _, _ in plan.sources}
    materials = G.graph["materials"]
    for j in sorted(collected_markets):
        i = int(lay.markets[j])
        product = materials[lay.materials[lay.node_material[i]]]
        if product.lifetime is None:
            continue
        p, survival = lifetime_pmf(product.lifetime, T + 1)
        pmf[j] = p
        spec = G.nodes[lay.nodes[i]]["spec"]
        mean_life = product.lifetime.mean
        if spec.in_use_initial == "steady_state":
            eol_due0[:, j] += float(lay.market_demand[j].mean) * survival
            in_use_start[j] = float(lay.market_demand[j].mean) * mean_life
        elif spec.in_use_initial and mean_life > 0:
            eol_due0[:, j] += float(spec.in_use_initial) * survival / mean_life
            in_use_start[j] = float(spec.in_use_initial)
    sel = np.flatnonzero(~lay.slot_is_market & ~lay.slot_is_stockpile)
    slot_groups = None
    if sel.size:
        owners_all = lay.slot_node[sel]
        first = np.flatnonzero(np.r_[True, owners_all[1:] != owners_all[:-1]])
        slot_groups = (first, owners_all[first], sel)
    developed = np.flatnonzero(
        [G.nodes[v]["spec"].development is not None for v in lay.nodes]
    ).astype(np.intp)
    primary = np.flatnonzero((lay.node_material >= 0) & ~lay.recycler)
    unavailable = lay.producer & ((lay.capacity <= 0) | ~lay.on_production)
    has_out = np.bincount(lay.edge_src, minlength=N) > 0 if E else np.zeros(N, dtype=bool)
    levers = any(
        G.nodes[v]["spec"].entry is not None or G.nodes[v]["spec"].development is not None
        for v in lay.nodes
    )
    pair_edges = np.union1d(lay.pair_from, lay.pair_to).astype(np.intp)
    st = Static(
        layout=lay,
        W=W,
        H=H,
        T=T,
        mult=mult,
        scale=scale,
        releases=releases,
        recycling=recycling,
        efficiency=efficiency,
        eol_due0=eol_due0,
        in_use_start=in_use_start,
        pmf=pmf,
        slot_groups=slot_groups,
        prod_sel=sel,
        prod_owner=lay.slot_node[sel],
        prod_coef=lay.slot_coef[sel],
        prod_material=lay.slot_material[sel],
        developed=developed,
        has_entrants=any(G.nodes[v]["spec"].entry is not None for v in lay.nodes),
        primary=primary,
        primary_material=lay.node_material[primary],
        has_stockpile=bool(lay.slot_is_stockpile.any()),
        has_recycler=bool(lay.recycler.any()),
        has_backorders=bool(lay.market_backorders.any()),
        cap_nonzero=(lay.capacity > 0).astype(float),
        unlimited=np.flatnonzero(np.isinf(lay.capacity)),
        unavailable_supplier=bool((unavailable & has_out).any()),
        release_slots={p.node: np.flatnonzero(lay.slot_node == p.node) for p in releases},
        plant_col={p.node: k for k, p in enumerate(plant_plans)},
        plant_buyers=np.array([p.buyer for p in plant_plans], dtype=np.intp),
        plant_slots=np.array([p.buyer_slot for p in plant_plans], dtype=np.intp),
        dynamic_supply=bool(lay.recycler.any() or levers or (unavailable & has_out).any()),
        pair_edges=pair_edges,
        pair_from_u=np.searchsorted(pair_edges, lay.pair_from).astype(np.intp),
        pair_to_u=np.searchsorted(pair_edges, lay.pair_to).astype(np.intp),
        pair_src=lay.edge_src[pair_edges],
        alt_src=lay.edge_src[lay.pair_to],
        recycler_material=lay.node_material[lay.recycler],
        recyclers=np.flatnonzero(lay.recycler),
        market_material=lay.slot_material[lay.market_slot],
        **_ring_columns(lay),
    )
    _STATIC[lay] = st
    return st


@dataclass(eq=False)
class Entrants:
    """The entrants of a batch: one column per entrant, one row per replication.

    Per-entrant rules (rule, thresholds, ramp-up, qualification, hazards) are the same in
    every replication; what is drawn (finance, exit draw) and what happens (entry day,
    stressed days, exit) differs per row. ``day`` is NaN until the entrant enters.
    """

    node: np.ndarray  # (P,)
    rule: list[str]
    trigger_below: list[float | None]
    trigger_days: list[int]
    shortage_days: list[int | None]
    watch: list[int | None]
    ramp_up_days: np.ndarray  # (P,)
    qualification_days: np.ndarray  # (P,)
    exit_base: np.ndarray  # (P,)
    exit_stress: np.ndarray  # (P,)
    stress_below: np.ndarray  # (P,)
    out_edges: list[np.ndarray]
    node_slots: list[np.ndarray]
    financed: np.ndarray  # (R, P) bool
    day: np.ndarray  # (R, P) float, NaN = not (yet) entered
    exit_draw: np.ndarray  # (R, P)
    stressed_days: np.ndarray  # (R, P) int
    exited: np.ndarray  # (R, P) bool
    entry_logged: np.ndarray  # (R, P) bool
    exit_logged: np.ndarray  # (R, P) bool
    qual_logged: np.ndarray  # (R, P) bool

    @property
    def n(self) -> int:
        """Number of entrants."""
        return len(self.node)


@dataclass(eq=False)
class Developments:
    """Developed resources of a batch: start day (NaN: never) and capacity factor per row."""

    node: np.ndarray  # (P,)
    start: np.ndarray  # (R, P)
    factor: np.ndarray  # (R, P)
    logged: np.ndarray  # (R, P) bool


@dataclass(eq=False)
class State:
    """Run state of ``R`` replications (every array has the replication axis first).

    The arrival calendar is a ring buffer ``ring`` of ``L + 1`` rows: goods due on day
    ``t < T`` sit in row ``t mod L`` (``L``, a power of two, exceeds the longest lead time
    any shipment of the batch can have, delays included), goods due at or after the end of
    the run in the last row (the "beyond the horizon" sink, never delivered).
    """

    st: Static
    R: int
    # stock and orders
    out_stock: np.ndarray  # (R, N)
    in_stock: np.ndarray  # (R, S)
    backlog: np.ndarray  # (R, E) open orders per edge at the supplier
    market_backlog: np.ndarray  # (R, K)
    ring: np.ndarray  # (L + 1, R, E)
    ring_len: int
    ring_cells: np.ndarray  # (R, E) position of each (replication, edge) within a ring row
    transit: np.ndarray  # (R, E)
    # disruption state
    avail: np.ndarray  # (R, N)
    lead_factor: np.ndarray  # (R, E)
    demand_factor: np.ndarray  # (R, N)
    block: np.ndarray  # (R, E) combined severity of the export restrictions in force
    any_block: np.ndarray  # (R,) bool
    logistics_active: np.ndarray  # (R,) bool
    node_events: list[dict[int, list[DisruptionEvent]]]
    in_force: list[dict[Any, dict[int, list[DisruptionEvent]]]]
    dirty: list[set[int]]
    ramping: list[set[int]]
    touched: set[int]  # replications with nodes whose availability must be recomputed
    capped: list[list[str]]
    # levers
    cap_factor: np.ndarray  # (R, N)
    edge_active: np.ndarray  # (R, E) bool
    slot_active: np.ndarray  # (R, S) bool
    share: np.ndarray  # (R, E)
    share_dirty: bool
    entrants: Entrants | None
    developments: Developments | None
    lever_events: list[list[tuple[str, str, float]]]
    releasing: np.ndarray  # (R, N) bool
    plant_perf: np.ndarray  # (T, R, P) input performance of the plant buyers of releases
    # re-sourcing
    impaired_since: np.ndarray  # (R, U) int, day each pair edge became impaired (-1: not)
    any_impaired: np.ndarray  # (R,) bool: some edge was impaired when last looked at
    outage_active: np.ndarray  # (R,) bool: some outage weighs on availability
    # inputs drawn per replication
    demand_draws: np.ndarray  # (T, R, K)
    lead_edges: np.ndarray  # (Q,) edges with random lead times
    lead_draws: np.ndarray  # (T, R, Q)
    lead_fixed: np.ndarray  # (R, E)
    # end of life
    eol_due: dict[int, np.ndarray]  # market column -> (R, T + 1) units reaching end of life
    pool: np.ndarray  # (R, N)
    collected: np.ndarray
    collection_lost: np.ndarray
    recovery_lost: np.ndarray
    # market history (read by the levers' rules and by the summary); day-major, so that a
    # day's record is one contiguous block
    rec_demand: np.ndarray  # (T, R, K)
    rec_served: np.ndarray
    # served including back-orders: None without back-orders (then it is rec_served); unmet
    # is rec_demand − rec_served, formed when a replication's arrays are handed out
    rec_served_total: np.ndarray | None
    # ledger and instruments
    initial: np.ndarray  # (R, M)
    produced_m: np.ndarray
    recovered_m: np.ndarray
    consumed_m: np.ndarray
    delivered_m: np.ndarray
    destroyed_m: np.ndarray
    cum_prod: np.ndarray  # (R, N)
    cum_cons: np.ndarray  # (R, S)
    cum_recovered: np.ndarray  # (R, N)
    eol_units: np.ndarray  # (R, K)
    preclip_in: np.ndarray  # (R, S)
    preclip_out: np.ndarray  # (R, N)
    preclip_pool: np.ndarray  # (R, N)
    days_done: int = 0
    rate_today: np.ndarray = field(default_factory=lambda: np.zeros(0))
    scratch_buffers: dict[str, np.ndarray] = field(default_factory=dict)

    def scratch(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        """A work array of the batch, reused every day (contents undefined).

        The day's big temporaries — ``(R, edges)`` arrays written with ``out=`` — live
        here, so a day allocates (and the allocator returns to the system) none of them.
        A stage's flows kept in such a buffer (``Day.arrived``, ``Day.raw``, ``Day.ship``)
        are valid for that day only: a recorder copies or adds what it keeps.
        """
        buf = self.scratch_buffers.get(name)
        if buf is None or buf.shape != shape:
            buf = np.empty(shape)
            self.scratch_buffers[name] = buf
        return buf

    def stock_by_material(self) -> np.ndarray:
        """Stock on hand per replication and material, ``(R, M)``."""
        lay = self.st.layout
        M = len(lay.materials)
        has = lay.node_material >= 0
        out = bincount2(lay.node_material[has], self.out_stock[:, has], M)
        return out + bincount2(lay.slot_material, self.in_stock, M)


def ramp_share(ev: DisruptionEvent, day: int) -> float:
    """Share of the event's severity in force on ``day`` (linear recovery after the end)."""
    if ev.start <= day < ev.end:
        return 1.0
    ramp = math.ceil(ev.recovery_days)
    if ramp > 0 and ev.end <= day < ev.end + ramp:
        return 1.0 - (day - ev.end + 1) / ramp
    return 0.0
