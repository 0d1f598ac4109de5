"""The lever plans drawn before a run, checked against hand calculations.

``engine/levers.py`` turns a scenario's lever fields into plans: the lifetime distribution
of end-of-life cohorts (``lifetime_pmf``), resource development draws (``plan_development``),
which markets each recycler collects from (``plan_recycling``) and stockpile release defaults
(``plan_releases``). These tests pin each against a figure worked out by hand, so a slip in a
formula (a sign, a divisor, a default) fails a test and not only a balance check.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from crmsim.engine.layout import build_layout
from crmsim.engine.levers import lifetime_pmf, plan_development, plan_recycling, plan_releases
from crmsim.engine.streams import Streams
from crmsim.network.graph import build_graph
from crmsim.scenario.distributions import Dist
from crmsim.scenario.loader import scenario_from_dict

DAYS = 400


def pmf(dist: dict | float) -> np.ndarray:
    return lifetime_pmf(Dist.model_validate(dist), DAYS)[0]


# ------------------------------------------------------------------ lifetime_pmf
def test_uniform_lifetime_by_hand():
    # F(x) = (x − 2) / 4 on [2, 6]: pmf[k] = F(k + ½) − F(k − ½).
    p = pmf({"uniform": {"low": 2, "high": 6}})
    assert p[:7].tolist() == pytest.approx([0, 0, 0.125, 0.25, 0.25, 0.25, 0.125])
    assert p[7:].sum() == 0


def test_triangular_lifetime_by_hand():
    # low 0, mode 2, high 4: F(x) = x²/8 below the mode, 1 − (4 − x)²/8 above it.
    p = pmf({"triangular": {"low": 0, "mode": 2, "high": 4}})

    def F(x):
        x = min(max(x, 0.0), 4.0)
        return x * x / 8 if x <= 2 else 1 - (4 - x) ** 2 / 8

    hand = [F(k + 0.5) - F(k - 0.5) for k in range(5)]
    assert p[:5].tolist() == pytest.approx(hand)
    # An asymmetric mode: low 1, mode 2, high 5 (the mode's position enters the shape).
    q = pmf({"triangular": {"low": 1, "mode": 2, "high": 5}})

    def G(x):
        x = min(max(x, 1.0), 5.0)
        return (x - 1) ** 2 / 4 if x <= 2 else 1 - (5 - x) ** 2 / 12

    assert q[:6].tolist() == pytest.approx([G(k + 0.5) - G(k - 0.5) for k in range(6)])


def test_exponential_lifetime_by_hand():
    p = pmf({"exponential": {"mean": 10}})
    assert p[0] == pytest.approx(1 - math.exp(-0.05))
    assert p[3] == pytest.approx(math.exp(-0.25) - math.exp(-0.35))


def test_weibull_lifetime_by_hand():
    p = pmf({"weibull": {"shape": 2, "scale": 20}})

    def F(x):
        return 1 - math.exp(-((max(x, 0) / 20) ** 2))

    assert p[:30].tolist() == pytest.approx([F(k + 0.5) - F(k - 0.5) for k in range(30)])


def test_lognormal_lifetime_has_the_given_mean_and_sd():
    p = pmf({"lognormal": {"mean": 40, "sd": 12}})
    k = np.arange(DAYS)
    mean = float((k * p).sum())
    var = float(((k - mean) ** 2 * p).sum())
    assert p.sum() == pytest.approx(1, abs=1e-9)
    # Rounding to whole days adds 1/12 to the variance (Sheppard) and leaves the mean.
    assert mean == pytest.approx(40, abs=0.01)
    assert var == pytest.approx(12**2 + 1 / 12, rel=0.01)


def test_normal_lifetime_has_the_given_mean():
    p = pmf({"normal": {"mean": 50, "sd": 5}})
    k = np.arange(DAYS)
    assert float((k * p).sum()) == pytest.approx(50, abs=0.01)


@pytest.mark.parametrize("value", [3, 2.5, 7.25])
@pytest.mark.parametrize(
    "family",
    [
        lambda v: {"uniform": {"low": v, "high": v}},
        lambda v: {"triangular": {"low": v, "mode": v, "high": v}},
        lambda v: {"lognormal": {"mean": v, "sd": 0}},
        lambda v: {"normal": {"mean": v, "sd": 0}},
    ],
    ids=["uniform", "triangular", "lognormal", "normal"],
)
def test_a_zero_width_lifetime_is_the_fixed_lifetime(family, value):
    # Including a half-day value: 2.5 days ends on day 2 (x ≥ value at x = k + ½).
    assert pmf(family(value)).tolist() == pmf(value).tolist()
    assert int(np.argmax(pmf(value))) == math.floor(value + 0.5 - 1e-12)


# ------------------------------------------------------------------ development
def development_scenario(success: float, cv: float, lead: object = 30) -> object:
    return scenario_from_dict(
        {
            "crmsim": 1,
            "name": "development",
            "warmup_days": 10,
            "horizon_days": 100,
            "materials": [{"id": "ore"}],
            "nodes": [
                {"id": "mine", "role": "mine", "country": "AUS", "output": "ore", "capacity": 12},
                {
                    "id": "newmine",
                    "role": "mine",
                    "country": "TJK",
                    "output": "ore",
                    "capacity": 5,
                    "unfc": "E1 F1.2 G1",
                    "development": {
                        "lead_time": lead,
                        "success_probability": success,
                        "capacity_cv": cv,
                    },
                },
                {"id": "city", "role": "market", "country": "DEU", "demand": {"mean": 10}},
            ],
            "edges": [
                {"from": "mine", "to": "city", "share": 1.0, "lead_time": 5},
                {"from": "newmine", "to": "city", "share": 0.0, "lead_time": 2, "qualified": True},
            ],
        }
    )


def draws(scenario, n: int, seed: int = 3) -> list[tuple[float | None, float]]:
    G = build_graph(scenario)
    lay = build_layout(G, scenario.simulation.switching_delay_days)
    out = []
    for r in range(n):
        ((_, start, factor),) = plan_development(G, lay, Streams(seed, r))
        out.append((start, factor))
    return out


def test_development_starts_after_warmup_plus_lead_and_succeeds_at_the_given_rate():
    got = draws(development_scenario(0.3, 0.0), 2000)
    starts = [s for s, _ in got]
    assert {s for s in starts if s is not None} == {40.0}  # warm-up 10 + lead 30
    share = sum(s is not None for s in starts) / len(starts)
    assert share == pytest.approx(0.3, abs=3 * math.sqrt(0.3 * 0.7 / 2000))
    assert all(f == 1.0 for _, f in got)  # no capacity uncertainty: exactly the capacity


def test_certain_and_impossible_development():
    assert all(s == 40.0 for s, _ in draws(development_scenario(1.0, 0.0), 200))
    assert all(s is None for s, _ in draws(development_scenario(0.0, 0.0), 200))


def test_realised_capacity_factor_has_mean_one_and_the_given_cv():
    cv = 0.5
    f = np.array([f for _, f in draws(development_scenario(1.0, cv), 4000)])
    assert (f > 0).all()
    assert f.mean() == pytest.approx(1.0, abs=4 * cv / math.sqrt(4000))
    assert f.std() / f.mean() == pytest.approx(cv, rel=0.08)
    # Lognormal: the median is exp(−σ²/2) with σ² = ln(1 + cv²).
    assert np.median(f) == pytest.approx(math.exp(-math.log1p(cv**2) / 2), rel=0.03)


def test_capacity_factor_increases_with_the_normal_draw():
    # The factor is a monotone increasing function of the stream's normal draw: replicate the
    # stream's order (uniform, lead, normal) to read the draw.
    scenario = development_scenario(1.0, 0.4)
    got = draws(scenario, 50)
    zs = []
    for r in range(50):
        rng = Streams(3, r).get("development", "newmine")
        rng.random()
        zs.append(rng.standard_normal())  # the fixed lead time draws nothing
    order = np.argsort(zs)
    factors = np.array([f for _, f in got])[order]
    assert (np.diff(factors) > 0).all()
    s2 = math.log1p(0.4**2)
    assert factors[-1] == pytest.approx(math.exp(-s2 / 2 + math.sqrt(s2) * max(zs)))


# ------------------------------------------------------------------ recycling
def recycling_scenario(recycler_extra: dict, second: bool = False) -> object:
    nodes = [
        {"id": "mine", "role": "mine", "country": "CHN", "output": "sb", "capacity": 10},
        {"id": "mine_b", "role": "mine", "country": "CHN", "output": "cu", "capacity": 10},
        {
            "id": "maker",
            "role": "processor",
            "country": "USA",
            "output": "battery",
            "capacity": 200,
            "recipe": {"sb": 0.05},
        },
        {
            "id": "wiremaker",
            "role": "processor",
            "country": "USA",
            "output": "wire",
            "capacity": 200,
            "recipe": {"cu": 1.0},
        },
        {"id": "users", "role": "market", "country": "USA", "demand": {"mean": 100}},
        {"id": "wire_users", "role": "market", "country": "USA", "demand": {"mean": 5}},
        {
            "id": "rec",
            "role": "recycler",
            "country": "USA",
            "output": "sb",
            "capacity": 50,
            **recycler_extra,
        },
    ]
    edges = [
        {"from": "mine", "to": "maker", "share": 0.8, "lead_time": 10},
        {"from": "rec", "to": "maker", "share": 0.2, "lead_time": 1, "qualified": True},
        {"from": "maker", "to": "users", "lead_time": 2},
        {"from": "mine_b", "to": "wiremaker", "lead_time": 2},
        {"from": "wiremaker", "to": "wire_users", "lead_time": 2},
    ]
    if second:
        nodes.append(
            {"id": "rec2", "role": "recycler", "country": "USA", "output": "sb", "capacity": 50}
        )
        edges.append(
            {"from": "rec2", "to": "maker", "share": 0.0, "lead_time": 1, "qualified": True}
        )
    return scenario_from_dict(
        {
            "crmsim": 1,
            "name": "recycling plans",
            "warmup_days": 0,
            "horizon_days": 60,
            "materials": [
                {"id": "sb"},
                {"id": "cu"},
                {"id": "battery", "lifetime": 30, "content": {"sb": 0.05}},
                {"id": "wire", "lifetime": 30, "content": {"cu": 1.0}},
            ],
            "nodes": nodes,
            "edges": edges,
        }
    )


def recycling_plans(scenario):
    G = build_graph(scenario)
    lay = build_layout(G, scenario.simulation.switching_delay_days)
    names = {lay.nodes[int(i)]: j for j, i in enumerate(lay.markets)}
    return {lay.nodes[p.recycler]: p for p in plan_recycling(G, lay)}, names


def test_recycler_defaults_collect_everything_and_recover_everything():
    plans, col = recycling_plans(recycling_scenario({}))
    p = plans["rec"]
    assert p.collection_rate == 1.0
    assert p.recovery_efficiency == 1.0
    # It collects the antimony in batteries, never the copper wire (no antimony content).
    assert p.sources == ((col["users"], 1.0, 0.05),)


def test_recycler_rates_and_collects_from_are_used():
    plans, _ = recycling_plans(
        recycling_scenario(
            {"collection_rate": 0.4, "recovery_efficiency": 0.7, "collects_from": ["wire_users"]}
        )
    )
    p = plans["rec"]
    assert (p.collection_rate, p.recovery_efficiency) == (0.4, 0.7)
    assert p.sources == ()  # wire holds no antimony: nothing to collect


def test_two_recyclers_split_a_markets_end_of_life_equally():
    plans, col = recycling_plans(recycling_scenario({}, second=True))
    assert plans["rec"].sources == ((col["users"], 0.5, 0.05),)
    assert plans["rec2"].sources == ((col["users"], 0.5, 0.05),)


# ------------------------------------------------------------------ releases
def test_release_defaults_are_the_buyers_daily_need_and_a_tenth_of_it():
    scenario = scenario_from_dict(
        {
            "crmsim": 1,
            "name": "release defaults",
            "warmup_days": 10,
            "horizon_days": 60,
            "materials": [{"id": "ore"}, {"id": "metal"}],
            "nodes": [
                {"id": "mine", "role": "mine", "country": "AUS", "output": "ore", "capacity": 30},
                {
                    "id": "reserve",
                    "role": "stockpile",
                    "country": "DEU",
                    "output": "ore",
                    "stock_days": 30,
                    "release": {"to": "smelter", "below_days_of_cover": 5},
                },
                {
                    "id": "smelter",
                    "role": "processor",
                    "country": "DEU",
                    "output": "metal",
                    "capacity": 20,
                    "recipe": {"ore": 2.0},
                },
                {"id": "city", "role": "market", "country": "DEU", "demand": {"mean": 8}},
            ],
            "edges": [
                {"from": "mine", "to": "smelter", "lead_time": 5},
                {
                    "from": "reserve",
                    "to": "smelter",
                    "share": 0.0,
                    "lead_time": 1,
                    "qualified": True,
                },
                {"from": "smelter", "to": "city", "lead_time": 2},
            ],
        }
    )
    G = build_graph(scenario)
    lay = build_layout(G, scenario.simulation.switching_delay_days)
    (plan,) = plan_releases(G, lay)
    assert plan.need == pytest.approx(16.0)  # 8 t/day of metal × 2 t of ore per t
    assert plan.per_day == pytest.approx(16.0)
    assert plan.replenish_per_day == pytest.approx(1.6)
    assert plan.below_fill_rate is None
    assert plan.below_days_of_cover == 5
