"""The engine: a SimPy event calendar plus a numpy settlement of each day, over a batch.

The engine simulates a *batch* of replications together (:class:`~crmsim.engine.batch.
BatchEngine`): its state has a leading replication axis and every day's settlement is a
handful of numpy operations over the whole batch. Each replication draws its random inputs
from its own named streams, so its results are bitwise the same in any batch, for any
number of workers. :class:`Engine` is a batch of one (the same code path), for one
replication.

SimPy keeps the calendar — disruption starts, ends and recovery ramps (processes at whole
days) — and one daily process settles the flows of all nodes and edges at mid-day
(``t + 0.5``), so every calendar change of day ``t`` is in force before day ``t`` settles.

Each day settles in this order, one function per stage in :mod:`crmsim.engine.stages`
(``docs/engine.md`` states every rule):

1. ``disruptions``: the availability of nodes whose outages started, ended or are
   recovering (the calendar has already updated export quotas, lead-time and demand
   factors); ``levers``: entry, ramp-up, qualification, exit, resource development;
2. ``arrivals``: shipments due today arrive in the buyer's input stock;
3. ``production``: each producer produces ``min(capacity × availability, what its inputs
   allow by recipe, room up to its target stock plus its open orders)``;
4. ``demand``: markets draw demand and serve it from stock (lost sales or back-orders);
5. ``ordering``: every node orders up to its target inventory position for each input,
   split over suppliers by share; ``resource``: orders meant for a supplier that is
   blocked or down move, after the switching delay, to qualified alternatives up to their
   spare capacity (and back once it recovers);
6. ``shipping``: stockpile releases, then suppliers fill orders from stock (pro rata when
   short) and ship with the edge's lead time; on an export-restricted edge what crosses in
   a day is capped by its quota and the orders beyond it are cancelled;
7. ``end_of_life``: end-of-life collection for recyclers;
8. ``record``: the day's market record; then each recorder keeps what it wants.

The scenario is never mutated: the engine keeps its own run state in arrays.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import numpy as np

from crmsim.engine.batch import BatchEngine, Replication
from crmsim.engine.layout import Layout
from crmsim.engine.recorders import recorders_for
from crmsim.engine.state import MAX_DEMAND_FACTOR, demand_multipliers
from crmsim.engine.state import draw_demand as _draw_demand
from crmsim.scenario.schema import Scenario

__all__ = ["MAX_DEMAND_FACTOR", "Engine", "demand_multipliers"]

_ = _draw_demand  # kept importable from here


class Engine:
    """One replication of a scenario: a batch of one of :class:`BatchEngine`.

    Parameters
    ----------
    scenario : Scenario
        A validated scenario (not modified).
    seed : int
        Root seed of the experiment.
    replication : int
        Replication number (selects the streams; common random numbers across policies).
    record : {"daily", "summary"}
        Keep every node's daily record, or only what the summary metrics need (mapped to
        the recorders of :func:`~crmsim.engine.recorders.recorders_for`).
    layout : Layout, optional
        A prebuilt layout of the same scenario (saves rebuilding it per replication).
    graph : networkx.MultiDiGraph, optional
        The prebuilt graph of the same scenario.
    exclude : collection of str
        Keys (``disruption[target]#k``) of realised events to leave out; every other
        random draw is unchanged (marginal effects).

    Notes
    -----
    Before :meth:`run` the replication's inputs are available (``events``,
    ``event_keys``, ``demand_draws`` ``(T, markets)``, ``lead_draws`` per random edge);
    after it, every attribute of its :class:`~crmsim.engine.batch.Replication`.
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
        recorders = recorders_for(record)
        self.scenario = scenario
        self.seed = int(seed)
        self.replication = int(replication)
        self.record = record
        self.batch = BatchEngine(
            scenario,
            self.seed,
            [self.replication],
            recorders=recorders,
            layout=layout,
            graph=graph,
            exclude=exclude,
        )
        b = self.batch
        self.graph, self.layout = b.graph, b.layout
        self.W, self.H, self.T = b.static.W, b.static.H, b.static.T
        self.events = b.events[0]
        self.event_keys = b.event_keys[0]
        self.developments = b.dev_plans[0]
        self.demand_draws = b.state.demand_draws[:, 0]
        self.lead_draws = {
            int(e): b.state.lead_draws[:, 0, q] for q, e in enumerate(b.state.lead_edges)
        }
        self.stats: dict[str, Any] = {}
        self.result: Replication | None = None

    def run(self) -> Engine:
        """Simulate the warm-up and the horizon; returns self (see :func:`simulate`)."""
        self.batch.run()
        self.result = self.batch.replication(0)
        self.stats = self.result.stats
        return self

    def __getattr__(self, name: str) -> Any:
        result = self.__dict__.get("result")
        if result is None:
            raise AttributeError(f"{name} (run the engine first)")
        return getattr(result, name)

    def ledger(self) -> np.ndarray:
        """Per-material balance terms (see :meth:`Replication.ledger`)."""
        assert self.result is not None, "run the engine first"
        return self.result.ledger()

    # Final disruption state of the replication (for tests of the factors' bookkeeping).
    @property
    def lead_factor(self) -> np.ndarray:
        """Combined logistics factor per edge in force at the end."""
        return self.batch.state.lead_factor[0]

    @property
    def _block(self) -> np.ndarray:
        return self.batch.state.block[0]

    @property
    def _logistics_active(self) -> bool:
        return bool(self.batch.state.logistics_active[0])

    @property
    def _any_block(self) -> bool:
        return bool(self.batch.state.any_block[0])
