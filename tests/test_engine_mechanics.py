"""Engine mechanics pinned down by exact hand calculations.

Each case is small enough to work out by hand and differs from what a plausible engine bug
would give (noted per test): rationing, end-of-life splits, spare capacity, lead-time
scaling, switching delays, stockpile releases, disruption factors and distributions.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from crmsim.engine import Engine, simulate
from crmsim.engine.layout import lead_days
from crmsim.scenario.distributions import Dist, normal_for_moments, truncated_normal
from crmsim.scenario.errors import ScenarioError
from crmsim.scenario.loader import scenario_from_dict


def rows(res, node, stock="output"):
    d = res.daily
    return d[(d["node"] == node) & (d["stock"] == stock)].set_index("day")


def chain(lead=10, disruptions=(), horizon=100, **mine):
    return scenario_from_dict(
        {
            "crmsim": 1,
            "name": "chain",
            "warmup_days": 20,
            "horizon_days": horizon,
            "materials": [{"id": "ore"}],
            "nodes": [
                {
                    "id": "mine",
                    "role": "mine",
                    "country": "AUS",
                    "output": "ore",
                    "capacity": 12,
                    **mine,
                },
                {"id": "city", "role": "market", "country": "DEU", "demand": {"mean": 10}},
            ],
            "edges": [{"from": "mine", "to": "city", "lead_time": lead}],
            "disruptions": list(disruptions),
        }
    )


# --------------------------------------------------------------------------- rationing
def test_two_buyers_at_one_short_supplier_are_served_pro_rata():
    # A mine without stock (capacity 15 = 10 + 5 planned) loses 60 % of its capacity for
    # 30 days: it makes 6 a day. Both markets keep serving from stock, so each re-orders
    # its own demand (10 and 5) every day and their open orders stay 2 : 1; pro rata the
    # mine ships 4 and 2 a day (first-come by edge order would ship 6 and 0).
    data = {
        "crmsim": 1,
        "name": "pro rata",
        "warmup_days": 10,
        "horizon_days": 60,
        "materials": [{"id": "ore"}],
        "nodes": [
            {
                "id": "mine",
                "role": "mine",
                "country": "AUS",
                "output": "ore",
                "capacity": 15,
                "stock_days": 0,
            },
            {"id": "a", "role": "market", "country": "DEU", "demand": {"mean": 10}},
            {"id": "b", "role": "market", "country": "DEU", "demand": {"mean": 5}},
        ],
        "edges": [
            {"from": "mine", "to": "a", "lead_time": 1},
            {"from": "mine", "to": "b", "lead_time": 1},
        ],
        "disruptions": [
            {
                "id": "slow",
                "kind": "outage",
                "target": {"node": "mine"},
                "start": 10,
                "duration": 30,
                "severity": 0.6,
            }
        ],
    }
    res = simulate(scenario_from_dict(data), seed=0)
    got_a = rows(res, "a", "input")["received"]
    got_b = rows(res, "b", "input")["received"]
    # Shipped on days 10..39, received a day later.
    assert got_a.loc[11:40].to_numpy() == pytest.approx(np.full(30, 4.0), abs=1e-12)
    assert got_b.loc[11:40].to_numpy() == pytest.approx(np.full(30, 2.0), abs=1e-12)
    assert got_a.loc[41] == 10.0
    assert got_b.loc[41] == 5.0
    ms = res.market_summary.set_index("market")
    # Each loses its daily shortfall × 30 days, less the stock it held.
    assert ms.loc["a", "unmet"] / ms.loc["b", "unmet"] == pytest.approx(2.0)
    res.check_consistency()


# ----------------------------------------------------------------------- end of life
def test_two_recyclers_share_a_markets_end_of_life_equally():
    # Steady state in use: 100 units/day reach end of life, content 0.05: 5 units of Sb a
    # day, half to each recycler, times its own collection rate.
    data = {
        "crmsim": 1,
        "name": "two recyclers",
        "warmup_days": 0,
        "horizon_days": 60,
        "materials": [
            {"id": "sb"},
            {"id": "battery", "lifetime": 30, "content": {"sb": 0.05}},
        ],
        "nodes": [
            {"id": "mine", "role": "mine", "country": "CHN", "output": "sb", "capacity": 10},
            {
                "id": "maker",
                "role": "processor",
                "country": "USA",
                "output": "battery",
                "capacity": 200,
                "recipe": {"sb": 0.05},
            },
            {
                "id": "users",
                "role": "market",
                "country": "USA",
                "demand": {"mean": 100},
                "in_use_initial": "steady_state",
            },
            {
                "id": "rec_a",
                "role": "recycler",
                "country": "USA",
                "output": "sb",
                "capacity": 50,
                "collection_rate": 0.8,
            },
            {
                "id": "rec_b",
                "role": "recycler",
                "country": "USA",
                "output": "sb",
                "capacity": 50,
                "collection_rate": 0.4,
            },
        ],
        "edges": [
            {"from": "mine", "to": "maker", "share": 1.0, "lead_time": 10},
            {"from": "rec_a", "to": "maker", "share": 0.0, "lead_time": 1, "qualified": True},
            {"from": "rec_b", "to": "maker", "share": 0.0, "lead_time": 1, "qualified": True},
            {"from": "maker", "to": "users", "lead_time": 2},
        ],
    }
    res = simulate(scenario_from_dict(data), seed=0)
    a, b = rows(res, "rec_a")["collected"], rows(res, "rec_b")["collected"]
    assert a.loc[0:59].to_numpy() == pytest.approx(np.full(60, 100 * 0.05 * 0.5 * 0.8))
    assert b.loc[0:59].to_numpy() == pytest.approx(np.full(60, 100 * 0.05 * 0.5 * 0.4))
    rec = res.recycling.set_index("recycler")
    assert rec.loc["rec_a", "collection_lost"] == pytest.approx(60 * 2.5 * 0.2)
    res.check_consistency()


# ---------------------------------------------------------------------- re-sourcing
def spare_case():
    return {
        "crmsim": 1,
        "name": "spare",
        "warmup_days": 10,
        "horizon_days": 80,
        "simulation": {"switching_delay_days": 3},
        "materials": [{"id": "ore"}],
        "nodes": [
            {"id": "main", "role": "mine", "country": "CHN", "output": "ore", "capacity": 12},
            {"id": "backup", "role": "mine", "country": "AUS", "output": "ore", "capacity": 15},
            {"id": "a", "role": "market", "country": "DEU", "demand": {"mean": 10}},
            {"id": "b", "role": "market", "country": "AUS", "demand": {"mean": 10}},
        ],
        "edges": [
            {"from": "main", "to": "a", "share": 1.0, "lead_time": 2},
            {"from": "backup", "to": "a", "share": 0.0, "lead_time": 2, "qualified": True},
            {"from": "backup", "to": "b", "lead_time": 2},
        ],
        "disruptions": [
            {
                "id": "down",
                "kind": "outage",
                "target": {"node": "main"},
                "start": 10,
                "duration": 40,
            }
        ],
    }


def test_resourcing_stops_at_the_alternatives_spare_capacity():
    # The backup (capacity 15) already makes 10 a day for its own market b: its spare is
    # 5. From the end of the switching delay (day 10 + 3) to the end of the outage it
    # ships exactly 15 a day — 10 to b, 5 of a's re-sourced orders — and b never goes
    # short (re-sourcing above the spare capacity would ration b pro rata).
    res = simulate(scenario_from_dict(spare_case()), seed=0)
    shipped = rows(res, "backup")["shipped"]
    assert shipped.loc[0:12].to_numpy() == pytest.approx(np.full(13, 10.0))
    assert shipped.loc[13:49].to_numpy() == pytest.approx(np.full(37, 15.0))
    assert (rows(res, "b", "input")["received"].loc[0:79] == 10.0).all()
    ms = res.market_summary.set_index("market")
    assert ms.loc["b", "fill_rate"] == 1.0
    assert ms.loc["a", "unmet"] > 0  # a gets 5 a day once main's stock is gone
    res.check_consistency()


def switch_case(alt_switch=None, main_switch=None):
    main = {"from": "main", "to": "city", "share": 1.0, "lead_time": 3}
    alt = {"from": "backup", "to": "city", "share": 0.0, "lead_time": 3, "qualified": True}
    if alt_switch is not None:
        alt["switch_days"] = alt_switch
    if main_switch is not None:
        main["switch_days"] = main_switch
    return scenario_from_dict(
        {
            "crmsim": 1,
            "name": "switch",
            "warmup_days": 10,
            "horizon_days": 60,
            "simulation": {"switching_delay_days": 5},
            "materials": [{"id": "ore"}],
            "nodes": [
                {"id": "main", "role": "mine", "country": "CHN", "output": "ore", "capacity": 12},
                {"id": "backup", "role": "mine", "country": "AUS", "output": "ore", "capacity": 20},
                {"id": "city", "role": "market", "country": "DEU", "demand": {"mean": 10}},
            ],
            "edges": [main, alt],
            "disruptions": [
                {
                    "id": "down",
                    "kind": "outage",
                    "target": {"node": "main"},
                    "start": 10,
                    "duration": 30,
                }
            ],
        }
    )


@pytest.mark.parametrize(
    ("alt_switch", "main_switch", "first"),
    [
        (None, None, 16),  # global default 5 applies to the alternative's edge
        (2, None, 13),  # the alternative's own switch_days decides
        (None, 2, 16),  # switch_days on the failed supplier's edge is not the one
        (0, None, 11),  # no delay: the day after the failure
    ],
)
def test_resourcing_starts_on_the_exact_day_set_by_the_alternatives_switch_days(
    alt_switch, main_switch, first
):
    # The main mine is down from day 10; orders go to the backup from day 10 + delay. The
    # backup (no planned flow, so no stock) makes them the next morning and ships that
    # day: first shipment on day 10 + delay + 1.
    res = simulate(switch_case(alt_switch, main_switch), seed=0)
    shipped = rows(res, "backup")["shipped"]
    assert shipped.loc[: first - 1].sum() == 0
    assert shipped.loc[first] == pytest.approx(10.0)
    assert shipped.loc[first:39].min() > 0


# ------------------------------------------------------------------- logistics delay
def test_goods_in_transit_arrive_on_day_ceil_factor_times_remaining():
    # Lead time 10, factor 1.5 from day 30. Goods due in k = 1..9 days arrive in
    # ceil(1.5 k) days: on days 32, 33, 35, 36, 38, 39, 41, 42, 44; days 31, 34, 37,
    # 40 and 43 receive nothing; new shipments take round(1.5 × 10) = 15 days (day 45 on).
    delay = {
        "id": "canal",
        "kind": "logistics",
        "target": {"node": "mine"},
        "start": 30,
        "duration": 30,
        "factor": 1.5,
    }
    res = simulate(chain(10, [delay]), seed=0)
    got = rows(res, "city", "input")["received"]
    expected = dict.fromkeys(range(30, 45), 0.0)
    for k in range(1, 10):
        expected[30 + math.ceil(1.5 * k)] = 10.0
    expected[30] = 10.0  # due today: arrives today
    assert {d: got.loc[d] for d in range(30, 45)} == pytest.approx(expected)
    assert got.loc[45] == pytest.approx(10.0)  # shipped on day 30, 15 days
    # Nothing is lost: every unit shipped arrives (or is still due in the calendar).
    res.check_consistency()
    res.check_conservation()


def test_overlapping_logistics_factors_do_not_overflow():
    # Validation bounds each factor at 1000; two overlapping ones compound to 1e6, so a
    # delayed lead time is far beyond the run and must be capped, not overflowed.
    delays = [
        {
            "id": f"jam{i}",
            "kind": "logistics",
            "target": {"node": "mine"},
            "start": 5,
            "duration": 20,
            "factor": 1000,
        }
        for i in range(2)
    ]
    res = simulate(chain(10, delays), seed=0)
    # Everything in transit and shipped during the jam lands after the run.
    got = rows(res, "city", "input")["received"]
    assert got.loc[6:99].sum() == 0
    res.check_consistency()


def test_a_lead_time_beyond_the_run_is_capped_not_overflowed():
    # 36 500 days is the largest lead time validation accepts; the run is far shorter.
    res = simulate(chain(36_500), seed=0)
    # The steady-state pipeline (planned flow × lead time capped at the run length) keeps
    # arriving for the whole run, as it did before the cap.
    assert res.summary["fill_rate"] == 1.0
    res.check_consistency()
    assert lead_days(np.array([np.inf, 1e19, -5.0]), 120).tolist() == [120, 120, 1]
    with pytest.raises(ValueError, match="not a number"):
        lead_days(np.array([np.nan]), 120)


# ------------------------------------------------------------------ stockpile release
def release_case(rule, severity=None):
    dis = [
        {"id": "down", "kind": "outage", "target": {"node": "mine"}, "start": 20, "duration": 80}
    ]
    if severity is not None:
        dis.append(
            {
                "id": "ban",
                "kind": "export_restriction",
                "target": {"country": "CHN"},
                "start": 0,
                "duration": 150,
                "severity": severity,
            }
        )
    return scenario_from_dict(
        {
            "crmsim": 1,
            "name": "release",
            "warmup_days": 20,
            "horizon_days": 150,
            "materials": [{"id": "ore"}],
            "nodes": [
                {"id": "mine", "role": "mine", "country": "AUS", "output": "ore", "capacity": 12},
                {"id": "city", "role": "market", "country": "DEU", "demand": {"mean": 10}},
                {
                    "id": "reserve",
                    "role": "stockpile",
                    "country": "CHN",
                    "output": "ore",
                    "stock_days": 10,
                    "release": {"to": "city", **rule},
                },
            ],
            "edges": [
                {"from": "mine", "to": "city", "share": 1.0, "lead_time": 5},
                {"from": "reserve", "to": "city", "share": 0.0, "lead_time": 1},
                {"from": "mine", "to": "reserve", "share": 1.0, "lead_time": 5},
            ],
            "disruptions": dis,
        }
    )


@pytest.mark.parametrize(
    ("severity", "per_day", "days"),
    [(None, 10.0, 10), (0.5, 5.0, 20), (0.75, 2.5, 40), (1.0, 0.0, 0)],
)
def test_a_stockpile_release_respects_an_export_restriction(severity, per_day, days):
    # A stockpile in China holds 10 days (100 units) for a German market; it releases one
    # day's need (10) from day 37 (see test_engine_levers). An export restriction of
    # severity s caps its daily release at (1 − s) × the buyer's need; the rest stays in
    # the stockpile, which releases for longer; a full ban releases nothing.
    res = simulate(release_case({"below_days_of_cover": 1.0}, severity), seed=0)
    released = rows(res, "reserve")["released"]
    out = released[released > 0]
    assert list(out.index) == list(range(37, 37 + days))
    assert out.to_numpy() == pytest.approx(np.full(days, per_day))
    res.check_consistency()


def fill_rule_case(threshold):
    # A mine without stock loses 10 % of its capacity (10 → 9 a day) for 100 days; once the
    # market's stock is gone it serves exactly 9 of 10 every day (performance 0.9).
    return scenario_from_dict(
        {
            "crmsim": 1,
            "name": "release rule",
            "warmup_days": 20,
            "horizon_days": 150,
            "materials": [{"id": "ore"}],
            "nodes": [
                {
                    "id": "mine",
                    "role": "mine",
                    "country": "AUS",
                    "output": "ore",
                    "capacity": 10,
                    "stock_days": 0,
                },
                {
                    "id": "city",
                    "role": "market",
                    "country": "DEU",
                    "demand": {"mean": 10},
                    "stock_days": 2,
                },
                {
                    "id": "reserve",
                    "role": "stockpile",
                    "country": "DEU",
                    "output": "ore",
                    "stock_days": 30,
                    "release": {"to": "city", "below_fill_rate": threshold},
                },
            ],
            "edges": [
                {"from": "mine", "to": "city", "share": 1.0, "lead_time": 3},
                {"from": "reserve", "to": "city", "share": 0.0, "lead_time": 1},
                {"from": "mine", "to": "reserve", "share": 1.0, "lead_time": 3},
            ],
            "disruptions": [
                {
                    "id": "slow",
                    "kind": "outage",
                    "target": {"node": "mine"},
                    "start": 10,
                    "duration": 100,
                    "severity": 0.1,
                }
            ],
        }
    )


@pytest.mark.parametrize(("threshold", "short_days"), [(0.95, 4), (0.905, 7)])
def test_the_fill_rate_release_rule_reads_the_last_seven_completed_days(threshold, short_days):
    # On day d the rule averages performance over days d−7 … d−1. With k short days (0.9)
    # in that window the mean is (7 − 0.1 k)/7: below 0.95 from k = 4, below 0.905 only
    # when all 7 are short. (Counting the unwritten day d as 100 % would make the mean
    # at most (6·0.9 + 1)/7 = 0.914, and the 0.905 rule would never release.)
    res = simulate(fill_rule_case(threshold), seed=0)
    p = res.performance
    first_short = int(np.flatnonzero(p < 1)[0])
    assert p[first_short : first_short + short_days] == pytest.approx(np.full(short_days, 0.9))
    released = rows(res, "reserve")["released"]
    assert int(released[released > 0].index[0]) == first_short + short_days


# --------------------------------------------------------------- disruption factors
def test_overlapping_demand_shocks_multiply_and_are_undone_exactly():
    shocks = [
        {
            "id": "a",
            "kind": "demand_shock",
            "target": {"node": "city"},
            "start": 10,
            "duration": 4,
            "factor": 1.5,
        },
        {
            "id": "b",
            "kind": "demand_shock",
            "target": {"node": "city"},
            "start": 12,
            "duration": 4,
            "factor": 3.0,
        },
    ]
    res = simulate(chain(5, shocks), seed=0)
    demand = res.market_daily.set_index("day")["demand"]
    assert list(demand.loc[9:17]) == [10, 15, 15, 45, 45, 30, 30, 10, 10]


def test_many_overlapping_demand_shocks_are_capped_and_reported():
    shocks = [
        {
            "id": f"s{i:02d}",
            "kind": "demand_shock",
            "target": {"node": "city"},
            "start": 10,
            "duration": 5,
            "factor": 2.0,
        }
        for i in range(50)
    ]
    eng = Engine(chain(5, shocks), seed=0).run()
    from crmsim.engine.core import MAX_DEMAND_FACTOR

    assert eng.rec_demand[eng.W + 10 : eng.W + 15, 0] == pytest.approx(
        np.full(5, 10 * MAX_DEMAND_FACTOR)
    )
    assert any("capped" in note for note in eng.stats["capped"])
    assert eng.rec_demand[eng.W + 15, 0] == 10.0  # back to exactly 1 afterwards


def test_factors_are_back_to_exactly_one_after_extreme_overlapping_events():
    evs = []
    for i, sev in enumerate([0.999, 0.5, 0.999999, 0.3]):
        evs.append(
            {
                "id": f"x{i}",
                "kind": "export_restriction",
                "target": {"node": "mine"},
                "start": 3 + i,
                "duration": 10 + 3 * i,
                "severity": sev,
            }
        )
        evs.append(
            {
                "id": f"l{i}",
                "kind": "logistics",
                "target": {"node": "mine"},
                "start": 2 + i,
                "duration": 7 + 5 * i,
                "factor": 10.0 ** (i - 1),
            }
        )
    eng = Engine(chain(5, evs), seed=0).run()
    assert (eng._block == 0.0).all()  # recomputed from the events in force: no drift
    assert (eng.lead_factor == 1.0).all()
    assert not eng._logistics_active
    assert not eng._any_block


# --------------------------------------------------------------------- distributions
@pytest.mark.parametrize("cv", [0.3, 0.5, 0.9])
def test_normal_demand_has_the_mean_and_cv_the_user_wrote(cv):
    from crmsim.engine.core import _draw_demand
    from crmsim.scenario.schema import Demand

    n = 200_000
    x = _draw_demand(Demand(mean=10, cv=cv), np.random.default_rng(5), n)
    assert x.min() >= 0
    se = cv * 10 / math.sqrt(n)
    assert abs(x.mean() - 10) < 4 * se
    assert x.std() == pytest.approx(cv * 10, rel=0.02)


def test_normal_demand_with_a_cv_no_truncated_normal_has_is_refused():
    data = {
        "crmsim": 1,
        "name": "cv",
        "materials": [{"id": "ore"}],
        "nodes": [
            {"id": "mine", "role": "mine", "country": "AUS", "output": "ore", "capacity": 12},
            {"id": "city", "role": "market", "country": "DEU", "demand": {"mean": 10, "cv": 1.0}},
        ],
        "edges": [{"from": "mine", "to": "city"}],
    }
    with pytest.raises(ScenarioError, match=r"nodes\[1\]\.demand.*gamma"):
        scenario_from_dict(data)
    data["nodes"][1]["demand"]["distribution"] = "gamma"
    scenario_from_dict(data)  # fine as gamma


def test_dist_normal_mean_is_what_sample_produces():
    d = Dist.model_validate({"normal": {"mean": 2.0, "sd": 4.0}})
    x = d.sample(np.random.default_rng(3), 200_000)
    assert x.min() >= 0
    sd = float(truncated_normal(2.0, 4.0).std())
    assert abs(x.mean() - d.mean) < 4 * sd / math.sqrt(len(x))
    assert d.mean > 2.0  # the truncated mean, above the parameter
    loc, scale = normal_for_moments(10.0, 0.9)
    assert float(truncated_normal(loc, scale).mean()) == pytest.approx(10.0, rel=1e-9)


def test_a_lead_time_draw_that_is_not_a_number_is_a_located_error(monkeypatch):
    s = chain({"uniform": {"low": 2, "high": 4}})
    monkeypatch.setattr(Dist, "sample", lambda self, rng, size=None: np.full(size, np.nan))
    with pytest.raises(ScenarioError, match=r"edge mine -> city \(ore\).*not a number"):
        Engine(s, seed=0)


# --------------------------------------------------------------------------- stock loss
def test_stock_loss_destroys_input_and_output_stock_into_the_ledger():
    # A flood at the market on day 30 destroys half of its input stock (7 days × 10 = 70
    # at the start of the day, before arrivals), and one at the mine half of its output
    # stock; both are booked as destroyed, so the balance still closes.
    flood = {"kind": "outage", "start": 30, "duration": 1, "severity": 0.0, "stock_loss": 0.5}
    res = simulate(chain(10, [{**flood, "id": "flood", "target": {"node": "city"}}]), seed=0)
    assert res.ledger.loc["ore", "destroyed"] == 35.0
    assert rows(res, "city", "input").loc[30, "on_hand"] == 35.0  # 70 − 35 + 10 − 10
    res.check_consistency()
    mine_stock = rows(simulate(chain(10), seed=0), "mine").loc[29, "on_hand"]
    res = simulate(chain(10, [{**flood, "id": "fire", "target": {"node": "mine"}}]), seed=0)
    assert res.ledger.loc["ore", "destroyed"] == 0.5 * mine_stock
    assert mine_stock > 0
    res.check_consistency()


def plant_release_case(threshold, outage=True):
    """A stockpile of ore beside a smelter (not a market): its rule reads the smelter."""
    return scenario_from_dict(
        {
            "crmsim": 1,
            "name": "release to a plant",
            "warmup_days": 20,
            "horizon_days": 120,
            "materials": [{"id": "ore"}, {"id": "metal"}],
            "nodes": [
                {"id": "mine", "role": "mine", "country": "AUS", "output": "ore", "capacity": 12},
                {
                    "id": "smelter",
                    "role": "processor",
                    "country": "DEU",
                    "output": "metal",
                    "capacity": 12,
                    "recipe": {"ore": 1.0},
                },
                {"id": "city", "role": "market", "country": "DEU", "demand": {"mean": 10}},
                {
                    "id": "reserve",
                    "role": "stockpile",
                    "country": "DEU",
                    "output": "ore",
                    "stock_days": 30,
                    "release": {"to": "smelter", "below_fill_rate": threshold},
                },
            ],
            "edges": [
                {"from": "mine", "to": "smelter", "share": 1.0, "lead_time": 5},
                {"from": "smelter", "to": "city", "lead_time": 2},
                {"from": "reserve", "to": "smelter", "share": 0.0, "lead_time": 1},
                {"from": "mine", "to": "reserve", "share": 1.0, "lead_time": 5},
            ],
            "disruptions": [
                {"id": "down", "kind": "outage", "target": {"node": "mine"}, "start": 20,
                 "duration": 60}
            ]
            if outage
            else [],
        }
    )


@pytest.mark.parametrize(("threshold", "short_days"), [(0.9, 1), (0.8, 2), (0.15, 6)])
def test_a_release_to_a_plant_fires_when_its_last_seven_days_of_input_fall_short(
    threshold, short_days
):
    # The smelter's input performance on a day is what its ore stock allows of what it
    # wants to make (10 a day). Its stock runs out on day F (it makes nothing that day:
    # performance 0). The rule on day d holds when the mean over d − 7 … d − 1 is below
    # the threshold: after k days at 0 the mean is (7 − k) / 7, so the first release is on
    # day F + k, k the smallest with (7 − k) / 7 < threshold (1, 2 and 6 days here).
    res = simulate(plant_release_case(threshold), seed=0)
    made = rows(res, "smelter")["produced"]
    first_short = int(made[(made.index >= 20) & (made < 1e-9)].index[0])
    assert made.loc[first_short - 7 : first_short - 1].to_numpy() == pytest.approx(
        np.full(7, 10.0)
    )
    released = rows(res, "reserve")["released"]
    assert int(released[released > 0].index[0]) == first_short + short_days
    assert released.loc[: first_short + short_days - 1].sum() == 0
    res.check_consistency()


def test_a_release_to_a_plant_never_fires_without_a_shortfall():
    # Receipts can stop because the plant orders nothing (it is overstocked after the
    # start, or after a release): only a shortfall of what it wants to make counts.
    res = simulate(plant_release_case(0.99, outage=False), seed=0)
    assert rows(res, "reserve")["released"].sum() == 0
    assert res.summary["fill_rate"] == 1.0


def _stockpile_options():
    from crmsim import load_scenario

    out = []
    for path in sorted((Path(__file__).resolve().parents[1] / "scenarios").glob("*.yaml")):
        sc = load_scenario(path)
        for pol in sc.policies:
            if pol.stockpile is not None:
                out.append(pytest.param(path, pol.id, id=f"{path.stem}:{pol.id}"))
    return out


@pytest.mark.parametrize(("path", "policy"), _stockpile_options())
def test_a_shipped_stockpile_option_releases_nothing_in_an_undisrupted_run(path, policy):
    from crmsim import load_scenario
    from crmsim.policy import apply_policies

    app = apply_policies(load_scenario(path).model_copy(update={"disruptions": ()}), [policy])
    res = simulate(app.scenario, seed=7, record="daily")
    assert res.summary["fill_rate"] == 1.0
    assert res.daily["released"].sum() == 0.0


def test_an_unlimited_node_that_is_down_has_no_capacity_not_nan():
    # A stockpile without a release capacity is unlimited: capacity inf × availability 0
    # would be NaN (and a warning). The record says 0; every output row has a capacity.
    data = release_case({"below_days_of_cover": 1.0}).model_dump(
        mode="json", by_alias=True, exclude_none=True
    )
    data["disruptions"].append(
        {"id": "store_down", "kind": "outage", "target": {"node": "reserve"}, "start": 30,
         "duration": 20}
    )
    res = simulate(scenario_from_dict(data), seed=0)
    cap = rows(res, "reserve")["capacity_available"]
    assert cap.loc[30:49].to_numpy().tolist() == [0.0] * 20
    assert np.isinf(cap.loc[:29]).all()
    outputs = res.daily[res.daily["stock"] == "output"]
    assert not outputs["capacity_available"].isna().any()
    res.check_consistency()
