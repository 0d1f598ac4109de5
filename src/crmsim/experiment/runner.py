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


#: Replications simulated together in one pass of the engine. Any batch size gives the
#: same results (each replication draws from its own streams); it only sets the speed and
#: the memory of a pass.
BATCH_SIZE = 64


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
    size = max(1, int(batch_size or BATCH_SIZE))
    out: list[Any] = []
    for lo in range(0, len(reps), size):
        out.extend(
            run_batch(
                scenario, seed, reps[lo : lo + size], recorders=[Summary()], layout=layout, graph=G
            )
        )
    return out


def _one(
    scenario: Scenario,
    seed: int,
    r: int,
    prepared: tuple[Any, Any] | None = None,
    application: Any = None,
    view: Any = None,
) -> _Rep:
    """Replication ``r`` as a :class:`_Rep` (``view``: its result, if already simulated)."""
    from crmsim.engine import SimulationResult

    if view is None:
        (view,) = _views(scenario, seed, [r], prepared)
    res = SimulationResult(scenario.name, int(seed), int(r), view.stats, view)
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


def _batch(
    scenario: Scenario,
    seed: int,
    reps: Sequence[int],
    prepared: tuple[Any, Any] | None = None,
    application: Any = None,
    batch_size: int | None = None,
) -> list[_Rep]:
    """Replications ``reps`` simulated in batches, as the same :class:`_Rep` objects."""
    prepared = prepared if prepared is not None else _prepare(scenario)
    views = _views(scenario, seed, reps, prepared, batch_size)
    return [
        _one(scenario, seed, r, prepared, application, view)
        for r, view in zip(reps, views, strict=True)
    ]


def _chunk(payload: tuple[Scenario, int, Any], reps: list[int]) -> list[_Rep]:
    """In a worker: replications ``reps`` of the scenario (the layout built once)."""
    scenario, seed, application = payload
    return _batch(scenario, seed, reps, _prepare(scenario), application)


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
    marginal: bool = False,
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
        for lo in range(0, R, BATCH_SIZE):
            batch = list(range(lo, min(R, lo + BATCH_SIZE)))
            reps.extend(_batch(scenario, seed, batch, prepared, application))
            if progress:
                progress(len(batch))
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
    effects = _marginal(scenario, seed, R) if marginal else None
    return RunResult(
        scenario.name,
        seed,
        R,
        summary,
        _front(market_summary),
        _front(disruptions),
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
