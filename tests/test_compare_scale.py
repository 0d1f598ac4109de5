"""Scale and no lost work for `crmsim compare`: executors, batches on disk, resume, precision.

The tables must be bitwise identical whatever runs the replications (one process, a local
pool, a Dask cluster) and however a run was cut and resumed: every replication draws from
its own named streams and results are assembled in replication order.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from click.testing import CliRunner
from pandas.testing import assert_frame_equal
from scipy.stats import t as student

from cli_helpers import one_worker
from crmsim.cli import cli
from crmsim.experiment import compare as compare_module
from crmsim.experiment import pool as pool_module
from crmsim.experiment.compare import (
    ReplicationError,
    ResumeError,
    compare,
    run_experiment,
    write_comparison,
)
from crmsim.scenario.loader import scenario_from_dict

#: Random demand, random outages, random lead times; two options that change the outcome.
CHAIN: dict[str, Any] = {
    "crmsim": 1,
    "name": "scale chain",
    "warmup_days": 20,
    "horizon_days": 90,
    "materials": [{"id": "ore"}, {"id": "metal"}],
    "nodes": [
        {"id": "mine_a", "role": "mine", "country": "AUS", "output": "ore", "capacity": 12},
        {"id": "mine_b", "role": "mine", "country": "CHL", "output": "ore", "capacity": 6},
        {"id": "smelter", "role": "processor", "country": "DEU", "output": "metal",
         "capacity": 14, "recipe": {"ore": 1.0}, "stock_days": 5},
        {"id": "city", "role": "market", "country": "DEU", "demand": {"mean": 10, "cv": 0.3}},
        {"id": "town", "role": "market", "country": "FRA", "demand": {"mean": 2, "cv": 0.3}},
    ],
    "edges": [
        {"from": "mine_a", "to": "smelter", "share": 0.7,
         "lead_time": {"uniform": {"low": 5, "high": 15}}},
        {"from": "mine_b", "to": "smelter", "share": 0.3, "lead_time": 10, "qualified": True},
        {"from": "smelter", "to": "city", "share": 1.0, "lead_time": 2},
        {"from": "smelter", "to": "town", "share": 1.0, "lead_time": 3},
    ],
    "disruptions": [
        {"id": "mine_outages", "kind": "outage", "target": {"role": "mine"},
         "random": {"rate_per_year": 6, "duration": {"uniform": {"low": 5, "high": 25}}}},
    ],
    "policies": [
        {"id": "maybe_financed", "msme_entrant": {
            "country": "DEU", "size": "small", "capacity": 5, "recipe": {"ore": 1.0},
            "suppliers": ["mine_b"], "supplies": ["city"], "finance_probability": 0.5,
            "trigger": {"day": 10}, "capex": 2.0e6}},
        {"id": "stock", "stockpile": {"at": "smelter", "material": "ore", "days_of_cover": 20,
                                      "release_below_fill_rate": 0.95}},
    ],
    "experiment": {"replications": 12, "seed": 7, "compare": ["stock", "maybe_financed+stock"]},
}  # fmt: skip

TABLES = ("replications", "disruptions", "flows", "readiness")
WRITTEN = ("replications", "comparison", "costs", "ranking", "disruptions", "flows", "recovery")


def invoke(args: list[str]) -> Any:
    return CliRunner().invoke(cli, one_worker(args), catch_exceptions=False)


def scenario_file(tmp_path: Path, **experiment: Any) -> Path:
    data = {**CHAIN, "experiment": {**CHAIN["experiment"], **experiment}}
    path = tmp_path / "chain.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def assert_same_run(a: Any, b: Any) -> None:
    for name in TABLES:
        assert_frame_equal(getattr(a, name), getattr(b, name), check_exact=True, obj=name)


# --------------------------------------------------------------------------- no lost work


def batches_on_disk(out: Path) -> list[Path]:
    return sorted((out / "parts").glob("variant=*/batch-*"))


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["ctrl-c", "kill"])
def test_killed_compare_resumes_to_the_uninterrupted_tables(tmp_path: Path, sig: int) -> None:
    from crmsim import load_scenario

    path = scenario_file(tmp_path)
    opts = ["-r", "60", "--batch-size", "5", "--flow-replications", "2"]
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    assert invoke(["compare", str(path), *opts, "-o", str(whole)]).exit_code == 0
    n_batches = 3 * 60 // 5  # variants × batches per variant
    assert len(batches_on_disk(whole)) == n_batches

    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    proc = subprocess.Popen(
        [sys.executable, "-c", "from crmsim.cli import main; main()",
         "compare", str(path), *opts, "-o", str(cut), "-w", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not batches_on_disk(cut) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.02)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    done_before = len(batches_on_disk(cut))
    assert 1 <= done_before < n_batches, "the run must be cut after its first batch"
    if sig == signal.SIGINT:
        assert proc.returncode == 130
        assert "interrupted" in err
        assert "--resume" in err
        assert "Traceback" not in err
    else:
        assert proc.returncode == -signal.SIGKILL
    assert json.loads((cut / "manifest.json").read_text())["status"] == "running"

    # Resume (Python API): only the missing batches run.
    calls: list[int] = []
    cmp = compare(
        load_scenario(path), replications=60, flow_replications=2, batch_size=5,
        out=cut, resume=True, progress=calls.append,
    )  # fmt: skip
    assert sum(calls) == (n_batches - done_before) * 5
    write_comparison(cmp, cut, scenario_file=path)
    assert json.loads((cut / "manifest.json").read_text())["status"] == "complete"
    for name in WRITTEN:
        assert_frame_equal(
            pd.read_parquet(whole / f"{name}.parquet"),
            pd.read_parquet(cut / f"{name}.parquet"),
            check_exact=True,
            obj=name,
        )
    # A finished run resumed again runs nothing and writes the same tables.
    res = invoke(["compare", str(path), *opts, "-o", str(cut), "--resume"])
    assert res.exit_code == 0, res.output
    assert_frame_equal(
        pd.read_parquet(whole / "replications.parquet"),
        pd.read_parquet(cut / "replications.parquet"),
        check_exact=True,
    )


def test_resume_of_another_experiment_is_refused(tmp_path: Path) -> None:
    path = scenario_file(tmp_path)
    out = tmp_path / "res"
    opts = ["-r", "4", "--batch-size", "2", "--flow-replications", "1", "-o", str(out)]
    assert invoke(["compare", str(path), *opts]).exit_code == 0
    before = (out / "replications.parquet").read_bytes()
    res = invoke(["compare", str(path), *opts, "--resume", "-s", "8"])
    assert res.exit_code == 1
    assert "different experiment" in res.output
    assert "seed 7 there, 8 now" in res.output
    res = invoke(["compare", str(path), *opts, "--resume", "-p", "stock"])
    assert res.exit_code == 1
    assert "variants" in res.output
    other = tmp_path / "other.yaml"
    other.write_text(path.read_text().replace("capacity: 12", "capacity: 13"))
    res = invoke(["compare", str(other), *opts, "--resume"])
    assert res.exit_code == 1
    assert "scenario_model_sha256" in res.output
    assert (out / "replications.parquet").read_bytes() == before
    res = invoke(["compare", str(path), "-r", "2", "--resume", "-o", str(tmp_path / "none")])
    assert res.exit_code == 1
    assert "no compare run to resume" in res.output
    with pytest.raises(ResumeError, match="needs the results folder"):
        run_experiment(scenario_from_dict(CHAIN), replications=2, resume=True)


def test_python_api_never_removes_what_crmsim_did_not_write(tmp_path: Path) -> None:
    from crmsim.experiment.io import OutputError

    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    with pytest.raises(OutputError, match=r"no manifest\.json"):
        run_experiment(scenario_from_dict(CHAIN), replications=2, out=out, overwrite=True)
    assert (out / "notes.txt").read_text() == "keep me"
    done = tmp_path / "done"
    run_experiment(scenario_from_dict(CHAIN), replications=2, flow_replications=0, out=done)
    with pytest.raises(OutputError, match="--overwrite"):
        run_experiment(scenario_from_dict(CHAIN), replications=2, out=done)


def is_stock_variant(scenario: Any) -> bool:
    """CHAIN's variant ``stock``: its stockpile node and no entrant."""
    ids = {n.id for n in scenario.nodes}
    return "stock" in ids and "maybe_financed_1" not in ids


def test_a_replication_that_raises_is_named_with_its_seed(monkeypatch: Any) -> None:
    real = compare_module._simulate

    # Replication 3 of `stock` raises in the engine, in its batch and alone.
    def flaky(scenario: Any, seed: int, reps: list[int], *a: Any) -> Any:
        if is_stock_variant(scenario) and 3 in reps:
            raise ZeroDivisionError("boom")
        return real(scenario, seed, reps, *a)

    monkeypatch.setattr(compare_module, "_simulate", flaky)
    with pytest.raises(ReplicationError) as info:
        run_experiment(scenario_from_dict(CHAIN), replications=5, flow_replications=0)
    err = info.value
    assert (err.variant, err.replication, err.seed) == ("stock", 3, 7)
    assert "variant stock, replication 3 (root seed 7)" in str(err)
    assert "ZeroDivisionError: boom" in str(err)
    assert "seed=7, replication=3" in str(err)


def test_a_replication_that_kills_its_worker_is_named_with_variant_and_seed(
    monkeypatch: Any,
) -> None:
    import multiprocessing

    from crmsim.experiment.pool import WorkerError

    if "fork" not in multiprocessing.get_all_start_methods():
        pytest.skip("no fork start method on this platform")
    # forked workers inherit the patched function
    monkeypatch.setattr(pool_module, "_context", lambda: multiprocessing.get_context("fork"))
    real = compare_module._simulate

    def deadly(scenario: Any, seed: int, reps: list[int], *a: Any) -> Any:
        if is_stock_variant(scenario) and 2 in reps:
            os._exit(3)
        return real(scenario, seed, reps, *a)

    monkeypatch.setattr(compare_module, "_simulate", deadly)
    with pytest.raises(WorkerError) as info:
        run_experiment(scenario_from_dict(CHAIN), replications=4, flow_replications=0, workers=2)
    assert info.value.replications == [(1, 2)]
    assert "variant stock replication 2 (root seed 7)" in str(info.value)
    assert "apply_policies(scenario, 'stock').scenario, seed=7, replication=2)" in str(info.value)


# --------------------------------------------------------------------------- precision


def halfwidth(long: pd.DataFrame, n: int, level: float) -> float:
    """The largest half-width over options and markets, from the first n replications."""
    first = long[long.replication < n]
    base = first[first.variant == "baseline"].set_index(["market", "replication"])["fill_rate"]
    worst = 0.0
    for option in ("stock", "maybe_financed+stock"):
        opt = first[first.variant == option].set_index(["market", "replication"])["fill_rate"]
        for _, d in (opt - base).groupby(level="market"):
            x = d.to_numpy()
            hw = student.ppf(0.5 + level / 2, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x))
            worst = max(worst, hw)
    return worst


def test_target_halfwidth_stops_at_the_first_batch_that_is_precise_enough() -> None:
    s = scenario_from_dict(CHAIN)
    kw: dict[str, Any] = {"flow_replications": 0, "batch_size": 4, "max_replications": 200}
    target = 0.02  # (the first batch of 4 happens to be far narrower: it must not stop there)
    run = run_experiment(s, target_halfwidth=target, **kw)
    R = run.n_replications
    assert R % 4 == 0
    assert 12 <= R < 200
    assert run.achieved_halfwidth is not None
    assert run.achieved_halfwidth <= target
    assert halfwidth(run.replications, R, 0.95) == pytest.approx(run.achieved_halfwidth)
    assert halfwidth(run.replications, R - 4, 0.95) > target  # not one batch later than needed
    assert len(run.replications) == 3 * R * 3
    again = run_experiment(s, target_halfwidth=target, workers=2, **kw)
    assert again.n_replications == R
    assert_frame_equal(run.replications, again.replications, check_exact=True)
    # The replications are the same streams as a fixed-R run.
    fixed = run_experiment(s, replications=R, **kw)
    assert_frame_equal(run.replications, fixed.replications, check_exact=True)


def test_target_halfwidth_cap_is_reported(tmp_path: Path) -> None:
    path = scenario_file(tmp_path)
    res = invoke(["compare", str(path), "--target-halfwidth", "1e-9", "--max-replications",
                  "6", "--batch-size", "3", "--flow-replications", "1"])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "NOT reached (cap of 6 replications): 6 replications per option needed" in res.output


def test_too_many_workers_is_a_one_line_warning(tmp_path: Path) -> None:
    # (pytest turns a Python warning into an error: this passes only if none is raised)
    res = invoke(["compare", str(scenario_file(tmp_path)), "-r", "2", "-w", "100",
                  "--flow-replications", "1"])  # fmt: skip
    assert res.exit_code == 0, res.output
    warnings = [line for line in res.output.splitlines() if line.startswith("warning: --work")]
    assert len(warnings) == 1
    assert warnings[0].startswith("warning: --workers 100: 100 worker processes asked for")


def test_out_is_checked_before_simulating(tmp_path: Path, monkeypatch: Any) -> None:
    (tmp_path / "file").write_text("x")
    called: list[int] = []
    monkeypatch.setattr(compare_module, "run_experiment", lambda *a, **k: called.append(1))
    res = invoke(["compare", str(scenario_file(tmp_path)), "-o", str(tmp_path / "file" / "r")])
    assert res.exit_code == 1
    assert "--out" in res.output
    assert "is a file, not a folder" in res.output
    assert called == []


# --------------------------------------------------------------------------- executors


@pytest.fixture(scope="module")
def dask_client() -> Any:
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=":0",  # any free port: 8787 may be taken on a shared machine
    )
    client = distributed.Client(cluster, set_as_default=False)
    yield client
    client.close()
    cluster.close()
    # distributed keeps a global thread pool ("Dask-Offload"); end it, so that the tests
    # after this module run, as they would alone, in a process with no other thread
    # (the local pool forks only then: see crmsim.experiment.pool._context).
    from distributed import utils

    utils._offload_executor.shutdown(wait=True)


def test_one_worker_two_workers_and_dask_give_identical_tables(dask_client: Any) -> None:
    s = scenario_from_dict(CHAIN)
    kw: dict[str, Any] = {"replications": 12, "flow_replications": 3, "batch_size": 5}
    serial = run_experiment(s, workers=1, **kw)
    pooled = run_experiment(s, workers=2, **kw)
    dasked = run_experiment(s, scheduler=dask_client, **kw)
    assert serial.executor == "in this process"
    assert pooled.executor == "2 local worker processes"
    assert dasked.executor.startswith("the Dask cluster at tcp://127.0.0.1:")
    assert len(serial.replications) == 3 * 12 * 3  # variants × replications × markets+all
    assert list(serial.readiness["replication"].unique()) == [0, 1, 2]
    assert_same_run(serial, pooled)
    assert_same_run(serial, dasked)
    # Batches are a unit of storage, not of randomness.
    assert_same_run(serial, run_experiment(s, workers=1, **{**kw, "batch_size": 12}))
    # ... and the comparison is not trivially equal: another seed gives other numbers.
    other = run_experiment(s, workers=1, seed=8, **kw)
    assert not serial.replications["fill_rate"].equals(other.replications["fill_rate"])


def crmsim_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """The command line in a process of its own (a Dask client leaves threads running)."""
    code = (
        "import crmsim.experiment.pool as p; p.DASK_CONNECT_TIMEOUT = '1s'; "
        "from crmsim.cli import main; main()"
    )
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, timeout=120
    )


def test_dask_scheduler_address_on_the_command_line(tmp_path: Path, dask_client: Any) -> None:
    path = scenario_file(tmp_path)
    address = dask_client.scheduler.address
    a, b = tmp_path / "local", tmp_path / "dask"
    base = ["compare", str(path), "-r", "6", "--flow-replications", "1", "--batch-size", "4"]
    assert invoke([*base, "-o", str(a)]).exit_code == 0
    res = crmsim_cli(*base, "-o", str(b), "--scheduler", address)
    assert res.returncode == 0, res.stderr
    assert json.loads((b / "manifest.json").read_text())["executor"].startswith("the Dask")
    for name in WRITTEN:
        assert_frame_equal(
            pd.read_parquet(a / f"{name}.parquet"),
            pd.read_parquet(b / f"{name}.parquet"),
            check_exact=True,
            obj=name,
        )


def test_run_replications_on_dask_is_identical_to_one_process(
    dask_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from crmsim.experiment import bands as bands_module
    from crmsim.experiment import run_replications

    s = scenario_from_dict(CHAIN)
    for exact_max in (256, 4):  # exact bands, then histogram bands
        monkeypatch.setattr(bands_module, "EXACT_MAX_REPLICATIONS", exact_max)
        local = run_replications(s, 11, 3, workers=1, keep_first_daily=False)
        dasked = run_replications(s, 11, 3, scheduler=dask_client, keep_first_daily=False)
        for name in ("market_summary", "disruptions", "bands"):
            assert_frame_equal(getattr(local, name), getattr(dasked, name), check_exact=True)
        assert_frame_equal(
            local.summary.drop(columns="seconds"),
            dasked.summary.drop(columns="seconds"),
            check_exact=True,
        )
    assert local.summary["fill_rate"].nunique() > 1  # replications differ: not trivially equal
    assert dask_client.status == "running"  # a client passed in is left open


def test_run_on_the_command_line_with_a_dask_scheduler(tmp_path: Path, dask_client: Any) -> None:
    path = scenario_file(tmp_path)
    a, b = tmp_path / "local", tmp_path / "dask"
    base = ["run", str(path), "-r", "5", "-s", "4", "--no-daily"]
    assert invoke([*base, "-o", str(a)]).exit_code == 0
    res = crmsim_cli(*base, "-o", str(b), "--scheduler", dask_client.scheduler.address)
    assert res.returncode == 0, res.stderr
    assert json.loads((b / "manifest.json").read_text())["options"]["scheduler"] == (
        dask_client.scheduler.address
    )
    for name in ("summary", "market_summary", "disruptions", "bands"):
        left = pd.read_parquet(a / f"{name}.parquet")
        right = pd.read_parquet(b / f"{name}.parquet")
        if name == "summary":
            left, right = left.drop(columns="seconds"), right.drop(columns="seconds")
        assert_frame_equal(left, right, check_exact=True, obj=name)
    bad = crmsim_cli(*base, "--scheduler", "tcp://127.0.0.1:9")
    assert bad.returncode == 1
    assert "cannot connect to the Dask scheduler at tcp://127.0.0.1:9" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_unreachable_scheduler_is_one_line(tmp_path: Path) -> None:
    res = crmsim_cli("compare", str(scenario_file(tmp_path)), "-r", "2",
                     "--scheduler", "tcp://127.0.0.1:9")  # fmt: skip
    assert res.returncode == 1
    assert "cannot connect to the Dask scheduler at tcp://127.0.0.1:9" in res.stderr
    assert "Traceback" not in res.stderr
