"""The tables a report reads: from a comparison, a scenario file or a results folder.

:class:`ReportData` gathers what the figures, the HTML report and the workbook need, so
each of them reads the same numbers whatever the origin:

* :func:`from_scenario` runs a comparison (:func:`crmsim.compare`, which also keeps the
  daily performance bands of each variant) and replication 0 of the baseline with its
  full daily record;
* :func:`from_folder` reads a results folder of ``crmsim compare --out`` (the tables,
  the bands of every variant, manifest) or of ``crmsim run --out`` (bands, disruptions,
  replication 0's daily record). A folder has no figures' worth of data that it did not
  write: a compare folder has no daily record (no resilience triangle, no secondary
  supply), a run folder no comparison. A ``stress.parquet`` or ``stress.csv`` in the
  folder (columns ``node, tts_lp, tts_sim, ttr, flagged``) adds the stress test.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from crmsim.scenario.schema import Scenario

__all__ = ["ReportData", "ResultsFolderError", "from_comparison", "from_folder", "from_scenario"]

_TABLES = (
    "comparison",
    "costs",
    "ranking",
    "scorecard",
    "crma",
    "flows",
    "disruptions",
    "recovery",
    "replications",
    "data_dictionary",
)


class ResultsFolderError(ValueError):
    """A folder that is not a crmsim results folder, or lacks a file it needs."""


@dataclass(eq=False)
class ReportData:
    """Everything a report shows, as plain tables.

    Attributes
    ----------
    kind : str
        ``"compare"`` or ``"run"``.
    scenario : Scenario or None
        The scenario (None when a results folder's scenario file cannot be read).
    scenario_name, scenario_file, scenario_sha256 : str or None
        What was run.
    seed, replications : int
        Root seed and replications per variant.
    variants : list of str
        Baseline first.
    labels : dict
        Readable label of each variant.
    currency : str
        Currency of the costs.
    confidence : float
        Confidence level of the intervals.
    tables : dict of DataFrame
        ``comparison, costs, ranking, scorecard, crma, flows, disruptions, recovery,
        replications, data_dictionary`` (empty frames when absent).
    bands : dict of DataFrame
        Variant → daily performance quantiles (``RunResult.bands``); may be empty.
    daily : DataFrame or None
        Replication 0's full daily record of the baseline (or the run's variant).
    performance : numpy.ndarray or None
        Replication 0's overall daily performance over the scored days.
    stress : DataFrame or None
        Stress-test table, when available.
    warnings : list of str
        The comparison's warnings (options that cannot be told apart).
    version : str
        crmsim version that computed the numbers.
    command : str
        Command that reproduces the numbers.
    """

    kind: str
    scenario: Scenario | None
    scenario_name: str
    scenario_file: str | None
    scenario_sha256: str | None
    seed: int
    replications: int
    variants: list[str]
    labels: dict[str, str]
    currency: str
    confidence: float
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    bands: dict[str, pd.DataFrame] = field(default_factory=dict)
    daily: pd.DataFrame | None = None
    performance: np.ndarray | None = None
    stress: pd.DataFrame | None = None
    warnings: list[str] = field(default_factory=list)
    version: str = ""
    command: str = ""

    def table(self, name: str) -> pd.DataFrame:
        """A table by name (an empty frame when absent)."""
        return self.tables.get(name, pd.DataFrame())

    @property
    def main_market(self) -> str | None:
        """``"(all)"`` when the comparison has it, else the market short the most.

        "Short the most": the largest mean unmet share of demand in the baseline (ties:
        the first market in order).
        """
        t = self.table("comparison")
        if not len(t):
            return None
        ms = list(dict.fromkeys(t["market"]))
        if "(all)" in ms:
            return "(all)"
        fr = t[t["metric"] == "fill_rate"].drop_duplicates("market").set_index("market")
        return str((1.0 - fr["baseline_mean"]).reindex(ms).idxmax())


def _sha(path: str | Path | None) -> str | None:
    from crmsim.experiment.io import file_sha256

    if path is None or not Path(path).is_file():
        return None
    return file_sha256(path)


def _bands_of(cmp: Any, workers: int | None) -> dict[str, pd.DataFrame]:
    """Daily performance bands of each variant, over the comparison's replications."""
    from crmsim.experiment.runner import run_replications

    run = cmp.run
    out = {}
    for app in run.applications:
        rr = run_replications(
            app.scenario, run.n_replications, run.seed, workers=workers, keep_first_daily=False
        )
        out[app.combination] = rr.bands
    return out


def from_comparison(
    cmp: Any,
    *,
    scenario_file: str | Path | None = None,
    bands: dict[str, pd.DataFrame] | None = None,
    daily: bool = True,
    stress: pd.DataFrame | None = None,
    command: str | None = None,
) -> ReportData:
    """Report data of a :class:`~crmsim.experiment.compare.Comparison`.

    Parameters
    ----------
    cmp : Comparison
        From :func:`crmsim.compare`.
    scenario_file : str or Path, optional
        The scenario file (its SHA-256 is shown).
    bands : dict, optional
        Variant → ``RunResult.bands``; default: computed over the same replications.
    daily : bool
        Simulate replication 0 of the baseline with its full daily record.
    stress : DataFrame, optional
        Stress-test table.
    command : str, optional
        Command that reproduces the numbers (default: the ``crmsim report`` call).

    Returns
    -------
    ReportData
    """
    from crmsim import __version__
    from crmsim.engine import simulate
    from crmsim.experiment.compare import data_dictionary

    run = cmp.run
    sc = run.scenario
    tables = {
        "comparison": cmp.table,
        "costs": cmp.costs,
        "ranking": cmp.ranking,
        "scorecard": cmp.scorecard,
        "crma": cmp.crma,
        "flows": run.flows,
        "disruptions": run.disruptions,
        "recovery": cmp.recovery,
        "replications": run.replications,
        "data_dictionary": data_dictionary(),
    }
    perf = None
    rec = None
    if daily:
        res = simulate(sc, run.seed, replication=0, record="daily")
        rec, perf = res.daily, np.asarray(res.performance, dtype=float)
    opts = ",".join(run.variants[1:])
    if command is None:
        command = (
            f"crmsim report {scenario_file or 'SCENARIO.yaml'} -r {run.n_replications} "
            f"-s {run.seed}"
            + (f" -p {opts}" if opts else "")
            + (
                f" --flow-replications {run.flow_replications}"
                if run.flow_replications != run.n_replications
                else ""
            )
            + " --out report.html"
        )
    return ReportData(
        kind="compare",
        scenario=sc,
        scenario_name=sc.name,
        scenario_file=str(scenario_file) if scenario_file else None,
        scenario_sha256=_sha(scenario_file),
        seed=run.seed,
        replications=run.n_replications,
        variants=list(run.variants),
        labels=dict(run.labels),
        currency=cmp.currency,
        confidence=cmp.confidence,
        tables=tables,
        bands=bands if bands is not None else (dict(run.bands) or _bands_of(cmp, 1)),
        daily=rec,
        performance=perf,
        stress=stress,
        warnings=list(cmp.warnings),
        version=__version__,
        command=command,
    )


def from_scenario(
    scenario_file: str | Path,
    *,
    policies: str | None = None,
    replications: int = 3,
    seed: int | None = None,
    workers: int | None = 1,
    flow_replications: int | None = None,
    stress: pd.DataFrame | None = None,
) -> ReportData:
    """Run a small comparison of a scenario file and gather its report data.

    Parameters
    ----------
    scenario_file : str or Path
        The scenario (raises :class:`~crmsim.ScenarioError` when invalid).
    policies : str, optional
        Options (``a,b,a+b``); default ``experiment.compare``.
    replications : int
        Replications per variant.
    seed : int, optional
        Root seed (default ``experiment.seed``).
    workers : int or None
        Worker processes (None = all cores).
    flow_replications : int, optional
        Replications whose flows feed the scorecards (default: all).
    stress : DataFrame, optional
        Stress-test table.

    Returns
    -------
    ReportData
    """
    from crmsim import compare, load_scenario

    sc = load_scenario(scenario_file)
    cmp = compare(sc, policies, replications, seed, workers, flow_replications=flow_replications)
    bands = dict(cmp.run.bands) or _bands_of(cmp, workers)
    return from_comparison(cmp, scenario_file=scenario_file, bands=bands, stress=stress)


def _read(folder: Path, name: str) -> pd.DataFrame | None:
    for ext in ("parquet", "csv"):
        p = folder / f"{name}.{ext}"
        if p.is_file():
            return pd.read_parquet(p) if ext == "parquet" else pd.read_csv(p)
    return None


def _scenario_of(manifest: dict[str, Any], folder: Path) -> Scenario | None:
    from crmsim import ScenarioError, load_scenario

    f = manifest.get("scenario_file")
    if not f:
        return None
    for cand in (Path(f), folder / f, folder.parent / f):
        if cand.is_file():
            try:
                return load_scenario(cand)
            except ScenarioError:
                return None
    return None


def from_folder(folder: str | Path) -> ReportData:
    """Report data of a results folder of ``crmsim compare --out`` or ``crmsim run --out``.

    Parameters
    ----------
    folder : str or Path
        The folder (with ``manifest.json``).

    Returns
    -------
    ReportData

    Raises
    ------
    ResultsFolderError
        No ``manifest.json``, or neither ``comparison`` nor ``bands`` tables.
    """
    from crmsim import __version__

    folder = Path(folder)
    mpath = folder / "manifest.json"
    if not mpath.is_file():
        raise ResultsFolderError(
            f"{folder}: not a crmsim results folder (no manifest.json); give the --out "
            "folder of `crmsim run` or `crmsim compare`, or a scenario file"
        )
    try:
        manifest = json.loads(mpath.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ResultsFolderError(f"{mpath}: cannot read it as JSON: {exc}") from None
    sc = _scenario_of(manifest, folder)
    stress = _read(folder, "stress")
    tables = {n: t for n in _TABLES if (t := _read(folder, n)) is not None}
    daily = _read(folder, "daily_rep0")
    perf = None
    if daily is not None:
        m = daily[(daily["day"] >= 0) & daily["demand"].notna()]
        g = m.groupby("day")[["served", "demand"]].sum()
        perf = np.divide(
            g["served"].to_numpy(), g["demand"].to_numpy(),
            out=np.ones(len(g)), where=g["demand"].to_numpy() > 0,
        )  # fmt: skip
    common = {
        "scenario": sc,
        "scenario_name": str(manifest.get("scenario") or (sc.name if sc else folder.name)),
        "scenario_file": manifest.get("scenario_file"),
        "scenario_sha256": manifest.get("scenario_sha256"),
        "seed": int(manifest.get("seed", 0)),
        "replications": int(manifest.get("replications", 0)),
        "daily": daily,
        "performance": perf,
        "stress": stress,
        "version": str(manifest.get("crmsim_version", __version__)),
    }
    if "comparison" in tables:
        variants = [str(v) for v in manifest.get("variants", [])]
        labels = {v: v for v in variants}
        if sc is not None:
            from crmsim.policy import PolicyError, apply_policies

            for v in variants:
                with contextlib.suppress(PolicyError):
                    labels[v] = apply_policies(sc, v).label
        opts = ",".join(variants[1:])
        cmd = (
            f"crmsim compare {manifest.get('scenario_file') or 'SCENARIO.yaml'} "
            f"-r {common['replications']} -s {common['seed']}"
            + (f" -p {opts}" if opts else "")
            + f" --out {folder}"
        )
        bands = _read(folder, "bands")
        by_variant: dict[str, pd.DataFrame] = {}
        if bands is not None and "variant" in bands.columns:
            by_variant = {
                str(v): g.drop(columns="variant").reset_index(drop=True)
                for v, g in bands.groupby("variant", sort=False)
            }
            if set(by_variant) != set(variants):
                by_variant = {}
        return ReportData(
            kind="compare",
            variants=variants,
            labels=labels,
            bands={v: by_variant[v] for v in variants} if by_variant else {},
            currency=str(manifest.get("currency") or (sc.currency if sc else "")),
            confidence=float(manifest.get("confidence", 0.95)),
            tables=tables,
            warnings=[str(w) for w in manifest.get("warnings", [])],
            command=cmd,
            **common,
        )
    bands = _read(folder, "bands")
    if bands is None:
        raise ResultsFolderError(
            f"{folder}: neither comparison.parquet (crmsim compare) nor bands.parquet "
            "(crmsim run) is there"
        )
    options = manifest.get("options", {}) or {}
    variant = str(options.get("policy") or "baseline")
    dis = _read(folder, "disruptions")
    if dis is not None:
        tables["disruptions"] = dis
    cmd = (
        f"crmsim run {manifest.get('scenario_file') or 'SCENARIO.yaml'} "
        f"-r {common['replications']} -s {common['seed']}"
        + (f" --policy {variant}" if variant != "baseline" else "")
        + f" --out {folder}"
    )
    return ReportData(
        kind="run",
        variants=[variant],
        labels={variant: str(options.get("policy_label") or variant)},
        currency=sc.currency if sc else "",
        confidence=0.95,
        tables=tables,
        bands={variant: bands},
        command=cmd,
        **common,
    )
