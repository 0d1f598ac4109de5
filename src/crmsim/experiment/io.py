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
    "RUN_DICTIONARY",
    "NonFinite",
    "OutputError",
    "atomic_output",
    "check_output",
    "file_sha256",
    "find_non_finite",
    "readme_text",
    "run_dictionary",
    "write_run",
]

#: Every file a results folder may hold.
RESULT_FILES = (
    "manifest.json",
    "README.md",
    "data_dictionary.csv",
    "summary.parquet",
    "summary.csv",
    "market_summary.parquet",
    "market_summary.csv",
    "disruptions.parquet",
    "disruptions.csv",
    "bands.parquet",
    "bands.csv",
    "daily_rep0.parquet",
    "daily_rep0.csv",
)

_PERF = "fraction 0–1"

#: The columns of a ``crmsim run`` results folder: table → column → (meaning, unit).
#: Units: ``unit`` is the market's unit (``material`` names it in README.md), ``currency``
#: the scenario's currency.
RUN_DICTIONARY: dict[str, dict[str, tuple[str, str]]] = {
    "summary": {
        "replication": ("replication number (its random numbers come from seed and it)", ""),
        "fill_rate": ("Σ served ÷ Σ demand over all markets and scored days", _PERF),
        "demand": ("demand of all markets over the scored days", "unit"),
        "served": ("demand served on the day it arose", "unit"),
        "unmet": ("demand not served on the day it arose (lost or back-ordered)", "unit"),
        "nadir": ("lowest daily performance served(t) ÷ demand(t), all markets", _PERF),
        "resilience_loss": ("Σ_t (1 − performance(t)) over the scored days", "days"),
        "resilience_index": ("1 − resilience_loss ÷ scored days", _PERF),
        "disruptions": ("realised disruption events", "count"),
        "disruptions_overlapping": ("events whose impact overlaps another's", "count"),
        "ttr_max": ("longest TTR of an impacted event overlapping no other", "days"),
        "ttr_censored": ("one of those is censored: ttr_max is a lower bound", "bool"),
        "cost_capex": ("realised capital cost of the policy in this replication", "currency"),
        "cost_opex": ("realised operating cost over the scored horizon", "currency"),
        "cost_holding": ("stockpile holding cost over the scored horizon", "currency"),
        "cost_total": ("capex + opex + holding", "currency"),
        "simpy_events": ("events on the SimPy calendar (a measure of work)", "count"),
        "seconds": ("wall time of the replication", "s"),
    },
    "market_summary": {
        "replication": ("replication number", ""),
        "market": ("market node id", ""),
        "material": ("the material the market buys (its unit: README.md)", ""),
        "demand": ("demand over the scored days", "unit"),
        "served": ("demand served on the day it arose", "unit"),
        "unmet": ("demand not served on the day it arose", "unit"),
        "fill_rate": ("served ÷ demand", _PERF),
        "nadir": ("lowest daily performance of the market", _PERF),
        "resilience_loss": ("Σ_t (1 − performance(t)) over the scored days", "days"),
        "resilience_index": ("1 − resilience_loss ÷ scored days", _PERF),
    },
    "disruptions": {
        "replication": ("replication number", ""),
        "event": ("key of the event: disruption[target]#k", ""),
        "disruption": ("disruption id in the scenario", ""),
        "occurrence": ("k: the event's number among the disruption's events", ""),
        "kind": ("outage, export_restriction, logistics or demand_shock", ""),
        "target": ("the node or edge it hit", ""),
        "start": ("first scored day in force (negative: in the warm-up)", "day"),
        "end": ("first scored day after it", "day"),
        "severity": ("share of capacity or flow lost (outage, export restriction)", _PERF),
        "factor": ("lead-time or demand multiplier (logistics, demand shock)", "×"),
        "stochastic": ("drawn at random (not a scheduled event)", "bool"),
        "has_effect": ("severity above 0 or factor other than 1", "bool"),
        "markets": ("markets it can reach, comma-separated", ""),
        "impacted": ("it lowered the performance of a market it can reach", "bool"),
        "ttr": ("time to recover (censored: counted to the end of the horizon)", "days"),
        "censored": ("not recovered by the end of the horizon", "bool"),
        "overlapping": ("its impact overlaps another event's", "bool"),
        "overlaps": ("the events (key) whose impact it overlaps, comma-separated", ""),
    },
    "bands": {
        "day": ("scored day (0 = first day after the warm-up)", "day"),
        "market": ("market id, or (all) for all markets together (Σ served ÷ Σ demand)", ""),
        "mean": ("mean over replications of daily performance served(t) ÷ demand(t)", _PERF),
        "q05": ("5 % quantile over replications of daily performance", _PERF),
        "q25": ("25 % quantile over replications of daily performance", _PERF),
        "q50": ("median over replications of daily performance", _PERF),
        "q75": ("75 % quantile over replications of daily performance", _PERF),
        "q95": ("95 % quantile over replications of daily performance", _PERF),
    },
    "daily_rep0": {
        "day": ("day (negative: the warm-up)", "day"),
        "node": ("node id", ""),
        "material": ("material of the row", ""),
        "stock": ("output (what the node makes) or input (what it uses)", ""),
        "on_hand": ("stock on hand at the end of the day", "unit of the material"),
        "produced": ("made that day (a recycler: recovered); output rows", "unit of the material"),
        "shipped": ("shipped to buyers that day; output rows", "unit of the material"),
        "capacity_available": ("capacity × availability × entry ramp; output rows",
                               "unit of the material per day"),
        "released": ("released from a stockpile that day", "unit of the material"),
        "collected": ("end-of-life units a recycler collected that day", "unit of the material"),
        "received": ("arrived from suppliers that day; input rows", "unit of the material"),
        "consumed": ("used by production that day; input rows", "unit of the material"),
        "demand": ("a market's demand that day", "unit of the material"),
        "served": ("a market's demand served that day", "unit of the material"),
        "unmet": ("a market's demand not served that day", "unit of the material"),
    },
}


def run_dictionary(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The data dictionary of a run's tables (``table, column, meaning, unit``).

    Every column of every table has a row; a column crmsim does not describe (there
    should be none: a test checks) is listed with an empty meaning.
    """
    rows = []
    for name, df in tables.items():
        known = RUN_DICTIONARY.get(name, {})
        for c in df.columns:
            meaning, unit = known.get(str(c), ("", ""))
            rows.append({"table": name, "column": str(c), "meaning": meaning, "unit": unit})
    return pd.DataFrame(rows, columns=["table", "column", "meaning", "unit"])


def readme_text(
    title: str,
    about: list[str],
    dictionary: pd.DataFrame,
    files: dict[str, str],
    *,
    currency: str | None = None,
    units: dict[str, str] | None = None,
) -> str:
    """The ``README.md`` of a results folder: what it is, its files, every column.

    Parameters
    ----------
    title : str
        First heading.
    about : list of str
        Lines under it (what produced the folder).
    dictionary : DataFrame
        ``table, column, meaning, unit``; the unit ``currency`` (also in ``currency/pp``)
        is replaced by ``currency``, ``unit`` by "the market's unit".
    files : dict
        File → what it holds (rows).
    currency : str, optional
        The scenario's currency.
    units : dict, optional
        Material → unit, listed so that "the market's unit" can be looked up.

    Returns
    -------
    str
        Markdown.

    Examples
    --------
    >>> d = pd.DataFrame({"table": ["costs"], "column": ["cost_mean"],
    ...                   "meaning": ["mean cost"], "unit": ["currency"]})
    >>> text = readme_text("T", [], d, {"costs.csv": "2 rows"}, currency="USD")
    >>> print(text)  # doctest: +ELLIPSIS
    # T
    ...| `cost_mean` | mean cost | USD |
    <BLANKLINE>
    """
    lines = [f"# {title}", ""]
    lines += [*about, ""] if about else []
    lines += [
        "Every table is here twice: as CSV (opens in a spreadsheet; UTF-8, comma-separated,",
        "a dot as decimal sign) and as Parquet (for pandas, R, DuckDB). An empty cell is a",
        "value that does not apply to the row or is undefined. `manifest.json` records what",
        "produced the numbers (crmsim version, scenario file and its SHA-256, seed, options).",
        "",
        "## Files",
        "",
        "| file | contents |",
        "|---|---|",
    ]
    lines += [f"| `{f}` | {what} |" for f, what in files.items()]
    if units:
        lines += ["", "## Units", ""]
        lines += [f"* `{m}`: {u}" for m, u in sorted(units.items())]
        lines += ["", "A column in *the market's unit* is in the unit of the market's material."]
    if currency:
        lines += ["", f"Money is in {currency} (the scenario's `currency`)."]
    lines += ["", "## Data dictionary"]

    def unit_of(u: str) -> str:
        u = str(u or "")
        if currency:
            u = u.replace("currency", currency)
        if u == "unit":
            return "the market's unit"
        return u.replace("/unit", " per unit of the market's material")

    for table, g in dictionary.groupby("table", sort=False):
        lines += ["", f"### `{table}`", "", "| column | meaning | unit |", "|---|---|---|"]
        for _i, r in g.iterrows():
            meaning = str(r["meaning"]).replace("|", "\\|")
            lines.append(f"| `{r['column']}` | {meaning} | {unit_of(r['unit'])} |")
    return "\n".join(lines) + "\n"


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
    currency: str | None = None,
    units: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Write a run's tables and ``manifest.json`` into a folder, atomically.

    Files, each as Parquet and CSV: ``summary`` (one row per replication),
    ``market_summary``, ``disruptions``, ``bands`` (daily performance quantiles over
    replications) and, when kept, ``daily_rep0`` (replication 0's full daily record);
    ``data_dictionary.csv`` and ``README.md`` (every file and column, its meaning and
    unit) and ``manifest.json``. Earlier results in the folder are replaced as a
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
    currency : str, optional
        The scenario's currency, for README.md.
    units : dict, optional
        Material → unit, for README.md.

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

        tables = {
            "summary": run.summary,
            "market_summary": run.market_summary,
            "disruptions": run.disruptions,
            "bands": run.bands,
        }
        if run.first is not None:
            tables["daily_rep0"] = run.first.daily
        for name, df in tables.items():
            put(f"{name}.parquet", df)
            put(f"{name}.csv", df)
        dictionary = run_dictionary(tables)
        put("data_dictionary.csv", dictionary)
        files["README.md"] = "what this folder holds: its files and every column (this file)"
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
        about = [
            f"Results of `crmsim run`: {run.replications} replications of "
            f"*{run.scenario_name}* with seed {run.seed}"
            + (f" (scenario file `{scenario_file}`)" if scenario_file else "") + ".",
        ]
        (tmp / "README.md").write_text(
            readme_text("crmsim run results", about, dictionary, files, currency=currency,
                        units=units),
            encoding="utf-8",
        )  # fmt: skip
    return manifest
