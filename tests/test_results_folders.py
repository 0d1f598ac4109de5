"""Results without code: every table as CSV, a data dictionary and a README.md in every
results folder; compare folders keep the daily bands; the forest plot's default markets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import crmsim
from crmsim.cli import cli
from crmsim.report import figures

ROOT = Path(__file__).resolve().parents[1]
TUTORIAL = ROOT / "scenarios" / "tutorial.yaml"
ANTIMONY = ROOT / "scenarios" / "tajikistan_antimony.yaml"


def invoke(args: list[str]):
    return CliRunner().invoke(cli, args, catch_exceptions=False)


def _check_folder(folder: Path, currency: str) -> None:
    """Every table as CSV (and Parquet), every column in the dictionary and the README."""
    readme = (folder / "README.md").read_text(encoding="utf-8")
    dictionary = pd.read_csv(folder / "data_dictionary.csv", keep_default_na=False)
    assert f"Money is in {currency}" in readme
    tables = sorted(p.stem for p in folder.glob("*.parquet") if p.stem != "data_dictionary")
    assert tables
    for name in tables:
        csv = folder / f"{name}.csv"
        assert csv.is_file(), f"{name}: no CSV"
        assert f"`{name}.csv`" in readme, name
        assert f"### `{name}`" in readme, name
        cols = list(pd.read_parquet(folder / f"{name}.parquet").columns)
        assert list(pd.read_csv(csv, nrows=1).columns) == cols
        have = dictionary[dictionary["table"] == name]
        described = dict(zip(have["column"], have["meaning"], strict=True))
        missing = [c for c in cols if not described.get(c)]
        assert missing == [], f"{name}: columns without a meaning: {missing}"
        for c in cols:
            assert f"| `{c}` |" in readme, (name, c)


def test_run_folder_has_every_table_as_csv_a_dictionary_and_a_readme(tmp_path):
    out = tmp_path / "run"
    res = invoke(["run", str(ANTIMONY), "-r", "2", "-p", "stockpile_usa_90d", "-o", str(out)])
    assert res.exit_code == 0, res.output
    _check_folder(out, "USD")
    readme = (out / "README.md").read_text(encoding="utf-8")
    assert "* `sb_metal`: t Sb" in readme  # units of the materials
    # The CSV holds the same numbers as the Parquet file.
    a = pd.read_parquet(out / "market_summary.parquet")
    b = pd.read_csv(out / "market_summary.csv")
    pd.testing.assert_frame_equal(a, b, check_dtype=False)
    # Texts with commas (the events a disruption overlaps) survive the CSV.
    dis = pd.read_csv(out / "disruptions.csv", keep_default_na=False)
    pq = pd.read_parquet(out / "disruptions.parquet")
    assert list(dis["overlaps"]) == list(pq["overlaps"])
    assert any("," in m for m in dis["overlaps"])
    # The policy's costs are described with the currency.
    assert "| `cost_total` | capex + opex + holding | USD |" in readme


def test_compare_folder_readme_and_bands(tmp_path):
    out = tmp_path / "cmp"
    res = invoke(["compare", str(ANTIMONY), "-r", "3", "-p", "stockpile_usa_90d",
                  "--flow-replications", "1", "-o", str(out)])  # fmt: skip
    assert res.exit_code == 0, res.output
    _check_folder(out, "USD")
    bands = pd.read_parquet(out / "bands.parquet")
    assert list(bands["variant"].unique()) == ["baseline", "stockpile_usa_90d"]
    # The same bands as `crmsim run` of each variant with the same seed and replications
    # (the same replications: common random numbers).
    sc = crmsim.load_scenario(ANTIMONY)
    from crmsim.experiment.runner import run_replications
    from crmsim.policy import apply_policies

    for v, g in bands.groupby("variant", sort=False):
        rr = run_replications(apply_policies(sc, str(v)).scenario, 3, sc.experiment.seed,
                              keep_first_daily=False)  # fmt: skip
        pd.testing.assert_frame_equal(
            g.drop(columns="variant").reset_index(drop=True), rr.bands.reset_index(drop=True)
        )
    # Each variant has its own bands: the US stockpile lifts the US market's median on
    # some days of the export ban.
    usa = bands[bands["market"] == "market_usa"].pivot(index="day", columns="variant", values="q50")
    assert (usa["stockpile_usa_90d"] > usa["baseline"] + 0.05).any()


def test_compare_bands_survive_resume_of_an_old_folder_without_them(tmp_path):
    """Batches written before the bands were kept: the comparison still completes."""
    out = tmp_path / "cmp"
    sc = crmsim.load_scenario(TUTORIAL)
    crmsim.compare(sc, replications=4, flow_replications=1, out=out, batch_size=2)
    for part in (out / "parts").glob("variant=*/batch-*/performance.parquet"):
        part.unlink()
    again = crmsim.compare(sc, replications=4, flow_replications=1, out=out, batch_size=2,
                           resume=True)  # fmt: skip
    assert again.run.bands == {}
    assert len(again.table)


def test_sweep_folder_has_a_readme(tmp_path):
    out = tmp_path / "sweep"
    res = invoke(["sweep", str(TUTORIAL), "--set", "nodes.refinery_deu.capacity=10,20",
                  "-r", "2", "-o", str(out)])  # fmt: skip
    assert res.exit_code == 0, res.output
    readme = (out / "README.md").read_text(encoding="utf-8")
    assert "# crmsim sweep results" in readme
    for p in out.glob("*.csv"):
        assert f"`{p.name}`" in readme


# --------------------------------------------------------------------------- forest


def _table(short: dict[str, float], change: dict[str, float]) -> pd.DataFrame:
    rows = []
    for m in short:
        for metric in ("fill_rate", "unmet"):
            rows.append({"market": m, "unit": "t", "option": "x", "metric": metric,
                         "better": "higher" if metric == "fill_rate" else "lower",
                         "baseline_mean": 1 - short[m] if metric == "fill_rate" else 0.0,
                         "diff_mean": change[m], "diff_low": change[m] - 0.01,
                         "diff_high": change[m] + 0.01})  # fmt: skip
    return pd.DataFrame(rows)


def test_forest_default_shows_the_markets_short_the_most_not_the_first_by_name():
    t = _table({"a_market": 0.0, "b_market": 0.0, "c_market": 0.0, "x_market": 0.2,
                "y_market": 0.1},
               {"a_market": 0.0, "b_market": 0.03, "c_market": 0.0, "x_market": 0.01,
                "y_market": 0.0})  # fmt: skip
    # Short the most first (x, y), then the largest change among the rest (b).
    assert figures.forest_markets(t) == ["x_market", "y_market", "b_market"]
    fig = figures.forest(t)
    ylabels = [ax.get_ylabel() for ax in fig.axes if ax.get_ylabel()]
    assert ylabels == ["market x_market", "market y_market", "market b_market"]
    assert figures.forest_markets(t, 1) == ["x_market"]
    with_all = pd.concat([t, _table({"(all)": 0.1}, {"(all)": 0.0})], ignore_index=True)
    assert figures.forest_markets(with_all) == ["(all)"]


def test_forest_default_of_a_real_comparison_is_the_short_market():
    sc = crmsim.load_scenario(ANTIMONY)
    cmp = crmsim.compare(sc, "stockpile_usa_90d", replications=3, flow_replications=1)
    t = cmp.table
    if "(all)" in set(t["market"]):
        pytest.skip("the markets share a unit")
    fr = t[t["metric"] == "fill_rate"].groupby("market")["baseline_mean"].first()
    assert figures.forest_markets(t, 1) == [str(fr.idxmin())]
    assert np.isfinite(fr.min())
