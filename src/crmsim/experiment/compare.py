"""Compare policy options against the baseline: paired differences, costs, ranking.

An experiment is R replications × V variants (the baseline and each option to compare)
with **common random numbers**: every variant runs with the same root seed, and the
engine draws demand, disruptions, lead times, entry and development from named streams
keyed by ``(seed, replication, source)``, so replication ``r`` of every variant sees the
same demand and the same disruptions. Differences between variants are therefore
*paired* by replication, which removes most of the noise that two independent samples
would carry.

:func:`run_experiment` produces **one long table** keyed by ``(variant, replication,
market)`` that every analysis reads (:attr:`ExperimentRun.replications`), plus the realised
edge flows of the first ``flow_replications`` replications for the scorecards
(:attr:`ExperimentRun.flows`). :func:`compare` analyses it:

* per market (and over all markets only when every market's material has the same
  ``unit``), per option against the baseline: the paired change in fill rate, unmet
  units, nadir and resilience loss, with a t-based interval at ``experiment.confidence``
  (:func:`crmsim.metrics.stats.t_interval`; fill-rate and nadir differences clipped to
  [−1, 1], resilience-loss differences to [−H, H]) and the share of replications in which
  the option is better, tied, or worse;
* the option's realised cost per replication (:func:`crmsim.policy.realised_cost`), in
  the scenario's ``currency``, and its cost per percentage point of fill rate gained and
  per unit of shortage avoided — defined only when the gain is significant (its interval
  lies above 0); otherwise NaN, printed "–";
* a ranking by fill rate with **Multiple Comparisons with the Best** (MCB; Hsu 1984,
  1996) in the paired, Bonferroni form for common random numbers (Nelson & Matejcik
  1995): for each variant ``i`` a simultaneous interval for ``μ_i − max_{j≠i} μ_j``;
  ``i`` is *possibly best* when the interval's unconstrained upper limit is ≥ 0 and
  *clearly best* when its lower limit is > 0 (see :func:`mcb`);
* a warning, with the replications needed, when the top-ranked variant cannot be told
  apart from another (see :func:`replications_needed`).

The scorecards (:mod:`crmsim.experiment.scorecard`) read the same tables.

References
----------
Hsu, J. C. (1984). Constrained simultaneous confidence intervals for multiple comparisons
with the best. *Annals of Statistics* 12(3), 1136–1144.
Hsu, J. C. (1996). *Multiple Comparisons: Theory and Methods*. Chapman & Hall, ch. 4.
Nelson, B. L. and Matejcik, F. J. (1995). Using common random numbers for
indifference-zone selection and multiple comparisons in simulation. *Management Science*
41(12), 1935–1945.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from crmsim.metrics.stats import t_interval
from crmsim.scenario.schema import Scenario

__all__ = [
    "ALL_MARKETS",
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_MAX_REPLICATIONS",
    "METRICS",
    "Comparison",
    "ExperimentRun",
    "ReplicationError",
    "ResumeError",
    "compare",
    "cost_effectiveness",
    "data_dictionary",
    "mcb",
    "paired_differences",
    "ranking",
    "recovery",
    "replications_needed",
    "run_experiment",
    "scenario_hash",
    "variants_of",
    "write_comparison",
]

#: Market label of the rows over all markets (only when the markets share a unit).
ALL_MARKETS = "(all)"

#: Compared metrics: direction (+1 higher is better, −1 lower is better), label, unit kind.
METRICS: dict[str, tuple[int, str, str]] = {
    "fill_rate": (+1, "fill rate", "fraction"),
    "unmet": (-1, "unmet demand", "market unit"),
    "nadir": (+1, "nadir of daily performance", "fraction"),
    "resilience_loss": (-1, "resilience loss", "days"),
}

#: Replications needed above this are reported as "more than" this (a cap, not an estimate).
MAX_REPLICATIONS_NEEDED = 100_000

#: Replications per batch (a part file per variant and batch) unless told otherwise.
DEFAULT_BATCH_SIZE = 250

#: Default cap of replications per variant with a target half-width.
DEFAULT_MAX_REPLICATIONS = 10_000

#: With a target half-width, never stop before this many replications (nor before the
#: second batch): a standard deviation from a handful of replications can be small by
#: chance, and stopping on it would report a precision the run does not have.
MIN_REPLICATIONS_FOR_TARGET = 10

_MARKET_COLUMNS = [
    "demand",
    "served",
    "unmet",
    "fill_rate",
    "nadir",
    "resilience_loss",
    "resilience_index",
]
_COST_COLUMNS = ["cost_capex", "cost_opex", "cost_holding", "cost_total"]


# --------------------------------------------------------------------------- experiment


def variants_of(scenario: Scenario, policies: Sequence[str] | str | None = None) -> list[Any]:
    """The variants of an experiment, baseline first, as policy applications.

    Parameters
    ----------
    scenario : Scenario
        The baseline scenario.
    policies : sequence of str or str, optional
        Policy ids or combinations (``"a+b"``), or one comma-separated string
        (``"a,b,a+b"``). Default: the scenario's ``experiment.compare``. The baseline is
        added first when missing; a variant named twice is kept once.

    Returns
    -------
    list of PolicyApplication
        From :func:`crmsim.policy.apply_policies`.

    Raises
    ------
    crmsim.policy.PolicyError
        An unknown policy or a conflicting combination.
    """
    from crmsim.policy import BASELINE, apply_policies

    if policies is None:
        names = list(scenario.experiment.compare)
    elif isinstance(policies, str):
        names = [p.strip() for p in policies.split(",") if p.strip()]
    else:
        names = [str(p).strip() for p in policies]
    apps = [apply_policies(scenario, BASELINE)]
    seen = {BASELINE}
    for name in names:
        app = apply_policies(scenario, name)
        if app.combination not in seen:
            seen.add(app.combination)
            apps.append(app)
    return apps


@dataclass(frozen=True, eq=False)
class ExperimentRun:
    """R replications of each variant, with common random numbers, as long tables.

    Attributes
    ----------
    scenario : Scenario
        The baseline scenario.
    variants : tuple of str
        Variant names (``baseline`` first, then combinations such as ``a+b``).
    labels : dict
        Plain-language label of each variant.
    applications : tuple
        The :class:`~crmsim.policy.PolicyApplication` of each variant.
    n_replications : int
        Replications R per variant.
    seed : int
        Root seed (the same for every variant: common random numbers).
    replications : pandas.DataFrame
        One row per (variant, replication, market): ``material``, ``unit`` and the
        market's ``demand, served, unmet, fill_rate, nadir, resilience_loss,
        resilience_index``, plus the variant's realised cost in that replication
        (``cost_capex, cost_opex, cost_holding, cost_total``; the same on every market row
        of the replication). Rows with market ``"(all)"`` hold the overall metrics, only
        when every market's material has the same unit.
    flows : pandas.DataFrame
        Realised edge totals over the scored horizon for replications
        ``0 .. flow_replications − 1`` of each variant (see
        :func:`crmsim.experiment.scorecard.edge_flows`).
    readiness : pandas.DataFrame
        Per (variant, replication) of ``flows``: mine capacity and its share on production
        (see :func:`crmsim.experiment.scorecard.resource_readiness`).
    disruptions : pandas.DataFrame
        One row per (variant, replication, realised disruption): ``disruption, kind,
        start, end, impacted, ttr, censored`` (time to recover on overall performance,
        right-censored at the horizon; see ``SimulationResult.disruptions``).
    flow_replications : int
        Replications whose flows were kept.
    shared_unit : str or None
        The unit every market shares, or None when they differ.
    seconds : float
        Wall time of the experiment.
    batch_size : int
        Replications per batch.
    target_halfwidth, achieved_halfwidth : float or None
        With a precision target: the target and the largest half-width reached.
    max_replications : int or None
        The cap of replications with a precision target.
    out : Path or None
        The results folder holding the batches, if any.
    bands : dict of str to pandas.DataFrame
        Variant → daily performance bands over its replications, the same table as
        ``RunResult.bands`` (per scored day and market, and ``"(all)"``: mean and the
        5/25/50/75/95 % quantiles); empty when the batches were made without them (a
        folder written by an earlier crmsim and resumed).
    identity : dict
        What identifies the experiment (recorded in the manifest, checked on resume).
    executor : str
        Where the replications ran.
    """

    scenario: Scenario
    variants: tuple[str, ...]
    labels: dict[str, str]
    applications: tuple[Any, ...]
    n_replications: int
    seed: int
    replications: pd.DataFrame
    flows: pd.DataFrame
    readiness: pd.DataFrame
    disruptions: pd.DataFrame
    flow_replications: int
    shared_unit: str | None
    seconds: float
    batch_size: int = DEFAULT_BATCH_SIZE
    target_halfwidth: float | None = None
    achieved_halfwidth: float | None = None
    max_replications: int | None = None
    out: Path | None = None
    identity: dict[str, Any] = field(default_factory=dict)
    executor: str = "in this process"
    bands: dict[str, pd.DataFrame] = field(default_factory=dict)

    @property
    def baseline(self) -> str:
        """Name of the baseline variant."""
        return self.variants[0]

    @property
    def markets(self) -> list[str]:
        """Markets compared: each market, then ``"(all)"`` when they share a unit."""
        ms = sorted(m for m in self.replications["market"].unique() if m != ALL_MARKETS)
        return ms + ([ALL_MARKETS] if self.shared_unit is not None else [])


def _market_units(scenario: Scenario) -> dict[str, tuple[str, str]]:
    """Market id → (material, unit of the material)."""
    from crmsim.network.graph import build_graph
    from crmsim.scenario.schema import Role

    G = build_graph(scenario)
    out = {}
    for n, d in G.nodes(data=True):
        if d["role"] is Role.MARKET and d["material"] is not None:
            out[n] = (d["material"], scenario.material(d["material"]).unit)
    return out


class ReplicationError(RuntimeError):
    """A replication raised an error; it can be reproduced alone.

    Attributes
    ----------
    variant : str
        The variant (baseline or policy combination).
    replication : int
        The replication number.
    seed : int
        The root seed: ``crmsim.engine.simulate(apply_policies(scenario,
        variant).scenario, seed=seed, replication=replication)`` reproduces it.
    """

    def __init__(self, message: str, variant: str, replication: int, seed: int) -> None:
        super().__init__(message)
        self.variant = variant
        self.replication = replication
        self.seed = seed

    def __reduce__(self) -> tuple[Any, ...]:  # picklable across processes
        return (type(self), (str(self), self.variant, self.replication, self.seed))


class ResumeError(ValueError):
    """``--resume`` of a results folder that holds another experiment, or none."""


_PART_TABLES = ("replications", "disruptions", "flows", "readiness", "performance")
_DISRUPTION_COLUMNS = [
    "variant",
    "replication",
    "disruption",
    "kind",
    "start",
    "end",
    "impacted",
    "ttr",
    "censored",
]


@dataclass(frozen=True)
class _Block:
    """Replications of one variant simulated together, as tables (cheap to send).

    Attributes
    ----------
    variant : int
        Index of the variant.
    replications : list of int
        The replications, in order.
    markets : pandas.DataFrame
        Their rows of the long ``replications`` table (each replication's markets in
        layout order, then ``"(all)"`` when the markets share a unit).
    disruptions : pandas.DataFrame or None
        Their rows of the ``disruptions`` table (None when they have none).
    flows : list of dict
        Edge-flow records of those below ``flow_replications``.
    readiness : list of dict
        Resource-readiness records of the same replications.
    performance : numpy.ndarray
        ``(replications × (markets + 1), days)``: each replication's daily performance,
        a row per market (sorted by id), then overall.
    """

    variant: int
    replications: list[int]
    markets: pd.DataFrame
    disruptions: pd.DataFrame | None
    flows: list[dict[str, Any]]
    readiness: list[dict[str, Any]]
    performance: np.ndarray


def _failed(name: str, r: int, seed: int, exc: BaseException) -> ReplicationError:
    """The error naming replication ``r`` of variant ``name`` and how to reproduce it."""
    return ReplicationError(
        f"variant {name}, replication {r} (root seed {seed}) raised "
        f"{type(exc).__name__}: {exc}; reproduce it alone with "
        f"crmsim.engine.simulate(crmsim.policy.apply_policies(scenario, {name!r})"
        f".scenario, seed={seed}, replication={r})",
        name,
        r,
        seed,
    )


def _block(
    v: int,
    variant: tuple[str, Scenario, Any],
    seed: int,
    reps: list[int],
    views: list[Any],
    units: dict[str, tuple[str, str]],
    shared: str | None,
    n_flow: int,
) -> _Block:
    """The tables of replications ``reps`` of variant ``v`` from their results ``views``.

    Metrics, disruptions and daily performance come from
    :func:`crmsim.engine.results.batch_tables` for the whole batch (bitwise the values of
    each replication's ``SimulationResult``); a ``SimulationResult`` is made only for
    what is priced or read per replication: the realised cost of a variant with policies
    and the edge flows and resource readiness of replications below ``n_flow``. An error
    there names its replication (:class:`ReplicationError`); an error in the batch's
    tables propagates as it is (the caller then builds each replication alone).
    """
    from crmsim.engine import SimulationResult
    from crmsim.engine.results import batch_tables

    name, scenario, application = variant
    lay = views[0].layout
    names = [lay.nodes[i] for i in lay.markets]
    K, R = len(names), len(reps)
    order = sorted(range(K), key=names.__getitem__)
    t = batch_tables(views, order)
    # The long table: each replication's markets (layout order), then "(all)".
    s = int(shared is not None)
    ms = t.market_summary
    metrics: dict[str, np.ndarray] = {}
    for c in _MARKET_COLUMNS:
        block = np.empty((R, K + s))
        block[:, :K] = np.asarray(ms[c], dtype=float).reshape(R, K)
        if s:
            block[:, K] = t.summary[c]
        metrics[c] = block.reshape(-1)
    materials = list(ms["material"][:K])
    unit_of = [units.get(m, (None, ""))[1] for m in names]
    if shared is not None:
        names = [*names, ALL_MARKETS]
        materials.append(",".join(sorted({m for m, _ in units.values()})))
        unit_of.append(shared)
    costs = np.zeros((R, len(_COST_COLUMNS)))
    flows: list[dict[str, Any]] = []
    ready: list[dict[str, Any]] = []
    priced = application is not None and bool(application.policies)
    for i, (r, view) in enumerate(zip(reps, views, strict=True)):
        if not priced and r >= n_flow:
            continue
        try:
            res = SimulationResult(scenario.name, int(seed), int(r), view.stats, view)
            if priced:
                from crmsim.policy import realised_cost

                cost = realised_cost(application, res)
                costs[i] = [float(cost[k]) for k in ("capex", "opex", "holding", "total")]
            if r < n_flow:
                from crmsim.experiment.scorecard import edge_flows, resource_readiness

                fl = edge_flows(res, scenario)
                flows += [
                    {str(k): x for k, x in rec.items()}
                    for rec in fl.assign(variant=name, replication=r).to_dict("records")
                ]
                ready.append({"variant": name, "replication": r, **resource_readiness(res)})
        except Exception as exc:
            raise _failed(name, r, seed, exc) from exc
    n = R * len(names)
    markets = pd.DataFrame(
        {
            "variant": [name] * n,
            "replication": np.repeat(t.replications, len(names)),
            "market": names * R,
            "material": materials * R,
            "unit": unit_of * R,
            **metrics,
            **{c: np.repeat(costs[:, j], len(names)) for j, c in enumerate(_COST_COLUMNS)},
        }
    )
    d = t.disruptions
    dis = None
    if len(d["replication"]):
        dis = pd.DataFrame(
            {
                "variant": [name] * len(d["replication"]),
                **{c: d[c] for c in _DISRUPTION_COLUMNS[1:]},
            }
        )
    # Daily performance: per replication its markets (sorted), then overall.
    perf = np.concatenate([t.performance.transpose(0, 2, 1), t.overall[:, None, :]], axis=1)
    return _Block(v, list(reps), markets, dis, flows, ready, perf.reshape(R * (K + 1), -1))


def _simulate(
    scenario: Scenario, seed: int, reps: list[int], prepared: tuple[Any, Any], flows: bool
) -> list[Any]:
    """Replications ``reps`` of one variant in one batch (edge flows kept if ``flows``)."""
    from crmsim.engine.batch import run_batch
    from crmsim.engine.recorders import EdgeFlows, Summary

    G, layout = prepared
    recorders: list[Any] = [Summary(), EdgeFlows()] if flows else [Summary()]
    return run_batch(scenario, seed, reps, recorders=recorders, layout=layout, graph=G)


def _batched(
    variants: list[tuple[str, Scenario, Any]],
    seed: int,
    n_flow: int,
    items: list[tuple[int, int]],
    prepared: dict[int, tuple[Any, Any]],
) -> Iterator[tuple[int, list[int], list[Any] | None]]:
    """Simulate ``items`` in batches of one variant: (variant, replications, results).

    One batch at a time, simulated when the previous one has been taken. The results are
    None for a batch that raised: :func:`_compare_chunk` then simulates its replications
    one by one, which names the one that fails.
    """
    from crmsim.experiment.runner import _prepare, batch_size_for

    by_variant: dict[int, list[int]] = {}
    for v, r in items:
        by_variant.setdefault(v, []).append(r)
    for v, reps in by_variant.items():
        _, scenario, _ = variants[v]
        if v not in prepared:
            prepared[v] = _prepare(scenario)
        step = batch_size_for(prepared[v][1], scenario.warmup_days + scenario.horizon_days)
        for lo in range(0, len(reps), step):
            part = reps[lo : lo + step]
            flows = any(r < n_flow for r in part)
            try:
                views: list[Any] | None = _simulate(scenario, seed, part, prepared[v], flows)
            except Exception:
                views = None
            yield v, part, views
            del views


def _compare_chunk(payload: tuple[Any, ...], items: list[tuple[int, int]]) -> list[_Block]:
    """In a worker: the replications ``items`` = [(variant index, replication), ...].

    One :class:`_Block` per batch simulated. A batch whose simulation or tables raise is
    done again one replication at a time, so the error names the replication
    (:class:`ReplicationError`); the tables are the same either way.
    """
    seed, n_flow, units, shared, variants = payload
    prepared: dict[int, tuple[Any, Any]] = {}
    out = []
    for v, reps, views in _batched(variants, seed, n_flow, items, prepared):
        if views is not None:
            try:
                out.append(_block(v, variants[v], seed, reps, views, units, shared, n_flow))
            except ReplicationError:
                raise
            except Exception:
                pass  # (built again one replication at a time below, to name the one)
            else:
                del views  # (a pass leaves no reference cycle: its arrays go now)
                continue
        _, scenario, _ = variants[v]
        for r in reps:
            try:
                (view,) = _simulate(scenario, seed, [r], prepared[v], r < n_flow)
                out.append(_block(v, variants[v], seed, [r], [view], units, shared, n_flow))
            except ReplicationError:
                raise
            except Exception as exc:
                raise _failed(variants[v][0], r, seed, exc) from exc
    return out


def _performance_frame(reps: list[int], arr: np.ndarray, markets: list[str]) -> pd.DataFrame:
    """A batch's daily performance, one row per (replication, market), a column per day.

    ``arr`` holds ``len(markets)`` rows per replication of ``reps``, in that order.
    """
    if not reps:
        return pd.DataFrame()
    H = arr.shape[1]
    keys = pd.DataFrame(
        {
            "replication": np.repeat(np.asarray(reps, dtype=np.int64), len(markets)),
            "market": markets * len(reps),
        }
    )
    days = pd.DataFrame(arr, columns=[f"d{t}" for t in range(H)])
    return pd.concat([keys, days], axis=1)


def _variant_bands(frames: list[pd.DataFrame]) -> pd.DataFrame | None:
    """Daily performance bands of one variant from its batches' performance frames.

    The same numbers as ``run_replications(...).bands`` for the same replications
    (:func:`crmsim.experiment.runner._bands` computes both).
    """
    from crmsim.experiment.runner import _bands

    frames = [f for f in frames if len(f)]
    if not frames:
        return None
    df = pd.concat(frames, ignore_index=True).sort_values("replication", kind="stable")
    days = [c for c in df.columns if c.startswith("d") and c[1:].isdigit()]
    rows = [*(m for m in dict.fromkeys(df["market"]) if m != ALL_MARKETS), ALL_MARKETS]
    R, K = int(df["replication"].nunique()), len(rows) - 1
    # Each replication's rows are its markets (sorted) then "(all)", as written.
    if len(df) != R * (K + 1) or list(df["market"]) != rows * R:
        raise ValueError("daily performance of the batches is not one row per market")
    cube = df[days].to_numpy(dtype=float).reshape(R, K + 1, len(days))
    perfs = list(cube[:, :K, :].transpose(0, 2, 1))  # each (H, K)
    return _bands(perfs, list(cube[:, K, :]), rows[:K])


def _banded_series(bands: pd.DataFrame, scenario: Scenario) -> pd.DataFrame:
    """The rows of ``bands`` of the series ``crmsim run`` of the variant keeps.

    ``"(all)"`` and the markets of :func:`crmsim.experiment.runner.band_series`: the same
    series as ``run_replications(...).bands`` has.
    """
    from crmsim.experiment.runner import _prepare, band_series

    lay = _prepare(scenario)[1]
    cols = band_series(lay)
    if len(cols) == len(lay.markets):
        return bands
    keep = [ALL_MARKETS, *(lay.nodes[lay.markets[k]] for k in cols)]
    return bands[bands["market"].isin(keep)].reset_index(drop=True)


def _batch_frames(blocks: list[_Block]) -> dict[str, pd.DataFrame]:
    """The tables of one batch of one variant, in replication order.

    Each block is a run of consecutive replications (a chunk, or a pass of one, or one
    replication retried alone), so blocks sorted by their first replication are in order.
    """
    blocks = sorted(blocks, key=lambda b: b.replications[0])
    keys = ["variant", "replication", "market", "material", "unit"]
    frames = [b.markets for b in blocks if len(b.markets)]
    reps = (
        pd.concat(frames, ignore_index=True)
        if frames
        else pd.DataFrame([], columns=[*keys, *_MARKET_COLUMNS, *_COST_COLUMNS])
    )
    got = [b.disruptions for b in blocks if b.disruptions is not None]
    dis = (
        pd.concat(got, ignore_index=True) if got else pd.DataFrame([], columns=_DISRUPTION_COLUMNS)
    )
    flows = pd.DataFrame([row for b in blocks for row in b.flows])
    if len(flows):
        k2 = ["variant", "replication"]
        flows = flows[[*k2, *[c for c in flows.columns if c not in k2]]]
    ready = pd.DataFrame([row for b in blocks for row in b.readiness])
    markets = sorted(set(reps["market"]) - {ALL_MARKETS})
    perf = _performance_frame(
        [r for b in blocks for r in b.replications],
        np.concatenate([b.performance for b in blocks]) if blocks else np.zeros((0, 0)),
        [*markets, ALL_MARKETS],
    )
    return {"replications": reps, "disruptions": dis, "flows": flows, "readiness": ready,
            "performance": perf}  # fmt: skip


def scenario_hash(scenario: Scenario) -> str:
    """SHA-256 of the validated scenario (its canonical JSON): what a resume must match."""
    import hashlib

    return hashlib.sha256(scenario.model_dump_json().encode("utf-8")).hexdigest()


def _part_dir(out: Path, v: int, k: int) -> Path:
    return out / "parts" / f"variant={v}" / f"batch-{k:05d}"


def _write_json(path: Path, data: dict[str, Any]) -> None:
    import json
    import os
    import uuid

    tmp = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:8]}")
    tmp.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _write_part(out: Path, v: int, k: int, frames: dict[str, pd.DataFrame]) -> None:
    """Write one batch's tables to a hidden folder, then rename it into place."""
    import os
    import shutil
    import uuid

    final = _part_dir(out, v, k)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".{final.name}.tmp-{uuid.uuid4().hex[:8]}")
    tmp.mkdir()
    try:
        for name, df in frames.items():
            df.to_parquet(tmp / f"{name}.parquet", index=False)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _read_part(out: Path, v: int, k: int) -> dict[str, pd.DataFrame] | None:
    d = _part_dir(out, v, k)
    if not d.is_dir():
        return None
    # A batch written before the daily performance was kept has no performance table.
    return {
        name: pd.read_parquet(d / f"{name}.parquet")
        if (d / f"{name}.parquet").is_file() or name != "performance"
        else pd.DataFrame()
        for name in _PART_TABLES
    }


def _identity(
    scenario: Scenario,
    variants: list[str],
    seed: int,
    batch: int,
    n_flow_cap: int | None,
    replications: int | None,
    target: float | None,
    cap: int,
    confidence: float,
) -> dict[str, Any]:
    from crmsim import __version__

    ident: dict[str, Any] = {
        "crmsim_version": __version__,
        "scenario_model_sha256": scenario_hash(scenario),
        "seed": seed,
        "variants": variants,
        "batch_size": batch,
        "flow_replications_asked": n_flow_cap,
    }
    if target is None:
        ident["replications"] = replications
    else:
        ident.update(target_halfwidth=target, max_replications=cap, confidence=confidence)
    return ident


def _check_resume(out: Path, ident: dict[str, Any]) -> dict[str, Any]:
    import json

    manifest_path = out / "manifest.json"
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise ResumeError(
            f"{out}: no compare run to resume here (no readable manifest.json); "
            "start one without --resume"
        ) from None
    if manifest.get("command") != "compare" or "experiment" not in manifest:
        raise ResumeError(f"{out}: holds no compare run to resume (manifest.json says otherwise)")
    there = manifest["experiment"]
    diffs = [
        f"{key} {there.get(key)!r} there, {value!r} now"
        for key, value in ident.items()
        if there.get(key) != value
    ]
    if diffs:
        raise ResumeError(
            f"{out}: cannot resume: it holds a different experiment ({'; '.join(diffs)}); "
            "resume with the same scenario and settings, or use a new --out"
        )
    return manifest


def _halfwidth(long: pd.DataFrame, variants: Sequence[str], confidence: float) -> float:
    """Largest half-width over options and markets of the paired fill-rate difference's CI."""
    from scipy.stats import t as student

    if len(variants) < 2:
        return 0.0
    wide = long.pivot_table(
        index=["market", "replication"], columns="variant", values="fill_rate", sort=True
    )
    worst = 0.0
    for option in variants[1:]:
        d = (wide[option] - wide[variants[0]]).groupby(level="market")
        for _, x in d:
            n = len(x)
            if n < 2:
                return math.inf
            sd = float(np.std(x.to_numpy(dtype=float), ddof=1))
            hw = float(student.ppf(0.5 + confidence / 2, n - 1)) * sd / math.sqrt(n)
            worst = max(worst, hw)
    return worst


def run_experiment(
    scenario: Scenario,
    policies: Sequence[str] | str | None = None,
    replications: int | None = None,
    seed: int | None = None,
    *,
    workers: int | None = 1,
    flow_replications: int | None = 50,
    progress: Callable[[int], None] | None = None,
    executor: Any = None,
    scheduler: Any = None,
    out: str | Path | None = None,
    resume: bool = False,
    batch_size: int | None = None,
    target_halfwidth: float | None = None,
    max_replications: int | None = None,
    confidence: float | None = None,
    overwrite: bool = False,
) -> ExperimentRun:
    """Simulate every variant over the same replications (common random numbers).

    Replications run in **batches** of ``batch_size``: batch ``k`` of a variant is its
    replications ``k·b … (k+1)·b − 1``. Every replication draws from its own named
    streams, and results are assembled in replication order, so the tables are bitwise
    identical whatever runs them (one process, a local pool, a Dask cluster) and however
    the work is split.

    Parameters
    ----------
    scenario : Scenario
        The baseline scenario (not modified).
    policies : sequence of str or str, optional
        Variants (see :func:`variants_of`); default ``experiment.compare``.
    replications : int, optional
        Replications R per variant (default ``experiment.replications``); ignored with
        ``target_halfwidth``.
    seed : int, optional
        Root seed (default ``experiment.seed``), the same for every variant.
    workers : int or None
        Local worker processes (1 = in this process, None = all cores); capped at the
        cores with a :class:`~crmsim.experiment.pool.WorkersCappedWarning`. Results do
        not depend on it.
    flow_replications : int or None
        Replications whose realised edge flows are kept for the scorecards (None = all).
        The first ones are taken, so they are the same replications in every variant;
        their flows come from the same simulation as their metrics.
    progress : callable, optional
        Called with the number of replications just finished (over all variants).
    executor : Executor or {"serial", "processes", "dask"}, optional
        Where the replications run (:func:`crmsim.experiment.pool.make_executor`);
        default: from ``workers`` and ``scheduler``.
    scheduler : str or distributed.Client, optional
        A Dask scheduler (``tcp://HOST:PORT``) or client: run on that cluster.
    out : str or Path, optional
        Results folder: each completed batch is written there at once
        (``parts/variant=<i>/batch-<k>/*.parquet``) with a ``manifest.json`` saying
        which experiment it is, so an interrupted run loses no finished batch. It is
        checked first (:func:`crmsim.experiment.io.check_output`): new or empty, or
        holding earlier crmsim results to replace with ``overwrite``.
    resume : bool
        Continue the experiment in ``out``: only the batches not yet on disk are run.
        It must be the same experiment (scenario, seed, variants, replications or
        target, batch size, crmsim version), or :class:`ResumeError` is raised.
    batch_size : int, optional
        Replications per batch (default :data:`DEFAULT_BATCH_SIZE`, at most R).
    target_halfwidth : float, optional
        Add batches until the half-width of every paired fill-rate difference's
        interval (each option against the baseline, per market, at ``confidence``) is
        at most this, or ``max_replications`` are reached; checked after each batch,
        from the second batch and :data:`MIN_REPLICATIONS_FOR_TARGET` replications on.
        The replications are those of a fixed-R run: batches are deterministic.
    max_replications : int, optional
        Cap with ``target_halfwidth`` (default :data:`DEFAULT_MAX_REPLICATIONS`).
    confidence : float, optional
        Level of the target's intervals (default ``experiment.confidence``).
    overwrite : bool
        Replace earlier crmsim results in ``out`` (they are removed when the run starts).

    Returns
    -------
    ExperimentRun

    Raises
    ------
    ReplicationError
        A replication raised (its variant, number and the seed are in the error).
    crmsim.experiment.pool.WorkerError
        Replications killed their worker process even when retried alone.
    ResumeError
        ``resume`` of a folder holding no experiment or a different one.
    crmsim.experiment.io.OutputError
        ``out`` cannot take the results (a file, foreign files, results without
        ``overwrite``, no permission).
    """
    import shutil
    import warnings

    from crmsim.experiment.pool import WorkerError, WorkersCappedWarning, make_executor

    t0 = time.perf_counter()
    apps = variants_of(scenario, policies)
    names = [app.combination for app in apps]
    seed = int(seed if seed is not None else scenario.experiment.seed)
    level = scenario.experiment.confidence if confidence is None else float(confidence)
    target = None if target_halfwidth is None else float(target_halfwidth)
    cap = int(max_replications or DEFAULT_MAX_REPLICATIONS)
    if target is not None:
        if not target > 0:
            raise ValueError(f"target_halfwidth must be positive, not {target}")
        R_max = cap
    else:
        R_max = int(replications if replications is not None else scenario.experiment.replications)
    if R_max < 1:
        raise ValueError(f"replications must be at least 1, not {R_max}")
    b = int(batch_size) if batch_size is not None else DEFAULT_BATCH_SIZE
    if b < 1:
        raise ValueError(f"batch_size must be at least 1, not {b}")
    b = min(b, R_max)
    n_batches = -(-R_max // b)
    units = _market_units(scenario)
    unit_set = {u for _, u in units.values()}
    shared = unit_set.pop() if len(unit_set) == 1 else None
    n_flow_asked = None if flow_replications is None else max(0, int(flow_replications))
    n_flow = R_max if n_flow_asked is None else min(n_flow_asked, R_max)

    folder = Path(out) if out is not None else None
    ident = _identity(
        scenario,
        names,
        seed,
        b,
        n_flow_asked,
        None if target is not None else R_max,
        target,
        cap,
        level,
    )
    if folder is not None:
        if resume:
            manifest = _check_resume(folder, ident)
        else:
            from crmsim.experiment.io import check_output

            check_output(folder, overwrite=overwrite)
            if folder.exists():
                shutil.rmtree(folder)  # (checked: empty, or only earlier crmsim results)
            folder.mkdir(parents=True)
            manifest = {
                "command": "compare",
                "status": "running",
                "scenario": scenario.name,
                "experiment": ident,
                "files": {"manifest.json": "this file", "parts": "completed batches"},
            }
            _write_json(folder / "manifest.json", manifest)
    elif resume:
        raise ResumeError("resume needs the results folder (out) of the run to resume")

    ex, capped = make_executor(executor, workers=workers, scheduler=scheduler)
    if capped:
        warnings.warn(capped, WorkersCappedWarning, stacklevel=2)
    own = not (executor is not None and not isinstance(executor, str))

    done: dict[tuple[int, int], dict[str, pd.DataFrame]] = {}
    pending: dict[tuple[int, int], list[_Block]] = {}
    payload = (
        seed,
        n_flow,
        units,
        shared,
        [(app.combination, app.scenario, app) for app in apps],
    )

    def reps_of(k: int) -> range:
        return range(k * b, min(R_max, (k + 1) * b))

    def run_batches(todo: list[tuple[int, int]]) -> None:
        for key in list(todo):
            if folder is not None:
                part = _read_part(folder, *key)
                if part is not None:
                    done[key] = part
                    todo.remove(key)
        if not todo:
            return
        # One engine pass per task: a batch split over the workers (no finer, or each
        # pass would simulate few replications).
        size = max(1, -(-b // ex.parallelism))

        def chunks() -> Any:
            for v, k in todo:
                items = [(v, r) for r in reps_of(k)]
                for i in range(0, len(items), size):
                    yield items[i : i + size]

        def collect(results: Sequence[_Block]) -> None:
            for blk in results:  # (a chunk lies within one batch of one variant)
                key = (blk.variant, blk.replications[0] // b)
                got = pending.setdefault(key, [])
                got.append(blk)
                if sum(len(g.replications) for g in got) == len(reps_of(key[1])):
                    frames = _batch_frames(pending.pop(key))
                    if folder is not None:
                        _write_part(folder, key[0], key[1], frames)
                    done[key] = frames
            if progress:
                progress(sum(len(blk.replications) for blk in results))

        try:
            ex.map_chunks(_compare_chunk, payload, chunks(), collect, seed=seed)
        except WorkerError as exc:
            if not exc.replications:
                raise
            named = [f"variant {names[v]} replication {r}" for v, r in exc.replications]
            v0, r0 = exc.replications[0]
            raise WorkerError(
                f"{', '.join(named)} (root seed {seed}) killed the worker process running "
                "it, also when retried alone; reproduce it in one process with "
                f"crmsim.engine.simulate(crmsim.policy.apply_policies(scenario, "
                f"{names[v0]!r}).scenario, seed={seed}, replication={r0})",
                exc.replications,
                seed,
            ) from None

    achieved = math.nan
    try:
        if target is None:
            run_batches([(v, k) for k in range(n_batches) for v in range(len(apps))])
            n_run = n_batches
        else:
            n_run = 0
            for k in range(n_batches):
                run_batches([(v, k) for v in range(len(apps))])
                n_run = k + 1
                long_so_far = pd.concat(
                    [done[(v, j)]["replications"] for j in range(n_run) for v in range(len(apps))],
                    ignore_index=True,
                )
                achieved = _halfwidth(long_so_far, names, level)
                enough = n_run >= 2 and n_run * b >= MIN_REPLICATIONS_FOR_TARGET
                if achieved <= target and (enough or n_run * b >= R_max):
                    break
    finally:
        if own:
            ex.close()
    R = min(R_max, n_run * b)
    n_flow = min(n_flow, R)

    def gather(table: str) -> pd.DataFrame:
        frames = [
            done[(v, k)][table]
            for v in range(len(apps))
            for k in range(n_run)
            if len(done[(v, k)][table])
        ]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    order = {name: i for i, name in enumerate(names)}

    def ordered(df: pd.DataFrame, by: list[str]) -> pd.DataFrame:
        if not len(df):
            return df
        return df.sort_values(
            by, key=lambda s: s.map(order) if s.name == "variant" else s, kind="stable"
        ).reset_index(drop=True)

    long = ordered(gather("replications"), ["variant", "replication", "market"])
    dis = ordered(gather("disruptions"), ["variant", "replication"])
    if not len(dis):
        dis = pd.DataFrame(columns=_DISRUPTION_COLUMNS)
    flow_df = ordered(gather("flows"), ["variant", "replication"])
    ready = ordered(gather("readiness"), ["variant", "replication"])
    if target is not None and not math.isfinite(achieved):
        achieved = _halfwidth(long, names, level)
    # Bands of every variant, or of none (batches of an earlier crmsim kept no daily
    # performance; a figure of some variants only would compare nothing).
    bands: dict[str, pd.DataFrame] = {}
    for v, name in enumerate(names):
        parts = [done[(v, k)]["performance"] for k in range(n_run)]
        vb = _variant_bands(parts) if all(len(p) for p in parts) else None
        if vb is None:
            bands = {}
            break
        bands[name] = _banded_series(vb, apps[v].scenario)
    if folder is not None:
        manifest["progress"] = {"batches_done": len(done), "replications": R}
        _write_json(folder / "manifest.json", manifest)
    return ExperimentRun(
        scenario=scenario,
        variants=tuple(names),
        labels={app.combination: app.label for app in apps},
        applications=tuple(apps),
        n_replications=R,
        seed=seed,
        replications=long,
        flows=flow_df,
        readiness=ready,
        disruptions=dis,
        flow_replications=n_flow,
        shared_unit=shared,
        seconds=time.perf_counter() - t0,
        batch_size=b,
        target_halfwidth=target,
        achieved_halfwidth=achieved if target is not None else None,
        max_replications=cap if target is not None else None,
        out=folder,
        identity=ident,
        executor=ex.describe(),
        bands=bands,
    )


# --------------------------------------------------------------------------- statistics


def _bounds(metric: str, horizon: int) -> tuple[float, float] | None:
    if metric in ("fill_rate", "nadir", "resilience_index"):
        return (-1.0, 1.0)
    if metric == "resilience_loss":
        return (-float(horizon), float(horizon))
    return None


def _matrix(run: ExperimentRun, market: str, metric: str) -> np.ndarray:
    """Values of a metric, shape (variants, R), rows in ``run.variants`` order."""
    df = run.replications
    sub = df[df["market"] == market]
    wide = sub.pivot(index="variant", columns="replication", values=metric)
    return wide.loc[list(run.variants)].to_numpy(dtype=float)


def paired_differences(run: ExperimentRun, confidence: float | None = None) -> pd.DataFrame:
    """Paired change of each metric, per market and option, against the baseline.

    Parameters
    ----------
    run : ExperimentRun
        From :func:`run_experiment`.
    confidence : float, optional
        Confidence level of the intervals (default ``experiment.confidence``).

    Returns
    -------
    pandas.DataFrame
        One row per (market, option, metric): ``material, unit, metric, better``
        (``higher``/``lower``), ``baseline_mean, option_mean``, ``diff_mean, diff_low,
        diff_high`` (option − baseline, t-based interval of the paired mean; bounded
        quantities kept in their bounds), ``diff_sd``, ``p_better, p_tie, p_worse``
        (shares of replications) and ``n``.
    """
    c = run.scenario.experiment.confidence if confidence is None else confidence
    H = run.scenario.horizon_days
    rows = []
    meta = run.replications.drop_duplicates("market").set_index("market")
    for market in run.markets:
        for metric, (sign, _, _) in METRICS.items():
            X = _matrix(run, market, metric)
            base = X[0]
            for v, name in enumerate(run.variants[1:], start=1):
                d = X[v] - base
                mean, lo, hi = t_interval(d, c, bounds=_bounds(metric, H))
                scale = max(1.0, float(np.abs(base).max(initial=0.0)))
                tie = np.abs(d) <= 1e-12 * scale
                better = (sign * d > 0) & ~tie
                rows.append(
                    {
                        "market": market,
                        "material": meta.loc[market, "material"],
                        "unit": meta.loc[market, "unit"],
                        "option": name,
                        "metric": metric,
                        "better": "higher" if sign > 0 else "lower",
                        "baseline_mean": float(base.mean()),
                        "option_mean": float(X[v].mean()),
                        "diff_mean": mean,
                        "diff_low": lo,
                        "diff_high": hi,
                        "diff_sd": float(d.std(ddof=1)) if d.size > 1 else math.nan,
                        "p_better": float(better.mean()),
                        "p_tie": float(tie.mean()),
                        "p_worse": float((~better & ~tie).mean()),
                        "n": int(d.size),
                    }
                )
    return pd.DataFrame(rows, columns=list(DATA_DICTIONARY["comparison"]))


def cost_effectiveness(
    run: ExperimentRun, table: pd.DataFrame, confidence: float | None = None
) -> pd.DataFrame:
    """Each option's realised cost and what it buys, per market.

    Parameters
    ----------
    run : ExperimentRun
        From :func:`run_experiment`.
    table : pandas.DataFrame
        From :func:`paired_differences`.
    confidence : float, optional
        Confidence level (default ``experiment.confidence``).

    Returns
    -------
    pandas.DataFrame
        One row per (market, option): ``currency``, ``cost_mean, cost_low, cost_high``
        (realised cost per replication over the scored horizon), ``fill_gain_pp`` (mean
        fill-rate gain in percentage points), ``cost_per_pp`` (cost ÷ gain),
        ``shortage_avoided`` (mean reduction of unmet units, in the market's unit) and
        ``cost_per_unit_avoided``; the two ratios are NaN — undefined — unless the gain's
        interval lies entirely above 0 (a gain that may be 0 or negative buys nothing
        measurable). ``note`` says why a ratio is undefined. The whole cost of the option
        is set against each market's gain (costs are not split between markets).
    """
    c = run.scenario.experiment.confidence if confidence is None else confidence
    rows = []
    cur = run.scenario.currency
    for market in run.markets:
        cost = _matrix(run, market, "cost_total")
        for v, name in enumerate(run.variants[1:], start=1):
            cm, clo, chi = t_interval(cost[v], c, bounds=(0.0, math.inf))
            sel = table[(table.market == market) & (table.option == name)].set_index("metric")
            fr, un = sel.loc["fill_rate"], sel.loc["unmet"]
            gain_pp = 100.0 * fr["diff_mean"]
            avoided = -un["diff_mean"]
            notes = []
            if fr["diff_low"] > 0:
                per_pp = cm / gain_pp
            else:
                per_pp = math.nan
                notes.append("fill-rate gain not significant (its interval reaches 0)")
            if un["diff_high"] < 0:
                per_unit = cm / avoided
            else:
                per_unit = math.nan
                notes.append("shortage reduction not significant")
            rows.append(
                {
                    "market": market,
                    "unit": fr["unit"],
                    "option": name,
                    "currency": cur,
                    "cost_mean": cm,
                    "cost_low": clo,
                    "cost_high": chi,
                    "fill_gain_pp": gain_pp,
                    "cost_per_pp": per_pp,
                    "shortage_avoided": avoided,
                    "cost_per_unit_avoided": per_unit,
                    "note": "; ".join(notes),
                }
            )
    return pd.DataFrame(rows, columns=list(DATA_DICTIONARY["costs"]))


def recovery(run: ExperimentRun) -> pd.DataFrame:
    """Time to recover from each disruption, per variant, as censored durations.

    A time to recover (TTR) not reached by the end of the horizon is right-censored and is
    never averaged as if observed: each variant's TTRs of every realised event (0 for an
    event that never lowered performance) are summarised by Kaplan–Meier
    (:func:`crmsim.metrics.stats.censored_summary`), with the mean restricted to the
    longest follow-up ``τ`` (the largest TTR or censoring time of the events). TTR is measured
    on overall performance (all markets summed), so it mixes units when the markets'
    units differ. A disruption that targets a role or a country also hits the nodes a
    policy adds, each with its own random stream, so a variant can have more events.

    Parameters
    ----------
    run : ExperimentRun
        From :func:`run_experiment`.

    Returns
    -------
    pandas.DataFrame
        One row per (disruption, variant): ``events`` (realised, over all replications),
        ``impacted`` (events that lowered performance), ``recovered_share`` (share of
        events recovered by the horizon), ``median_ttr`` (Kaplan–Meier median;
        NaN when fewer than half recover: "> horizon"), ``restricted_mean_ttr`` (mean
        restricted to ``restricted_to`` = τ days, a lower bound when anything is censored).
    """
    from crmsim.metrics.stats import censored_summary

    cols = ["disruption", "variant", "events", "impacted", "recovered_share", "median_ttr",
            "restricted_mean_ttr", "restricted_to"]  # fmt: skip
    d = run.disruptions
    if not len(d):
        return pd.DataFrame(columns=cols)
    rows = []
    for (dis, v), g in d.groupby(["disruption", "variant"], sort=True):
        hit = g[g["impacted"].astype(bool)]
        # Every event counts: one that never lowered performance recovered at once (TTR 0),
        # so an option that prevents impacts is not judged on its few impacted events.
        ttr = np.where(g["impacted"].astype(bool), g["ttr"].to_numpy(dtype=float), 0.0)
        censored = g["censored"].to_numpy(dtype=bool) & g["impacted"].to_numpy(dtype=bool)
        # Restricted to the longest follow-up: beyond it nothing is observed.
        tau = float(ttr.max()) if ttr.size else 0.0
        if tau > 0:
            cs = censored_summary(ttr, censored, tau)
            share, median, rmean = cs.share_observed, cs.median, cs.restricted_mean
        else:  # no event lowered performance
            share, median, rmean = 1.0, 0.0, 0.0
        rows.append(
            {
                "disruption": dis,
                "variant": v,
                "events": len(g),
                "impacted": len(hit),
                "recovered_share": share,
                "median_ttr": median,
                "restricted_mean_ttr": rmean,
                "restricted_to": tau,
            }
        )
    out = pd.DataFrame(rows, columns=cols)
    order = {v: i for i, v in enumerate(run.variants)}
    return out.sort_values(
        ["disruption", "variant"], key=lambda s: s.map(order) if s.name == "variant" else s
    ).reset_index(drop=True)


def mcb(X: np.ndarray, confidence: float = 0.95) -> pd.DataFrame:
    """Multiple comparisons with the best (larger is better), paired, Bonferroni form.

    For k variants observed on the same n replications (common random numbers), the
    simultaneous ``confidence`` intervals for ``μ_i − max_{j≠i} μ_j`` (Hsu 1984; 1996,
    ch. 4), with the Bonferroni critical value for paired data of Nelson & Matejcik
    (1995): ``w_ij = t_{1−α/(k−1), n−1} · S_ij / √n``, ``S_ij`` the standard deviation of
    the differences ``X_i − X_j`` and ``α = 1 − confidence``. Constrained (Hsu) limits:

    * ``low_i = min(0, min_{j≠i} (x̄_i − x̄_j − w_ij))``
    * ``high_i = max(0, min_{j≠i} (x̄_i − x̄_j + w_ij))``

    Variant ``i`` is **possibly best** when ``min_{j≠i} (x̄_i − x̄_j + w_ij) ≥ 0`` (no other
    is clearly better; the set of possibly best variants contains the truly best one with
    probability at least ``confidence``), and **clearly best** when
    ``min_{j≠i} (x̄_i − x̄_j − w_ij) > 0`` (better than every other one at that
    confidence). Variants identical in every replication are all possibly best and none
    is clearly best.

    Parameters
    ----------
    X : numpy.ndarray
        Shape (k, n): variant × replication, paired by replication.
    confidence : float
        Joint confidence level of the k intervals.

    Returns
    -------
    pandas.DataFrame
        One row per variant (in the order of ``X``): ``mean``, ``mcb_low``, ``mcb_high``,
        ``possibly_best``, ``clearly_best`` and ``share_best`` (share of replications in
        which it has the largest value, ties counting for each tied variant).

    Examples
    --------
    >>> X = np.array([[1.0, 2.0, 3.0, 4.0], [2.0, 3.1, 4.0, 5.2], [0.0, 1.0, 2.0, 3.0]])
    >>> m = mcb(X, 0.95)
    >>> m[["possibly_best", "clearly_best"]].values.tolist()
    [[False, False], [True, True], [False, False]]
    """
    X = np.asarray(X, dtype=float)
    k, n = X.shape
    mean = X.mean(axis=1)
    top = X.max(axis=0)
    share_best = (top - 1e-12 * np.maximum(1.0, np.abs(top)) <= X).mean(axis=1)
    if k == 1:
        return pd.DataFrame(
            {
                "mean": mean,
                "mcb_low": [0.0],
                "mcb_high": [0.0],
                "possibly_best": [True],
                "clearly_best": [True],
                "share_best": share_best,
            }
        )
    from scipy import stats

    alpha = 1.0 - confidence
    tcrit = float(stats.t.ppf(1.0 - alpha / (k - 1), n - 1)) if n > 1 else math.nan
    low, high, pos, clear = [], [], [], []
    for i in range(k):
        lo_i, hi_i = math.inf, math.inf
        for j in range(k):
            if j == i:
                continue
            d = X[i] - X[j]
            sd = float(d.std(ddof=1)) if n > 1 else math.nan
            w = 0.0 if sd == 0.0 else tcrit * sd / math.sqrt(n)
            lo_i = min(lo_i, float(d.mean()) - w)
            hi_i = min(hi_i, float(d.mean()) + w)
        low.append(min(0.0, lo_i))
        high.append(max(0.0, hi_i))
        pos.append(bool(hi_i >= 0))
        clear.append(bool(lo_i > 0))
    return pd.DataFrame(
        {
            "mean": mean,
            "mcb_low": low,
            "mcb_high": high,
            "possibly_best": pos,
            "clearly_best": clear,
            "share_best": share_best,
        }
    )


def replications_needed(
    sd_diff: float,
    delta: float,
    confidence: float,
    n: int,
    cap: int = MAX_REPLICATIONS_NEEDED,
    *,
    comparisons: int | None = None,
) -> int | None:
    """Replications needed for a paired interval of half-width ``delta``.

    ``n ≈ ⌈(t · sd_diff / δ)²⌉`` (the usual normal-theory sample-size formula; with δ the
    observed difference, the replications at which that difference would just be
    resolved), with ``t`` at the current number of replications: the two-sided
    ``t_{(1+c)/2, n−1}`` of a single paired interval, or with ``comparisons`` = k − 1 the
    one-sided Bonferroni ``t_{1−α/(k−1), n−1}`` of the MCB intervals (:func:`mcb`).

    Parameters
    ----------
    sd_diff : float
        Standard deviation of the paired differences.
    delta : float
        The difference that must be resolved (> 0).
    confidence : float
        Confidence level.
    n : int
        Replications so far (for the t quantile).
    cap : int
        Largest answer given; above it the result is ``cap``.
    comparisons : int, optional
        Number of MCB comparisons k − 1 (default: a single two-sided interval).

    Returns
    -------
    int or None
        None when no number of replications can separate the two (``sd_diff`` is 0: the
        variants agree in every replication).

    Examples
    --------
    >>> replications_needed(0.02, 0.005, 0.95, 50)
    65
    """
    if sd_diff == 0 or math.isnan(sd_diff):
        return None
    if delta <= 0 or math.isnan(delta):
        return cap
    from scipy import stats

    q = 0.5 + confidence / 2 if comparisons is None else 1 - (1 - confidence) / comparisons
    t = float(stats.t.ppf(q, max(n - 1, 1)))
    need = math.ceil((t * sd_diff / delta) ** 2)
    return min(max(need, n), cap)


def ranking(run: ExperimentRun, confidence: float | None = None) -> tuple[pd.DataFrame, list[str]]:
    """Rank the variants by mean fill rate per market, with MCB intervals and warnings.

    Parameters
    ----------
    run : ExperimentRun
        From :func:`run_experiment`.
    confidence : float, optional
        Joint confidence of the MCB intervals (default ``experiment.confidence``).

    Returns
    -------
    ranking : pandas.DataFrame
        One row per (market, variant): ``rank`` (1 = highest mean fill rate), ``variant``,
        ``mean_fill_rate``, ``mcb_low, mcb_high`` (interval for this variant's fill rate
        minus the best of the others), ``possibly_best``, ``clearly_best``,
        ``share_best``, ``confidence``.
    warnings : list of str
        For each market where the top-ranked variant is not clearly best: which variants
        it cannot be told apart from, and the replications needed to resolve the observed
        difference at the MCB critical value (:func:`replications_needed`).
    """
    c = run.scenario.experiment.confidence if confidence is None else confidence
    frames, warnings = [], []
    n = run.n_replications
    for market in run.markets:
        X = _matrix(run, market, "fill_rate")
        m = mcb(X, c)
        m.insert(0, "variant", list(run.variants))
        m = m.sort_values(["mean", "variant"], ascending=[False, True], kind="stable")
        m.insert(0, "rank", np.arange(1, len(m) + 1))
        m.insert(0, "market", market)
        m["confidence"] = c
        m = m.rename(columns={"mean": "mean_fill_rate"})
        frames.append(m.reset_index(drop=True))
        if len(m) < 2 or n < 2 or bool(m.iloc[0]["clearly_best"]):
            continue
        best = str(m.iloc[0]["variant"])
        b = run.variants.index(best)
        identical, unresolved = [], []
        for _, row in m.iloc[1:].iterrows():
            if not row["possibly_best"]:
                continue
            j = run.variants.index(str(row["variant"]))
            d = X[b] - X[j]
            sd = float(d.std(ddof=1))
            need = replications_needed(sd, float(d.mean()), c, n, comparisons=len(m) - 1)
            if need is None:
                identical.append(str(row["variant"]))
            else:
                unresolved.append((need, str(row["variant"]), float(d.mean()), sd))
        if not unresolved:
            continue  # only variants identical to the best in every replication: nothing to resolve
        need, other, delta, sd = max(unresolved)
        names = ", ".join(v for _, v, _, _ in unresolved)
        text = (
            f"{market}: {best} (ranked first) cannot be told apart from {names} on fill rate "
            f"at {100 * c:g} % confidence with {n} replications; "
        )
        if need >= MAX_REPLICATIONS_NEEDED:
            text += f"more than {MAX_REPLICATIONS_NEEDED:,} replications would be needed"
        else:
            text += (
                f"about {need:,} replications would resolve the hardest pair ({other}: observed "
                f"difference {_pp(delta)} pp, sd of the paired difference {_pp(sd)} "
                "pp; n ≈ (t·sd/δ)² with the MCB critical value t)"
            )
        if identical:
            text += f"; identical to it in every replication: {', '.join(identical)}"
        warnings.append(text)
    return (pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()), warnings


def _pp(share: float) -> str:
    """A share in percentage points, 3 significant digits, never in e-notation."""
    return str(np.format_float_positional(100 * share, precision=3, fractional=False, trim="-"))


# --------------------------------------------------------------------------- result


@dataclass(frozen=True, eq=False)
class Comparison:
    """What :func:`compare` found.

    Attributes
    ----------
    run : ExperimentRun
        The experiment (its long tables included).
    table : pandas.DataFrame
        Paired differences (:func:`paired_differences`).
    costs : pandas.DataFrame
        Costs and cost-effectiveness (:func:`cost_effectiveness`).
    ranking : pandas.DataFrame
        MCB ranking by fill rate per market (:func:`ranking`).
    scorecard : pandas.DataFrame
        Weighted scorecard per variant (:func:`crmsim.experiment.scorecard.scorecard`).
    crma : pandas.DataFrame
        Critical Raw Materials Act benchmark card
        (:func:`crmsim.experiment.scorecard.crma_card`).
    recovery : pandas.DataFrame
        Times to recover per disruption and variant, censored (:func:`recovery`).
    warnings : list of str
        Variants that cannot be told apart, and the replications needed.
    confidence : float
        Confidence level used.
    """

    run: ExperimentRun
    table: pd.DataFrame
    costs: pd.DataFrame
    ranking: pd.DataFrame
    scorecard: pd.DataFrame
    crma: pd.DataFrame
    recovery: pd.DataFrame
    warnings: list[str] = field(default_factory=list)
    confidence: float = 0.95

    @property
    def replications(self) -> pd.DataFrame:
        """The long table keyed by (variant, replication, market)."""
        return self.run.replications

    @property
    def currency(self) -> str:
        """The scenario's currency."""
        return self.run.scenario.currency


def compare(
    scenario: Scenario,
    policies: Sequence[str] | str | None = None,
    replications: int | None = None,
    seed: int | None = None,
    workers: int | None = 1,
    *,
    confidence: float | None = None,
    flow_replications: int | None = 50,
    home: str | Sequence[str] | None = None,
    progress: Callable[[int], None] | None = None,
    **experiment: Any,
) -> Comparison:
    """Compare policy options with the baseline over the same replications.

    Parameters
    ----------
    scenario : Scenario
        The baseline scenario.
    policies : sequence of str or str, optional
        Options to compare (ids or combinations ``a+b``; a comma-separated string is
        split). Default: ``experiment.compare``. The baseline is always included.
    replications : int, optional
        Replications per variant (default ``experiment.replications``).
    seed : int, optional
        Root seed (default ``experiment.seed``).
    workers : int or None
        Worker processes (None = all cores); results do not depend on it. With more than
        one worker, call this under ``if __name__ == "__main__":`` in a script (the pool
        starts fresh interpreters that import the script).
    confidence : float, optional
        Confidence level (default ``experiment.confidence``).
    flow_replications : int or None
        Replications whose flows feed the scorecards (default 50; None = all).
    home : str or sequence of str, optional
        Buyer region of the CRMA card (countries or region names; default: the
        scenario's ``home``).
    progress : callable, optional
        Called with the number of replications just finished.
    **experiment
        Passed to :func:`run_experiment`: ``executor``, ``scheduler`` (a Dask
        cluster), ``out`` and ``resume`` (batches on disk), ``batch_size``,
        ``target_halfwidth`` and ``max_replications``.

    Returns
    -------
    Comparison

    Examples
    --------
    >>> from crmsim import load_scenario
    >>> cmp = compare(load_scenario("scenarios/tutorial.yaml"), replications=3,
    ...               flow_replications=1)
    >>> cmp.table.columns[:6].tolist()
    ['market', 'material', 'unit', 'option', 'metric', 'better']
    """
    from crmsim.experiment.scorecard import crma_card
    from crmsim.experiment.scorecard import scorecard as make_scorecard

    c = scenario.experiment.confidence if confidence is None else float(confidence)
    run = run_experiment(
        scenario,
        policies,
        replications,
        seed,
        workers=workers,
        flow_replications=flow_replications,
        progress=progress,
        confidence=c,
        **experiment,
    )
    table = paired_differences(run, c)
    costs = cost_effectiveness(run, table, c)
    rank, warnings = ranking(run, c)
    return Comparison(
        run=run,
        table=table,
        costs=costs,
        ranking=rank,
        scorecard=make_scorecard(run),
        crma=crma_card(run, home),
        recovery=recovery(run),
        warnings=warnings,
        confidence=c,
    )


# --------------------------------------------------------------------------- writing

#: Column meanings and units of every table :func:`write_comparison` writes.
DATA_DICTIONARY: dict[str, dict[str, tuple[str, str]]] = {
    "replications": {
        "variant": ("baseline, or the policy combination applied (a+b)", ""),
        "replication": ("replication number r (the same r sees the same random draws)", ""),
        "market": ("market node id; '(all)' = all markets (only when they share a unit)", ""),
        "material": ("material the market demands", ""),
        "unit": ("unit of the market's material", ""),
        "demand": ("demand over the scored horizon", "unit"),
        "served": ("demand served on the day it arose", "unit"),
        "unmet": ("demand lost or back-ordered", "unit"),
        "fill_rate": ("served ÷ demand", "fraction 0–1"),
        "nadir": ("lowest daily performance served(t) ÷ demand(t)", "fraction 0–1"),
        "resilience_loss": ("Σ_t (1 − performance(t)) over the scored days", "days"),
        "resilience_index": ("1 − resilience_loss ÷ horizon", "fraction 0–1"),
        "cost_capex": ("realised capital cost of the variant in this replication", "currency"),
        "cost_opex": ("realised operating cost over the scored horizon", "currency"),
        "cost_holding": ("stockpile holding cost over the scored horizon", "currency"),
        "cost_total": ("capex + opex + holding (same on every market row)", "currency"),
    },
    "comparison": {
        "market": ("market node id or '(all)'", ""),
        "material": ("material the market demands", ""),
        "unit": ("unit of the market's material", ""),
        "option": ("the policy combination compared with the baseline", ""),
        "metric": ("fill_rate, unmet, nadir or resilience_loss", ""),
        "better": ("direction in which the metric improves: higher or lower", ""),
        "baseline_mean": ("mean of the metric over replications, baseline", "metric"),
        "option_mean": ("mean of the metric over replications, option", "metric"),
        "diff_mean": ("mean paired difference option − baseline", "metric"),
        "diff_low": ("lower limit of the t-based interval of diff_mean", "metric"),
        "diff_high": ("upper limit of the t-based interval of diff_mean", "metric"),
        "diff_sd": ("standard deviation of the paired differences", "metric"),
        "p_better": ("share of replications in which the option is better", "fraction 0–1"),
        "p_tie": ("share of replications with exactly the same value", "fraction 0–1"),
        "p_worse": ("share of replications in which the option is worse", "fraction 0–1"),
        "n": ("replications", "count"),
    },
    "costs": {
        "market": ("market node id or '(all)'", ""),
        "unit": ("unit of the market's material", ""),
        "option": ("the policy combination", ""),
        "currency": ("currency of the costs (the scenario's `currency`)", ""),
        "cost_mean": ("mean realised cost per replication, scored horizon", "currency"),
        "cost_low": ("lower limit of its t-based interval", "currency"),
        "cost_high": ("upper limit of its t-based interval", "currency"),
        "fill_gain_pp": ("mean fill-rate gain", "percentage points"),
        "cost_per_pp": (
            "cost_mean ÷ fill_gain_pp; NaN unless the gain is significant",
            "currency/pp",
        ),
        "shortage_avoided": ("mean reduction of unmet demand", "unit"),
        "cost_per_unit_avoided": (
            "cost_mean ÷ shortage_avoided; NaN unless the reduction is significant",
            "currency/unit",
        ),
        "note": ("why a ratio is undefined", ""),
    },
    "ranking": {
        "market": ("market node id or '(all)'", ""),
        "rank": ("1 = highest mean fill rate", ""),
        "variant": ("baseline or policy combination", ""),
        "mean_fill_rate": ("mean fill rate over replications", "fraction 0–1"),
        "mcb_low": ("lower MCB limit of fill rate − best of the others", "fraction"),
        "mcb_high": ("upper MCB limit of fill rate − best of the others", "fraction"),
        "possibly_best": ("no other variant is clearly better (MCB)", "bool"),
        "clearly_best": ("better than every other variant (MCB)", "bool"),
        "share_best": ("share of replications with the highest fill rate (ties count)", "fraction"),
        "confidence": ("joint confidence level of the MCB intervals", "fraction"),
    },
    "scorecard": {
        "variant": ("baseline or policy combination", ""),
        "group": ("scorecard group, or total", ""),
        "score": ("normalised score (1 = best)", "fraction 0–1"),
        "weight": ("weight from scoring.weights (total: sum of defined groups' weights)", ""),
        "weighted": ("score × weight", ""),
        "rule": ("how the score is normalised", ""),
        "replications": ("replications the score averages", "count"),
    },
    "crma": {
        "variant": ("baseline or policy combination", ""),
        "material": ("material", ""),
        "unit": ("unit of the material", ""),
        "home": ("the buyer region's countries", ""),
        "consumption": ("home consumption per replication, scored horizon", "unit"),
        "indicator": ("extraction, processing, recycling or single_third_country", ""),
        "share": ("share of home consumption (NaN when undefined)", "fraction"),
        "country": ("for single_third_country: the largest third-country supplier", ""),
        "benchmark": ("CRMA 2030 benchmark (Regulation (EU) 2024/1252, Art. 5)", "fraction"),
        "rule": (">= (at least) or <= (at most)", ""),
        "met": ("whether the benchmark is met (empty when undefined)", "bool"),
    },
    "disruptions": {
        "variant": ("baseline or policy combination", ""),
        "replication": ("replication number", ""),
        "disruption": ("disruption id in the scenario", ""),
        "kind": ("outage, export_restriction, logistics or demand", ""),
        "start": ("first scored day in force (negative: in the warm-up)", "day"),
        "end": ("first scored day after it", "day"),
        "impacted": ("it lowered overall performance", "bool"),
        "ttr": ("time to recover on overall performance (censored: until the horizon)", "days"),
        "censored": ("not recovered by the end of the horizon", "bool"),
    },
    "recovery": {
        "disruption": ("disruption id in the scenario", ""),
        "variant": ("baseline or policy combination", ""),
        "events": ("realised events over all replications", "count"),
        "impacted": ("events that lowered overall performance", "count"),
        "recovered_share": ("share of events recovered by the horizon", "fraction"),
        "median_ttr": ("Kaplan–Meier median TTR, 0 if not impacted (empty: > horizon)", "days"),
        "restricted_mean_ttr": ("Kaplan–Meier mean restricted to restricted_to", "days"),
        "restricted_to": ("longest follow-up τ: largest TTR or censoring time", "days"),
    },
    "flows": {
        "variant": ("baseline or policy combination", ""),
        "replication": ("replication number", ""),
        "supplier": ("supplier node id", ""),
        "buyer": ("buyer node id", ""),
        "material": ("material on the edge", ""),
        "supplier_country": ("ISO alpha-3 country of the supplier", ""),
        "buyer_country": ("ISO alpha-3 country of the buyer", ""),
        "supplier_role": ("role of the supplier", ""),
        "buyer_role": ("role of the buyer", ""),
        "supplier_msme": ("1 MSME, 0 large, empty unknown size", ""),
        "origin": ("the supplier makes the material (not passing it on)", "bool"),
        "consumer": ("the buyer uses the material up (market or transforming processor)", "bool"),
        "shipped": ("units shipped on the edge over the scored days", "unit of the material"),
        "received": ("units received on the edge over the scored days", "unit of the material"),
    },
    "bands": {
        "variant": ("baseline or policy combination", ""),
        "day": ("scored day (0 = first day after the warm-up)", "day"),
        "market": ("market id, or (all) for all markets together (Σ served ÷ Σ demand)", ""),
        "mean": ("mean over replications of daily performance served(t) ÷ demand(t)",
                 "fraction 0–1"),
        "q05": ("5 % quantile over replications of daily performance", "fraction 0–1"),
        "q25": ("25 % quantile over replications of daily performance", "fraction 0–1"),
        "q50": ("median over replications of daily performance", "fraction 0–1"),
        "q75": ("75 % quantile over replications of daily performance", "fraction 0–1"),
        "q95": ("95 % quantile over replications of daily performance", "fraction 0–1"),
    },
}


def data_dictionary() -> pd.DataFrame:
    """The data dictionary of the written tables: ``table, column, meaning, unit``."""
    rows = [
        {"table": t, "column": c, "meaning": m, "unit": u}
        for t, cols in DATA_DICTIONARY.items()
        for c, (m, u) in cols.items()
    ]
    return pd.DataFrame(rows)


def write_comparison(
    cmp: Comparison,
    out: str | Path,
    *,
    scenario_file: str | Path | None = None,
    options: dict[str, Any] | None = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Write a comparison's tables (Parquet and CSV), data dictionary and manifest.

    Parameters
    ----------
    cmp : Comparison
        From :func:`compare`.
    out : str or Path
        Output directory; it must not exist unless ``overwrite``.
    scenario_file : str or Path, optional
        The scenario file, whose SHA-256 is recorded.
    options : dict, optional
        Settings to record (command-line options).
    overwrite : bool
        Replace the files of an existing directory.

    Returns
    -------
    dict
        The manifest written to ``manifest.json``.

    Raises
    ------
    FileExistsError
        ``out`` exists and ``overwrite`` is false.
    crmsim.experiment.io.OutputError
        ``out`` cannot hold the results (see :func:`crmsim.experiment.io.check_output`),
        or writing them failed (earlier results are then kept).

    Notes
    -----
    When the experiment was run with ``out`` (its batches are already there), the
    tables are added to that folder, each file written whole and renamed into place,
    and the manifest is rewritten last with ``"status": "complete"``. Otherwise the
    folder is written atomically (:func:`crmsim.experiment.io.atomic_output`).
    """
    import json
    import os
    import platform
    from datetime import UTC, datetime

    from crmsim import __version__
    from crmsim.experiment.io import atomic_output, file_sha256

    out = Path(out)
    run = cmp.run
    into_batches = run.out is not None and run.out.resolve() == out.resolve()
    if not into_batches:
        from crmsim.experiment.io import check_output

        if out.exists() and not overwrite:
            raise FileExistsError(f"{out}: already exists; use --overwrite or another --out")
        check_output(out, overwrite=overwrite)
    tables = {
        "replications": run.replications,
        "comparison": cmp.table,
        "costs": cmp.costs,
        "ranking": cmp.ranking,
        "scorecard": cmp.scorecard,
        "crma": cmp.crma,
        "flows": run.flows,
        "disruptions": run.disruptions,
        "recovery": cmp.recovery,
        "data_dictionary": data_dictionary(),
    }
    if run.bands:
        tables["bands"] = pd.concat(
            [b.assign(variant=v)[["variant", *b.columns]] for v, b in run.bands.items()],
            ignore_index=True,
        )
    files: dict[str, str] = {}
    for name, df in tables.items():
        for ext in ("parquet", "csv"):
            files[f"{name}.{ext}"] = f"{len(df)} rows"
    files["README.md"] = "what this folder holds: its files and every column (this file)"
    if into_batches:
        files["parts"] = "the batches, one folder per variant and batch"
    files["manifest.json"] = "this file"
    manifest = {
        "crmsim_version": __version__,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "compare",
        "status": "complete",
        "scenario": run.scenario.name,
        "scenario_file": str(scenario_file) if scenario_file else None,
        "scenario_sha256": file_sha256(scenario_file) if scenario_file else None,
        "seed": run.seed,
        "replications": run.n_replications,
        "flow_replications": run.flow_replications,
        "batch_size": run.batch_size,
        "target_halfwidth": run.target_halfwidth,
        "achieved_halfwidth": run.achieved_halfwidth,
        "max_replications": run.max_replications,
        "variants": list(run.variants),
        "confidence": cmp.confidence,
        "currency": cmp.currency,
        "weights": dict(run.scenario.scoring.weights),
        "ranking_method": "MCB (Hsu 1984, 1996), paired Bonferroni form (Nelson & Matejcik 1995)",
        "warnings": list(cmp.warnings),
        "options": json.loads(json.dumps(options or {}, default=str)),
        "executor": run.executor,
        "experiment": run.identity,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "seconds": round(run.seconds, 3),
        "files": files,
    }

    from crmsim.experiment.io import readme_text

    dictionary = tables["data_dictionary"]
    about = [
        f"Results of `crmsim compare`: {run.n_replications} replications of each of "
        f"{len(run.variants)} variants ({', '.join(run.variants)}) of *{run.scenario.name}*, "
        f"seed {run.seed}, the same random numbers for every variant (paired differences)."
    ]
    readme = readme_text(
        "crmsim compare results",
        about,
        dictionary[dictionary["table"].isin(list(tables))],
        {**files, "manifest.json": "what produced the numbers; status complete when done"},
        currency=cmp.currency,
        units={m.id: m.unit for m in run.scenario.materials},
    )

    def write_into(folder: Path, *, atomic_files: bool) -> None:
        path = folder / "README.md"
        tmp = path.with_name(".README.md.tmp") if atomic_files else path
        tmp.write_text(readme, encoding="utf-8")
        if atomic_files:
            os.replace(tmp, path)
        for name, df in tables.items():
            for ext in ("parquet", "csv"):
                path = folder / f"{name}.{ext}"
                tmp = path.with_name(f".{path.name}.tmp") if atomic_files else path
                if ext == "csv":
                    df.to_csv(tmp, index=False)
                else:
                    df.to_parquet(tmp, index=False)
                if atomic_files:
                    os.replace(tmp, path)
        text = json.dumps(manifest, indent=2, default=str) + "\n"
        path = folder / "manifest.json"
        tmp = path.with_name(".manifest.json.tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)  # last: the folder says "complete" only once it is

    if into_batches:
        write_into(out, atomic_files=True)
    else:
        with atomic_output(out) as folder:
            write_into(folder, atomic_files=False)
    return manifest
