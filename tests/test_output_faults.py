"""`crmsim run --out`: checked before the run, written atomically, NaN/inf never silent.

Tests run as root here, so a folder made read-only with chmod would not stop them: the
unwritable places are a path under a regular file, /proc and /sys, and faults while
writing are injected (a full disk as ``OSError(ENOSPC)``, Ctrl-C as ``KeyboardInterrupt``).
"""

from __future__ import annotations

import dataclasses
import errno
import json
import os
import signal
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import crmsim.experiment
from crmsim import load_scenario
from crmsim.cli import cli
from crmsim.experiment import io, run_replications
from crmsim.experiment.io import OutputError, check_output, find_non_finite, write_run
from crmsim.policy import apply_policies

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = sorted((ROOT / "scenarios").glob("*.yaml"))
TUTORIAL = str(ROOT / "scenarios" / "tutorial.yaml")


@pytest.fixture
def no_simulation(monkeypatch):
    """Fail the test if the command gets as far as simulating."""

    def refuse(*args, **kwargs):
        raise AssertionError("simulated although --out is unusable")

    monkeypatch.setattr(crmsim.experiment, "run_replications", refuse)


@pytest.fixture
def old_results(cli_runner, tmp_path):
    """A results folder from an earlier run, and a snapshot of its bytes."""
    out = tmp_path / "res"
    res = cli_runner.invoke(cli, ["run", TUTORIAL, "-r", "2", "-s", "1", "-o", str(out)])
    assert res.exit_code == 0, res.output
    return out, _snapshot(out)


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def _leftovers(parent: Path) -> list[str]:
    """Hidden temporary folders left next to a results folder."""
    return sorted(p.name for p in parent.iterdir() if p.name.startswith("."))


def _one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    assert "Traceback" not in text
    return lines[0]


# --------------------------------------------------------------- before the run
def test_out_under_a_file_is_refused_before_simulating(cli_runner, tmp_path, no_simulation):
    (tmp_path / "notes.txt").write_text("x")
    out = tmp_path / "notes.txt" / "res"
    res = cli_runner.invoke(cli, ["run", TUTORIAL, "-o", str(out)])
    assert res.exit_code == 1
    line = _one_line(res.stderr)
    file = tmp_path / "notes.txt"
    assert line == f"--out {out}: cannot create it: {file} is a file, not a folder"
    assert res.stdout == ""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc and /sys are Linux")
@pytest.mark.parametrize("out", ["/proc/crmsim-test/res", "/sys/crmsim-test"])
def test_out_on_a_system_file_system_is_refused_before_simulating(cli_runner, out, no_simulation):
    if os.access(Path(out).parent, os.W_OK) and Path(out).parent == Path("/sys"):
        try:  # /sys is writable only in unusual containers
            os.mkdir(out)
        except OSError:
            pass
        else:
            os.rmdir(out)
            pytest.skip("/sys is writable here")
    res = cli_runner.invoke(cli, ["run", TUTORIAL, "-o", out])
    assert res.exit_code == 1
    assert _one_line(res.stderr).startswith(f"--out {out}: cannot create files in /")
    assert not Path(out).exists()


@pytest.mark.skipif(os.geteuid() == 0 if hasattr(os, "geteuid") else True, reason="root")
def test_out_in_a_read_only_folder_is_refused_before_simulating(
    cli_runner, tmp_path, no_simulation
):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        res = cli_runner.invoke(cli, ["run", TUTORIAL, "-o", str(locked / "res")])
    finally:
        locked.chmod(0o700)
    assert res.exit_code == 1
    assert "Permission denied" in _one_line(res.stderr)


def test_a_read_only_file_system_is_refused_before_simulating(
    cli_runner, tmp_path, monkeypatch, no_simulation
):
    """What a read-only mount answers (EROFS), injected where the check creates a file."""

    def erofs(*args, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr(io.tempfile, "mkdtemp", erofs)
    res = cli_runner.invoke(cli, ["run", TUTORIAL, "-o", str(tmp_path / "res")])
    assert res.exit_code == 1
    assert _one_line(res.stderr) == (
        f"--out {tmp_path / 'res'}: cannot create files in {tmp_path}: Read-only file system"
    )


def test_existing_results_are_kept_without_overwrite(cli_runner, old_results, no_simulation):
    out, before = old_results
    res = cli_runner.invoke(cli, ["run", TUTORIAL, "-o", str(out)])
    assert res.exit_code == 1
    assert "--overwrite" in _one_line(res.stderr)
    assert _snapshot(out) == before


def test_a_folder_that_is_not_crmsim_results_is_never_replaced(cli_runner, tmp_path, no_simulation):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("months of work")
    for extra in ([], ["--overwrite"]):
        res = cli_runner.invoke(cli, ["run", TUTORIAL, "-o", str(mine), *extra])
        assert res.exit_code == 1
        assert "holds no crmsim results" in _one_line(res.stderr)
    assert (mine / "thesis.tex").read_text() == "months of work"


def test_results_with_foreign_files_are_not_replaced(cli_runner, old_results, no_simulation):
    out, _ = old_results
    (out / "my_plot.png").write_bytes(b"png")
    res = cli_runner.invoke(cli, ["run", TUTORIAL, "-o", str(out), "--overwrite"])
    assert res.exit_code == 1
    assert "crmsim did not write (my_plot.png)" in _one_line(res.stderr)
    assert (out / "my_plot.png").exists()


def test_check_output_leaves_nothing_behind(tmp_path):
    check_output(tmp_path / "a" / "b")
    assert list(tmp_path.iterdir()) == []


# ----------------------------------------------------------- writing the results
def test_overwrite_removes_stale_files(cli_runner, old_results):
    out, before = old_results
    assert "daily_rep0.parquet" in before
    res = cli_runner.invoke(
        cli, ["run", TUTORIAL, "-r", "2", "-s", "2", "-o", str(out), "--overwrite", "--no-daily"]
    )
    assert res.exit_code == 0, res.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["seed"] == 2
    assert sorted(p.name for p in out.iterdir()) == sorted([*manifest["files"], "manifest.json"])
    assert not (out / "daily_rep0.parquet").exists()
    assert _leftovers(out.parent) == []


def _fail_on_call(monkeypatch, n: int, error: BaseException) -> None:
    """Make the n-th Parquet file written fail with ``error``."""
    real = pd.DataFrame.to_parquet
    calls = [0]

    def to_parquet(self, *args, **kwargs):
        calls[0] += 1
        if calls[0] == n:
            raise error
        return real(self, *args, **kwargs)

    monkeypatch.setattr(pd.DataFrame, "to_parquet", to_parquet)


def test_a_full_disk_keeps_the_old_results(cli_runner, old_results, monkeypatch):
    out, before = old_results
    _fail_on_call(monkeypatch, 3, OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)))
    res = cli_runner.invoke(cli, ["run", TUTORIAL, "-r", "2", "-o", str(out), "--overwrite"])
    assert res.exit_code == 1
    assert _one_line(res.stderr) == (
        f"crmsim run: {out}: writing the results failed (No space left on device); "
        f"the earlier results in {out} are kept"
    )
    assert _snapshot(out) == before
    assert _leftovers(out.parent) == []


def test_a_full_disk_on_a_first_run_leaves_nothing(cli_runner, tmp_path, monkeypatch):
    _fail_on_call(monkeypatch, 1, OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)))
    out = tmp_path / "res"
    res = cli_runner.invoke(cli, ["run", TUTORIAL, "-r", "2", "-o", str(out)])
    assert res.exit_code == 1
    assert _one_line(res.stderr).endswith("(No space left on device); nothing was written")
    assert list(tmp_path.iterdir()) == []


def test_ctrl_c_while_writing_keeps_the_old_results(cli_runner, old_results, monkeypatch):
    out, before = old_results
    _fail_on_call(monkeypatch, 2, KeyboardInterrupt())
    res = cli_runner.invoke(cli, ["run", TUTORIAL, "-r", "2", "-o", str(out), "--overwrite"])
    assert res.exit_code == 130
    assert _one_line(res.stderr) == (
        f"crmsim run: interrupted: no results written; the earlier results in {out}/ are kept"
    )
    assert _snapshot(out) == before
    assert _leftovers(out.parent) == []


def test_a_failed_rename_puts_the_old_results_back(old_results, monkeypatch, tmp_path):
    out, before = old_results
    run = run_replications(load_scenario(TUTORIAL), 2, 9, keep_first_daily=False)
    real = os.replace

    def replace(src, dst):
        if Path(src).name.startswith(".res.tmp-"):
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        return real(src, dst)

    monkeypatch.setattr(io.os, "replace", replace)
    with pytest.raises(OutputError, match=r"failed \(Input/output error\); the earlier results"):
        write_run(run, out)
    assert _snapshot(out) == before
    assert _leftovers(out.parent) == []


@pytest.mark.skipif(not hasattr(signal, "pthread_sigmask"), reason="POSIX signals")
def test_ctrl_c_cannot_strike_between_the_renames(old_results, monkeypatch):
    """Ctrl-C as the old folder is moved aside is delivered once the new one is in place."""
    out, _ = old_results
    run = run_replications(load_scenario(TUTORIAL), 2, 9, keep_first_daily=False)
    real = os.replace

    def replace(src, dst):
        real(src, dst)
        if Path(dst).name.startswith(".res.old-"):
            signal.raise_signal(signal.SIGINT)

    monkeypatch.setattr(io.os, "replace", replace)
    with pytest.raises(KeyboardInterrupt):
        write_run(run, out)
    assert json.loads((out / "manifest.json").read_text())["seed"] == 9
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [*json.loads((out / "manifest.json").read_text())["files"], "manifest.json"]
    )
    assert _leftovers(out.parent) == []


# ------------------------------------------------------------- NaN and infinity
@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_every_shipped_scenario_and_policy_gives_finite_results(path):
    """NaN in the daily record only where a column does not apply; inf only for stockpiles."""
    scenario = load_scenario(path)
    for policy in ["baseline", *(p.id for p in scenario.policies)]:
        app = apply_policies(scenario, policy)
        run = run_replications(app.scenario, 2, 4, application=app)
        assert find_non_finite(run) == [], policy
    daily = run.first.daily
    assert daily["released"].isna().any()  # the design does put NaN there


@pytest.fixture(scope="module")
def clean_run():
    app = apply_policies(load_scenario(TUTORIAL), "stockpile_30d")
    run = run_replications(app.scenario, 3, 4, application=app)
    assert find_non_finite(run) == []
    return run


def _with(run, table: str, column: str, row: int, value: float):
    df = getattr(run, table).copy()
    df.loc[row, column] = value
    return dataclasses.replace(run, **{table: df})


@pytest.mark.parametrize(
    ("table", "column", "row", "where"),
    [
        ("summary", "resilience_loss", 2, "replication 2"),
        ("market_summary", "fill_rate", 1, "replication 1, market eu_industry, material parts"),
        ("disruptions", "ttr", 0, "replication 0, disruption refinery_chn_shutdown"),
        ("bands", "q95", 7, "market (all), day 7"),
    ],
)
def test_a_nan_or_inf_is_located(clean_run, table, column, row, where):
    for value in (np.nan, np.inf, -np.inf):
        (problem,) = find_non_finite(_with(clean_run, table, column, row, value))
        assert (problem.table, problem.column, problem.count) == (table, column, 1)
        assert problem.where == where
        assert str(problem) == f"{table}: {column} is {value} at {where}"


class _Daily:
    def __init__(self, daily):
        self.daily = daily


def _daily_problems(run, mask_of, column, value):
    daily = run.first.daily.copy()
    rows = np.flatnonzero(mask_of(daily))
    daily.loc[rows[5], column] = value
    return find_non_finite(dataclasses.replace(run, first=_Daily(daily))), daily.loc[rows[5]]


@pytest.mark.parametrize(
    ("column", "rows", "value"),
    [
        ("on_hand", lambda d: d["stock"] == "input", np.nan),
        ("served", lambda d: d["demand"].notna(), np.nan),  # a market's input row
        ("capacity_available", lambda d: d["released"].isna() & (d["stock"] == "output"), np.inf),
        ("capacity_available", lambda d: d["released"].notna(), -np.inf),  # a stockpile
        ("produced", lambda d: d["stock"] == "output", np.nan),
        ("received", lambda d: d["stock"] == "input", np.inf),
    ],
)
def test_non_finite_daily_values_outside_the_design_are_located(clean_run, column, rows, value):
    problems, row = _daily_problems(clean_run, rows, column, value)
    assert [(p.table, p.column) for p in problems] == [("daily_rep0", column)]
    assert problems[0].where == (
        f"node {row['node']}, material {row['material']}, stock {row['stock']}, day {row['day']}"
    )


def test_nan_results_are_reported_written_for_inspection_and_exit_1(
    cli_runner, clean_run, monkeypatch, tmp_path
):
    bad = _with(clean_run, "market_summary", "unmet", 1, np.nan)
    monkeypatch.setattr(crmsim.experiment, "run_replications", lambda *a, **k: bad)
    out = tmp_path / "res"
    res = cli_runner.invoke(cli, ["run", TUTORIAL, "-o", str(out)])
    assert res.exit_code == 1
    assert "Traceback" not in res.output
    lines = res.stderr.strip().splitlines()
    assert lines[0] == (
        "crmsim run: not a finite number: market_summary: unmet is nan at "
        "replication 1, market eu_industry, material parts"
    )
    assert "written to" in lines[1]
    assert len(lines) == 2
    assert "fill rate" not in res.stdout  # no summary table printed from NaN
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "non-finite values"
    assert manifest["non_finite"] == [lines[0].removeprefix("crmsim run: not a finite number: ")]
    no_out = cli_runner.invoke(cli, ["run", TUTORIAL])
    assert no_out.exit_code == 1
    assert no_out.stderr.strip().splitlines()[-1] == "crmsim run: no results written (no --out)"


def test_a_finite_run_is_marked_complete(old_results):
    out, _ = old_results
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    assert manifest["non_finite"] == []


@pytest.mark.parametrize("out", [".", "..", "sub/.."])
def test_the_current_folder_or_a_parent_is_not_a_results_folder(
    cli_runner, tmp_path, monkeypatch, no_simulation, out
):
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path / "sub")
    res = cli_runner.invoke(cli, ["run", TUTORIAL, "-o", out])
    assert res.exit_code == 1
    assert _one_line(res.stderr) == (
        f"--out {out}: name a new folder for the results, not this one or a parent"
    )
