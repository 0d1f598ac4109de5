"""The batch's streams draw exactly the numbers of numpy's own SeedSequence streams.

:class:`~crmsim.engine.streams.BatchStreams` runs the SeedSequence hash over a batch with
numpy (:func:`~crmsim.engine.streams.seed_states`); every replication must still see the
stream ``SeedSequence(seed, spawn_key=(r, *stream_key(name)))`` gives, or common random
numbers and the batch-size identity break.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crmsim.engine.state import draw_demand, draw_demand_batch
from crmsim.engine.streams import BatchStreams, Streams, seed_states
from crmsim.scenario.schema import Demand

WORD = st.integers(0, 2**32 - 1)


@settings(max_examples=200, deadline=None)
@given(
    seed=st.one_of(st.integers(0, 2**32 - 1), st.integers(0, 2**200)),
    keys=st.lists(st.lists(WORD, min_size=3, max_size=3), min_size=1, max_size=5),
)
def test_seed_states_are_numpys_seed_sequence(seed, keys):
    got = seed_states(seed, np.array(keys, dtype=np.int64))
    for row, key in zip(got, keys, strict=True):
        want = np.random.SeedSequence(seed, spawn_key=tuple(key)).generate_state(4, np.uint64)
        assert row.tolist() == want.tolist()


@pytest.mark.parametrize("width", [0, 1, 2, 6])
def test_seed_states_for_spawn_keys_of_any_length(width):
    # Shorter and longer than the pool of four words: both branches of the hash.
    keys = np.arange(3 * width, dtype=np.int64).reshape(3, width) * 977 + 5
    got = seed_states(123456789, keys)
    for row, key in zip(got, keys.tolist(), strict=True):
        ss = np.random.SeedSequence(123456789, spawn_key=tuple(key))
        assert row.tolist() == ss.generate_state(4, np.uint64).tolist()


def test_seed_states_refuse_what_they_cannot_hash():
    with pytest.raises(ValueError, match="non-negative"):
        seed_states(-1, np.zeros((1, 3), dtype=np.int64))
    with pytest.raises(ValueError, match="32-bit words"):
        seed_states(1, np.array([[2**32, 0, 0]]))


@pytest.mark.parametrize("seed", [0, 7, 2**40 + 3])
def test_batch_streams_draw_what_each_replication_draws_alone(seed):
    reps = [0, 3, 1, 2**31]
    batch = BatchStreams(seed, reps)
    for name in (("demand", "m"), ("disruption", "d1", "mine_a"), ("lead_time", "a", "b", "x")):
        rows = batch.get_all(*name)
        for pos, r in enumerate(reps):
            alone = Streams(seed, r).get(*name)
            assert rows[pos].random(5).tolist() == alone.random(5).tolist()
            # A row view asks the same cache: a second stream of the name starts afresh.
            again = batch.replication(pos).get(*name)
            assert again.standard_normal(3).tolist() == (
                Streams(seed, r).get(*name).standard_normal(3).tolist()
            )


def test_batch_streams_fall_back_to_seed_sequence_beyond_one_word():
    # A replication number of two words cannot use the one-word fast hash: same numbers.
    batch = BatchStreams(5, [2**33])
    assert batch.get(0, "x").random() == Streams(5, 2**33).get("x").random()


@pytest.mark.parametrize(
    "spec",
    [
        Demand(mean=10, cv=0.2),
        Demand(mean=10, cv=0.0),
        Demand(mean=0, cv=0.2),
        Demand(mean=4, cv=0.5, distribution="gamma"),
        Demand(mean=4, distribution="poisson"),
        Demand(mean=10, cv=0.3, growth_per_year=0.5),
    ],
)
def test_batched_demand_draws_are_each_streams_draws(spec):
    mult = np.linspace(1.0, 2.0, 30) if spec.grows else None
    got = draw_demand_batch(spec, [np.random.default_rng(k) for k in range(4)], 30, mult)
    for k in range(4):
        want = draw_demand(spec, np.random.default_rng(k), 30, mult)
        assert got[:, k].tobytes() == want.tobytes()
