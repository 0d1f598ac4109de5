"""The README's quick start, .ci/run and constraints.txt stay in step."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]


def _commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    quick = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```\n(.+?)\n```", quick, flags=re.S)


def _pins() -> dict[str, Version]:
    pins: dict[str, Version] = {}
    for line in (ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        name, sep, version = line.partition("==")
        assert sep, f"constraints.txt pins exact versions only: {line!r}"
        pins[canonicalize_name(name)] = Version(version)
    return pins


def test_quick_start_has_exactly_two_commands():
    cmds = _commands()
    assert len(cmds) == 2
    assert "crmsim run scenarios/" in cmds[0]
    assert "pytest" in cmds[1]


def test_ci_runs_exactly_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert _commands()[1] in ci


def test_quick_start_installs_with_the_constraints():
    install, test = _commands()
    assert ".venv/bin/pip install -c constraints.txt -e . " in install
    assert '.venv/bin/pip install -c constraints.txt -e ".[dev]" ' in test


def test_test_command_checks_ruff_and_mypy_before_pytest():
    steps = [s.strip() for s in _commands()[1].split("&&")]
    assert steps[-3:] == [
        ".venv/bin/ruff check src tests benchmarks",
        ".venv/bin/mypy",
        ".venv/bin/python -m pytest",
    ]
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert config["tool"]["mypy"]["files"], "bare `mypy` needs `files` in pyproject.toml"


def test_constraints_pin_every_dependency_within_pyproject_ranges():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    pins = _pins()
    wanted = [*project["dependencies"], *project["optional-dependencies"]["dev"]]
    for spec in map(Requirement, wanted):
        name = canonicalize_name(spec.name)
        assert name in pins, f"{spec.name} is not pinned in constraints.txt"
        assert spec.specifier.contains(pins[name], prereleases=True), (spec, pins[name])


def test_quick_start_scenario_exists():
    scenario = re.search(r"crmsim run (\S+)", _commands()[0]).group(1)
    assert (ROOT / scenario).is_file()


def test_readme_scenario_example_is_valid_without_warnings():
    from crmsim import loads_scenario
    from crmsim.scenario import check_warnings

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    example = re.search(r"```yaml\n(.+?)\n```", text, flags=re.S).group(1)
    assert check_warnings(loads_scenario(example, "README.md")) == []


def test_readme_python_example_runs(monkeypatch):
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    code = re.search(r"```python\n(.+?)\n```", text, flags=re.S).group(1)
    code = code.replace("replications=200", "replications=3").replace("workers=None", "workers=1")
    monkeypatch.chdir(ROOT)
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    assert 0 <= namespace["result"].summary["fill_rate"] <= 1
