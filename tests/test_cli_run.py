"""`crmsim run` on every shipped scenario, and its results files."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

import crmsim.experiment
from cli_helpers import one_worker
from crmsim.cli import cli, commands_scenario, main
from crmsim.experiment import pool, runner

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = sorted((ROOT / "scenarios").glob("*.yaml"))
TUTORIAL = str(ROOT / "scenarios" / "tutorial.yaml")


def invoke(args):
    return CliRunner().invoke(cli, one_worker(args), catch_exceptions=False)


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_run_every_shipped_scenario(path, tmp_path):
    out = tmp_path / "res"
    res = invoke(["run", str(path), "-r", "2", "-s", "3", "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert "fill rate" in res.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["replications"] == 2
    assert manifest["seed"] == 3
    assert len(manifest["scenario_sha256"]) == 64
    summary = pd.read_parquet(out / "summary.parquet")
    assert list(summary["replication"]) == [0, 1]
    assert summary["fill_rate"].between(0, 1).all()
    daily = pd.read_parquet(out / "daily_rep0.parquet")
    assert {"day", "node", "material", "on_hand"} <= set(daily.columns)
    bands = pd.read_parquet(out / "bands.parquet")
    assert (bands["q05"] <= bands["q95"] + 1e-12).all()


def test_run_refuses_to_overwrite_results(tmp_path):
    out = tmp_path / "res"
    path = str(ROOT / "scenarios" / "tutorial.yaml")
    assert invoke(["run", path, "-r", "1", "-o", str(out)]).exit_code == 0
    again = invoke(["run", path, "-r", "1", "-o", str(out)])
    assert again.exit_code == 1
    assert "--overwrite" in again.output
    assert invoke(["run", path, "-r", "1", "-o", str(out), "--overwrite"]).exit_code == 0


def test_run_results_do_not_depend_on_the_number_of_workers(tmp_path):
    path = str(ROOT / "scenarios" / "pharma_api80.yaml")
    for w in ("1", "2"):
        res = invoke(
            ["run", path, "-r", "4", "-s", "11", "-w", w, "-o", str(tmp_path / w), "--no-daily"]
        )
        assert res.exit_code == 0, res.output
    a = pd.read_parquet(tmp_path / "1" / "summary.parquet").drop(columns=["seconds"])
    b = pd.read_parquet(tmp_path / "2" / "summary.parquet").drop(columns=["seconds"])
    pd.testing.assert_frame_equal(a, b)


def test_run_on_a_broken_file_exits_nonzero_without_traceback(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("crmsim: 1\nname: x\nmaterials: []\nnodes: []\n")
    res = invoke(["run", str(bad)])
    assert res.exit_code == 1
    assert "Traceback" not in res.output
    missing = invoke(["run", str(tmp_path / "nope.yaml")])
    assert missing.exit_code != 0
    assert "Traceback" not in missing.output


def test_python_dash_m_crmsim_runs(tmp_path):
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "crmsim",
            "run",
            str(ROOT / "scenarios" / "tutorial.yaml"),
            "-r",
            "1",
            "--no-daily",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert res.returncode == 0, res.stderr
    assert "fill rate" in res.stdout


def _run_then_interrupt(args: list[str], delay: float) -> subprocess.CompletedProcess:
    """Start `python -m crmsim run ARGS`, then press Ctrl-C once it has started.

    SIGINT goes to the whole process group, as a terminal sends it (workers included).
    """
    proc = subprocess.Popen(
        [sys.executable, "-m", "crmsim", "run", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        first = proc.stdout.readline()  # printed just before the simulation starts
        assert first.startswith("policy: "), first + proc.stderr.read()
        time.sleep(delay)
        os.killpg(proc.pid, signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:  # no worker outlives the run
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        raise AssertionError("worker processes survived the interrupted run")
    return subprocess.CompletedProcess(proc.args, proc.returncode, first + stdout, stderr)


@pytest.mark.skipif(not hasattr(os, "killpg"), reason="POSIX process groups")
@pytest.mark.parametrize("delay", [0.0, 0.4], ids=["while-workers-start", "while-running"])
def test_ctrl_c_ends_with_one_line_exit_130_and_no_results(tmp_path, delay):
    out = tmp_path / "res"
    res = _run_then_interrupt([TUTORIAL, "-r", "100000", "-w", "2", "-o", str(out)], delay)
    assert res.returncode == 130, res.stderr
    assert res.stderr == "crmsim run: interrupted: no results written\n"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(not hasattr(os, "killpg"), reason="POSIX process groups")
def test_ctrl_c_keeps_the_earlier_results(tmp_path):
    out = tmp_path / "res"
    assert invoke(["run", TUTORIAL, "-r", "2", "-o", str(out)]).exit_code == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    res = _run_then_interrupt(
        [TUTORIAL, "-r", "100000", "-w", "2", "-o", str(out), "--overwrite"], 0.2
    )
    assert res.returncode == 130, res.stderr
    assert res.stderr == (
        f"crmsim run: interrupted: no results written; the earlier results in {out}/ are kept\n"
    )
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["res"]


def test_ctrl_c_that_a_library_turns_into_its_own_error_still_ends_as_interrupted(
    tmp_path, monkeypatch, capsys
):
    # pydantic's serializer catches the interrupt and raises "Error serializing to JSON:
    # Interrupted" (seen in CI: Ctrl-C while the scenario was hashed). Reproduced here by a
    # key function that does the same.
    real = runner.scenario_key

    def key(scenario):
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1)  # the handler raises here
        except BaseException as exc:
            raise RuntimeError(f"Error serializing to JSON: {exc!r}") from None
        return real(scenario)

    monkeypatch.setattr(runner, "scenario_key", key)
    out = tmp_path / "res"
    with pytest.raises(SystemExit) as exit_:
        main(["run", TUTORIAL, "-r", "2", "-w", "1", "-o", str(out)])
    assert exit_.value.code == 130
    assert capsys.readouterr().err == "crmsim run: interrupted: no results written\n"
    assert list(tmp_path.iterdir()) == []
    monkeypatch.setattr(runner, "scenario_key", real)
    with pytest.raises(SystemExit) as exit_:  # the next command starts afresh
        main(["run", TUTORIAL, "-r", "2", "-w", "1", "--replications", "x"])
    assert exit_.value.code == 2


def test_a_replication_that_kills_its_worker_is_reported_and_nothing_written(tmp_path, monkeypatch):
    if "fork" not in multiprocessing.get_all_start_methods():
        pytest.skip("workers inherit the monkeypatched function only when forked")
    monkeypatch.setattr(pool, "_context", lambda: multiprocessing.get_context("fork"))
    real, parent = runner._one, os.getpid()

    def one(scenario, seed, r, *args):
        if r == 2 and os.getpid() != parent:
            os._exit(3)
        return real(scenario, seed, r, *args)

    monkeypatch.setattr(runner, "_one", one)
    out = tmp_path / "res"
    args = ["run", TUTORIAL, "-r", "6", "-s", "3", "-w", "2", "-o", str(out)]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 1
    assert "Traceback" not in res.output
    (line,) = res.stderr.strip().splitlines()
    assert line.startswith("crmsim run: replication 2 (root seed 3) killed the worker process")
    assert "simulate(scenario, seed=3, replication=2)" in line
    assert line.endswith("; no results written")
    assert not out.exists()


@pytest.mark.parametrize("command", ["run", "compare", "sweep", "sensitivity", "report"])
def test_every_simulating_command_uses_every_core_by_default(command):
    (option,) = [p for p in cli.commands[command].params if p.name == "workers"]
    assert option.default == 0  # 0 = one worker per core (resolve_workers(None))
    assert "0, the default = one per core" in (option.help or "")


def test_run_without_workers_uses_one_worker_per_core(monkeypatch):
    seen = []
    real = crmsim.experiment.run_replications

    def spy(*args, workers, **kwargs):
        seen.append(workers)
        return real(*args, workers=1, **kwargs)

    monkeypatch.setattr(crmsim.experiment, "run_replications", spy)
    res = CliRunner().invoke(cli, ["run", TUTORIAL, "-r", "2", "--no-daily"])
    assert res.exit_code == 0, res.output
    assert seen == [pool.available_cores()]
    assert CliRunner().invoke(cli, ["run", TUTORIAL, "-r", "2", "-w", "1"]).exit_code == 0
    assert seen[-1] == 1


def test_more_workers_than_cores_are_capped_with_a_warning(tmp_path):
    cores = pool.available_cores()
    res = CliRunner().invoke(cli, ["run", TUTORIAL, "-r", "2", "-w", str(cores + 50)])
    assert res.exit_code == 0, res.output
    assert res.stderr == (
        f"warning: --workers {cores + 50}: {cores + 50} worker processes asked for, but this "
        f"machine has {cores} core{'s' if cores != 1 else ''}: using {cores}\n"
    )


@pytest.fixture
def sigint_handler_kept():
    """Put this process's SIGINT handler back after a test that lets main() replace it."""
    before = signal.getsignal(signal.SIGINT)
    yield
    signal.signal(signal.SIGINT, before)


def _press_ctrl_c(*args, **kwargs):
    signal.raise_signal(signal.SIGINT)
    raise AssertionError("Ctrl-C did not interrupt")


def test_ctrl_c_in_any_command_is_one_line_and_exit_130(monkeypatch, capsys, sigint_handler_kept):
    monkeypatch.setattr(commands_scenario, "validate_file", _press_ctrl_c)
    with pytest.raises(SystemExit) as caught:
        main(["validate", TUTORIAL])
    assert caught.value.code == 130
    assert capsys.readouterr().err == "crmsim: interrupted\n"
    assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN  # a second Ctrl-C: no traceback


def test_ctrl_c_while_simulating_is_one_line_and_exit_130(
    monkeypatch, capsys, sigint_handler_kept, tmp_path
):
    monkeypatch.setattr(crmsim.experiment, "run_replications", _press_ctrl_c)
    with pytest.raises(SystemExit) as caught:
        main(["run", TUTORIAL, "-o", str(tmp_path / "res")])
    assert caught.value.code == 130
    assert capsys.readouterr().err == "crmsim run: interrupted: no results written\n"
    assert list(tmp_path.iterdir()) == []


def test_main_puts_back_the_sigint_handler_it_replaced(sigint_handler_kept):
    signal.signal(signal.SIGINT, signal.default_int_handler)
    with pytest.raises(SystemExit) as caught:
        main(["validate", TUTORIAL])
    assert caught.value.code == 0
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
