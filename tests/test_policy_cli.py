"""`crmsim run --policy` and `crmsim policies`, and every pilot policy applies."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import crmsim.cli.commands_run  # noqa: F401  (registers run and policies)
from crmsim import load_scenario
from crmsim.cli import cli
from crmsim.policy import apply_policies

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"
PHARMA = SCENARIOS / "pharma_api80.yaml"
PILOTS = ("tajikistan_antimony.yaml", "ukraine_neon.yaml", "pharma_api80.yaml")


@pytest.mark.parametrize(
    "policy", ["msme_api_makers", "stockpile_60d", "msme_api_makers+stockpile_60d"]
)
def test_run_with_policy(cli_runner, tmp_path, policy):
    out = tmp_path / "out"
    result = cli_runner.invoke(
        cli, ["run", str(PHARMA), "--policy", policy, "-r", "2", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output + str(result.exception)
    assert f"policy: {policy}" in result.output
    assert "static cost" in result.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["options"]["policy"] == policy
    assert manifest["options"]["policy_static_cost"]["capex"] >= 0


def test_unknown_policy_is_a_clean_error(cli_runner):
    result = cli_runner.invoke(cli, ["run", str(PHARMA), "--policy", "stockpile_6d", "-r", "1"])
    assert result.exit_code == 1
    assert "did you mean 'stockpile_60d'?" in result.stderr
    assert "Traceback" not in result.output + result.stderr


def test_policies_command_lists_ids_labels_and_costs(cli_runner):
    result = cli_runner.invoke(cli, ["policies", str(SCENARIOS / "tajikistan_antimony.yaml")])
    assert result.exit_code == 0, result.output
    for text in (
        "msme_smelter_tjk",
        "battery_recycling_usa",
        "stockpile_usa_90d",
        "msme_entrant",
        "25,000,000",
        "720",
    ):
        assert text in result.output


def _pilot_cases() -> list:
    cases = []
    for name in PILOTS:
        scenario = load_scenario(SCENARIOS / name)
        entries = (*(p.id for p in scenario.policies), *scenario.experiment.compare)
        for entry in dict.fromkeys(entries):
            marks: list = []
            cases.append(pytest.param(name, entry, marks=marks, id=f"{name}:{entry}"))
    return cases


@pytest.mark.parametrize(("name", "policy"), _pilot_cases())
def test_every_pilot_policy_applies(name, policy):
    scenario = load_scenario(SCENARIOS / name)
    app = apply_policies(scenario, policy)
    assert app.combination == policy
    assert len(app.scenario.nodes) >= len(scenario.nodes)
