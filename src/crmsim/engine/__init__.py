"""The simulation engine: SimPy calendar plus numpy daily settlement over a batch.

Use :func:`simulate` for one replication, :func:`run_batch` for many at once (bitwise the
same results per replication, faster per replication).
"""

from __future__ import annotations

import importlib
from collections.abc import Collection
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from crmsim.engine.attribution import marginal
    from crmsim.engine.batch import BatchEngine, Replication, run_batch
    from crmsim.engine.consistency import ConsistencyError
    from crmsim.engine.core import Engine
    from crmsim.engine.results import ConservationError, SimulationResult
    from crmsim.scenario.schema import Scenario

__all__ = [
    "BatchEngine",
    "ConservationError",
    "ConsistencyError",
    "Engine",
    "Replication",
    "SimulationResult",
    "marginal",
    "run_batch",
    "simulate",
]

#: Where the public names live; imported on first use, so that a module that needs only
#: :mod:`crmsim.engine.disruptions` (the scenario warnings) does not load pandas.
_WHERE = {
    "ConservationError": "results",
    "ConsistencyError": "consistency",
    "BatchEngine": "batch",
    "Engine": "core",
    "Replication": "batch",
    "run_batch": "batch",
    "SimulationResult": "results",
    "marginal": "attribution",
}


def __getattr__(name: str) -> Any:
    """Import a public name of the package from its module on first use."""
    if name in _WHERE:
        return getattr(importlib.import_module(f"crmsim.engine.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'crmsim.engine' has no attribute {name!r}")


def simulate(
    scenario: Scenario,
    seed: int | None = None,
    *,
    replication: int = 0,
    record: Literal["daily", "summary"] = "daily",
    exclude: Collection[str] = (),
) -> SimulationResult:
    """Simulate one replication of a scenario.

    Parameters
    ----------
    scenario : Scenario
        A validated scenario (see :func:`crmsim.load_scenario`); it is not modified.
    seed : int, optional
        Root seed (default: the scenario's ``experiment.seed``).
    replication : int
        Replication number; replication ``r`` of every policy sees the same disruptions
        and demand (common random numbers).
    record : {"daily", "summary"}
        Keep every node's daily record (``result.daily``), or only what the summary
        metrics need (faster, less memory).
    exclude : collection of str
        Keys of realised disruption events to leave out (the ``event`` column of
        ``result.disruptions``, e.g. ``"flood[node=mine]#0"``); every other random draw —
        demand, lead times, the other events — stays the same, so the difference to the
        full run is the events' marginal effect (``result.marginal_effects()`` does this
        for every event). An unknown key is a ValueError listing the valid ones.

    Returns
    -------
    SimulationResult
        Tidy tables (``daily``, ``market_daily``, ``disruptions``, ``market_summary``),
        the ``summary`` metrics and the material ``ledger``.

    Examples
    --------
    >>> from crmsim.scenario.loader import scenario_from_dict
    >>> chain = scenario_from_dict({
    ...     "crmsim": 1, "name": "one mine, one market", "warmup_days": 10,
    ...     "horizon_days": 100,
    ...     "materials": [{"id": "ore"}],
    ...     "nodes": [
    ...         {"id": "mine", "role": "mine", "country": "AUS", "output": "ore",
    ...          "capacity": 12},
    ...         {"id": "city", "role": "market", "country": "DEU", "demand": {"mean": 10}},
    ...     ],
    ...     "edges": [{"from": "mine", "to": "city", "lead_time": 5}],
    ...     "disruptions": [{"id": "flood", "kind": "outage", "target": {"node": "mine"},
    ...                      "start": 20, "duration": 30}],
    ... })
    >>> result = simulate(chain, seed=1)
    >>> round(result.summary["fill_rate"], 3)
    0.83
    >>> result.check_conservation()
    >>> list(result.disruptions["event"])
    ['flood[node=mine]#0']
    >>> round(simulate(chain, seed=1, exclude=["flood[node=mine]#0"]).summary["fill_rate"], 3)
    1.0
    >>> result.marginal_effects()[["event", "lost_units", "ttr"]]
               event  lost_units  ttr
    0  flood[node=mine]#0       170.0  ...
    """
    from crmsim.engine.core import Engine
    from crmsim.engine.results import SimulationResult

    if seed is None:
        seed = scenario.experiment.seed
    engine = Engine(scenario, seed, replication, record=record, exclude=exclude).run()
    assert engine.result is not None
    return SimulationResult(
        scenario_name=scenario.name,
        seed=int(seed),
        replication=int(replication),
        stats=engine.stats,
        _engine=engine.result,
    )
