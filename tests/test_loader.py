"""The staged loader: parsing with positions, translated pydantic errors, shape checks."""

from __future__ import annotations

import time
from pathlib import Path

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
