"""Export restrictions as quotas, against hand calculations.

The hand case: one Chinese mine (capacity 20) supplies one German market (demand 10, lead
time 10 days, 7 days of cover); an export restriction on China for 300 days from the
first scored day. Before quotas, the blocked share of the orders stayed open and was
re-ordered until it trickled through: severities 0.25, 0.5 and 0.9 all gave fill rate 1.
"""

from __future__ import annotations

import numpy as np
import pytest

from crmsim.engine import simulate
from crmsim.scenario.loader import scenario_from_dict

DEMAND, LEAD, DAYS, HORIZON = 10.0, 10, 300, 365


def hand_case(*severities, backup=False, home_market=False, horizon=HORIZON, growth=0.0):
    nodes = [
        {"id": "cn", "role": "mine", "country": "CHN", "output": "ore", "capacity": 20},
        {
            "id": "de",
            "role": "market",
            "country": "DEU",
            "demand": {"mean": DEMAND, "growth_per_year": growth},
        },
    ]
    edges = [{"from": "cn", "to": "de", "share": 1.0, "lead_time": LEAD}]
    if backup:
        nodes.append(
            {"id": "au", "role": "mine", "country": "AUS", "output": "ore", "capacity": 20}
        )
        edges.append({"from": "au", "to": "de", "share": 0.0, "lead_time": 3, "qualified": True})
    if home_market:
        nodes.append({"id": "cn_users", "role": "market", "country": "CHN", "demand": {"mean": 5}})
        edges.append({"from": "cn", "to": "cn_users", "lead_time": 2})
    return scenario_from_dict(
        {
            "crmsim": 1,
            "name": "quota",
            "horizon_days": horizon,
            "materials": [{"id": "ore"}],
            "nodes": nodes,
            "edges": edges,
            "disruptions": [
                {
                    "id": f"lic{i}",
                    "kind": "export_restriction",
                    "target": {"country": "CHN"},
                    "start": 0,
                    "duration": DAYS,
                    "severity": s,
                }
                for i, s in enumerate(severities)
            ],
        }
    )


def market_stock_after_serving() -> float:
    """What the market holds at the end of an undisrupted day (its cover less a day)."""
    res = simulate(hand_case(), seed=1)
    return float(res.daily.query("node == 'de' and stock == 'input'")["on_hand"].iloc[-1])


@pytest.mark.parametrize("severity", [0.25, 0.5, 0.9, 1.0])
def test_a_quota_lets_through_exactly_one_minus_severity_of_the_planned_flow(severity):
    # Shipments on days 0..299 are capped at (1 − s) × 10 a day and arrive on days
    # 10..309; the 10 days of goods already in transit arrive in full. The market's
    # shortfall, s × 10 a day over 300 days, is first covered by its stock on hand
    # (70 units, 7 days), so unmet = 300 · 10 · s − 70 exactly.
    stock = market_stock_after_serving()
    assert stock == pytest.approx(70.0)
    res = simulate(hand_case(severity), seed=1)
    got = res.daily.query("node == 'de' and stock == 'input'").set_index("day")["received"]
    assert got.loc[0 : LEAD - 1].to_numpy() == pytest.approx(np.full(LEAD, DEMAND))
    quota = (1 - severity) * DEMAND
    assert got.loc[LEAD : LEAD + DAYS - 1].to_numpy() == pytest.approx(np.full(DAYS, quota))
    unmet = DAYS * DEMAND * severity - stock
    assert res.summary["unmet"] == pytest.approx(unmet, abs=1e-9)
    # Over the days the restriction reaches (10..309) the market is served (1 − s) of its
    # need plus what it held: the fill rate there is at most 1 − s + stock / need.
    served = res.market_daily.set_index("day")["served"].loc[LEAD : LEAD + DAYS - 1].sum()
    assert served == pytest.approx(DAYS * quota + stock)
    assert served / (DAYS * DEMAND) <= 1 - severity + stock / (DAYS * DEMAND) + 1e-12
    res.check_consistency()


def test_a_half_quota_halves_supply_and_the_fill_rate_falls_with_severity():
    fills = [simulate(hand_case(s), seed=1).summary["fill_rate"] for s in (0.0, 0.25, 0.5, 0.9)]
    # 1 − (3000 s − 70) / 3650 for s > 0.
    assert fills == pytest.approx([1.0, 1 - 680 / 3650, 1 - 1430 / 3650, 1 - 2630 / 3650])
    assert fills[0] > fills[1] > fills[2] > fills[3]


def test_the_quota_grows_with_the_planned_flow_when_demand_grows():
    # Demand doubles per year (m(t) = 2^(t/365)); the quota of shipping day t is
    # (1 − s) × 10 × m(t) and arrives on day t + 10. The buyer orders more than that
    # (its share of the flow is short), so the quota binds every day.
    severity, growth = 0.5, 1.0
    res = simulate(hand_case(severity, growth=growth), seed=1)
    got = res.daily.query("node == 'de' and stock == 'input'").set_index("day")["received"]
    t = np.arange(0, DAYS - LEAD)
    quota = (1 - severity) * DEMAND * (1 + growth) ** (t / 365)
    assert got.loc[LEAD : DAYS - 1].to_numpy() == pytest.approx(quota, rel=1e-12)
    # Day-0 quota all year would be 5 a day: by day 299 the quota is 8.8 a day.
    assert got.loc[DAYS - 1] == pytest.approx(5 * 2 ** (289 / 365))
    res.check_consistency()


def test_blocked_orders_are_cancelled_not_queued():
    res = simulate(hand_case(0.5), seed=1)
    eng = res._engine
    e = eng.layout.edge_index[("cn", "de", "ore")]
    # The buyer keeps re-ordering up to its target; all beyond the quota is cancelled.
    assert eng.edge_cancelled[e] > DAYS * 5
    # Once the restriction ends the open orders follow demand again (nothing piled up).
    assert eng.backlog[e] < 2 * DEMAND


def test_overlapping_restrictions_combine_as_one_minus_the_product():
    # 1 − (1 − 0.5)(1 − 0.5) = 0.75: a quota of 2.5 a day.
    res = simulate(hand_case(0.5, 0.5), seed=1)
    assert res.summary["unmet"] == pytest.approx(DAYS * DEMAND * 0.75 - 70, abs=1e-9)


def test_the_suppliers_stock_stays_available_to_its_domestic_buyers():
    res = simulate(hand_case(0.9, home_market=True), seed=1)
    ms = res.market_summary.set_index("market")
    assert ms.loc["cn_users", "fill_rate"] == 1.0
    assert ms.loc["de", "unmet"] > 0
    # What cannot be exported stays at the mine: it never runs down while restricted.
    out = res.daily.query("node == 'cn' and stock == 'output'").set_index("day")["on_hand"]
    assert out.loc[-1] == pytest.approx(7 * 15 - 15)  # its cover, less a day's shipments
    assert out.loc[0 : DAYS - 1].min() >= out.loc[-1]
    res.check_consistency()


def test_the_blocked_part_is_resourced_after_the_switching_delay():
    # A qualified Australian alternative (lead 3): from day 7 the blocked half of the
    # orders goes to it. The shortfall of 5 a day lasts from day 10 (the last goods in
    # transit) until the alternative's first goods arrive on day 7 + 1 + 3 = 11: the
    # market's stock covers it and nothing is lost.
    res = simulate(hand_case(0.5, backup=True), seed=1)
    assert res.summary["fill_rate"] == 1.0
    shipped = res.daily.query("node == 'au' and stock == 'output'").set_index("day")["shipped"]
    assert shipped.loc[:7].sum() == 0
    assert shipped.loc[8 : DAYS - 1].sum() == pytest.approx(5 * (DAYS - 8), rel=0.05)
    res.check_consistency()


@pytest.mark.parametrize("levers", [False, True], ids=["static", "with-a-lever"])
def test_the_switching_delay_starts_again_with_each_new_impairment(levers):
    # Two restrictions of China (days 0–49 and 150–249), a qualified Australian backup.
    # Each time, the blocked half goes to Australia only once the edge has been impaired
    # for the switching delay again: no shipments on days 150–157, then the blocked half. (An
    # impairment clock that kept running from day 0 would divert from day 150.)
    data = hand_case(0.5, backup=True).model_dump(mode="json", by_alias=True, exclude_none=True)
    data["disruptions"] = [
        {"id": f"lic{i}", "kind": "export_restriction", "target": {"country": "CHN"},
         "start": start, "duration": 50, "severity": 0.5}
        for i, start in enumerate((0, 150))
    ]
    if levers:  # an entrant that never enters: the engine's path for dynamic supply
        data["nodes"].append({"id": "newco", "role": "mine", "country": "FRA", "output": "ore",
                              "capacity": 1, "size": "small", "entry": {"day": 10_000}})
        data["edges"].append({"from": "newco", "to": "de", "share": 0.0, "lead_time": 1})
    res = simulate(scenario_from_dict(data), seed=1)
    shipped = res.daily.query("node == 'au' and stock == 'output'").set_index("day")["shipped"]
    for start in (0, 150):
        window = shipped.loc[start : start + 49]
        assert int(window[window > 0].index[0]) == start + 8
        assert window.loc[start + 20 :].to_numpy() == pytest.approx(np.full(30, 5.0), rel=1e-2)
    assert shipped.loc[60:149].sum() == 0
    res.check_consistency()
