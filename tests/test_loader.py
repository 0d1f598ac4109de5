"""The staged loader: parsing with positions, translated pydantic errors, shape checks."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pydantic
import pytest
import yaml

from crmsim.scenario import Problem, Scenario, ScenarioError
from crmsim.scenario.loader import load_scenario, loads_scenario, parse_yaml, scenario_from_dict
from crmsim.scenario.reference import scenario_reference_markdown

DOCS = Path(__file__).resolve().parents[1] / "docs" / "scenario-reference.md"


def problems_of(text: str) -> list[Problem]:
    with pytest.raises(ScenarioError) as info:
        loads_scenario(text, "s.yaml")
    return list(info.value.problems)


def only(text: str) -> Problem:
    found = problems_of(text)
    assert len(found) == 1, found
    return found[0]


def test_minimal_loads_and_is_frozen(minimal_yaml: str):
    s = loads_scenario(minimal_yaml)
    assert isinstance(s, Scenario)
    assert [n.id for n in s.nodes] == ["api_cn", "api_in", "maker", "patients"]
    with pytest.raises(pydantic.ValidationError):
        s.name = "changed"  # type: ignore[misc]


def test_load_scenario_reads_a_file(write_file, minimal_yaml: str):
    path = write_file(minimal_yaml)
    assert load_scenario(path).name == "minimal"
    assert load_scenario(str(path)).name == "minimal"


def test_load_scenario_missing_file_is_an_oserror(tmp_path: Path):
    with pytest.raises(FileNotFoundError):
        load_scenario(tmp_path / "nope.yaml")


def test_not_utf8_is_a_located_problem(tmp_path: Path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"crmsim: 1\nname: caf\xe9\n")
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    (p,) = info.value.problems
    assert (p.line, p.column, p.code) == (2, 10, "encoding")


def test_scenario_from_dict_has_no_positions(minimal):
    minimal["nodes"][0]["capacity"] = -1
    with pytest.raises(ScenarioError) as info:
        scenario_from_dict(minimal, filename="x.yaml")
    (p,) = info.value.problems
    assert (p.file, p.line, p.path) == ("x.yaml", None, ("nodes", 0, "capacity"))
    assert str(p) == "x.yaml: nodes[0].capacity: must not be negative (>= 0) (got -1)"


def test_scenario_from_dict_accepts_a_scenario(minimal):
    s = scenario_from_dict(minimal)
    assert scenario_from_dict(s) == s


def test_alias_from_in_loc_maps_to_the_line():
    text = """\
crmsim: 1
name: x
materials: [{id: ore}]
nodes:
  - {id: m, role: mine, country: AUS, output: ore, capacity: 1}
  - {id: k, role: market, country: DEU, demand: {mean: 1}}
edges:
  - from: m
    to: k
  - from: 'bad id'
    to: k
"""
    p = only(text)
    assert (p.line, p.column, p.field_path) == (10, 11, "edges[1].from")
    assert p.code == "invalid_id"


def test_missing_key_points_at_the_parent_mapping():
    text = """\
crmsim: 1
name: x
materials: [{id: ore}]
nodes:
  - {id: m, role: mine, country: AUS, output: ore, capacity: 1}
  - id: k
    role: market
    country: DEU
    demand:
      cv: 0.1
edges: [{from: m, to: k}]
"""
    p = only(text)
    assert p.field_path == "nodes[1].demand.mean"
    assert p.message == "missing required key 'mean'"
    assert (p.line, p.column) == (9, 5)  # the `demand:` key


def test_union_errors_are_merged_into_one_plain_message(minimal):
    minimal["nodes"][3]["in_use_initial"] = -3
    text = yaml.safe_dump(minimal, sort_keys=False)
    p = only(text)
    assert p.field_path == "nodes[3].in_use_initial"
    assert p.message == "expected a number >= 0 or 'steady_state'"
    assert p.value == -3


def test_enum_and_literal_errors_list_the_choices(minimal):
    minimal["nodes"][3]["demand"]["distribution"] = "gama"
    minimal["nodes"][0]["size"] = "tiny"
    found = problems_of(yaml.safe_dump(minimal, sort_keys=False))
    messages = {p.field_path: (p.message, p.hint) for p in found}
    assert messages["nodes[3].demand.distribution"] == (
        "'gama' is not a valid choice; valid: normal, gamma, poisson",
        "did you mean 'gamma'?",
    )
    assert "valid: micro, small, medium, large" in messages["nodes[0].size"][0]


def test_type_errors_say_the_expected_type_and_explain_yaml_booleans(minimal):
    minimal["nodes"][0]["country"] = False  # what YAML makes of `country: NO`
    minimal["edges"][0]["qualified"] = "maybe"
    found = {p.field_path: p for p in problems_of(yaml.safe_dump(minimal, sort_keys=False))}
    assert found["nodes[0].country"].message == "expected text"
    assert "quote" in (found["nodes[0].country"].hint or "")
    assert "true or false" in found["edges[0].qualified"].message


def test_model_level_errors_keep_the_schema_message(minimal):
    minimal["nodes"][0].pop("capacity")
    p = only(yaml.safe_dump(minimal, sort_keys=False))
    assert p.field_path == "nodes[0]"
    assert p.message == "a processor needs `capacity` (units/day)"


def test_no_pydantic_urls_or_jargon(minimal):
    minimal["nodes"][0]["capacity"] = "x"
    minimal["materials"] = []
    minimal["extra"] = 1
    with pytest.raises(ScenarioError) as info:
        loads_scenario(yaml.safe_dump(minimal))
    text = str(info.value)
    assert "pydantic" not in text
    assert "errors.pydantic.dev" not in text
    assert "Input should be" not in text


def test_list_failing_item_by_item_is_not_also_too_short():
    text = "crmsim: 1\nname: x\nmaterials: [{id: 'a b'}]\nnodes: [{id: m}]\n"
    paths = [p.field_path for p in problems_of(text)]
    assert "materials" not in paths
    assert "nodes" not in paths


@pytest.mark.parametrize(
    ("text", "code", "line", "phrase"),
    [
        ("", "empty", 1, "the scenario is empty"),
        ("# only a comment\n", "empty", 1, "the scenario is empty"),
        ("- a\n- b\n", "wrong_type", 1, "but this file is a list"),
        ("just text\n", "wrong_type", 1, "a single value"),
        ("crmsim: 2\nname: x\n", "unsupported_version", 1, "reads schema version 1"),
        ("crmsim: 0\n", "unsupported_version", 1, "unsupported schema version 0"),
        ("crmsim: 1\nname: [unclosed\n", "yaml_syntax", 3, "YAML syntax error"),
        ("crmsim: 1\n\tname: x\n", "yaml_syntax", 2, "YAML syntax error"),
        ("crmsim: 1\n---\ncrmsim: 1\n", "yaml_syntax", 2, "single document"),
        ("crmsim: 1\nname: \x07\n", "yaml_syntax", 2, "character YAML does not allow"),
        ("crmsim: 1\n? [a]\n: 1\n", "yaml_syntax", 2, "unhashable key"),
    ],
)
def test_whole_file_problems(text: str, code: str, line: int, phrase: str):
    found = problems_of(text)
    assert found[0].code == code, found
    assert found[0].line == line
    assert phrase in found[0].message


def test_unsupported_version_stops_before_field_checks():
    p = only("crmsim: 2\nname: x\nnodes: 3\nbogus: 1\n")
    assert p.code == "unsupported_version"


def test_missing_version_still_reports_field_problems():
    found = problems_of("name: x\nmaterials: [{id: a}]\nnodes: [{id: n}]\n")
    assert found[0].code == "missing_key"
    assert found[0].path == ("crmsim",)
    assert "crmsim: 1" in (found[0].hint or "")
    assert len(found) > 1


def test_non_numeric_version_is_explained():
    found = problems_of("crmsim: 'one'\nname: x\n")
    assert any(p.path == ("crmsim",) and "write `crmsim: 1`" in (p.hint or "") for p in found)


def test_tabs_get_a_hint():
    p = only("crmsim: 1\n\tname: x\n")
    assert p.hint == "indent with spaces, not tabs"


def test_duplicate_keys_are_errors_alongside_other_problems(minimal_yaml: str):
    text = minimal_yaml.replace("name: minimal\n", "name: minimal\nname: again\n")
    text = text.replace("capacity: 50", "capacity: 50\n  capacity: -1")
    found = problems_of(text)
    codes = [p.code for p in found]
    assert codes.count("duplicate_key") == 2
    assert "out_of_range" in codes  # the last value wins, as in YAML, and is validated
    dup = next(p for p in found if p.path == ("name",))
    assert dup.line == 3
    assert "first at line 2" in dup.message


def test_yaml_merge_keys_are_not_duplicates():
    text = """\
crmsim: 1
name: merge
materials: [{id: ore}]
nodes:
  - &base {id: m1, role: mine, country: AUS, output: ore, capacity: 1}
  - <<: *base
    id: m2
    capacity: -3
"""
    p = only(text)
    assert (p.field_path, p.line) == ("nodes[1].capacity", 8)


def test_python_tags_are_rejected_not_run(tmp_path: Path):
    marker = tmp_path / "ran"
    p = only(f"crmsim: 1\nname: !!python/object/apply:os.system ['touch {marker}']\n")
    assert p.code == "yaml_syntax"
    assert "constructor" in p.message
    assert not marker.exists()


def test_recursive_and_exponential_aliases_are_safe():
    found = problems_of("crmsim: 1\nname: &a [*a]\nmaterials: [{id: a}]\nnodes: [{id: n}]\n")
    assert ("name", 2) in [(p.field_path, p.line) for p in found]
    laughs = "crmsim: 1\na0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
    for i in range(1, 9):
        refs = ", ".join([f"*a{i - 1}"] * 10)
        laughs += f"a{i}: &a{i} [{refs}]\n"
    start = time.perf_counter()
    found = problems_of(laughs)
    assert time.perf_counter() - start < 5
    # 10**9 strings once expanded: refused while composing, at the alias that crosses the limit.
    assert [(p.code, p.line) for p in found] == [("alias_limit", 6)]


def test_parse_yaml_records_key_and_value_positions():
    data, index, problems = parse_yaml("a:\n  b: [1, 2]\n  c:\n    - {d: 3}\n")
    assert problems == []
    assert data == {"a": {"b": [1, 2], "c": [{"d": 3}]}}
    assert index.locate(("a", "b", 1)) == (2, 10)
    assert index.locate(("a", "c"), key=True) == (3, 3)
    assert index.locate(("a", "c", 0, "d")) == (4, 11)
    assert index.locate(("a", "c", 0, "nope", 7)) == (4, 7)  # nearest parent
    assert index.locate(("zzz",)) == (1, 1)


def test_problem_str_format():
    p = Problem("bad", ("edges", 2, "share"), "f.yaml", 3, 4, value=1.5, hint="fix it")
    assert str(p) == "f.yaml:3:4: edges[2].share: bad (got 1.5); fix it"
    long = Problem("bad", ("x",), value="y" * 500)
    assert len(str(long)) < 100


def test_scenario_error_lists_every_problem():
    err = ScenarioError([Problem("one", ("a",)), Problem("two", ("b",))])
    assert str(err).splitlines() == [
        "2 problems in scenario:",
        "  <scenario>: a: one",
        "  <scenario>: b: two",
    ]
    assert isinstance(err, ValueError)


def test_committed_reference_docs_match_the_models():
    """docs/scenario-reference.md is generated; regenerate it when the schema changes:
    python -m crmsim.scenario.reference > docs/scenario-reference.md"""
    assert DOCS.read_text(encoding="utf-8") == scenario_reference_markdown()


# ============================================================================ hostile files
# Issue 8's reproducers: each is a located one-line problem (or a correct load), quickly.


def _bomb(use: str, levels: int = 9) -> str:
    """Nine anchors of nine aliases each (about 900 bytes), then ``use`` refers to the last."""
    lines = ["crmsim: 1", "x_defs:", '  a0: &a0 "lol lol lol lol"']
    for i in range(1, levels):
        lines.append(f"  a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n" + use.replace("BOMB", f"*a{levels - 1}") + "\n"


_PLACEMENTS = {
    "name": "name: BOMB",
    "description": "name: x\ndescription: BOMB",
    "sources": "name: x\nsources: BOMB",
    "sources_item": "name: x\nsources: [ok, BOMB]",
    "materials": "name: x\nmaterials: BOMB",
    "nodes": "name: x\nnodes: BOMB",
    "node": "name: x\nnodes: [BOMB]",
    "capacity": "name: x\nnodes: [{id: m, role: mine, country: AUS, output: a, capacity: BOMB}]",
    "recipe": "name: x\nnodes: [{id: m, role: processor, country: AUS, recipe: BOMB}]",
    "recipe_value": "name: x\nnodes: [{id: m, role: processor, country: AUS, recipe: {a: BOMB}}]",
    "country": "name: x\nnodes: [{id: m, role: mine, country: BOMB}]",
    "edges": "name: x\nedges: BOMB",
    "lead_time": "name: x\nedges: [{from: a, to: b, lead_time: BOMB}]",
    "disruptions": "name: x\ndisruptions: BOMB",
    "target": "name: x\ndisruptions: [{id: d, kind: outage, target: {country: BOMB}}]",
    "policies": "name: x\npolicies: BOMB",
    "compare": "name: x\nexperiment: {compare: BOMB}",
    "regions": "name: x\nregions: {EU: BOMB}",
    "home": "name: x\nhome: BOMB",
    "governance": "name: x\ngovernance: {DEU: BOMB}",
    "weights": "name: x\nscoring: {weights: BOMB}",
    "version": "crmsim: BOMB",
    "key": "name: x\n? BOMB\n: 1",
}


@pytest.mark.parametrize("use", _PLACEMENTS.values(), ids=_PLACEMENTS.keys())
def test_an_alias_bomb_anywhere_is_refused_quickly_with_little_memory(use: str):
    import tracemalloc

    text = _bomb(use)
    assert len(text.encode()) < 1_100
    tracemalloc.start()
    start = time.perf_counter()
    try:
        found = problems_of(text)
        message = "\n".join(map(str, found))
    finally:
        seconds = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert seconds < 5
    assert peak < 20_000_000, f"{peak / 1e6:.1f} MB"
    (p,) = found
    # The aliases *a5 (on the line of a6) are the first to repeat more than 100 000 values.
    assert (p.code, p.line) == ("alias_limit", 9), message
    assert "*a5" in p.message


def test_aliases_and_merge_keys_of_normal_size_still_work():
    text = """\
crmsim: 1
name: shared defaults
materials: [{id: ore}]
defaults: &mine {role: mine, country: AUS, output: ore, capacity: 5}
"""
    # `defaults` is an unknown key, but the merged mines are read (ten aliases).
    nodes = "".join(f"  - {{<<: *mine, id: m{i}}}\n" for i in range(10))
    found = problems_of(text + "nodes:\n" + nodes)
    assert [p.code for p in found] == ["unknown_key"]


def test_more_than_a_thousand_aliases_are_refused_at_the_alias():
    items = ", ".join(["*x"] * 1_001)
    (p,) = problems_of(f"crmsim: 1\nname: &x n\nsources: [{items}]\n")
    assert p.code == "alias_limit"
    assert p.line == 3
    assert "more than 1,000 aliases" in p.message


def test_deep_nesting_is_one_located_problem_not_an_empty_scenario():
    for depth in (65, 1_000, 10_000):
        (p,) = problems_of("crmsim: 1\nname: " + "[" * depth + "]" * depth + "\n")
        assert (p.code, p.line, p.column) == ("too_deep", 2, 70)
        assert "nested more than 64 levels" in p.message
    # 63 levels of lists under `name` (64 with the document) are read.
    data, _, problems = parse_yaml("crmsim: 1\nname: " + "[" * 63 + "]" * 63 + "\n")
    assert problems == []
    expected: list[Any] = []
    for _ in range(62):
        expected = [expected]
    assert data["name"] == expected


def test_a_file_over_10_mb_is_refused_before_parsing(tmp_path: Path):
    big = "crmsim: 1\nname: big\n" + "# padding\n" * 1_100_000
    start = time.perf_counter()
    (p,) = problems_of(big)
    assert (p.code, p.line) == ("too_large", 1_000_001)  # the line that crosses 10 MB
    assert "larger than 10 MB" in p.message
    path = tmp_path / "big.yaml"
    path.write_text(big, encoding="utf-8")
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert [q.code for q in info.value.problems] == ["too_large"]
    assert time.perf_counter() - start < 10


def test_a_whole_number_with_thousands_of_digits_is_located():
    (p,) = problems_of("crmsim: 1\nname: x\nhorizon_days: 1" + "0" * 5_000 + "\n")
    assert (p.code, p.line, p.column) == ("too_large", 3, 15)
    found = problems_of("crmsim: 1\nname: x\nhorizon_days: 0x" + "f" * 5_000 + "\n")
    (h,) = [q for q in found if q.field_path == "horizon_days"]
    assert "must be at most 36500 (100 years)" in str(h)
    assert "digits" in str(h)
    assert len(str(h)) < 200


def test_exponents_without_a_dot_or_sign_are_numbers(minimal_yaml: str):
    # YAML 1.1 would read `1e3` as text; crmsim reads it as the number everyone means.
    s = loads_scenario(minimal_yaml.replace("capacity: 50", "capacity: 5e1"))
    assert s.nodes[0].capacity == 50.0
    p = only(minimal_yaml.replace("lead_time: 35", "lead_time: 1e19"))
    assert (p.field_path, p.message) == ("edges[0].lead_time", "must be at most 36500 (100 years)")


@pytest.mark.parametrize(
    ("old", "new", "field", "message"),
    [
        ("capacity: 50", "capacity: .inf", "nodes[0].capacity", "must be a finite number"),
        ("capacity: 50", "capacity: .nan", "nodes[0].capacity", "must be a finite number"),
        ("capacity: 50", "capacity: 1.0e-320", "nodes[0].capacity", "must be 0 or at least 1e-09"),
        ("capacity: 50", "capacity: 2e12", "nodes[0].capacity", "must be at most 1e12"),
        ("mean: 80", "mean: 1.0e308", "nodes[3].demand.mean", "must be at most 1e12"),
        ("lead_time: 35", "lead_time: .inf", "edges[0].lead_time", "must be a finite number"),
        ("lead_time: 35", "lead_time: {lognormal: {mean: 20, sd: 1e200}}",
         "edges[0].lead_time.lognormal.sd", "must be at most 36500 (100 years)"),
        ("lead_time: 35", "lead_time: {weibull: {shape: 0.001, scale: 9}}",
         "edges[0].lead_time.weibull.shape", "must be >= 0.1"),
        ("lead_time: 35", "lead_time: {uniform: {low: 1, high: .inf}}",
         "edges[0].lead_time.uniform.high", "must be a finite number"),
        ("lead_time: 35", "lead_time: {lognormal: {mean: 1e-300, sd: 1}}",
         "edges[0].lead_time.lognormal.mean", "must be >= 1e-06"),
        ("name: minimal", "name: minimal\nhorizon_days: 3000000", "horizon_days",
         "must be at most 36500 (100 years)"),
        ("name: minimal", "name: minimal\nwarmup_days: 5e7", "warmup_days",
         "must be at most 36500 (100 years)"),
        ("name: minimal", "name: minimal\nhorizon_days: .inf", "horizon_days",
         "must be a finite number"),
        ("name: minimal", "name: minimal\nscoring: {weights: {resilience: .nan}}",
         "scoring.weights.resilience", "must be a finite number"),
        ("name: minimal", "name: minimal\nexperiment: {replications: 1e12}",
         "experiment.replications", "must be at most 1000000"),
        ("name: minimal", "name: " + "x" * 501, "name", "is too long: 501 characters"),
    ],
)  # fmt: skip
def test_every_number_is_finite_and_bounded(minimal_yaml, old, new, field, message):
    assert old in minimal_yaml
    p = only(minimal_yaml.replace(old, new, 1))
    assert p.field_path == field
    assert p.message.startswith(message), p.message
    assert p.line is not None
    assert "\n" not in str(p)
    assert len(str(p)) < 300


def test_a_5_mb_name_is_one_short_located_line(minimal_yaml: str):
    start = time.perf_counter()
    p = only(minimal_yaml.replace("name: minimal", "name: " + "word " * 1_000_000))
    assert time.perf_counter() - start < 30  # parsing 5 MB of YAML; nothing quadratic
    assert (p.field_path, p.line, p.code) == ("name", 2, "too_long")
    assert str(p).startswith("s.yaml:2:7: name: is too long: 4,999,999 characters")
    assert len(str(p)) < 120


def test_problem_values_are_shown_short_even_when_huge_or_recursive():
    loop: list[Any] = []
    loop.append(loop)
    for value in (list(range(10**6)), loop, "y" * 10**7, {i: [i] * 100 for i in range(10**4)}):
        start = time.perf_counter()
        text = str(Problem("is wrong", ("name",), "f.yaml", 1, 1, value=value))
        assert time.perf_counter() - start < 0.5
        assert len(text) < 120, text


def test_both_yaml_parsers_read_the_same_positions_limits_and_errors():
    from crmsim.scenario import loader

    text = "a: &x [1, 2e3]\nb: *x\nc:\n  - {d: 1}\n"
    for kind in loader._LOADERS:
        data, index, problems = loader._parse_with(kind, text, "f.yaml")
        assert data == {"a": [1, 2000.0], "b": [1, 2000.0], "c": [{"d": 1}]}
        assert (index.locate(("c", 0, "d")), problems) == ((4, 9), [])
        # Columns count characters, not bytes, after non-ASCII text.
        _, index, _ = loader._parse_with(kind, "n: 日本語\nx: {a: [1, é, 3], 日本: [é, 5]}\n", "f")
        assert [index.locate(("x", "a", 2)), index.locate(("x", "日本", 1))] == [(2, 15), (2, 27)]
    # A syntax error found by libyaml is worded and located by PyYAML's parser.
    (p,) = problems_of("crmsim: 1\nname: caf\x07\n")
    assert (p.line, p.column, p.code) == (2, 10, "yaml_syntax")
    (p,) = problems_of("crmsim: 1\nname: '\ud800'\n")  # lone surrogate (only from a str)
    assert (p.line, p.code) == (2, "yaml_syntax")
