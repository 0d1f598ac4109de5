"""Run many replications of one scenario and gather tidy results.

Replications are independent: replication ``r`` draws from streams keyed by ``(seed, r,
source name)``, so results do not depend on how replications are split across worker
processes or engine passes. After each pass the per-replication tables of all its
replications are built together from arrays (:func:`crmsim.engine.results.batch_tables`)
and kept as one block per pass. The daily record is kept as quantile bands of the
performance of ``"(all)"`` and of the markets :func:`band_series` picks, streamed over
replications in memory that does not grow with their number
(:mod:`crmsim.experiment.bands`), and the full daily table of one replication (the
first) is kept for inspection. Worker processes are managed by
:mod:`crmsim.experiment.pool` (bounded work in flight, Ctrl-C, workers that die).
"""

from __future__ import annotations

import hashlib
import threading
import warnings
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from crmsim.engine import simulate
from crmsim.experiment.bands import BAND_QUANTILES, BandAccumulator
from crmsim.experiment.pool import WorkersCappedWarning, resolve_workers, run_pooled
from crmsim.scenario.schema import Scenario

__all__ = [
    "BAND_MARKETS",
    "BAND_QUANTILES",
    "PREPARED_CACHE_SIZE",
    "RunResult",
    "band_series",
    "run_replications",
    "scenario_key",
]

#: Scenarios whose graph and layout each process keeps (the variants of a comparison, the
#: points of a small grid); the least recently used is dropped beyond this.
PREPARED_CACHE_SIZE = 16

_prepared: OrderedDict[str, tuple[Any, Any]] = OrderedDict()
_prepared_lock = threading.Lock()  # (a Dask worker runs tasks in threads)
_keys: dict[int, tuple[weakref.ref[Scenario], str]] = {}


@dataclass(frozen=True, eq=False)
class _Tables:
    """A batch of replications, as columns (what a worker sends back for its chunk)."""

    tables: Any  # crmsim.engine.results.BatchTables (its tables as columns)
    summary: pd.DataFrame  # one row per replication: metrics, cost_* (with policies), stats
    market_summary: pd.DataFrame
    disruptions: pd.DataFrame


def scenario_key(scenario: Scenario) -> str:
    """The SHA-256 of a scenario's canonical JSON: equal scenarios have equal keys.

    Computed once per scenario object (scenarios are immutable).

    Examples
    --------
    >>> from crmsim.scenario.loader import scenario_from_dict
    >>> d = {"crmsim": 1, "name": "x", "materials": [{"id": "ore"}],
    ...      "nodes": [{"id": "m", "role": "mine", "country": "AUS", "output": "ore",
    ...                 "capacity": 1}, {"id": "c", "role": "market", "country": "DEU",
    ...                 "demand": {"mean": 1}}], "edges": [{"from": "m", "to": "c"}]}
    >>> scenario_key(scenario_from_dict(d)) == scenario_key(scenario_from_dict(d))
    True
    """
    ident = id(scenario)
    known = _keys.get(ident)
    if known is not None and known[0]() is scenario:
        return known[1]
    key = hashlib.sha256(scenario.model_dump_json().encode("utf-8")).hexdigest()

    def forget(_: object, ident: int = ident) -> None:
        _keys.pop(ident, None)

    _keys[ident] = (weakref.ref(scenario, forget), key)
    return key


def _prepare(scenario: Scenario) -> tuple[Any, Any]:
    """The graph and array layout of a scenario, built once per process and shared.

    Memoised by :func:`scenario_key` (bounded: :data:`PREPARED_CACHE_SIZE` scenarios), so
    every chunk a worker runs, every batch of a comparison and every call in this process
    reuse them; forked workers inherit what the parent built. The engine only reads them.
    """
    with _prepared_lock:
        key = scenario_key(scenario)
        hit = _prepared.get(key)
        if hit is not None:
            _prepared.move_to_end(key)
            return hit
    from crmsim.engine.layout import build_layout
    from crmsim.network.graph import build_graph

    G = build_graph(scenario)
    built = (G, build_layout(G, scenario.simulation.switching_delay_days))
    with _prepared_lock:
        _prepared[key] = built
        while len(_prepared) > PREPARED_CACHE_SIZE:
            _prepared.popitem(last=False)
    return built


#: Most replications simulated together in one pass of the engine. Any batch size gives
#: the same results (each replication draws from its own streams); it only sets the speed
#: and the memory of a pass (benchmarks/RESULTS.md: a pass costs about the same for 64 and
#: 256 replications of a small network).
BATCH_SIZE = 256

#: Replications × (nodes + edges) per pass: bounds the memory of a pass on large networks
#: (a 10 000-node network runs about 70 replications per pass).
BATCH_CELLS = 2_000_000

#: Replications × simulated days × markets per pass: bounds the memory of a pass, which
#: grows with the daily market records it keeps (the engine's and each replication's
#: copy). About 235 replications of the 100-node benchmark network (40 markets, 425 days)
#: per pass (70 per pass cost 20–25 % more per replication there once the engine pass got
#: cheaper); small networks such as the antimony pilot stay at :data:`BATCH_SIZE`; a
#: 10 000-node network with 4 000 markets runs two per pass (peak 690 MB at 16
#: replications, 916 MB with twice the bound).
BATCH_RECORD_CELLS = 4_000_000


def batch_size_for(layout: Any, days: int = 0) -> int:
    """Replications per engine pass for a layout: :data:`BATCH_SIZE`, fewer on big networks.

    Parameters
    ----------
    layout : Layout
        The scenario's array layout.
    days : int
        Simulated days (warm-up and horizon), for the bound :data:`BATCH_RECORD_CELLS`
        on the daily market records (0: no such bound).

    Returns
    -------
    int
        At least 1.
    """
    cells = max(1, int(layout.n_nodes) + int(layout.n_edges))
    size = min(int(BATCH_SIZE), BATCH_CELLS // cells)
    record = int(days) * len(layout.markets)
    if record > 0:
        size = min(size, BATCH_RECORD_CELLS // record)
    return max(1, size)


def _days(scenario: Scenario) -> int:
    return int(scenario.warmup_days) + int(scenario.horizon_days)


def _chunk_size(R: int, workers: int, layout: Any, days: int = 0) -> int:
    """Replications per task for ``workers`` processes: two tasks per worker, each one pass."""
    return max(1, min(batch_size_for(layout, days), -(-R // (2 * max(1, workers)))))


def _views(
    scenario: Scenario,
    seed: int,
    reps: Sequence[int],
    prepared: tuple[Any, Any] | None = None,
    batch_size: int | None = None,
) -> list[Any]:
    """Replications ``reps`` simulated in batches: their plain-array results, in order."""
    from crmsim.engine.batch import run_batch
    from crmsim.engine.recorders import Summary

    G, layout = prepared if prepared is not None else _prepare(scenario)
    size = max(1, int(batch_size or batch_size_for(layout, _days(scenario))))
    out: list[Any] = []
    for lo in range(0, len(reps), size):
        part = reps[lo : lo + size]
        out.extend(run_batch(scenario, seed, part, recorders=[Summary()], layout=layout, graph=G))
    return out


def _one(
    scenario: Scenario,
    seed: int,
    r: int,
    prepared: tuple[Any, Any] | None = None,
    application: Any = None,
    view: Any = None,
) -> dict[str, Any]:
    """What replication ``r`` adds to its summary row besides its metrics.

    Its realised cost (``cost_capex`` … ``cost_total``, with policies) and its run
    statistics (``simpy_events``, ``seconds``); ``view``: its result, if already
    simulated.
    """
    if view is None:
        (view,) = _views(scenario, seed, [r], prepared)
    out: dict[str, Any] = {}
    if application is not None and application.policies:
        from crmsim.engine import SimulationResult
        from crmsim.policy import realised_cost

        res = SimulationResult(scenario.name, int(seed), int(r), view.stats, view)
        cost = realised_cost(application, res)
        out.update({f"cost_{k}": cost[k] for k in ("capex", "opex", "holding", "total")})
    out["simpy_events"] = view.stats["simpy_events"]
    out["seconds"] = view.stats["seconds"]
    return out


class _Gather:
    """Tables of batches of replications, one block per batch; one table at the end.

    The table is the concatenation of the replications' tables in replication order (the
    same as concatenating every replication's table and sorting by ``replication``). A
    block is one DataFrame per batch (strings stored as Arrow strings, not one Python
    object per cell), never one per replication.
    """

    def __init__(self) -> None:
        self.blocks: list[pd.DataFrame] = []

    def add(self, block: pd.DataFrame) -> None:
        if len(block):
            self.blocks.append(block)

    def frame(self) -> pd.DataFrame:
        blocks, self.blocks = self.blocks, []
        blocks.sort(key=lambda b: int(b["replication"].to_numpy()[0]))
        out = _concat(blocks)
        del blocks  # (the blocks go as soon as they are copied: at most two copies at once)
        if len(out):
            rep = out["replication"].to_numpy()
            if (rep[1:] < rep[:-1]).any():
                out = out.sort_values("replication", kind="stable", ignore_index=True)
        return _front(out)


def _batch(
    scenario: Scenario,
    seed: int,
    reps: Sequence[int],
    prepared: tuple[Any, Any] | None = None,
    application: Any = None,
    batch_size: int | None = None,
    band_columns: Sequence[int] | np.ndarray | None = None,
) -> _Tables:
    """Replications ``reps`` simulated in batches and their tables built together."""
    from crmsim.engine.results import batch_tables

    prepared = prepared if prepared is not None else _prepare(scenario)
    views = _views(scenario, seed, reps, prepared, batch_size)
    extra: dict[str, list[Any]] = {}
    for r, view in zip(reps, views, strict=True):
        for k, v in _one(scenario, seed, r, prepared, application, view).items():
            extra.setdefault(k, []).append(v)
    tables = batch_tables(views, band_columns)
    del views
    summary = pd.DataFrame({"replication": tables.replications, **tables.summary, **extra})
    market_summary = pd.DataFrame(tables.market_summary)
    disruptions = pd.DataFrame(tables.disruptions)
    slim = replace(tables, summary={}, market_summary={}, disruptions={})
    return _Tables(slim, summary, market_summary, disruptions)


def _chunk(payload: tuple[Scenario, int, Any, Any], reps: list[int]) -> list[_Tables]:
    """In a worker: replications ``reps`` of the scenario (the layout built once)."""
    scenario, seed, application, band_columns = payload
    return [_batch(scenario, seed, reps, _prepare(scenario), application, None, band_columns)]


#: Most markets with their own daily performance bands when the caller names none: a
#: network with more markets gets bands for ``"(all)"`` and the :data:`BAND_MARKETS`
#: markets of largest mean demand (:func:`band_series`).
BAND_MARKETS = 50


def band_series(layout: Any, asked: Sequence[str] | None = None) -> np.ndarray:
    """Positions (layout order) of the markets that get their own daily performance band.

    Parameters
    ----------
    layout : Layout
        The scenario's array layout.
    asked : sequence of str, optional
        Market ids the caller wants bands for (any number; an empty sequence: only
        ``"(all)"``).

    Returns
    -------
    numpy.ndarray
        Every market when ``asked`` is None and there are at most :data:`BAND_MARKETS`;
        otherwise the markets asked for, or else the :data:`BAND_MARKETS` with the
        largest mean demand (ties: by id). Sorted.

    Raises
    ------
    ValueError
        If an id in ``asked`` is not a market of the scenario (the message lists them).
    """
    names = [layout.nodes[i] for i in layout.markets]
    K = len(names)
    if asked is None:
        if K <= BAND_MARKETS:
            return np.arange(K)
        mean = np.array([float(d.mean) for d in layout.market_demand])
        order = sorted(range(K), key=lambda k: (-mean[k], names[k]))
        return np.sort(np.array(order[:BAND_MARKETS], dtype=np.intp))
    where = {m: k for k, m in enumerate(names)}
    unknown = [str(m) for m in asked if m not in where]
    if unknown:
        shown = ", ".join(names[:20]) + (f", … ({K} in all)" if K > 20 else "")
        raise ValueError(
            f"band_markets: {', '.join(unknown)} is not a market of this scenario; "
            f"markets: {shown or 'none'}"
        )
    return np.array(sorted({where[m] for m in asked}), dtype=np.intp)


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
    confidence: float = 0.95
    horizon_days: int | None = None
    marginal: pd.DataFrame | None = None

    def describe(self, confidence: float | None = None) -> pd.DataFrame:
        """Mean, standard deviation and t-based interval of the mean of each metric.

        Parameters
        ----------
        confidence : float, optional
            Confidence level (default: the scenario's ``experiment.confidence``).

        Returns
        -------
        pandas.DataFrame
            Index: ``fill_rate``, ``unmet``, ``nadir``, ``resilience_loss``,
            ``resilience_index`` (and ``cost_total`` with a policy); columns ``mean``,
            ``sd``, ``ci_low``, ``ci_high`` and ``confidence``. Intervals of bounded
            quantities are clipped to their bounds (:func:`crmsim.metrics.stats.t_interval`).
            Times to recover are censored at the horizon and never averaged here: see
            :meth:`describe_disruptions`.
        """
        from crmsim.metrics.stats import t_interval

        level = self.confidence if confidence is None else float(confidence)
        H = self.horizon_days if self.horizon_days is not None else np.inf
        bounds: dict[str, tuple[float, float] | None] = {
            "fill_rate": (0.0, 1.0),
            "unmet": (0.0, np.inf),
            "nadir": (0.0, 1.0),
            "resilience_loss": (0.0, H),
            "resilience_index": (0.0, 1.0),
            "cost_total": None,
        }
        rows = {}
        for col, bound in bounds.items():
            if col not in self.summary.columns:
                continue
            x = self.summary[col].to_numpy(dtype=float)
            mean, low, high = t_interval(x, level, bound)
            sd = float(x.std(ddof=1)) if x.size > 1 else 0.0
            rows[col] = {"mean": mean, "sd": sd, "ci_low": low, "ci_high": high}
        out = pd.DataFrame.from_dict(rows, orient="index")
        out["confidence"] = level
        return out

    def describe_disruptions(self) -> pd.DataFrame:
        """Per disruption: how often in force, impacted, overlapping, recovered, and its TTR.

        Times to recover are right-censored at the horizon and summarised with the
        Kaplan–Meier estimator (:func:`crmsim.metrics.stats.censored_summary`), never
        averaged as if observed. Only *attributed* events count for the impact and TTR
        columns: events that can change something (not severity 0 / factor 1) and overlap
        no other event's impact (docs/engine.md, "Metrics").

        Returns
        -------
        pandas.DataFrame
            One row per disruption id and kind: ``replications`` (with an event in
            force), ``events``, ``no_effect`` (events that change nothing by
            construction), ``overlapping``, ``attributed``, ``impacted`` (attributed
            events impacted), ``impacted_share`` (of attributed), ``recovered_share``
            (impacted attributed events recovered by the horizon), ``ttr_median`` (KM;
            NaN when fewer than half recover), ``ttr_median_text`` (days, or ``"> τ"``),
            ``ttr_restricted_mean`` (the mean restricted to ``ttr_tau`` days, the longest
            time observed: a lower bound when some are censored) and ``ttr_tau``.
        """
        from crmsim.metrics.stats import censored_summary

        cols = [
            "disruption",
            "kind",
            "replications",
            "events",
            "no_effect",
            "overlapping",
            "attributed",
            "impacted",
            "impacted_share",
            "recovered_share",
            "ttr_median",
            "ttr_median_text",
            "ttr_restricted_mean",
            "ttr_tau",
        ]
        dis = self.disruptions
        rows = []
        if not len(dis):
            return pd.DataFrame(columns=cols)
        for (did, kind), g in dis.groupby(["disruption", "kind"], sort=True):
            effect = g["has_effect"].astype(bool)
            overlap = g["overlapping"].astype(bool)
            own = g[effect & ~overlap]
            hit = own[own["impacted"].astype(bool)]
            ttr = hit["ttr"].to_numpy(dtype=float)
            cens = hit["censored"].to_numpy(dtype=bool)
            tau = float(ttr.max()) if ttr.size else float("nan")
            km = censored_summary(ttr, cens, tau if ttr.size else 0.0)
            rows.append(
                {
                    "disruption": did,
                    "kind": kind,
                    "replications": int(g["replication"].nunique()) if "replication" in g else 1,
                    "events": len(g),
                    "no_effect": int((~effect).sum()),
                    "overlapping": int((effect & overlap).sum()),
                    "attributed": len(own),
                    "impacted": len(hit),
                    "impacted_share": len(hit) / len(own) if len(own) else float("nan"),
                    "recovered_share": km.share_observed,
                    "ttr_median": km.median,
                    "ttr_median_text": km.median_text,
                    "ttr_restricted_mean": km.restricted_mean,
                    "ttr_tau": tau,
                }
            )
        return pd.DataFrame(rows, columns=cols)

    def describe_marginal(self, confidence: float | None = None) -> pd.DataFrame:
        """Per disruption: lost units attributable (marginal effect) over replications.

        Needs ``run_replications(..., marginal=True)``. For each replication the marginal
        lost units of the disruption's events are added up (0 in a replication where it
        did not occur); the table gives their mean with a t-based interval over all
        replications, and the Kaplan–Meier median TTR of the performance difference.

        Returns
        -------
        pandas.DataFrame
            One row per disruption id: ``events``, ``lost_units`` (mean per
            replication), ``ci_low``, ``ci_high``, ``confidence``,
            ``lost_units_elsewhere`` (mean per replication, outside the reachable
            markets), ``impacted`` (events whose difference exceeds 0.05),
            ``recovered_share``, ``ttr_median`` and ``ttr_median_text``.
        """
        from crmsim.metrics.stats import censored_summary, t_interval

        if self.marginal is None:
            raise ValueError("no marginal effects: run_replications(..., marginal=True)")
        level = self.confidence if confidence is None else float(confidence)
        m = self.marginal
        rows = []
        for did, g in m.groupby("disruption", sort=True):
            per_rep = g.groupby("replication")[["lost_units", "lost_units_elsewhere"]].sum()
            per_rep = per_rep.reindex(range(self.replications), fill_value=0.0)
            mean, low, high = t_interval(per_rep["lost_units"].to_numpy(), level)
            hit = g[g["impacted"].astype(bool)]
            ttr = hit["ttr"].to_numpy(dtype=float)
            km = censored_summary(
                ttr, hit["censored"].to_numpy(dtype=bool), float(ttr.max()) if ttr.size else 0
            )
            rows.append(
                {
                    "disruption": did,
                    "events": len(g),
                    "lost_units": mean,
                    "ci_low": low,
                    "ci_high": high,
                    "confidence": level,
                    "lost_units_elsewhere": float(per_rep["lost_units_elsewhere"].mean()),
                    "impacted": len(hit),
                    "recovered_share": km.share_observed,
                    "ttr_median": km.median,
                    "ttr_median_text": km.median_text,
                }
            )
        return pd.DataFrame(rows)


def _bands(perfs: list[np.ndarray], overall: list[np.ndarray], markets: list[str]) -> pd.DataFrame:
    """The bands of replications ``0 … R − 1`` given in order: each ``(H, K)`` and ``(H,)``.

    For callers that hold every replication's performance already (a comparison's
    batches); the same :class:`~crmsim.experiment.bands.BandAccumulator` as
    :func:`run_replications`, so the same numbers for the same replications.
    """
    acc = BandAccumulator(markets, len(overall[0]), len(overall))
    for r, (p, o) in enumerate(zip(perfs, overall, strict=True)):
        acc.add(r, p, o)
    return acc.table()


def run_replications(
    scenario: Scenario,
    replications: int | None = None,
    seed: int | None = None,
    *,
    workers: int | None = 1,
    keep_first_daily: bool = True,
    progress: Callable[[int], None] | None = None,
    application: Any = None,
    marginal: bool = False,
    scheduler: Any = None,
    band_markets: Sequence[str] | None = None,
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
    marginal : bool
        Also measure every event's marginal effect (``RunResult.marginal``,
        :meth:`RunResult.describe_marginal`): one more simulation per event, in this
        process.
    scheduler : str or distributed.Client, optional
        Run the replications on this Dask cluster (``tcp://HOST:PORT``, or a connected
        client, which is left open) instead of local workers (``workers`` is then
        ignored); the results are identical. Needs the ``dask`` extra.
    band_markets : sequence of str, optional
        Markets that get their own daily performance band besides ``"(all)"``
        (default: every market on networks of at most :data:`BAND_MARKETS` markets,
        else the :data:`BAND_MARKETS` of largest mean demand; :func:`band_series`).

    Returns
    -------
    RunResult
        Tidy tables over replications.

    Raises
    ------
    crmsim.experiment.pool.WorkerError
        When replications kill their worker process even when retried alone (their
        numbers and the seed are in the error).
    ValueError
        If ``replications`` is below 1 or ``band_markets`` names a market the scenario
        does not have.

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
    n_workers, capped = resolve_workers(workers if scheduler is None else 1)
    if capped:
        warnings.warn(capped, WorkersCappedWarning, stacklevel=2)
    n_workers = min(n_workers, R)
    # Each batch's daily performance goes into the bands as it arrives and is then
    # dropped: memory does not grow with R (crmsim.experiment.bands). The per-replication
    # tables of a batch arrive as columns and are kept as such until the end.
    prepared = _prepare(scenario)
    layout = prepared[1]
    columns = band_series(layout, band_markets)
    market_names = [layout.nodes[i] for i in layout.markets]
    acc: list[BandAccumulator] = []
    summaries, per_market, events = _Gather(), _Gather(), _Gather()

    def collect(batch: Sequence[_Tables]) -> None:
        done = 0
        for part in batch:
            t = part.tables
            if not acc:
                names = [market_names[k] for k in columns]
                acc.append(BandAccumulator(names, t.overall.shape[1], R))
            acc[0].add_many(t.replications, t.performance, t.overall)
            summaries.add(part.summary)
            per_market.add(part.market_summary)
            events.add(part.disruptions)
            done += len(t.replications)
        if progress:
            progress(done)

    payload = (scenario, seed, application, columns)
    if scheduler is not None:
        from crmsim.experiment.pool import DaskExecutor

        executor = DaskExecutor(scheduler)
        try:
            size = _chunk_size(R, executor.parallelism, layout, _days(scenario))
            chunks = (list(range(a, min(R, a + size))) for a in range(0, R, size))
            executor.map_chunks(_chunk, payload, chunks, collect, seed=seed)
        finally:
            executor.close()
    elif n_workers == 1:
        step = batch_size_for(layout, _days(scenario))
        for lo in range(0, R, step):
            batch = list(range(lo, min(R, lo + step)))
            collect([_batch(scenario, seed, batch, prepared, application, None, columns)])
    else:
        size = _chunk_size(R, n_workers, layout, _days(scenario))
        run_pooled(_chunk, payload, R, n_workers, collect, chunk_size=size, seed=seed)
    summary = summaries.frame()
    market_summary = per_market.frame()
    disruptions = events.frame()
    bands = acc[0].table()
    first = simulate(scenario, seed, replication=0, record="daily") if keep_first_daily else None
    effects = _marginal(scenario, seed, R) if marginal else None
    return RunResult(
        scenario.name,
        seed,
        R,
        summary,
        market_summary,
        disruptions,
        bands,
        first,
        confidence=scenario.experiment.confidence,
        horizon_days=scenario.horizon_days,
        marginal=effects,
    )


def _marginal(scenario: Scenario, seed: int, R: int) -> pd.DataFrame:
    """Marginal effects of every event of every replication (``replication`` first)."""
    from crmsim.engine.attribution import marginal_effects

    views = _views(scenario, seed, list(range(R)), _prepare(scenario))
    return _front(
        _concat(marginal_effects(view).assign(replication=r) for r, view in enumerate(views))
    )


def _concat(frames: Iterable[pd.DataFrame]) -> pd.DataFrame:
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _front(df: pd.DataFrame) -> pd.DataFrame:
    if "replication" not in df.columns:
        return df
    return df[["replication", *[c for c in df.columns if c != "replication"]]]
