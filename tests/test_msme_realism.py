"""MSME realism: entry rules a user can reason about, the EU SME test, stress exits.

Every figure is worked out by hand in the test's comment.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from crmsim.engine import simulate
from crmsim.scenario.errors import ScenarioError
from crmsim.scenario.loader import scenario_from_dict

# ----------------------------------------------------------------- entry triggers
#
# A flickering market, exactly: demand 10/day (cv 0), no cover at the market
# (stock_days 0) and a 1-day lead time, so each day it receives exactly the 10 it ordered
# the day before. A demand shock of factor 2 on every even scored day from day 20 doubles
# that day's demand to 20, of which 10 are served: performance is 0.5 on days 20, 22, 24,
# … and 1 on every other day. The longest run below any threshold is one day.

SHOCK_DAYS = list(range(20, 40, 2))


def flicker(entry: dict) -> dict:
    return {
        "crmsim": 1,
        "name": "flicker",
        "warmup_days": 10,
        "horizon_days": 40,
        "materials": [{"id": "ore"}],
        "nodes": [
            {"id": "mine", "role": "mine", "country": "AUS", "output": "ore", "capacity": 50},
            {
                "id": "city",
                "role": "market",
                "country": "DEU",
                "stock_days": 0,
                "demand": {"mean": 10},
            },
            {
                "id": "newco",
                "role": "mine",
                "country": "DEU",
                "output": "ore",
                "capacity": 8,
                "size": "small",
                "entry": {"watch": "city", **entry},
            },
        ],
        "edges": [
            {"from": "mine", "to": "city", "lead_time": 1},
            {"from": "newco", "to": "city", "share": 0, "lead_time": 1, "qualified": True},
        ],
        "disruptions": [
            {
                "id": f"spike{d}",
                "kind": "demand_shock",
                "target": {"node": "city"},
                "start": d,
                "duration": 1,
                "factor": 2,
            }
            for d in SHOCK_DAYS
        ],
    }


def entry_day(entry: dict) -> float | None:
    res = simulate(scenario_from_dict(flicker(entry)), seed=0)
    # The series is the flicker described above (until the entrant enters).
    p = res.performance
    assert list(p[:20]) == [1.0] * 20
    assert list(p[20:26]) == [0.5, 1.0, 0.5, 1.0, 0.5, 1.0]
    res.check_conservation()
    res.check_consistency()
    lev = res.levers
    days = lev.loc[lev["event"] == "entered", "day"]
    return float(days.iloc[0]) if len(days) else None


def test_consecutive_rule_never_fires_on_flickering_performance():
    # Never two days in a row below 0.9.
    assert entry_day({"fill_rate_below": 0.9, "for_days": 2}) is None
    assert entry_day({"fill_rate_below": 0.9}) is None  # the default for_days 7


def test_moving_average_rule_fires_on_the_hand_computed_day():
    # Window of 10 scored days ending the day before d holds s shock days: fill rate
    # 100 / (100 + 10 s) < 0.8 once s >= 3. The third shock is day 24, so day 25 (window
    # 15..24: shocks 20, 22, 24, fill 100/130 = 0.769); on day 24 (14..23) it is 0.833.
    assert entry_day({"fill_rate_below": 0.8, "window_days": 10}) == 25.0
    # Threshold 0.75: needs s >= 4 (100/140 = 0.714; s = 3 gives 0.769): day 27.
    assert entry_day({"fill_rate_below": 0.75, "window_days": 10}) == 27.0
    # Watching every market (here the one market): the same days, through the path that
    # sums each replication's window over days and markets at once.
    assert entry_day({"watch": None, "fill_rate_below": 0.8, "window_days": 10}) == 25.0
    assert entry_day({"watch": None, "fill_rate_below": 0.75, "window_days": 10}) == 27.0


def test_moving_average_waits_for_a_full_window():
    # Threshold above 1 is impossible, so use 1.0: any shortfall in a full window of 30
    # days fires; the first window of 30 completed scored days ends on day 29 and holds
    # shocks 20..28, so entry on day 30, not earlier.
    assert entry_day({"fill_rate_below": 1.0, "window_days": 30}) == 30.0


def test_shortage_days_rule_fires_on_the_kth_shortage_day_in_the_window():
    # 4 of the last 10 days below 0.9: shortage days 20, 22, 24, 26 -> enters day 27.
    assert entry_day({"fill_rate_below": 0.9, "window_days": 10, "shortage_days": 4}) == 27.0
    # 6 of the last 10 can never happen (at most 5 even days in any 10): never.
    assert entry_day({"fill_rate_below": 0.9, "window_days": 10, "shortage_days": 6}) is None


@pytest.mark.parametrize(
    ("entry", "phrase"),
    [
        ({"fill_rate_below": 0.9, "for_days": 3, "window_days": 10}, "not both"),
        ({"fill_rate_below": 0.9, "shortage_days": 3}, "needs `window_days`"),
        (
            {"fill_rate_below": 0.9, "window_days": 5, "shortage_days": 6},
            "cannot exceed `window_days`",
        ),
        ({"day": 3, "window_days": 5}, "not to an entry on a fixed `day`"),
    ],
)
def test_ambiguous_trigger_combinations_are_located_errors(entry, phrase):
    with pytest.raises(ScenarioError) as err:
        scenario_from_dict(flicker(entry), filename="f.yaml")
    (problem,) = err.value.problems
    assert phrase in problem.message
    assert problem.field_path == "nodes[2].entry"


def test_policy_trigger_passes_its_rule_to_the_entrants():
    from crmsim.policy import apply_msme_entrant

    data = flicker({"day": 0})
    data["nodes"] = data["nodes"][:2]
    data["edges"] = data["edges"][:1]
    data["policies"] = [
        {
            "id": "msme",
            "msme_entrant": {
                "country": "DEU",
                "size": "small",
                "role": "mine",
                "capacity": 8,
                "supplies": ["city"],
                "trigger": {"fill_rate_below": 0.8, "window_days": 10},
                "stress_hazard_per_year": 2.0,
            },
        }
    ]
    base = scenario_from_dict(data)
    s = apply_msme_entrant(base, base.policy("msme").msme_entrant, "msme")
    e = s.node("msme_1").entry
    assert (e.rule, e.window_days, e.for_days, e.stress_hazard_per_year) == (
        "moving_average",
        10,
        None,
        2.0,
    )
    res = simulate(s, seed=0)
    lev = res.levers
    assert float(lev.loc[lev["event"] == "entered", "day"].iloc[0]) == 25.0


# ----------------------------------------------------------------- exit under stress
#
# A processor entrant that enters on scored day 0 (qualified at once) with half of the
# market's orders. Its only input supplier ("dry") has no capacity, so it never gets an
# input and produces nothing: every day from day 0 is stressed (utilisation 0 < 0.3).
# The cumulative hazard by the start of day t is t (b + s) / 365, so it has exited by day
# t (event day <= t) with probability 1 - exp(-t (b + s) / 365).


def stressed(base_rate: float, stress_rate: float, *, starved: bool, horizon: int = 31) -> dict:
    supplier_capacity = 0 if starved else 50
    return {
        "crmsim": 1,
        "name": "stressed entrant",
        "warmup_days": 5,
        "horizon_days": horizon,
        "materials": [{"id": "ore"}, {"id": "metal"}],
        "nodes": [
            {"id": "smelter", "role": "mine", "country": "AUS", "output": "metal", "capacity": 50},
            {
                "id": "feed",
                "role": "mine",
                "country": "DEU",
                "output": "ore",
                "capacity": supplier_capacity,
                "initial_stock_days": 0 if starved else 7,
            },
            {
                "id": "newco",
                "role": "processor",
                "country": "DEU",
                "output": "metal",
                "capacity": 8,
                "recipe": {"ore": 1},
                "size": "small",
                "entry": {
                    "day": 0,
                    "exit_hazard_per_year": base_rate,
                    "stress_hazard_per_year": stress_rate,
                    "stress_utilisation_below": 0.3,
                },
            },
            {"id": "city", "role": "market", "country": "DEU", "demand": {"mean": 10}},
        ],
        "edges": [
            {"from": "smelter", "to": "city", "share": 0.5, "lead_time": 2},
            {"from": "newco", "to": "city", "share": 0.5, "lead_time": 1},
            {"from": "feed", "to": "newco", "lead_time": 1},
        ],
        "silence_warnings": ["capacity_below_plan"],
    }


def exit_share(data: dict, t: int, n: int, seed: int = 2024) -> float:
    s = scenario_from_dict(data)
    exited = []
    for r in range(n):
        lev = simulate(s, seed=seed, replication=r, record="summary").levers
        days = lev.loc[lev["event"] == "exited", "day"]
        exited.append(bool(len(days)) and float(days.iloc[0]) <= t)
    return float(np.mean(exited))


def test_starved_entrant_exits_with_the_hand_computed_probability():
    b, s_rate, t, n = 1.0, 9.0, 30, 400
    p = 1 - math.exp(-t * (b + s_rate) / 365)  # 0.5604
    share = exit_share(stressed(b, s_rate, starved=True), t, n)
    assert abs(share - p) < 4 * math.sqrt(p * (1 - p) / n)
    # Without stress only the baseline applies: 1 - exp(-30/365) = 0.079, far below.
    assert share > 1 - math.exp(-t * b / 365) + 0.3


def test_supplied_entrant_feels_only_the_baseline_hazard():
    # Fed by a working supplier it produces half the orders (5 of 8, utilisation 0.625
    # once its inputs arrive): stressed at most on its first days, so the exit share by
    # day 30 is near the baseline 1 - exp(-30/365) = 0.079, far below the starved 0.56.
    b, s_rate, t, n = 1.0, 9.0, 30, 400
    share = exit_share(stressed(b, s_rate, starved=False), t, n)
    p_base = 1 - math.exp(-t * b / 365)
    p_max = 1 - math.exp(-(t * b + 3 * s_rate) / 365)  # at most 3 stressed start-up days
    assert share < p_max + 4 * math.sqrt(p_max * (1 - p_max) / n)
    assert share > p_base - 4 * math.sqrt(p_base * (1 - p_base) / n)


def test_starved_entrant_never_exits_without_hazard():
    s = scenario_from_dict(stressed(0.0, 0.0, starved=True, horizon=400))
    for r in range(20):
        res = simulate(s, seed=5, replication=r, record="summary")
        assert "exited" not in set(res.levers["event"])
        assert "entered" in set(res.levers["event"])


def test_exit_is_logged_on_the_day_the_cumulative_hazard_is_reached():
    # One replication, by hand: exit on the first day t with t (b + s) / 365 >= E, where
    # E is the entrant's standard exponential (its second draw after finance).
    from crmsim.engine.streams import Streams

    b, s_rate = 1.0, 9.0
    res = simulate(scenario_from_dict(stressed(b, s_rate, starved=True, horizon=400)), seed=3)
    rng = Streams(3, 0).get("entry", "newco")
    rng.random()  # finance
    e = rng.standard_exponential()
    day = math.ceil(e * 365 / (b + s_rate))
    lev = res.levers.set_index("event")["day"]
    assert lev["exited"] == day
    out = res.daily[(res.daily["node"] == "newco") & (res.daily["stock"] == "output")]
    cap = out.set_index("day")["capacity_available"]
    assert cap.loc[day - 1] == 8.0
    assert (cap.loc[day:] == 0).all()
    res.check_conservation()


# ----------------------------------------------------------------- EU SME test

from crmsim.scenario.schema import Size  # noqa: E402


@pytest.mark.parametrize(
    ("staff", "turnover", "balance", "expected"),
    [
        (9, None, None, "micro"),
        (10, None, None, "small"),
        (249, None, None, "medium"),
        (250, None, None, "large"),
        (None, 2e6, None, "micro"),  # ceilings are "not exceeding"
        (None, 2e6 + 1, None, "small"),
        (None, 10e6, None, "small"),
        (None, 50e6, None, "medium"),
        (None, 50e6 + 1, None, "large"),
        (None, None, 43e6, "medium"),
        (None, None, 43e6 + 1, "large"),
        # turnover OR balance sheet: the more favourable of the two
        (None, 60e6, 40e6, "medium"),
        (None, 1e6, 40e6, "micro"),
        # staff AND financial: the larger of the two tests
        (8, 5e6, None, "small"),
        (8, 60e6, 44e6, "large"),
        (120, 1e6, 1e6, "medium"),
        (None, None, None, None),
    ],
)
def test_eu_sme_class_combines_staff_and_financial_ceilings(staff, turnover, balance, expected):
    got = Size.eu_class(staff, turnover, balance)
    assert (None if got is None else got.value) == expected


def sme_network(**small_mine) -> dict:
    return {
        "crmsim": 1,
        "name": "sme",
        "warmup_days": 5,
        "horizon_days": 30,
        "materials": [{"id": "ore"}],
        "nodes": [
            {
                "id": "a",
                "role": "mine",
                "country": "AUS",
                "output": "ore",
                "capacity": 100,
                **small_mine,
            },
            {
                "id": "b",
                "role": "mine",
                "country": "AUS",
                "output": "ore",
                "capacity": 100,
                "employees": 30,
                "reference_price_eur": 500,  # 100 × 500 × 365 = 18.25 m: medium
            },
            {"id": "k", "role": "market", "country": "DEU", "demand": {"mean": 100}},
        ],
        "edges": [{"from": "a", "to": "k", "share": 0.5}, {"from": "b", "to": "k", "share": 0.5}],
    }


def test_msme_share_uses_the_class_derived_from_staff_and_turnover():
    from crmsim.network.analysis import msme_share
    from crmsim.network.graph import build_graph

    # Mine a has 5 staff (micro by staff alone) but sells 100 × 2,000 × 365 = EUR 73 m a
    # year: large. Mine b: 30 staff and EUR 18.25 m: medium. MSME share of capacity
    # 100 / 200 = 0.5 (it would be 1.0 by staff alone), and of shipments 0.5 too.
    s = scenario_from_dict(sme_network(employees=5, reference_price_eur=2000))
    assert (s.node("a").firm_size, s.node("b").firm_size) == (Size.LARGE, Size.MEDIUM)
    share = msme_share(build_graph(s)).iloc[0]
    assert float(share["msme_share"]) == 0.5
    res = simulate(s, seed=0)
    row = res.materials.set_index("material").loc["ore"]
    assert row["msme_share"] == pytest.approx(0.5)
    # Given turnover wins over the estimate: EUR 9 m with 5 staff is small.
    s2 = scenario_from_dict(sme_network(employees=5, reference_price_eur=2000, turnover_eur=9e6))
    assert s2.node("a").firm_size is Size.SMALL
    assert float(msme_share(build_graph(s2)).iloc[0]["msme_share"]) == 1.0


def test_declared_size_contradicting_stated_turnover_is_a_located_error():
    with pytest.raises(ScenarioError) as err:
        scenario_from_dict(sme_network(size="small", turnover_eur=60e6), filename="s.yaml")
    (problem,) = err.value.problems
    assert problem.field_path == "nodes[0]"
    assert "size 'small' contradicts turnover_eur=6e+07" in problem.message
    assert "large" in problem.message


def test_declared_size_contradicting_the_turnover_estimate_is_a_located_warning():
    from crmsim.scenario.warnings import check_warnings

    s = scenario_from_dict(sme_network(size="small", reference_price_eur=2000))
    (w,) = [p for p in check_warnings(s) if p.code == "size_contradicts_sme_test"]
    assert w.field_path == "nodes[0].size"
    assert "'large'" in w.message
    assert "7.3e+07" in w.message
    assert s.node("a").firm_size is Size.LARGE  # the derived class is used
    # Agreeing figures give no warning.
    ok = scenario_from_dict(sme_network(size="medium", reference_price_eur=500))
    assert not [p for p in check_warnings(ok) if p.code == "size_contradicts_sme_test"]


def test_policy_trigger_and_staff_errors_are_located_at_the_policy():
    data = flicker({"day": 0})
    lever = {
        "country": "DEU",
        "size": "small",
        "role": "mine",
        "capacity": 8,
        "supplies": ["city"],
    }
    data["policies"] = [
        {
            "id": "a",
            "msme_entrant": {**lever, "trigger": {"fill_rate_below": 0.9, "shortage_days": 3}},
        },
        {"id": "b", "msme_entrant": {**lever, "employees": 60}},
    ]
    with pytest.raises(ScenarioError) as err:
        scenario_from_dict(data, filename="p.yaml")
    found = {p.field_path: p.message for p in err.value.problems}
    assert "needs `window_days`" in found["policies[0].msme_entrant.trigger"]
    assert "contradicts employees=60" in found["policies[1].msme_entrant"]


def test_entrant_turnover_estimate_that_makes_it_large_is_a_warning_and_counts_as_large():
    from crmsim.policy import apply_msme_entrant
    from crmsim.scenario.warnings import check_warnings

    data = flicker({"day": 0})
    data["nodes"] = data["nodes"][:2]
    data["edges"] = data["edges"][:1]
    # 8 units/day × EUR 20,000 × 365 = EUR 58.4 m a year: large, though declared small.
    data["policies"] = [
        {
            "id": "msme",
            "msme_entrant": {
                "country": "DEU",
                "size": "small",
                "role": "mine",
                "capacity": 8,
                "supplies": ["city"],
                "reference_price_eur": 20000,
            },
        }
    ]
    s = scenario_from_dict(data)
    (w,) = [p for p in check_warnings(s) if p.code == "size_contradicts_sme_test"]
    assert w.field_path == "policies[0].msme_entrant.size"
    assert "5.84e+07" in w.message
    t = apply_msme_entrant(s, s.policy("msme").msme_entrant, "msme")
    assert t.node("msme_1").firm_size is Size.LARGE
