"""Scorecard and Critical Raw Materials Act card, checked by hand on a small network.

The network runs in steady state (fixed demand, ample capacity, no disruptions), so the
realised flows over the 100 scored days are the planned ones and every share below is
worked out by hand from the shares and recipes.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import pandas as pd
import pytest

from crmsim.experiment.compare import compare
from crmsim.experiment.scorecard import home_countries
from crmsim.scenario.loader import scenario_from_dict

#: Home = EU (DEU, FRA). City (FRA) buys 10 t metal/day: 30 % from a German smelter fed
#: by a German (small) mine, 50 % from a Chinese smelter fed by a Chinese mine, 20 % from
#: a French (micro) recycler at its capacity of 2 t/day. A French mine of 100 t/day is
#: not on production (UNFC E2 F2.1). The option caps any one country at 40 % of the
#: city's metal, moving China's excess 10 points to the German smelter.
HAND: dict[str, Any] = {
    "crmsim": 1,
    "name": "CRMA by hand",
    "warmup_days": 100,
    "horizon_days": 100,
    "home": ["EU"],
    "regions": {"EU": ["DEU", "FRA"]},
    "materials": [
        {"id": "ore"},
        {"id": "metal", "lifetime": {"fixed": 30}, "content": {"metal": 1.0}},
    ],
    "nodes": [
        {"id": "mine_de", "role": "mine", "country": "DEU", "output": "ore", "capacity": 50,
         "size": "small"},
        {"id": "mine_cn", "role": "mine", "country": "CHN", "output": "ore", "capacity": 50,
         "size": "large"},
        {"id": "mine_fr", "role": "mine", "country": "FRA", "output": "ore", "capacity": 100,
         "size": "large", "unfc": "E2 F2.1 G2"},
        {"id": "smelter_de", "role": "processor", "country": "DEU", "output": "metal",
         "capacity": 50, "recipe": {"ore": 1.0}, "size": "large"},
        {"id": "smelter_cn", "role": "processor", "country": "CHN", "output": "metal",
         "capacity": 50, "recipe": {"ore": 1.0}, "size": "large"},
        {"id": "city", "role": "market", "country": "FRA", "demand": {"mean": 10},
         "in_use_initial": "steady_state"},
        {"id": "rec_fr", "role": "recycler", "country": "FRA", "output": "metal",
         "capacity": 2, "collection_rate": 1.0, "recovery_efficiency": 1.0, "size": "micro"},
    ],
    "edges": [
        {"from": "mine_de", "to": "smelter_de", "lead_time": 2},
        {"from": "mine_cn", "to": "smelter_cn", "lead_time": 2},
        {"from": "smelter_de", "to": "city", "share": 0.3, "lead_time": 2},
        {"from": "rec_fr", "to": "city", "share": 0.2, "lead_time": 1},
        {"from": "smelter_cn", "to": "city", "share": 0.5, "lead_time": 2},
    ],
    "policies": [
        {"id": "cap_china", "diversify": {"buyer": "city", "max_share_per_country": 0.4,
                                          "to": ["smelter_de"]}},
    ],
    "experiment": {"replications": 3, "compare": ["baseline", "cap_china"]},
}  # fmt: skip


@pytest.fixture(scope="module")
def hand() -> Any:
    return compare(scenario_from_dict(HAND), flow_replications=2)


def _card(cmp: Any) -> dict[tuple[str, str, str], float]:
    return {(r.variant, r.material, r.indicator): r.share for r in cmp.crma.itertuples(index=False)}


def test_crma_card_by_hand(hand: Any) -> None:
    card = _card(hand)
    # Metal: home consumption 10 t/day × 100 days = 1 000 t.
    # Before: German ore 3 t/day → extraction 300/1000; German smelter 300/1000;
    # recycler 200/1000; China 500/1000 (≤ 65 %: met).
    assert card["baseline", "metal", "extraction"] == pytest.approx(0.3, abs=1e-9)
    assert card["baseline", "metal", "processing"] == pytest.approx(0.3, abs=1e-9)
    assert card["baseline", "metal", "recycling"] == pytest.approx(0.2, abs=1e-9)
    assert card["baseline", "metal", "single_third_country"] == pytest.approx(0.5, abs=1e-9)
    # After capping each country at 40 %: the German chain carries 40 %, China 40 %.
    assert card["cap_china", "metal", "extraction"] == pytest.approx(0.4, abs=1e-9)
    assert card["cap_china", "metal", "processing"] == pytest.approx(0.4, abs=1e-9)
    assert card["cap_china", "metal", "recycling"] == pytest.approx(0.2, abs=1e-9)
    assert card["cap_china", "metal", "single_third_country"] == pytest.approx(0.4, abs=1e-9)
    # Ore: consumed at home only by the German smelter, all from the German mine.
    assert card["baseline", "ore", "extraction"] == pytest.approx(1.0, abs=1e-9)
    assert math.isnan(card["baseline", "ore", "processing"])  # no processor makes ore
    assert math.isnan(card["baseline", "ore", "recycling"])  # nor is ore recycled
    assert card["baseline", "ore", "single_third_country"] == 0.0
    crma = hand.crma.set_index(["variant", "material", "indicator"])
    assert crma.loc[("baseline", "metal", "extraction"), "consumption"] == pytest.approx(1000.0)
    assert crma.loc[("baseline", "ore", "extraction"), "consumption"] == pytest.approx(300.0)
    assert crma.loc[("cap_china", "ore", "extraction"), "consumption"] == pytest.approx(400.0)
    met = crma["met"]
    assert met[("baseline", "metal", "processing")] is False  # 30 % < 40 %
    assert met[("cap_china", "metal", "processing")] is True  # 40 % ≥ 40 %
    assert met[("baseline", "metal", "recycling")] is False  # 20 % < 25 %
    assert met[("baseline", "ore", "processing")] is None
    assert crma.loc[("baseline", "metal", "single_third_country"), "country"] == "CHN"


def test_crma_home_consuming_nothing_is_undefined() -> None:
    data = copy.deepcopy(HAND)
    data["home"] = ["USA"]
    card = compare(scenario_from_dict(data), replications=2, flow_replications=1).crma
    assert card["share"].isna().all()
    assert card["met"].isna().all()
    assert (card["consumption"] == 0).all()


def test_scorecard_by_hand(hand: Any) -> None:
    sc = hand.scorecard.set_index(["variant", "group"])
    base = sc.loc["baseline"]
    # Diversification: ore by origin country DEU 300, CHN 500 → HHI 0.375² + 0.625²;
    # metal FRA 200, CHN 500, DEU 300 → 0.2² + 0.5² + 0.3²; mean of 1 − HHI.
    div = ((1 - (0.375**2 + 0.625**2)) + (1 - (0.2**2 + 0.5**2 + 0.3**2))) / 2
    assert base.loc["diversification", "score"] == pytest.approx(div)
    assert base.loc["circularity", "score"] == pytest.approx(0.2)  # 200 of 1 000 t metal
    # MSME: ore 300 of 800 t from the small mine; metal 200 of 1 000 t from the micro recycler.
    assert base.loc["msme_inclusion", "score"] == pytest.approx((0.375 + 0.2) / 2)
    # 100 of 200 t/day of mine capacity is on production (the French mine is E2 F2.1).
    assert base.loc["resource_readiness", "score"] == pytest.approx(0.5)
    assert base.loc["resilience", "score"] == pytest.approx(1.0)
    w = hand.run.scenario.scoring.weights
    for g in w:
        assert base.loc[g, "weight"] == w[g]
    total = sum(w[g] * base.loc[g, "score"] for g in w)
    assert base.loc["total", "score"] == pytest.approx(total)
    # After the cap: ore DEU 400, CHN 400; metal FRA 200, CHN 400, DEU 400.
    after = sc.loc["cap_china"]
    div2 = ((1 - (0.5**2 + 0.5**2)) + (1 - (0.2**2 + 0.4**2 + 0.4**2))) / 2
    assert after.loc["diversification", "score"] == pytest.approx(div2)
    assert after.loc["msme_inclusion", "score"] == pytest.approx((0.5 + 0.2) / 2)


def test_scorecard_uses_the_scenario_weights() -> None:
    data = copy.deepcopy(HAND)
    data["scoring"] = {"weights": {"resilience": 0.0, "diversification": 0.0,
                                   "circularity": 1.0, "msme_inclusion": 0.0,
                                   "resource_readiness": 0.0}}  # fmt: skip
    sc = compare(scenario_from_dict(data), replications=2, flow_replications=1).scorecard
    total = sc[(sc.variant == "baseline") & (sc.group == "total")].iloc[0]
    assert total["score"] == pytest.approx(0.2)  # circularity alone


def test_readiness_undefined_without_mines_is_left_out_of_the_total() -> None:
    data = {
        "crmsim": 1, "name": "no mines", "warmup_days": 10, "horizon_days": 20,
        "materials": [{"id": "x"}],
        "nodes": [
            {"id": "p", "role": "processor", "country": "DEU", "output": "x", "capacity": 5,
             "size": "small"},
            {"id": "m", "role": "market", "country": "DEU", "demand": {"mean": 5}},
        ],
        "edges": [{"from": "p", "to": "m"}],
    }  # fmt: skip
    sc = compare(scenario_from_dict(data), replications=2, flow_replications=1).scorecard
    rows = sc.set_index("group")
    assert math.isnan(rows.loc["resource_readiness", "score"])
    assert "resource_readiness" in rows.loc["total", "rule"]
    assert rows.loc["total", "weight"] == pytest.approx(0.9)
    assert rows.loc["total", "score"] == pytest.approx(rows.loc["total", "weighted"] / 0.9)


def test_home_countries() -> None:
    s = scenario_from_dict(HAND)
    assert home_countries(s) == ("DEU", "FRA")
    assert home_countries(s, "CHN") == ("CHN",)
    data = copy.deepcopy(HAND)
    del data["home"]
    assert home_countries(scenario_from_dict(data)) == ("FRA",)  # the market's country


def test_flows_table_is_keyed_by_variant_and_replication(hand: Any) -> None:
    flows = hand.run.flows
    assert list(flows.columns[:2]) == ["variant", "replication"]
    assert set(flows["replication"]) == {0, 1}
    assert isinstance(flows, pd.DataFrame)
