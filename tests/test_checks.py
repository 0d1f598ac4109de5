"""Referential checks on scenarios whose fields are valid."""

from __future__ import annotations

from typing import Any

import pytest

from crmsim.scenario import Problem, Scenario, ScenarioError, loads_scenario
from crmsim.scenario.checks import check_scenario

DESIGN_EXAMPLE = """\
crmsim: 1
name: EU generic medicines — active ingredient supply
sources:
  - "UNECE 2020: ~80% of active components for EU drug supply imported from China and India"
horizon_days: 365
warmup_days: 60
regions: {EU: [DEU, FRA, ITA, ESP, NLD]}
home: [EU]
materials:
  - {id: api, name: active pharmaceutical ingredient, unit: t}
  - {id: generics, name: finished generic medicines, unit: t}
nodes:
  - {id: api_cn, role: processor, country: CHN, output: api, capacity: 50, size: large}
  - {id: api_in, role: processor, country: IND, output: api, capacity: 30, size: large}
  - {id: api_eu, role: processor, country: DEU, output: api, capacity: 15, size: medium}
  - {id: formulator, role: processor, country: DEU, output: generics, capacity: 90,
     recipe: {api: 1.0}, stock_days: 30}
  - {id: eu_patients, role: market, country: DEU, demand: {mean: 80, cv: 0.1}}
edges:
  - {from: api_cn, to: formulator, share: 0.5, lead_time: 35}
  - {from: api_in, to: formulator, share: 0.3, lead_time: 28}
  - {from: api_eu, to: formulator, share: 0.2, lead_time: 5, qualified: true}
  - {from: formulator, to: eu_patients, share: 1.0, lead_time: 3}
disruptions:
  - {id: hubei_lockdown, kind: outage, target: {country: CHN}, start: 0, duration: 76,
     severity: 0.8, recovery_days: 30}
  - {id: india_api_export_ban, kind: export_restriction, target: {country: IND, material: api},
     start: 40, duration: 86}
  - {id: port_delay, kind: logistics, factor: 2, target: {edge: "api_cn->formulator"},
     start: 10, duration: 20}
  - {id: plant_incidents, kind: outage, target: {role: processor},
     random: {rate_per_year: 0.5, duration: {lognormal: {mean: 20, sd: 10}}}}
policies:
  - id: msme_api_makers
    label: two domestic MSME API makers
    msme_entrant: {count: 2, country: DEU, size: small, capacity: 8, ramp_up_days: 90,
                   finance_probability: 0.7, qualification_days: 60, supplies: [formulator],
                   capex: 4.0e6, opex_per_day: 2000}
  - id: stockpile_60d
    stockpile: {at: formulator, material: api, days_of_cover: 60, release_below_fill_rate: 0.95}
  - id: dev_eu
    diversify: {buyer: formulator, material: api, max_share_per_country: 0.4, to: [api_eu]}
experiment:
  replications: 200
  seed: 20200123
  compare: [baseline, msme_api_makers, stockpile_60d, msme_api_makers+stockpile_60d]
scoring:
  weights: {resilience: 0.4, diversification: 0.2, circularity: 0.15, msme_inclusion: 0.15,
            resource_readiness: 0.1}
"""


def scenario(data: dict[str, Any]) -> Scenario:
    return Scenario.model_validate(data)


def problems(data: dict[str, Any]) -> list[Problem]:
    return check_scenario(scenario(data))


def codes(data: dict[str, Any]) -> list[str]:
    return [p.code for p in problems(data)]


def test_design_example_is_consistent():
    s = loads_scenario(DESIGN_EXAMPLE, "design.yaml")
    assert check_scenario(s) == []
    assert len(s.policies) == 3


def test_minimal_is_consistent(minimal):
    assert problems(minimal) == []


@pytest.mark.parametrize("kind", ["materials", "nodes"])
def test_duplicate_ids(minimal, kind):
    minimal[kind].append(dict(minimal[kind][0]))
    (p,) = [p for p in problems(minimal) if p.code == "duplicate_id"]
    assert p.path == (kind, len(minimal[kind]) - 1, "id")
    assert f"already used by {kind}[0]" in p.message


def test_duplicate_disruption_and_policy_ids(minimal):
    d = {"id": "d", "kind": "outage", "target": {"country": "CHN"}, "start": 0, "duration": 1}
    pol = {"id": "p", "stockpile": {"at": "maker", "material": "api", "days_of_cover": 5}}
    minimal["disruptions"] = [d, d]
    minimal["policies"] = [pol, pol]
    found = [p.path for p in problems(minimal) if p.code == "duplicate_id"]
    assert found == [("disruptions", 1, "id"), ("policies", 1, "id")]


def test_unknown_node_in_edge_has_suggestion(minimal):
    minimal["edges"][1]["from"] = "api_inn"
    (p,) = problems(minimal)  # the buyer's share check is not repeated
    assert p.path == ("edges", 1, "from")
    assert p.hint == "did you mean 'api_in'?"
    assert p.value == "api_inn"


def test_unknown_materials(minimal):
    minimal["materials"][1]["content"] = {"apx": 0.1}
    minimal["nodes"][2]["recipe"] = {"api": 1.0, "apj": 1.0}
    minimal["edges"][2]["material"] = "pils"
    found = {p.path: p for p in problems(minimal) if p.code == "unknown_material"}
    assert set(found) == {
        ("materials", 1, "content", "apx"),
        ("nodes", 2, "recipe", "apj"),
        ("edges", 2, "material"),
    }
    assert found[("edges", 2, "material")].hint == "did you mean 'pills'?"


def test_edge_material_must_be_suppliers_output(minimal):
    minimal["edges"][2]["material"] = "api"
    (p,) = problems(minimal)
    assert p.code == "edge_material"
    assert "produces 'pills', not 'api'" in p.message


def test_buyer_must_use_what_it_receives(minimal):
    minimal["edges"].append({"from": "maker", "to": "api_cn", "share": 1})
    found = codes(minimal)
    assert "buyer_material" in found  # api_cn has no recipe: it passes api through


def test_passthrough_processor_and_stockpile_are_fine(minimal):
    minimal["nodes"].append(
        {"id": "trader", "role": "processor", "country": "NLD", "output": "api", "capacity": 9}
    )
    minimal["nodes"].append(
        {"id": "depot", "role": "stockpile", "country": "DEU", "output": "api", "capacity": 9}
    )
    minimal["edges"][1] = {"from": "trader", "to": "maker", "share": 0.4}
    minimal["edges"] += [
        {"from": "api_in", "to": "trader"},
        {"from": "api_in", "to": "depot"},
        {"from": "depot", "to": "maker", "share": 0, "qualified": True},
    ]
    assert problems(minimal) == []


def test_edges_into_mines_and_recyclers_are_rejected(minimal):
    minimal["materials"].append({"id": "ore"})
    minimal["nodes"].append(
        {"id": "mine", "role": "mine", "country": "AUS", "output": "ore", "capacity": 1}
    )
    minimal["edges"].append({"from": "api_cn", "to": "mine"})
    (p,) = problems(minimal)
    assert p.code == "buyer_material"
    assert "takes no inputs" in p.message


def test_market_cannot_supply(minimal):
    minimal["nodes"].append(
        {"id": "m2", "role": "market", "country": "FRA", "demand": {"mean": 1}, "output": "pills"}
    )
    minimal["edges"].append({"from": "patients", "to": "m2"})
    assert "market_supplies" in codes(minimal)


@pytest.mark.parametrize(
    ("shares", "ok"),
    [
        ((0.6, 0.4), True),
        ((0.1, 0.2, 0.7), True),  # 0.1 + 0.2 + 0.7 != 1 exactly in floating point
        ((0.6, 0.4 + 5e-7), True),
        ((0.6, 0.4 + 5e-6), False),
        ((0.6, 0.3), False),
        ((1.0, 1.0), False),  # two suppliers, both left at the default share
    ],
)
def test_shares_sum_to_one_within_tolerance(minimal, shares, ok):
    minimal["nodes"].append(
        {"id": "api_x", "role": "processor", "country": "KOR", "output": "api", "capacity": 5}
    )
    suppliers = ["api_cn", "api_in", "api_x"]
    minimal["edges"] = [
        {"from": s, "to": "maker", "share": v} for s, v in zip(suppliers, shares, strict=False)
    ] + [{"from": "maker", "to": "patients"}]
    found = problems(minimal)
    if ok:
        assert found == []
    else:
        (p,) = found
        assert p.code == "shares_sum"
        assert p.path == ("edges", 0, "share")
        assert "bought by 'maker'" in p.message
        assert "edges[0] from api_cn" in p.message
        assert "edges[1] from api_in" in p.message


def test_recipe_input_without_supplier(minimal):
    minimal["materials"].append({"id": "excipient"})
    minimal["nodes"][2]["recipe"]["excipient"] = 0.2
    (p,) = problems(minimal)
    assert p.code == "no_supplier"
    assert p.path == ("nodes", 2, "recipe", "excipient")


def test_market_without_suppliers_or_path(minimal):
    minimal["nodes"].append(
        {"id": "m2", "role": "market", "country": "FRA", "demand": {"mean": 1}, "output": "pills"}
    )
    (p,) = problems(minimal)
    assert p.code == "no_supply_path"
    assert "has no suppliers" in p.message
    # Supplied, but only by a stockpile that nobody fills: no producing node upstream.
    minimal["nodes"].append(
        {"id": "depot", "role": "stockpile", "country": "FRA", "output": "pills", "capacity": 1}
    )
    minimal["edges"].append({"from": "depot", "to": "m2"})
    (p,) = problems(minimal)
    assert "no supply path to market 'm2'" in p.message


def test_market_material_cannot_be_inferred(minimal):
    minimal["edges"].append({"from": "api_cn", "to": "patients"})
    assert "market_material" in codes(minimal)


def test_market_output_must_match(minimal):
    minimal["nodes"][3]["output"] = "api"
    (p,) = problems(minimal)
    assert p.code == "buyer_material"
    assert "demands 'api'" in p.message


def test_cycle_is_named(minimal):
    minimal["nodes"] += [
        {"id": "a", "role": "processor", "country": "NLD", "output": "api", "capacity": 1},
        {"id": "b", "role": "processor", "country": "BEL", "output": "api", "capacity": 1},
    ]
    minimal["edges"] += [{"from": "a", "to": "b"}, {"from": "b", "to": "a"}]
    (p,) = problems(minimal)
    assert p.code == "cycle"
    assert p.message == "the supply edges form a cycle: a -> b -> a"


def test_self_loop(minimal):
    minimal["edges"].append({"from": "api_cn", "to": "api_cn"})
    assert "cycle" in codes(minimal)


def test_duplicate_edge(minimal):
    minimal["edges"].append(dict(minimal["edges"][0]))
    assert "duplicate_edge" in codes(minimal)


def test_regions_and_home(minimal):
    minimal["regions"] = {"EU": ["DEU", "FRA"]}
    minimal["home"] = ["EU", "DEU", "deu", "EUU"]
    minimal["disruptions"] = [
        {"id": "d", "kind": "outage", "target": {"region": "Eu"}, "start": 0, "duration": 1}
    ]
    found = {p.path: p for p in problems(minimal)}
    assert found[("home", 2)].code == "country_case"
    assert found[("home", 3)].hint == "did you mean region 'EU'?"
    assert found[("disruptions", 0, "target", "region", 0)].hint == "did you mean 'EU'?"
    assert ("home", 0) not in found
    assert ("home", 1) not in found


def test_target_references(minimal):
    minimal["disruptions"] = [
        {
            "id": "d",
            "kind": "logistics",
            "factor": 2,
            "target": {"node": ["api_cm"], "material": "apii", "edge": ["api_cn->patients"]},
            "start": 0,
            "duration": 1,
        }
    ]
    found = {p.path: p.code for p in problems(minimal)}
    assert found == {
        ("disruptions", 0, "target", "node", 0): "unknown_node",
        ("disruptions", 0, "target", "material", 0): "unknown_material",
        ("disruptions", 0, "target", "edge", 0): "unknown_edge",
    }


def test_policy_references(minimal):
    minimal["policies"] = [
        {"id": "s", "stockpile": {"at": "makr", "material": "api", "days_of_cover": 5}},
        {"id": "s2", "stockpile": {"at": "maker", "material": "pills", "days_of_cover": 5}},
        {"id": "d", "develop_resource": {"node": "maker"}},
        {
            "id": "v",
            "diversify": {"buyer": "maker", "to": ["api_xx"], "max_share_per_country": 0.5},
        },
        {
            "id": "m",
            "msme_entrant": {
                "country": "DEU",
                "size": "small",
                "capacity": 1,
                "supplies": "makr",
                "suppliers": ["api_cn"],
                "trigger": {"fill_rate_below": 0.9, "buyer": "patient"},
            },
        },
        {"id": "r", "recycling": {"id": "rec", "collects_from": ["maker"], "supplies": "mkr"}},
    ]
    found = {p.path: p.code for p in problems(minimal)}
    assert found == {
        ("policies", 0, "stockpile", "at"): "unknown_node",
        ("policies", 1, "stockpile", "material"): "buyer_material",
        ("policies", 2, "develop_resource", "node"): "wrong_role",
        ("policies", 3, "diversify", "to", 0): "unknown_node",
        ("policies", 4, "msme_entrant", "supplies", 0): "unknown_node",
        ("policies", 4, "msme_entrant", "trigger", "buyer"): "unknown_node",
        ("policies", 5, "recycling", "collects_from", 0): "not_a_market",
        ("policies", 5, "recycling", "supplies", 0): "unknown_node",
        ("policies", 5, "recycling"): "missing_key",
    }


@pytest.mark.parametrize(
    ("compare", "code", "hint"),
    [
        (["baseline", "stok"], "unknown_policy", "did you mean 'stock'?"),
        (["stock+lime"], "unknown_policy", None),
        (["baseline+stock"], "invalid_compare", None),
        (["stock+"], "invalid_compare", None),
        (["stock+stock"], "invalid_compare", None),
        (["stock", "stock"], "duplicate_id", None),
    ],
)
def test_compare_entries(minimal, compare, code, hint):
    minimal["policies"] = [
        {"id": "stock", "stockpile": {"at": "maker", "material": "api", "days_of_cover": 5}},
        {"id": "other", "stockpile": {"at": "maker", "material": "api", "days_of_cover": 9}},
    ]
    minimal["experiment"] = {"compare": compare}
    found = problems(minimal)
    assert [p.code for p in found] == [code]
    assert found[0].path[:2] == ("experiment", "compare")
    if hint:
        assert found[0].hint == hint


def test_compare_combinations_are_valid(minimal):
    minimal["policies"] = [
        {"id": "a", "stockpile": {"at": "maker", "material": "api", "days_of_cover": 5}},
        {"id": "b", "diversify": {"buyer": "maker", "max_share_per_country": 0.5}},
    ]
    minimal["experiment"] = {"compare": ["baseline", "a", "b", "a + b", "b+a"]}
    assert codes(minimal) == ["duplicate_id"]  # a+b and b+a are the same combination


def test_checks_are_located_by_the_loader(minimal_yaml):
    text = minimal_yaml.replace("from: api_in", "from: api_inn")
    with pytest.raises(ScenarioError) as info:
        loads_scenario(text, "s.yaml")
    (p,) = info.value.problems
    assert p.file == "s.yaml"
    assert p.line == text.splitlines().index("- from: api_inn") + 1
    assert p.column == 9
