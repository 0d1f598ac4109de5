"""The engine against hand calculations and textbook results."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from crmsim.engine import simulate
from crmsim.scenario.loader import scenario_from_dict


def chain(**over):
    """One mine → one market, deterministic unless overridden."""
    mine = {"id": "mine", "role": "mine", "country": "AUS", "output": "ore", "capacity": 12}
    market = {"id": "city", "role": "market", "country": "DEU", "demand": {"mean": 10}}
    mine.update(over.pop("mine", {}))
    market.update(over.pop("market", {}))
    data = {
        "crmsim": 1,
        "name": "chain",
        "warmup_days": 20,
        "horizon_days": 100,
        "materials": [{"id": "ore"}],
        "nodes": [mine, market],
        "edges": [{"from": "mine", "to": "city", "lead_time": over.pop("lead_time", 5)}],
        "disruptions": over.pop("disruptions", []),
    }
    data.update(over)
    return scenario_from_dict(data)


def test_undisrupted_chain_serves_everything():
    res = simulate(chain(), seed=3)
    assert res.summary["fill_rate"] == 1.0
    assert res.summary["unmet"] == 0.0
    assert res.summary["resilience_loss"] == 0.0
    res.check_conservation()


def test_undisrupted_chain_with_random_lead_times_and_variable_demand_is_served():
    # Ample cover (30 days) and capacity: demand cv 0.1 and lead times 4–6 days never bite.
    s = chain(
        lead_time={"uniform": {"low": 4, "high": 6}},
        mine={"capacity": 20, "stock_days": 30},
        market={"demand": {"mean": 10, "cv": 0.1}, "stock_days": 30},
    )
    res = simulate(s, seed=11)
    assert res.summary["fill_rate"] == 1.0
    res.check_conservation()


@pytest.mark.parametrize(
    ("duration", "mine_days", "market_days", "lead"),
    [
        (30, 7, 7, 5),
        (40, 3, 10, 8),
        (25, 1, 2, 1),
    ],
)
def test_full_outage_longer_than_cover_loses_exactly_the_uncovered_days(
    duration, mine_days, market_days, lead
):
    # Hand calculation. In steady state the mine holds `mine_days` of output after
    # production, ships one day's worth the same day, so it enters the outage with
    # (mine_days − 1) days of stock; the pipeline holds `lead` days and keeps arriving;
    # the market holds `market_days`. Shipments stop after (mine_days − 1) days, the last
    # arrives `lead` days later, the market then serves `market_days` more days. After
    # the outage the first production arrives `lead` days later. Unmet days:
    #   (start + D + lead) − (start + (mine_days − 1) + lead + market_days)
    #   = D − (mine_days − 1) − market_days.
    mu, start = 10.0, 20
    s = chain(
        lead_time=lead,
        mine={"stock_days": mine_days},
        market={"stock_days": market_days},
        disruptions=[
            {
                "id": "flood",
                "kind": "outage",
                "target": {"node": "mine"},
                "start": start,
                "duration": duration,
            }
        ],
    )
    res = simulate(s, seed=0)
    expected_days = duration - (mine_days - 1) - market_days
    assert expected_days > 0
    assert res.summary["unmet"] == pytest.approx(mu * expected_days, abs=1e-9)
    p = res.performance
    lost_days = np.flatnonzero(p < 1)
    first = start + (mine_days - 1) + lead + market_days
    assert list(lost_days) == list(range(first, first + expected_days))
    # TTR counts from the start of the outage to the first of 7 good days.
    row = res.disruptions.iloc[0]
    assert row["ttr"] == first + expected_days - start
    assert not row["censored"]
    res.check_conservation()


def test_partial_outage_within_spare_capacity_loses_nothing():
    # Severity 0.1 leaves 10.8 units/day > demand 10: no loss at all.
    s = chain(
        disruptions=[
            {
                "id": "slow",
                "kind": "outage",
                "target": {"node": "mine"},
                "start": 10,
                "duration": 60,
                "severity": 0.1,
            }
        ]
    )
    res = simulate(s, seed=0)
    assert res.summary["fill_rate"] == 1.0


def test_recovery_ramp_restores_capacity_linearly():
    s = chain(
        disruptions=[
            {
                "id": "quake",
                "kind": "outage",
                "target": {"node": "mine"},
                "start": 10,
                "duration": 5,
                "severity": 1.0,
                "recovery_days": 4,
            }
        ]
    )
    res = simulate(s, seed=0)
    d = res.daily
    cap = d[(d["node"] == "mine") & (d["stock"] == "output")].set_index("day")["capacity_available"]
    assert list(cap.loc[9:20]) == pytest.approx([12, 0, 0, 0, 0, 0, 3, 6, 9, 12, 12, 12])


def test_export_restriction_blocks_only_cross_border_flows():
    data = {
        "crmsim": 1,
        "name": "exports",
        "warmup_days": 10,
        "horizon_days": 60,
        "materials": [{"id": "ore"}],
        "nodes": [
            {"id": "mine", "role": "mine", "country": "CHN", "output": "ore", "capacity": 50},
            {"id": "home", "role": "market", "country": "CHN", "demand": {"mean": 10}},
            {"id": "away", "role": "market", "country": "DEU", "demand": {"mean": 10}},
        ],
        "edges": [
            {"from": "mine", "to": "home", "lead_time": 2},
            {"from": "mine", "to": "away", "lead_time": 2},
        ],
        "disruptions": [
            {
                "id": "ban",
                "kind": "export_restriction",
                "target": {"country": "CHN"},
                "start": 5,
                "duration": 40,
            }
        ],
    }
    res = simulate(scenario_from_dict(data), seed=0)
    ms = res.market_summary.set_index("market")
    assert ms.loc["home", "fill_rate"] == 1.0
    # `away` is cut off for 40 days but holds 7 days and 2 in transit: 31 days lost.
    assert ms.loc["away", "unmet"] == pytest.approx(10 * (40 - 7 - 2 + 2), abs=1e-9)
    res.check_conservation()


def test_logistics_delay_slows_goods_already_in_transit():
    s = chain(
        lead_time=10,
        market={"stock_days": 0},
        disruptions=[
            {
                "id": "canal",
                "kind": "logistics",
                "target": {"node": "mine"},
                "start": 30,
                "duration": 20,
                "factor": 2.0,
            }
        ],
    )
    res = simulate(s, seed=0)
    d = res.daily
    recv = d[(d["node"] == "city") & (d["stock"] == "input")].set_index("day")["received"]
    # Before the delay goods arrive daily; right after it starts, what was due in k days
    # arrives in 2k days, so for a while (every other day) nothing arrives.
    assert (recv.loc[20:30] > 0).all()
    assert (recv.loc[31:40] == 0).any()
    assert res.summary["unmet"] > 0
    res.check_conservation()


def test_demand_shock_multiplies_demand():
    s = chain(
        disruptions=[
            {
                "id": "panic",
                "kind": "demand_shock",
                "target": {"node": "city"},
                "start": 10,
                "duration": 5,
                "factor": 1.5,
            }
        ]
    )
    res = simulate(s, seed=0)
    md = res.market_daily.set_index("day")
    assert list(md.loc[8:16, "demand"]) == [10, 10, 15, 15, 15, 15, 15, 10, 10]


def test_resourcing_moves_orders_to_a_qualified_alternative_after_the_switching_delay():
    data = {
        "crmsim": 1,
        "name": "resourcing",
        "warmup_days": 10,
        "horizon_days": 120,
        "simulation": {"switching_delay_days": 5},
        "materials": [{"id": "ore"}],
        "nodes": [
            {"id": "main", "role": "mine", "country": "CHN", "output": "ore", "capacity": 12},
            {"id": "backup", "role": "mine", "country": "AUS", "output": "ore", "capacity": 20},
            {"id": "city", "role": "market", "country": "DEU", "demand": {"mean": 10}},
        ],
        "edges": [
            {"from": "main", "to": "city", "share": 1.0, "lead_time": 3},
            {"from": "backup", "to": "city", "share": 0.0, "lead_time": 3, "qualified": True},
        ],
        "disruptions": [
            {
                "id": "down",
                "kind": "outage",
                "target": {"node": "main"},
                "start": 10,
                "duration": 60,
            }
        ],
    }
    res = simulate(scenario_from_dict(data), seed=0)
    d = res.daily
    shipped = d[(d["stock"] == "output")].pivot(index="day", columns="node", values="shipped")
    assert shipped.loc[0:14, "backup"].sum() == 0  # not yet: switching delay
    assert shipped.loc[15:69, "backup"].sum() > 0  # diverted
    assert shipped.loc[90:119, "backup"].sum() == 0  # moved back after recovery
    assert shipped.loc[90:119, "main"].sum() > 0
    # The backup (spare 20/day, 7 days of stock) covers the whole outage.
    assert res.summary["fill_rate"] == 1.0
    res.check_conservation()


def test_stationary_base_stock_matches_the_textbook_fill_rate():
    # Periodic review every day, lead time L, back-orders, normal demand N(mu, sigma),
    # order-up-to S = mu·(stock_days + L). An order placed on day t arrives before demand
    # on day t+L, so the protection period is L days; the demand of a day not met from
    # stock is E[(D_L − S)+] − E[(D_{L−1} − S)+] (Silver, Pyke & Peterson, ch. 7), hence
    # fill rate = 1 − (E[(D_L − S)+] − E[(D_{L−1} − S)+]) / mu.
    mu, cv, lead, cover = 100.0, 0.3, 4, 0.5
    sigma = cv * mu
    S = mu * (cover + lead)

    def loss(k: int) -> float:
        sd = sigma * math.sqrt(k)
        z = (S - k * mu) / sd
        return sd * (stats.norm.pdf(z) - z * stats.norm.sf(z))

    expected = 1 - (loss(lead) - loss(lead - 1)) / mu
    s = chain(
        lead_time=lead,
        horizon_days=4000,
        warmup_days=50,
        mine={"capacity": 1e6, "stock_days": 50},
        market={"stock_days": cover, "demand": {"mean": mu, "cv": cv, "backorders": True}},
    )
    fills = [
        simulate(s, seed=2024, replication=r, record="summary").summary["fill_rate"]
        for r in range(5)
    ]
    mean, se = np.mean(fills), np.std(fills, ddof=1) / math.sqrt(len(fills))
    assert abs(mean - expected) < 4 * se + 0.002, (mean, expected, se)


def test_long_run_disrupted_fraction_matches_rate_times_duration():
    # Poisson arrivals at rate lam per day, each lasting d days: the mean number of
    # events in force is lam·d, and the share of days with at least one is 1 − exp(−lam·d).
    rate_per_year, d = 9.0, 10
    lam = rate_per_year / 365
    s = chain(
        horizon_days=36500,
        warmup_days=0,
        disruptions=[
            {
                "id": "breakdowns",
                "kind": "outage",
                "target": {"node": "mine"},
                "random": {"rate_per_year": rate_per_year, "duration": d},
            }
        ],
    )
    res = simulate(s, seed=5, record="daily")
    dis = res.disruptions
    in_force = (np.minimum(dis["end"], 36500) - np.maximum(dis["start"], 0)).sum() / 36500
    assert in_force == pytest.approx(lam * d, rel=0.08)
    daily = res.daily
    cap = daily[(daily["node"] == "mine") & (daily["stock"] == "output")]["capacity_available"]
    down = float((cap.to_numpy() == 0).mean())
    assert down == pytest.approx(1 - math.exp(-lam * d), rel=0.08)
