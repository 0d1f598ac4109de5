"""Stress test: time to survive by LP and by simulation, checked by hand and on every
shipped scenario (docs/stress.md)."""

from __future__ import annotations

import math
import os
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import crmsim
from crmsim import load_scenario
from crmsim.cli import cli
from crmsim.engine import simulate
from crmsim.experiment.stress import (
    COLUMNS,
    StressModel,
    deterministic_scenario,
    lost_demand_days,
    lp_survives,
    tts_lp,
    tts_paper,
    tts_sim,
)
from crmsim.scenario.loader import scenario_from_dict

SCENARIOS = sorted((Path(__file__).parent.parent / "scenarios").glob("*.yaml"))
SCENARIOS_BY_STEM = {p.stem: p for p in SCENARIOS}


def chain(S: int = 10, sp: int = 5, sm: int = 7, L1: int = 3, L2: int = 2):
    """mine (S days of ore) -> plant (sp days of ore) -> city (sm days of metal)."""
    return scenario_from_dict(
        {
            "crmsim": 1,
            "name": "hand chain",
            "horizon_days": 100,
            "warmup_days": 30,
            "materials": [{"id": "ore"}, {"id": "metal"}],
            "nodes": [
                {
                    "id": "mine",
                    "role": "mine",
                    "country": "AUS",
                    "output": "ore",
                    "capacity": 20,
                    "stock_days": S,
                },
                {
                    "id": "plant",
                    "role": "processor",
                    "country": "DEU",
                    "output": "metal",
                    "capacity": 20,
                    "recipe": {"ore": 1},
                    "stock_days": sp,
                },
                {
                    "id": "city",
                    "role": "market",
                    "country": "DEU",
                    "demand": {"mean": 10, "cv": 0.3},
                    "stock_days": sm,
                },
            ],
            "edges": [
                {"from": "mine", "to": "plant", "lead_time": L1},
                {"from": "plant", "to": "city", "lead_time": L2},
            ],
            # A scheduled outage the stress test must remove.
            "disruptions": [
                {
                    "id": "flood",
                    "kind": "outage",
                    "target": {"node": "plant"},
                    "start": 3,
                    "duration": 40,
                }
            ],
        }
    )


def backup(
    with_b: bool = True,
    qualified: bool = True,
    sm: int = 21,
    beta: float = 0.4,
    switch: float | None = None,
    default_switch: float = 7,
):
    """Supplier a (1 day of stock) -> city; b (capacity beta × demand, share 0) as back-up."""
    nodes = [
        {
            "id": "a",
            "role": "processor",
            "country": "CHN",
            "output": "metal",
            "capacity": 20,
            "stock_days": 1,
        },
        {
            "id": "city",
            "role": "market",
            "country": "DEU",
            "demand": {"mean": 10},
            "stock_days": sm,
        },
    ]
    edges: list[dict] = [{"from": "a", "to": "city", "lead_time": 4, "share": 1.0}]
    if with_b:
        nodes.append(
            {
                "id": "b",
                "role": "processor",
                "country": "DEU",
                "output": "metal",
                "capacity": 10 * beta,
                "stock_days": 1,
            }
        )
        edge = {"from": "b", "to": "city", "lead_time": 4, "share": 0.0, "qualified": qualified}
        if switch is not None:
            edge["switch_days"] = switch
        edges.append(edge)
    return scenario_from_dict(
        {
            "crmsim": 1,
            "name": "back-up",
            "horizon_days": 100,
            "warmup_days": 30,
            "materials": [{"id": "metal"}],
            "nodes": nodes,
            "edges": edges,
            "simulation": {"switching_delay_days": default_switch},
        }
    )


def both(scenario, node: str) -> tuple[float, float]:
    m = StressModel.of(scenario)
    return tts_lp(m, node), tts_sim(m, node)


# ------------------------------------------------------------------ hand calculations
@pytest.mark.parametrize(("L1", "L2"), [(3, 2), (9, 6)])
def test_mine_behind_processor_by_hand(L1: int, L2: int) -> None:
    # The mine ends a day with S − 1 days of ore (it refills to S, then ships), the plant
    # with sp days (its output stock covers this morning's open orders, so it buys no
    # inputs for them: docs/engine.md step 5), the market behind a make-to-order plant with
    # sm − 1. Each day of outage beyond those is a day of missing arrivals; the pipeline
    # buys nothing (the restart takes the same lead time).
    S, sp, sm = 10, 5, 7
    expected = (S - 1) + sp + (sm - 1)
    assert expected == 20
    assert both(chain(S, sp, sm, L1, L2), "mine") == (expected, expected)


def test_processor_out_leaves_the_market_its_own_stock() -> None:
    assert both(chain(sm=7), "plant") == (6.0, 6.0)
    assert both(chain(sm=12), "plant") == (11.0, 11.0)


def test_market_outage_changes_nothing() -> None:
    assert both(chain(), "city") == (math.inf, math.inf)


def test_outage_one_day_longer_loses_demand() -> None:
    m = StressModel.of(chain())
    assert lost_demand_days(m, "mine", 20) == 0
    # One more day: one day of the market's demand is lost, in market-days.
    assert lost_demand_days(m, "mine", 21) == pytest.approx(1.0)
    assert lp_survives(m, "mine", 20)
    assert not lp_survives(m, "mine", 21)


def _backup_by_hand(sm: int, beta: float, w: int) -> int:
    # a has no stock to ship (1 day, shipped the day it is made); from day w to D − 1 the
    # back-up accepts beta × demand a day, made the next day and arriving with the same
    # lead time: D − w − 1 of those arrive before a's restart does. No loss while
    # D − beta (D − w − 1) ≤ sm.
    return math.floor((sm - beta * (w + 1)) / (1 - beta) + 1e-9)


def test_qualified_backup_extends_tts_by_hand() -> None:
    assert both(backup(with_b=False), "a") == (21.0, 21.0)  # the market's own 21 days
    expected = _backup_by_hand(21, 0.4, 7)
    assert expected == 29
    assert both(backup(), "a") == (expected, expected)


def test_unqualified_backup_is_not_used() -> None:
    assert both(backup(qualified=False), "a") == (21.0, 21.0)


def test_switching_delay_decides() -> None:
    expected = _backup_by_hand(21, 0.4, 3)
    assert expected == 32
    assert both(backup(default_switch=3), "a") == (expected, expected)


def test_the_alternatives_own_switching_delay_decides() -> None:
    # The rule encoded in `switching_delay` (and the engine's since the h1-engine
    # corrections): the alternative edge's switch_days, else the scenario's default.
    assert both(backup(switch=3), "a") == (32.0, 32.0)
    expected = _backup_by_hand(21, 0.4, 12)
    assert expected == 26
    assert both(backup(switch=12, default_switch=3), "a") == (expected, expected)


def two_markets(backup: str | None = None, S: int = 4, sm1: int = 10, beta: float = 0.4):
    """Mine a (S days of stock) -> near (sm1 days) and far (60 days), 10/day each.

    ``backup``: None; ``"undeveloped"`` — a qualified back-up into ``near`` that is a
    deposit not On Production (no spare capacity); ``"spare"`` — a qualified back-up into
    ``near`` with spare capacity ``beta × demand`` (same lead time, default switching
    delay 7).
    """
    nodes: list[dict] = [
        {
            "id": "a",
            "role": "mine",
            "country": "CHN",
            "output": "metal",
            "capacity": 40,
            "stock_days": S,
        },
        {
            "id": "near",
            "role": "market",
            "country": "DEU",
            "demand": {"mean": 10},
            "stock_days": sm1,
        },
        {"id": "far", "role": "market", "country": "FRA", "demand": {"mean": 10}, "stock_days": 60},
    ]
    edges: list[dict] = [
        {"from": "a", "to": "near", "lead_time": 4},
        {"from": "a", "to": "far", "lead_time": 4},
    ]
    if backup == "undeveloped":
        nodes.append(
            {
                "id": "b",
                "role": "mine",
                "country": "DEU",
                "output": "metal",
                "capacity": 10 * beta,
                "unfc": "E2 F2.1 G2",
            }
        )
    elif backup == "spare":
        nodes.append(
            {
                "id": "b",
                "role": "processor",
                "country": "DEU",
                "output": "metal",
                "capacity": 10 * beta,
                "stock_days": 1,
            }
        )
    if backup is not None:
        edges.append({"from": "b", "to": "near", "lead_time": 4, "share": 0.0, "qualified": True})
    return scenario_from_dict(
        {
            "crmsim": 1,
            "name": "two markets",
            "horizon_days": 100,
            "warmup_days": 30,
            "materials": [{"id": "metal"}],
            "nodes": nodes,
            "edges": edges,
        }
    )


@pytest.mark.parametrize("kind", [None, "undeveloped"])
def test_out_node_ships_pro_rata_beside_an_alternative_without_spare_capacity(
    kind: str | None,
) -> None:
    # a ends a day with S − 1 = 3 days of its 20/day and ships them pro rata to its
    # planned open orders: near gets 3 days, then lives on its own 10 days: 13. A
    # qualified back-up that can never take an order (not On Production) changes nothing;
    # counted as an alternative it let the LP send all of a's stock to near (16 days).
    assert both(two_markets(kind), "a") == (13.0, 13.0)


def test_out_node_ships_its_stock_at_once_and_pro_rata_before_orders_move() -> None:
    # a ships its 3 days of stock pro rata on days 0–2 (its orders move only from day 7);
    # the back-up accepts 4/day for near from day 7 to D − 1, made the next day. Near has
    # 10 days + 3 days of a's stock: no loss while D − 3 − 0.4 (D − 8) ≤ 10. Free to hold
    # a's stock back and send it all to near later, the LP found 21.
    expected = math.floor((10 + 3 - 0.4 * 8) / 0.6 + 1e-9)
    assert expected == 16
    assert both(two_markets("spare"), "a") == (expected, expected)


def shared_backup(sm1: int = 10, sm2: int = 30, spare: float = 8):
    """Supplier a (no stock to ship) -> m1 (sm1 days), m2 (sm2 days), 10/day each; b, with
    no planned flow and capacity ``spare``, a qualified back-up for both (default delay 7).
    """
    nodes = [
        {
            "id": "a",
            "role": "processor",
            "country": "CHN",
            "output": "metal",
            "capacity": 40,
            "stock_days": 1,
        },
        {
            "id": "b",
            "role": "processor",
            "country": "DEU",
            "output": "metal",
            "capacity": spare,
            "stock_days": 1,
        },
        {"id": "m1", "role": "market", "country": "DEU", "demand": {"mean": 10}, "stock_days": sm1},
        {"id": "m2", "role": "market", "country": "FRA", "demand": {"mean": 10}, "stock_days": sm2},
    ]
    edges = [
        {"from": "a", "to": "m1", "lead_time": 4},
        {"from": "a", "to": "m2", "lead_time": 4},
        {"from": "b", "to": "m1", "lead_time": 4, "share": 0.0, "qualified": True},
        {"from": "b", "to": "m2", "lead_time": 4, "share": 0.0, "qualified": True},
    ]
    return scenario_from_dict(
        {
            "crmsim": 1,
            "name": "shared back-up",
            "horizon_days": 100,
            "warmup_days": 30,
            "materials": [{"id": "metal"}],
            "nodes": nodes,
            "edges": edges,
        }
    )


def test_a_shared_alternative_is_split_and_ships_as_the_engine_does() -> None:
    # Both markets re-source the same orders to b from day 7, so b's 8 a day of spare
    # capacity is split 4 and 4 (the engine scales every request alike), and b, holding
    # only those orders, ships them pro rata: m1 lives as with a back-up of β = 0.4,
    # floor((10 − 0.4 × 8) / 0.6) = 11 days. An LP free to give b's spare to m1 found 18;
    # one free to ship m2's share to m1 first (b makes what both ordered), 12.
    expected = _backup_by_hand(10, 0.4, 7)
    assert expected == 11
    assert both(shared_backup(), "a") == (expected, expected)


def test_lp_falls_back_to_the_dual_simplex(monkeypatch: pytest.MonkeyPatch) -> None:
    # HiGHS's interior point can stop with a numerical "solve error" (status 4) on a small
    # well-posed LP (the one of `two_markets()` at 15 days did, before the rules above).
    import crmsim.experiment.stress as stress_module

    real = stress_module.linprog
    methods: list[str] = []

    def flaky(*args, **kwargs):
        methods.append(kwargs["method"])
        res = real(*args, **kwargs)
        if kwargs["method"] == "highs-ipm":
            res.status, res.message = 4, "Solve error"
        return res

    monkeypatch.setattr(stress_module, "linprog", flaky)
    m = StressModel.of(two_markets())
    assert lp_survives(m, "a", 13)
    assert not lp_survives(m, "a", 14)
    assert methods == ["highs-ipm", "highs-ds"] * 2


def test_paper_convention_by_hand() -> None:
    # Static LP: stock on hand and in transit, no lead times, production at capacity × t.
    # Chain: mine (S−1) + plant (sp) + city (sm−1) days on hand, plus L1 + L2 days in
    # transit: 20 + 5 = 25 days.
    m = StressModel.of(chain())
    assert tts_paper(m, "mine") == pytest.approx(25.0)
    # Back-up b at 4/day beside 21 days of stock and 4 days in transit: 25 / 0.6 days.
    assert tts_paper(StressModel.of(backup()), "a") == pytest.approx(25 / 0.6)


# ------------------------------------------------------------------ conventions
def test_deterministic_copy() -> None:
    sc = chain()
    det = deterministic_scenario(sc, "mine", 12, horizon=50)
    assert det.horizon_days == 50
    assert [d.id for d in det.disruptions] == ["stress_outage"]
    (d,) = det.disruptions
    assert (d.start, d.duration, d.severity, d.target.node) == (0, 12, 1.0, ("mine",))
    assert det.node("city").demand.cv == 0
    assert sc.node("city").demand.cv == 0.3  # the original is untouched
    assert [d.id for d in sc.disruptions] == ["flood"]


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_lp_start_state_is_the_simulators(path: Path) -> None:
    """The LP's stocks at the end of day −1 are the simulator's after the warm-up."""
    m = StressModel.of(load_scenario(path))
    eng = simulate(deterministic_scenario(m.scenario, horizon=1), seed=0)._engine
    W = eng.W
    assert eng.rec_in is not None
    assert eng.rec_out is not None
    np.testing.assert_allclose(m.in0, eng.rec_in[W - 1], rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(m.out0, eng.rec_out[W - 1], rtol=1e-9, atol=1e-9)


# ------------------------------------------------------------------ make-to-order orders
def bullwhip():
    """Mines a (80 %) and b (20 %) -> make-to-order plant (5 days) -> city (30 days).

    b is out for the whole horizon; a has stock and spare capacity, so it ships every
    order it gets.
    """
    return scenario_from_dict(
        {
            "crmsim": 1,
            "name": "bullwhip",
            "horizon_days": 120,
            "warmup_days": 30,
            "materials": [{"id": "ore"}, {"id": "metal"}],
            "nodes": [
                {
                    "id": "a",
                    "role": "mine",
                    "country": "AUS",
                    "output": "ore",
                    "capacity": 100,
                    "stock_days": 7,
                },
                {
                    "id": "b",
                    "role": "mine",
                    "country": "CHL",
                    "output": "ore",
                    "capacity": 100,
                    "stock_days": 1,
                },
                {
                    "id": "plant",
                    "role": "processor",
                    "country": "DEU",
                    "output": "metal",
                    "capacity": 100,
                    "recipe": {"ore": 1},
                    "stock_days": 5,
                },
                {
                    "id": "city",
                    "role": "market",
                    "country": "DEU",
                    "demand": {"mean": 10},
                    "stock_days": 30,
                },
            ],
            "edges": [
                {"from": "a", "to": "plant", "share": 0.8, "lead_time": 3},
                {"from": "b", "to": "plant", "share": 0.2, "lead_time": 3},
                {"from": "plant", "to": "city", "lead_time": 1},
            ],
            "disruptions": [
                {
                    "id": "b_out",
                    "kind": "outage",
                    "target": {"node": "b"},
                    "start": 0,
                    "duration": 120,
                }
            ],
        }
    )


def test_make_to_order_orders_follow_its_customers_orders() -> None:
    # The city orders 10 a day, every day; the plant passes that on, 80 % to a, and a
    # fills it from stock: a ships 8.0 every day, whatever the plant's own output does
    # once b's share is missing (its stock of ore runs out on day 32). With the inputs for
    # *all* open orders in the plant's target (the rule before docs/engine.md step 5 said
    # "beyond output stock"), its orders echoed its own production changes: a shipped 6.4
    # on day 33, then 9.28, 6.98, 10.05, … 19.06, 0 (day 58) and about 24 a day by day 80.
    res = simulate(bullwhip(), seed=0)
    daily = res.daily
    shipped = daily.loc[(daily["node"] == "a") & (daily["day"] >= 0), "shipped"]
    assert len(shipped) == 120
    np.testing.assert_allclose(shipped, 8.0, rtol=1e-9)


# ------------------------------------------------------------------ shipped scenarios
# The default run checks every node of every shipped scenario with outages of up to
# QUICK_CAP days (an LP over a 365-day outage takes seconds to tens of seconds);
# CRMSIM_STRESS_FULL=1 checks each node over the horizon, at most FULL_CAP days (the
# ten-year file's LPs over 3 650-day outages would take hours). There the LP and the
# simulator agree within one day on every node (with the engine's rule for a make-to-order
# node's inputs before docs/engine.md step 5 said "beyond output stock", the antimony mines
# differed: mine_tjk 156 vs 153, mine_rus 356 vs 345, ten-year mine_mmr 706 vs 680).
QUICK_CAP = 90
FULL_CAP = 730
UPPER_CAP = 365
FULL = os.environ.get("CRMSIM_STRESS_FULL") == "1"


@cache
def _shipped(path: Path, cap: int) -> tuple[StressModel, dict[str, float]]:
    m = StressModel.of(load_scenario(path), max_days=cap)
    return m, {n: tts_sim(m, n) for n in m.lay.nodes}


def _check_node(m: StressModel, node: str, d: float) -> None:
    """|tts_lp − d| ≤ 1 for the simulator's TTS ``d`` (inf: at least ``m.cap_days``)."""
    if not m.lay.producer[m.lay.node_index[node]]:
        assert d == math.inf
        assert tts_lp(m, node) == math.inf
        return
    if math.isinf(d):
        assert lp_survives(m, node, m.cap_days), node
        return
    # The LP's answer is monotone in the outage length: two solves decide.
    assert lp_survives(m, node, max(0, int(d) - 1)), node
    if d + 2 <= m.cap_days:
        assert not lp_survives(m, node, int(d) + 2), node


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_lp_and_simulation_agree_on_every_node(path: Path) -> None:
    m, sim = _shipped(path, QUICK_CAP)
    for node, d in sim.items():
        _check_node(m, node, d)


def _full_cases() -> list:
    cases = []
    for path in SCENARIOS:
        for node in sorted(n.id for n in load_scenario(path).nodes):
            cases.append(pytest.param(path, node, id=f"{path.stem}-{node}"))
    return cases


@pytest.mark.skipif(not FULL, reason="full horizon: set CRMSIM_STRESS_FULL=1 (minutes)")
@pytest.mark.parametrize(("path", "node"), _full_cases() if FULL else [])
def test_lp_and_simulation_agree_on_every_node_full_horizon(path: Path, node: str) -> None:
    m, sim = _shipped(path, min(load_scenario(path).horizon_days, FULL_CAP))
    _check_node(m, node, sim[node])


def test_lp_and_simulation_agree_on_the_tajik_mine() -> None:
    # The default run's check beyond QUICK_CAP on the node that differed most (153 days by
    # simulation, 156 by LP, before the make-to-order rule was corrected).
    m = StressModel.of(load_scenario(SCENARIOS_BY_STEM["tajikistan_antimony"]), max_days=170)
    _check_node(m, "mine_tjk", tts_sim(m, "mine_tjk"))


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_paper_convention_is_an_upper_bound(path: Path) -> None:
    # Against the simulator's TTS over outages of up to UPPER_CAP days (a simulation is
    # cheap; inf from the search means "at least cap_days").
    m, sim = _shipped(path, min(load_scenario(path).horizon_days, UPPER_CAP))
    for node, d in sim.items():
        assert tts_paper(m, node) >= min(d, m.cap_days), node


# ------------------------------------------------------------------ the table and CLI
def test_stress_table() -> None:
    sc = load_scenario(SCENARIOS[-2])  # tutorial.yaml
    assert sc.name.startswith("Tutorial")
    table = crmsim.stress(sc, nodes=["refinery_chn", "parts_maker", "refinery_deu"], ttr=20)
    assert tuple(table.columns) == COLUMNS
    row = table.set_index("node")
    # The Chinese refinery's own scheduled shutdown: 90 days + 10 days of ramp.
    assert row.loc["refinery_chn", "ttr"] == 100
    assert row.loc["parts_maker", "ttr"] == 20  # the default
    assert row.loc["refinery_chn", "tts_sim"] == 34
    assert row.loc["parts_maker", "tts_sim"] == 6
    assert bool(row.loc["refinery_chn", "flagged"])
    assert bool(row.loc["parts_maker", "flagged"])
    assert not bool(row.loc["refinery_deu", "flagged"])  # idle back-up: TTS = inf
    assert row.loc["refinery_deu", "exposure"] == 0
    assert row.loc["refinery_chn", "exposure"] > row.loc["parts_maker", "exposure"] > 0
    assert list(row["rank"]) == [1, 2, 3]
    m = StressModel.of(sc)
    assert row.loc["parts_maker", "exposure"] == pytest.approx(
        lost_demand_days(m, "parts_maker", 20)
    )


def test_stress_rejects_unknown_node() -> None:
    with pytest.raises(KeyError, match="nowhere"):
        crmsim.stress(chain(), nodes=["nowhere"])


def test_cli_stress(tmp_path: Path) -> None:
    out = tmp_path / "tts.csv"
    result = CliRunner().invoke(
        cli,
        [
            "stress",
            str(SCENARIOS[-2]),
            "--nodes",
            "parts_maker,refinery_chn",
            "--ttr",
            "15,parts_maker=4",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "days" in result.output
    assert "refinery_chn" in result.output
    table = pd.read_csv(out)
    assert list(table.columns) == list(COLUMNS)
    by = table.set_index("node")
    assert by.loc["parts_maker", "ttr"] == 4
    assert not by.loc["parts_maker", "flagged"]
    assert by.loc["refinery_chn", "ttr"] == 100  # its own outage beats --ttr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--nodes", "nowhere"], "not a node"),
        (["--ttr", "soon"], "DAYS or NODE=DAYS"),
        (["--ttr", "nowhere=3"], "not a node"),
    ],
)
def test_cli_stress_bad_options(args: list[str], message: str) -> None:
    result = CliRunner().invoke(cli, ["stress", str(SCENARIOS[-2]), *args])
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output
