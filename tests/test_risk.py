"""Supply risk (EU CRM methodology 2017) checked against hand-computed values."""

from __future__ import annotations

import math

import networkx as nx
import pytest

from crmsim.network.graph import build_graph
from crmsim.network.risk import (
    governance_scores,
    governance_table,
    hhi_wgi,
    home_countries,
    supply_risk,
)
from crmsim.scenario.loader import scenario_from_dict

REQUIRED = [
    "AUS", "BOL", "BRA", "CAN", "CHN", "DEU", "ESP", "FRA", "GBR", "IND", "ITA", "JPN", "KOR",
    "MMR", "NLD", "POL", "RUS", "TJK", "TWN", "UKR", "USA", "VNM", "MYS", "THA", "MEX", "ZAF",
    "KAZ", "TUR",
]  # fmt: skip


def ore_scenario(**overrides: object) -> dict:
    """Mines AUS 40, CHN 40, DEU 20 (capacity); the German market buys 50/25/25 of 40 t/day."""
    data = {
        "crmsim": 1,
        "name": "ore",
        "governance": {"AUS": 2.0, "CHN": 6.0, "DEU": 1.0},
        "materials": [{"id": "ore", "eol_rir": 0.2, "substitution_index": 0.8}],
        "nodes": [
            {"id": "m_au", "role": "mine", "country": "AUS", "output": "ore", "capacity": 40},
            {"id": "m_cn", "role": "mine", "country": "CHN", "output": "ore", "capacity": 40},
            {"id": "m_de", "role": "mine", "country": "DEU", "output": "ore", "capacity": 20},
            {"id": "k", "role": "market", "country": "DEU", "demand": {"mean": 40}},
        ],
        "edges": [
            {"from": "m_au", "to": "k", "share": 0.5},
            {"from": "m_cn", "to": "k", "share": 0.25},
            {"from": "m_de", "to": "k", "share": 0.25},
        ],
    }
    data.update(overrides)
    return data


def risk_row(data: dict, material: str = "ore"):
    r = supply_risk(build_graph(scenario_from_dict(data)))
    return r[r["material"] == material].iloc[0]


def test_supply_risk_matches_a_hand_computation():
    # Global supply (capacity) shares 0.4 / 0.4 / 0.2 with WGI 2 / 6 / 1:
    #   HHI_WGI,GS = 0.16·2 + 0.16·6 + 0.04·1 = 1.32
    # Home (DEU, the market's country) sourcing 20 / 10 / 10 t/day = 0.5 / 0.25 / 0.25:
    #   HHI_WGI,home = 0.25·2 + 0.0625·6 + 0.0625·1 = 0.9375
    # Import reliance = imports / home sourcing = (20 + 10) / 40 = 0.75
    # Bracket = 1.32·0.375 + 0.9375·(1 − 0.375) = 0.495 + 0.5859375 = 1.0809375
    # SR = 1.0809375 · (1 − 0.2) · 0.8 = 0.6918
    r = risk_row(ore_scenario())
    assert r["home"] == ("DEU",)
    assert r["hhi_wgi_gs"] == pytest.approx(1.32)
    assert r["hhi_wgi_home"] == pytest.approx(0.9375)
    assert r["import_reliance"] == pytest.approx(0.75)
    assert r["ir_source"] == "network"
    assert r["sr_concentration"] == pytest.approx(1.0809375)
    assert r["supply_risk"] == pytest.approx(0.6918)
    assert r["missing"] == ()
    assert r["missing_governance"] == ()


def test_import_reliance_from_the_scenario_wins():
    data = ore_scenario()
    data["materials"][0]["import_reliance"] = 1.0
    r = risk_row(data)
    # Bracket = 1.32·0.5 + 0.9375·0.5 = 1.12875; SR = 1.12875 · 0.8 · 0.8 = 0.7224
    assert r["ir_source"] == "scenario"
    assert r["sr_concentration"] == pytest.approx(1.12875)
    assert r["supply_risk"] == pytest.approx(0.7224)


def test_home_region_is_expanded():
    # Home EU = DEU + AUS (a made-up region): only CHN is imported, IR = 10 / 40.
    r = risk_row(ore_scenario(regions={"EU": ["DEU", "AUS"]}, home=["EU"]))
    assert r["home"] == ("AUS", "DEU")
    assert r["import_reliance"] == pytest.approx(0.25)


def test_unknown_governance_is_nan_and_listed():
    data = ore_scenario(governance={"AUS": 2.0, "DEU": 1.0})
    data["nodes"][1]["country"] = "ISL"  # Iceland: not in the shipped table
    r = risk_row(data)
    assert math.isnan(r["hhi_wgi_gs"])
    assert math.isnan(r["hhi_wgi_home"])
    assert math.isnan(r["sr_concentration"])
    assert math.isnan(r["supply_risk"])
    assert r["missing_governance"] == ("ISL",)
    assert any("ISL" in m for m in r["missing"])
    gov = governance_scores(build_graph(scenario_from_dict(data)))
    isl = gov[gov["country"] == "ISL"].iloc[0]
    assert math.isnan(isl["wgi_scaled"])
    assert isl["source"] == "unknown"


def test_missing_eol_rir_or_substitution_keeps_the_bracket():
    data = ore_scenario()
    del data["materials"][0]["eol_rir"]
    r = risk_row(data)
    assert r["sr_concentration"] == pytest.approx(1.0809375)
    assert math.isnan(r["eol_rir"])
    assert math.isnan(r["supply_risk"])
    assert r["missing"] == ("eol_rir",)


def test_no_home_sourcing_is_unknown_not_zero():
    # The market (home) buys metal; nobody at home buys the ore.
    data = {
        "crmsim": 1, "name": "upstream ore",
        "governance": {"TJK": 7.0, "CHN": 6.0, "DEU": 1.0},
        "materials": [{"id": "ore", "eol_rir": 0, "substitution_index": 1},
                      {"id": "metal", "eol_rir": 0, "substitution_index": 1}],
        "nodes": [
            {"id": "mine", "role": "mine", "country": "TJK", "output": "ore", "capacity": 9},
            {"id": "smelter", "role": "processor", "country": "CHN", "output": "metal",
             "capacity": 9, "recipe": {"ore": 1}},
            {"id": "k", "role": "market", "country": "DEU", "demand": {"mean": 5}},
        ],
        "edges": [{"from": "mine", "to": "smelter"}, {"from": "smelter", "to": "k"}],
    }  # fmt: skip
    ore = risk_row(data, "ore")
    assert ore["hhi_wgi_gs"] == pytest.approx(7.0)
    assert math.isnan(ore["hhi_wgi_home"])
    assert math.isnan(ore["import_reliance"])
    assert ore["ir_source"] == "unknown"
    assert math.isnan(ore["supply_risk"])
    assert "import reliance" in ore["missing"]
    metal = risk_row(data, "metal")
    # one Chinese smelter, all imported: bracket = 6·0.5 + 6·0.5 = 6
    assert metal["import_reliance"] == 1.0
    assert metal["supply_risk"] == pytest.approx(6.0)


def test_hhi_wgi_normalises_quantities():
    assert hhi_wgi({"A": 30, "B": 10}, {"A": 2.0, "B": 6.0}) == (pytest.approx(1.5), ())
    value, missing = hhi_wgi({}, {})
    assert math.isnan(value)
    assert missing == ()


def test_scenario_governance_overrides_the_table():
    G = build_graph(scenario_from_dict(ore_scenario(governance={"CHN": 9.5})))
    gov = governance_scores(G).set_index("country")
    assert gov.loc["CHN", "wgi_scaled"] == 9.5
    assert gov.loc["CHN", "source"].startswith("scenario file")
    table = governance_table().set_index("country")
    assert gov.loc["AUS", "wgi_scaled"] == table.loc["AUS", "wgi_scaled"]


def test_default_home_is_the_markets_countries():
    G = nx.MultiDiGraph(home=(), regions={})
    assert home_countries(G) == ()
    G = build_graph(scenario_from_dict(ore_scenario()))
    assert home_countries(G) == ("DEU",)


def test_shipped_governance_table_covers_the_scenario_countries():
    t = governance_table()
    assert list(t.columns[:4]) == ["country", "wgi_scaled", "wgi_mean", "year"]
    assert "source" in t.columns
    assert set(REQUIRED) <= set(t["country"])
    assert t["country"].is_unique
    assert t["wgi_scaled"].between(0, 10).all()
    assert t["source"].str.len().gt(0).all()
    # the documented transform: scaled = 5 − 2 · mean (to the table's rounding)
    assert (t["wgi_scaled"] - (5 - 2 * t["wgi_mean"])).abs().max() < 1e-3
    # weaker governance scores higher
    s = t.set_index("country")["wgi_scaled"]
    assert s["MMR"] > s["CHN"] > s["DEU"]
