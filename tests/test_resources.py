"""The UNFC resource table: schema, table by hand, located errors and `crmsim show`."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from crmsim.cli import cli
from crmsim.network.resources import RESOURCE_COLUMNS, resource_table, resource_table_text
from crmsim.scenario.errors import ScenarioError
from crmsim.scenario.loader import scenario_from_dict
from crmsim.scenario.unfc import confidence, plain_words

ROOT = Path(__file__).resolve().parents[1]


def scenario(resources_mine, resources_recycler=()):
    return {
        "crmsim": 1,
        "name": "resources",
        "materials": [
            {"id": "ore"},
            {"id": "gadget", "lifetime": 100, "content": {"ore": 0.1}},
        ],
        "nodes": [
            {
                "id": "mine",
                "role": "mine",
                "country": "TJK",
                "output": "ore",
                "capacity": 10,
                "resources": list(resources_mine),
            },
            {
                "id": "maker",
                "role": "processor",
                "country": "DEU",
                "output": "gadget",
                "capacity": 100,
                "recipe": {"ore": 0.1},
            },
            {"id": "users", "role": "market", "country": "DEU", "demand": {"mean": 50}},
            {
                "id": "rec",
                "role": "recycler",
                "country": "DEU",
                "output": "ore",
                "capacity": 1,
                "collection_rate": 0.5,
                "recovery_efficiency": 0.9,
                "resources": list(resources_recycler),
            },
        ],
        "edges": [
            {"from": "mine", "to": "maker", "share": 0.9, "lead_time": 3},
            {"from": "rec", "to": "maker", "share": 0.1, "lead_time": 1, "qualified": True},
            {"from": "maker", "to": "users", "lead_time": 2},
        ],
    }


def test_resource_table_by_hand():
    s = scenario_from_dict(
        scenario(
            [
                {"unfc": "E1.1 F1.1 G1", "tonnes": 50000},
                {"unfc": "e2 f2.1 g2", "tonnes": 120000, "source": "survey"},
            ],
            [{"unfc": "E1.1F1.1G3", "tonnes": 800}],
        )
    )
    t = resource_table(s)
    assert list(t.columns) == list(RESOURCE_COLUMNS)
    assert t[["node", "country", "material", "unfc", "tonnes"]].values.tolist() == [
        ["mine", "TJK", "ore", "E1.1 F1.1 G1", 50000.0],
        ["mine", "TJK", "ore", "E2 F2.1 G2", 120000.0],  # normalised
        ["rec", "DEU", "ore", "E1.1 F1.1 G3", 800.0],
    ]
    assert list(t["project_class"]) == [
        "Viable Projects",
        "Potentially Viable Projects",
        "Viable Projects",
    ]
    assert list(t["sub_class"]) == ["On Production", "Development Pending", "On Production"]
    assert list(t["confidence"]) == ["high", "moderate", "low"]
    assert t["meaning"].iloc[0] == plain_words("E1.1 F1.1 G1")
    text = resource_table_text(s)
    assert "E2 F2.1 G2  Potentially Viable Projects — Development Pending: 120,000 t" in text
    assert "total by class: E1.1 F1.1 G1 50,000 t; E1.1 F1.1 G3 800 t; E2 F2.1 G2 120,000 t" in (
        text
    )


def test_no_resources_no_table():
    s = scenario_from_dict(scenario([]))
    assert resource_table(s).empty
    assert list(resource_table(s).columns) == list(RESOURCE_COLUMNS)
    assert resource_table_text(s) == ""


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"unfc": "E1.1 F2.1 G1", "tonnes": 5}, "not a UNFC-2019 class"),
        ({"unfc": "E1 F1.1", "tonnes": 5}, "missing the G category"),
        ({"unfc": "E1 F1.1 G1", "tonnes": 0}, "must be positive"),
        ({"unfc": "E1 F1.1 G1", "tonnes": float("inf")}, "finite"),
        ({"unfc": "E1 F1.1 G1", "tonnes": 5, "grade": 2}, "grade"),
    ],
)
def test_bad_resources_are_located_errors(entry, message):
    with pytest.raises(ScenarioError) as err:
        scenario_from_dict(scenario([entry]))
    text = str(err.value)
    assert "resources" in text
    assert message in text


def test_bad_resource_in_a_file_names_file_and_line(tmp_path):
    text = (ROOT / "scenarios" / "tajikistan_antimony.yaml").read_text(encoding="utf-8")
    bad = text.replace(
        "tonnes: 300000,\n                  source", "tonnes: -5,\n                  source"
    )
    assert bad != text
    path = tmp_path / "bad.yaml"
    path.write_text(bad, encoding="utf-8")
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    line = 1 + bad[: bad.index("tonnes: -5")].count("\n")
    assert f"bad.yaml:{line}" in result.output
    assert "resources[0].tonnes: must be positive" in result.output


def test_resources_only_on_mines_and_recyclers():
    data = scenario([])
    data["nodes"][1]["resources"] = [{"unfc": "E1 F1.1 G1", "tonnes": 5}]
    with pytest.raises(ScenarioError, match="`resources` are for mines and recyclers only"):
        scenario_from_dict(data)


def test_confidence_words():
    assert [confidence(c) for c in ("E1 F1.1 G1", "E1 F1.1 G2", "E1 F1.1 G3")] == [
        "high",
        "moderate",
        "low",
    ]
    assert confidence("E3 F3 G4.1") == "potential deposit, high"


@pytest.mark.parametrize("name", ["tajikistan_antimony.yaml", "tajikistan_antimony_10y.yaml"])
def test_show_prints_the_tajik_resource_table_and_options(name, tmp_path):
    result = CliRunner().invoke(cli, ["show", str(ROOT / "scenarios" / name)])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "Resources by UNFC-2019 class" in out
    material = "sb_metal" if "10y" in name else "sb_concentrate"  # 10 y: integrated project
    assert f"deposit_konchoch (TJK, {material}): E2 F2.1 G2" in out
    assert "Development Pending: 300,000 t, moderate confidence" in out
    assert "Producer country TJK (home): its own options: msme_smelter_tjk" in out
    assert "develop_konchoch" in out


def test_show_prints_the_ukrainian_options():
    result = CliRunner().invoke(cli, ["show", str(ROOT / "scenarios" / "ukraine_neon.yaml")])
    assert result.exit_code == 0, result.output
    assert (
        "Producer country UKR (home): its own options: restart_purification_ukr, "
        "eu_fab_contract_ukr, partner_purifier_rou, msme_purifier_ukr"
    ) in result.output
    assert "Resources by UNFC-2019 class" not in result.output  # no resources given


def test_show_of_an_importer_scenario_names_no_producer():
    result = CliRunner().invoke(cli, ["show", str(ROOT / "scenarios" / "pharma_api80.yaml")])
    assert result.exit_code == 0
    assert "Producer country" not in result.output
