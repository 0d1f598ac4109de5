"""The independent balance checks fail on a deliberately broken engine (planted faults).

Each test plants one fault in an otherwise correct run and asserts that the check that
guards against it fails and names itself; the unbroken run passes every check.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from crmsim.engine import BatchEngine, ConsistencyError, Engine, SimulationResult, simulate, stages
from crmsim.engine.consistency import check_all
from crmsim.scenario.loader import scenario_from_dict


def _two_tier(disruptions=()):
    """A mine → a processor with recipe 2 → a market, and a recycler of end-of-life goods."""
    return scenario_from_dict(
        {
            "crmsim": 1,
            "name": "faults",
            "warmup_days": 5,
            "horizon_days": 80,
            "materials": [
                {"id": "ore"},
                {"id": "goods", "lifetime": 10, "content": {"ore": 0.5}},
            ],
            "nodes": [
                {"id": "mine", "role": "mine", "country": "AUS", "output": "ore", "capacity": 50},
                {
                    "id": "maker",
                    "role": "processor",
                    "country": "DEU",
                    "output": "goods",
                    "capacity": 30,
                    "recipe": {"ore": 2.0},
                },
                {"id": "city", "role": "market", "country": "DEU", "demand": {"mean": 10}},
                {
                    "id": "rec",
                    "role": "recycler",
                    "country": "DEU",
                    "output": "ore",
                    "capacity": 20,
                    "collection_rate": 0.8,
                    "recovery_efficiency": 0.75,
                },
                {
                    "id": "rec2",
                    "role": "recycler",
                    "country": "FRA",
                    "output": "ore",
                    "capacity": 20,
                    "collection_rate": 0.5,
                },
            ],
            "edges": [
                {"from": "mine", "to": "maker", "share": 1.0, "lead_time": 6},
                {"from": "rec", "to": "maker", "share": 0.0, "lead_time": 1, "qualified": True},
                {"from": "rec2", "to": "maker", "share": 0.0, "lead_time": 1, "qualified": True},
                {"from": "maker", "to": "city", "lead_time": 2},
            ],
            "disruptions": list(disruptions),
        }
    )


DELAY = {
    "id": "canal",
    "kind": "logistics",
    "target": {"node": "mine"},
    "start": 10,
    "duration": 20,
    "factor": 2.5,
}


def _run(engine: Engine) -> SimulationResult:
    engine.run()
    assert engine.result is not None
    return SimulationResult("faults", engine.seed, 0, engine.stats, engine.result)


def _failed(engine: Engine) -> set[str]:
    return {v.invariant for v in check_all(_run(engine)._engine, strict=False)}


def test_the_unbroken_run_passes_every_check():
    res = simulate(_two_tier([DELAY]), seed=3)
    assert res.check_consistency() == []
    res.check_conservation()
    # The recyclers do get feedstock, so their checks are not vacuous.
    assert (res.recycling["collected"] > 0).all()


def _plant(eng: Engine, **changes) -> Engine:
    """Plant a fault in the per-scenario arrays of one engine (never the shared ones)."""
    eng.batch.state.st = replace(eng.batch.state.st, **changes)
    return eng


def test_a_logistics_delay_that_drops_goods_from_the_calendar_is_caught(monkeypatch):
    def lossy(s, r, edges, day, factor):
        for e in edges:
            s.ring[:, r, s.st.ring_pos[e]] = 0.0  # goods vanish; the counter keeps them

    monkeypatch.setattr(stages, "delay_in_transit", lossy)
    eng = Engine(_two_tier([DELAY]), seed=3)
    res = _run(eng)
    res.check_conservation()  # the ledger alone does not see it (it trusts the counter)
    with pytest.raises(ConsistencyError, match="transit_matches_calendar") as err:
        res.check_consistency()
    assert err.value.invariant == "transit_matches_calendar"
    assert "mine -> maker" in str(err.value)


def test_a_recipe_coefficient_ignored_in_consumption_is_caught():
    eng = Engine(_two_tier(), seed=3)
    # Takes 1 ore per unit instead of 2.
    _plant(eng, prod_coef=np.ones_like(eng.batch.static.prod_coef))
    res = _run(eng)
    res.check_conservation()  # consumed_m follows the same wrong number: still balances
    with pytest.raises(ConsistencyError, match="consumption_matches_recipes") as err:
        res.check_consistency()
    assert "node maker, input ore" in str(err.value)


def test_end_of_life_material_disappearing_from_a_recycler_is_caught(monkeypatch):
    settle = BatchEngine._settle

    def leaky(self, d):
        settle(self, d)
        self.state.pool *= 0.9  # a tenth of what awaits recovery vanishes each day

    monkeypatch.setattr(BatchEngine, "_settle", leaky)
    res = _run(Engine(_two_tier(), seed=3))
    res.check_conservation()  # end-of-life material is outside the material ledger
    with pytest.raises(ConsistencyError, match="recycling_pool_balances"):
        res.check_consistency()


def test_end_of_life_split_between_two_recyclers_ignored_is_caught():
    eng = Engine(_two_tier(), seed=3)
    # Each recycler collects the market's whole end of life instead of half of it.
    recycling = [
        replace(p, sources=tuple((c, 1.0, k) for c, _, k in p.sources))
        for p in eng.batch.static.recycling
    ]
    _plant(eng, recycling=recycling)
    assert {v for v in _failed(eng)} == {"end_of_life_bounded"}


def test_a_clip_that_fires_is_a_failure_not_a_fix():
    outage = {
        "id": "down",
        "kind": "outage",
        "target": {"node": "mine"},
        "start": 5,
        "duration": 40,
    }
    eng = Engine(_two_tier([outage]), seed=3)
    _plant(eng, slot_groups=None)  # production no longer limited by its inputs
    res = _run(eng)
    found = check_all(res._engine, strict=False)
    clipped = [v for v in found if v.invariant == "no_negative_stock_before_clip"]
    assert [v.where for v in clipped] == ["node maker, input ore"]
    assert clipped[0].actual < -1  # it went well below zero before the clip hid it
    assert (res.daily["on_hand"] >= 0).all()  # which the on-hand record cannot show


def test_a_planted_fault_does_not_leak_into_other_runs():
    from crmsim.engine.layout import build_layout
    from crmsim.network.graph import build_graph

    s = _two_tier()
    G = build_graph(s)
    lay = build_layout(G)
    planted = _plant(Engine(s, 3, layout=lay, graph=G), slot_groups=None)
    other = Engine(s, 3, layout=lay, graph=G)  # shares the layout's arrays
    assert planted.batch.state.st.slot_groups is None
    assert other.batch.state.st.slot_groups is not None


def test_a_nan_in_the_ledger_fails_both_balance_checks():
    res = simulate(_two_tier(), seed=3)
    res._engine.produced_m[0] = math.nan
    with pytest.raises(ConsistencyError, match="ledger_balances"):
        res.check_consistency()
    # check_conservation used to pass on NaN (NaN > tol is False).
    res.__dict__.pop("ledger", None)
    with pytest.raises(AssertionError, match="not conserved"):
        res.check_conservation()
