"""Write run results: Parquet tables, a CSV summary and a manifest for reproducibility."""

from __future__ import annotations

import hashlib
import json
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from crmsim.experiment.runner import RunResult

__all__ = ["file_sha256", "write_run"]


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes (the scenario hash recorded with every result)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    return value


def write_run(
    run: RunResult,
    out: str | Path,
    *,
    scenario_file: str | Path | None = None,
    options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write a run's tables and ``manifest.json`` into a directory.

    Files: ``summary.parquet`` and ``summary.csv`` (one row per replication),
    ``market_summary.parquet``, ``disruptions.parquet``, ``bands.parquet`` (daily
    performance quantiles over replications) and, when kept, ``daily_rep0.parquet``
    (replication 0's full daily record).

    Parameters
    ----------
    run : RunResult
        From :func:`crmsim.experiment.run_replications`.
    out : str or Path
        Output directory (created if missing).
    scenario_file : str or Path, optional
        The scenario file, whose SHA-256 is recorded.
    options : dict, optional
        Run options to record (command-line settings).

    Returns
    -------
    dict
        The manifest written.
    """
    from crmsim import __version__

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files: dict[str, str] = {}

    def put(name: str, df: pd.DataFrame) -> None:
        path = out / name
        if name.endswith(".csv"):
            df.to_csv(path, index=False)
        else:
            df.to_parquet(path, index=False)
        files[name] = f"{len(df)} rows"

    put("summary.parquet", run.summary)
    put("summary.csv", run.summary)
    put("market_summary.parquet", run.market_summary)
    put("disruptions.parquet", run.disruptions)
    put("bands.parquet", run.bands)
    if run.first is not None:
        put("daily_rep0.parquet", run.first.daily)
    manifest = {
        "crmsim_version": __version__,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "scenario": run.scenario_name,
        "scenario_file": str(scenario_file) if scenario_file else None,
        "scenario_sha256": file_sha256(scenario_file) if scenario_file else None,
        "seed": run.seed,
        "replications": run.replications,
        "options": _jsonable(options or {}),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "files": files,
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest
