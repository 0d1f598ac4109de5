"""Stress test: time to survive (TTS) of every node, by linear program and by simulation.

The time to survive of a node is the longest *full* outage of that node, starting on scored
day 0, after which no market ever loses demand (Simchi-Levi et al., "From superstorms to
factory fires: managing unpredictable supply chain disruptions", *Interfaces* 45(5), 2015;
HBR, Jan–Feb 2014). It is computed two ways that must agree:

* :func:`tts_lp` — a linear program (``scipy.optimize.linprog``, HiGHS) over a day-indexed
  time-expanded network that encodes the simulator's conventions (stocks at the start,
  pipeline, lead times, make-to-order, re-sourcing to qualified alternatives after the
  switching delay into spare capacity); an exact search over whole outage lengths asks the
  LP whether each length is survivable;
* :func:`tts_sim` — the same exact search asking the simulator itself, on a deterministic
  copy of the scenario (other disruptions and policies removed, demand at its mean with
  cv 0) with one scheduled outage of severity 1 on the node.

:func:`tts_paper` is the paper's own static LP (any existing edge carries any flow, no lead
times, every stock and the pipeline usable at once): an upper bound on both.
:func:`stress` puts them in one table with the node's time to recover (TTR), a flag where
TTS < TTR, and a risk-exposure ranking. Every convention is documented in
``docs/stress.md``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import networkx as nx
import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.optimize import linprog

from crmsim.engine import simulate
from crmsim.engine.disruptions import match_nodes
from crmsim.engine.layout import Layout, build_layout
from crmsim.engine.levers import lifetime_pmf, plan_recycling
from crmsim.network.graph import build_graph
from crmsim.scenario.schema import Disruption, DisruptionKind, Node, Role, Scenario, Target

__all__ = [
    "COLUMNS",
    "StressModel",
    "deterministic_scenario",
    "lost_demand_days",
    "stress",
    "switching_delay",
    "tts_lp",
    "tts_paper",
    "tts_sim",
]

#: Columns of the table :func:`stress` returns.
COLUMNS = (
    "node",
    "role",
    "country",
    "tts_lp",
    "tts_sim",
    "tts_upper_bound_paper",
    "ttr",
    "flagged",
    "exposure",
    "rank",
)

_OUTAGE_ID = "stress_outage"
_TOL = 1e-6  # units: a market "loses demand" when unmet demand exceeds this share of demand


# --------------------------------------------------------------------------- scenarios
def _established(node: Node) -> Node:
    """The node as the stress test models it.

    A node of the baseline network that enters on day 0 with certain finance and no exit
    hazard (a plant starting up when the scenario starts) is taken as established: present
    from the start at full capacity and qualified, its ramp-up and qualification ignored —
    the stress test measures the network as it stands once such a plant runs. Entrants with
    a later day, a shortage trigger, uncertain finance or an exit hazard are refused.
    """
    e = node.entry
    if (
        e is not None
        and e.day == 0
        and e.finance_probability == 1.0
        and e.exit_hazard_per_year == 0.0
    ):
        return node.model_copy(update={"entry": None})
    return node


def deterministic_scenario(
    scenario: Scenario, node: str | None = None, days: int = 0, horizon: int | None = None
) -> Scenario:
    """The deterministic copy of a scenario that the stress test simulates.

    Every disruption and policy is removed, every market's demand is set to its mean
    (cv 0, no growth: the stress test measures the network at its planned state), an
    entrant that starts on day 0 with certain finance is taken as established (see
    :func:`_established`), and, when ``node`` and ``days > 0`` are given, one
    scheduled full outage (severity 1, no recovery ramp, no stock loss) of ``node`` on
    scored days ``0 .. days − 1`` is added.

    Parameters
    ----------
    scenario : Scenario
        The scenario (not modified: frozen pydantic models are copied).
    node : str, optional
        Node to take out.
    days : int
        Outage length in whole days.
    horizon : int, optional
        Scored days to simulate (default: the scenario's own).

    Returns
    -------
    Scenario
        The modified copy.
    """
    flat = {"cv": 0.0, "growth_per_year": 0.0, "by_year": ()}  # today's mean, every day
    nodes = tuple(
        _established(n).model_copy(update={"demand": n.demand.model_copy(update=flat)})
        if n.demand is not None
        else _established(n)
        for n in scenario.nodes
    )
    disruptions: tuple[Disruption, ...] = ()
    if node is not None and days > 0:
        disruptions = (
            Disruption(
                id=_OUTAGE_ID,
                kind=DisruptionKind.OUTAGE,
                target=Target(node=(node,)),
                start=0,
                duration=int(days),
                severity=1.0,
            ),
        )
    update: dict[str, object] = {"nodes": nodes, "disruptions": disruptions, "policies": ()}
    if horizon is not None:
        update["horizon_days"] = int(horizon)
    return scenario.model_copy(update=update)


def switching_delay(lay: Layout, impaired_edge: int, alternative_edge: int) -> float:
    """Days an impaired edge must have been impaired before orders move to an alternative.

    The rule encoded here: the switching delay on the **alternative's** edge
    (``switch_days``), falling back to ``simulation.switching_delay_days``. (Both edges fall
    back to the same default when neither sets ``switch_days``, as in every shipped
    scenario.) Change this one function if the engine's rule changes.
    """
    del impaired_edge  # the alternative's own delay decides
    return float(lay.edge_switch_days[alternative_edge])


# --------------------------------------------------------------------------- the model
@dataclass(frozen=True, eq=False)
class StressModel:
    """What both TTS computations share: the deterministic network and its planned state.

    Build it with :meth:`of`. All quantities are per day and in each material's unit; the
    state is the simulator's steady state at the end of scored day −1.
    """

    scenario: Scenario
    graph: nx.MultiDiGraph
    lay: Layout
    mto: np.ndarray  # (N,) bool: make-to-order producer (a processor with a recipe)
    holds: np.ndarray  # (N,) bool: holds output stock (no inputs) — mines, raw processors
    recycler_feed: dict[int, tuple[np.ndarray, float]]  # recycler -> (collected per day, eff)
    out0: np.ndarray  # (N,) output stock at the end of day -1
    in0: np.ndarray  # (S,) input stock at the end of day -1
    backlog0: np.ndarray  # (E,) open orders at the end of day -1
    pool0: dict[int, float]  # recycler -> collected pool at the end of day -1
    demand: np.ndarray  # (K,) mean demand per market
    tail: int  # days simulated after an outage ends
    cap_days: int  # longest outage tried; a node that survives it has TTS = inf

    @classmethod
    def of(cls, scenario: Scenario, max_days: int | None = None) -> StressModel:
        """Build the model of a scenario (see :class:`StressModel`)."""
        base = deterministic_scenario(scenario)
        for n in base.nodes:
            if n.role is Role.STOCKPILE or n.entry is not None or n.development is not None:
                raise ValueError(
                    f"node {n.id!r}: the stress test does not model stockpile nodes, "
                    "entrants (entry:) or resource development (development:) yet"
                )
        G = build_graph(base)
        lay = build_layout(G, base.simulation.switching_delay_days)
        if lay.edge_lead_random.any():
            e = int(np.flatnonzero(lay.edge_lead_random)[0])
            raise ValueError(
                f"edge {lay.edges[e][0]}->{lay.edges[e][1]}: the stress test needs fixed "
                "lead times (a distributed lead time makes the outcome random)"
            )
        N, E = lay.n_nodes, lay.n_edges
        W = lay.warmup_days
        has_slot = np.zeros(N, dtype=bool)
        has_slot[lay.slot_node] = True
        mto = lay.producer & has_slot & ~lay.recycler
        holds = lay.producer & ~has_slot & ~lay.recycler
        cap_days = int(max_days if max_days is not None else base.horizon_days)
        tail = math.ceil(lay.impact_window) + 30
        total = W + cap_days + tail + 2

        # Recyclers: what is collected each day when every market is served in full.
        feed: dict[int, tuple[np.ndarray, float]] = {}
        pool0: dict[int, float] = {}
        out0 = np.where(holds, lay.out_target - lay.rate, 0.0)
        materials = G.graph["materials"]
        for plan in plan_recycling(G, lay):
            r = plan.recycler
            c = np.zeros(total)
            for col, part, content in plan.sources:
                i = int(lay.markets[col])
                product = materials[lay.materials[lay.node_material[i]]]
                if product.lifetime is None:
                    continue
                mean = float(lay.market_demand[col].mean)
                pmf, survival = lifetime_pmf(product.lifetime, total)
                eol = mean * np.cumsum(pmf)  # every day's served cohort, from sim day 0
                spec = G.nodes[lay.nodes[i]]["spec"]
                if spec.in_use_initial == "steady_state":
                    eol = eol + mean * survival
                elif spec.in_use_initial and product.lifetime.mean > 0:
                    eol = eol + float(spec.in_use_initial) * survival / product.lifetime.mean
                c += eol * part * content * plan.collection_rate
            eff = plan.recovery_efficiency
            # The warm-up: production uses the pool collected up to yesterday.
            pool, stock = 0.0, float(lay.out_init[r])
            cap = float(lay.capacity[r]) * float(lay.on_production[r])
            for d in range(W):
                p = min(cap, pool * eff)
                pool += c[d] - (p / eff if eff > 0 else 0.0)
                stock += p - float(lay.rate[r])
            feed[r] = (c[W:], eff)
            pool0[r] = pool
            out0[r] = stock

        # Open orders at the end of a day: a make-to-order supplier fills today's order
        # tomorrow; a supplier with stock ships it today.
        backlog0 = np.where(mto[lay.edge_src], lay.edge_flow, 0.0) if E else np.zeros(0)
        # Input stock at the end of a day: target position − in transit − open orders at
        # suppliers (a processor's own open orders add nothing in the steady state: its
        # output stock covers them, docs/engine.md step 5).
        owed = np.bincount(lay.edge_slot, weights=backlog0, minlength=lay.n_slots)
        in0 = lay.slot_target - owed
        # Which stock exists at t = 0 is the simulator's own: its deterministic warm-up can
        # end away from the planned state above (e.g. a recycler that starts with an empty
        # pool has its orders re-sourced during the warm-up), so the input and output
        # stocks are read from it (scored day −1); the planned state is the hand
        # derivation of the conventions (docs/stress.md) and equals it elsewhere.
        warm = simulate(deterministic_scenario(base, horizon=1), seed=0, record="daily")._engine
        rec_in, rec_out = warm.arrays["rec_in"], warm.arrays["rec_out"]
        if rec_in is not None and rec_out is not None and W > 0:
            in0 = np.asarray(rec_in[W - 1], dtype=float).copy()
            out0 = np.asarray(rec_out[W - 1], dtype=float).copy()
        demand = np.array([float(d.mean) for d in lay.market_demand])
        return cls(
            scenario=base,
            graph=G,
            lay=lay,
            mto=mto,
            holds=holds,
            recycler_feed=feed,
            out0=out0,
            in0=in0,
            backlog0=backlog0,
            pool0=pool0,
            demand=demand,
            tail=tail,
            cap_days=cap_days,
        )


# --------------------------------------------------------------------------- search
def _longest(ok: Callable[[int], bool], cap: int, hint: float | None = None) -> float:
    """Largest whole ``D`` in ``0..cap`` with ``ok(D)`` (``ok`` monotone, ``ok(0)`` true).

    Returns inf if ``ok(cap)``. ``hint`` (e.g. the other method's answer) only decides
    where the search starts: the result is exact whatever the hint; a good hint needs two
    evaluations (``ok(hint)`` and ``ok(hint + 1)``).
    """
    if hint is None or not math.isfinite(hint) or hint >= cap:
        if ok(cap):
            return math.inf
        lo, hi = 0, cap  # ok(lo) holds (no outage), ok(hi) fails
    else:
        h = max(0, int(hint))
        step = 1
        if ok(h):
            lo, hi = h, min(cap, h + 1)
            while ok(hi):
                if hi >= cap:
                    return math.inf
                lo, step = hi, 2 * step
                hi = min(cap, lo + step)
        else:
            hi, lo = h, max(0, h - 1)
            while lo > 0 and not ok(lo):
                hi, step = lo, 2 * step
                lo = max(0, hi - step)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if ok(mid):
            lo = mid
        else:
            hi = mid
    return float(lo)


# --------------------------------------------------------------------------- simulation
def lost_demand_days(model: StressModel, node: str, days: int) -> float:
    """Demand lost at all markets after a full outage of ``node`` for ``days`` days.

    Simulates the deterministic scenario (see :func:`deterministic_scenario`) for the
    outage plus the model's tail, and returns unmet demand in *market-days*: each
    market's unmet units divided by its mean daily demand, summed over markets and days
    (so markets in different units add up).
    """
    sc = deterministic_scenario(model.scenario, node, days, horizon=max(1, days) + model.tail)
    res = simulate(sc, seed=0, record="summary")
    eng = res._engine
    unmet = eng.rec_unmet[eng.W :]
    scale = np.where(model.demand > 0, model.demand, 1.0)
    return float((unmet / scale).sum())


def tts_sim(model: StressModel, node: str, hint: float | None = None) -> float:
    """TTS of ``node`` by the simulator (whole days; inf if it survives ``cap_days``).

    ``hint`` only speeds the exact search up (see :func:`tts_lp`).
    """
    return _longest(lambda d: lost_demand_days(model, node, d) <= _TOL, model.cap_days, hint)


# --------------------------------------------------------------------------- LP
class _Vars:
    """Column offsets of the LP's variable groups, each ``(days, width)``, day-major."""

    def __init__(self, T: int, widths: Mapping[str, int]):
        self.T = T
        self.off: dict[str, int] = {}
        self.width = dict(widths)
        n = 0
        for name, w in widths.items():
            self.off[name] = n
            n += T * w
        self.n = n

    def col(self, name: str, k: np.ndarray | int, t: np.ndarray | int) -> np.ndarray:
        return self.off[name] + np.asarray(t) * self.width[name] + np.asarray(k)


class _Rows:
    """Sparse constraint rows, added in vectorised families."""

    def __init__(self) -> None:
        self.r: list[np.ndarray] = []
        self.c: list[np.ndarray] = []
        self.v: list[np.ndarray] = []
        self.rhs: list[np.ndarray] = []
        self.n = 0

    def family(self, rhs: np.ndarray) -> np.ndarray:
        rows = self.n + np.arange(rhs.size)
        self.n += rhs.size
        self.rhs.append(np.asarray(rhs, dtype=float).ravel())
        return rows.reshape(rhs.shape)

    def add(self, rows: np.ndarray, cols: np.ndarray | int, vals: float | np.ndarray) -> None:
        rows, cols = np.broadcast_arrays(rows, cols)
        vals = np.broadcast_to(np.asarray(vals, dtype=float), rows.shape)
        self.r.append(rows.ravel())
        self.c.append(cols.ravel())
        self.v.append(vals.ravel())

    def matrix(self, n_cols: int) -> tuple[sp.csr_matrix | None, np.ndarray | None]:
        if self.n == 0:
            return None, None
        A = sp.csr_matrix(
            (np.concatenate(self.v), (np.concatenate(self.r), np.concatenate(self.c))),
            shape=(self.n, n_cols),
        )
        return A, np.concatenate(self.rhs)


def _alternatives(model: StressModel, x: int) -> list[tuple[int, int]]:
    """(impaired edge, alternative edge) pairs when node ``x`` is out.

    An alternative is another *qualified* edge into the same buyer slot whose supplier
    has spare capacity to take re-sourced orders. A supplier without any (capacity ×
    availability ≤ planned output — e.g. a deposit that is not On Production, so its
    capacity counts as 0) gets weight 0 in the engine's re-sourcing step: nothing is
    ever moved to it, so it is no alternative. (Counted as one, it would let the LP
    ration the node that is out freely, as if its orders could have moved.) A
    recycler's spare capacity depends on its feedstock from day to day, so a qualified
    recycler is always kept.
    """
    lay = model.lay
    spare = lay.capacity * lay.on_production - lay.rate
    pairs = []
    for e in np.flatnonzero(lay.edge_src == x):
        s = lay.edge_slot[e]
        for a in np.flatnonzero((lay.edge_slot == s) & lay.edge_qualified):
            u = int(lay.edge_src[a])
            if u != x and (lay.recycler[u] or spare[u] > 0):
                pairs.append((int(e), int(a)))
    return pairs


def lp_survives(model: StressModel, node: str, days: int) -> bool:
    """Whether the simulator-convention LP serves every market in full (see docs/stress.md).

    Parameters
    ----------
    model : StressModel
        The scenario's model.
    node : str
        Node taken fully out on scored days ``0 .. days − 1``.
    days : int
        Outage length (whole days).

    Returns
    -------
    bool
        True if a feasible flow exists over the outage plus the tail.
    """
    lay = model.lay
    x_node = lay.node_index[node]
    N, S, E = lay.n_nodes, lay.n_slots, lay.n_edges
    T = max(1, days) + model.tail
    t = np.arange(T)
    prod = np.flatnonzero(lay.producer)  # nodes that produce (mines, processors, recyclers)
    P = prod.size
    pcol = {int(i): j for j, i in enumerate(prod)}
    pairs = _alternatives(model, x_node)
    alt_edges = sorted({a for _, a in pairs})
    acol = {a: j for j, a in enumerate(alt_edges)}
    A = len(alt_edges)
    recs = sorted(model.recycler_feed)
    rcol = {r: j for j, r in enumerate(recs)}
    v = _Vars(T, {"p": P, "x": E, "O": N, "I": S, "B": E, "acc": A, "ex": P, "pool": len(recs)})

    # Bounds.
    lb = np.zeros(v.n)
    ub = np.full(v.n, np.inf)
    cap = lay.capacity * lay.on_production
    pc = v.col("p", np.arange(P)[None, :], t[:, None])
    ub[pc] = np.where(np.isfinite(cap[prod]), cap[prod], np.inf)[None, :]
    if x_node in pcol:
        ub[v.col("p", pcol[x_node], t[:days])] = 0.0
        ub[v.col("ex", pcol[x_node], t)] = 0.0  # a node that is out takes no extra orders
    # Re-sourcing is possible only while the node is out, after the switching delay.
    if A:
        ub[v.col("acc", np.arange(A)[None, :], t[:, None])] = 0.0
        for e, a in pairs:
            first = math.ceil(switching_delay(lay, e, a) - 1e-9)
            if first < days:
                ub[v.col("acc", acol[a], t[first:days])] = np.inf

    # Nodes the outage cannot reach (not downstream of the node or of a supplier that
    # can receive extra orders) receive exactly their planned orders and ship exactly
    # their planned flows: fix them (presolve then removes them).
    reached = _affected(model, x_node, alt_edges, pairs)
    for u in range(N):
        if u in reached:
            continue
        if u in pcol:
            lb[v.col("p", pcol[u], t)] = ub[v.col("p", pcol[u], t)] = min(lay.rate[u], cap[u])
        for fixed in np.flatnonzero(lay.edge_src == u).tolist():
            lb[v.col("x", fixed, t)] = ub[v.col("x", fixed, t)] = lay.edge_flow[fixed]

    eq = _Rows()
    le = _Rows()
    tt = t[:, None]
    prev = t[1:, None]

    # Input stock: I(t) = I(t−1) + arrivals(t) − consumption(t).
    rhs = np.zeros((T, S))
    rhs[0] += model.in0
    for e in range(E):  # the pipeline: planned flow × lead time in transit at the start
        L = int(lay.edge_lead_fixed[e])
        rhs[: min(L, T), lay.edge_slot[e]] += lay.edge_flow[e]
    is_market_slot = lay.slot_is_market
    mslot_demand = np.zeros(S)
    mslot_demand[lay.market_slot] = model.demand
    rhs -= mslot_demand[None, :]
    rows = eq.family(rhs)
    eq.add(rows, v.col("I", np.arange(S)[None, :], tt), 1.0)
    eq.add(rows[1:], v.col("I", np.arange(S)[None, :], prev - 1), -1.0)
    for e in range(E):
        L = int(lay.edge_lead_fixed[e])
        if L < T:
            eq.add(rows[L:, lay.edge_slot[e]], v.col("x", e, t[: T - L]), -1.0)
    for s in np.flatnonzero(~is_market_slot):
        i = int(lay.slot_node[s])
        eq.add(rows[:, s], v.col("p", pcol[i], t), float(lay.slot_coef[s]))

    # Output stock: O(t) = O(t−1) + production(t) − shipments(t).
    rows = eq.family(np.zeros((T, N)))
    eq.rhs[-1][:N] = model.out0
    eq.add(rows, v.col("O", np.arange(N)[None, :], tt), 1.0)
    eq.add(rows[1:], v.col("O", np.arange(N)[None, :], prev - 1), -1.0)
    eq.add(rows[:, prod], v.col("p", np.arange(P)[None, :], tt), -1.0)
    for e in range(E):
        eq.add(rows[:, lay.edge_src[e]], v.col("x", e, t), 1.0)
    market_nodes = np.flatnonzero(~lay.producer)
    ub[v.col("O", market_nodes[None, :], tt)] = 0.0

    # Open orders per edge: B(t) = B(t−1) + orders(t) − shipments(t), orders = planned flow
    # + accepted re-sourced orders (alternatives) + the buyer's extra input orders (one day
    # later: a make-to-order buyer orders inputs for the open orders it had this morning)
    # − orders moved away (the impaired edge).
    rhs = np.tile(lay.edge_flow, (T, 1))
    rhs[0] += model.backlog0
    rows = eq.family(rhs)
    eq.add(rows, v.col("B", np.arange(E)[None, :], tt), 1.0)
    eq.add(rows[1:], v.col("B", np.arange(E)[None, :], prev - 1), -1.0)
    eq.add(rows, v.col("x", np.arange(E)[None, :], tt), 1.0)
    for a in alt_edges:
        eq.add(rows[:, a], v.col("acc", acol[a], t), -1.0)
    for e, a in pairs:
        eq.add(rows[:, e], v.col("acc", acol[a], t), 1.0)
    share = _normalised_share(lay)
    coef_e = lay.slot_coef[lay.edge_slot] if E else np.zeros(0)
    for e in range(E):
        j = int(lay.edge_dst[e])
        if model.mto[j] and share[e] > 0:
            eq.add(rows[1:, e], v.col("ex", pcol[j], t[:-1]), -share[e] * coef_e[e])

    # Pro rata: a supplier short of stock fills its open orders pro rata. Where no extra
    # orders can reach a supplier (it is no alternative, nor upstream of one), its open
    # orders stay in the planned proportions, so its shipments do too. The node that is
    # out is such a supplier until the first of its orders move to an alternative (the
    # shortest switching delay): until then it ships what stock it has in the planned
    # proportions too; from then on its open orders are what re-sourcing left.
    extra = _extra_order_nodes(model, alt_edges)
    planned_until = {u: T for u in prod.tolist() if u not in extra}
    if x_node not in extra:
        first = min((math.ceil(switching_delay(lay, e, a) - 1e-9) for e, a in pairs), default=days)
        planned_until[x_node] = T if first >= days else first
        # Until then it fills its (planned) open orders from its stock at once, as the
        # engine does every day: it does not hold stock back for later.
        out_x = np.flatnonzero(lay.edge_src == x_node)
        for d, total in enumerate(_stock_shipments(model, x_node, min(first, days, T))):
            rows = eq.family(np.array([total]))
            eq.add(rows, v.col("x", out_x, d), 1.0)
    for u, until in planned_until.items():
        if until <= 0:
            continue
        out = [int(e) for e in np.flatnonzero(lay.edge_src == u) if lay.edge_flow[e] > 0]
        for e in out[1:]:
            rows = eq.family(np.zeros(until))
            eq.add(rows, v.col("x", e, t[:until]), float(lay.edge_flow[out[0]]))
            eq.add(rows, v.col("x", out[0], t[:until]), -float(lay.edge_flow[e]))

    # Extra orders a producer receives: accepted re-sourced orders + its buyers' extra.
    rows = eq.family(np.zeros((T, P)))
    eq.add(rows, v.col("ex", np.arange(P)[None, :], tt), 1.0)
    for a in alt_edges:
        eq.add(rows[:, pcol[int(lay.edge_src[a])]], v.col("acc", acol[a], t), -1.0)
    for e in range(E):
        j, u = int(lay.edge_dst[e]), int(lay.edge_src[e])
        if model.mto[j] and share[e] > 0 and u in pcol:
            eq.add(rows[1:, pcol[u]], v.col("ex", pcol[j], t[:-1]), -share[e] * coef_e[e])

    # Room: production ≤ output target + this morning's open orders − stock (not recyclers).
    roomed = np.array([i for i in prod if not lay.recycler[i]], dtype=np.intp)
    if roomed.size:
        rhs = np.tile(lay.out_target[roomed], (T, 1))
        owed = np.bincount(lay.edge_src, weights=model.backlog0, minlength=N)
        rhs[0] += owed[roomed] - model.out0[roomed]
        rows = le.family(rhs)
        le.add(rows, v.col("p", np.array([pcol[int(i)] for i in roomed])[None, :], tt), 1.0)
        le.add(rows[1:], v.col("O", roomed[None, :], prev - 1), 1.0)
        where = {int(i): k for k, i in enumerate(roomed)}
        for e in range(E):
            k = where.get(int(lay.edge_src[e]))
            if k is not None:
                le.add(rows[1:, k], v.col("B", e, t[:-1]), -1.0)

    # Recyclers: pool(t) = pool(t−1) − production/eff + collected(t); production uses
    # this morning's pool.
    for r in recs:
        c, eff = model.recycler_feed[r]
        rows = eq.family(c[:T].copy())
        eq.rhs[-1][0] += model.pool0[r]
        eq.add(rows, v.col("pool", rcol[r], t), 1.0)
        eq.add(rows[1:], v.col("pool", rcol[r], t[:-1]), -1.0)
        eq.add(rows, v.col("p", pcol[r], t), 1.0 / eff if eff > 0 else 0.0)
        rows = le.family(np.full(T, 0.0))
        le.rhs[-1][0] = model.pool0[r] * eff
        le.add(rows, v.col("p", pcol[r], t), 1.0)
        le.add(rows[1:], v.col("pool", rcol[r], t[:-1]), -eff)

    # Accepted re-sourced orders per alternative supplier ≤ its spare capacity
    # (capacity × availability − planned output; a recycler: what it can deliver today +
    # its stock − planned output).
    by_supplier: dict[int, list[int]] = {}
    for a in alt_edges:
        by_supplier.setdefault(int(lay.edge_src[a]), []).append(a)
    # How an alternative's spare capacity is shared: the engine offers each buyer's
    # re-sourced orders to its alternatives in proportion to their spare capacity and
    # scales every buyer's requests at one supplier alike, so the supplier's accepted
    # orders are split over its buyers in proportion to (that weight × the buyer's
    # re-sourced orders), taken here as the planned flow from the node that is out.
    # An alternative whose only orders are re-sourced ones (no planned flow on any edge)
    # then holds open orders in those same proportions, so it ships pro rata in them too.
    weight = _acceptance_weights(model, pairs, cap)
    for u, edges in by_supplier.items():
        only_resourced = not (lay.edge_flow[lay.edge_src == u] > 0).any()
        ref = edges[0]
        for a in edges[1:]:
            if weight[ref] > 0 and weight[a] > 0:
                rows = eq.family(np.zeros(T))
                eq.add(rows, v.col("acc", acol[a], t), weight[ref])
                eq.add(rows, v.col("acc", acol[ref], t), -weight[a])
                if only_resourced:
                    rows = eq.family(np.zeros(T))
                    eq.add(rows, v.col("x", a, t), weight[ref])
                    eq.add(rows, v.col("x", ref, t), -weight[a])
    for u, edges in by_supplier.items():
        if lay.recycler[u]:
            c, eff = model.recycler_feed[u]
            base = float(cap[u]) - float(lay.rate[u])
            rows = le.family(np.full(T, base))
            le.rhs[-1][0] += model.out0[u]
            for a in edges:
                le.add(rows, v.col("acc", acol[a], t), 1.0)
            le.add(rows[1:], v.col("O", u, t[:-1]), -1.0)
            le.add(rows, v.col("p", pcol[u], t), -1.0)
            rows = le.family(np.full(T, -float(lay.rate[u])))
            le.rhs[-1][0] += model.out0[u] + eff * model.pool0[u]
            for a in edges:
                le.add(rows, v.col("acc", acol[a], t), 1.0)
            le.add(rows[1:], v.col("O", u, t[:-1]), -1.0)
            le.add(rows[1:], v.col("pool", rcol[u], t[:-1]), -eff)
        else:
            spare = max(0.0, float(cap[u]) - float(lay.rate[u]))
            if not np.isfinite(spare):
                continue
            rows = le.family(np.full(T, spare))
            for a in edges:
                le.add(rows, v.col("acc", acol[a], t), 1.0)

    A_eq, b_eq = eq.matrix(v.n)
    A_ub, b_ub = le.matrix(v.n)
    # HiGHS's interior-point method is the fastest on these day-indexed LPs but can stop
    # with a numerical "solve error" (status 4) on a small, well-posed one; the dual
    # simplex then decides.
    for method in ("highs-ipm", "highs-ds"):
        res = linprog(
            np.zeros(v.n),
            A_ub=A_ub,
            b_ub=b_ub,
            A_eq=A_eq,
            b_eq=b_eq,
            bounds=np.column_stack([lb, ub]),
            method=method,
        )
        if res.status in (0, 2):
            break
    else:
        raise RuntimeError(f"linprog failed for {node} × {days} days: {res.message}")
    return bool(res.status == 0)


def _stock_shipments(model: StressModel, x: int, days: int) -> np.ndarray:
    """What node ``x``, producing nothing, ships on days ``0 .. days − 1`` to planned orders.

    Each day its buyers order the planned flows; it fills its open orders from its
    output stock as far as the stock goes (step 6 of the engine's day).
    """
    lay = model.lay
    mine = lay.edge_src == x
    stock = float(model.out0[x])
    owed = float(model.backlog0[mine].sum())
    flow = float(lay.edge_flow[mine].sum())
    shipped = np.zeros(max(0, days))
    for d in range(shipped.size):
        owed += flow
        shipped[d] = min(stock, owed)
        stock -= shipped[d]
        owed -= shipped[d]
    return shipped


def _extra_order_nodes(model: StressModel, alt_edges: list[int]) -> set[int]:
    """Producers that can receive orders beyond the planned ones when a node is out.

    The suppliers of alternative edges (re-sourced orders) and, upstream of them, every
    supplier of a make-to-order buyer in that set (inputs for the extra orders).
    """
    lay = model.lay
    found = {int(lay.edge_src[a]) for a in alt_edges}
    todo = list(found)
    while todo:
        j = todo.pop()
        if not model.mto[j]:
            continue
        for e in np.flatnonzero(lay.edge_dst == j):
            u = int(lay.edge_src[e])
            if lay.edge_share[e] > 0 and u not in found:
                found.add(u)
                todo.append(u)
    return found


def _affected(
    model: StressModel, x: int, alt_edges: list[int], pairs: list[tuple[int, int]]
) -> set[int]:
    """Nodes whose flows an outage of node ``x`` can change.

    Everything downstream (along planned flows and the alternative edges) of ``x`` and of
    the producers that can receive extra orders (:func:`_extra_order_nodes`).
    """
    lay = model.lay
    seeds = {x} | _extra_order_nodes(model, alt_edges)
    carries = lay.edge_flow > 0
    for _, a in pairs:
        carries[a] = True
    found = set(seeds)
    todo = list(seeds)
    while todo:
        u = todo.pop()
        for e in np.flatnonzero((lay.edge_src == u) & carries):
            j = int(lay.edge_dst[e])
            if j not in found:
                found.add(j)
                todo.append(j)
    return found


def _acceptance_weights(
    model: StressModel, pairs: list[tuple[int, int]], cap: np.ndarray
) -> dict[int, float]:
    """Weight of each alternative edge in its supplier's accepted re-sourced orders.

    ``(spare of its supplier ÷ spare of all the buyer's alternatives) × planned flow on
    the impaired edge`` (see the engine's re-sourcing step).
    """
    lay = model.lay
    spare = np.maximum(0.0, cap - lay.rate)
    spare[~np.isfinite(spare)] = 1e300
    out: dict[int, float] = {}
    for e, a in pairs:
        alts = [b for ee, b in pairs if ee == e]
        total = float(sum(spare[lay.edge_src[b]] for b in alts))
        w = float(spare[lay.edge_src[a]]) / total if total > 0 else 0.0
        out[a] = out.get(a, 0.0) + w * float(lay.edge_flow[e])
    return out


def _normalised_share(lay: Layout) -> np.ndarray:
    total = np.bincount(lay.edge_slot, weights=lay.edge_share, minlength=lay.n_slots)
    return np.divide(
        lay.edge_share,
        total[lay.edge_slot],
        out=np.zeros(lay.n_edges),
        where=total[lay.edge_slot] > 0,
    )


def tts_lp(model: StressModel, node: str, hint: float | None = None) -> float:
    """TTS of ``node`` by the simulator-convention LP (whole days; inf past ``cap_days``).

    An exact search over whole outage lengths, each asking :func:`lp_survives`. ``hint``
    (for example the simulator's answer) is where the search starts; the answer does not
    depend on it: the search checks the hint and the day after and gallops outwards if
    either check says the hint is wrong.
    """
    if not model.lay.producer[model.lay.node_index[node]]:
        return math.inf  # a market has no capacity to lose: its "outage" changes nothing
    return _longest(lambda d: lp_survives(model, node, d), model.cap_days, hint)


def tts_paper(model: StressModel, node: str) -> float:
    """TTS of ``node`` in the paper's own convention: an upper bound (days, not rounded).

    Simchi-Levi et al.'s static LP: maximise ``t`` such that every market's demand over
    ``t`` days is met from the stock on hand and in transit at the start plus production
    of the other nodes at up to capacity × ``t``, over any existing edge in any amount,
    with no lead times. inf when the other nodes can serve all demand indefinitely.
    """
    lay = model.lay
    x_node = lay.node_index[node]
    N, S, E = lay.n_nodes, lay.n_slots, lay.n_edges
    # Variables: t, production per node, flow per edge.
    n = 1 + N + E
    c = np.zeros(n)
    c[0] = -1.0
    rows = _Rows()
    transit = np.bincount(lay.edge_slot, weights=lay.edge_flow * lay.edge_lead_fixed, minlength=S)
    stock_in = model.in0 + transit
    # Each slot: consumption ≤ inflow + stock (markets: demand × t).
    r = rows.family(stock_in)
    for e in range(E):
        rows.add(r[lay.edge_slot[e]], 1 + N + e, -1.0)
    for s in range(S):
        i = int(lay.slot_node[s])
        if lay.slot_is_market[s]:
            k = int(np.flatnonzero(lay.market_slot == s)[0])
            rows.add(r[s], 0, float(model.demand[k]))
        else:
            rows.add(r[s], 1 + i, float(lay.slot_coef[s]))
    # Each node's shipments ≤ production + output stock.
    r = rows.family(model.out0.copy())
    for e in range(E):
        rows.add(r[lay.edge_src[e]], 1 + N + e, 1.0)
    rows.add(r, 1 + np.arange(N), -1.0)
    # Production ≤ capacity × t (recyclers: also their feedstock rate × t).
    cap = np.where(lay.producer, lay.capacity * lay.on_production, 0.0)
    for rec, (feed, eff) in model.recycler_feed.items():
        cap[rec] = min(cap[rec], float(np.mean(feed[: model.cap_days])) * eff)
    cap[x_node] = 0.0
    finite = np.flatnonzero(np.isfinite(cap))
    r = rows.family(np.zeros(finite.size))
    rows.add(r, 1 + finite, 1.0)
    rows.add(r, 0, -cap[finite])
    A, b = rows.matrix(n)
    big = 1e7
    bounds = [(0.0, big)] + [(0.0, None)] * (N + E)
    res = linprog(c, A_ub=A, b_ub=b, bounds=bounds, method="highs")
    if res.status != 0:
        raise RuntimeError(f"linprog failed for the paper's TTS of {node}: {res.message}")
    value = float(res.x[0])
    return math.inf if value >= big * (1 - 1e-9) else round(value, 6)


# --------------------------------------------------------------------------- TTR, table
def _ttr_of(scenario: Scenario, G: nx.MultiDiGraph, node: str) -> float | None:
    """The node's own time to recover from the scenario's outages (longest), if any.

    A scheduled outage gives ``duration + recovery_days``; a stochastic one its mean
    duration + ``recovery_days``.
    """
    best: float | None = None
    for d in scenario.disruptions:
        if d.kind is not DisruptionKind.OUTAGE or node not in match_nodes(G, d.target, d.kind):
            continue
        if d.scheduled:
            assert d.duration is not None
            days = float(d.duration)
        else:
            assert d.random is not None
            days = float(d.random.duration.mean)
        days += float(d.recovery_days)
        best = days if best is None else max(best, days)
    return best


def stress(
    scenario: Scenario,
    nodes: Iterable[str] | None = None,
    ttr: float | Mapping[str, float] | None = None,
) -> pd.DataFrame:
    """Time to survive against time to recover, per node, with a risk-exposure ranking.

    Parameters
    ----------
    scenario : Scenario
        A validated scenario (not modified).
    nodes : iterable of str, optional
        Nodes to test (default: every node, in sorted order).
    ttr : float or mapping, optional
        Time to recover in days where the scenario has no outage of the node: one number
        for every node, or ``{node: days}``. A node's own outages in the scenario
        (``duration + recovery_days``, the longest) take precedence.

    Returns
    -------
    pandas.DataFrame
        One row per node with :data:`COLUMNS`: TTS by LP and by simulation (whole days,
        inf when the node survives an outage of the whole horizon), the paper's upper bound
        (days), TTR (days, NaN if unknown), ``flagged`` (TTS < TTR), ``exposure`` (demand
        lost after an outage of length TTR, in market-days) and ``rank`` (1 = largest
        exposure).

    Raises
    ------
    KeyError
        If a node is not in the scenario.
    ValueError
        If the scenario has a node or edge the stress test does not model.

    Examples
    --------
    >>> from crmsim.scenario.loader import scenario_from_dict
    >>> chain = scenario_from_dict({
    ...     "crmsim": 1, "name": "mine, plant, market", "horizon_days": 60,
    ...     "materials": [{"id": "ore"}, {"id": "metal"}],
    ...     "nodes": [
    ...         {"id": "mine", "role": "mine", "country": "AUS", "output": "ore",
    ...          "capacity": 20, "stock_days": 10},
    ...         {"id": "plant", "role": "processor", "country": "DEU", "output": "metal",
    ...          "capacity": 20, "recipe": {"ore": 1}, "stock_days": 0},
    ...         {"id": "city", "role": "market", "country": "DEU", "demand": {"mean": 10},
    ...          "stock_days": 1},
    ...     ],
    ...     "edges": [{"from": "mine", "to": "plant"}, {"from": "plant", "to": "city"}],
    ... })
    >>> table = stress(chain, nodes=["mine"], ttr=30)
    >>> row = table.iloc[0]
    >>> float(row.tts_lp), float(row.tts_sim), float(row.ttr), bool(row.flagged)
    (9.0, 9.0, 30.0, True)
    """
    model = StressModel.of(scenario)
    lay = model.lay
    chosen = sorted(lay.nodes) if nodes is None else list(nodes)
    for n in chosen:
        if n not in lay.node_index:
            raise KeyError(f"node {n!r} is not in the scenario (nodes: {', '.join(lay.nodes)})")
    rows = []
    for n in chosen:
        spec = model.graph.nodes[n]["spec"]
        own = _ttr_of(scenario, model.graph, n)
        if own is not None:
            ttr_n: float = own
        elif isinstance(ttr, Mapping):
            ttr_n = float(ttr.get(n, math.nan))
        elif ttr is not None:
            ttr_n = float(ttr)
        else:
            ttr_n = math.nan
        b = tts_sim(model, n)
        a = tts_lp(model, n, hint=b)
        tts = min(a, b)
        exposure = lost_demand_days(model, n, round(ttr_n)) if math.isfinite(ttr_n) else math.nan
        rows.append(
            {
                "node": n,
                "role": spec.role.value,
                "country": spec.country,
                "tts_lp": a,
                "tts_sim": b,
                "tts_upper_bound_paper": tts_paper(model, n),
                "ttr": ttr_n,
                "flagged": bool(math.isfinite(ttr_n) and tts < ttr_n),
                "exposure": exposure,
            }
        )
    table = pd.DataFrame(rows, columns=list(COLUMNS[:-1]))
    table["rank"] = table["exposure"].rank(method="min", ascending=False).astype("Int64")
    return table
