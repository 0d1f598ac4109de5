"""Streaming daily performance bands (crmsim.experiment.bands) and the shared layout cache."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import crmsim.experiment.bands as bands_mod
import crmsim.experiment.runner as runner
from crmsim.engine import simulate
from crmsim.experiment import run_replications
from crmsim.experiment.bands import (
    BAND_QUANTILES,
    EXACT_MAX_REPLICATIONS,
    QUANTILE_ERROR_BOUND,
    BandAccumulator,
)
from crmsim.scenario.loader import scenario_from_dict

QCOLS = [f"q{round(q * 100):02d}" for q in BAND_QUANTILES]


def _values(rng: np.random.Generator, R: int, H: int, K: int) -> np.ndarray:
    """(R, H, K + 1) performances with many exact 0s and 1s, as real runs have."""
    v = rng.random((R, H, K + 1))
    v[rng.random(v.shape) < 0.4] = 1.0
    v[rng.random(v.shape) < 0.05] = 0.0
    return v


def _fill(acc: BandAccumulator, v: np.ndarray, order: np.ndarray) -> pd.DataFrame:
    for r in order:
        acc.add(int(r), v[r, :, 1:], v[r, :, 0])
    return acc.table()


def _exact(v: np.ndarray, markets: list[str]) -> pd.DataFrame:
    """The bands straight from numpy over every value (the reference)."""
    names = ["(all)", *markets]
    frames = []
    for s in [0, *sorted(range(1, len(names)), key=lambda i: names[i])]:
        x = v[:, :, s]
        f = pd.DataFrame({"day": np.arange(x.shape[1]), "market": names[s], "mean": x.mean(0)})
        for c, qv in zip(QCOLS, np.quantile(x, BAND_QUANTILES, axis=0), strict=True):
            f[c] = qv
        frames.append(f)
    return pd.concat(frames, ignore_index=True)


def test_exact_mode_is_numpy_quantile_and_mean():
    rng = np.random.default_rng(1)
    v = _values(rng, 40, 9, 2)
    acc = BandAccumulator(["m2", "m1"], 9, 40)
    assert acc.mode == "exact"
    got = _fill(acc, v, rng.permutation(40))
    pd.testing.assert_frame_equal(got, _exact(v, ["m2", "m1"]), check_exact=True)


def test_histogram_quantiles_are_within_the_stated_bound_of_numpy():
    rng = np.random.default_rng(2)
    R, H, K = 700, 30, 3
    v = _values(rng, R, H, K)
    acc = BandAccumulator(["c", "a", "b"], H, R, exact_max=100)
    assert acc.mode == "histogram"
    got = _fill(acc, v, np.arange(R))
    ref = _exact(v, ["c", "a", "b"])
    assert (got[["day", "market"]] == ref[["day", "market"]]).all().all()
    err = (got[QCOLS] - ref[QCOLS]).abs().to_numpy()
    assert err.max() <= QUANTILE_ERROR_BOUND + 1e-15
    assert err.max() > QUANTILE_ERROR_BOUND / 10  # a histogram, not the exact values
    assert pytest.approx(1 / 1024) == QUANTILE_ERROR_BOUND
    np.testing.assert_allclose(got["mean"], ref["mean"], rtol=0, atol=1e-12)
    # exact 0s and 1s are reported exactly, not as a bin's midpoint
    ones = ref[QCOLS].to_numpy() == 1.0
    assert ones.any()
    assert (got[QCOLS].to_numpy()[ones] == 1.0).all()


@settings(max_examples=40, deadline=None)
@given(
    R=st.integers(2, 60),
    q_atoms=st.floats(0, 1),
    seed=st.integers(0, 2**32 - 1),
)
def test_histogram_bound_holds_for_any_sample(R, q_atoms, seed):
    rng = np.random.default_rng(seed)
    v = rng.random((R, 3, 1))
    v[rng.random(v.shape) < q_atoms] = 1.0
    v[rng.random(v.shape) < q_atoms / 4] = 0.0
    acc = BandAccumulator([], 3, R, exact_max=0)
    got = _fill(acc, v, rng.permutation(R))
    ref = _exact(v, [])
    assert (got[QCOLS] - ref[QCOLS]).abs().to_numpy().max() <= QUANTILE_ERROR_BOUND + 1e-15


def test_histogram_mode_does_not_depend_on_the_order_of_arrival():
    rng = np.random.default_rng(3)
    v = _values(rng, 300, 12, 2)
    a = _fill(BandAccumulator(["x", "y"], 12, 300, exact_max=10), v, np.arange(300))
    b = _fill(BandAccumulator(["x", "y"], 12, 300, exact_max=10), v, rng.permutation(300))
    pd.testing.assert_frame_equal(a, b, check_exact=True)


def test_memory_does_not_grow_with_replications():
    H, K = 365, 40
    at = {R: BandAccumulator([str(k) for k in range(K)], H, R).nbytes for R in (250, 257, 4000)}
    assert at[257] == at[4000]
    assert at[4000] <= 1.05 * BandAccumulator([str(k) for k in range(K)], H, 256).nbytes
    assert at[250] < at[4000]  # (exact below the threshold: 250 values per cell)


def test_every_replication_is_needed_and_added_once():
    acc = BandAccumulator([], 2, 2)
    acc.add(0, np.empty((2, 0)), np.ones(2))
    with pytest.raises(ValueError, match="added twice"):
        acc.add(0, np.empty((2, 0)), np.ones(2))
    with pytest.raises(ValueError, match="1 of 2 replications"):
        acc.table()
    with pytest.raises(ValueError, match="not in 0"):
        acc.add(2, np.empty((2, 0)), np.ones(2))
    hist = BandAccumulator([], 2, 5, exact_max=1)
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        hist.add(0, np.empty((2, 0)), np.array([0.5, 1.5]))


# ----------------------------------------------------------------- in run_replications

#: Two markets listed "zeta" before "alpha", with different shortfalls.
TWO = {
    "crmsim": 1,
    "name": "two markets",
    "warmup_days": 5,
    "horizon_days": 40,
    "materials": [{"id": "ore"}],
    "nodes": [
        {"id": "mine", "role": "mine", "country": "AUS", "output": "ore", "capacity": 16},
        {"id": "zeta", "role": "market", "country": "DEU", "demand": {"mean": 10, "cv": 0.4}},
        {"id": "alpha", "role": "market", "country": "FRA", "demand": {"mean": 4, "cv": 0.2}},
    ],
    "edges": [
        {"from": "mine", "to": "zeta", "lead_time": 3},
        {"from": "mine", "to": "alpha", "lead_time": 3},
    ],
    "disruptions": [
        {
            "id": "flood",
            "kind": "outage",
            "target": {"node": "mine"},
            "random": {"rate_per_year": 20, "duration": {"exponential": {"mean": 4}}},
        }
    ],
}


def _reference(s, R, seed):
    per = [simulate(s, seed, replication=r, record="summary") for r in range(R)]
    markets = list(per[0].market_names)
    v = np.stack([np.column_stack([p.performance, p.market_performance]) for p in per])
    return _exact(v, markets)


def test_bands_of_a_run_match_each_market_computed_alone():
    s = scenario_from_dict(TWO)
    run = run_replications(s, 9, 4, workers=1, keep_first_daily=False)
    ref = _reference(s, 9, 4)
    assert list(run.bands["market"].unique()) == ["(all)", "alpha", "zeta"]
    assert run.bands[QCOLS].std().max() > 0  # the outages make the bands vary
    pd.testing.assert_frame_equal(run.bands, ref, check_exact=True)


def test_a_large_run_streams_histogram_bands_identical_for_any_workers(monkeypatch):
    monkeypatch.setattr(bands_mod, "EXACT_MAX_REPLICATIONS", 5)
    s = scenario_from_dict(TWO)
    serial = run_replications(s, 14, 4, workers=1, keep_first_daily=False)
    pooled = run_replications(s, 14, 4, workers=2, keep_first_daily=False)
    pd.testing.assert_frame_equal(serial.bands, pooled.bands, check_exact=True)
    ref = _reference(s, 14, 4)
    assert (serial.bands[QCOLS] - ref[QCOLS]).abs().to_numpy().max() <= QUANTILE_ERROR_BOUND
    assert (serial.bands[QCOLS] != ref[QCOLS]).any().any()  # histogram, not exact
    np.testing.assert_allclose(serial.bands["mean"], ref["mean"], rtol=0, atol=1e-12)
    assert list(serial.bands.columns) == ["day", "market", "mean", *QCOLS]


def test_exact_threshold_is_the_documented_one():
    assert EXACT_MAX_REPLICATIONS == 256


# ----------------------------------------------------------------- the layout cache


def test_graph_and_layout_are_built_once_per_scenario(monkeypatch):
    import crmsim.engine.layout as layout_mod

    built = []
    real = layout_mod.build_layout

    def counting(*args, **kwargs):
        built.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(layout_mod, "build_layout", counting)
    monkeypatch.setattr(runner, "_prepared", type(runner._prepared)())
    s = scenario_from_dict(TWO)
    first = runner._prepare(s)
    assert runner._prepare(s) is first
    assert runner._prepare(scenario_from_dict(TWO)) is first  # equal scenario, same key
    run_replications(s, 3, 1, workers=1, keep_first_daily=False)
    assert len(built) == 1
    other = {**TWO, "horizon_days": 41}
    assert runner._prepare(scenario_from_dict(other)) is not first
    assert len(built) == 2


def test_the_layout_cache_is_bounded(monkeypatch):
    monkeypatch.setattr(runner, "_prepared", type(runner._prepared)())
    monkeypatch.setattr(runner, "PREPARED_CACHE_SIZE", 2)
    scenarios = [scenario_from_dict({**TWO, "horizon_days": 30 + i}) for i in range(4)]
    for s in scenarios:
        runner._prepare(s)
    assert len(runner._prepared) == 2
    assert list(runner._prepared) == [runner.scenario_key(s) for s in scenarios[2:]]
    # a cached layout gives the same results as a fresh one
    a = run_replications(scenarios[3], 3, 2, workers=1, keep_first_daily=False)
    runner._prepared.clear()
    b = run_replications(scenarios[3], 3, 2, workers=1, keep_first_daily=False)
    pd.testing.assert_frame_equal(
        a.summary.drop(columns="seconds"), b.summary.drop(columns="seconds")
    )
