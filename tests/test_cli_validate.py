"""`crmsim validate` and `crmsim schema` through the command line, on broken and valid files.

Each file in tests/broken/ ends with `# expect: LINE FIELD | PHRASE` comments: the problem
expected at that line and field path, and a phrase its message must contain (`-` when
the problem is about the whole file). A file reports exactly as many problems as it has
distinct (line, field) expectations: every problem, and nothing spurious.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

import crmsim.cli.commands_scenario  # noqa: F401  (registers validate and schema)
from crmsim.cli import cli

BROKEN = Path(__file__).parent / "broken"
BROKEN_FILES = sorted(BROKEN.glob("*.yaml"))
EXPECT = re.compile(r"^# expect: (\d+) (\S+) \| (.+)$")
PROBLEM = re.compile(r"^(?P<file>.+?):(?P<line>\d+)(?::(?P<col>\d+))?: (?P<rest>.*)$")


def expectations(path: Path) -> list[tuple[int, str, str]]:
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        m = EXPECT.match(line)
        if m:
            out.append((int(m.group(1)), m.group(2), m.group(3)))
    return out


def test_there_are_at_least_twelve_kinds_of_broken_file():
    assert len(BROKEN_FILES) >= 12
    for path in BROKEN_FILES:
        assert expectations(path), f"{path.name} has no '# expect:' line"


@pytest.mark.parametrize("path", BROKEN_FILES, ids=lambda p: p.stem)
def test_broken_file_gives_located_specific_problems(cli_runner: CliRunner, path: Path):
    result = cli_runner.invoke(cli, ["validate", str(path)])
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    assert result.stdout == ""
    lines = [ln for ln in result.stderr.splitlines() if not ln.startswith("FAILED ")]
    problems = [PROBLEM.match(ln) for ln in lines]
    assert all(problems), lines
    for line, field, phrase in expectations(path):
        prefix = f" {field}: " if field != "-" else " "
        matching = [
            m
            for m in problems
            if m is not None
            and int(m["line"]) == line
            and m["file"] == str(path)
            and (f" {m['rest']}").startswith(prefix)
            and phrase in m["rest"]
        ]
        assert matching, f"expected at line {line} {field}: {phrase!r}; got:\n" + "\n".join(lines)
    expected_places = {(line, field) for line, field, _ in expectations(path)}
    assert len(lines) == len(expected_places), "\n".join(lines)
    assert result.stderr.splitlines()[-1] == f"FAILED {path}: " + (
        f"{len(lines)} problem" + ("s" if len(lines) != 1 else "")
    )


def test_valid_file_prints_ok_summary(cli_runner: CliRunner, write_file, minimal_yaml: str):
    path = write_file(minimal_yaml)
    result = cli_runner.invoke(cli, ["validate", str(path)])
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        f"OK {path}: minimal (2 materials, 4 nodes, 3 edges, 0 disruptions, 0 policies)\n"
    )
    # The minimal scenario plans 0.4 × 80 = 32/day from api_in, whose capacity is 30: a
    # warning, not an error (exit 0), on standard error after the OK line.
    warning, count = result.stderr.splitlines()
    assert warning.startswith(f"{path}:")
    assert ": warning: nodes[1].capacity: planned " in warning
    assert count == f"{path}: 1 warning"


def test_valid_file_without_warnings_prints_only_ok(
    cli_runner: CliRunner, write_file, minimal: dict
):
    minimal["nodes"][1]["capacity"] = 32  # exactly the planned flow: no warning
    path = write_file(yaml.safe_dump(minimal, sort_keys=False))
    result = cli_runner.invoke(cli, ["validate", "--strict", str(path)])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"OK {path}: minimal")
    assert result.stderr == ""


def test_mixed_files_report_each_and_exit_1(cli_runner: CliRunner, write_file, minimal_yaml):
    good = write_file(minimal_yaml, "good.yaml")
    bad = BROKEN / "shares_sum.yaml"
    result = cli_runner.invoke(cli, ["validate", str(good), str(bad)])
    assert result.exit_code == 1
    assert result.stdout.startswith(f"OK {good}: minimal")
    assert f"{bad}:12:38: edges[0].share: shares of 'api'" in result.stderr


def test_missing_and_unreadable_files_are_problems_not_tracebacks(
    cli_runner: CliRunner, tmp_path: Path, write_file, minimal_yaml
):
    good = write_file(minimal_yaml)
    missing = tmp_path / "nope.yaml"
    latin1 = tmp_path / "latin1.yaml"
    latin1.write_bytes("crmsim: 1\nname: caf\xe9\n".encode("latin-1"))
    args = ["validate", str(missing), str(tmp_path), str(latin1), str(good)]
    result = cli_runner.invoke(cli, args)
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert f"{missing}: no such file" in result.stderr
    assert f"{tmp_path}: is a directory" in result.stderr
    assert f"{latin1}:2:10: the file is not UTF-8 text" in result.stderr
    assert f"OK {good}" in result.stdout


def test_validate_without_files_is_a_usage_error(cli_runner: CliRunner):
    result = cli_runner.invoke(cli, ["validate"])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert "Missing argument" in result.output


def test_all_broken_files_in_a_real_process_no_traceback_no_code_run(tmp_path: Path):
    """The console entry point, as a user runs it; the python tag must not execute."""
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.yaml"
    evil.write_text(
        f"crmsim: 1\nname: !!python/object/apply:os.system ['touch {marker}']\n", encoding="utf-8"
    )
    cmd = [sys.executable, "-m", "crmsim", "validate", str(evil), *map(str, BROKEN_FILES)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr + proc.stdout
    assert not marker.exists()
    failed = [ln for ln in proc.stderr.splitlines() if ln.startswith("FAILED ")]
    assert len(failed) == len(BROKEN_FILES) + 1


def test_schema_prints_json_schema_with_aliases(cli_runner: CliRunner):
    result = cli_runner.invoke(cli, ["schema"])
    assert result.exit_code == 0, result.output
    schema = json.loads(result.stdout)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["title"] == "crmsim scenario (schema version 1)"
    edge = schema["$defs"]["Edge"]["properties"]
    assert "from" in edge
    assert "from_" not in edge


def test_schema_out_writes_file(cli_runner: CliRunner, tmp_path: Path):
    out = tmp_path / "crmsim.schema.json"
    result = cli_runner.invoke(cli, ["schema", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text(encoding="utf-8"))["title"].startswith("crmsim scenario")


def test_schema_out_unwritable_is_a_message(cli_runner: CliRunner, tmp_path: Path):
    out = tmp_path / "no" / "such" / "dir" / "schema.json"
    result = cli_runner.invoke(cli, ["schema", "--out", str(out)])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert "cannot write" in result.stderr


def test_schema_markdown_is_the_reference(cli_runner: CliRunner):
    from crmsim.scenario.reference import scenario_reference_markdown

    result = cli_runner.invoke(cli, ["schema", "--markdown"])
    assert result.exit_code == 0
    assert result.stdout == scenario_reference_markdown()


def test_json_schema_accepts_valid_and_rejects_unknown_keys(minimal):
    jsonschema = pytest.importorskip("jsonschema")
    from crmsim.scenario.reference import scenario_json_schema

    schema = scenario_json_schema()
    jsonschema.validate(minimal, schema)
    # The loader's shorthands are valid for editors too.
    minimal["edges"][0]["lead_time"] = {"uniform": {"low": 20, "high": 40}}
    minimal["nodes"][3]["collects_from"] = "x"  # single value for a list (schema-level only)
    minimal["disruptions"] = [
        {
            "id": "d",
            "kind": "outage",
            "target": {"edge": "api_cn->maker"},
            "start": 0,
            "duration": 5,
        }
    ]
    jsonschema.validate(minimal, schema)
    minimal["nodes"][0]["capacty"] = 3
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(minimal, schema)
