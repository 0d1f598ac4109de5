"""Hypothesis properties of loading: valid scenarios load and round-trip; mutated files
either load or raise ScenarioError, never anything else."""

from __future__ import annotations

import copy
import math
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crmsim.scenario import (
    Problem,
    Scenario,
    ScenarioError,
    loads_scenario,
    scenario_from_dict,
)
from crmsim.scenario.distributions import MAX_NORMAL_CV

COUNTRIES = ["AUS", "CHN", "DEU", "FRA", "IND", "TJK", "UKR", "USA", "BOL", "ZAF"]
SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

suffixes = st.sampled_from(["a", "cn", "in", "eu", "x.1", "big-1", "_2"])
amounts = st.floats(min_value=0.5, max_value=1000, allow_nan=False).map(lambda x: round(x, 3))
lead_times = st.one_of(
    st.integers(min_value=0, max_value=90),
    st.builds(
        lambda lo, w: {"uniform": {"low": lo, "high": lo + w}},
        st.integers(0, 30),
        st.integers(0, 30),
    ),
    st.builds(
        lambda m, s: {"lognormal": {"mean": m, "sd": s}}, st.integers(1, 60), st.integers(0, 20)
    ),
)


def split_shares(draw: st.DrawFn, n: int) -> list[float]:
    """n shares that sum to 1 (in exact binary fractions when possible)."""
    weights = [draw(st.integers(min_value=1, max_value=9)) for _ in range(n)]
    total = sum(weights)
    shares = [w / total for w in weights]
    shares[-1] = 1.0 - sum(shares[:-1])
    return shares


@st.composite
def valid_scenarios(draw: st.DrawFn) -> dict[str, Any]:
    """Mines of raw materials -> processors -> markets, with shares summing to 1."""
    names = [f"{i}{draw(suffixes)}" for i in range(12)]
    n_raw = draw(st.integers(1, 2))
    raw = [f"m_{x}" for x in names[:n_raw]]
    product = "product"
    materials = [{"id": m} for m in raw] + [
        {"id": product, "unit": draw(st.sampled_from(["t", "kg"]))}
    ]
    nodes: list[dict[str, Any]] = []
    edges: list[dict[str, Any]] = []
    pool = iter(names[n_raw:])
    mines: dict[str, list[str]] = {}
    for m in raw:
        mines[m] = []
        for _ in range(draw(st.integers(1, 2))):
            node_id = f"mine_{next(pool)}"
            node: dict[str, Any] = {
                "id": node_id,
                "role": "mine",
                "country": draw(st.sampled_from(COUNTRIES)),
                "output": m,
                "capacity": draw(amounts),
            }
            if draw(st.booleans()):
                node["unfc"] = draw(st.sampled_from(["E1.1 F1.1 G1", "E2 F2.1 G2", "E1 F1.2 G1"]))
            if draw(st.booleans()):
                node["size"] = draw(st.sampled_from(["micro", "small", "medium", "large"]))
            nodes.append(node)
            mines[m].append(node_id)
    processors = []
    for _ in range(draw(st.integers(1, 2))):
        node_id = f"proc_{next(pool)}"
        recipe = {m: draw(amounts) for m in raw}
        nodes.append(
            {
                "id": node_id,
                "role": "processor",
                "country": draw(st.sampled_from(COUNTRIES)),
                "output": product,
                "capacity": draw(amounts),
                "recipe": recipe,
                "stock_days": draw(st.integers(0, 60)),
            }
        )
        processors.append(node_id)
        for m in raw:
            for supplier, share in zip(mines[m], split_shares(draw, len(mines[m])), strict=True):
                edges.append(
                    {"from": supplier, "to": node_id, "share": share, "lead_time": draw(lead_times)}
                )
    for _ in range(draw(st.integers(1, 2))):
        node_id = f"mkt_{next(pool)}"
        demand: dict[str, Any] = {"mean": draw(amounts)}
        if draw(st.booleans()):
            # Normal demand (the default) accepts cv up to MAX_NORMAL_CV: a normal truncated
            # at zero cannot have cv 1 or more (a larger cv is a located error, tested in
            # tests/test_engine_mechanics.py).
            demand["cv"] = draw(st.floats(0, MAX_NORMAL_CV)).__round__(3)
        nodes.append(
            {
                "id": node_id,
                "role": "market",
                "country": draw(st.sampled_from(COUNTRIES)),
                "demand": demand,
            }
        )
        for supplier, share in zip(processors, split_shares(draw, len(processors)), strict=True):
            edges.append({"from": supplier, "to": node_id, "share": share, "lead_time": 3})
    data: dict[str, Any] = {
        "crmsim": 1,
        "name": draw(st.text(min_size=1, max_size=20).filter(str.strip)),
        "materials": materials,
        "nodes": nodes,
        "edges": edges,
    }
    if draw(st.booleans()):
        data["disruptions"] = [
            {
                "id": "outage",
                "kind": "outage",
                "target": {"node": nodes[0]["id"]},
                "start": draw(st.integers(0, 100)),
                "duration": draw(st.integers(0, 100)),
            }
        ]
    if draw(st.booleans()):
        data["policies"] = [
            {
                "id": "stock",
                "stockpile": {"at": processors[0], "material": raw[0], "days_of_cover": 30},
            }
        ]
        data["experiment"] = {"replications": 5, "compare": ["baseline", "stock"]}
    return data


@SETTINGS
@given(valid_scenarios())
def test_valid_scenarios_load_and_round_trip(data: dict[str, Any]):
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    s = loads_scenario(text, "gen.yaml")
    assert isinstance(s, Scenario)
    dumped = s.model_dump(mode="json", by_alias=True, exclude_none=True)
    again = loads_scenario(yaml.safe_dump(dumped, sort_keys=False, allow_unicode=True))
    assert again == s
    assert scenario_from_dict(dumped) == s


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**6), max_value=10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
)
random_values = st.one_of(
    scalars,
    st.lists(scalars, max_size=3),
    st.dictionaries(st.text(max_size=6), scalars, max_size=3),
)


def _containers(obj: Any, out: list[Any]) -> list[Any]:
    if isinstance(obj, dict | list):
        out.append(obj)
        for v in obj.values() if isinstance(obj, dict) else obj:
            _containers(v, out)
    return out


@st.composite
def mutated_texts(draw: st.DrawFn) -> str:
    data = copy.deepcopy(draw(valid_scenarios()))
    for _ in range(draw(st.integers(1, 3))):
        containers = [c for c in _containers(data, []) if c]
        target = draw(st.sampled_from(containers))
        action = draw(st.sampled_from(["delete", "replace", "rename"]))
        if isinstance(target, dict):
            key = draw(st.sampled_from(sorted(target, key=str)))
            if action == "delete":
                del target[key]
            elif action == "replace":
                target[key] = draw(random_values)
            else:
                target[draw(st.text(min_size=1, max_size=10))] = target.pop(key)
        else:
            i = draw(st.integers(0, len(target) - 1))
            if action == "delete":
                del target[i]
            else:
                target[i] = draw(random_values)
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    if draw(st.booleans()):
        text = text[: draw(st.integers(0, len(text)))]
    return text


@SETTINGS
@given(mutated_texts())
def test_mutated_files_load_or_raise_scenario_error(text: str):
    problems: tuple[Problem, ...] = ()
    try:
        loads_scenario(text, "mutated.yaml")
    except ScenarioError as err:
        problems = err.problems
        assert problems, "a ScenarioError always lists its problems"
    for p in problems:
        assert p.message
        assert p.file == "mutated.yaml"
        assert str(p).startswith("mutated.yaml")


@SETTINGS
@given(st.text(max_size=200))
def test_arbitrary_text_loads_or_raises_scenario_error(text: str):
    problems: tuple[Problem, ...] = ()
    try:
        loads_scenario(text)
    except ScenarioError as err:
        problems = err.problems
        assert problems, "a ScenarioError always lists its problems"
    assert all(p.message for p in problems)


# Numeric fields of a minimal file with their bounds (low, high, and whether a quantity must
# be 0 or at least 1e-9): any float is accepted exactly when it is finite and within them,
# and otherwise gives one problem, located at that field.
_NUMERIC_FIELDS: dict[tuple[str | int, ...], tuple[float, float, bool]] = {
    ("nodes", 0, "capacity"): (0.0, 1e12, True),
    ("nodes", 0, "stock_days"): (0.0, 36_500, False),
    ("nodes", 2, "recipe", "api"): (1e-9, 1e6, False),
    ("nodes", 3, "demand", "mean"): (0.0, 1e12, True),
    ("nodes", 3, "demand", "cv"): (0.0, 10, False),
    ("edges", 0, "lead_time"): (0.0, 36_500, False),
    ("edges", 2, "switch_days"): (0.0, 36_500, False),
}
_MINIMAL_TEXT: dict[str, Any] = {
    "crmsim": 1,
    "name": "minimal",
    "materials": [{"id": "api"}, {"id": "pills"}],
    "nodes": [
        {"id": "api_cn", "role": "processor", "country": "CHN", "output": "api", "capacity": 50},
        {"id": "api_in", "role": "processor", "country": "IND", "output": "api", "capacity": 30},
        {"id": "maker", "role": "processor", "country": "DEU", "output": "pills",
         "capacity": 90, "recipe": {"api": 1.0}},
        {"id": "patients", "role": "market", "country": "DEU", "demand": {"mean": 80}},
    ],
    "edges": [
        {"from": "api_cn", "to": "maker", "share": 0.6, "lead_time": 35},
        {"from": "api_in", "to": "maker", "share": 0.4, "lead_time": 28},
        {"from": "maker", "to": "patients", "lead_time": 3},
    ],
}  # fmt: skip


@SETTINGS
@given(
    st.sampled_from(sorted(_NUMERIC_FIELDS, key=str)),
    st.one_of(
        st.floats(),
        st.sampled_from([0.0, 1e-320, 1e-10, 1e-9, 36_500.0, 36_501.0, 1e12, 1.5e12, 1e308]),
    ),
)
def test_a_number_is_accepted_exactly_when_finite_and_within_its_bounds(
    path: tuple[str | int, ...], value: float
):
    data = copy.deepcopy(_MINIMAL_TEXT)
    target: Any = data
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    low, high, quantity = _NUMERIC_FIELDS[path]
    measurable = not quantity or value == 0 or value >= 1e-9
    ok = math.isfinite(value) and low <= value <= high and measurable
    text = yaml.safe_dump(data, sort_keys=False)
    if ok:
        loads_scenario(text, "n.yaml")
        return
    with pytest.raises(ScenarioError) as info:
        loads_scenario(text, "n.yaml")
    (p,) = info.value.problems
    assert p.path[: len(path)] == path, str(p)
    assert p.line is not None
