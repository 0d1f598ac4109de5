"""The batched engine gives every replication bitwise the results of the engine it replaced.

The oracle is ``tests/reference_engine.py`` (the one-replication engine before batching,
with the same rules, kept for these tests only). Every per-replication output is compared exactly:
summary, market summary, disruptions, daily records, ledger, levers, materials, the
consistency checks — for the shipped scenarios with and without each policy, for random
scenarios, and for batch sizes 1, 7 and 64.
"""

from __future__ import annotations

import math
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crmsim.engine import SimulationResult, run_batch, simulate
from crmsim.engine.batch import BatchEngine
from crmsim.engine.consistency import check_all
from crmsim.engine.layout import build_layout
from crmsim.engine.recorders import Daily, EdgeFlows, Summary, recorders_for
from crmsim.network.graph import build_graph
from crmsim.policy import apply_policies
from crmsim.scenario.loader import load_scenario, scenario_from_dict
from reference_engine import Engine as Reference
from test_engine_properties import networks

SCENARIOS = sorted((Path(__file__).parent.parent / "scenarios").glob("*.yaml"))
ARRAYS = (
    "rec_demand",
    "rec_served",
    "rec_served_total",
    "rec_unmet",
    "rec_avail",
    "rec_out",
    "rec_prod",
    "rec_ship",
    "rec_in",
    "rec_recv",
    "rec_cons",
    "rec_released",
    "rec_collected",
    "stock_held",
    "edge_received",
    "edge_shipped",
    "edge_cancelled",
    "transit",
    "pool",
    "collected",
    "collection_lost",
    "recovery_lost",
    "cum_prod",
    "cum_cons",
    "cum_recovered",
    "eol_units",
    "preclip_in",
    "preclip_out",
    "preclip_pool",
)


def _same_dict(a: dict[str, Any], b: dict[str, Any]) -> None:
    assert a.keys() == b.keys()
    for k in a:
        x, y = a[k], b[k]
        if isinstance(x, float) and math.isnan(x):
            assert isinstance(y, float), k
            assert math.isnan(y), k
        else:
            assert x == y, (k, x, y)


def assert_same_replication(ref: Any, new: Any, daily: bool = True) -> None:
    """Every per-replication output of two results of one replication is bitwise equal."""
    for name in ARRAYS:
        x, y = getattr(ref, name), getattr(new, name)
        if x is None and not daily:
            continue
        np.testing.assert_array_equal(x, y, err_msg=name, strict=True)
    np.testing.assert_array_equal(ref.ledger(), new.ledger(), strict=True)
    assert ref.lever_events == new.lever_events
    assert ref.events == new.events
    assert ref.event_keys == new.event_keys
    assert ref.stats["simpy_events"] == new.stats["simpy_events"]
    assert ref.stats["capped"] == new.stats["capped"]
    assert [str(v) for v in check_all(ref, strict=False)] == [
        str(v) for v in check_all(new, strict=False)
    ]
    a = SimulationResult("s", ref.seed, ref.replication, ref.stats, ref)
    b = SimulationResult("s", new.seed, new.replication, new.stats, new)
    _same_dict(a.summary, b.summary)
    for table in ("market_summary", "disruptions", "levers", "materials", "recycling", "ledger"):
        pd.testing.assert_frame_equal(getattr(a, table), getattr(b, table), check_exact=True)
    pd.testing.assert_series_equal(a.stock_held, b.stock_held, check_exact=True)
    if daily:
        pd.testing.assert_frame_equal(a.daily, b.daily, check_exact=True)


def _reference(scenario: Any, seed: int, r: int, prepared: tuple[Any, Any]) -> Any:
    G, lay = prepared
    return Reference(scenario, seed, r, record="daily", layout=lay, graph=G).run()


def _prepare(scenario: Any) -> tuple[Any, Any]:
    G = build_graph(scenario)
    return G, build_layout(G, scenario.simulation.switching_delay_days)


def _variants() -> list[Any]:
    out = []
    for path in SCENARIOS:
        s = load_scenario(path)
        out.append(pytest.param(path, None, id=f"{path.stem}"))
        for p in s.policies:
            out.append(pytest.param(path, p.id, id=f"{path.stem}+{p.id}"))
    return out


@pytest.mark.parametrize(("path", "policy"), _variants())
def test_shipped_scenarios_and_policies_are_bitwise_the_reference(path, policy):
    s = load_scenario(path)
    if policy is not None:
        s = apply_policies(s, [policy]).scenario
    prepared = _prepare(s)
    reps = [0, 1, 2] if s.horizon_days <= 1000 else [1]
    got = run_batch(
        s, 11, reps, recorders=recorders_for("daily"), layout=prepared[1], graph=prepared[0]
    )
    for r, new in zip(reps, got, strict=True):
        assert_same_replication(_reference(s, 11, r, prepared), new)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(networks(), st.integers(0, 2**32 - 1), st.integers(1, 4))
def test_random_scenarios_are_bitwise_the_reference_in_any_batch(data, seed, size):
    s = scenario_from_dict(data)
    prepared = _prepare(s)
    got = run_batch(
        s,
        seed,
        list(range(size)),
        recorders=recorders_for("daily"),
        layout=prepared[1],
        graph=prepared[0],
    )
    for r, new in enumerate(got):
        assert_same_replication(_reference(s, seed, r, prepared), new)


@st.composite
def growing_networks(draw):
    """Random networks whose markets' demand grows (by a rate, or year by year)."""
    data = draw(networks())
    data["horizon_days"] = draw(st.integers(300, 800))
    # A total outage of a stockpile (unlimited capacity) makes inf × 0 in the engine before
    # batching too (a RuntimeWarning, left alone here): keep outages partial.
    for d in data["disruptions"]:
        if d["kind"] == "outage":
            d["severity"] = min(d["severity"], 0.99)
    for node in data["nodes"]:
        if node["role"] == "market":
            demand = dict(node["demand"])
            if draw(st.booleans()):
                demand["growth_per_year"] = draw(st.floats(-0.5, 2.0))
            else:
                demand["by_year"] = draw(st.lists(st.floats(0.2, 3.0), min_size=1, max_size=3))
            node["demand"] = demand
    return data


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(growing_networks(), st.integers(0, 2**32 - 1))
def test_growing_demand_is_bitwise_the_reference_in_a_batch(data, seed):
    s = scenario_from_dict(data)
    prepared = _prepare(s)
    got = run_batch(s, seed, [0, 1, 2], layout=prepared[1], graph=prepared[0])
    for r, new in enumerate(got):
        ref = Reference(s, seed, r, record="summary", layout=prepared[1], graph=prepared[0])
        assert_same_replication(ref.run(), new, daily=False)


def _summary_arrays(views: list[Any]) -> list[dict[str, np.ndarray]]:
    return [
        {n: getattr(v, n) for n in ("rec_demand", "rec_served", "rec_unmet", "stock_held")}
        | {"ledger": v.ledger()}
        for v in views
    ]


@pytest.mark.parametrize(
    "path", [p for p in SCENARIOS if p.stem != "tajikistan_antimony_10y"], ids=lambda p: p.stem
)
def test_batch_sizes_1_7_and_64_give_the_same_replications(path):
    s = load_scenario(path)
    G, lay = _prepare(s)
    reps = list(range(64))

    def run(size: int, which: list[int]) -> list[Any]:
        out = []
        for lo in range(0, len(which), size):
            out += run_batch(s, 5, which[lo : lo + size], layout=lay, graph=G)
        return out

    seven, all64 = run(7, reps), run(64, reps)
    alone = dict(zip(ALONE, run(1, ALONE), strict=True))  # batches of one: a sample
    for r, (b, c) in enumerate(zip(_summary_arrays(seven), _summary_arrays(all64), strict=True)):
        for k in b:
            np.testing.assert_array_equal(b[k], c[k], strict=True)
            if r in alone:
                np.testing.assert_array_equal(_summary_arrays([alone[r]])[0][k], c[k], strict=True)
    # And the batch of 64 is the reference for a replication in its middle.
    new = run_batch(s, 5, reps, recorders=recorders_for("daily"), layout=lay, graph=G)[37]
    assert_same_replication(_reference(s, 5, 37, (G, lay)), new)


#: Replications also simulated alone (batch size 1) in the batch-size test.
ALONE = [0, 6, 7, 37, 63]


# ------------------------------------------------------------- hand-made batches
def _chain(**extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "crmsim": 1,
        "name": "batch",
        "warmup_days": 10,
        "horizon_days": 200,
        "materials": [{"id": "ore"}],
        "nodes": [
            {"id": "mine", "role": "mine", "country": "CHN", "output": "ore", "capacity": 15},
            {"id": "alt", "role": "mine", "country": "AUS", "output": "ore", "capacity": 15},
            {
                "id": "city",
                "role": "market",
                "country": "DEU",
                "stock_days": 3,
                "demand": {"mean": 10, "cv": 0.4},
            },
        ],
        "edges": [
            {"from": "mine", "to": "city", "lead_time": 5, "share": 1.0},
            {"from": "alt", "to": "city", "lead_time": 8, "share": 0.0, "qualified": True},
        ],
        "disruptions": [],
    }
    data.update(extra)
    return data


def _alone_vs_batch(s: Any, reps: list[int], seed: int = 3) -> list[Any]:
    G, lay = _prepare(s)
    together = run_batch(s, seed, reps, recorders=recorders_for("daily"), layout=lay, graph=G)
    for r, new in zip(reps, together, strict=True):
        alone = run_batch(s, seed, [r], recorders=recorders_for("daily"), layout=lay, graph=G)
        assert_same_replication(alone[0], new)
        assert_same_replication(_reference(s, seed, r, (G, lay)), new)
    return together


def test_a_logistics_delay_longer_than_the_ring_is_kept_in_order():
    # Lead time 5 days; a delay of factor 30 on day 20 re-times goods in transit to 30 …
    # 150 days ahead, far beyond the undelayed longest lead time (8 days, the ring's
    # nominal size), and shipments during it take 150 days (180 while both delays hold).
    s = scenario_from_dict(
        _chain(
            horizon_days=400,
            disruptions=[
                {
                    "id": "jam",
                    "kind": "logistics",
                    "target": {"node": "mine"},
                    "start": 20,
                    "duration": 15,
                    "factor": 30,
                },
                {
                    "id": "jam2",
                    "kind": "logistics",
                    "target": {"node": "mine"},
                    "start": 25,
                    "duration": 3,
                    "factor": 1.2,
                },
            ],
        )
    )
    eng = BatchEngine(s, 3, [0, 1], recorders=recorders_for("daily"))
    lay, W = eng.layout, s.warmup_days
    assert int(lay.edge_lead_fixed.max()) == 8
    assert 180 < eng.state.ring_len < W + 400  # sized for the delays, not the horizon
    eng.run()
    got = [eng.replication(0), eng.replication(1)]
    assert_same_replication(_reference(s, 3, 0, (eng.graph, lay)), got[0])
    assert_same_replication(_reference(s, 3, 1, (eng.graph, lay)), got[1])
    # The delay binds: nothing arrives for weeks, then the re-timed goods arrive late.
    received = got[0].rec_recv[:, lay.market_slot[0]]
    assert (received[W + 26 : W + 50] == 0).all()
    assert received[W + 150 : W + 220].sum() > 0


def test_resourcing_fires_in_some_replications_and_not_others():
    # A random outage of the main mine (rare): some replications see it and switch to the
    # qualified alternative after the switching delay, the others never divert.
    data = _chain(
        disruptions=[
            {
                "id": "down",
                "kind": "outage",
                "target": {"node": "mine"},
                "random": {"rate_per_year": 0.8, "duration": 40},
            }
        ]
    )
    data["simulation"] = {"switching_delay_days": 3}
    s = scenario_from_dict(data)
    together = _alone_vs_batch(s, list(range(12)))
    alt = s.nodes[1].id
    shipped_alt = [float(v.rec_ship[:, v.layout.node_index[alt]].sum()) for v in together]
    assert any(x > 0 for x in shipped_alt)
    assert any(x == 0 for x in shipped_alt)


@pytest.mark.parametrize(
    "rule",
    [
        {"for_days": 3},
        {"window_days": 10, "watch": "city"},
        {"window_days": 10},
        {"window_days": 10, "shortage_days": 4},
        {"for_days": 2, "watch": "city"},
    ],
)
def test_entry_trigger_fires_in_some_replications_and_not_others(rule):
    data = _chain(
        disruptions=[
            {
                "id": "down",
                "kind": "outage",
                "target": {"node": "mine"},
                "random": {"rate_per_year": 1.0, "duration": 40},
            }
        ]
    )
    data["nodes"].append(
        {
            "id": "newco",
            "role": "mine",
            "country": "DEU",
            "output": "ore",
            "capacity": 12,
            "entry": {
                "fill_rate_below": 0.8,
                **rule,
                "ramp_up_days": 10,
                "qualification_days": 5,
                "finance_probability": 0.8,
                "exit_hazard_per_year": 0.5,
                "stress_hazard_per_year": 20.0,
            },
        }
    )
    data["edges"].append(
        {"from": "newco", "to": "city", "lead_time": 2, "share": 0.0, "qualified": True}
    )
    s = scenario_from_dict(data)
    together = _alone_vs_batch(s, list(range(12)))
    entered = ["entered" in {e for _, e, _ in v.lever_events} for v in together]
    assert any(entered)
    assert not all(entered)


@pytest.mark.parametrize("rule", ["below_fill_rate", "below_days_of_cover"])
def test_stockpile_release_fires_in_some_replications_and_not_others(rule):
    data = _chain(
        disruptions=[
            {
                "id": "down",
                "kind": "outage",
                "target": {"node": "mine"},
                "random": {"rate_per_year": 1.0, "duration": 30},
            }
        ]
    )
    data["nodes"].append(
        {
            "id": "reserve",
            "role": "stockpile",
            "country": "DEU",
            "output": "ore",
            "stock_days": 30,
            "initial_stock_days": 30,
            "release": {"to": "city", rule: 0.9 if rule == "below_fill_rate" else 0.2},
        }
    )
    data["edges"].append({"from": "mine", "to": "reserve", "lead_time": 3, "share": 1.0})
    data["edges"].append({"from": "reserve", "to": "city", "lead_time": 1, "share": 0.0})
    s = scenario_from_dict(data)
    together = _alone_vs_batch(s, list(range(10)))
    released = [float(v.rec_released.sum()) for v in together]
    assert any(x > 0 for x in released)
    assert any(x == 0 for x in released)


def test_recorders_keep_only_what_is_asked():
    s = scenario_from_dict(_chain())
    got = run_batch(s, 1, [4, 5, 6], recorders=[Summary(), Daily([5])])
    assert got[0].rec_out is None
    assert got[2].rec_out is None
    assert got[1].rec_out is not None
    assert got[1].record == "daily"
    assert got[0].edge_shipped is None  # no EdgeFlows recorder
    full = run_batch(s, 1, [5], recorders=[Summary(), EdgeFlows(), Daily()])[0]
    np.testing.assert_array_equal(full.rec_out, got[1].rec_out, strict=True)
    np.testing.assert_array_equal(full.rec_demand, got[1].rec_demand, strict=True)


def test_a_replication_result_pickles_without_an_engine():
    s = scenario_from_dict(_chain())
    res = simulate(s, seed=2)
    assert not isinstance(res._engine, BatchEngine)
    back = pickle.loads(pickle.dumps(res._engine))
    np.testing.assert_array_equal(back.rec_served, res._engine.rec_served, strict=True)
    np.testing.assert_array_equal(back.ledger(), res._engine.ledger(), strict=True)


def test_simulate_is_a_batch_of_one():
    s = scenario_from_dict(_chain())
    res = simulate(s, seed=2, replication=3)
    (view,) = run_batch(s, 2, [3], recorders=recorders_for("daily"))
    assert_same_replication(res._engine, view)


# ------------------------------------------------------------- the experiment layer
def _run_tables(run: Any) -> list[pd.DataFrame]:
    return [
        run.summary.drop(columns=["seconds"]),
        run.market_summary,
        run.disruptions,
        run.bands,
    ]


def test_run_replications_tables_do_not_depend_on_batch_size_or_workers(monkeypatch):
    from crmsim.experiment import runner

    s = load_scenario(SCENARIOS[0].parent / "tajikistan_antimony.yaml")
    s = apply_policies(s, ["msme_smelter_tjk"]).scenario  # entrants on a shortage trigger
    kw: dict[str, Any] = {"seed": 4, "keep_first_daily": False}
    base = runner.run_replications(s, 9, **kw)
    assert base.summary["fill_rate"].nunique() > 1  # not trivially equal
    tables = _run_tables(base)
    for size in (1, 4):
        monkeypatch.setattr(runner, "BATCH_SIZE", size)
        for a, b in zip(tables, _run_tables(runner.run_replications(s, 9, **kw)), strict=True):
            pd.testing.assert_frame_equal(a, b, check_exact=True)
    monkeypatch.undo()
    pooled = runner.run_replications(s, 9, workers=2, **kw)
    for a, b in zip(tables, _run_tables(pooled), strict=True):
        pd.testing.assert_frame_equal(a, b, check_exact=True)
    # The marginal effects run the batched replications again, one event left out each.
    monkeypatch.setattr(runner, "BATCH_SIZE", 2)
    pd.testing.assert_frame_equal(
        runner._marginal(s, 4, 3), _reference_marginal(s, 4, 3), check_exact=True
    )


def _reference_marginal(s: Any, seed: int, R: int) -> pd.DataFrame:
    from crmsim.engine.attribution import marginal_effects
    from crmsim.experiment.runner import _concat, _front

    G, lay = _prepare(s)
    frames = []
    for r in range(R):
        ref = Reference(s, seed, r, record="summary", layout=lay, graph=G).run()
        frames.append(marginal_effects(ref).assign(replication=r))
    return _front(_concat(frames))


def test_compare_tables_do_not_depend_on_the_engine_batch_size(monkeypatch):
    from crmsim.experiment import runner
    from crmsim.experiment.compare import run_experiment

    s = load_scenario(SCENARIOS[0].parent / "tutorial.yaml")
    kw: dict[str, Any] = {"replications": 9, "flow_replications": 4, "seed": 2}
    base = run_experiment(s, **kw)
    monkeypatch.setattr(runner, "BATCH_SIZE", 2)
    other = run_experiment(s, **kw)
    for name in ("replications", "disruptions", "flows", "readiness"):
        pd.testing.assert_frame_equal(
            getattr(base, name), getattr(other, name), check_exact=True, obj=name
        )
    assert len(base.flows)
    assert len(base.disruptions)


def test_a_pass_frees_its_state_without_the_cyclic_collector(monkeypatch):
    # The SimPy processes stay suspended past the horizon; closed at the end of the run,
    # they no longer hold the engine, so a pass's arrays go as soon as its results do.
    import gc
    import weakref

    seen = []
    original = BatchEngine.run

    def run(self: BatchEngine) -> BatchEngine:
        seen.append(weakref.ref(self.state))
        return original(self)

    monkeypatch.setattr(BatchEngine, "run", run)
    scenario = load_scenario(Path(__file__).resolve().parents[1] / "scenarios" / "tutorial.yaml")
    gc.disable()
    try:
        out = run_batch(scenario, 1, [0, 1, 2])
        assert len(out) == 3
        del out
        assert len(seen) == 1
        assert seen[0]() is None
    finally:
        gc.enable()
