"""The README's quick start and .ci/run stay in step."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    quick = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```\n(.+?)\n```", quick, flags=re.S)


def test_quick_start_has_exactly_two_commands():
    cmds = _commands()
    assert len(cmds) == 2
    assert "crmsim run scenarios/" in cmds[0]
    assert "pytest" in cmds[1]


def test_ci_runs_exactly_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert _commands()[1] in ci


def test_quick_start_scenario_exists():
    scenario = re.search(r"crmsim run (\S+)", _commands()[0]).group(1)
    assert (ROOT / scenario).is_file()


def test_readme_python_example_runs(monkeypatch):
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    code = re.search(r"```python\n(.+?)\n```", text, flags=re.S).group(1)
    code = code.replace("replications=200", "replications=3").replace("workers=None", "workers=1")
    monkeypatch.chdir(ROOT)
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    assert 0 <= namespace["result"].summary["fill_rate"] <= 1
