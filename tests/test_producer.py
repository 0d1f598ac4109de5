"""The producer-country view against hand calculations, and on the pilot scenarios."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from crmsim import load_scenario
from crmsim.engine import simulate
from crmsim.experiment import run_replications
from crmsim.experiment.compare import run_experiment
from crmsim.experiment.producer import (
    ALL_MATERIALS,
    PRODUCER_COLUMNS,
    producer_figures,
    producer_options,
    producer_view,
)
from crmsim.experiment.scorecard import edge_flows
from crmsim.policy import apply_policies
from crmsim.scenario.loader import scenario_from_dict

ROOT = Path(__file__).resolve().parents[1]
H = 100

# A Tajik mine sells ore to a Tajik smelter and to a Chinese one; the Tajik smelter sells
# metal to German, Italian and Tajik users. No randomness: every day ships what is used.
#   metal: DEU 6/day, ITA 3/day abroad, TJK 1/day at home
#   ore: to the Chinese smelter 5 metal/day × 2 = 10/day abroad; to the Tajik smelter
#        10 metal/day × 2 = 20/day at home
SMALL = {
    "crmsim": 1,
    "name": "producer view, by hand",
    "warmup_days": 30,
    "horizon_days": H,
    "home": ["TJK"],
    "materials": [
        {"id": "ore", "reference_price": 10},
        {"id": "metal", "reference_price": 50},
    ],
    "nodes": [
        {"id": "mine_tjk", "role": "mine", "country": "TJK", "output": "ore", "capacity": 100},
        {
            "id": "smelter_tjk",
            "role": "processor",
            "country": "TJK",
            "output": "metal",
            "capacity": 100,
            "recipe": {"ore": 2.0},
        },
        {
            "id": "smelter_chn",
            "role": "processor",
            "country": "CHN",
            "output": "metal",
            "capacity": 100,
            "recipe": {"ore": 2.0},
        },
        {"id": "users_deu", "role": "market", "country": "DEU", "demand": {"mean": 6}},
        {"id": "users_ita", "role": "market", "country": "ITA", "demand": {"mean": 3}},
        {"id": "users_tjk", "role": "market", "country": "TJK", "demand": {"mean": 1}},
        {"id": "users_chn", "role": "market", "country": "CHN", "demand": {"mean": 5}},
    ],
    "edges": [
        {"from": "mine_tjk", "to": "smelter_tjk", "lead_time": 2},
        {"from": "mine_tjk", "to": "smelter_chn", "lead_time": 5},
        {"from": "smelter_tjk", "to": "users_deu", "lead_time": 4},
        {"from": "smelter_tjk", "to": "users_ita", "lead_time": 4},
        {"from": "smelter_tjk", "to": "users_tjk", "lead_time": 1},
        {"from": "smelter_chn", "to": "users_chn", "lead_time": 1},
    ],
}


@pytest.fixture(scope="module")
def small():
    return scenario_from_dict(SMALL)


def by_material(view: pd.DataFrame) -> pd.DataFrame:
    return view.set_index("material")


def test_producer_view_by_hand(small):
    view = by_material(producer_view(simulate(small, seed=0)))
    metal, ore, total = view.loc["metal"], view.loc["ore"], view.loc[ALL_MATERIALS]
    assert metal["exports"] == pytest.approx(9 * H)
    assert metal["home_sales"] == pytest.approx(1 * H)
    assert metal["export_revenue"] == pytest.approx(9 * H * 50)
    assert ore["exports"] == pytest.approx(10 * H)
    assert ore["home_sales"] == pytest.approx(20 * H)
    assert ore["export_revenue"] == pytest.approx(10 * H * 10)
    # Smelting at home: 10 metal/day shipped × (50 − 2 × 10).
    assert metal["value_added_home"] == pytest.approx(10 * H * 30)
    assert ore["value_added_home"] == 0.0
    # Buyers: metal DEU 6, ITA 3 → (2/3)² + (1/3)²; ore only CHN.
    assert metal["buyer_hhi"] == pytest.approx(1e4 * 5 / 9)
    assert (metal["top_buyer"], metal["top_buyer_share"]) == ("DEU", pytest.approx(2 / 3))
    assert ore["buyer_hhi"] == pytest.approx(1e4)
    assert int(metal["buyer_countries"]) == 2
    # All materials, by revenue: DEU 300, ITA 150, CHN 100 per day.
    assert total["export_revenue"] == pytest.approx(550 * H)
    assert total["value_added_home"] == pytest.approx(300 * H)
    assert total["buyer_hhi"] == pytest.approx(1e4 * (300**2 + 150**2 + 100**2) / 550**2)
    assert total["top_buyer"] == "DEU"


def test_other_country_view_and_missing_price(small):
    # China's view: its smelter buys ore and sells metal at home only: no exports.
    view = by_material(producer_view(simulate(small, seed=0), "CHN"))
    assert view.loc["metal", "exports"] == 0.0
    assert math.isnan(view.loc["metal", "buyer_hhi"])
    assert view.loc["metal", "value_added_home"] == pytest.approx(5 * H * 30)
    # Without the ore price the value added of smelting is unknown, not overstated.
    data = {**SMALL, "materials": [{"id": "ore"}, {"id": "metal", "reference_price": 50}]}
    view = by_material(producer_view(simulate(scenario_from_dict(data), seed=0)))
    assert math.isnan(view.loc["metal", "value_added_home"])
    assert math.isnan(view.loc["ore", "export_revenue"])
    assert view.loc[ALL_MATERIALS, "export_revenue"] == pytest.approx(9 * H * 50)


def test_pooled_replications_are_means_and_ratio_of_sums(small):
    res = simulate(small, seed=0)
    fl = edge_flows(res, small)
    doubled = fl.copy()
    doubled.loc[doubled["buyer"] == "users_ita", "shipped"] *= 3  # a second replication
    pooled = by_material(producer_figures(pd.concat([fl, doubled]), small, replications=2))
    assert pooled.loc["metal", "exports"] == pytest.approx((9 * H + 15 * H) / 2)
    # Pooled buyers: DEU 12, ITA 12 (3 + 9) → 5 000.
    assert pooled.loc["metal", "buyer_hhi"] == pytest.approx(5000)


def test_no_producer_country_is_a_clear_error(small):
    data = {k: v for k, v in SMALL.items() if k != "home"}
    with pytest.raises(ValueError, match="name the producer country"):
        producer_view(simulate(scenario_from_dict(data), seed=0))


def test_run_and_experiment_forms_agree(small):
    run = run_replications(small, 3, 0)
    assert producer_view(run).equals(producer_view(run, replications=3))
    assert producer_view(run)["replications"].iloc[0] == 3
    no_daily = run_replications(small, 2, 0, keep_first_daily=False)
    with pytest.raises(ValueError, match="no replication 0"):
        producer_view(no_daily)
    exp = run_experiment(small, ["baseline"], replications=2, seed=0, flow_replications=2)
    ev = producer_view(exp)
    assert list(ev.columns) == list(PRODUCER_COLUMNS)
    assert set(ev["variant"]) == {"baseline"}
    direct = producer_view(run, replications=2).drop(columns="variant")
    pd.testing.assert_frame_equal(ev.drop(columns="variant"), direct)


# --- the pilots ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tajik():
    return load_scenario(ROOT / "scenarios" / "tajikistan_antimony.yaml")


def test_tajik_options_belong_to_tajikistan(tajik):
    assert producer_options(tajik) == [
        "msme_smelter_tjk",
        "export_diversification_tjk",
        "develop_konchoch",
    ]


def test_export_diversification_adds_a_buyer_country_and_lowers_concentration(tajik):
    base = by_material(producer_view(simulate(tajik, seed=2, record="summary")))
    app = apply_policies(tajik, "export_diversification_tjk")
    div = by_material(producer_view(simulate(app.scenario, seed=2, record="summary")))
    conc_b, conc_d = base.loc["sb_concentrate"], div.loc["sb_concentrate"]
    # In the baseline all exported Tajik concentrate goes to China (HHI 10 000).
    assert conc_b["buyer_hhi"] == pytest.approx(1e4)
    assert conc_b["top_buyer"] == "CHN"
    assert int(conc_d["buyer_countries"]) == 2
    assert conc_d["buyer_hhi"] < 0.8e4
    assert conc_d["exports"] > conc_b["exports"] + 1000  # about 6.5 t/day more
    assert div.loc[ALL_MATERIALS, "export_revenue"] > base.loc[ALL_MATERIALS, "export_revenue"]


def test_ukraine_contract_with_eu_fabs_raises_exports_to_germany():
    neon = load_scenario(ROOT / "scenarios" / "ukraine_neon.yaml")
    base = by_material(producer_view(simulate(neon, seed=1, record="summary")))
    app = apply_policies(neon, "eu_fab_contract_ukr")
    res = simulate(app.scenario, seed=1, record="summary")
    assert "entered" in set(res.levers["event"])  # finance found in this replication
    view = by_material(producer_view(res))
    assert view.loc["neon", "exports"] > base.loc["neon", "exports"] + 1000
    assert view.loc["neon", "top_buyer"] == "DEU"
    added = view.loc["neon", "value_added_home"] - base.loc["neon", "value_added_home"]
    # Every extra kg shipped adds 280 − 1.05 × 84 = 191.8 USD at home.
    extra = view.loc["neon", "exports"] - base.loc["neon", "exports"]
    assert added == pytest.approx(extra * (280 - 1.05 * 84), rel=1e-9)
