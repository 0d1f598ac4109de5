"""Write run results: Parquet tables, a CSV summary and a manifest for reproducibility.

Results are written **atomically**: every file goes into a hidden temporary folder next
to the results folder, which is renamed into place once complete. When replacing older
results, the old folder is moved aside first and removed only after the new one is in
place, so a failure at any point (a full disk, Ctrl-C) leaves either the old results or
the complete new ones, and no stale file of an earlier run survives a replacement.
:func:`check_output` tells before a run whether its results could be written at all.

Every table is checked for NaN and infinite values (:func:`find_non_finite`). By design
only replication 0's daily record (``daily_rep0.parquet``) holds such values: NaN where a
column does not apply to the row (``released`` for a node that is not a stockpile,
``demand`` for a non-market input, ...) and ``inf`` as a stockpile's
``capacity_available`` (its release is not limited). Anything else is reported.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from crmsim.experiment.pool import deferred_sigint
from crmsim.experiment.runner import RunResult

__all__ = [
    "RESULT_FILES",
    "NonFinite",
    "OutputError",
    "atomic_output",
    "check_output",
    "file_sha256",
    "find_non_finite",
    "write_run",
]

#: Every file a results folder may hold.
RESULT_FILES = (
    "manifest.json",
    "summary.parquet",
    "summary.csv",
    "market_summary.parquet",
    "disruptions.parquet",
    "bands.parquet",
    "daily_rep0.parquet",
)


class OutputError(Exception):
    """A results folder cannot be used or written (the message is one line)."""


@dataclass(frozen=True)
class NonFinite:
    """NaN or infinite values found in one column of a results table.

    Attributes
    ----------
    table : str
        The results table (``summary``, ``market_summary``, ``disruptions``, ``bands``,
        ``daily_rep0``).
    column : str
        The column.
    count : int
        How many values of the column are not finite.
    where : str
        The first one's row: replication, market, node, disruption, day.
    value : float
        The first one's value.
    """

    table: str
    column: str
    count: int
    where: str
    value: float

    def __str__(self) -> str:
        more = f" (and {self.count - 1} more in the column)" if self.count > 1 else ""
        return f"{self.table}: {self.column} is {self.value} at {self.where}{more}"


#: Columns that locate a row, in the order they are named.
_KEYS = ("replication", "market", "disruption", "node", "material", "stock", "day")


def _scan(
    df: pd.DataFrame,
    table: str,
    *,
    allowed: dict[str, np.ndarray] | None = None,
) -> list[NonFinite]:
    """Non-finite values of the float columns of ``df``; ``allowed`` marks exceptions."""
    found = []
    for column in df.columns:
        if column in _KEYS or not pd.api.types.is_float_dtype(df[column]):
            continue
        values = df[column].to_numpy(dtype=float, na_value=np.nan)
        bad = ~np.isfinite(values)
        if allowed and column in allowed:
            bad &= ~allowed[column]
        if not bad.any():
            continue
        i = int(np.argmax(bad))
        where = ", ".join(f"{k} {df[k].iloc[i]}" for k in _KEYS if k in df.columns) or "row 0"
        found.append(NonFinite(table, str(column), int(bad.sum()), where, float(values[i])))
    return found


def _daily_allowed(daily: pd.DataFrame) -> dict[str, np.ndarray]:
    """Where NaN (or inf) is part of the daily record's design (see the module notes)."""
    output = (daily["stock"] == "output").to_numpy()
    nan = {c: daily[c].isna().to_numpy() for c in daily.columns if c not in _KEYS}
    stockpile = output & ~nan["released"]
    # an input row is a market's when it has demand, served and unmet (all three)
    not_market = output | (nan["demand"] & nan["served"] & nan["unmet"])
    allowed = {
        "released": nan["released"],  # not a stockpile (or an input row)
        "collected": nan["collected"],  # not a recycler (or an input row)
        "produced": ~output & nan["produced"],
        "shipped": ~output & nan["shipped"],
        "capacity_available": (~output & nan["capacity_available"])
        | (stockpile & (daily["capacity_available"] == np.inf).to_numpy()),
        "received": output & nan["received"],
        "consumed": output & nan["consumed"],
    }
    for c in ("demand", "served", "unmet"):
        allowed[c] = not_market & nan[c]
    return allowed


def find_non_finite(run: RunResult, *, daily: bool = True) -> list[NonFinite]:
    """NaN or infinite values in a run's tables, where the design does not put them.

    Parameters
    ----------
    run : RunResult
        From :func:`crmsim.experiment.run_replications`.
    daily : bool
        Also check replication 0's daily record, when kept (building that table costs
        time on large networks: skip it when it is not written).

    Returns
    -------
    list of NonFinite
        One entry per table and column, locating the first bad value (empty when every
        table is as designed).

    Examples
    --------
    >>> import dataclasses
    >>> import pandas as pd
    >>> from crmsim.experiment.runner import RunResult
    >>> empty = pd.DataFrame()
    >>> run = RunResult("x", 1, 2, pd.DataFrame({"replication": [0, 1],
    ...     "fill_rate": [1.0, float("nan")]}), empty, empty, empty, None)
    >>> [str(p) for p in find_non_finite(run)]
    ['summary: fill_rate is nan at replication 1']
    """
    found = []
    for table in ("summary", "market_summary", "disruptions", "bands"):
        found += _scan(getattr(run, table), table)
    if daily and run.first is not None:
        table = run.first.daily
        found += _scan(table, "daily_rep0", allowed=_daily_allowed(table))
    return found


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


def _holds_results(out: Path) -> bool:
    """Whether ``out`` is a folder holding something (results or not)."""
    return out.is_dir() and any(out.iterdir())


def check_output(out: str | Path, *, overwrite: bool = False) -> None:
    """Check, before a run, that its results could be written to ``out``.

    The folder may be new or empty, or (with ``overwrite``) hold earlier crmsim results
    and nothing else; its nearest existing parent must be a folder in which this process
    can create files. Nothing is left behind by the check.

    Parameters
    ----------
    out : str or Path
        The results folder.
    overwrite : bool
        Whether earlier results there may be replaced.

    Raises
    ------
    OutputError
        Saying why not, in one line.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     check_output(Path(tmp) / "new" / "results")
    ...     (Path(tmp) / "file").write_text("x")
    ...     check_output(Path(tmp) / "file" / "results")
    Traceback (most recent call last):
    ...
    crmsim.experiment.io.OutputError: ...: cannot create it: .../file is a file, not a folder
    """
    out = Path(out)
    try:
        _check_output(out, overwrite)
    except OSError as exc:  # e.g. a folder this process may not read
        raise OutputError(f"{out}: {exc.strerror or exc}") from None


def _check_output(out: Path, overwrite: bool) -> None:
    if out.name in ("", ".", "..") or Path(os.path.abspath(out)) == Path.cwd():
        raise OutputError(f"{out}: name a new folder for the results, not this one or a parent")
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out}: exists and is not a folder")
    if _holds_results(out):
        manifest = out / "manifest.json"
        if not manifest.is_file():
            raise OutputError(
                f"{out}: the folder is not empty and holds no crmsim results "
                "(no manifest.json); use a new or empty folder"
            )
        if not overwrite:
            raise OutputError(
                f"{out}: results already there (manifest.json); use --overwrite or another --out"
            )
        known = set(RESULT_FILES)
        with contextlib.suppress(OSError, ValueError, AttributeError):
            known |= set(json.loads(manifest.read_text(encoding="utf-8"))["files"])
        foreign = sorted(p.name for p in out.iterdir() if p.name not in known)
        if foreign:
            shown = ", ".join(foreign[:3]) + (", ..." if len(foreign) > 3 else "")
            raise OutputError(
                f"{out}: holds files crmsim did not write ({shown}); they would be "
                "removed with the old results: move them or use another folder"
            )
    parent = out.absolute().parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise OutputError(f"{out}: cannot create it: {parent} is a file, not a folder")
    try:
        os.rmdir(tempfile.mkdtemp(prefix=f".{out.name}.check-", dir=parent))
    except OSError as exc:
        why = exc.strerror or exc
        raise OutputError(f"{out}: cannot create files in {parent}: {why}") from None


def _swap_in(new: Path, out: Path) -> None:
    """Move the complete folder ``new`` to ``out``, replacing what was there.

    Ctrl-C is held back during the renames, so it cannot strike between them.
    """
    old = None
    try:
        with deferred_sigint():
            if not _holds_results(out):
                os.replace(new, out)  # a new name, or an empty folder: one atomic rename
                return
            aside = out.with_name(f".{out.name}.old-{uuid.uuid4().hex[:8]}")
            os.replace(out, aside)
            try:
                os.replace(new, out)
            except BaseException:
                os.replace(aside, out)  # if even this fails, `aside` keeps the old results
                raise
            old = aside
    finally:
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


@contextmanager
def atomic_output(out: str | Path) -> Iterator[Path]:
    """Write a results folder atomically: fill the folder yielded, which becomes ``out``.

    The folder yielded is a hidden temporary sibling of ``out``. When the block ends
    normally it is renamed to ``out``, replacing earlier results there (moved aside
    first, removed once the new folder is in place); when the block fails or is
    interrupted, it is removed and ``out`` is left as it was. Call
    :func:`check_output` first: this does not ask whether ``out`` may be replaced.

    Parameters
    ----------
    out : str or Path
        The results folder (its parents are created if missing).

    Yields
    ------
    Path
        The temporary folder to write the files into.

    Raises
    ------
    OutputError
        When a file cannot be written or the folder cannot be renamed (an ``OSError``:
        a full disk, a read-only file system); the message says whether earlier results
        were kept.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     with atomic_output(Path(tmp) / "res") as folder:
    ...         _ = (folder / "a.csv").write_text("x")
    ...     sorted(p.name for p in Path(tmp).iterdir())
    ['res']
    """
    out = Path(out)
    had_results = _holds_results(out)
    kept = f"the earlier results in {out} are kept" if had_results else "nothing was written"
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{out.name}.tmp-{uuid.uuid4().hex[:8]}")
        tmp.mkdir()  # (not mkdtemp: the results keep the permissions the umask gives)
    except OSError as exc:
        raise OutputError(f"{out}: cannot write the results: {exc.strerror or exc}") from None
    try:
        yield tmp
        _swap_in(tmp, out)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise OutputError(
            f"{out}: writing the results failed ({exc.strerror or exc}); {kept}"
        ) from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_run(
    run: RunResult,
    out: str | Path,
    *,
    scenario_file: str | Path | None = None,
    options: dict[str, Any] | None = None,
    non_finite: list[NonFinite] | None = None,
) -> dict[str, Any]:
    """Write a run's tables and ``manifest.json`` into a folder, atomically.

    Files: ``summary.parquet`` and ``summary.csv`` (one row per replication),
    ``market_summary.parquet``, ``disruptions.parquet``, ``bands.parquet`` (daily
    performance quantiles over replications) and, when kept, ``daily_rep0.parquet``
    (replication 0's full daily record). Earlier results in the folder are replaced as a
    whole (see the module notes); :func:`check_output` says when they may not be.

    Parameters
    ----------
    run : RunResult
        From :func:`crmsim.experiment.run_replications`.
    out : str or Path
        Output folder (created, with its parents, if missing).
    scenario_file : str or Path, optional
        The scenario file, whose SHA-256 is recorded.
    options : dict, optional
        Run options to record (command-line settings).
    non_finite : list of NonFinite, optional
        The run's non-finite values, if already found (:func:`find_non_finite`);
        recorded in the manifest (``status: "non-finite values"``).

    Returns
    -------
    dict
        The manifest written.

    Raises
    ------
    OutputError
        When the folder cannot be used (:func:`check_output`) or writing fails; the
        message says whether earlier results were kept. Nothing half-written is left.
    """
    from crmsim import __version__

    out = Path(out)
    check_output(out, overwrite=True)
    if non_finite is None:
        non_finite = find_non_finite(run)
    with atomic_output(out) as tmp:
        files: dict[str, str] = {}

        def put(name: str, df: pd.DataFrame) -> None:
            if name.endswith(".csv"):
                df.to_csv(tmp / name, index=False)
            else:
                df.to_parquet(tmp / name, index=False)
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
            "status": "non-finite values" if non_finite else "complete",
            "non_finite": [str(p) for p in non_finite],
            "files": files,
        }
        text = json.dumps(manifest, indent=2) + "\n"
        (tmp / "manifest.json").write_text(text, encoding="utf-8")
    return manifest
