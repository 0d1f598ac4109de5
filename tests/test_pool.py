"""Worker processes: bounded work in flight, capped workers, dying workers, Ctrl-C, scripts.

The dying-worker tests replace the per-replication function ``runner._one`` with one that
ends its process (``os._exit``) for chosen replications; forked workers inherit the
replacement, so these tests ask for the ``fork`` start method (the ``forked`` fixture).
"""

from __future__ import annotations

import multiprocessing
import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pandas as pd
import pytest

from crmsim import load_scenario
from crmsim.experiment import pool as pool_module
from crmsim.experiment import run_replications, runner
from crmsim.experiment.pool import (
    WorkerError,
    WorkersCappedWarning,
    available_cores,
    deferred_sigint,
    resolve_workers,
)

ROOT = Path(__file__).resolve().parents[1]
TUTORIAL = ROOT / "scenarios" / "tutorial.yaml"


@pytest.fixture
def forked(monkeypatch):
    """Workers forked, so that they inherit functions monkeypatched in this process."""
    if "fork" not in multiprocessing.get_all_start_methods():
        pytest.skip("no fork start method on this platform")
    monkeypatch.setattr(pool_module, "_context", lambda: multiprocessing.get_context("fork"))


@pytest.fixture(scope="module")
def tutorial():
    return load_scenario(TUTORIAL)


def _table(run):
    return run.summary.drop(columns=["seconds"])


def _killer(monkeypatch, reps, flag_dir=None):
    """Make workers die on replications ``reps`` (every time, or once with ``flag_dir``)."""
    real = runner._one
    parent = os.getpid()

    def one(scenario, seed, r, *args):
        if r in reps and os.getpid() != parent:
            if flag_dir is None:
                os._exit(3)
            try:  # first attempt only: the flag file records it
                os.close(os.open(flag_dir / f"killed-{r}", os.O_CREAT | os.O_EXCL))
            except FileExistsError:
                pass
            else:
                os._exit(3)
        return real(scenario, seed, r, *args)

    monkeypatch.setattr(runner, "_one", one)


def test_workers_are_capped_at_the_cores_with_a_warning(tutorial):
    cores = available_cores()
    assert resolve_workers(None) == (cores, None)
    assert resolve_workers(cores) == (cores, None)
    assert resolve_workers(0) == (1, None)
    n, why = resolve_workers(cores + 98)
    assert n == cores
    assert f"{cores + 98} worker processes asked for" in why
    assert f"using {cores}" in why
    with pytest.warns(WorkersCappedWarning, match="worker processes asked for"):
        run_replications(tutorial, 2, 1, workers=cores + 98, keep_first_daily=False)


def test_tasks_in_flight_stay_within_the_bound(tutorial, monkeypatch):
    """Chunks are taken as earlier ones finish, never all at once."""
    taken, finished, peak = [0], [0], [0]
    real_chunks = pool_module._chunks

    def chunks(replications, size):
        for reps in real_chunks(replications, size):
            taken[0] += 1
            peak[0] = max(peak[0], taken[0] - finished[0])
            yield reps

    monkeypatch.setattr(pool_module, "_chunks", chunks)
    # Engine passes of at most 5 replications (forked workers inherit it): 8 chunks.
    monkeypatch.setattr(runner, "BATCH_SIZE", 5)
    progress = []

    def count(n):
        finished[0] += 1
        progress.append(n)

    run = run_replications(tutorial, 40, 2, workers=2, keep_first_daily=False, progress=count)
    assert taken[0] == 8  # chunks of min(BATCH_SIZE, R / (2 × workers)) = 5 replications
    bound = 2 * pool_module.TASKS_PER_WORKER + 1  # sent to the workers, and one looked at
    assert 1 < peak[0] <= bound
    assert sum(progress) == 40
    assert list(run.summary["replication"]) == list(range(40))


def test_a_billion_replications_use_no_memory_before_the_first_result():
    """`-r 1000000000 -w 2` used to build every task up front (gigabytes, minutes)."""
    script = textwrap.dedent(
        """
        import resource
        from crmsim.experiment import run_replications
        from crmsim.scenario.loader import scenario_from_dict
        s = scenario_from_dict({
            "crmsim": 1, "name": "chain", "warmup_days": 10, "horizon_days": 50,
            "materials": [{"id": "ore"}],
            "nodes": [
                {"id": "mine", "role": "mine", "country": "AUS", "output": "ore",
                 "capacity": 12},
                {"id": "city", "role": "market", "country": "DEU", "demand": {"mean": 10}},
            ],
            "edges": [{"from": "mine", "to": "city", "lead_time": 5}],
        })
        class Enough(Exception):
            pass
        def stop(n):
            raise Enough
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        try:
            run_replications(s, 10**9, 1, workers=2, progress=stop)
        except Enough:
            grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
            print("grown kB", grown)
        """
    )
    res = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert res.returncode == 0, res.stderr
    grown_kb = int(res.stdout.split()[-1])
    assert grown_kb < 100_000


def test_a_worker_that_dies_once_is_replaced_and_the_results_are_identical(
    tutorial, monkeypatch, tmp_path, forked
):
    serial = run_replications(tutorial, 12, 5, workers=1, keep_first_daily=False)
    _killer(monkeypatch, {3, 8}, flag_dir=tmp_path)
    seen = []
    pooled = run_replications(
        tutorial, 12, 5, workers=2, keep_first_daily=False, progress=seen.append
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["killed-3", "killed-8"]
    pd.testing.assert_frame_equal(_table(serial), _table(pooled))
    pd.testing.assert_frame_equal(serial.market_summary, pooled.market_summary)
    pd.testing.assert_frame_equal(serial.disruptions, pooled.disruptions)
    pd.testing.assert_frame_equal(serial.bands, pooled.bands)
    assert sum(seen) == 12


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="POSIX signals")
def test_a_worker_killed_from_outside_is_replaced_and_the_results_are_identical(tutorial):
    """SIGKILL to a busy worker (as the out-of-memory killer would send)."""
    serial = run_replications(tutorial, 16, 6, workers=1, keep_first_daily=False)
    killed = []

    def kill_one(n):
        if not killed:
            victim = multiprocessing.active_children()[0]
            os.kill(victim.pid, signal.SIGKILL)
            killed.append(victim.pid)

    pooled = run_replications(tutorial, 16, 6, workers=2, keep_first_daily=False, progress=kill_one)
    assert killed
    pd.testing.assert_frame_equal(_table(serial), _table(pooled))
    pd.testing.assert_frame_equal(serial.bands, pooled.bands)


def test_a_replication_that_always_kills_its_worker_is_reported_with_its_seed(
    tutorial, monkeypatch, forked
):
    _killer(monkeypatch, {4, 9})
    with pytest.raises(WorkerError) as caught:
        run_replications(tutorial, 12, 5, workers=2, keep_first_daily=False)
    assert caught.value.replications == [4, 9]  # not the others that ran beside them
    assert caught.value.seed == 5
    message = str(caught.value)
    assert "replications 4, 9 (root seed 5)" in message
    assert "simulate(scenario, seed=5, replication=4)" in message


def test_workers_that_cannot_run_at_all_stop_the_run(tutorial, monkeypatch, forked):
    _killer(monkeypatch, set(range(1000)))
    with pytest.raises(WorkerError, match="keep dying: 7 in a row without finishing a replication"):
        run_replications(tutorial, 1000, 5, workers=2, keep_first_daily=False)


def test_an_error_in_a_worker_reaches_the_caller(tutorial, monkeypatch, forked):
    real = runner._one

    def one(scenario, seed, r, *args):
        if r == 2:
            raise ValueError("replication 2 went wrong")
        return real(scenario, seed, r, *args)

    monkeypatch.setattr(runner, "_one", one)
    with pytest.raises(ValueError, match="replication 2 went wrong"):
        run_replications(tutorial, 6, 5, workers=2, keep_first_daily=False)


@pytest.mark.skipif(not hasattr(signal, "pthread_sigmask"), reason="POSIX signals")
def test_ctrl_c_is_held_back_until_the_block_is_done():
    steps = []

    def block():
        with deferred_sigint():
            signal.raise_signal(signal.SIGINT)
            steps.append("after the signal, still inside")
        steps.append("not reached")

    with pytest.raises(KeyboardInterrupt):
        block()
    assert steps == ["after the signal, still inside"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_readme_python_example_runs_as_a_script_without_a_main_guard(tmp_path):
    """The README's example, as written (all cores), saved as a script and run."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    code = re.search(r"```python\n(.+?)\n```", text, flags=re.S).group(1)
    assert "workers=None" in code
    assert "__main__" not in code
    code = code.replace("replications=200", "replications=4")
    code += "\nprint('EXAMPLE DONE', run.describe().loc['fill_rate', 'mean'])\n"
    script = tmp_path / "example.py"
    script.write_text(code, encoding="utf-8")
    res = subprocess.run(
        [sys.executable, str(script)], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout.count("EXAMPLE DONE") == 1  # the script ran once, not again per worker
    assert "Traceback" not in res.stderr


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fork is used on Linux")
def test_workers_are_forked_only_while_no_other_thread_runs():
    assert pool_module._context().get_start_method() == "fork"
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        assert pool_module._context().get_start_method() == "spawn"
    finally:
        stop.set()
        thread.join()
    assert pool_module._context().get_start_method() == "fork"


def test_a_worker_that_cannot_start_is_a_clear_error(tutorial, monkeypatch):
    import errno

    def no_more_processes(self, *args):
        raise OSError(errno.EAGAIN, os.strerror(errno.EAGAIN))

    monkeypatch.setattr(pool_module._Worker, "__init__", no_more_processes)
    with pytest.raises(WorkerError, match=r"cannot start a worker process \(Resource temporarily"):
        run_replications(tutorial, 4, 1, workers=2, keep_first_daily=False)
