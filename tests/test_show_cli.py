"""``crmsim show``: text summary, ``--plot`` and clean failures."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

import crmsim.cli.commands_network  # noqa: F401  (registers `show`)
from crmsim.cli import cli

ROOT = Path(__file__).resolve().parents[1]

SCENARIO = """\
crmsim: 1
name: EU generics (test)
materials:
  - {id: api, eol_rir: 0.0, substitution_index: 0.9}
  - {id: generics}
nodes:
  - {id: api_cn, role: processor, country: CHN, output: api, capacity: 50, size: large}
  - {id: api_in, role: processor, country: IND, output: api, capacity: 30, size: large}
  - {id: api_eu, role: processor, country: DEU, output: api, capacity: 15, size: medium}
  - {id: formulator, role: processor, country: DEU, output: generics, capacity: 90,
     recipe: {api: 1.0}}
  - {id: eu_patients, role: market, country: DEU, demand: {mean: 80, cv: 0.1}}
edges:
  - {from: api_cn, to: formulator, share: 0.5, lead_time: 35}
  - {from: api_in, to: formulator, share: 0.3, lead_time: 28}
  - {from: api_eu, to: formulator, share: 0.2, lead_time: 5, qualified: true}
  - {from: formulator, to: eu_patients, share: 1.0, lead_time: 3}
"""


@pytest.fixture
def scenario_file(tmp_path: Path) -> Path:
    path = tmp_path / "generics.yaml"
    path.write_text(SCENARIO, encoding="utf-8")
    return path


def test_show_prints_the_summary_and_writes_the_plot(scenario_file, tmp_path):
    png = tmp_path / "out" / "network.png"
    png.parent.mkdir()
    result = CliRunner().invoke(cli, ["show", str(scenario_file), "--plot", str(png)])
    assert result.exit_code == 0, result.output
    out = result.stdout
    for expected in ("Supply network: EU generics (test)", "material: api", "3,800",
                     "highly concentrated", "eu_patients (DEU)", "formulator (DEU)",
                     "supply risk SR", f"Network plot written to {png}"):  # fmt: skip
        assert expected in out, expected
    assert png.exists()
    data = png.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(data) > 10_000


def test_show_one_material(scenario_file):
    result = CliRunner().invoke(cli, ["show", str(scenario_file), "--material", "generics"])
    assert result.exit_code == 0, result.output
    assert "material: generics" in result.stdout
    assert "material: api" not in result.stdout


def test_show_unknown_material_is_a_usage_error(scenario_file):
    result = CliRunner().invoke(cli, ["show", str(scenario_file), "--material", "gold"])
    assert result.exit_code == 2
    assert "api, generics" in result.output
    assert "Traceback" not in result.output


def test_show_bad_file_exits_1_without_traceback(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("crmsim: 1\nname: broken\nmaterials: []\nnodes: []\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["show", str(bad)])
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    assert "problem" in result.stderr
    assert "materials" in result.stderr
    assert result.stdout == ""


def test_show_missing_file_exits_1(tmp_path):
    result = CliRunner().invoke(cli, ["show", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 1
    assert "cannot read" in result.stderr
    assert "Traceback" not in result.output


@pytest.mark.parametrize("path", sorted((ROOT / "scenarios").glob("*.yaml")), ids=lambda p: p.name)
def test_show_runs_on_every_shipped_scenario(path, tmp_path):
    png = tmp_path / "network.png"
    result = CliRunner().invoke(cli, ["show", str(path), "--plot", str(png)])
    assert result.exit_code == 0, result.output
    assert "HHI" in result.stdout
    assert png.stat().st_size > 0
    assert result.stderr == ""  # the shipped scenarios have no warnings
