"""Network analysis checked against hand-computed values."""

from __future__ import annotations

import copy
import math
from pathlib import Path

import networkx as nx
import pytest

from crmsim.network.analysis import (
    analyse,
    concentration,
    hhi,
    hhi_band,
    market_dependencies,
    msme_share,
    origins,
    single_sourced,
    supply_paths,
    supply_shares,
)
from crmsim.network.graph import build_graph
from crmsim.scenario.loader import load_scenario, scenario_from_dict

ROOT = Path(__file__).resolve().parents[1]
PHARMA = ROOT / "scenarios" / "pharma_api80.yaml"

# (50/95)² + (30/95)² + (15/95)², × 10⁴: capacities 50, 30 and 15.
CAPACITY_HHI_50_30_15 = 4016.620498614958


def pharma_dict(**overrides: object) -> dict:
    """The docs/model.md example: API from CHN 0.5 / IND 0.3 / DEU 0.2 (capacities 50/30/15)."""
    data = {
        "crmsim": 1,
        "name": "EU generics",
        "regions": {"EU": ["DEU", "FRA"]},
        "materials": [{"id": "api"}, {"id": "generics"}],
        "nodes": [
            {"id": "api_cn", "role": "processor", "country": "CHN", "output": "api",
             "capacity": 50, "size": "large"},
            {"id": "api_in", "role": "processor", "country": "IND", "output": "api",
             "capacity": 30, "size": "large"},
            {"id": "api_eu", "role": "processor", "country": "DEU", "output": "api",
             "capacity": 15, "size": "medium"},
            {"id": "formulator", "role": "processor", "country": "DEU", "output": "generics",
             "capacity": 90, "recipe": {"api": 1.0}},
            {"id": "eu_patients", "role": "market", "country": "DEU",
             "demand": {"mean": 80, "cv": 0.1}},
        ],
        "edges": [
            {"from": "api_cn", "to": "formulator", "share": 0.5},
            {"from": "api_in", "to": "formulator", "share": 0.3},
            {"from": "api_eu", "to": "formulator", "share": 0.2, "qualified": True},
            {"from": "formulator", "to": "eu_patients"},
        ],
    }  # fmt: skip
    data.update(overrides)
    return data


@pytest.fixture
def pharma() -> nx.MultiDiGraph:
    return build_graph(scenario_from_dict(pharma_dict()))


def row(df, **where):
    mask = True
    for k, v in where.items():
        mask = mask & (df[k] == v)
    sub = df[mask]
    assert len(sub) == 1, sub
    return sub.iloc[0]


def test_hhi_of_a_50_30_20_split_is_3800():
    assert hhi([0.5, 0.3, 0.2]) == pytest.approx(3800.0, rel=1e-12)
    assert hhi([40, 24, 16]) == 3800.0


def test_hhi_of_one_supplier_is_10000_and_of_nothing_is_nan():
    assert hhi([7.0]) == 10000.0
    assert math.isnan(hhi([]))
    assert math.isnan(hhi([0.0, 0.0]))


@pytest.mark.parametrize(
    ("value", "band"),
    [
        (0.0, "unconcentrated"),
        (1499.9, "unconcentrated"),
        (1500.0, "moderately concentrated"),
        (2500.0, "moderately concentrated"),
        (2500.1, "highly concentrated"),
        (10000.0, "highly concentrated"),
        (math.nan, "unknown"),
    ],
)
def test_hhi_bands_follow_the_2010_merger_guidelines(value, band):
    assert hhi_band(value) == band


def test_sourcing_hhi_of_the_pharma_sketch_is_3800(pharma):
    c = row(concentration(pharma), material="api", basis="sourcing")
    assert c["hhi"] == pytest.approx(3800.0, rel=1e-12)
    assert c["band"] == "highly concentrated"
    assert c["top_country"] == "CHN"
    assert c["top_share"] == pytest.approx(0.5)
    assert c["countries"] == 3
    # demand 80 × recipe 1.0: the formulator buys 80 t/day of API
    assert c["total"] == pytest.approx(80.0)


def test_capacity_hhi_of_the_pharma_sketch_is_hand_computed(pharma):
    c = row(concentration(pharma), material="api", basis="capacity")
    assert c["hhi"] == pytest.approx(CAPACITY_HHI_50_30_15, rel=1e-12)
    assert c["top_share"] == pytest.approx(50 / 95)
    assert c["total"] == 95.0


def test_supply_shares_are_tidy_and_sum_to_one(pharma):
    by_country = supply_shares(pharma)
    assert list(by_country.columns) == ["material", "basis", "country", "quantity", "share"]
    sums = by_country.groupby(["material", "basis"])["share"].sum()
    assert sums.to_numpy() == pytest.approx([1.0] * len(sums))
    r = row(by_country, material="api", basis="sourcing", country="IND")
    assert (r["quantity"], r["share"]) == (pytest.approx(24.0), pytest.approx(0.3))

    by_supplier = supply_shares(pharma, by="supplier", bases=("capacity",))
    assert list(by_supplier["supplier"][by_supplier["material"] == "api"]) == [
        "api_cn", "api_in", "api_eu",
    ]  # fmt: skip
    assert set(by_supplier["basis"]) == {"capacity"}


def test_countries_with_several_suppliers_are_added_up():
    data = pharma_dict()
    data["nodes"].append({"id": "api_cn2", "role": "processor", "country": "CHN",
                          "output": "api", "capacity": 10})  # fmt: skip
    data["edges"][0]["share"] = 0.4
    data["edges"].append({"from": "api_cn2", "to": "formulator", "share": 0.1})
    G = build_graph(scenario_from_dict(data))
    c = row(concentration(G), material="api", basis="sourcing")
    assert c["hhi"] == pytest.approx(3800.0)  # CHN still 0.5 in total
    cap = row(supply_shares(G), material="api", basis="capacity", country="CHN")
    assert cap["quantity"] == 60.0


def test_capacity_counts_only_producers_on_production():
    data = {
        "crmsim": 1, "name": "undeveloped mine",
        "materials": [{"id": "ore"}],
        "nodes": [
            {"id": "a", "role": "mine", "country": "AUS", "output": "ore", "capacity": 30},
            {"id": "b", "role": "mine", "country": "CAN", "output": "ore", "capacity": 70,
             "unfc": "E2 F2.1 G2"},
            {"id": "k", "role": "market", "country": "DEU", "demand": {"mean": 5}},
        ],
        "edges": [{"from": "a", "to": "k"}],
    }  # fmt: skip
    G = build_graph(scenario_from_dict(data))
    assert not G.nodes["b"]["on_production"]
    assert row(concentration(G), material="ore", basis="capacity")["hhi"] == 10000.0


def test_a_trader_is_not_counted_twice():
    data = {
        "crmsim": 1, "name": "trader",
        "materials": [{"id": "ore"}],
        "nodes": [
            {"id": "a", "role": "mine", "country": "AUS", "output": "ore", "capacity": 30},
            {"id": "b", "role": "mine", "country": "CHN", "output": "ore", "capacity": 30},
            {"id": "t", "role": "processor", "country": "NLD", "output": "ore", "capacity": 99,
             "recipe": {"ore": 1}},
            {"id": "k", "role": "market", "country": "DEU", "demand": {"mean": 10}},
        ],
        "edges": [
            {"from": "a", "to": "t", "share": 0.5},
            {"from": "b", "to": "t", "share": 0.5},
            {"from": "t", "to": "k"},
        ],
    }  # fmt: skip
    G = build_graph(scenario_from_dict(data))
    assert origins(G, "ore") == ["a", "b"]
    shares = supply_shares(G)
    assert "NLD" not in set(shares["country"])
    assert row(concentration(G), material="ore", basis="sourcing")["hhi"] == 5000.0


def test_single_sourced_dependencies_of_the_pharma_sketch(pharma):
    ss = single_sourced(pharma)
    assert ss[["buyer", "material", "supplier"]].values.tolist() == [
        ["eu_patients", "generics", "formulator"]
    ]
    assert not ss.loc[0, "has_qualified_alternative"]
    assert ss.loc[0, "qualified_alternatives"] == ()


def test_single_sourced_flags_a_qualified_alternative():
    data = pharma_dict()
    data["edges"] = [
        {"from": "api_cn", "to": "formulator", "share": 1.0},
        {"from": "api_in", "to": "formulator", "share": 0.0},
        {"from": "api_eu", "to": "formulator", "share": 0.0, "qualified": True},
        {"from": "formulator", "to": "eu_patients"},
    ]
    ss = single_sourced(build_graph(scenario_from_dict(data)))
    api = row(ss, material="api")
    assert api["buyer"] == "formulator"
    assert api["supplier"] == "api_cn"
    # api_in has share 0 but is not qualified: not an alternative
    assert api["qualified_alternatives"] == ("api_eu",)
    assert api["has_qualified_alternative"]
    assert len(ss) == 2


def test_msme_share_reports_unknown_sizes_separately():
    data = pharma_dict()
    del data["nodes"][1]["size"]  # api_in, 30 t/day, size unknown
    m = row(msme_share(build_graph(scenario_from_dict(data))), material="api")
    assert (m["capacity"], m["msme"], m["large"], m["unknown"]) == (95.0, 15.0, 50.0, 30.0)
    assert m["msme_share"] == pytest.approx(15 / 65)  # of known-size capacity only
    assert m["unknown_share"] == pytest.approx(30 / 95)
    assert m["unknown_nodes"] == ("api_in",)


def test_msme_share_is_nan_when_no_size_is_known(pharma):
    m = row(msme_share(pharma), material="generics")
    assert math.isnan(m["msme_share"])
    assert m["unknown"] == 90.0


def test_msme_size_can_come_from_employees():
    data = pharma_dict()
    del data["nodes"][0]["size"]
    data["nodes"][0]["employees"] = 40  # small
    m = row(msme_share(build_graph(scenario_from_dict(data))), material="api")
    assert m["msme"] == 65.0


def chain(n_mid: int) -> dict:
    """A mine, n_mid parallel refiners, a component maker and a market."""
    nodes = [{"id": "mine", "role": "mine", "country": "TJK", "output": "ore", "capacity": 99}]
    edges = []
    for i in range(n_mid):
        nodes.append({"id": f"r{i}", "role": "processor", "country": "CHN", "output": "metal",
                      "capacity": 99, "recipe": {"ore": 1}})  # fmt: skip
        edges += [{"from": "mine", "to": f"r{i}"},
                  {"from": f"r{i}", "to": "maker", "share": 1 / n_mid}]  # fmt: skip
    nodes += [
        {"id": "maker", "role": "processor", "country": "DEU", "output": "part",
         "capacity": 99, "recipe": {"metal": 1}},
        {"id": "k", "role": "market", "country": "FRA", "demand": {"mean": 10}},
    ]  # fmt: skip
    edges.append({"from": "maker", "to": "k"})
    return {"crmsim": 1, "name": "chain",
            "materials": [{"id": "ore"}, {"id": "metal"}, {"id": "part"}],
            "nodes": nodes, "edges": edges}  # fmt: skip


def test_paths_from_mines_to_markets():
    G = build_graph(scenario_from_dict(chain(3)))
    p = supply_paths(G)
    assert len(p) == 1
    r = p.iloc[0]
    assert (r["mine"], r["market"], r["n_paths"], r["truncated"]) == ("mine", "k", 3, False)
    assert r["paths"][0] == ("mine", "r0", "maker", "k")
    assert r["countries"] == ("CHN", "DEU", "FRA", "TJK")


def test_paths_are_capped_and_say_so():
    G = build_graph(scenario_from_dict(chain(5)))
    r = supply_paths(G, max_paths=2).iloc[0]
    assert r["n_paths"] == 2
    assert r["truncated"]
    with pytest.raises(ValueError, match="max_paths"):
        supply_paths(G, max_paths=0)


def test_market_dependencies_list_upstream_countries(pharma):
    dep = market_dependencies(pharma)
    assert dep["country"].tolist() == ["CHN", "DEU", "IND"]
    assert row(dep, country="DEU")["nodes"] == ("api_eu", "formulator")


def test_analysis_does_not_change_the_graph(pharma):
    before_nodes = copy.deepcopy(dict(pharma.nodes(data=True)))
    before_edges = copy.deepcopy(list(pharma.edges(keys=True, data=True)))
    before_graph = copy.deepcopy(pharma.graph)
    analyse(pharma)
    assert dict(pharma.nodes(data=True)) == before_nodes
    assert list(pharma.edges(keys=True, data=True)) == before_edges
    assert pharma.graph == before_graph


def test_report_text_summarises_each_material(pharma):
    report = analyse(pharma)
    assert report.materials == ["api", "generics"]
    text = report.to_text()
    for expected in ("material: api", "material: generics", "3,800", "4,017",
                     "highly concentrated", "Single-sourced dependencies",
                     "eu_patients (DEU)", "MSME share of capacity: 15.8 %",
                     "supply risk SR", "eol_rir"):  # fmt: skip
        assert expected in text, expected
    only_api = report.to_text(material="api")
    assert "material: generics" not in only_api
    with pytest.raises(KeyError, match="unknown material"):
        report.to_text(material="gold")


def test_report_is_independent_of_file_order():
    data = pharma_dict()
    shuffled = pharma_dict(nodes=data["nodes"][::-1], edges=data["edges"][::-1])
    a = analyse(build_graph(scenario_from_dict(data)))
    b = analyse(build_graph(scenario_from_dict(shuffled)))
    assert a.to_text() == b.to_text()
    assert a.shares.equals(b.shares)


@pytest.mark.skipif(not PHARMA.exists(), reason="scenarios/pharma_api80.yaml not written yet")
def test_shipped_pharma_scenario_concentration():
    G = build_graph(load_scenario(PHARMA))
    caps = {n: G.nodes[n]["capacity"] for n in ("api_cn", "api_in", "api_eu")}
    assert caps == {"api_cn": 50.0, "api_in": 30.0, "api_eu": 15.0}
    conc = concentration(G)
    assert row(conc, material="api", basis="sourcing")["hhi"] == pytest.approx(3800.0)
    assert row(conc, material="api", basis="capacity")["hhi"] == pytest.approx(
        CAPACITY_HHI_50_30_15, rel=1e-12
    )
    # Indian API makers' intermediates: 68 % from China, 32 % Indian (planned 13.26 / 6.24
    # t/day; capacities 16 / 9): 68² + 32² = 5 648; 10 000 × (16² + 9²) / 25² = 5 392.
    assert row(conc, material="api_int", basis="sourcing")["hhi"] == pytest.approx(5648.0)
    assert row(conc, material="api_int", basis="capacity")["hhi"] == pytest.approx(5392.0)
    ss = single_sourced(G)
    assert ("formulator", "eu_patients") in set(zip(ss["supplier"], ss["buyer"], strict=True))
    assert row(ss, buyer="eu_patients")["material"] == "generics"
    assert "api_in" not in set(ss["buyer"])  # two intermediate suppliers, one qualified


def test_text_report_is_returned_whole_inside_a_notebook(monkeypatch, pharma):
    # In Jupyter rich sends each print to the page unless told not to; the report must still
    # come back as one text (workshop notebooks print it).
    import rich.console

    report = analyse(pharma)
    outside = report.to_text()
    monkeypatch.setattr(rich.console, "_is_jupyter", lambda: True)
    inside = report.to_text()
    assert inside == outside
    assert "Supply network" in inside
