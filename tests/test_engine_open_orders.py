"""Inputs for open orders: a producer buys inputs only for the open orders it can make.

The rule (docs/engine.md, step 5): a producer with capacity today adds to its input target
the inputs for its open orders beyond its output stock, ``max(0, open orders − output
stock)``; a halted plant (no capacity today) adds none. A halted plant buys no inputs for
the orders piling up at it; an alternative supplier still buys the inputs for the orders
re-sourced to it. Every figure below is worked out by hand.
"""

from __future__ import annotations

import numpy as np
import pytest

from crmsim.engine import simulate
from crmsim.scenario.loader import scenario_from_dict


def rows(res, node, stock):
    d = res.daily
    return d[(d["node"] == node) & (d["stock"] == stock)].set_index("day")


def plant(severity=1.0, backup=False):
    """mine (100/day) → ref (cap 12, 2 ore per metal, 5 days of ore) → city (10/day).

    Planned: ref makes 10 metal a day from 20 ore; its ore target position is
    20 × (5 days of stock + 4 days lead) = 180 (its output stock covers this morning's open
    orders, so they add nothing), of which 80 are in transit and 100 on hand. ``ref`` is
    down from day 10 for 150 days.
    """
    nodes = [
        {"id": "mine", "role": "mine", "country": "AUS", "output": "ore", "capacity": 100},
        {
            "id": "ref",
            "role": "processor",
            "country": "CHN",
            "output": "metal",
            "capacity": 12,
            "recipe": {"ore": 2.0},
            "stock_days": 5,
        },
        {"id": "city", "role": "market", "country": "DEU", "demand": {"mean": 10}},
    ]
    edges = [
        {"from": "mine", "to": "ref", "lead_time": 4},
        {"from": "ref", "to": "city", "share": 1.0, "lead_time": 3},
    ]
    if backup:
        nodes.append(
            {
                "id": "backup",
                "role": "processor",
                "country": "MYS",
                "output": "metal",
                "capacity": 15,
                "recipe": {"ore": 2.0},
                "stock_days": 5,
            }
        )
        edges += [
            {"from": "mine", "to": "backup", "lead_time": 4},
            {"from": "backup", "to": "city", "share": 0.0, "lead_time": 3, "qualified": True},
        ]
    return scenario_from_dict(
        {
            "crmsim": 1,
            "name": "halted plant",
            "warmup_days": 20,
            "horizon_days": 250,
            "simulation": {"switching_delay_days": 5},
            "materials": [{"id": "ore"}, {"id": "metal"}],
            "nodes": nodes,
            "edges": edges,
            "disruptions": [
                {
                    "id": "down",
                    "kind": "outage",
                    "target": {"node": "ref"},
                    "start": 10,
                    "duration": 150,
                    "severity": severity,
                }
            ],
        }
    )


def test_a_halted_plant_buys_no_inputs_for_the_orders_piling_up_at_it():
    # Halted from day 10, ref consumes nothing; the 80 in transit arrive on days 10–13 and
    # its ore reaches its position target, 20 × (5 + 4) = 180, and stays there: the mine
    # ships it nothing until the restart (day 160). The city's open orders at ref grow
    # meanwhile; under the first rule (inputs for all open orders) ref kept buying 20 a day
    # on days 11–21 and held 380 ore: 180 + 2 × the city's open orders at ref, which grow
    # to its whole target position, 10 × (7 days of stock + 3 days lead) = 100. (With the
    # capacity bound but not the stock term it held 200: one day's inputs too many.)
    res = simulate(plant(), seed=0)
    ore = rows(res, "ref", "input")["on_hand"]
    assert ore.loc[9] == pytest.approx(100.0)
    assert ore.loc[13:159].to_numpy() == pytest.approx(np.full(147, 180.0))
    mine = rows(res, "mine", "output")["shipped"]
    assert mine.loc[10:159].to_numpy() == pytest.approx(np.zeros(150))
    # It restarts with its stock and buys inputs again for the orders it can make.
    assert mine.loc[160] > 0
    res.check_consistency()


def test_a_plant_at_a_quarter_of_capacity_buys_inputs_for_its_open_orders_beyond_stock():
    # Severity 0.75: ref makes 3 a day (6 ore). The city's open orders at ref grow until
    # its position, 9 in transit (3 days × 3) + its open orders, reaches its target
    # 10 × (7 + 3) = 100: 91 open in the morning. ref still has capacity, so it buys inputs
    # for the open orders beyond the 3 it made today, 91 − 3 = 88: its ore target is
    # 180 + 2 × 88 = 356, and it holds 356 − 24 (6 × 4 in transit) = 332 on hand. (A halted
    # plant, the test above, buys none.)
    res = simulate(plant(severity=0.75), seed=0)
    ore = rows(res, "ref", "input")["on_hand"]
    assert ore.loc[60:159].to_numpy() == pytest.approx(np.full(100, 332.0))
    made = rows(res, "ref", "output")["produced"]
    assert made.loc[15:159].to_numpy() == pytest.approx(np.full(145, 3.0))
    res.check_consistency()


def test_an_alternative_supplier_buys_the_inputs_for_re_sourced_orders():
    # The backup has share 0, so no planned flow and no ore target of its own: without the
    # inputs-for-open-orders term it would never buy ore and never ship. ref fails on day
    # 10; the city's orders move to the backup after the 5-day switching delay (day 15);
    # the backup sees them the next morning (day 16), buys ore (lead 4) and makes its full
    # capacity 15 a day from day 20 (= 15 + 1 + 4), while the halted ref buys nothing. Once
    # the city's back-log at the backup is covered by the ore in transit it buys only for the
    # city's daily orders and makes 10 a day (from day 28, after a one-day gap on day 27:
    # on day 23 the 80 ore in transit covered all its open orders beyond stock).
    res = simulate(plant(backup=True), seed=0)
    made = rows(res, "backup", "output")["produced"]
    assert made.loc[0:19].sum() == 0.0
    assert made.loc[20:25].to_numpy() == pytest.approx(np.full(6, 15.0))
    assert made.loc[28:159].to_numpy() == pytest.approx(np.full(132, 10.0))
    assert made.loc[20:159].sum() > 10 * 140 - 1e-9  # it carries the city through
    ore = rows(res, "ref", "input")["on_hand"]
    assert ore.loc[13:159].to_numpy() == pytest.approx(np.full(147, 180.0))
    assert res.market_summary.set_index("market").loc["city", "fill_rate"] > 0.98
    res.check_consistency()
