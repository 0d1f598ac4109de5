"""`crmsim run` on every shipped scenario, and its results files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from crmsim.cli import cli

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = sorted((ROOT / "scenarios").glob("*.yaml"))


def invoke(args):
    return CliRunner().invoke(cli, args, catch_exceptions=False)


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
