"""Invariants of the engine over random networks and random disruptions (Hypothesis)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crmsim.engine import simulate
from crmsim.scenario.loader import scenario_from_dict

COUNTRIES = ["CHN", "IND", "DEU", "AUS", "TJK"]
SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _shares(draw, n: int) -> list[float]:
    w = [draw(st.integers(1, 9)) for _ in range(n)]
    total = sum(w)
    shares = [x / total for x in w]
    shares[-1] = 1.0 - sum(shares[:-1])
    return shares


def _lead(draw):
    kind = draw(st.sampled_from(["fixed", "uniform", "exponential"]))
    if kind == "fixed":
        return draw(st.integers(0, 12))
    if kind == "uniform":
        low = draw(st.integers(0, 8))
        return {"uniform": {"low": low, "high": low + draw(st.integers(0, 6))}}
    return {"exponential": {"mean": draw(st.floats(0.5, 10))}}


@st.composite
def networks(draw):
    """A random valid 3-tier scenario (mines → processors → markets) with disruptions."""
    n_mines = draw(st.integers(1, 3))
    n_proc = draw(st.integers(1, 3))
    n_mkt = draw(st.integers(1, 2))
    nodes, edges = [], []
    mines = [f"m{i}" for i in range(n_mines)]
    procs = [f"p{i}" for i in range(n_proc)]
    mkts = [f"k{i}" for i in range(n_mkt)]
    for m in mines:
        nodes.append(
            {
                "id": m,
                "role": "mine",
                "country": draw(st.sampled_from(COUNTRIES)),
                "output": "ore",
                "capacity": draw(st.floats(1, 60)),
                "stock_days": draw(st.floats(0, 10)),
            }
        )
    for p in procs:
        nodes.append(
            {
                "id": p,
                "role": "processor",
                "country": draw(st.sampled_from(COUNTRIES)),
                "output": "metal",
                "capacity": draw(st.floats(1, 40)),
                "recipe": {"ore": draw(st.floats(0.5, 3))},
                "stock_days": draw(st.floats(0, 10)),
            }
        )
        sup = draw(st.lists(st.sampled_from(mines), min_size=1, max_size=n_mines, unique=True))
        for s, share in zip(sup, _shares(draw, len(sup)), strict=True):
            edges.append(
                {
                    "from": s,
                    "to": p,
                    "share": share,
                    "lead_time": _lead(draw),
                    "qualified": draw(st.booleans()),
                }
            )
        for s in mines:
            if s not in sup and draw(st.booleans()):
                edges.append(
                    {"from": s, "to": p, "share": 0.0, "lead_time": _lead(draw), "qualified": True}
                )
    for k in mkts:
        nodes.append(
            {
                "id": k,
                "role": "market",
                "country": draw(st.sampled_from(COUNTRIES)),
                "demand": {
                    "mean": draw(st.one_of(st.just(0.0), st.floats(1e-9, 20))),  # 0 or >= 1e-9
                    "cv": draw(st.floats(0, 0.6)),
                    "distribution": draw(st.sampled_from(["normal", "gamma", "poisson"])),
                    "backorders": draw(st.booleans()),
                },
                "stock_days": draw(st.floats(0, 10)),
            }
        )
        sup = draw(st.lists(st.sampled_from(procs), min_size=1, max_size=n_proc, unique=True))
        for s, share in zip(sup, _shares(draw, len(sup)), strict=True):
            edges.append(
                {
                    "from": s,
                    "to": k,
                    "share": share,
                    "lead_time": _lead(draw),
                    "qualified": draw(st.booleans()),
                }
            )
    disruptions = []
    for i in range(draw(st.integers(0, 4))):
        kind = draw(st.sampled_from(["outage", "export_restriction", "logistics", "demand_shock"]))
        target = draw(
            st.sampled_from(
                [
                    {"country": draw(st.sampled_from(COUNTRIES))},
                    {"role": draw(st.sampled_from(["mine", "processor", "market"]))},
                    {"node": draw(st.sampled_from(mines + procs + mkts))},
                ]
            )
        )
        d = {"id": f"d{i}", "kind": kind, "target": target}
        if draw(st.booleans()):
            d["start"] = draw(st.integers(0, 50))
            d["duration"] = draw(st.integers(0, 60))
        else:
            d["random"] = {
                "rate_per_year": draw(st.floats(0.5, 20)),
                "duration": {"exponential": {"mean": draw(st.floats(1, 30))}},
            }
        if kind in ("outage", "export_restriction"):
            d["severity"] = draw(st.floats(0, 1))
        if kind == "outage":
            d["recovery_days"] = draw(st.integers(0, 10))
            d["stock_loss"] = draw(st.sampled_from([0.0, 0.5]))
        if kind in ("logistics", "demand_shock"):
            d["factor"] = draw(st.floats(0.5, 3))
        disruptions.append(d)
    materials = [{"id": "ore"}, {"id": "metal"}]
    # Policy levers at run time: an entrant, a recycler of end-of-life metal, a stockpile
    # with a release rule (each drawn or not).
    if draw(st.booleans()):
        nodes.append(
            {
                "id": "e0",
                "role": "mine",
                "country": draw(st.sampled_from(COUNTRIES)),
                "output": "ore",
                "capacity": draw(st.floats(1, 30)),
                "size": "small",
                "entry": {
                    "day": draw(st.integers(0, 40)),
                    "ramp_up_days": draw(st.integers(0, 20)),
                    "qualification_days": draw(st.integers(0, 10)),
                    "exit_hazard_per_year": draw(st.sampled_from([0.0, 5.0])),
                },
            }
        )
        edges.append(
            {
                "from": "e0",
                "to": procs[0],
                "share": 0.0,
                "lead_time": _lead(draw),
                "qualified": True,
            }
        )
    if draw(st.booleans()):
        materials[1] = {
            "id": "metal",
            "lifetime": draw(
                st.sampled_from(
                    [
                        draw(st.integers(0, 40)),
                        {"exponential": {"mean": draw(st.floats(1, 40))}},
                        {"normal": {"mean": draw(st.floats(0, 30)), "sd": draw(st.floats(0, 20))}},
                    ]
                )
            ),
            "content": {"ore": draw(st.floats(0.05, 1.0))},
        }
        for node in nodes:
            if node["role"] == "market" and draw(st.booleans()):
                node["in_use_initial"] = "steady_state"
        for r in range(draw(st.integers(1, 2))):
            nodes.append(
                {
                    "id": f"r{r}",
                    "role": "recycler",
                    "country": draw(st.sampled_from(COUNTRIES)),
                    "output": "ore",
                    "capacity": draw(st.floats(1, 30)),
                    "collection_rate": draw(st.floats(0, 1)),
                    "recovery_efficiency": draw(st.floats(0, 1)),
                }
            )
            edges.append(
                {
                    "from": f"r{r}",
                    "to": draw(st.sampled_from(procs)),
                    "share": 0.0,
                    "lead_time": _lead(draw),
                    "qualified": True,
                }
            )
    if draw(st.booleans()):
        rule = draw(
            st.sampled_from(
                [
                    {"below_fill_rate": draw(st.floats(0.5, 1.0))},
                    {"below_days_of_cover": draw(st.floats(0, 5))},
                ]
            )
        )
        nodes.append(
            {
                "id": "s0",
                "role": "stockpile",
                "country": draw(st.sampled_from(COUNTRIES)),
                "output": "metal",
                "stock_days": draw(st.floats(0, 20)),
                "release": {"to": mkts[0], "replenish": draw(st.booleans()), **rule},
            }
        )
        edges.append({"from": procs[0], "to": "s0", "share": 1.0, "lead_time": _lead(draw)})
        edges.append({"from": "s0", "to": mkts[0], "share": 0.0, "lead_time": _lead(draw)})
    return {
        "crmsim": 1,
        "name": "random",
        "warmup_days": draw(st.integers(0, 20)),
        "horizon_days": draw(st.integers(1, 80)),
        "simulation": {"switching_delay_days": draw(st.integers(0, 10))},
        "materials": materials,
        "nodes": nodes,
        "edges": edges,
        "disruptions": disruptions,
    }


@SETTINGS
@given(networks(), st.integers(0, 2**32 - 1))
def test_every_balance_invariant_holds(data, seed):
    # The independent checks (engine/consistency.py): calendar vs. in transit, recipes,
    # recycling pools, end of life, no stock below zero *before* a clip, and the ledger.
    res = simulate(scenario_from_dict(data), seed=seed)
    res.check_conservation(rtol=1e-9)
    assert res.check_consistency() == []
    daily = res.daily
    for col in ("produced", "shipped", "received", "consumed", "served", "unmet"):
        assert (daily[col].dropna() >= -1e-9).all(), col


@SETTINGS
@given(networks(), st.integers(0, 2**32 - 1))
def test_metrics_agree_with_the_unclipped_record(data, seed):
    # The metrics clip ratios into [0, 1]; the record they come from must already be there.
    res = simulate(scenario_from_dict(data), seed=seed, record="summary")
    md = res.market_daily
    demand, served = md["demand"].to_numpy(), md["served"].to_numpy()
    assert np.isfinite(demand).all()
    assert np.isfinite(served).all()
    assert (served >= -1e-9).all()
    assert (served <= demand + 1e-9 * (1 + demand)).all()  # never more than asked that day
    assert (md["served_incl_backorders"] >= served - 1e-9).all()
    np.testing.assert_allclose(md["unmet"], demand - served, atol=1e-9)
    s = res.summary
    total = demand.sum()
    unclipped = served.sum() / total if total > 0 else 1.0
    assert s["fill_rate"] == pytest.approx(unclipped, abs=1e-12)
    by_day = md.groupby("day")[["demand", "served"]].sum()
    d, v = by_day["demand"].to_numpy(), by_day["served"].to_numpy()
    p = np.where(d > 0, v / np.where(d > 0, d, 1.0), 1.0)
    assert s["nadir"] == pytest.approx(float(p.min()), abs=1e-12)
    assert s["resilience_loss"] == pytest.approx(float((1 - p).sum()), abs=1e-9)


@SETTINGS
@given(networks(), st.integers(0, 2**32 - 1), st.randoms(use_true_random=False))
def test_same_seed_same_result_whatever_the_order_in_the_file(data, seed, rnd):
    a = simulate(scenario_from_dict(data), seed=seed)
    shuffled = dict(data)
    for key in ("nodes", "edges", "disruptions"):
        items = list(data[key])
        rnd.shuffle(items)
        shuffled[key] = items
    b = simulate(scenario_from_dict(shuffled), seed=seed)
    c = simulate(scenario_from_dict(data), seed=seed)
    pd.testing.assert_frame_equal(a.daily, b.daily)
    pd.testing.assert_frame_equal(a.daily, c.daily)
    pd.testing.assert_frame_equal(a.disruptions, b.disruptions)
    assert a.summary == b.summary == c.summary


def test_adding_a_node_does_not_change_other_draws():
    """Common random numbers: a new node leaves the demand and disruptions of others alone."""
    base = {
        "crmsim": 1,
        "name": "crn",
        "warmup_days": 5,
        "horizon_days": 200,
        "materials": [{"id": "ore"}],
        "nodes": [
            {"id": "mine", "role": "mine", "country": "CHN", "output": "ore", "capacity": 30},
            {"id": "city", "role": "market", "country": "DEU", "demand": {"mean": 10, "cv": 0.4}},
        ],
        "edges": [{"from": "mine", "to": "city", "lead_time": 4}],
        "disruptions": [
            {
                "id": "x",
                "kind": "outage",
                "target": {"role": "mine"},
                "random": {"rate_per_year": 6, "duration": 8},
            }
        ],
    }
    more = {
        **base,
        "nodes": [
            *base["nodes"],
            {"id": "aaa_new", "role": "mine", "country": "AUS", "output": "ore", "capacity": 5},
        ],
        "edges": [
            {"from": "mine", "to": "city", "share": 1.0, "lead_time": 4},
            {"from": "aaa_new", "to": "city", "share": 0.0, "lead_time": 4, "qualified": True},
        ],
    }
    a = simulate(scenario_from_dict(base), seed=9)
    b = simulate(scenario_from_dict(more), seed=9)
    np.testing.assert_array_equal(a.market_daily["demand"], b.market_daily["demand"])
    da = a.disruptions[a.disruptions["target"] == "mine"].reset_index(drop=True)
    db = b.disruptions[b.disruptions["target"] == "mine"].reset_index(drop=True)
    pd.testing.assert_frame_equal(
        da[["start", "end", "severity"]], db[["start", "end", "severity"]]
    )
