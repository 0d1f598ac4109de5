"""Sweeps: dotted-path settings, known answers on a grid, located errors and the CLI."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from click.testing import CliRunner

import crmsim
from cli_helpers import one_worker
from crmsim.cli import cli
from crmsim.experiment.sweep import SettingError, parse_values, run_sweep, set_fields
from crmsim.scenario.loader import scenario_from_dict

ROOT = Path(__file__).resolve().parents[1]
ANTIMONY = ROOT / "scenarios" / "tajikistan_antimony.yaml"

#: Capacity-bound by hand: the only supplier, a recycler of c t/day, faces 10 t/day of
#: demand, so the fill rate is c/10 exactly (4 → 0.4, 8 → 0.8) and unmet is
#: (10 − c) × 200 days. The city's stock (1 or 5 days: at most 50 t against a 6 t/day
#: deficit) is gone within the 60-day warm-up, so `stock_days` provably changes nothing.
CAPACITY_BOUND: dict[str, Any] = {
    "crmsim": 1,
    "name": "capacity bound",
    "warmup_days": 60,
    "horizon_days": 200,
    "materials": [{"id": "metal", "lifetime": {"fixed": 30}, "content": {"metal": 1.0}}],
    "nodes": [
        {"id": "rec", "role": "recycler", "country": "DEU", "output": "metal", "capacity": 4,
         "collection_rate": 1.0, "recovery_efficiency": 1.0},
        {"id": "city", "role": "market", "country": "DEU", "demand": {"mean": 10},
         "in_use_initial": "steady_state", "stock_days": 5},
    ],
    "edges": [{"from": "rec", "to": "city", "lead_time": 3}],
    "policies": [{"id": "double", "recycling": {"id": "rec", "capacity_factor": 2.0}}],
    "experiment": {"replications": 3, "seed": 5},
}  # fmt: skip


@pytest.fixture(scope="module")
def bound() -> crmsim.Scenario:
    return scenario_from_dict(copy.deepcopy(CAPACITY_BOUND))


def _row(t: pd.DataFrame, market: str, metric: str, **where: Any) -> pd.Series:
    sel = (t.market == market) & (t.metric == metric)
    for k, v in where.items():
        sel &= t[k] == v
    rows = t[sel]
    assert len(rows) == 1
    return rows.iloc[0]


def test_grid_gives_the_hand_computed_fill_rates_and_exact_zero(bound: Any) -> None:
    run = run_sweep(
        bound, {"nodes.rec.capacity": [4, 8], "nodes.city.stock_days": [1, 5]}, seed=1
    )
    assert run.points[["nodes.rec.capacity", "nodes.city.stock_days"]].values.tolist() == [
        [4, 1], [4, 5], [8, 1], [8, 5]]  # fmt: skip
    t = run.table
    assert run.reference == "first grid point"
    for stock in (1, 5):
        for cap, fill in ((4, 0.4), (8, 0.8)):
            fr = _row(t, "city", "fill_rate", **{"nodes.rec.capacity": cap,
                                                "nodes.city.stock_days": stock})  # fmt: skip
            assert fr["mean"] == pytest.approx(fill, abs=1e-12)
            assert fr["low"] == pytest.approx(fill, abs=1e-12)
            assert fr["high"] == pytest.approx(fill, abs=1e-12)
            un = _row(t, "city", "unmet", **{"nodes.rec.capacity": cap,
                                            "nodes.city.stock_days": stock})  # fmt: skip
            assert un["mean"] == pytest.approx((10 - cap) * 200)
            # Against point 0 (capacity 4, stock 1): +0.4 and −800 t at capacity 8.
            assert fr["diff_mean"] == pytest.approx(fill - 0.4, abs=1e-12)
            assert un["diff_mean"] == pytest.approx(-(cap - 4) * 200)
    # The stock field changes nothing: exactly 0 in every replication, interval [0, 0].
    p1 = _row(t, "city", "fill_rate", point=1)
    assert (p1["diff_mean"], p1["diff_low"], p1["diff_high"], p1["diff_sd"]) == (0, 0, 0, 0)
    reps = run.replications
    a = reps[(reps.point == 2) & (reps.market == "city")]["unmet"].to_numpy()
    b = reps[(reps.point == 3) & (reps.market == "city")]["unmet"].to_numpy()
    assert (a == b).all()
    assert len(reps) == 4 * 3 * 2  # points × replications × (city + all)


def test_policy_sweep_is_against_the_baseline_at_each_point(bound: Any) -> None:
    run = run_sweep(bound, {"policies.double.recycling.capacity_factor": [1.0, 2.0, 1.5]},
                    policy="double", replications=2)  # fmt: skip
    assert run.reference == "baseline"
    t = run.table
    diffs = [_row(t, "city", "fill_rate", point=p)["diff_mean"] for p in range(3)]
    assert diffs == pytest.approx([0.0, 0.4, 0.2], abs=1e-12)
    assert _row(t, "city", "fill_rate", point=0)["diff_sd"] == 0.0
    assert set(t.variant) == {"double"}
    # Policy fields leave the baseline alone: one baseline run is shared by all points.
    base = run.replications[run.replications.variant == "baseline"]
    assert base.groupby("point")["unmet"].apply(tuple).nunique() == 1


def test_package_level_sweep(bound: Any) -> None:
    t = crmsim.sweep(bound, {"nodes.rec.capacity": [8]}, replications=2)
    fr = _row(t, "city", "fill_rate")
    assert fr["mean"] == pytest.approx(0.8)
    assert fr["n"] == 2


def test_set_fields_paths(bound: Any) -> None:
    assert set_fields(bound, {}) == bound
    s = set_fields(bound, {"edges.rec->city.lead_time": 7, "horizon_days": 50,
                           "nodes.city.demand.mean": 12})  # fmt: skip
    assert s.edges[0].lead_time.mean == 7
    assert s.horizon_days == 50
    assert s.node("city").demand.mean == 12
    assert bound.horizon_days == 200  # the original is untouched
    # A float for a whole-number field is rounded (sampled inputs).
    assert set_fields(bound, {"horizon_days": 99.6}).horizon_days == 100
    assert parse_values("4,8") == [4, 8]


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({"nodes.rek.capacity": 1}, "nodes has no item with id 'rek'; did you mean 'rec'?"),
        ({"nodes.rec.capacty": 1}, "nodes.rec has no field 'capacty'; did you mean 'capacity'?"),
        ({"horizon_dayz": 1}, "did you mean 'horizon_days'?"),
        ({"edges.rec->town.lead_time": 1}, "valid: rec->city"),
        ({"nodes.rec": 1}, "names a whole item"),
        ({"nodes.rec.capacity.x": 1}, "is a single value"),
        ({"nodes.rec.capacity": -1}, "--set nodes.rec.capacity=-1: nodes[0].capacity: must"),
        ({"policies.double.recycling.capacity_factor": "x"},
         "policies[0].recycling.capacity_factor: expected a number"),
    ],
)  # fmt: skip
def test_bad_paths_and_values_are_located(bound: Any, settings: Any, expected: str) -> None:
    with pytest.raises(SettingError) as info:
        set_fields(bound, settings)
    assert expected in str(info.value)


def test_a_policy_field_without_the_policy_is_refused(bound: Any) -> None:
    with pytest.raises(SettingError, match=r"not applied.*--policy double"):
        run_sweep(bound, {"policies.double.recycling.capacity_factor": [1.0]})


# --------------------------------------------------------------------------- CLI


def invoke(args: list[str]) -> Any:
    return CliRunner().invoke(cli, one_worker(args), catch_exceptions=False)


def test_cli_errors_exit_1_without_traceback(tmp_path: Path) -> None:
    import yaml

    path = tmp_path / "bound.yaml"
    path.write_text(yaml.safe_dump(CAPACITY_BOUND), encoding="utf-8")
    for args, text in (
        (["--set", "nodes.rec.capacty=4,8"], "did you mean 'capacity'?"),
        (["--set", "nodes.rec.capacity=4,-8"], "nodes[0].capacity: must not be negative"),
        (["--set", "nodes.rec.capacity"], "PATH=VALUE"),
        (["--set", "policies.double.recycling.capacity_factor=2"], "--policy double"),
        (["--set", "nodes.rec.capacity=4", "--policy", "tripple"], "unknown policy"),
    ):
        res = invoke(["sweep", str(path), "-r", "1", *args])
        assert res.exit_code == 1, res.output
        assert text in res.output
        assert "Traceback" not in res.output


def test_cli_errors_give_the_line_in_the_file() -> None:
    """A bad value is located where the field is written in the scenario file."""
    lines = ANTIMONY.read_text(encoding="utf-8").splitlines()
    line = next(i for i, t in enumerate(lines, 1) if "days_of_cover: 90" in t)
    stock = "policies.stockpile_usa_90d.stockpile"
    ids = [p.id for p in crmsim.load_scenario(ANTIMONY).policies]
    k = ids.index("stockpile_usa_90d")
    for setting, text in (
        (f"{stock}.days_of_cover=30,-3",
         f"tajikistan_antimony.yaml:{line}:7: policies[{k}].stockpile.days_of_cover: must be "
         "positive (> 0) (got -3)"),
        (f"{stock}.days_of_covr=3", "did you mean 'days_of_cover'?"),
    ):  # fmt: skip
        res = invoke(["sweep", str(ANTIMONY), "--policy", "stockpile_usa_90d", "--set", setting,
                      "-r", "1"])  # fmt: skip
        assert res.exit_code == 1, res.output
        assert text in res.output
        assert "tajikistan_antimony.yaml:" in res.output
        assert "Traceback" not in res.output


def test_cli_sweep_antimony_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "res"
    args = ["sweep", str(ANTIMONY), "--policy", "stockpile_usa_90d",
            "--set", "policies.stockpile_usa_90d.stockpile.days_of_cover=30,90",
            "-r", "2", "-s", "1", "-o", str(out)]  # fmt: skip
    res = invoke(args)
    assert res.exit_code == 0, res.output
    assert "market_usa" in res.output
    assert "differences against the baseline" in res.output
    t = pd.read_parquet(out / "sweep.parquet")
    usa = t[(t.market == "market_usa") & (t.metric == "fill_rate")].set_index("point")
    # More days of cover serve more of the US users' demand than fewer.
    assert usa.loc[1, "diff_mean"] > usa.loc[0, "diff_mean"] > 0
    dd = pd.read_csv(out / "data_dictionary.csv")
    for table in ("sweep", "points", "replications"):
        pq = pd.read_parquet(out / f"{table}.parquet")
        assert len(pq) == len(pd.read_csv(out / f"{table}.csv"))
        assert set(pq.columns) == set(dd.loc[dd.table == table, "column"]), table
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["command"] == "sweep"
    assert manifest["grid"] == {"policies.stockpile_usa_90d.stockpile.days_of_cover": [30, 90]}
    assert manifest["seed"] == 1
    assert len(manifest["scenario_sha256"]) == 64
    again = invoke(args)
    assert again.exit_code == 1
    assert "--overwrite" in again.output


def test_common_random_numbers_make_an_inert_field_exactly_zero() -> None:
    """Random demand, outages and lead times: a field the engine never reads (a material's
    name) gives the same draws at every grid point, hence differences of exactly 0."""
    from test_compare import NOISY

    noisy = scenario_from_dict(copy.deepcopy(NOISY))
    run = run_sweep(noisy, {"materials.ore.name": ["ore", "iron ore"]}, replications=4, seed=3)
    t = run.table
    city = _row(t, "city", "fill_rate", point=1)
    assert city["diff_sd"] == 0.0
    assert (city["diff_mean"], city["diff_low"], city["diff_high"]) == (0.0, 0.0, 0.0)
    reps = run.replications
    per_point = [reps[(reps.point == p) & (reps.market == "city")] for p in (0, 1)]
    assert per_point[0]["demand"].nunique() == 4  # demand is random across replications
    for col in ("demand", "served", "unmet"):
        assert (per_point[0][col].to_numpy() == per_point[1][col].to_numpy()).all()
