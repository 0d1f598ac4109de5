"""A batch of replications simulated together: SimPy calendar plus numpy over the batch.

Every replication of the batch draws its random inputs (disruption events, demand, lead
times, lever draws) from its own named streams (:class:`~crmsim.engine.streams.BatchStreams`),
exactly as when it runs alone, and the daily settlement keeps a single replication's
arithmetic, so replication ``r`` gives bitwise the same results in any batch.

SimPy keeps the calendar: one process applies the disruption starts, ends and recovery
ramps of every replication at whole days (in the order one SimPy process per event would,
see :func:`_transitions`), and one daily process settles the flows of the whole batch at
mid-day (``t + 0.5``) through the stage functions of :mod:`crmsim.engine.stages`.
"""

from __future__ import annotations

import heapq
import math
import time
from collections.abc import Collection, Generator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import simpy

from crmsim.engine import stages
from crmsim.engine.attribution import event_keys, select_events
from crmsim.engine.disruptions import DisruptionEvent, generate_events
from crmsim.engine.layout import Layout, build_layout, lead_days
from crmsim.engine.levers import plan_development, plan_entries
from crmsim.engine.recorders import Daily, recorders_for
from crmsim.engine.state import (
    Developments,
    Entrants,
    State,
    bincount2,
    draw_demand_batch,
    static_for,
)
from crmsim.engine.streams import BatchStreams
from crmsim.scenario.errors import Problem, ScenarioError
from crmsim.scenario.schema import DisruptionKind, Scenario

__all__ = ["BatchEngine", "Replication", "run_batch"]


@dataclass(eq=False)
class Replication:
    """One replication's results as plain arrays (no engine attached; pickles cheaply).

    The attributes are those the result tables, the attribution, the balance checks and
    the experiment layer read: the market history ``rec_*`` ``(T, markets)``, the ledger
    terms, the instruments of :mod:`crmsim.engine.consistency`, what the recorders kept
    (``rec_avail`` … with :class:`~crmsim.engine.recorders.Daily`, ``edge_*`` with
    :class:`~crmsim.engine.recorders.EdgeFlows`; ``None`` when not kept), the events and
    the lever log.
    """

    scenario: Scenario
    seed: int
    replication: int
    layout: Layout
    graph: Any
    W: int
    H: int
    T: int
    record: str
    events: list[DisruptionEvent]
    event_keys: list[str]
    developments: list[tuple[int, float | None, float]]
    lever_events: list[tuple[str, str, float]]
    stats: dict[str, Any]
    arrays: dict[str, Any] = field(repr=False, default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["arrays"][name]
        except KeyError:
            if name.startswith("rec_") or name.startswith("edge_"):
                return None  # not kept by this run's recorders
            raise AttributeError(name) from None

    def __getstate__(self) -> dict[str, Any]:
        return self.__dict__

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    def ledger(self) -> np.ndarray:
        """Per-material balance terms (rows: materials).

        Columns: initial, produced, recovered, final stock, in transit, consumed,
        delivered, destroyed, imbalance.
        """
        a = self.__dict__["arrays"]
        final, transit = a["final_stock_m"], a["transit_m"]
        imbalance = (
            a["initial"]
            + a["produced_m"]
            + a["recovered_m"]
            - final
            - transit
            - a["consumed_m"]
            - a["delivered_m"]
            - a["destroyed_m"]
        )
        return np.column_stack(
            [
                a["initial"],
                a["produced_m"],
                a["recovered_m"],
                final,
                transit,
                a["consumed_m"],
                a["delivered_m"],
                a["destroyed_m"],
                imbalance,
            ]
        )


class _Calendar(simpy.Environment):
    """A SimPy environment that counts the events it schedules for the batch as a whole.

    ``counting`` is switched off while the disruption calendar process schedules (its
    events are counted per replication by :func:`_transitions` instead).
    """

    def __init__(self) -> None:
        super().__init__()
        self.counting = True
        self.shared = 0

    def schedule(self, event: simpy.events.Event, priority: int = 1, delay: float = 0) -> None:
        if self.counting:
            self.shared += 1
        super().schedule(event, priority, delay)  # type: ignore[arg-type]


def _transitions(
    events: list[DisruptionEvent], T: int
) -> tuple[list[tuple[int, int, DisruptionEvent]], int]:
    """One replication's disruption calendar in the order SimPy runs it, and its size.

    Each event is, in SimPy terms, a process that waits until its start, applies it, waits
    until its end, applies it and, for an outage with a recovery ramp, waits until the ramp
    is over and retires it. SimPy runs what is due at one time in the order it was
    scheduled (processes start before timeouts); this replays that order for one
    replication without a process per event. Returns ``(day, step, event)`` for each
    transition before day ``T`` (step 1 start, 2 end, 3 end of the recovery ramp) and the
    number of SimPy events the processes would schedule.
    """
    heap: list[tuple[int, int, int, int, int]] = []
    seq = 0
    for k in range(len(events)):
        heapq.heappush(heap, (0, 0, seq, 0, k))  # the process starts (URGENT priority)
        seq += 1
    out: list[tuple[int, int, DisruptionEvent]] = []
    scheduled = seq
    while heap and heap[0][0] < T:
        t, _, _, step, k = heapq.heappop(heap)
        ev = events[k]
        if step == 0:
            wait, nxt = ev.start, 1
        elif step == 1:
            out.append((t, 1, ev))
            wait, nxt = max(0, ev.end - ev.start), 2
        elif step == 2:
            out.append((t, 2, ev))
            if ev.kind is DisruptionKind.OUTAGE and ev.recovery_days > 0:
                wait, nxt = math.ceil(ev.recovery_days), 3
            else:
                scheduled += 1  # the process ends
                continue
        else:
            out.append((t, 3, ev))
            scheduled += 1  # the process ends
            continue
        heapq.heappush(heap, (t + wait, 1, seq, nxt, k))
        seq += 1
        scheduled += 1
    return out, scheduled


def _ring_length(
    lay: Layout,
    T: int,
    lead_fixed: np.ndarray,
    lead_draws: np.ndarray,
    lead_edges: np.ndarray,
    events: list[list[DisruptionEvent]],
) -> int:
    """Rows of the arrival ring: a power of two above the longest lead time of any shipment.

    Per edge, the longest lead time ``L`` (fixed, or the largest draw) grows under
    logistics delays: ``k`` delays by factors ``f ≥ 1`` give at most ``(L + k) Π f`` days
    (each re-timing rounds up by less than a day); a shipment is never due more than ``T``
    days ahead.
    """
    E = lay.n_edges
    if E == 0:
        return 2
    longest = lead_fixed.max(axis=0).astype(float)
    if lead_edges.size:
        longest[lead_edges] = np.maximum(longest[lead_edges], lead_draws.max(axis=(0, 1)))
    bound = longest.copy()
    for evs in events:
        grow = np.ones(E)
        count = np.zeros(E)
        for ev in evs:
            if ev.kind is DisruptionKind.LOGISTICS and ev.edges:
                idx = np.asarray(ev.edges, dtype=np.intp)
                grow[idx] *= max(float(ev.factor), 1.0)
                count[idx] += 1
        with np.errstate(over="ignore", invalid="ignore"):
            b = np.where(count > 0, (longest + count) * grow, longest)
        bound = np.maximum(bound, np.nan_to_num(b, nan=float(T), posinf=float(T)))
    worst = float(bound.max())
    need = int(min(float(T), math.ceil(worst) + 1.0)) + 1
    return 1 << max(1, need - 1).bit_length()  # a power of two: day → row is a bit mask


class BatchEngine:
    """Replications ``replications`` of a scenario, simulated together.

    Parameters
    ----------
    scenario : Scenario
        A validated scenario (not modified).
    seed : int
        Root seed of the experiment.
    replications : sequence of int
        Replication numbers (each selects its streams: common random numbers).
    recorders : sequence of recorder objects, optional
        What to keep (:mod:`crmsim.engine.recorders`; default summary + edge flows).
    layout, graph : optional
        The scenario's prebuilt layout and graph (shared by every batch).
    exclude : collection of str
        Keys of realised events to leave out in every replication (marginal effects).
    """

    def __init__(
        self,
        scenario: Scenario,
        seed: int,
        replications: Sequence[int],
        *,
        recorders: Sequence[Any] | None = None,
        layout: Layout | None = None,
        graph: Any = None,
        exclude: Collection[str] = (),
    ):
        from crmsim.network.graph import build_graph

        self.scenario = scenario
        self.seed = int(seed)
        self.replications = [int(r) for r in replications]
        if not self.replications:
            raise ValueError("a batch needs at least one replication")
        self.recorders = list(recorders) if recorders is not None else recorders_for("summary")
        self.graph = graph if graph is not None else build_graph(scenario)
        self.layout = (
            layout
            if layout is not None
            else build_layout(self.graph, scenario.simulation.switching_delay_days)
        )
        lay = self.layout
        st = static_for(self.graph, lay)
        self.static = st
        R = len(self.replications)
        W, T = st.W, st.T
        N, S, E, K = lay.n_nodes, lay.n_slots, lay.n_edges, len(lay.markets)
        M = len(lay.materials)
        batch_streams = BatchStreams(self.seed, self.replications)
        streams = [batch_streams.replication(pos) for pos in range(R)]

        # Disruption events per replication (left out by key: every draw stays the same).
        self.events: list[list[DisruptionEvent]] = []
        self.event_keys: list[list[str]] = []
        for sr in streams:
            evs = generate_events(
                self.graph,
                scenario.disruptions,
                sr,
                warmup_days=W,
                total_days=T,
                node_index=lay.node_index,
                edge_index=lay.edge_index,
                matches=st.matches,
            )
            keys = event_keys(evs)
            if exclude:
                keep = select_events(keys, exclude)
                evs = [evs[i] for i in keep]
                keys = [keys[i] for i in keep]
            self.events.append(evs)
            self.event_keys.append(keys)

        # Demand and lead-time draws, each from its own named stream.
        demand_draws = np.zeros((T, R, K))
        for j, (i, spec) in enumerate(zip(lay.markets, lay.market_demand, strict=True)):
            rngs = batch_streams.get_all("demand", lay.nodes[i])
            demand_draws[:, :, j] = draw_demand_batch(spec, rngs, T, st.mult[:, j])
        lead_edges = np.flatnonzero(lay.edge_lead_random)
        lead_draws = np.zeros((T, R, lead_edges.size), dtype=np.intp)
        for q, e in enumerate(lead_edges):
            u, v, k = lay.edges[e]
            for pos, sr in enumerate(streams):
                rng = sr.get("lead_time", u, v, k)
                try:
                    lead_draws[:, pos, q] = lead_days(lay.edge_lead[e].sample(rng, T), T)
                except ValueError as err:
                    raise ScenarioError(
                        [
                            Problem(
                                f"edge {u} -> {v} ({k}): lead_time {lay.edge_lead[e]} "
                                f"gave an unusable draw ({err}); give finite parameters",
                                ("edges",),
                            )
                        ]
                    ) from None
        lead_fixed = np.broadcast_to(lay.edge_lead_fixed, (R, E)).copy()

        # Policy levers: entrants and developed resources, drawn per replication.
        # (Only scenarios with entrants or developments look for them, replication by
        # replication.)
        entry_plans: list[list[Any]] = [[] for _ in range(R)]
        if st.has_entrants:
            entry_plans = [plan_entries(self.graph, lay, sr) for sr in streams]
        self.dev_plans: list[list[tuple[int, float | None, float]]] = [[] for _ in range(R)]
        if st.developed.size:
            self.dev_plans = [plan_development(self.graph, lay, sr) for sr in streams]
        lever_events: list[list[tuple[str, str, float]]] = [[] for _ in range(R)]
        for pos in range(R):
            for plan in entry_plans[pos]:
                if not plan.financed:
                    lever_events[pos].append((lay.nodes[plan.node], "no_finance", math.nan))
            for i, start, _ in self.dev_plans[pos]:
                if start is None:
                    lever_events[pos].append((lay.nodes[i], "never_developed", math.nan))
        entrants = None
        late = np.zeros(N, dtype=bool)
        if entry_plans[0]:
            first = entry_plans[0]
            entrants = Entrants(
                node=np.array([p.node for p in first], dtype=np.intp),
                rule=[p.rule for p in first],
                trigger_below=[p.trigger_below for p in first],
                trigger_days=[p.trigger_days for p in first],
                shortage_days=[p.shortage_days for p in first],
                watch=[p.watch for p in first],
                ramp_up_days=np.array([p.ramp_up_days for p in first]),
                qualification_days=np.array([p.qualification_days for p in first]),
                exit_base=np.array([p.exit_base for p in first]),
                exit_stress=np.array([p.exit_stress for p in first]),
                stress_below=np.array([p.stress_below for p in first]),
                out_edges=[np.flatnonzero(lay.edge_src == p.node) for p in first],
                node_slots=[np.flatnonzero(lay.slot_node == p.node) for p in first],
                financed=np.array([[p.financed for p in ps] for ps in entry_plans]),
                day=np.array(
                    [[math.nan if p.day is None else p.day for p in ps] for ps in entry_plans]
                ),
                exit_draw=np.array([[p.exit_draw for p in ps] for ps in entry_plans]),
                stressed_days=np.zeros((R, len(first)), dtype=np.int64),
                exited=np.zeros((R, len(first)), dtype=bool),
                entry_logged=np.zeros((R, len(first)), dtype=bool),
                exit_logged=np.zeros((R, len(first)), dtype=bool),
                qual_logged=np.zeros((R, len(first)), dtype=bool),
            )
            late[entrants.node] = True
        developments = None
        cap_factor = np.broadcast_to(lay.on_production.astype(float), (R, N)).copy()
        if self.dev_plans[0]:
            dnodes = np.array([i for i, _, _ in self.dev_plans[0]], dtype=np.intp)
            developments = Developments(
                node=dnodes,
                start=np.array(
                    [[math.nan if s is None else s for _, s, _ in ps] for ps in self.dev_plans]
                ),
                factor=np.array([[f for _, _, f in ps] for ps in self.dev_plans]),
                logged=np.zeros((R, len(dnodes)), dtype=bool),
            )
            cap_factor[:, dnodes] = 0.0

        ring_len = _ring_length(lay, T, lead_fixed, lead_draws, lead_edges, self.events)
        ring = np.zeros((ring_len + 1, R, E))
        transit = np.zeros((R, E))
        # Steady-state pipeline: planned flow × lead time in transit at the start.
        for j in range(E):
            f = float(lay.edge_flow[j])
            if f > 0 and not late[lay.edge_src[j]] and not late[lay.edge_dst[j]]:
                L = int(lay.edge_lead_fixed[j])  # at most T (see lead_days)
                ring[:L, :, st.ring_pos[j]] += f
                transit[:, j] = f * L
        out_stock = np.broadcast_to(lay.out_init, (R, N)).copy()
        in_stock = np.broadcast_to(lay.slot_init, (R, S)).copy()
        # Entrants start empty: they do not exist yet.
        out_stock[:, late] = 0.0
        in_stock[:, late[lay.slot_node]] = 0.0

        def z(*shape: int) -> np.ndarray:
            return np.zeros(shape)

        self.state = State(
            st=st,
            R=R,
            out_stock=out_stock,
            in_stock=in_stock,
            backlog=z(R, E),
            market_backlog=z(R, K),
            ring=ring,
            ring_len=ring_len,
            ring_cells=np.arange(R)[:, None] * E + st.ring_pos,
            transit=transit,
            avail=np.ones((R, N)),
            lead_factor=np.ones((R, E)),
            demand_factor=np.ones((R, N)),
            block=z(R, E),
            any_block=np.zeros(R, dtype=bool),
            logistics_active=np.zeros(R, dtype=bool),
            node_events=[{} for _ in range(R)],
            in_force=[{} for _ in range(R)],
            dirty=[set() for _ in range(R)],
            ramping=[set() for _ in range(R)],
            touched=set(),
            capped=[[] for _ in range(R)],
            cap_factor=cap_factor,
            edge_active=np.ones((R, E), dtype=bool),
            slot_active=np.ones((R, S), dtype=bool),
            share=z(R, E),
            share_dirty=True,
            entrants=entrants,
            developments=developments,
            lever_events=lever_events,
            releasing=np.zeros((R, N), dtype=bool),
            plant_perf=z(T, R, st.plant_slots.size),
            impaired_since=np.full((R, st.pair_edges.size), -1, dtype=np.int64),
            any_impaired=np.zeros(R, dtype=bool),
            outage_active=np.zeros(R, dtype=bool),
            demand_draws=demand_draws,
            lead_edges=lead_edges,
            lead_draws=lead_draws,
            lead_fixed=lead_fixed,
            eol_due={
                col: np.broadcast_to(st.eol_due0[:, col], (R, T + 1)).copy()
                for col in sorted({c for p in st.recycling for c, _, _ in p.sources})
            },
            pool=z(R, N),
            collected=z(R, N),
            collection_lost=z(R, N),
            recovery_lost=z(R, N),
            rec_demand=z(T, R, K),
            rec_served=z(T, R, K),
            rec_served_total=z(T, R, K) if st.has_backorders else None,
            initial=z(R, M),
            produced_m=z(R, M),
            recovered_m=z(R, M),
            consumed_m=z(R, M),
            delivered_m=z(R, M),
            destroyed_m=z(R, M),
            cum_prod=z(R, N),
            cum_cons=z(R, S),
            cum_recovered=z(R, N),
            eol_units=z(R, K),
            preclip_in=z(R, S),
            preclip_out=z(R, N),
            preclip_pool=z(R, N),
            rate_today=lay.rate,
        )
        s = self.state
        s.initial = s.stock_by_material() + bincount2(lay.edge_material, s.transit, M)
        for rec in self.recorders:
            rec.start(s, self.replications)
        self.stats: list[dict[str, Any]] = [{} for _ in range(R)]

    # ------------------------------------------------------------ SimPy processes
    def _calendar(
        self, env: _Calendar, plan: dict[int, list[tuple[int, int, DisruptionEvent]]]
    ) -> Generator:
        """Apply the disruption transitions of every replication, day by day."""
        s = self.state
        env.counting = False
        for day in sorted(plan):
            yield env.timeout(day - env.now)
            for pos, step, ev in plan[day]:
                if step == 1:
                    stages.apply_event(s, pos, ev, start=True, day=day)
                elif step == 2:
                    stages.apply_event(s, pos, ev, start=False, day=day)
                else:
                    stages.retire_event(s, pos, ev)
            env.counting = False  # this process's next timeout, and its end, are not counted

    def _days(self, env: _Calendar) -> Generator:
        env.counting = True
        yield env.timeout(0.5)
        for d in range(self.static.T):
            self._settle(d)
            env.counting = True
            yield env.timeout(1)

    def _settle(self, d: int) -> None:
        """Settle day ``d`` of every replication of the batch (the stages in order)."""
        s = self.state
        stages.disruptions(s, d)
        if s.entrants is not None or s.developments is not None:
            stages.levers(s, d)
        day = stages.Day(d)
        stages.arrivals(s, day)
        stages.production(s, day)
        stages.demand(s, day)
        if self.layout.n_edges:
            stages.ordering(s, day)
            stages.resource(s, day)
            stages.shipping(s, day)
        stages.end_of_life(s, day)
        stages.record(s, day)
        for rec in self.recorders:
            rec.record(s, day)

    def run(self) -> BatchEngine:
        """Simulate the warm-up and the horizon of every replication; returns self."""
        t0 = time.perf_counter()
        R, T = len(self.replications), self.static.T
        env = _Calendar()
        days = self._days(env)
        env.process(days)
        plan: dict[int, list[tuple[int, int, DisruptionEvent]]] = {}
        own = np.zeros(R, dtype=np.int64)
        for pos, evs in enumerate(self.events):
            steps, own[pos] = _transitions(evs, T)
            for day, step, ev in steps:
                plan.setdefault(day, []).append((pos, step, ev))
        calendar = self._calendar(env, plan) if plan else None
        if calendar is not None:
            env.counting = False
            env.process(calendar)
        env.counting = True
        env.run(until=T)
        # The processes are still suspended at their next timeout (past the horizon): close
        # them, so their frames let go of this engine and its state (the calendar's queue
        # and the processes otherwise form a cycle that only a full collection frees).
        days.close()
        if calendar is not None:
            calendar.close()
        seconds = (time.perf_counter() - t0) / R
        for pos in range(R):
            self.stats[pos] = {
                "simpy_events": int(env.shared + own[pos]),
                "seconds": seconds,
                "disruption_events": len(self.events[pos]),
                "capped": list(self.state.capped[pos]),
            }
        return self

    # ------------------------------------------------------------ results
    def replication(self, pos: int) -> Replication:
        """Batch row ``pos`` as a :class:`Replication` of plain arrays."""
        s, lay = self.state, self.layout
        M = len(lay.materials)
        # Goods still due, in day order (the ring's live rows, then the sink).
        L, T = s.ring_len, self.static.T
        days = np.arange(s.days_done, min(T, s.days_done + L))
        pending = np.concatenate([s.ring[days % L, pos], s.ring[L : L + 1, pos]])
        pending = pending[:, self.static.ring_pos]  # edge order
        has = lay.node_material >= 0
        final = np.bincount(lay.node_material[has], weights=s.out_stock[pos, has], minlength=M)
        final = final + np.bincount(lay.slot_material, weights=s.in_stock[pos], minlength=M)
        arrays: dict[str, Any] = {
            "arrivals": pending,
            "days_done": 0,
            "transit": s.transit[pos].copy(),
            "out_stock": s.out_stock[pos].copy(),
            "in_stock": s.in_stock[pos].copy(),
            "backlog": s.backlog[pos].copy(),
            "market_backlog": s.market_backlog[pos].copy(),
            "final_stock_m": final,
            "transit_m": np.bincount(lay.edge_material, weights=s.transit[pos], minlength=M),
            "pool": s.pool[pos].copy(),
            "collected": s.collected[pos].copy(),
            "collection_lost": s.collection_lost[pos].copy(),
            "recovery_lost": s.recovery_lost[pos].copy(),
            "in_use_start": self.static.in_use_start,
            "_prod_sel": self.static.prod_sel,
            "demand_draws": s.demand_draws[:, pos].copy(),
            "lead_draws": {
                int(e): s.lead_draws[:, pos, q].copy() for q, e in enumerate(s.lead_edges)
            },
        }
        for name in (
            "initial",
            "produced_m",
            "recovered_m",
            "consumed_m",
            "delivered_m",
            "destroyed_m",
            "cum_prod",
            "cum_cons",
            "cum_recovered",
            "eol_units",
            "preclip_in",
            "preclip_out",
            "preclip_pool",
        ):
            arrays[name] = getattr(s, name)[pos].copy()
        daily = False
        for rec in self.recorders:
            got = rec.arrays(pos)
            arrays.update(got)
            daily = daily or (isinstance(rec, Daily) and bool(got))
        return Replication(
            scenario=self.scenario,
            seed=self.seed,
            replication=self.replications[pos],
            layout=lay,
            graph=self.graph,
            W=self.static.W,
            H=self.static.H,
            T=T,
            record="daily" if daily else "summary",
            events=self.events[pos],
            event_keys=self.event_keys[pos],
            developments=self.dev_plans[pos],
            lever_events=list(s.lever_events[pos]),
            stats=self.stats[pos],
            arrays=arrays,
        )


def run_batch(
    scenario: Scenario,
    seed: int,
    replications: Sequence[int],
    *,
    recorders: Sequence[Any] | None = None,
    layout: Layout | None = None,
    graph: Any = None,
    exclude: Collection[str] = (),
) -> list[Replication]:
    """Simulate replications together and return each as a :class:`Replication`.

    Parameters
    ----------
    scenario : Scenario
        A validated scenario.
    seed : int
        Root seed.
    replications : sequence of int
        Replication numbers of the batch.
    recorders : sequence, optional
        What to keep (default: summary and edge flows).
    layout, graph : optional
        Prebuilt layout and graph of the scenario.
    exclude : collection of str
        Event keys to leave out.

    Returns
    -------
    list of Replication
        In the order of ``replications``.
    """
    eng = BatchEngine(
        scenario,
        seed,
        replications,
        recorders=recorders,
        layout=layout,
        graph=graph,
        exclude=exclude,
    ).run()
    return [eng.replication(pos) for pos in range(len(eng.replications))]
