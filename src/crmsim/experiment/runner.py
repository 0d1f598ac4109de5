"""Run many replications of one scenario and gather tidy results.

Replications are independent: replication ``r`` draws from streams keyed by ``(seed, r,
source name)``, so results do not depend on how replications are split across worker
processes. With many replications the daily record is kept as quantile bands of each
market's performance (not every replication's table), and the full daily table of one
replication (the first) is kept for inspection. Worker processes are managed by
:mod:`crmsim.experiment.pool` (bounded work in flight, Ctrl-C, workers that die).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from crmsim.engine import simulate
from crmsim.experiment.pool import WorkersCappedWarning, resolve_workers, run_pooled
from crmsim.scenario.schema import Scenario

__all__ = ["BAND_QUANTILES", "RunResult", "run_replications"]

#: Quantiles kept for the daily performance bands.
BAND_QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


@dataclass(frozen=True)
class _Rep:
    replication: int
    summary: dict[str, Any]
    market_summary: pd.DataFrame
    disruptions: pd.DataFrame
    performance: np.ndarray  # (H, K) per market
    overall: np.ndarray  # (H,)
    stats: dict[str, Any]


def _prepare(scenario: Scenario) -> tuple[Any, Any]:
    """Build the graph and array layout once, for every replication of a scenario."""
    from crmsim.engine.layout import build_layout
    from crmsim.network.graph import build_graph

    G = build_graph(scenario)
    return G, build_layout(G, scenario.simulation.switching_delay_days)


def _one(
    scenario: Scenario,
    seed: int,
    r: int,
    prepared: tuple[Any, Any] | None = None,
    application: Any = None,
) -> _Rep:
    from crmsim.engine import Engine, SimulationResult

    G, layout = prepared if prepared is not None else _prepare(scenario)
    eng = Engine(scenario, seed, r, record="summary", layout=layout, graph=G).run()
    res = SimulationResult(scenario.name, int(seed), int(r), eng.stats, eng)
    summary = dict(res.summary)
    if application is not None and application.policies:
        from crmsim.policy import realised_cost

        cost = realised_cost(application, res)
        summary.update({f"cost_{k}": cost[k] for k in ("capex", "opex", "holding", "total")})
    return _Rep(
        r,
        summary,
        res.market_summary,
        res.disruptions,
        res.market_performance,
        res.performance,
        res.stats,
    )


def _chunk(payload: tuple[Scenario, int, Any], reps: list[int]) -> list[_Rep]:
    """In a worker: replications ``reps`` of the scenario (the layout built once)."""
    scenario, seed, application = payload
    prepared = _prepare(scenario)
    return [_one(scenario, seed, r, prepared, application) for r in reps]


@dataclass(frozen=True, eq=False)
class RunResult:
    """Results of R replications of one scenario.

    Attributes
    ----------
    summary : pandas.DataFrame
        One row per replication: overall metrics (fill rate, unmet units, nadir,
        resilience loss and index, worst TTR...) and run statistics.
    market_summary : pandas.DataFrame
        One row per replication and market.
    disruptions : pandas.DataFrame
        One row per replication and realised disruption, with TTR and censoring.
    bands : pandas.DataFrame
        Per scored day and market (and ``"(all)"``): mean and quantiles of performance
        over replications.
    first : SimulationResult or None
        Replication 0 with its full daily record (when requested).
    """

    scenario_name: str
    seed: int
    replications: int
    summary: pd.DataFrame
    market_summary: pd.DataFrame
    disruptions: pd.DataFrame
    bands: pd.DataFrame
    first: Any

    def describe(self) -> pd.DataFrame:
        """Mean, standard deviation and 95 % interval of the mean of each metric."""
        cols = ["fill_rate", "unmet", "nadir", "resilience_loss", "resilience_index", "ttr_max"]
        cols += [c for c in ("cost_total",) if c in self.summary.columns]
        s = self.summary[cols]
        n = len(s)
        mean = s.mean()
        sd = s.std(ddof=1) if n > 1 else s.mean() * 0.0
        half = 1.959963984540054 * sd / np.sqrt(n) if n > 1 else sd * np.nan
        return pd.DataFrame(
            {"mean": mean, "sd": sd, "ci95_low": mean - half, "ci95_high": mean + half}
        )


def _bands(perfs: list[np.ndarray], overall: list[np.ndarray], markets: list[str]) -> pd.DataFrame:
    frames = []
    stacked = {"(all)": np.stack(overall)}  # (R, H)
    cube = np.stack(perfs) if perfs else None  # (R, H, K)
    for k, m in enumerate(markets):
        assert cube is not None
        stacked[m] = cube[:, :, k]
    for name, arr in stacked.items():
        q = np.quantile(arr, BAND_QUANTILES, axis=0)
        frame = pd.DataFrame(
            {"day": np.arange(arr.shape[1]), "market": name, "mean": arr.mean(axis=0)}
        )
        for qi, qv in zip(BAND_QUANTILES, q, strict=True):
            frame[f"q{round(qi * 100):02d}"] = qv
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def run_replications(
    scenario: Scenario,
    replications: int | None = None,
    seed: int | None = None,
    *,
    workers: int | None = 1,
    keep_first_daily: bool = True,
    progress: Callable[[int], None] | None = None,
    application: Any = None,
) -> RunResult:
    """Simulate ``replications`` independent replications of a scenario.

    Parameters
    ----------
    scenario : Scenario
        A validated scenario (not modified).
    replications : int, optional
        Number of replications R (default: ``experiment.replications``).
    seed : int, optional
        Root seed (default: ``experiment.seed``).
    workers : int or None
        Worker processes (1 = in this process; None = one per available core). More
        than the available cores are capped at that number, with a
        :class:`~crmsim.experiment.pool.WorkersCappedWarning`. Results are identical
        for any number of workers. On Linux, scripts need no ``__main__`` guard; on
        macOS and Windows they do (see :mod:`crmsim.experiment.pool`).
    keep_first_daily : bool
        Also keep replication 0's full daily record (``RunResult.first``).
    progress : callable, optional
        Called with the number of replications just finished.
    application : PolicyApplication, optional
        The policies applied to ``scenario`` (:func:`crmsim.policy.apply_policies`);
        each replication's realised cost (``cost_capex``, ``cost_opex``,
        ``cost_holding``, ``cost_total``) is then added to its summary row.

    Returns
    -------
    RunResult
        Tidy tables over replications.

    Raises
    ------
    crmsim.experiment.pool.WorkerError
        When replications kill their worker process even when retried alone (their
        numbers and the seed are in the error).

    Examples
    --------
    >>> from crmsim.scenario.loader import scenario_from_dict
    >>> s = scenario_from_dict({
    ...     "crmsim": 1, "name": "chain", "warmup_days": 10, "horizon_days": 50,
    ...     "materials": [{"id": "ore"}],
    ...     "nodes": [
    ...         {"id": "mine", "role": "mine", "country": "AUS", "output": "ore",
    ...          "capacity": 12},
    ...         {"id": "city", "role": "market", "country": "DEU",
    ...          "demand": {"mean": 10, "cv": 0.3}},
    ...     ],
    ...     "edges": [{"from": "mine", "to": "city", "lead_time": 5}],
    ... })
    >>> run = run_replications(s, replications=3, seed=1)
    >>> list(run.summary["replication"])
    [0, 1, 2]
    """
    R = int(replications if replications is not None else scenario.experiment.replications)
    seed = int(seed if seed is not None else scenario.experiment.seed)
    if R < 1:
        raise ValueError(f"replications must be at least 1, not {R}")
    n_workers, capped = resolve_workers(workers)
    if capped:
        warnings.warn(capped, WorkersCappedWarning, stacklevel=2)
    n_workers = min(n_workers, R)
    reps: list[_Rep] = []
    if n_workers == 1:
        prepared = _prepare(scenario)
        for r in range(R):
            reps.append(_one(scenario, seed, r, prepared, application))
            if progress:
                progress(1)
    else:

        def collect(batch: Sequence[_Rep]) -> None:
            reps.extend(batch)
            if progress:
                progress(len(batch))

        size = max(1, min(25, R // (n_workers * 4) or 1))
        run_pooled(
            _chunk, (scenario, seed, application), R, n_workers, collect, chunk_size=size, seed=seed
        )
    reps.sort(key=lambda rep: rep.replication)
    summary = pd.DataFrame(
        [
            {
                "replication": rep.replication,
                **rep.summary,
                "simpy_events": rep.stats["simpy_events"],
                "seconds": rep.stats["seconds"],
            }
            for rep in reps
        ]
    )
    market_summary = _concat(rep.market_summary.assign(replication=rep.replication) for rep in reps)
    disruptions = _concat(rep.disruptions.assign(replication=rep.replication) for rep in reps)
    markets = sorted(market_summary["market"].unique()) if len(market_summary) else []
    bands = _bands([rep.performance for rep in reps], [rep.overall for rep in reps], markets)
    first = simulate(scenario, seed, replication=0, record="daily") if keep_first_daily else None
    return RunResult(
        scenario.name, seed, R, summary, _front(market_summary), _front(disruptions), bands, first
    )


def _concat(frames: Iterable[pd.DataFrame]) -> pd.DataFrame:
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _front(df: pd.DataFrame) -> pd.DataFrame:
    if "replication" not in df.columns:
        return df
    return df[["replication", *[c for c in df.columns if c != "replication"]]]
