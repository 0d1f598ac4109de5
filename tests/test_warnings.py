"""Warnings of `crmsim validate` and `crmsim show`: one test per kind, located, silenceable.

Each case writes a small YAML file and checks the warning's code, line and field path
(the line found by searching the text for the offending key), and that the same file
without the mistake gives no warning, so each test fails when its rule breaks. Where a
rule says "never within the horizon", the boundary is checked against the engine itself.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

import crmsim.cli.commands_network
import crmsim.cli.commands_scenario  # noqa: F401  (register show and validate)
from crmsim import load_scenario, loads_scenario
from crmsim.cli import cli
from crmsim.engine import simulate
from crmsim.engine.layout import build_layout
from crmsim.engine.levers import plan_recycling
from crmsim.network.graph import build_graph
from crmsim.scenario import WARNING_CODES, check_warnings, load_with_warnings
from crmsim.scenario.errors import Problem
from crmsim.scenario.warnings import locate_warnings

SCENARIOS = sorted((Path(__file__).resolve().parents[1] / "scenarios").glob("*.yaml"))

#: One mine → one refinery → one market (mean demand 10/day), 100 scored days.
BASE = """\
crmsim: 1
name: warnings
horizon_days: 100
warmup_days: 10
materials:
  - {id: ore}
  - {id: metal}
nodes:
  - {id: mine, role: mine, country: AUS, output: ore, capacity: 30}
  - {id: refinery, role: processor, country: DEU, output: metal, capacity: 12,
     recipe: {ore: 2.0}}
  - {id: shop, role: market, country: DEU, demand: {mean: 10, cv: 0.2}}
edges:
  - {from: mine, to: refinery, lead_time: 5}
  - {from: refinery, to: shop, lead_time: 1}
"""


def scenario_text(*extra: str, base: str = BASE, replace: tuple[tuple[str, str], ...] = ()) -> str:
    text = base
    for old, new in replace:
        assert old in text, old
        text = text.replace(old, new)
    # Extras written as indented blocks in the tests are dedented; list items are kept.
    return text + "".join(textwrap.dedent(e) if e.startswith("    ") else e for e in extra)


def warnings_of(text: str, name: str = "w.yaml") -> list[Problem]:
    return locate_warnings(check_warnings(loads_scenario(text, name)), text, name)


def line_of(text: str, needle: str) -> int:
    lines = [i for i, ln in enumerate(text.splitlines(), 1) if needle in ln]
    assert len(lines) == 1, (needle, lines)
    return lines[0]


def only(problems: list[Problem], code: str) -> Problem:
    assert [p.code for p in problems] == [code], [str(p) for p in problems]
    p = problems[0]
    assert p.severity == "warning"
    assert f"silence_warnings: [{{code: {code}, id: " in (p.hint or "")
    return p


def test_base_scenario_has_no_warnings():
    assert warnings_of(BASE) == []


# ---------------------------------------------------------------- (a) capacity below plan
def test_capacity_below_planned_flow_is_located_with_hand_figures():
    # The shop needs 10/day; the refinery makes it with 2 ore per metal: the mine's planned
    # output is 20/day. Capacity 18 is short by 2/day (10 %).
    text = scenario_text(replace=(("output: ore, capacity: 30", "output: ore, capacity: 18"),))
    p = only(warnings_of(text), "capacity_below_plan")
    assert (p.line, p.field_path) == (line_of(text, "id: mine"), "nodes[0].capacity")
    assert p.column == text.splitlines()[p.line - 1].index("18") + 1
    assert "planned output 20/day is above the capacity 18/day" in p.message
    assert "short by 2/day (10%)" in p.message
    assert "refinery 20" in p.message


def test_capacity_equal_to_planned_flow_is_no_warning():
    text = scenario_text(replace=(("output: ore, capacity: 30", "output: ore, capacity: 20"),))
    assert warnings_of(text) == []


def test_capacity_check_covers_processors_and_split_shares():
    # Two mines at 0.7 / 0.3 of the refinery's 20/day: 14 and 6; the second has 5.
    text = scenario_text(
        replace=(
            (
                "  - {id: shop,",
                "  - {id: mine2, role: mine, country: CAN, output: ore, capacity: 5}\n"
                "  - {id: shop,",
            ),
            (
                "  - {from: mine, to: refinery, lead_time: 5}",
                "  - {from: mine, to: refinery, lead_time: 5, share: 0.7}\n"
                "  - {from: mine2, to: refinery, lead_time: 5, share: 0.3}",
            ),
            ("capacity: 12,", "capacity: 9,"),
        )
    )
    found = warnings_of(text)
    assert [(p.code, p.field_path) for p in found] == [
        ("capacity_below_plan", "nodes[1].capacity"),  # refinery 10 > 9
        ("capacity_below_plan", "nodes[2].capacity"),  # mine2 6 > 5
    ]
    assert "planned output 10/day is above the capacity 9/day" in found[0].message
    assert "planned output 6/day is above the capacity 5/day" in found[1].message


def growing(demand: str, horizon: int, mine_capacity: float) -> str:
    return scenario_text(
        replace=(
            ("horizon_days: 100", f"horizon_days: {horizon}"),
            ("output: ore, capacity: 30", f"output: ore, capacity: {mine_capacity:g}"),
            ("demand: {mean: 10, cv: 0.2}", demand),
        )
    )


def test_capacity_check_uses_the_peak_year_of_compound_growth():
    # 50 % a year over 100 scored days: the mean peaks on day 99 at 10 × 1.5^(99/365)
    # = 11.163, so the mine's planned ore is 22.33/day against its 21 (day 0 plans only
    # 20/day, which the old day-0 check accepted). The refinery (12) still has room.
    text = growing("demand: {mean: 10, cv: 0.2, growth_per_year: 0.5}", 100, 21)
    p = only(warnings_of(text), "capacity_below_plan")
    assert p.field_path == "nodes[0].capacity"
    assert "planned output 22.33/day in scored year 1 (days 0–99" in p.message
    assert "above the capacity 21/day" in p.message
    assert "short by 1.325/day" in p.message
    assert "refinery 22.33" in p.message


def test_capacity_check_names_the_peak_year_of_a_table():
    # by_year 1, 1.5, 1.2 over three years: year 2 plans 30 ore/day, year 3 24.
    text = growing("demand: {mean: 10, by_year: [1, 1.5, 1.2]}", 1095, 28)
    p = only(warnings_of(text)[:1], "capacity_below_plan")
    assert "planned output 30/day in scored year 2 (days 365–729" in p.message
    # The refinery (capacity 12) is short in year 2 too: 15 metal a day.
    assert [w.field_path for w in warnings_of(text)] == ["nodes[0].capacity", "nodes[1].capacity"]
    # A table entry after the horizon never happens: two years only, no warning.
    assert warnings_of(growing("demand: {mean: 10, by_year: [1, 1, 5]}", 730, 28)) == []


def test_capacity_check_with_falling_demand_uses_the_first_year():
    # Demand falling 50 % a year: the peak is day 0 (20 ore/day), the same as without growth.
    text = growing("demand: {mean: 10, cv: 0.2, growth_per_year: -0.5}", 730, 19)
    p = only(warnings_of(text), "capacity_below_plan")
    assert "planned output 20/day in scored year 1 (days 0–364" in p.message
    assert warnings_of(growing("demand: {mean: 10, growth_per_year: -0.5}", 730, 20)) == []


# ---------------------------------------------------------------- (b) recycler feedstock
RECYCLING = """\
policies:
  - id: recycle
    recycling:
      id: scrap_plant
      country: DEU
      output: ore
      capacity: 2
      supplies: [refinery]
      max_share: 0.1
"""


def test_recycling_policy_whose_product_lacks_content_is_located_at_the_policy():
    text = scenario_text(RECYCLING)
    p = only(warnings_of(text), "recycler_no_feedstock")
    assert (p.line, p.field_path) == (line_of(text, "recycling:"), "policies[0].recycling")
    assert "policy 'recycle' adds recycler 'scrap_plant'" in p.message
    assert "metal (market shop) has no `content` of ore" in p.message


def test_recycling_policy_whose_product_lacks_lifetime():
    text = scenario_text(RECYCLING, replace=(("{id: metal}", "{id: metal, content: {ore: 1}}"),))
    p = only(warnings_of(text), "recycler_no_feedstock")
    assert "metal (market shop) has no `lifetime`" in p.message


def test_recycling_policy_with_content_and_lifetime_is_fine():
    text = scenario_text(
        RECYCLING,
        replace=(("{id: metal}", "{id: metal, content: {ore: 1}, lifetime: 30}"),),
    )
    assert warnings_of(text) == []


def test_lifetime_beyond_the_run_without_initial_stock_in_use():
    # 110 simulated days; units that last at least 200 days never come back in the run...
    product = "{id: metal, content: {ore: 1}, lifetime: {uniform: {low: 200, high: 300}}}"
    text = scenario_text(RECYCLING, replace=(("{id: metal}", product),))
    p = only(warnings_of(text), "recycler_no_feedstock")
    assert "lasts at least 200 days, longer than the 110 simulated days" in p.message
    # ...unless units are in use from the start.
    text = text.replace(
        "demand: {mean: 10, cv: 0.2}}",
        "demand: {mean: 10, cv: 0.2},\n     in_use_initial: steady_state}",
    )
    assert warnings_of(text) == []


NODE_RECYCLER = """\
  - {id: rec, role: recycler, country: DEU, output: ore, capacity: 1, collects_from: [shop]}
"""


@pytest.mark.parametrize(
    ("product", "recycler", "warns"),
    [
        ("{id: metal}", NODE_RECYCLER, True),
        ("{id: metal, content: {ore: 1}, lifetime: 5}", NODE_RECYCLER, False),
        (
            "{id: metal, content: {ore: 1}, lifetime: 5}",
            NODE_RECYCLER.replace("capacity: 1,", "capacity: 1, collection_rate: 0,"),
            True,
        ),
        ("{id: metal, content: {ore: 1}}", NODE_RECYCLER, True),
    ],
)
def test_recycler_node_feedstock_agrees_with_the_engine(product, recycler, warns):
    text = scenario_text(
        replace=(("{id: metal}", product), ("edges:\n", recycler + "edges:\n")),
    )
    found = warnings_of(text)
    assert [p.code for p in found] == (["recycler_no_feedstock"] if warns else [])
    if warns:
        assert (found[0].line, found[0].field_path) == (line_of(text, "id: rec,"), "nodes[3]")
    # The engine's own plan: the recycler collects from the shop exactly when the product
    # has content; with a lifetime (and a collection rate) end-of-life units reach it.
    s = loads_scenario(text)
    G = build_graph(s)
    (plan,) = plan_recycling(G, build_layout(G))
    gets_units = (
        bool(plan.sources)
        and plan.collection_rate > 0
        and (s.material("metal").lifetime is not None)
    )
    assert gets_units is not warns
    result = simulate(s, seed=1)
    collected = result.daily.query("node == 'rec'")["collected"].sum()
    assert (collected > 0) is not warns


# ---------------------------------------------------------------- (c) disruption targets
@pytest.mark.parametrize(
    ("disruption", "why"),
    [
        (
            "{id: d, kind: outage, target: {node: mine, country: DEU}, start: 0, duration: 5}",
            "each condition matches something, but nothing meets all of them",
        ),
        (
            "{id: d, kind: outage, target: {country: FRA}, start: 0, duration: 5}",
            "nothing meets country=FRA",
        ),
        (
            "{id: d, kind: demand_shock, target: {role: mine}, start: 0, duration: 5, factor: 2}",
            "nothing meets role=mine",
        ),
        # Refinery → shop stays inside Germany: an export restriction blocks nothing.
        (
            "{id: d, kind: export_restriction, target: {country: DEU, material: metal}, "
            "start: 0, duration: 5}",
            "nothing meets country=DEU",
        ),
        (
            "{id: d, kind: logistics, target: {role: market}, factor: 2, "
            "random: {rate_per_year: 1, duration: 5}}",
            "nothing meets role=market",
        ),
    ],
)
def test_disruption_matching_nothing_is_located_at_its_target(disruption, why):
    text = scenario_text(f"disruptions:\n  - {disruption}\n")
    p = only(warnings_of(text), "disruption_matches_nothing")
    assert (p.line, p.field_path) == (line_of(text, "id: d,"), "disruptions[0].target")
    assert why in p.message


def test_disruption_matching_something_is_fine():
    text = scenario_text(
        "disruptions:\n"
        "  - {id: d, kind: export_restriction, target: {country: AUS}, start: 0, duration: 5}\n"
        "  - {id: e, kind: demand_shock, target: {role: market}, start: 0, duration: 5, "
        "factor: 2}\n"
    )
    assert warnings_of(text) == []


# ---------------------------------------------------------------- (d) entrants
ENTRANT = """\
  - id: newmine
    role: mine
    country: CAN
    output: ore
    capacity: 5
    entry: {ENTRY}
"""
ENTRANT_EDGE = "  - {from: newmine, to: refinery, share: 0, qualified: true}\n"


def entrant_text(entry: str) -> str:
    return scenario_text(
        ENTRANT_EDGE,
        replace=(("edges:\n", ENTRANT.replace("{ENTRY}", entry) + "edges:\n"),),
    )


@pytest.mark.parametrize(
    ("entry", "field", "phrase"),
    [
        ("{day: 100}", "day", "enters on scored day 100, after the last scored day 99"),
        ("{fill_rate_below: 0.9, for_days: 100}", "for_days", "needs 100 consecutive"),
        ("{fill_rate_below: 0, for_days: 7}", "fill_rate_below", "performance below 0"),
        ("{day: 10, finance_probability: 0}", "finance_probability", "never enters"),
        ("{day: 50, qualification_days: 50}", "qualification_days", "only 50 days later"),
    ],
)
def test_entrant_that_never_supplies_is_located(entry, field, phrase):
    text = entrant_text(entry)
    p = only(warnings_of(text), "entrant_never_supplies")
    assert (p.line, p.field_path) == (line_of(text, "entry:"), f"nodes[3].entry.{field}")
    assert phrase in p.message


def test_entrant_boundary_is_the_engines_last_scored_day():
    # Day 99 is the last scored day (horizon 100): entry then is fine, day 100 is not.
    fine = entrant_text("{day: 99}")
    assert warnings_of(fine) == []
    late = entrant_text("{day: 100}")
    assert [p.code for p in warnings_of(late)] == ["entrant_never_supplies"]
    assert "entered" in set(simulate(loads_scenario(fine), seed=1).levers["event"])
    assert "entered" not in set(simulate(loads_scenario(late), seed=1).levers["event"])
    # A shortage trigger over 99 days could fire on day 99 at the earliest: fine.
    assert warnings_of(entrant_text("{fill_rate_below: 0.9, for_days: 99}")) == []


def test_msme_entrant_policy_trigger_is_located_in_the_policy():
    text = scenario_text(
        """\
        policies:
          - id: smelters
            msme_entrant:
              country: DEU
              size: small
              capacity: 3
              supplies: [refinery]
              output: ore
              trigger: {fill_rate_below: 0.9, for_days: 365}
        """
    )
    p = only(warnings_of(text), "entrant_never_supplies")
    assert (p.line, p.field_path) == (
        line_of(text, "trigger:"),
        "policies[0].msme_entrant.trigger.for_days",
    )
    assert "the entrants of policy 'smelters'" in p.message


# ---------------------------------------------------------------- (e) UNFC development
DEVELOPED = """\
  - id: deposit
    role: mine
    country: CAN
    output: ore
    capacity: 5
    unfc: E2 F2.1 G2
    development: {lead_time: LEAD}
"""
DEVELOPED_EDGE = "  - {from: deposit, to: refinery, share: 0, qualified: true}\n"


def developed_text(lead: str) -> str:
    return scenario_text(
        DEVELOPED_EDGE,
        replace=(("edges:\n", DEVELOPED.replace("LEAD", lead) + "edges:\n"),),
    )


@pytest.mark.parametrize(
    ("lead", "warns"),
    [
        ("100", True),
        ("99", False),
        ("{uniform: {low: 120, high: 400}}", True),
        ("{triangular: {low: 50, mode: 200, high: 400}}", False),
        ("{exponential: {mean: 2000}}", False),  # may start on day 0
    ],
)
def test_development_whose_earliest_start_is_after_the_horizon(lead, warns):
    text = developed_text(lead)
    found = warnings_of(text)
    if not warns:
        assert found == []
        return
    p = only(found, "development_after_horizon")
    assert (p.line, p.field_path) == (
        line_of(text, "development:"),
        "nodes[3].development.lead_time",
    )
    assert "starts after the last scored day 99" in p.message


def test_development_boundary_is_the_engines_last_scored_day():
    started = simulate(loads_scenario(developed_text("99")), seed=1).levers
    assert "production_started" in set(started["event"])
    late = simulate(loads_scenario(developed_text("100")), seed=1).levers
    assert "production_started" not in (set(late["event"]) if len(late) else set())


def test_develop_resource_policy_with_a_late_lead_time():
    text = scenario_text(
        DEVELOPED_EDGE,
        """\
        policies:
          - id: develop
            develop_resource: {node: deposit, lead_time: 730}
        """,
        replace=(
            (
                "edges:\n",
                DEVELOPED.replace("    development: {lead_time: LEAD}\n", "") + "edges:\n",
            ),
        ),
    )
    p = only(warnings_of(text), "development_after_horizon")
    assert (p.line, p.field_path) == (
        line_of(text, "develop_resource:"),
        "policies[0].develop_resource.lead_time",
    )
    assert "policy 'develop' develops 'deposit'" in p.message


# ---------------------------------------------------------------- (f) ignored fields
def test_poisson_demand_with_cv_warns_that_cv_is_ignored():
    text = scenario_text(replace=(("cv: 0.2}", "cv: 0.2, distribution: poisson}"),))
    p = only(warnings_of(text), "ignored_field")
    assert (p.line, p.field_path) == (line_of(text, "id: shop"), "nodes[2].demand.cv")
    assert "1/sqrt(mean) = 0.3162" in p.message
    assert warnings_of(text.replace("cv: 0.2, ", "")) == []


# ---------------------------------------------------------------- silencing
SHORT = scenario_text(
    "disruptions:\n  - {id: d, kind: outage, target: {country: FRA}, start: 0, duration: 5}\n",
    replace=(("output: ore, capacity: 30", "output: ore, capacity: 18"),),
)


def test_silence_by_code_and_id():
    text = SHORT + "silence_warnings:\n  - {code: capacity_below_plan, id: mine, reason: test}\n"
    assert [p.code for p in warnings_of(text)] == ["disruption_matches_nothing"]


def test_silence_by_code_alone_silences_every_such_warning():
    text = SHORT + "silence_warnings: [capacity_below_plan, disruption_matches_nothing]\n"
    assert warnings_of(text) == []


def test_silence_for_another_element_does_not_silence_and_is_reported():
    text = SHORT + "silence_warnings:\n  - {code: capacity_below_plan, id: refinery}\n"
    found = warnings_of(text)
    assert [p.code for p in found] == [
        "capacity_below_plan",
        "disruption_matches_nothing",
        "unused_silence",
    ]
    unused = found[-1]
    assert (unused.line, unused.field_path) == (
        line_of(text, "id: refinery}"),
        "silence_warnings[0]",
    )
    assert "no capacity_below_plan warning about 'refinery'" in unused.message
    assert unused.hint == "remove the entry (what it silenced is gone), or correct it"
    misspelt = warnings_of(SHORT + "silence_warnings: [{code: capacity_below_plan, id: mien}]\n")
    assert misspelt[-1].hint == "did you mean id 'mine'?"


def test_silence_with_the_wrong_code_names_the_right_one():
    text = SHORT + "silence_warnings:\n  - {code: ignored_field, id: mine}\n"
    unused = warnings_of(text)[-1]
    assert unused.code == "unused_silence"
    assert unused.hint == "the warnings about 'mine' have code capacity_below_plan"


def test_unknown_warning_code_is_an_error_with_a_suggestion():
    from crmsim.scenario.errors import ScenarioError

    with pytest.raises(ScenarioError) as err:
        loads_scenario(SHORT + "silence_warnings: [capacity_below_plna]\n", "w.yaml")
    (p,) = err.value.problems
    assert (p.line, p.field_path) == (len(SHORT.splitlines()) + 1, "silence_warnings[0]")
    assert "'capacity_below_plna' is not a valid choice" in p.message
    assert "did you mean 'capacity_below_plan'?" in (p.hint or "")


def test_warning_codes_are_the_ones_emitted():
    # Every code the schema accepts for silencing is produced by one of the cases above.
    texts = [
        SHORT,
        scenario_text(RECYCLING),
        entrant_text("{day: 100}"),
        developed_text("100"),
        scenario_text(replace=(("cv: 0.2}", "cv: 0.2, distribution: poisson}"),)),
        scenario_text(
            replace=(("capacity: 30}", "capacity: 30, size: micro, reference_price_eur: 1000}"),)
        ),
    ]
    emitted = {p.code for text in texts for p in warnings_of(text)}
    assert emitted == set(WARNING_CODES)


# ---------------------------------------------------------------- shipped scenarios, API
@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_shipped_scenarios_have_no_warnings(path):
    scenario, found = load_with_warnings(path)
    assert found == [], "\n".join(map(str, found))
    assert check_warnings(scenario) == []


def test_load_scenario_does_not_warn(tmp_path: Path, recwarn):
    path = tmp_path / "short.yaml"
    path.write_text(SHORT, encoding="utf-8")
    load_scenario(path)
    assert len(recwarn) == 0
    _, found = load_with_warnings(path)
    assert [p.location for p in found] == [
        f"{path}:{line_of(SHORT, 'id: mine')}:{SHORT.splitlines()[8].index('18') + 1}",
        f"{path}:{line_of(SHORT, 'id: d,')}:{SHORT.splitlines()[-1].index('target:') + 1}",
    ]


# ---------------------------------------------------------------- CLI
def test_validate_prints_warnings_after_ok_and_exits_0(tmp_path: Path):
    path = tmp_path / "short.yaml"
    path.write_text(SHORT, encoding="utf-8")
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"OK {path}: warnings")
    lines = result.stderr.splitlines()
    assert len(lines) == 3
    assert lines[0].startswith(f"{path}:9:")
    assert ": warning: nodes[0].capacity: " in lines[0]
    assert ": warning: disruptions[0].target: " in lines[1]
    assert lines[2] == f"{path}: 2 warnings"


def test_validate_strict_fails_on_warnings(tmp_path: Path):
    path = tmp_path / "short.yaml"
    path.write_text(SHORT, encoding="utf-8")
    result = CliRunner().invoke(cli, ["validate", "--strict", str(path)])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.splitlines()[-1] == f"FAILED {path}: 2 warnings (--strict)"
    silenced = tmp_path / "silenced.yaml"
    silenced.write_text(
        SHORT + "silence_warnings: [capacity_below_plan, disruption_matches_nothing]\n",
        encoding="utf-8",
    )
    assert CliRunner().invoke(cli, ["validate", "--strict", str(silenced)]).exit_code == 0


def test_show_prints_warnings_on_stderr(tmp_path: Path):
    path = tmp_path / "short.yaml"
    path.write_text(SHORT, encoding="utf-8")
    result = CliRunner().invoke(cli, ["show", str(path)])
    assert result.exit_code == 0, result.output
    assert "warning:" not in result.stdout
    codes = [ln.split(": warning: ")[1].split(":")[0] for ln in result.stderr.splitlines()]
    assert codes == ["nodes[0].capacity", "disruptions[0].target"]


def test_silence_warnings_round_trips_through_the_schema():
    s = loads_scenario(SHORT + "silence_warnings: [{code: ignored_field, reason: why}]\n")
    data = s.model_dump(mode="json", by_alias=True, exclude_none=True)
    assert data["silence_warnings"] == [{"code": "ignored_field", "reason": "why"}]
    assert yaml.safe_dump(data)
