"""Fuzzing: mutated shipped scenarios are accepted and run cleanly, or rejected cleanly.

A Hypothesis strategy takes one of the shipped scenarios (``scenarios/*.yaml``) and applies
one to three structure-aware mutations: numeric extremes (``.inf``, ``.nan``, 1e308,
1e-320, -1, 0, huge integers) and valid values at the schema's bounds, wrong types,
deleted keys and list items, duplicated list items (written as YAML aliases), aliases to
other parts of the file, alias bombs, deep nesting, long and unusual text; or it cuts the
YAML text short. Every result must either

* be rejected with :class:`~crmsim.scenario.ScenarioError` (never another exception),
  quickly and within a memory budget, with short messages; or
* be accepted, summarised by ``crmsim show``'s analysis, and run two replications (and
  one replication of a policy) with finite results and a passing conservation check (and
  consistency check, where the engine has one).

The suite runs a few dozen examples; a long run uses the ``fuzz`` profile (tests/conftest.py):
``pytest tests/test_fuzz.py --hypothesis-profile=fuzz``.
"""

from __future__ import annotations

import copy
import io
import math
import re
import time
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crmsim.cli import cli
from crmsim.engine import simulate
from crmsim.network.analysis import analyse
from crmsim.network.graph import build_graph
from crmsim.network.plot import plot_network
from crmsim.policy import PolicyError, apply_policies
from crmsim.scenario import Scenario, ScenarioError
from crmsim.scenario.loader import load_scenario, loads_scenario, scenario_from_dict

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"
SHIPPED: dict[str, Any] = {
    p.stem: yaml.safe_load(p.read_text(encoding="utf-8")) for p in sorted(SCENARIOS.glob("*.yaml"))
}

#: Budget for loading one file (rejected or accepted): generous, so that a slow machine
#: does not fail it, but far below the minutes and gigabytes of an unbounded expansion.
LOAD_SECONDS = 5.0
LOAD_BYTES = 200_000_000
#: Valid but extreme values for numeric leaves: at the bounds of the schema.
BOUNDARIES: list[Any] = [0, 1e-9, 1e-6, 0.1, 1, 10, 1_000, 36_500, 1e6, 1e12, 1e15]
#: Longest line of one problem: a message never shows a whole (huge) value.
PROBLEM_CHARS = 2_000

_DEFAULT_EXAMPLES = settings.get_profile("default").max_examples
#: A few dozen examples in the suite; the ``fuzz`` profile's count when that is loaded.
EXAMPLES = (
    settings.default.max_examples if settings.default.max_examples > _DEFAULT_EXAMPLES else 50
)
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

EXTREMES: list[Any] = [
    math.inf, -math.inf, math.nan, 1e308, -1e308, 1e-320, -1e-320, -1, 0, -0.0, 1e19,
    2**63, 10**400, 0.5, 1.0, 7, 1e12, 1e13, 36_500, 36_501, 1e-9, 1e-10,
]  # fmt: skip
WRONG_TYPES: list[Any] = ["text", "", [], {}, True, False, None, [1, 2], {"a": 1}, "1e308"]
TEXTS: list[str] = [
    "x" * 10_000, "ü", "日本語", "🙂", "$\\notacommand$", "a\nb", "   ", "DEU ", "deu",
    "a->b", "baseline", "+", "\u202e", "\t", "'", '"', "%s", "{x}", "id with spaces",
]  # fmt: skip


def _alias_bomb(levels: int) -> list[Any]:
    """Nine references to nine references to ...: YAML writes it with anchors and aliases."""
    value: list[Any] = ["lol"] * 9
    for _ in range(levels - 1):
        value = [value] * 9
    return value


def _paths(
    data: Any, path: tuple[Any, ...] = (), seen: set[int] | None = None
) -> list[tuple[Any, ...]]:
    """Every path in a parsed document (the root excluded), parents before children.

    A part that appears several times (an alias: a bomb, a recursive alias) is descended
    only where it first appears.
    """
    seen = set() if seen is None else seen
    if not isinstance(data, dict | list) or id(data) in seen or len(path) > 200:
        return []
    seen.add(id(data))
    items: Any = data.items() if isinstance(data, dict) else enumerate(data)
    out: list[tuple[Any, ...]] = []
    for key, value in items:
        out.append((*path, key))
        out += _paths(value, (*path, key), seen)
    return out


def _at(data: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        data = data[part]
    return data


def _parent(data: Any, path: tuple[Any, ...]) -> Any:
    return _at(data, path[:-1])


@st.composite
def mutated_scenarios(draw: st.DrawFn) -> tuple[str, str]:
    """A shipped scenario with one to three mutations, as YAML text (name, text)."""
    name = draw(st.sampled_from(sorted(SHIPPED)))
    data = copy.deepcopy(SHIPPED[name])
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(data)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent, key = _parent(data, path), path[-1]
        op = draw(
            st.sampled_from(
                ["extreme", "extreme", "boundary", "boundary", "number", "wrong_type", "text",
                 "delete", "duplicate", "share", "nest", "bomb"]
            )
        )  # fmt: skip
        if op == "extreme":
            parent[key] = draw(st.sampled_from(EXTREMES))
        elif op == "boundary" and isinstance(parent[key], int | float):
            parent[key] = draw(st.sampled_from(BOUNDARIES))
        elif op == "number":
            parent[key] = draw(st.one_of(st.floats(), st.integers(-(2**70), 2**70)))
        elif op == "wrong_type":
            parent[key] = draw(st.sampled_from(WRONG_TYPES))
        elif op == "text":
            parent[key] = draw(st.one_of(st.sampled_from(TEXTS), st.text(max_size=30)))
        elif op == "delete":
            del parent[key]
        elif op == "duplicate" and isinstance(parent, list):
            same = draw(st.booleans())  # the same object twice is written as an alias
            parent.insert(key, parent[key] if same else copy.deepcopy(parent[key]))
        elif op == "share":
            # An alias to another part of the file (to an ancestor: a recursive alias).
            parent[key] = _at(data, draw(st.sampled_from(paths)))
        elif op == "nest":
            value = parent[key]
            for _ in range(draw(st.sampled_from([1, 2, 10, 63, 70, 120]))):
                value = [value]
            parent[key] = value
        elif op == "bomb":
            parent[key] = _alias_bomb(draw(st.integers(2, 9)))
    try:
        text = yaml.safe_dump(data, allow_unicode=True, sort_keys=False)
    except (RecursionError, yaml.YAMLError):  # a recursive structure PyYAML cannot write
        text = yaml.safe_dump(SHIPPED[name], allow_unicode=True, sort_keys=False)
    if draw(st.integers(0, 9)) == 0:  # sometimes cut the text short: syntax errors
        text = text[: draw(st.integers(0, len(text)))]
    return name, text


def load_within_budget(text: str) -> Scenario | None:
    """Load YAML text: the scenario, or None when rejected cleanly; budgets are asserted."""
    lines: list[str] = []
    tracemalloc.start()
    start = time.perf_counter()
    try:
        scenario: Scenario | None = loads_scenario(text, "fuzz.yaml")
        problems: tuple[Any, ...] = ()
    except ScenarioError as err:
        scenario, problems = None, err.problems
        lines = [str(p) for p in problems]
    finally:
        seconds = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert seconds < LOAD_SECONDS, f"loading took {seconds:.1f} s"
    assert peak < LOAD_BYTES, f"loading used {peak / 1e6:.0f} MB"
    if scenario is None:
        assert problems, "a ScenarioError without problems"
        for line in lines:
            assert line.startswith("fuzz.yaml"), line
            assert len(line) < PROBLEM_CHARS, line[:200]
    return scenario


def check_runs(scenario: Scenario, replications: int = 2) -> None:
    """Simulate; every result finite, material conserved (and consistent, if checkable)."""
    for r in range(replications):
        result = simulate(scenario, seed=11, replication=r)
        for metric, value in result.summary.items():
            if metric == "ttr_max" and value is None:
                continue
            assert value is None or math.isfinite(float(value)), (metric, value)
        numeric = result.market_daily.select_dtypes("number").to_numpy(dtype=float)
        assert np.isfinite(numeric).all(), "NaN or inf in market_daily"
        assert np.isfinite(result.ledger.to_numpy(dtype=float)).all(), "NaN or inf in ledger"
        result.check_conservation()
        if hasattr(result, "check_consistency"):
            result.check_consistency()


def _short(scenario: Scenario) -> Scenario:
    """The scenario with at most a year's horizon and 30 warm-up days, if still valid."""
    if scenario.horizon_days <= 365 and scenario.warmup_days <= 30:
        return scenario
    data = scenario.model_dump(mode="json", by_alias=True, exclude_none=True)
    data["horizon_days"] = min(scenario.horizon_days, 365)
    data["warmup_days"] = min(scenario.warmup_days, 30)
    try:
        return scenario_from_dict(data)
    except ScenarioError:
        return scenario


@FUZZ
@given(mutated_scenarios(), st.integers(0, 10))
def test_mutated_scenarios_are_rejected_cleanly_or_run_finite(
    case: tuple[str, str], which_policy: int
) -> None:
    _, text = case
    scenario = load_within_budget(text)
    if scenario is None:
        return
    analyse(build_graph(scenario)).to_text()  # what `crmsim show` prints
    scenario = _short(scenario)
    check_runs(scenario)
    if scenario.policies:
        policy = scenario.policies[which_policy % len(scenario.policies)].id
        try:
            applied = apply_policies(scenario, policy).scenario
        except PolicyError:
            return
        check_runs(applied, replications=1)


def test_every_shipped_scenario_passes_the_fuzz_checks() -> None:
    """The unmutated files pass: a failure of the fuzz test is then due to its mutation."""
    for name, data in SHIPPED.items():
        scenario = load_within_budget(yaml.safe_dump(data, allow_unicode=True, sort_keys=False))
        assert scenario is not None, name
        check_runs(_short(scenario), replications=1)


# ============================================================================ the CLI
BROKEN = sorted((Path(__file__).parent / "broken").glob("*.yaml"))


@pytest.mark.parametrize("path", BROKEN, ids=lambda p: p.stem)
def test_show_and_plot_on_broken_files_print_problems_not_tracebacks(path: Path, tmp_path: Path):
    for args in (["validate", str(path)], ["show", str(path)],
                 ["show", str(path), "--plot", str(tmp_path / "n.png")]):  # fmt: skip
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 1, (args, result.output)
        assert result.exception is None or isinstance(result.exception, SystemExit), args
        assert "Traceback" not in result.output
        assert str(path) in result.stderr
    assert not (tmp_path / "n.png").exists()


def test_a_name_with_dollars_is_drawn_as_written(tmp_path: Path):
    text = (SCENARIOS / "pharma_api80.yaml").read_text(encoding="utf-8")
    name = r"$\notacommand$ costs $5 and $x^$"
    path = tmp_path / "dollars.yaml"
    path.write_text(re.sub(r"^name: .*$", lambda _: f"name: '{name}'", text, count=1, flags=re.M))
    png = tmp_path / "net.png"
    result = CliRunner().invoke(cli, ["show", str(path), "--plot", str(png)])
    assert result.exit_code == 0, result.output
    assert png.stat().st_size > 10_000
    fig = plot_network(build_graph(load_scenario(path)))
    assert fig.axes[0].get_title() == name
    fig.savefig(io.BytesIO(), format="png")  # drawing is where mathtext would fail
