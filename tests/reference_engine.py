"""The engine as it was before the batched rewrite: the test oracle (used only by tests).

A one-replication engine kept beside the batched one so that tests can compare them
bitwise (tests/test_engine_batch.py). It is the pre-batching code with every later rule
change applied to it too (docs/engine.md step 5, inputs for open orders; re-sourcing of a
developed resource), and it keeps its own copies of the helpers the batched engine has in
``crmsim.engine.state`` on purpose: an oracle that shared them could not catch a slip in
them. Change a rule here and in ``crmsim.engine.stages`` together.

SimPy keeps the calendar — disruption starts, ends and recovery ramps (processes at whole
days) — and one daily process settles the flows of all nodes and edges at once with numpy
arrays, at mid-day (``t + 0.5``), so every calendar change of day ``t`` is in force before
day ``t`` settles, whatever order SimPy runs processes in.

Each day settles in this order (``docs/engine.md`` states every rule):

1. disruption starts and ends take effect (capacity availability, export quotas, lead-time
   and demand multipliers, each recomputed from the events in force) — SimPy processes at
   whole days;
2. shipments due today arrive in the buyer's input stock;
3. each producer produces ``min(capacity × availability, what its inputs allow by recipe,
   room up to its target stock plus its open orders)``;
4. markets draw demand and serve it from stock (lost sales or back-orders);
5. every node orders up to its target inventory position for each input, split over
   suppliers by share; orders meant for a supplier that is blocked or down move, after the
   switching delay, to qualified alternatives up to their spare capacity (and back once it
   recovers);
6. stockpile releases, then suppliers fill orders from stock (pro rata when short) and
   ship with the edge's lead time; on an export-restricted edge what crosses in a day is
   capped by its quota and the orders beyond it are cancelled;
7. (end-of-life collection and recycling: see the policy levers);
8. the day's state is recorded.

The scenario is never mutated: the engine keeps its own run state in arrays.
"""

from __future__ import annotations

import math
import time
from collections.abc import Collection, Generator
from typing import Any

import numpy as np
import simpy

from crmsim.engine.attribution import event_keys, select_events
from crmsim.engine.disruptions import DisruptionEvent, generate_events
from crmsim.engine.layout import Layout, build_layout, lead_days
from crmsim.engine.levers import (
    EntryPlan,
    lifetime_pmf,
    plan_development,
    plan_entries,
    plan_recycling,
    plan_releases,
)
from crmsim.engine.streams import Streams
from crmsim.scenario.distributions import normal_for_moments, truncated_normal
from crmsim.scenario.errors import Problem, ScenarioError
from crmsim.scenario.schema import MAX_FACTOR, Demand, DisruptionKind, Scenario

__all__ = ["MAX_DEMAND_FACTOR", "Engine", "demand_multipliers"]

#: Cap on the combined factor of the demand shocks in force at a market (documented in
#: docs/engine.md): overlapping shocks multiply, and 50 shocks of factor 2 would otherwise
#: ask for 2^50 times the demand.
MAX_DEMAND_FACTOR = 1000.0


def _draw_demand(
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
        return _draw_demand(spec, rng, days) * mult
    if cv < 1e-6 or not cv * mean > 0:  # practically deterministic (no gamma shape 1/cv² = inf)
        return np.full(days, mean)
    if spec.distribution == "gamma":
        shape = 1.0 / cv**2
        return rng.gamma(shape, mean / shape, days)
    loc, scale = normal_for_moments(mean, cv)
    return truncated_normal(loc, scale).rvs(days, rng)


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


class Engine:
    """One replication of a scenario.

    Parameters
    ----------
    scenario : Scenario
        A validated scenario (not modified).
    seed : int
        Root seed of the experiment.
    replication : int
        Replication number (selects the streams; common random numbers across policies).
    record : {"daily", "summary"}
        Keep every node's daily record, or only what the summary metrics need.
    layout : Layout, optional
        A prebuilt layout of the same scenario (saves rebuilding it per replication).
    exclude : collection of str
        Keys (``disruption[target]#k``) of realised events to leave out; every other
        random draw is unchanged (marginal effects).
    """

    def __init__(
        self,
        scenario: Scenario,
        seed: int,
        replication: int = 0,
        *,
        record: str = "daily",
        layout: Layout | None = None,
        graph: Any = None,
        exclude: Collection[str] = (),
    ):
        from crmsim.network.graph import build_graph

        if record not in ("daily", "summary"):
            raise ValueError(f"record must be 'daily' or 'summary', not {record!r}")
        self.scenario = scenario
        self.seed = int(seed)
        self.replication = int(replication)
        self.record = record
        self.graph = graph if graph is not None else build_graph(scenario)
        self.layout = (
            layout
            if layout is not None
            else build_layout(self.graph, scenario.simulation.switching_delay_days)
        )
        self.streams = Streams(self.seed, self.replication)
        lay = self.layout
        self.W = lay.warmup_days
        self.H = lay.horizon_days
        self.T = self.W + self.H
        N, S, E, K = lay.n_nodes, lay.n_slots, lay.n_edges, len(lay.markets)
        M = len(lay.materials)

        self.events: list[DisruptionEvent] = generate_events(
            self.graph,
            scenario.disruptions,
            self.streams,
            warmup_days=self.W,
            total_days=self.T,
            node_index=lay.node_index,
            edge_index=lay.edge_index,
        )
        # Leave out events by key (marginal effects): every random draw stays the same.
        self.event_keys = event_keys(self.events)
        if exclude:
            keep = select_events(self.event_keys, exclude)
            self.events = [self.events[i] for i in keep]
            self.event_keys = [self.event_keys[i] for i in keep]

        # Random inputs, each from its own named stream (common random numbers).
        self.demand_draws = np.zeros((self.T, K))
        mult = np.ones((self.T, K))  # demand growth: factor on the mean per day and market
        for j, (i, spec) in enumerate(zip(lay.markets, lay.market_demand, strict=True)):
            rng = self.streams.get("demand", lay.nodes[i])
            if spec.grows:
                mult[:, j] = demand_multipliers(spec, self.W, self.T)
            self.demand_draws[:, j] = _draw_demand(spec, rng, self.T, mult[:, j])
        # Targets follow the planned flows of the day's mean demand (docs/engine.md).
        self._scale: np.ndarray | None = None
        if any(spec.grows for spec in lay.market_demand):
            self._scale = _plan_scale(self.graph, lay, mult)
        self._rate_today = lay.rate
        self.lead_draws: dict[int, np.ndarray] = {}
        for e_random in np.flatnonzero(lay.edge_lead_random):
            u, v, k = lay.edges[e_random]
            rng = self.streams.get("lead_time", u, v, k)
            try:
                self.lead_draws[int(e_random)] = lead_days(
                    lay.edge_lead[e_random].sample(rng, self.T), self.T
                )
            except ValueError as err:
                raise ScenarioError(
                    [
                        Problem(
                            f"edge {u} -> {v} ({k}): lead_time {lay.edge_lead[e_random]} "
                            f"gave an unusable draw ({err}); give finite parameters",
                            ("edges",),
                        )
                    ]
                ) from None

        # Policy levers (entrants, resource development, stockpile releases, recycling).
        self.entries = plan_entries(self.graph, lay, self.streams)
        self.developments = plan_development(self.graph, lay, self.streams)
        self.releases = plan_releases(self.graph, lay)
        self.recycling = plan_recycling(self.graph, lay)
        # Index arrays of the nodes levers switch on and off (not recomputed per day).
        self._out_edges = {
            i: np.flatnonzero(lay.edge_src == i) for i in [p.node for p in self.entries]
        }
        self._node_slots = {
            i: np.flatnonzero(lay.slot_node == i)
            for i in [p.node for p in self.entries] + [p.node for p in self.releases]
        }
        self._efficiency = np.ones(N)  # recovery efficiency of each recycler (1 elsewhere)
        for rplan in self.recycling:
            self._efficiency[rplan.recycler] = rplan.recovery_efficiency
        self.cap_factor = lay.on_production.astype(float)
        self.edge_active = np.ones(E, dtype=bool)
        self.slot_active = np.ones(S, dtype=bool)
        late = np.zeros(N, dtype=bool)
        for plan in self.entries:
            late[plan.node] = True
        for i, _, _ in self.developments:
            self.cap_factor[i] = 0.0
        self._late = late
        self.lever_events: list[tuple[str, str, float]] = []
        for plan in self.entries:
            if not plan.financed:
                self.lever_events.append((lay.nodes[plan.node], "no_finance", math.nan))
        for i, start, _ in self.developments:
            if start is None:
                self.lever_events.append((lay.nodes[i], "never_developed", math.nan))
        self._entry_logged: set[int] = set()
        self._exit_logged: set[int] = set()
        self._dev_logged: set[int] = set()
        # End-of-life pipeline per market (units reaching end of life each day).
        self.eol_due = np.zeros((self.T + 1, K))
        self.in_use_start = np.zeros(K)  # units in use at the start, per market
        self._pmf: dict[int, np.ndarray] = {}
        collected_markets = {col for plan in self.recycling for col, _, _ in plan.sources}
        materials = self.graph.graph["materials"]
        for j in sorted(collected_markets):
            i = int(lay.markets[j])
            product = materials[lay.materials[lay.node_material[i]]]
            if product.lifetime is None:
                continue
            pmf, survival = lifetime_pmf(product.lifetime, self.T + 1)
            self._pmf[j] = pmf
            spec = self.graph.nodes[lay.nodes[i]]["spec"]
            mean_life = product.lifetime.mean
            if spec.in_use_initial == "steady_state":
                self.eol_due[:, j] += float(lay.market_demand[j].mean) * survival
                # Units still in use at the end of the record keep their steady state.
                self.in_use_start[j] = float(lay.market_demand[j].mean) * mean_life
            elif spec.in_use_initial and mean_life > 0:
                self.eol_due[:, j] += float(spec.in_use_initial) * survival / mean_life
                self.in_use_start[j] = float(spec.in_use_initial)
        R = len(lay.nodes)
        self.pool = np.zeros(R)  # embedded material collected, awaiting recovery
        self.collected = np.zeros(R)
        self.collection_lost = np.zeros(R)
        self.recovery_lost = np.zeros(R)
        # Input performance of the (non-market) buyers of fill-rate release rules.
        self._plant_plans = [
            p for p in self.releases if p.below_fill_rate is not None and p.buyer_market is None
        ]
        self._plant_perf = np.zeros((self.T, len(self._plant_plans)))
        sel = np.flatnonzero(~lay.slot_is_market & ~lay.slot_is_stockpile)
        if sel.size:
            owners_all = lay.slot_node[sel]
            first = np.flatnonzero(np.r_[True, owners_all[1:] != owners_all[:-1]])
            self._slot_groups: tuple[np.ndarray, np.ndarray, np.ndarray] | None = (
                first,
                owners_all[first],
                sel,
            )
        else:
            self._slot_groups = None
        # Static index arrays and flags (the per-day settlement avoids recomputing them).
        prod_mask = ~lay.slot_is_market & ~lay.slot_is_stockpile
        self._prod_mask = prod_mask
        self._prod_sel = np.flatnonzero(prod_mask)
        self._prod_owner = lay.slot_node[self._prod_sel]
        self._prod_coef = lay.slot_coef[self._prod_sel]
        self._developed = np.zeros(N, dtype=bool)
        for i, _, _ in self.developments:
            self._developed[i] = True
        self._has_stockpile = bool(lay.slot_is_stockpile.any())
        self._has_recycler = bool(lay.recycler.any())
        self._has_backorders = bool(lay.market_backorders.any())
        primary = (lay.node_material >= 0) & ~lay.recycler
        self._primary = np.flatnonzero(primary)
        self._primary_material = lay.node_material[self._primary]
        self._block = np.zeros(E)  # combined severity of the export restrictions in force
        self._any_block = False
        self._share_dirty = True
        self._share = np.zeros(E)
        unavailable = lay.producer & ((lay.capacity <= 0) | ~lay.on_production)
        has_out = np.bincount(lay.edge_src, minlength=N) > 0 if E else np.zeros(N, dtype=bool)
        self._dynamic_supply = bool(
            self._has_recycler or self.entries or self.developments or (unavailable & has_out).any()
        )
        self._any_impaired = False
        self._cap_nonzero = (lay.capacity > 0).astype(float)
        self._inf_n = np.full(N, np.inf)
        self._releasing = np.zeros(N, dtype=bool)

        # Run state (private; exposed through the result).
        self.out_stock = lay.out_init.copy()
        self.in_stock = lay.slot_init.copy()
        # Entrants start empty: they do not exist yet.
        self.out_stock[late] = 0.0
        self.in_stock[late[lay.slot_node]] = 0.0
        self.backlog = np.zeros(E)  # open orders per edge at the supplier
        self.market_backlog = np.zeros(K)  # back-ordered demand per market
        self.arrivals = np.zeros((self.T + 1, E))  # row T: beyond the horizon
        self.transit = np.zeros(E)
        self._arrivals_flat = self.arrivals.reshape(-1)  # a view: same memory
        self._edge_ids = np.arange(E)
        self._logistics_active = False
        self.impaired_since = np.full(E, -1, dtype=np.int64)
        # Disruption state: every factor is recomputed from the events in force (never
        # undone by division), see _recompute.
        self.avail = np.ones(N)
        self.lead_factor = np.ones(E)
        self.demand_factor = np.ones(N)
        self._node_events: dict[int, list[tuple[DisruptionEvent, int]]] = {}
        self._in_force: dict[DisruptionKind, dict[int, list[DisruptionEvent]]] = {
            DisruptionKind.DEMAND_SHOCK: {},
            DisruptionKind.EXPORT_RESTRICTION: {},
            DisruptionKind.LOGISTICS: {},
        }
        self.capped: list[str] = []  # run-time caps that bound (see MAX_DEMAND_FACTOR)
        self._ramping: set[int] = set()
        self._dirty: set[int] = set()

        # Steady-state pipeline: planned flow × lead time in transit at the start.
        for e in range(E):
            f = float(lay.edge_flow[e])
            if f > 0 and not late[lay.edge_src[e]] and not late[lay.edge_dst[e]]:
                L = int(lay.edge_lead_fixed[e])  # at most T (see lead_days)
                self.arrivals[:L, e] += f
                self.transit[e] = f * L

        # Ledger per material.
        self.initial = self._stock_by_material() + np.bincount(
            lay.edge_material, weights=self.transit, minlength=M
        )
        self.produced_m = np.zeros(M)
        self.recovered_m = np.zeros(M)
        self.consumed_m = np.zeros(M)
        self.delivered_m = np.zeros(M)
        self.destroyed_m = np.zeros(M)

        # Records.
        T = self.T
        self.rec_demand = np.zeros((T, K))
        self.rec_served = np.zeros((T, K))  # served on the day of demand
        self.rec_served_total = np.zeros((T, K))  # incl. back-orders filled
        self.rec_unmet = np.zeros((T, K))
        self.rec_avail = np.zeros((T, N)) if record == "daily" else None
        self.rec_out = np.zeros((T, N)) if record == "daily" else None
        self.rec_prod = np.zeros((T, N)) if record == "daily" else None
        self.rec_ship = np.zeros((T, N)) if record == "daily" else None
        self.rec_in = np.zeros((T, S)) if record == "daily" else None
        self.rec_recv = np.zeros((T, S)) if record == "daily" else None
        self.rec_cons = np.zeros((T, S)) if record == "daily" else None
        self.rec_released = np.zeros((T, N)) if record == "daily" else None
        self.rec_collected = np.zeros((T, N)) if record == "daily" else None
        # Edge totals over the scored horizon (secondary input, MSME share of supply).
        self.edge_received = np.zeros(E)
        self.stock_held = np.zeros(N)  # Σ output stock on hand over scored days (holding)
        self.edge_shipped = np.zeros(E)
        self.edge_cancelled = np.zeros(E)  # orders cancelled by export quotas (whole run)
        self.stats: dict[str, Any] = {}
        # Instruments for the independent balance checks (engine/consistency.py): whole-run
        # totals measured where the stock changes, and the most negative value any stock
        # reached before a clip at zero.
        self.cum_prod = np.zeros(N)  # made (recyclers: recovered) per node
        self.cum_cons = np.zeros(S)  # taken from input stock by production, per slot
        self.cum_recovered = np.zeros(N)  # recovered per recycler
        self.eol_units = np.zeros(K)  # end-of-life units sent to recyclers, per market
        self.preclip_in = np.zeros(S)  # lowest pre-clip input stock (0 if never negative)
        self.preclip_out = np.zeros(N)  # lowest pre-clip output stock
        self.preclip_pool = np.zeros(N)  # lowest pre-clip collected pool of a recycler
        self.days_done = 0  # days settled so far

    # ------------------------------------------------------------------ helpers
    def _stock_by_material(self) -> np.ndarray:
        lay = self.layout
        M = len(lay.materials)
        has = lay.node_material >= 0
        out = np.bincount(lay.node_material[has], weights=self.out_stock[has], minlength=M)
        return out + np.bincount(lay.slot_material, weights=self.in_stock, minlength=M)

    def _node_availability(self, i: int, day: int) -> float:
        a = 1.0
        for ev, _ in self._node_events.get(i, ()):
            a *= 1.0 - ev.severity * _ramp(ev, day)
        return a

    # ------------------------------------------------------------ SimPy processes
    def _disruption(self, env: simpy.Environment, ev: DisruptionEvent) -> Generator:
        yield env.timeout(ev.start)
        self._apply(ev, start=True, day=ev.start)
        yield env.timeout(max(0, ev.end - ev.start))
        self._apply(ev, start=False, day=ev.end)
        if ev.kind is DisruptionKind.OUTAGE and ev.recovery_days > 0:
            yield env.timeout(math.ceil(ev.recovery_days))
            self._retire(ev)

    def _apply(self, ev: DisruptionEvent, *, start: bool, day: int) -> None:
        if ev.kind is DisruptionKind.OUTAGE:
            if start:
                for i in ev.nodes:
                    self._node_events.setdefault(i, []).append((ev, id(ev)))
                    self._dirty.add(i)
                if ev.stock_loss > 0:
                    self._destroy(np.asarray(ev.nodes, dtype=np.intp), ev.stock_loss)
            elif ev.recovery_days > 0:
                self._ramping.update(ev.nodes)
            else:
                self._retire(ev)
        else:
            # Demand shocks, export restrictions and logistics: the factor of each node or
            # edge is recomputed from the events in force (never undone by division).
            targets = ev.nodes if ev.kind is DisruptionKind.DEMAND_SHOCK else ev.edges
            table = self._in_force[ev.kind]
            for i in targets:
                if start:
                    table.setdefault(i, []).append(ev)
                else:
                    lst = [e for e in table.get(i, []) if e is not ev]
                    if lst:
                        table[i] = lst
                    else:
                        table.pop(i, None)
            self._recompute(ev.kind, targets)
            if ev.kind is DisruptionKind.LOGISTICS and start:
                self._delay_in_transit(np.asarray(ev.edges, dtype=np.intp), day, ev.factor)

    def _recompute(self, kind: DisruptionKind, targets: tuple[int, ...]) -> None:
        """Recompute the combined factor of ``targets`` from the events of ``kind`` in force.

        Demand shocks multiply (capped at :data:`MAX_DEMAND_FACTOR`), logistics factors
        multiply (the lead times they give are capped at the run length, see
        :func:`~crmsim.engine.layout.lead_days`), export restrictions combine as
        ``1 − Π(1 − severity)``.
        """
        table = self._in_force[kind]
        for i in targets:
            evs = table.get(i, [])
            if kind is DisruptionKind.DEMAND_SHOCK:
                f = math.prod(e.factor for e in evs)
                if f > MAX_DEMAND_FACTOR:
                    self.capped.append(
                        f"demand shocks at {self.layout.nodes[i]} combine to factor {f:g}; "
                        f"capped at {MAX_DEMAND_FACTOR:g}"
                    )
                    f = MAX_DEMAND_FACTOR
                self.demand_factor[i] = f
            elif kind is DisruptionKind.EXPORT_RESTRICTION:
                keep = math.prod(1.0 - min(max(e.severity, 0.0), 1.0) for e in evs)
                self._block[i] = 1.0 - keep
            else:
                self.lead_factor[i] = math.prod(e.factor for e in evs)
        if kind is DisruptionKind.EXPORT_RESTRICTION:
            self._any_block = bool(self._block.any())
        elif kind is DisruptionKind.LOGISTICS:
            self._logistics_active = bool(table)

    def _retire(self, ev: DisruptionEvent) -> None:
        for i in ev.nodes:
            lst = self._node_events.get(i, [])
            self._node_events[i] = [(e, k) for e, k in lst if k != id(ev)]
            if not self._node_events[i]:
                del self._node_events[i]
            self._dirty.add(i)

    def _destroy(self, nodes: np.ndarray, share: float) -> None:
        lay = self.layout
        M = len(lay.materials)
        lost_out = self.out_stock[nodes] * share
        self.out_stock[nodes] -= lost_out
        has = lay.node_material[nodes] >= 0
        self.destroyed_m += np.bincount(
            lay.node_material[nodes][has], weights=lost_out[has], minlength=M
        )
        slots = np.flatnonzero(np.isin(lay.slot_node, nodes))
        lost_in = self.in_stock[slots] * share
        self.in_stock[slots] -= lost_in
        self.destroyed_m += np.bincount(lay.slot_material[slots], weights=lost_in, minlength=M)

    def _delay_in_transit(self, edges: np.ndarray, day: int, factor: float) -> None:
        """Goods already in transit on delayed edges take ``factor`` × their remaining time."""
        T = self.T
        for e in edges:
            col = self.arrivals[day + 1 : T, e]
            due = np.flatnonzero(col)
            if due.size == 0:
                continue
            qty = col[due].copy()
            col[due] = 0.0
            remaining = due + 1  # days from `day`
            # Float first, capped at the run length, then whole days (never overflows).
            new_day = day + np.minimum(np.ceil(remaining * factor), T).astype(np.intp)
            new_day = np.minimum(new_day, T)
            np.add.at(self.arrivals[:, e], new_day, qty)

    def _days(self, env: simpy.Environment) -> Generator:
        yield env.timeout(0.5)
        for day in range(self.T):
            self._settle(day)
            yield env.timeout(1)

    # ------------------------------------------------------------- settlement
    def _settle(self, d: int) -> None:
        lay = self.layout
        N, S, M = lay.n_nodes, lay.n_slots, len(lay.materials)

        # 1. Disruption state: recompute availability of nodes whose outages changed.
        touched = self._dirty | self._ramping
        if touched:
            for i in touched:
                self.avail[i] = self._node_availability(i, d)
            self._dirty = set()
            self._ramping = {
                i
                for i in self._ramping
                if any(
                    ev.end <= d < ev.end + math.ceil(ev.recovery_days)
                    for ev, _ in self._node_events.get(i, ())
                )
            }
        block = self._block
        if self.entries or self.developments:
            self._lever_state(d)

        # 2. Arrivals.
        arrived = self.arrivals[d]
        self.transit -= arrived
        received = np.bincount(lay.edge_slot, weights=arrived, minlength=S)
        self.in_stock += received
        if d >= self.W:
            self.edge_received += arrived
        # A stockpile's receipts join its held stock at once (a transfer, not production).
        if self._has_stockpile:
            sp = lay.slot_is_stockpile
            np.add.at(self.out_stock, lay.slot_node[sp], self.in_stock[sp])
            self.in_stock[sp] = 0.0

        # 3. Production (recyclers recover from their collected pool).
        with np.errstate(invalid="ignore"):
            cap_today = lay.capacity * self.avail * self.cap_factor
        cap_today[np.isnan(cap_today)] = 0.0  # an unlimited node that is down: none
        input_limit = self._inf_n.copy()
        if self._has_recycler:
            rec = lay.recycler
            input_limit[rec] = self.pool[rec] * self._efficiency[rec]
        if self._slot_groups is not None:
            # Slots are sorted by node: the scarcest input per node, by segment.
            starts, owners, sel = self._slot_groups
            ratio = self.in_stock[sel] / lay.slot_coef[sel]
            input_limit[owners] = np.minimum(
                input_limit[owners], np.minimum.reduceat(ratio, starts)
            )
        open_orders = np.bincount(lay.edge_src, weights=self.backlog, minlength=N)
        if self._scale is not None:
            scale = self._scale[d]
            self._rate_today = lay.rate * scale
            out_target = lay.out_target * scale
        else:
            out_target = lay.out_target
        room = np.maximum(0.0, out_target + open_orders - self.out_stock)
        for k, plan in enumerate(self._plant_plans):
            b, sl = plan.buyer, plan.buyer_slot
            want = min(cap_today[b], room[b])
            can = min(self.in_stock[sl] / lay.slot_coef[sl], want)
            self._plant_perf[d, k] = can / want if want > 0 else 1.0
        if self._has_recycler:
            room[lay.recycler] = np.inf  # collected material is recovered as it comes
        prod = np.where(lay.producer, np.minimum(np.minimum(cap_today, input_limit), room), 0.0)
        prod[~np.isfinite(prod)] = 0.0
        if self._has_recycler:
            # A recycler uses feedstock from its pool and recovers `efficiency` of it: the
            # feedstock used is fixed first (never more than the pool) and the recovered
            # amount derived from it, so the pool balances even for a denormal efficiency.
            rec = lay.recycler
            eff = self._efficiency[rec]
            used = np.minimum(
                self.pool[rec],
                np.divide(prod[rec], eff, out=np.zeros(int(rec.sum())), where=eff > 0),
            )
            prod[rec] = used * eff
        consumed = np.zeros(S)
        consumed[self._prod_sel] = prod[self._prod_owner] * self._prod_coef
        before = self.in_stock
        pre = before - consumed
        np.minimum(self.preclip_in, pre, out=self.preclip_in)
        self.in_stock = np.maximum(pre, 0.0)
        self.cum_cons += before - self.in_stock
        self.out_stock += prod
        self.cum_prod += prod
        self.produced_m += np.bincount(
            self._primary_material, weights=prod[self._primary], minlength=M
        )
        if self._has_recycler:
            pre_pool = self.pool[rec] - used
            self.preclip_pool[rec] = np.minimum(self.preclip_pool[rec], pre_pool)
            self.pool[rec] = np.maximum(pre_pool, 0.0)
            self.recovery_lost[rec] += used - prod[rec]
            self.cum_recovered[rec] += prod[rec]
            self.recovered_m += np.bincount(lay.node_material[rec], weights=prod[rec], minlength=M)
        self.consumed_m += np.bincount(lay.slot_material, weights=consumed, minlength=M)
        if self.entries:
            self._count_stress(d, prod, cap_today)

        # 4. Markets: demand, served from stock.
        ms = lay.market_slot
        demand = self.demand_draws[d] * self.demand_factor[lay.markets]
        stock = self.in_stock[ms]
        if self._has_backorders:
            backorders = lay.market_backorders
            wanted = demand + np.where(backorders, self.market_backlog, 0.0)
            served_total = np.minimum(stock, wanted)
            from_backlog = np.minimum(served_total, np.where(backorders, self.market_backlog, 0.0))
            served_now = served_total - from_backlog
            self.market_backlog = np.where(backorders, wanted - served_total, 0.0)
        else:
            served_total = served_now = np.minimum(stock, demand)
        unmet = demand - served_now
        self.in_stock[ms] = stock - served_total
        self.delivered_m += np.bincount(lay.slot_material[ms], weights=served_total, minlength=M)
        # Served units enter use and reach end of life after their lifetime (by cohort).
        for j, pmf in self._pmf.items():
            if served_total[j] > 0:
                self.eol_due[d : self.T + 1, j] += served_total[j] * pmf[: self.T + 1 - d]

        # 5. Orders up to the target inventory position, split by share.
        E = lay.n_edges
        if E:
            pipeline = np.bincount(lay.edge_slot, weights=self.backlog + self.transit, minlength=S)
            position = self.in_stock + pipeline
            if self._has_backorders:
                position[ms] -= self.market_backlog
            if self._scale is not None:
                target = lay.slot_position_target * self._scale[d][lay.slot_node]
            else:
                target = lay.slot_position_target.copy()
            # Inputs for open orders beyond stock (lets an alternative supplier buy the
            # inputs for re-sourced orders).
            owner = self._prod_owner
            beyond = np.maximum(0.0, open_orders[owner] - self.out_stock[owner])
            makeable = np.where(cap_today[owner] > 0, beyond, 0.0)
            target[self._prod_sel] += self._prod_coef * makeable
            if self._has_stockpile:
                sp = lay.slot_is_stockpile
                position[sp] += self.out_stock[lay.slot_node[sp]]
            order = np.maximum(0.0, target - position)
            if self.entries:
                order *= self.slot_active
            if self._has_stockpile:
                order = self._replenishment(order)
            if self._share_dirty:
                share = lay.edge_share * self.edge_active
                share_sum = np.bincount(lay.edge_slot, weights=share, minlength=S)
                self._share = np.divide(
                    share,
                    share_sum[lay.edge_slot],
                    out=np.zeros(E),
                    where=share_sum[lay.edge_slot] > 0,
                )
                self._share_dirty = bool(self.entries)
            raw = order[lay.edge_slot] * self._share
            self._resource(d, raw, cap_today, block)

            # 6. Export quotas, stockpile releases (pushed to their buyer), then suppliers
            # fill orders from stock, pro rata when short.
            quota_ref = lay.edge_quota_ref
            if self._scale is not None:
                quota_ref = quota_ref * self._scale[d][lay.edge_dst]
            quota = (1.0 - block) * quota_ref if self._any_block else None
            released = self._release(d, quota) if self.releases else np.zeros(E)
            if quota is not None:
                # What may still cross today; orders beyond it are cancelled (lost to the
                # route: the buyer re-orders, re-sources or goes short).
                allowed = np.where(block > 0, np.minimum(self.backlog, quota), self.backlog)
                self.edge_cancelled += self.backlog - allowed
                self.backlog = allowed
            request = self.backlog
            req_total = np.bincount(lay.edge_src, weights=request, minlength=N)
            can = np.minimum(self.out_stock, req_total)
            ratio = np.divide(can, req_total, out=np.zeros(N), where=req_total > 0)
            ship = request * ratio[lay.edge_src]
            self.backlog = self.backlog - ship
            filled = np.bincount(lay.edge_src, weights=ship, minlength=N)
            pre_out = self.out_stock - filled
            np.minimum(self.preclip_out, pre_out, out=self.preclip_out)
            self.out_stock = np.maximum(pre_out, 0.0)
            ship = ship + released  # releases already left the stockpile's stock
            shipped_node = np.bincount(lay.edge_src, weights=ship, minlength=N).astype(float)
            lead = lay.edge_lead_fixed
            if self.lead_draws:
                lead = lead.copy()
                for e, draws in self.lead_draws.items():
                    lead[e] = draws[d]
            if self._logistics_active:
                lead = np.where(
                    self.lead_factor != 1.0, lead_days(lead * self.lead_factor, self.T), lead
                )
            arrive = np.minimum(d + lead, self.T)
            # One shipment per edge and day: (day, edge) cells are unique, so a plain += on
            # the flat array is exact (and much faster than 2-D fancy indexing).
            self._arrivals_flat[arrive * E + self._edge_ids] += ship
            self.transit += ship
            if d >= self.W:
                self.edge_shipped += ship
        else:
            shipped_node = np.zeros(N, dtype=float)
            released = np.zeros(0)

        # 7. End-of-life units are collected and sent to recyclers.
        for plan in self.recycling:
            r = plan.recycler
            eol_embedded = 0.0
            for col, part, content in plan.sources:
                units = float(self.eol_due[d, col]) * part
                self.eol_units[col] += units
                eol_embedded += units * content
            got = eol_embedded * plan.collection_rate
            self.pool[r] += got
            self.collected[r] += got
            self.collection_lost[r] += eol_embedded - got
            if self.rec_collected is not None:
                self.rec_collected[d, r] = got

        # 8. Record.
        self.days_done = d + 1
        if d >= self.W:
            self.stock_held += self.out_stock
        self.rec_demand[d] = demand
        self.rec_served[d] = served_now
        self.rec_served_total[d] = served_total
        self.rec_unmet[d] = unmet
        if self.record == "daily":
            assert self.rec_avail is not None and self.rec_out is not None
            assert self.rec_prod is not None and self.rec_ship is not None
            assert self.rec_in is not None and self.rec_recv is not None
            assert self.rec_cons is not None
            self.rec_avail[d] = cap_today
            self.rec_out[d] = self.out_stock
            self.rec_prod[d] = prod
            self.rec_ship[d] = shipped_node
            self.rec_in[d] = self.in_stock
            self.rec_recv[d] = received
            self.rec_cons[d] = consumed
            self.rec_cons[d][ms] = served_total
            assert self.rec_released is not None
            if len(released):
                self.rec_released[d] = np.bincount(lay.edge_src, weights=released, minlength=N)

    def _resource(self, d: int, raw: np.ndarray, cap_today: np.ndarray, block: np.ndarray) -> None:
        """Place the day's orders; divert those meant for impaired suppliers (step 5).

        An edge is impaired by the share of orders its supplier cannot deliver (down,
        short of feedstock, or export-restricted). Its orders may go to a qualified
        alternative edge ``a`` into the same buyer slot once it has been impaired for
        ``a``'s switching delay (``switch_days`` of the alternative's edge).
        """
        lay = self.layout
        N, E = lay.n_nodes, lay.n_edges
        if not (self._any_impaired or self._node_events or self._dynamic_supply or self._any_block):
            self.backlog += raw  # nothing is impaired: every order goes where it is meant
            return
        # Share of its capacity a supplier can use today (unlimited suppliers: availability).
        cap_factor = np.where(self._developed, self.cap_factor > 0, self.cap_factor)
        avail_frac = self._cap_nonzero * self.avail * cap_factor
        if self._has_recycler:
            rec = lay.recycler
            feasible = np.minimum(cap_today[rec], self.pool[rec] * self._efficiency[rec])
            feasible = feasible + self.out_stock[rec]
            avail_frac[rec] = np.minimum(
                avail_frac[rec],
                np.divide(
                    feasible,
                    self._rate_today[rec],
                    out=np.ones(int(rec.sum())),
                    where=self._rate_today[rec] > 0,
                ),
            )
        avail_frac = np.minimum(np.maximum(avail_frac, 0.0), 1.0)
        unable = np.minimum(np.maximum(1.0 - avail_frac[lay.edge_src] * (1.0 - block), 0.0), 1.0)
        impaired = unable > 1e-12
        started = impaired & (self.impaired_since < 0)
        self.impaired_since[started] = d
        self.impaired_since[~impaired] = -1
        self._any_impaired = bool(impaired.any())
        pf, pt = lay.pair_from, lay.pair_to
        if not self._any_impaired or pf.size == 0:
            self.backlog += raw
            return
        # A pair (impaired edge, alternative) is open once the impaired edge has been
        # impaired for the alternative's switching delay.
        age = d - self.impaired_since
        open_pair = impaired[pf] & self.edge_active[pt] & (age[pf] >= lay.edge_switch_days[pt])
        if not open_pair.any():
            self.backlog += raw
            return
        diverting = np.bincount(pf[open_pair], minlength=E) > 0
        spare = np.maximum(0.0, cap_today - self._rate_today)
        if self._has_recycler:
            # A recycler can take on what its feedstock and recovered stock allow.
            rec = lay.recycler
            deliverable = np.minimum(cap_today[rec], self.pool[rec] * self._efficiency[rec])
            spare[rec] = np.maximum(0.0, deliverable + self.out_stock[rec] - self._rate_today[rec])
        spare[~np.isfinite(spare)] = 1e300
        # Edges that divert do not receive; weights by spare capacity of the usable part.
        src_alt = lay.edge_src[pt]
        weight = np.where(open_pair & ~diverting[pt], spare[src_alt] * (1.0 - unable[pt]), 0.0)
        weight_total = np.bincount(pf, weights=weight, minlength=E)
        diverting &= weight_total > 0  # no usable alternative: the orders stay
        if not diverting.any():
            self.backlog += raw
            return
        frac = np.where(diverting, unable, 0.0)
        divert = (raw + self.backlog) * frac
        keep_raw = raw * (1.0 - frac)
        self.backlog *= 1.0 - frac
        pair_share = np.divide(
            weight, weight_total[pf], out=np.zeros_like(weight), where=weight_total[pf] > 0
        )
        request = divert[pf] * pair_share
        # Pro rata when several buyers compete for one supplier's spare capacity.
        per_supplier = np.bincount(src_alt, weights=request, minlength=N)
        scale = np.divide(spare, per_supplier, out=np.ones(N), where=per_supplier > spare)
        accepted = request * np.minimum(1.0, scale)[src_alt]
        accepted_alt = np.bincount(pt, weights=accepted, minlength=E)
        returned = divert - np.bincount(pf, weights=accepted, minlength=E)
        self.backlog += keep_raw + accepted_alt + np.maximum(returned, 0.0)

    # ------------------------------------------------------------- levers
    def _watched_performance(self, column: int | None, d: int, days: int) -> np.ndarray:
        lo = max(self.W, d - days)
        if column is None:
            dem = self.rec_demand[lo:d].sum(axis=1)
            srv = self.rec_served[lo:d].sum(axis=1)
        else:
            dem = self.rec_demand[lo:d, column]
            srv = self.rec_served[lo:d, column]
        return np.divide(srv, dem, out=np.ones_like(dem), where=dem > 0)

    def _entry_fires(self, plan: EntryPlan, d: int) -> bool:
        """Whether an entrant's shortage rule fires on day ``d`` (reads days before ``d``).

        * consecutive: performance below the threshold on each of the last ``for_days``
          scored days;
        * moving average: Σ served ÷ Σ demand over the last ``window_days`` scored days
          (all of them completed) below the threshold;
        * shortage days: at least ``shortage_days`` of the last ``window_days`` scored days
          (fewer at the start of the horizon) with performance below the threshold.
        """
        assert plan.trigger_below is not None
        n = plan.trigger_days
        if plan.rule == "consecutive":
            p = self._watched_performance(plan.watch, d, n)
            return len(p) >= n and bool(np.all(p < plan.trigger_below))
        lo = max(self.W, d - n)
        if plan.rule == "moving_average":
            if d - lo < n:
                return False
            if plan.watch is None:
                dem = float(self.rec_demand[lo:d].sum())
                srv = float(self.rec_served[lo:d].sum())
            else:
                dem = float(self.rec_demand[lo:d, plan.watch].sum())
                srv = float(self.rec_served[lo:d, plan.watch].sum())
            return dem > 0 and srv / dem < plan.trigger_below
        p = self._watched_performance(plan.watch, d, n)
        assert plan.shortage_days is not None
        return int(np.count_nonzero(p < plan.trigger_below)) >= plan.shortage_days

    def _lever_state(self, d: int) -> None:
        """Entry, ramp-up, qualification, exit and resource development on day ``d``."""
        lay = self.layout
        for plan in self.entries:
            i = plan.node
            waiting = plan.financed and plan.day is None and plan.trigger_below is not None
            if waiting and self._entry_fires(plan, d):
                plan.day = float(d)
            if plan.day is not None and d >= plan.day and not plan.exited:
                plan.exited = plan.exits_by(d)
            if plan.day is None or d < plan.day:
                factor, qualified, present = 0.0, False, False
            elif plan.exited:
                factor, qualified, present = 0.0, False, False
                if i not in self._exit_logged:
                    self._exit_logged.add(i)
                    self.lever_events.append((lay.nodes[i], "exited", float(d - self.W)))
            else:
                ramp = plan.ramp_up_days
                factor = 1.0 if ramp <= 0 else min(1.0, (d - plan.day) / ramp)
                qualified = d >= plan.day + plan.qualification_days
                present = True
                if i not in self._entry_logged:
                    self._entry_logged.add(i)
                    self.lever_events.append((lay.nodes[i], "entered", float(d - self.W)))
                if qualified and i not in self._dev_logged:
                    self._dev_logged.add(i)
                    self.lever_events.append((lay.nodes[i], "qualified", float(d - self.W)))
            self.cap_factor[i] = factor * float(lay.on_production[i])
            self.edge_active[self._out_edges[i]] = qualified
            self.slot_active[self._node_slots[i]] = present
        for i, start, factor in self.developments:
            if start is not None and d >= start:
                self.cap_factor[i] = factor
                if -i - 1 not in self._dev_logged:
                    self._dev_logged.add(-i - 1)
                    self.lever_events.append(
                        (lay.nodes[i], "production_started", float(d - self.W))
                    )

    def _count_stress(self, d: int, prod: np.ndarray, cap_today: np.ndarray) -> None:
        """Count a stressed day for each qualified entrant producing below its threshold.

        Utilisation is the day's production ÷ the capacity available that day (capacity ×
        availability × entry ramp); a day with no capacity available is not counted.
        """
        for plan in self.entries:
            if plan.exit_stress <= 0 or plan.day is None or plan.exited:
                continue
            if d < plan.day + plan.qualification_days:
                continue
            cap = float(cap_today[plan.node])
            if cap > 0 and float(prod[plan.node]) < plan.stress_below * cap:
                plan.stressed_days += 1

    def _replenishment(self, order: np.ndarray) -> np.ndarray:
        """Stockpiles with a release rule refill slowly, and not while releasing."""
        for plan in self.releases:
            slots = self._node_slots[plan.node]
            if self._releasing[plan.node] or not plan.replenish:
                order[slots] = 0.0
            else:
                order[slots] = np.minimum(order[slots], plan.replenish_per_day)
        return order

    def _release(self, d: int, quota: np.ndarray | None) -> np.ndarray:
        """Stock each stockpile pushes to its buyer today (per edge).

        The fill-rate rule reads the last 7 *completed* days (``d − 7 … d − 1``). A release
        over an export-restricted edge uses that edge's quota first (``quota`` is reduced
        in place); the rest stays in the stockpile.
        """
        lay = self.layout
        out = np.zeros(lay.n_edges)
        for plan in self.releases:
            trigger = False
            if plan.below_fill_rate is not None:
                if plan.buyer_market is not None:
                    p = self._watched_performance(plan.buyer_market, d, 7)
                    ratio = float(np.mean(p)) if len(p) else 1.0
                else:
                    k = self._plant_plans.index(plan)
                    lo = max(self.W, d - 7)
                    ratio = float(self._plant_perf[lo:d, k].mean()) if d > lo else 1.0
                trigger |= ratio < plan.below_fill_rate
            if plan.below_days_of_cover is not None and plan.need > 0:
                cover = self.in_stock[plan.buyer_slot] / plan.need
                trigger |= cover < plan.below_days_of_cover
            self._releasing[plan.node] = trigger
            if trigger:
                qty = min(self.out_stock[plan.node], plan.per_day)
                if quota is not None and self._block[plan.edge] > 0:
                    qty = min(qty, float(quota[plan.edge]))
                    quota[plan.edge] -= qty
                self.out_stock[plan.node] -= qty
                out[plan.edge] += qty
        return out

    # ------------------------------------------------------------------- run
    def run(self) -> Engine:
        """Simulate the warm-up and the horizon; returns self (see :func:`simulate`)."""
        t0 = time.perf_counter()
        env = _CountingEnvironment()
        env.process(self._days(env))
        for ev in self.events:
            env.process(self._disruption(env, ev))
        env.run(until=self.T)
        self.stats = {
            "simpy_events": env.scheduled,  # events scheduled on the calendar
            "seconds": time.perf_counter() - t0,
            "disruption_events": len(self.events),
            "capped": list(self.capped),  # run-time caps that bound (docs/engine.md)
        }
        return self

    def ledger(self) -> np.ndarray:
        """Per-material balance terms (rows: materials).

        Columns: initial, produced, recovered, final stock, in transit, consumed,
        delivered, destroyed, imbalance.
        """
        M = len(self.layout.materials)
        final = self._stock_by_material()
        transit = np.bincount(self.layout.edge_material, weights=self.transit, minlength=M)
        imbalance = (
            self.initial
            + self.produced_m
            + self.recovered_m
            - final
            - transit
            - self.consumed_m
            - self.delivered_m
            - self.destroyed_m
        )
        return np.column_stack(
            [
                self.initial,
                self.produced_m,
                self.recovered_m,
                final,
                transit,
                self.consumed_m,
                self.delivered_m,
                self.destroyed_m,
                imbalance,
            ]
        )


class _CountingEnvironment(simpy.Environment):
    """A SimPy environment that counts the events scheduled on its calendar."""

    def __init__(self) -> None:
        super().__init__()
        self.scheduled = 0

    def schedule(self, event: simpy.events.Event, priority: int = 1, delay: float = 0) -> None:
        self.scheduled += 1
        super().schedule(event, priority, delay)  # type: ignore[arg-type]


def _ramp(ev: DisruptionEvent, day: int) -> float:
    """Share of the event's severity in force on ``day`` (linear recovery after the end)."""
    if ev.start <= day < ev.end:
        return 1.0
    ramp = math.ceil(ev.recovery_days)
    if ramp > 0 and ev.end <= day < ev.end + ramp:
        return 1.0 - (day - ev.end + 1) / ramp
    return 0.0
