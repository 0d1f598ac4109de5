"""Policy comparison: known answers, common random numbers, MCB ranking and the CLI."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

import crmsim
from cli_helpers import one_worker
from crmsim import load_scenario
from crmsim.cli import cli
from crmsim.engine import simulate
from crmsim.experiment.compare import (
    ALL_MARKETS,
    compare,
    mcb,
    replications_needed,
    variants_of,
)
from crmsim.policy import PolicyError, apply_policies
from crmsim.scenario.loader import scenario_from_dict

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = sorted((ROOT / "scenarios").glob("*.yaml"))

#: A noisy supply chain: random demand, random outages, random lead times. The option
#: `never_financed` adds an MSME entrant that never obtains finance, so it provably
#: changes nothing — but it does add a node and edges, which must not shift any random
#: draw of the rest of the network (common random numbers).
NOISY: dict[str, Any] = {
    "crmsim": 1,
    "name": "noisy chain",
    "warmup_days": 30,
    "horizon_days": 120,
    "materials": [{"id": "ore"}, {"id": "metal"}],
    "nodes": [
        {"id": "mine_a", "role": "mine", "country": "AUS", "output": "ore", "capacity": 12},
        {"id": "mine_b", "role": "mine", "country": "CHL", "output": "ore", "capacity": 6},
        {"id": "mine_c", "role": "mine", "country": "DEU", "output": "ore", "capacity": 3,
         "unfc": "E1.1 F1.2 G1"},
        {"id": "smelter", "role": "processor", "country": "DEU", "output": "metal",
         "capacity": 14, "recipe": {"ore": 1.0}, "stock_days": 5},
        {"id": "city", "role": "market", "country": "DEU", "demand": {"mean": 10, "cv": 0.3}},
        {"id": "town", "role": "market", "country": "FRA", "demand": {"mean": 2, "cv": 0.3}},
    ],
    "edges": [
        {"from": "mine_a", "to": "smelter", "share": 0.7,
         "lead_time": {"uniform": {"low": 5, "high": 15}}},
        {"from": "mine_b", "to": "smelter", "share": 0.3, "lead_time": 10, "qualified": True},
        {"from": "mine_c", "to": "smelter", "share": 0.0, "lead_time": 2, "qualified": True},
        {"from": "smelter", "to": "city", "share": 1.0, "lead_time": 2},
        {"from": "smelter", "to": "town", "share": 1.0, "lead_time": 3},
    ],
    "disruptions": [
        {"id": "mine_outages", "kind": "outage", "target": {"role": "mine"},
         "random": {"rate_per_year": 4, "duration": {"uniform": {"low": 5, "high": 25}}}},
    ],
    "policies": [
        {"id": "never_financed", "msme_entrant": {
            "country": "DEU", "size": "small", "capacity": 5, "recipe": {"ore": 1.0},
            "suppliers": ["mine_b"], "supplies": ["city"], "finance_probability": 0.0,
            "capex": 1.0e6, "opex_per_day": 100}},
        {"id": "maybe_financed", "msme_entrant": {
            "country": "DEU", "size": "small", "capacity": 5, "recipe": {"ore": 1.0},
            "suppliers": ["mine_b"], "supplies": ["city"], "finance_probability": 0.5,
            "trigger": {"day": 10}, "capex": 2.0e6}},
        {"id": "develop", "develop_resource": {
            "node": "mine_c", "lead_time": {"uniform": {"low": 10, "high": 100}},
            "success_probability": 0.6}},
        {"id": "stock", "stockpile": {"at": "smelter", "material": "ore", "days_of_cover": 20,
                                      "release_below_fill_rate": 0.95}},
    ],
    "experiment": {"replications": 8, "seed": 7,
                   "compare": ["baseline", "never_financed", "stock", "maybe_financed+stock"]},
}  # fmt: skip


@pytest.fixture(scope="module")
def noisy() -> Any:
    return compare(scenario_from_dict(NOISY), flow_replications=1)


# --------------------------------------------------------------------------- known answers


def test_option_that_changes_nothing_gives_exactly_zero(noisy: Any) -> None:
    t = noisy.table[noisy.table.option == "never_financed"]
    assert len(t) == 4 * 3  # 4 metrics × (2 markets + all markets: they share a unit)
    assert (t["diff_mean"] == 0.0).all()
    assert (t["diff_low"] == 0.0).all()
    assert (t["diff_high"] == 0.0).all()
    assert (t["p_tie"] == 1.0).all()
    assert (t["p_better"] == 0.0).all()
    # ... while the baseline itself varies between replications (the test is not trivial).
    base = noisy.replications
    base = base[(base.variant == "baseline") & (base.market == "city")]
    assert base["fill_rate"].std() > 0.01
    costs = noisy.costs[noisy.costs.option == "never_financed"]
    assert (costs["cost_mean"] == 0.0).all()  # never entered: no capex, no opex
    assert costs["cost_per_pp"].isna().all()  # nothing gained: cost per pp undefined
    assert costs["note"].str.contains("not significant").all()


def test_shared_unit_gives_an_all_markets_row(noisy: Any) -> None:
    assert noisy.run.shared_unit == "t"
    assert noisy.run.markets == ["city", "town", ALL_MARKETS]
    data = copy.deepcopy(NOISY)
    data["materials"][1]["unit"] = "kg"  # the markets' material; ore stays in t
    data["nodes"].append(
        {"id": "ore_buyer", "role": "market", "country": "DEU", "demand": {"mean": 1}}
    )
    data["edges"].append({"from": "mine_a", "to": "ore_buyer", "share": 1.0})
    cmp = compare(scenario_from_dict(data), ["stock"], replications=2, flow_replications=1)
    assert cmp.run.shared_unit is None
    assert ALL_MARKETS not in set(cmp.table["market"])
    assert ALL_MARKETS not in set(cmp.replications["market"])
    units = cmp.table.drop_duplicates("market").set_index("market")["unit"]
    assert units.to_dict() == {"city": "kg", "ore_buyer": "t", "town": "kg"}


#: A capacity-bound case worked out by hand: the only supplier is a recycler of 4 t/day
#: (collecting everything the city uses, 30 days later) facing 10 t/day of demand. Doubling
#: its capacity to 8 t/day raises the fill rate from 4/10 to 8/10: +0.4 exactly. (End-of-
#: life supply never binds: 10 t/day in use at the start, then what was served; the
#: city's 5 days of stock are gone within the 60-day warm-up.)
CAPACITY_BOUND: dict[str, Any] = {
    "crmsim": 1,
    "name": "capacity bound",
    "currency": "EUR",
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
    "policies": [{"id": "double", "recycling": {"id": "rec", "capacity_factor": 2.0,
                                                "capex": 5.0e5, "opex_per_day": 100}}],
    "experiment": {"replications": 3, "compare": ["double"]},
}  # fmt: skip


def test_doubling_a_bound_suppliers_capacity_gains_the_hand_computed_amount() -> None:
    cmp = compare(scenario_from_dict(CAPACITY_BOUND), flow_replications=1)
    t = cmp.table[cmp.table.market == "city"].set_index("metric")
    assert t.loc["fill_rate", "baseline_mean"] == pytest.approx(0.4)
    assert t.loc["fill_rate", "diff_mean"] == pytest.approx(0.4)
    assert t.loc["fill_rate", "diff_low"] == pytest.approx(0.4)
    assert t.loc["fill_rate", "diff_high"] == pytest.approx(0.4)
    assert t.loc["unmet", "diff_mean"] == pytest.approx(-4.0 * 200)  # 4 t/day × 200 days
    c = cmp.costs[cmp.costs.market == "city"].iloc[0]
    assert c["currency"] == "EUR"
    assert c["cost_mean"] == pytest.approx(5.0e5 + 100 * 200)  # capex + opex, 200 days
    assert c["cost_per_pp"] == pytest.approx(520_000 / 40)
    assert c["cost_per_unit_avoided"] == pytest.approx(520_000 / 800)
    rank = cmp.ranking[cmp.ranking.market == "city"].set_index("variant")
    assert bool(rank.loc["double", "clearly_best"])
    assert rank.loc["double", "rank"] == 1
    assert not rank.loc["baseline", "possibly_best"]
    assert cmp.warnings == []


# --------------------------------------------------------------------------- CRN


def test_common_random_numbers_per_stream_kind() -> None:
    """Replication r of every variant sees the same demand, disruptions, entry and
    development draws."""
    s = scenario_from_dict(NOISY)
    names = ("baseline", "never_financed", "stock", "maybe_financed", "maybe_financed+stock",
             "develop", "develop+stock")  # fmt: skip
    apps = {name: apply_policies(s, name) for name in names}
    entered: list[bool] = []
    developed: list[list[float]] = []
    for r in range(6):
        eng = {k: simulate(a.scenario, 7, replication=r, record="summary")._engine
               for k, a in apps.items()}  # fmt: skip
        ref = eng["baseline"]
        events = [(e.disruption_id, e.target, e.start, e.end, e.severity) for e in ref.events]
        assert events, "the test needs disruptions to compare"
        for k, e in eng.items():
            # demand: each market's daily draws (columns in market order, the same markets)
            np.testing.assert_array_equal(e.rec_demand, ref.rec_demand, err_msg=k)
            # disruptions: the same events, on the same days, with the same severities
            assert [(x.disruption_id, x.target, x.start, x.end, x.severity)
                    for x in e.events] == events, k  # fmt: skip
        # entry: the same entrant obtains finance (or not) with or without the stockpile
        a = simulate(apps["maybe_financed"].scenario, 7, replication=r, record="summary")
        b = simulate(apps["maybe_financed+stock"].scenario, 7, replication=r, record="summary")
        pd.testing.assert_frame_equal(a.levers, b.levers)
        entered.append("entered" in set(a.levers["event"]))
        # development: the same project succeeds (or not), on the same day
        a = simulate(apps["develop"].scenario, 7, replication=r, record="summary")
        b = simulate(apps["develop+stock"].scenario, 7, replication=r, record="summary")
        pd.testing.assert_frame_equal(a.levers, b.levers)
        developed.append(a.levers.loc[a.levers.event == "production_started", "day"].tolist())
    assert any(entered), "finance 0.5 should differ between replications"
    assert not all(entered), "finance 0.5 should differ between replications"
    assert len({tuple(d) for d in developed}) > 1, "development should differ between replications"


def test_lead_time_draws_are_common_too(noisy: Any) -> None:
    """Random lead times: with a no-op option every edge receives exactly the same units."""
    f = noisy.run.flows
    base = f[f.variant == "baseline"].set_index(["supplier", "buyer"])["received"]
    same = f[f.variant == "never_financed"].set_index(["supplier", "buyer"])["received"]
    pd.testing.assert_series_equal(base, same.loc[base.index])


# --------------------------------------------------------------------------- MCB


def test_mcb_by_hand() -> None:
    x1 = np.array([1.0, 2.0, 3.0, 4.0])
    x2 = x1 + np.array([1.0, 1.1, 1.0, 1.2])  # better by 1.075 on average
    m = mcb(np.vstack([x1, x2]), 0.95)
    # k = 2: w = t_{0.95, 3} · sd(d)/√4 with sd(d) = 0.0957427…; t_{0.95,3} = 2.353363
    w = 2.353363 * np.std([1.0, 1.1, 1.0, 1.2], ddof=1) / 2
    assert m.loc[1, "mcb_low"] == 0.0  # 1.075 − w > 0: clearly best
    assert m.loc[1, "mcb_high"] == pytest.approx(1.075 + w, abs=1e-6)
    assert m.loc[0, "mcb_low"] == pytest.approx(-1.075 - w, abs=1e-6)
    assert m.loc[0, "mcb_high"] == 0.0
    assert m["clearly_best"].tolist() == [False, True]
    assert m["possibly_best"].tolist() == [False, True]
    assert m["share_best"].tolist() == [0.0, 1.0]


def test_mcb_ties_and_noise() -> None:
    same = np.tile(np.arange(5.0), (3, 1))
    m = mcb(same, 0.95)
    assert m["possibly_best"].all()
    assert not m["clearly_best"].any()
    rng = np.random.default_rng(3)
    noise = rng.normal(size=(3, 10))
    m = mcb(noise, 0.95)
    assert m["possibly_best"].sum() >= 2  # pure noise: no clear winner
    assert m["clearly_best"].sum() <= 1
    assert (m["mcb_low"] <= 0).all()
    assert (m["mcb_high"] >= 0).all()


def test_replications_needed() -> None:
    # t_{0.975, 49} = 2.00958; (2.00958 · 0.02 / 0.005)² = 64.6 → 65
    assert replications_needed(0.02, 0.005, 0.95, 50) == 65
    assert replications_needed(0.0, 0.0, 0.95, 50) is None  # identical in every replication
    assert replications_needed(0.02, 0.0, 0.95, 50, cap=1000) == 1000
    assert replications_needed(0.001, 0.5, 0.95, 50) == 50  # already resolved: never fewer
    # MCB of k = 4 variants: one-sided Bonferroni t_{1 − 0.05/3, 49} = 2.18975
    # (2.18975 · 0.02 / 0.005)² = 76.7 → 77
    assert replications_needed(0.02, 0.005, 0.95, 50, comparisons=3) == 77


def test_indistinguishable_options_are_warned_about(noisy: Any) -> None:
    text = " ".join(noisy.warnings)
    assert "cannot be told apart" in text
    assert "identical to it in every replication: " in text or "replications would" in text


# --------------------------------------------------------------------------- API


def test_variants_and_policy_errors() -> None:
    s = scenario_from_dict(NOISY)
    names = [a.combination for a in variants_of(s, "stock, stock,never_financed")]
    assert names == ["baseline", "stock", "never_financed"]
    assert next(a.combination for a in variants_of(s)) == "baseline"
    with pytest.raises(PolicyError, match="unknown policy"):
        variants_of(s, "stokc")


def test_package_level_compare_and_confidence() -> None:
    data = copy.deepcopy(NOISY)
    data["experiment"]["confidence"] = 0.5
    s = scenario_from_dict(data)
    wide = crmsim.compare(s, ["stock"], replications=6, flow_replications=1)
    narrow = compare(s, ["stock"], replications=6, flow_replications=1, confidence=0.99)
    assert wide.confidence == 0.5
    assert narrow.confidence == 0.99
    a = wide.table.set_index(["market", "metric"]).loc[("city", "fill_rate")]
    b = narrow.table.set_index(["market", "metric"]).loc[("city", "fill_rate")]
    assert a["diff_mean"] == b["diff_mean"]
    if a["diff_sd"] > 0:
        assert b["diff_high"] - b["diff_low"] > a["diff_high"] - a["diff_low"]
    fr = wide.table[wide.table.metric.isin(["fill_rate", "nadir"])]
    assert fr["diff_low"].between(-1, 1).all()
    assert fr["diff_high"].between(-1, 1).all()
    keys = wide.replications[["variant", "replication", "market"]]
    assert not keys.duplicated().any()
    assert set(wide.replications["variant"]) == {"baseline", "stock"}


# --------------------------------------------------------------------------- CLI


def invoke(args: list[str]) -> Any:
    return CliRunner().invoke(cli, one_worker(args), catch_exceptions=False)


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_compare_every_shipped_scenario(path: Path) -> None:
    res = invoke(["compare", str(path), "-r", "3", "-s", "1", "--flow-replications", "1"])
    assert res.exit_code == 0, res.output
    s = load_scenario(path)
    for option in s.experiment.compare:
        if option != "baseline":
            assert option in res.output
    from crmsim.experiment.compare import _market_units

    for market in _market_units(s):
        assert market in res.output  # per market
    assert "ranking by fill rate" in res.output
    assert "scorecard" in res.output
    assert "e+0" not in res.output
    assert "e+1" not in res.output


def test_compare_writes_tidy_tables(tmp_path: Path) -> None:
    path = tmp_path / "noisy.yaml"
    import yaml

    path.write_text(yaml.safe_dump(NOISY), encoding="utf-8")
    out = tmp_path / "res"
    res = invoke(["compare", str(path), "-p", "stock,maybe_financed+stock", "-r", "3",
                  "-o", str(out), "--flow-replications", "2"])  # fmt: skip
    assert res.exit_code == 0, res.output
    for name in ("replications", "comparison", "costs", "ranking", "scorecard", "crma",
                 "flows", "disruptions", "recovery", "data_dictionary"):  # fmt: skip
        pq = pd.read_parquet(out / f"{name}.parquet")
        csv = pd.read_csv(out / f"{name}.csv")
        assert len(pq) == len(csv)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["variants"] == ["baseline", "stock", "maybe_financed+stock"]
    assert manifest["replications"] == 3
    assert manifest["seed"] == 7
    assert len(manifest["scenario_sha256"]) == 64
    assert manifest["currency"] == "USD"
    dd = pd.read_csv(out / "data_dictionary.csv")
    tables = ("replications", "comparison", "costs", "ranking", "scorecard", "crma", "flows",
              "disruptions", "recovery")  # fmt: skip
    for table in tables:
        cols = set(pd.read_parquet(out / f"{table}.parquet").columns)
        assert cols == set(dd.loc[dd.table == table, "column"]), table
    reps = pd.read_parquet(out / "replications.parquet")
    assert len(reps) == 3 * 3 * 3  # variants × replications × (2 markets + all)
    # An existing folder is refused without --overwrite, and kept.
    again = invoke(["compare", str(path), "-r", "2", "-o", str(out)])
    assert again.exit_code == 1
    assert "--overwrite" in again.output
    assert json.loads((out / "manifest.json").read_text())["replications"] == 3
    assert invoke(["compare", str(path), "-r", "2", "-o", str(out), "--overwrite",
                   "--flow-replications", "1"]).exit_code == 0  # fmt: skip


def test_compare_user_errors_are_one_line(tmp_path: Path) -> None:
    path = ROOT / "scenarios" / "tutorial.yaml"
    res = invoke(["compare", str(path), "-p", "stockpile_3d", "-r", "2"])
    assert res.exit_code == 1
    assert "unknown policy 'stockpile_3d'" in res.output
    assert "Traceback" not in res.output
    res = invoke(["compare", str(path), "--home", "Atlantis", "-r", "2"])
    assert res.exit_code == 1
    assert "Atlantis" in res.output
    res = invoke(["compare", str(tmp_path / "missing.yaml")])
    assert res.exit_code == 1
    assert "cannot read" in res.output


def test_money_is_for_people() -> None:
    from crmsim.cli.commands_compare import money

    assert money(25_000_000.0) == "25,000,000"
    assert money(math.inf) == "–"


def test_compare_baseline_only_still_scores(tmp_path: Path) -> None:
    path = ROOT / "scenarios" / "tutorial.yaml"
    out = tmp_path / "res"
    res = invoke(["compare", str(path), "-p", "baseline", "-r", "2", "--flow-replications", "1",
                  "-o", str(out)])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "nothing to compare" in res.output
    assert "scorecard" in res.output
    assert len(pd.read_parquet(out / "comparison.parquet")) == 0
    assert set(pd.read_parquet(out / "scorecard.parquet")["variant"]) == {"baseline"}


def test_censored_recovery_is_not_averaged_as_observed() -> None:
    """An outage that outlasts the horizon: its TTR is censored, the median undefined."""
    data = {
        "crmsim": 1, "name": "long outage", "warmup_days": 20, "horizon_days": 100,
        "materials": [{"id": "ore"}],
        "nodes": [
            {"id": "mine", "role": "mine", "country": "AUS", "output": "ore", "capacity": 12},
            {"id": "city", "role": "market", "country": "DEU", "demand": {"mean": 10},
             "stock_days": 5},
        ],
        "edges": [{"from": "mine", "to": "city", "lead_time": 2}],
        "disruptions": [{"id": "flood", "kind": "outage", "target": {"node": "mine"},
                         "start": 40, "duration": 500}],
        "policies": [{"id": "stock", "stockpile": {"at": "city", "material": "ore",
                                                   "days_of_cover": 10,
                                                   "release_below_fill_rate": 0.9}}],
        "experiment": {"replications": 2, "compare": ["stock"]},
    }  # fmt: skip
    calls: list[int] = []
    cmp = compare(scenario_from_dict(data), flow_replications=1, progress=calls.append)
    assert sum(calls) == 2 * 2  # variants × replications (flows come from the same runs)
    rec = cmp.recovery.set_index("variant")
    assert rec.loc["baseline", "recovered_share"] == 0.0
    assert math.isnan(rec.loc["baseline", "median_ttr"])
    # Nothing recovers: censored at H − start = 60 days in both replications, so the mean
    # restricted to the follow-up of 60 days is 60 (a lower bound, never an average).
    assert rec.loc["baseline", "restricted_to"] == 60
    assert rec.loc["baseline", "restricted_mean_ttr"] == pytest.approx(60.0)
    d = cmp.run.disruptions
    assert d.loc[d.variant == "baseline", "censored"].all()
    assert len(d) == 2 * 2  # one event per variant and replication


@settings(max_examples=60, deadline=None)
@given(
    k=st.integers(2, 5),
    n=st.integers(2, 12),
    seed=st.integers(0, 2**32 - 1),
    shift=st.floats(0.0, 3.0),
)
def test_mcb_properties(k: int, n: int, seed: int, shift: float) -> None:
    """The variant with the highest mean is always possibly best; at most one is clearly
    best, and a clearly best variant is the one with the highest mean."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(k, n)) + rng.normal(size=(1, n))  # common noise, as with CRN
    X[0] += shift
    m = mcb(X, 0.9)
    top = int(np.argmax(X.mean(axis=1)))
    assert m.loc[top, "possibly_best"]
    assert m["clearly_best"].sum() <= 1
    if m["clearly_best"].any():
        assert bool(m.loc[top, "clearly_best"])
    assert (m["mcb_low"] <= 0).all()
    assert (m["mcb_high"] >= 0).all()
