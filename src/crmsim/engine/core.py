"""The engine: a SimPy event calendar plus a numpy settlement of each day's flows.

SimPy keeps the calendar — disruption starts, ends and recovery ramps (processes at whole
days) — and one daily process settles the flows of all nodes and edges at once with numpy
arrays, at mid-day (``t + 0.5``), so every calendar change of day ``t`` is in force before
day ``t`` settles, whatever order SimPy runs processes in.

Each day settles in the order fixed by DESIGN.md:

1. disruption starts and ends take effect (capacity availability, blocked edges, lead-time
   and demand multipliers) — SimPy processes at whole days;
2. shipments due today arrive in the buyer's input stock;
3. each producer produces ``min(capacity × availability, what its inputs allow by recipe,
   room up to its target stock plus its open orders)``;
4. markets draw demand and serve it from stock (lost sales or back-orders);
5. every node orders up to its target inventory position for each input, split over
   suppliers by share; orders meant for a supplier that is blocked or down move, after the
   switching delay, to qualified alternatives up to their spare capacity (and back once it
   recovers);
6. suppliers fill orders from stock (pro rata when short; export restrictions block the
   restricted share) and ship with the edge's lead time;
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
    lifetime_pmf,
    plan_development,
    plan_entries,
    plan_recycling,
    plan_releases,
)
from crmsim.engine.streams import Streams
from crmsim.scenario.schema import Demand, DisruptionKind, Scenario

__all__ = ["Engine"]


def _draw_demand(spec: Demand, rng: np.random.Generator, days: int) -> np.ndarray:
    """Daily demand draws (never negative) for one market."""
    mean, cv = float(spec.mean), float(spec.cv)
    if mean == 0:
        return np.zeros(days)
    if spec.distribution == "poisson":
        return rng.poisson(mean, days).astype(float)
    if cv < 1e-6:  # practically deterministic (and avoids a gamma shape of 1/cv² = inf)
        return np.full(days, mean)
    if spec.distribution == "gamma":
        shape = 1.0 / cv**2
        return rng.gamma(shape, mean / shape, days)
    return np.maximum(rng.normal(mean, cv * mean, days), 0.0)


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
        for j, (i, spec) in enumerate(zip(lay.markets, lay.market_demand, strict=True)):
            rng = self.streams.get("demand", lay.nodes[i])
            self.demand_draws[:, j] = _draw_demand(spec, rng, self.T)
        self.lead_draws: dict[int, np.ndarray] = {}
        for e_random in np.flatnonzero(lay.edge_lead_random):
            u, v, k = lay.edges[e_random]
            rng = self.streams.get("lead_time", u, v, k)
            self.lead_draws[int(e_random)] = lead_days(lay.edge_lead[e_random].sample(rng, self.T))

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
            elif spec.in_use_initial and mean_life > 0:
                self.eol_due[:, j] += float(spec.in_use_initial) * survival / mean_life
        R = len(lay.nodes)
        self.pool = np.zeros(R)  # embedded material collected, awaiting recovery
        self.collected = np.zeros(R)
        self.collection_lost = np.zeros(R)
        self.recovery_lost = np.zeros(R)
        self._recv_hist = np.zeros((7, S))
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
        self._has_stockpile = bool(lay.slot_is_stockpile.any())
        self._has_recycler = bool(lay.recycler.any())
        self._has_backorders = bool(lay.market_backorders.any())
        primary = (lay.node_material >= 0) & ~lay.recycler
        self._primary = np.flatnonzero(primary)
        self._primary_material = lay.node_material[self._primary]
        self._block = np.zeros(E)
        self._block_dirty = False
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
        self._logistics_active = 0
        self.impaired_since = np.full(E, -1, dtype=np.int64)
        # Disruption state.
        self.avail = np.ones(N)
        self.block_full = np.zeros(E, dtype=np.int64)
        self.block_keep = np.ones(E)
        self.lead_factor = np.ones(E)
        self.demand_factor = np.ones(N)
        self._node_events: dict[int, list[tuple[DisruptionEvent, int]]] = {}
        self._ramping: set[int] = set()
        self._dirty: set[int] = set()

        # Steady-state pipeline: planned flow × lead time in transit at the start.
        for e in range(E):
            f = float(lay.edge_flow[e])
            if f > 0 and not late[lay.edge_src[e]] and not late[lay.edge_dst[e]]:
                L = int(lay.edge_lead_fixed[e])
                self.arrivals[: min(L, self.T), e] += f
                self.arrivals[self.T, e] += f * max(0, L - self.T)
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
        self.stats: dict[str, Any] = {}

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
        elif ev.kind is DisruptionKind.DEMAND_SHOCK:
            idx = np.asarray(ev.nodes, dtype=np.intp)
            if start:
                self.demand_factor[idx] *= ev.factor
            else:
                self.demand_factor[idx] /= ev.factor
        elif ev.kind is DisruptionKind.EXPORT_RESTRICTION:
            self._block_dirty = True
            idx = np.asarray(ev.edges, dtype=np.intp)
            if ev.severity >= 1.0:
                self.block_full[idx] += 1 if start else -1
            elif ev.severity > 0:
                if start:
                    self.block_keep[idx] *= 1.0 - ev.severity
                else:
                    self.block_keep[idx] /= 1.0 - ev.severity
        else:  # logistics
            idx = np.asarray(ev.edges, dtype=np.intp)
            self._logistics_active += 1 if start else -1
            if start:
                self.lead_factor[idx] *= ev.factor
                self._delay_in_transit(idx, day, ev.factor)
            else:
                self.lead_factor[idx] /= ev.factor

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
            new_day = day + np.ceil(remaining * factor).astype(np.intp)
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
        if self._block_dirty:
            self._block = 1.0 - np.where(self.block_full > 0, 0.0, self.block_keep)
            self._block_dirty = False
        block = self._block
        if self.entries or self.developments:
            self._lever_state(d)

        # 2. Arrivals.
        arrived = self.arrivals[d]
        self.transit -= arrived
        received = np.bincount(lay.edge_slot, weights=arrived, minlength=S)
        self.in_stock += received
        if self.releases:  # a release rule watches the last 7 days' receipts
            self._recv_hist[d % 7] = received
        if d >= self.W:
            self.edge_received += arrived
        # A stockpile's receipts join its held stock at once (a transfer, not production).
        if self._has_stockpile:
            sp = lay.slot_is_stockpile
            np.add.at(self.out_stock, lay.slot_node[sp], self.in_stock[sp])
            self.in_stock[sp] = 0.0

        # 3. Production (recyclers recover from their collected pool).
        cap_today = lay.capacity * self.avail * self.cap_factor
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
        room = np.maximum(0.0, lay.out_target + open_orders - self.out_stock)
        if self._has_recycler:
            room[lay.recycler] = np.inf  # collected material is recovered as it comes
        prod = np.where(lay.producer, np.minimum(np.minimum(cap_today, input_limit), room), 0.0)
        prod[~np.isfinite(prod)] = 0.0
        consumed = np.zeros(S)
        consumed[self._prod_sel] = prod[self._prod_owner] * self._prod_coef
        self.in_stock = np.maximum(self.in_stock - consumed, 0.0)
        self.out_stock += prod
        self.produced_m += np.bincount(
            self._primary_material, weights=prod[self._primary], minlength=M
        )
        if self._has_recycler:
            rec = lay.recycler
            used = np.divide(
                prod[rec],
                self._efficiency[rec],
                out=np.zeros(int(rec.sum())),
                where=self._efficiency[rec] > 0,
            )
            self.pool[rec] = np.maximum(self.pool[rec] - used, 0.0)
            self.recovery_lost[rec] += used - prod[rec]
            self.recovered_m += np.bincount(lay.node_material[rec], weights=prod[rec], minlength=M)
        self.consumed_m += np.bincount(lay.slot_material, weights=consumed, minlength=M)

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
            target = lay.slot_position_target.copy()
            # Inputs for open orders beyond stock (lets an alternative supplier buy the
            # inputs for re-sourced orders).
            target[self._prod_sel] += self._prod_coef * open_orders[self._prod_owner]
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

            # 6. Stockpile releases (pushed to their buyer), then suppliers fill orders from
            # stock, pro rata when short.
            released = self._release(d, block) if self.releases else np.zeros(E)
            request = self.backlog * (1.0 - block)
            req_total = np.bincount(lay.edge_src, weights=request, minlength=N)
            can = np.minimum(self.out_stock, req_total)
            ratio = np.divide(can, req_total, out=np.zeros(N), where=req_total > 0)
            ship = request * ratio[lay.edge_src]
            self.backlog -= ship
            filled = np.bincount(lay.edge_src, weights=ship, minlength=N)
            self.out_stock = np.maximum(self.out_stock - filled, 0.0)
            ship = ship + released  # releases already left the stockpile's stock
            shipped_node = np.bincount(lay.edge_src, weights=ship, minlength=N).astype(float)
            lead = lay.edge_lead_fixed
            if self.lead_draws:
                lead = lead.copy()
                for e, draws in self.lead_draws.items():
                    lead[e] = draws[d]
            if self._logistics_active:
                lead = np.where(self.lead_factor != 1.0, lead_days(lead * self.lead_factor), lead)
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
                eol_embedded += float(self.eol_due[d, col]) * part * content
            got = eol_embedded * plan.collection_rate
            self.pool[r] += got
            self.collected[r] += got
            self.collection_lost[r] += eol_embedded - got
            if self.rec_collected is not None:
                self.rec_collected[d, r] = got

        # 8. Record.
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
        """Place the day's orders; divert those meant for impaired suppliers (step 5)."""
        lay = self.layout
        N, S = lay.n_nodes, lay.n_slots
        if not (
            self._any_impaired
            or self._node_events
            or self._dynamic_supply
            or self.block_full.any()
            or self._block.any()
        ):
            self.backlog += raw  # nothing is impaired: every order goes where it is meant
            return
        # Share of its capacity a supplier can use today (unlimited suppliers: availability).
        avail_frac = self._cap_nonzero * self.avail * self.cap_factor
        if self._has_recycler:
            rec = lay.recycler
            feasible = np.minimum(cap_today[rec], self.pool[rec] * self._efficiency[rec])
            feasible = feasible + self.out_stock[rec]
            avail_frac[rec] = np.minimum(
                avail_frac[rec],
                np.divide(
                    feasible, lay.rate[rec], out=np.ones(int(rec.sum())), where=lay.rate[rec] > 0
                ),
            )
        avail_frac = np.minimum(np.maximum(avail_frac, 0.0), 1.0)
        unable = np.minimum(np.maximum(1.0 - avail_frac[lay.edge_src] * (1.0 - block), 0.0), 1.0)
        impaired = unable > 1e-12
        started = impaired & (self.impaired_since < 0)
        self.impaired_since[started] = d
        self.impaired_since[~impaired] = -1
        self._any_impaired = bool(impaired.any())
        eligible = impaired & (d - self.impaired_since >= lay.edge_switch_days)
        if not eligible.any():
            self.backlog += raw
            return
        frac = np.where(eligible, unable, 0.0)
        divert = (raw + self.backlog) * frac
        keep_raw = raw * (1.0 - frac)
        self.backlog *= 1.0 - frac
        wanted = np.bincount(lay.edge_slot, weights=divert, minlength=S)
        spare = np.maximum(0.0, cap_today - lay.rate)
        if self._has_recycler:
            # A recycler can take on what its feedstock and recovered stock allow.
            rec = lay.recycler
            deliverable = np.minimum(cap_today[rec], self.pool[rec] * self._efficiency[rec])
            spare[rec] = np.maximum(0.0, deliverable + self.out_stock[rec] - lay.rate[rec])
        spare[~np.isfinite(spare)] = 1e300
        alt = lay.edge_qualified & ~eligible & self.edge_active
        weight = np.where(alt, spare[lay.edge_src] * (1.0 - unable), 0.0)
        weight_total = np.bincount(lay.edge_slot, weights=weight, minlength=S)
        share = np.divide(
            weight,
            weight_total[lay.edge_slot],
            out=np.zeros_like(weight),
            where=weight_total[lay.edge_slot] > 0,
        )
        request = wanted[lay.edge_slot] * share
        per_supplier = np.bincount(lay.edge_src, weights=request, minlength=N)
        scale = np.divide(spare, per_supplier, out=np.ones(N), where=per_supplier > spare)
        accepted = request * np.minimum(1.0, scale)[lay.edge_src]
        accepted_slot = np.bincount(lay.edge_slot, weights=accepted, minlength=S)
        back = np.divide(wanted - accepted_slot, wanted, out=np.zeros(S), where=wanted > 0)
        returned = divert * back[lay.edge_slot]
        self.backlog += keep_raw + accepted + returned

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

    def _lever_state(self, d: int) -> None:
        """Entry, ramp-up, qualification, exit and resource development on day ``d``."""
        lay = self.layout
        for plan in self.entries:
            i = plan.node
            if plan.financed and plan.day is None and plan.trigger_below is not None:
                p = self._watched_performance(plan.watch, d, plan.trigger_days)
                if len(p) >= plan.trigger_days and bool(np.all(p < plan.trigger_below)):
                    plan.day = float(d)
            if plan.day is None or d < plan.day:
                factor, qualified, present = 0.0, False, False
            elif d >= plan.day + plan.life_days:
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

    def _replenishment(self, order: np.ndarray) -> np.ndarray:
        """Stockpiles with a release rule refill slowly, and not while releasing."""
        for plan in self.releases:
            slots = self._node_slots[plan.node]
            if self._releasing[plan.node] or not plan.replenish:
                order[slots] = 0.0
            else:
                order[slots] = np.minimum(order[slots], plan.replenish_per_day)
        return order

    def _release(self, d: int, block: np.ndarray) -> np.ndarray:
        """Stock each stockpile pushes to its buyer today (per edge)."""
        lay = self.layout
        out = np.zeros(lay.n_edges)
        for plan in self.releases:
            trigger = False
            if plan.below_fill_rate is not None:
                if plan.buyer_market is not None:
                    p = self._watched_performance(plan.buyer_market, d + 1, 7)
                    ratio = float(np.mean(p)) if len(p) else 1.0
                else:
                    got = float(self._recv_hist[:, plan.buyer_slot].sum())
                    ratio = got / (7 * plan.need) if plan.need > 0 else 1.0
                trigger |= ratio < plan.below_fill_rate
            if plan.below_days_of_cover is not None and plan.need > 0:
                cover = self.in_stock[plan.buyer_slot] / plan.need
                trigger |= cover < plan.below_days_of_cover
            self._releasing[plan.node] = trigger
            if trigger:
                qty = min(self.out_stock[plan.node], plan.per_day) * (1.0 - block[plan.edge])
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
