"""Global sensitivity (SALib): one input that matters, one that provably does not; CLI."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import crmsim
from cli_helpers import one_worker
from crmsim.cli import cli
from crmsim.experiment.sensitivity import parse_bounds, run_sensitivity
from crmsim.experiment.sweep import SettingError
from crmsim.scenario.loader import scenario_from_dict
from test_sweep import CAPACITY_BOUND

ROOT = Path(__file__).resolve().parents[1]
ANTIMONY = ROOT / "scenarios" / "tajikistan_antimony.yaml"

#: Fill rate = capacity / 10 (capacity-bound, see test_sweep), linear in the capacity.
#: The recycler's staff headcount is never read by the engine (only by the scorecard's
#: size class), so it provably changes nothing. (The city's stock_days would change the
#: fill rate only in the last bit of a float: its stock is gone within the warm-up, but
#: the float arithmetic of a different stock level is not bit-identical.)
BOUNDS = {"nodes.rec.employees": (10.0, 40.0), "nodes.rec.capacity": (4.0, 8.0)}


@pytest.fixture(scope="module")
def bound() -> crmsim.Scenario:
    return scenario_from_dict(copy.deepcopy(CAPACITY_BOUND))


def test_morris_ranks_the_inert_input_last_with_exactly_zero(bound: Any) -> None:
    res = run_sensitivity(bound, BOUNDS, method="morris", n=4, replications=2, seed=1)
    t = res.table.set_index("input")
    assert res.table["input"].tolist() == ["nodes.rec.capacity", "nodes.rec.employees"]
    inert = t.loc["nodes.rec.employees"]
    assert (inert["mu_star"], inert["mu"], inert["sigma"], inert["mu_star_conf"]) == (0, 0, 0, 0)
    # Linear: every elementary effect is the change over the whole range, 4/10.
    cap = t.loc["nodes.rec.capacity"]
    assert cap["mu_star"] == pytest.approx(0.4)
    assert cap["mu"] == pytest.approx(0.4)
    assert cap["sigma"] == pytest.approx(0.0, abs=1e-12)
    assert res.n_points == 4 * 3
    assert res.levels == 4
    assert res.market == "(all)"
    assert "same in the first and the second 2 trajectories" in res.convergence
    # Y is the mean fill rate at the point: capacity / 10.
    s = res.samples
    assert s["y"].to_numpy() == pytest.approx(s["nodes.rec.capacity"].to_numpy() / 10)


def test_sobol_gives_the_inert_input_zero_indices(bound: Any) -> None:
    res = run_sensitivity(bound, BOUNDS, method="sobol", n=16, replications=1, seed=2,
                          market="city")  # fmt: skip
    t = res.table.set_index("input")
    assert res.table["input"].iloc[-1] == "nodes.rec.employees"
    inert = t.loc["nodes.rec.employees"]
    assert (inert["S1"], inert["ST"], inert["S1_conf"], inert["ST_conf"]) == (0, 0, 0, 0)
    assert t.loc["nodes.rec.capacity", "ST"] > 0.5
    assert res.n_points == 16 * 4
    assert "ST confidence half-width" in res.convergence


def test_common_random_numbers_keep_an_inert_input_at_exactly_zero() -> None:
    """Random demand, outages and lead times: without common random numbers every point
    would see other draws and the inert input would get a non-zero effect."""
    from test_compare import NOISY

    s = scenario_from_dict(copy.deepcopy(NOISY))
    res = run_sensitivity(s, {"nodes.smelter.employees": (10.0, 40.0),
                              "nodes.mine_a.capacity": (6.0, 12.0)},
                          market="city", n=2, replications=2, seed=4)  # fmt: skip
    t = res.table.set_index("input")
    assert t.loc["nodes.smelter.employees", "mu_star"] == 0.0
    assert t.loc["nodes.mine_a.capacity", "mu_star"] > 0.0
    assert res.table["input"].iloc[-1] == "nodes.smelter.employees"


def test_sensitivity_is_reproducible_and_package_level(bound: Any) -> None:
    a = crmsim.sensitivity(bound, BOUNDS, n=2, replications=1, seed=9)
    b = crmsim.sensitivity(bound, BOUNDS, n=2, replications=1, seed=9)
    pd.testing.assert_frame_equal(a, b)
    assert a["rank"].tolist() == [1, 2]


def test_small_sample_and_constant_metric_are_stated(bound: Any) -> None:
    res = run_sensitivity(bound, {"nodes.rec.employees": (10.0, 40.0)}, n=2, replications=1)
    assert "too few" in res.convergence
    assert "same (0.4) at every sample point" in res.convergence
    assert res.table["mu_star"].tolist() == [0.0]


@pytest.mark.parametrize(
    ("kwargs", "error", "text"),
    [
        ({"bounds": {"nodes.rec.capacty": (4, 8)}}, SettingError, "did you mean 'capacity'"),
        ({"bounds": {"nodes.rec.capacity": (-4, 8)}}, SettingError, "must not be negative"),
        ({"bounds": {"nodes.rec.capacity": (8, 4)}}, SettingError, "lo < hi"),
        ({"method": "sobol", "n": 10}, ValueError, "power of two"),
        ({"method": "fast"}, ValueError, "morris or sobol"),
        ({"metric": "profit"}, ValueError, "choose one of"),
        ({"market": "cty"}, ValueError, "did you mean 'city'"),
        ({"bounds": {"policies.double.recycling.capacity_factor": (1, 2)}}, SettingError,
         "--policy double"),
    ],
)  # fmt: skip
def test_bad_inputs_are_refused_before_simulating(
    bound: Any, kwargs: dict[str, Any], error: type, text: str
) -> None:
    args = {"bounds": BOUNDS, **kwargs}
    with pytest.raises(error, match=None) as info:
        run_sensitivity(bound, args.pop("bounds"), replications=1, **args)
    assert text in str(info.value)


def test_parse_bounds() -> None:
    assert parse_bounds("1:2.5") == (1.0, 2.5)
    for bad in ("1", "a:b", "2:1", "1:inf"):
        with pytest.raises(ValueError, match=r"lo:hi|lo < hi"):
            parse_bounds(bad)


# --------------------------------------------------------------------------- CLI


def invoke(args: list[str]) -> Any:
    return CliRunner().invoke(cli, one_worker(args), catch_exceptions=False)


def test_cli_errors_exit_1_without_traceback() -> None:
    lines = ANTIMONY.read_text(encoding="utf-8").splitlines()
    line = next(i for i, t in enumerate(lines, 1) if "{id: mine_tjk," in t)
    for args, text in (
        (["--vary", "policies.stockpile_usa_90d.stockpile.days_of_covr=30:90",
          "--policy", "stockpile_usa_90d"], "did you mean 'days_of_cover'"),
        (["--vary", "nodes.mine_tjk.capacity=-1:2", "--market", "market_usa"],
         f"tajikistan_antimony.yaml:{line + 1}:30: nodes[1].capacity: must not be negative"),
        (["--vary", "nodes.mine_tjk.capacity=1"], "lo:hi"),
        (["--vary", "nodes.mine_tjk.capacity=1:2"], "choose one with --market"),
        (["--vary", "nodes.mine_tjk.capacity=1:2", "--market", "market_usa", "--method",
          "sobol", "-n", "3"], "power of two"),
    ):  # fmt: skip
        res = invoke(["sensitivity", str(ANTIMONY), "-r", "1", *args])
        assert res.exit_code == 1, res.output
        assert text in res.output
        assert "Traceback" not in res.output


def test_cli_sensitivity_antimony_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "sens"
    res = invoke([
        "sensitivity", str(ANTIMONY),
        "--policy", "msme_smelter_tjk+stockpile_usa_90d",
        "--vary", "policies.stockpile_usa_90d.stockpile.days_of_cover=30:120",
        "--vary", "policies.msme_smelter_tjk.msme_entrant.finance_probability=0.2:0.8",
        "--market", "market_usa", "-n", "2", "-r", "2", "-s", "1", "-o", str(out),
    ])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "Morris screening, 2 trajectories" in res.output
    assert "convergence:" in res.output
    t = pd.read_parquet(out / "sensitivity.parquet")
    assert t["rank"].tolist() == [1, 2]
    # The stockpile's cover moves the US users' fill rate far more than MSME finance.
    assert t["input"].iloc[0] == "policies.stockpile_usa_90d.stockpile.days_of_cover"
    assert t["mu_star"].iloc[0] > 0.05
    samples = pd.read_parquet(out / "samples.parquet")
    assert len(samples) == 2 * 3
    assert np.isfinite(samples["y"]).all()
    dd = pd.read_csv(out / "data_dictionary.csv")
    for table in ("sensitivity", "samples"):
        cols = set(pd.read_parquet(out / f"{table}.parquet").columns)
        assert cols == set(dd.loc[dd.table == table, "column"]), table
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["method"] == "morris"
    assert manifest["points"] == 6
    assert manifest["replications"] == 2
