"""Random streams: one numpy Generator per random source, keyed by name.

Every random source (a market's demand, a stochastic disruption's arrivals at one target,
an edge's lead times, an entrant's finance draw...) gets its own
:class:`numpy.random.Generator`, derived from the experiment's root seed, the replication
number and a stable hash of the source's *name*. Because streams are keyed by name rather
than by position, adding a node (a policy) creates a new stream and leaves every other
stream untouched: replication ``r`` of every policy sees the same disruptions and demand
(common random numbers). No global random state is ever used.

:class:`Streams` is one replication's streams, made by numpy's own
:class:`~numpy.random.SeedSequence`. :class:`BatchStreams` gives the streams of a batch of
replications with the *same* numbers at a fraction of the cost: it runs the SeedSequence
hash for every replication of the batch at once (:func:`seed_states`, numpy over the
replications) and seeds each ``PCG64`` with the words it computed. ``SeedSequence``
itself costs about 10 µs per stream, and a replication of a 100-node network has about
100 streams.

Examples
--------
>>> s = Streams(seed=7, replication=0)
>>> a = s.get("demand", "eu_patients").random()
>>> b = Streams(seed=7, replication=0).get("demand", "eu_patients").random()
>>> a == b
True
>>> s.get("demand", "other").random() != a
True
>>> BatchStreams(7, [5, 0]).replication(1).get("demand", "eu_patients").random() == a
True
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.random.bit_generator import ISeedSequence

__all__ = ["BatchStreams", "Streams", "seed_states", "stream_key"]


def stream_key(*names: str) -> tuple[int, int]:
    """A stable 64-bit key (two 32-bit words) for a stream name.

    Independent of ``PYTHONHASHSEED`` (uses BLAKE2b, not :func:`hash`).
    """
    digest = hashlib.blake2b("\x1f".join(names).encode(), digest_size=8).digest()
    return int.from_bytes(digest[:4], "little"), int.from_bytes(digest[4:], "little")


class Streams:
    """Named random streams of one replication.

    Parameters
    ----------
    seed : int
        The experiment's root seed (entropy of the root :class:`numpy.random.SeedSequence`).
    replication : int
        Replication number ``r``; the stream for a name is
        ``SeedSequence(seed, spawn_key=(r, *stream_key(name)))``, i.e. the same tree that
        ``SeedSequence(seed).spawn(R)[r]`` starts.
    """

    def __init__(self, seed: int, replication: int = 0):
        self.seed = int(seed)
        self.replication = int(replication)

    def get(self, *names: str) -> np.random.Generator:
        """A new Generator for the named source (the same name gives the same stream)."""
        ss = np.random.SeedSequence(self.seed, spawn_key=(self.replication, *stream_key(*names)))
        return np.random.Generator(np.random.PCG64(ss))


# numpy's SeedSequence constants (numpy/random/bit_generator.pyx).
_POOL = 4
_INIT_A, _MULT_A = 0x43B0D7E5, 0x931E8875
_INIT_B, _MULT_B = 0x8B51F9DD, 0x58F38DED
_MIX_L, _MIX_R = 0xCA01F9DD, 0x4973F715
_M32 = 0xFFFFFFFF


def _words(n: int) -> list[int]:
    """An integer as SeedSequence reads it: 32-bit words, least significant first."""
    out = [n & _M32]
    n >>= 32
    while n:
        out.append(n & _M32)
        n >>= 32
    return out


def seed_states(seed: int, spawn_keys: np.ndarray) -> np.ndarray:
    """``SeedSequence(seed, spawn_key=k).generate_state(4, uint64)`` for many keys at once.

    The same hash as numpy's :class:`~numpy.random.SeedSequence` (its pool of four words,
    then four 64-bit words of output), run with numpy over the rows of ``spawn_keys``
    (uint32 arithmetic wraps, as in numpy's C code).

    Parameters
    ----------
    seed : int
        Root entropy, ``>= 0``.
    spawn_keys : numpy.ndarray
        ``(n, k)`` spawn keys whose elements are each below ``2**32`` (one word each).

    Returns
    -------
    numpy.ndarray
        ``(n, 4)`` uint64: the words ``PCG64`` seeds itself from.

    Examples
    --------
    >>> keys = np.array([[3, 1, 2], [0, 9, 9]])
    >>> got = seed_states(7, keys)
    >>> want = [np.random.SeedSequence(7, spawn_key=tuple(k)).generate_state(4, np.uint64)
    ...         for k in keys.tolist()]
    >>> bool((got == np.array(want)).all())
    True
    """
    if seed < 0:
        raise ValueError(f"seed must be non-negative, not {seed}")
    keys = np.asarray(spawn_keys)
    if keys.ndim != 2 or (keys.size and (keys.min() < 0 or keys.max() > _M32)):
        raise ValueError("spawn keys must be a 2-D array of 32-bit words")
    n = keys.shape[0]
    run = _words(seed)
    if keys.shape[1] and len(run) < _POOL:
        run = run + [0] * (_POOL - len(run))
    entropy = [np.full(n, w, dtype=np.uint32) for w in run]
    entropy += [keys[:, j].astype(np.uint32) for j in range(keys.shape[1])]
    hc = _INIT_A

    def hashmix(value: np.ndarray) -> np.ndarray:
        nonlocal hc
        value = value ^ np.uint32(hc)
        hc = (hc * _MULT_A) & _M32
        value = value * np.uint32(hc)
        return value ^ (value >> np.uint32(16))

    def mix(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        result: np.ndarray = x * np.uint32(_MIX_L) - y * np.uint32(_MIX_R)
        return result ^ (result >> np.uint32(16))

    zero = np.zeros(n, dtype=np.uint32)
    mixer = [hashmix(entropy[i] if i < len(entropy) else zero) for i in range(_POOL)]
    for i_src in range(_POOL):
        for i_dst in range(_POOL):
            if i_src != i_dst:
                mixer[i_dst] = mix(mixer[i_dst], hashmix(mixer[i_src]))
    for i_src in range(_POOL, len(entropy)):
        for i_dst in range(_POOL):
            mixer[i_dst] = mix(mixer[i_dst], hashmix(entropy[i_src]))
    out = np.empty((n, 2 * _POOL), dtype=np.uint32)
    hb = _INIT_B
    for i_dst in range(2 * _POOL):
        value = mixer[i_dst % _POOL] ^ np.uint32(hb)
        hb = (hb * _MULT_B) & _M32
        value = value * np.uint32(hb)
        out[:, i_dst] = value ^ (value >> np.uint32(16))
    return out.astype("<u4").view("<u8").astype(np.uint64)


class _Seeded(ISeedSequence):
    """A seed sequence whose state words are already computed (by :func:`seed_states`)."""

    __slots__ = ("words",)

    def __init__(self, words: np.ndarray):
        self.words = words

    def generate_state(self, n_words: int, dtype: Any = np.uint32) -> Any:
        """The precomputed words (only what ``PCG64`` asks for: 4 words of uint64)."""
        if n_words != _POOL or np.dtype(dtype) != np.dtype(np.uint64):
            raise ValueError("precomputed for PCG64 only (4 words of uint64)")
        return self.words


class BatchStreams:
    """Named random streams of a batch of replications: the numbers of :class:`Streams`.

    The first request for a name computes the seed words of that name for every
    replication of the batch at once; each Generator is then seeded from its row.

    Parameters
    ----------
    seed : int
        The experiment's root seed.
    replications : sequence of int
        Replication numbers of the batch's rows.
    """

    def __init__(self, seed: int, replications: Sequence[int]):
        self.seed = int(seed)
        self.replications = [int(r) for r in replications]
        # The vectorised hash reads each spawn-key element as one 32-bit word; anything
        # else (never in practice) goes through numpy's SeedSequence.
        self._fast = self.seed >= 0 and all(0 <= r <= _M32 for r in self.replications)
        self._reps = np.asarray(self.replications if self._fast else [0], dtype=np.int64)
        self._states: dict[tuple[str, ...], np.ndarray] = {}

    def get(self, pos: int, *names: str) -> np.random.Generator:
        """The Generator of batch row ``pos`` for the named source."""
        if not self._fast:
            return Streams(self.seed, self.replications[pos]).get(*names)
        states = self._states.get(names)
        if states is None:
            a, b = stream_key(*names)
            keys = np.empty((self._reps.size, 3), dtype=np.int64)
            keys[:, 0] = self._reps
            keys[:, 1], keys[:, 2] = a, b
            states = seed_states(self.seed, keys)
            self._states[names] = states
        # numpy's bit generators take any ISeedSequence (its documented interface); the
        # stubs only list SeedSequence.
        seeded: Any = _Seeded(states[pos])
        return np.random.Generator(np.random.PCG64(seeded))

    def get_all(self, *names: str) -> list[np.random.Generator]:
        """The Generators of every row of the batch for the named source, in row order."""
        return [self.get(pos, *names) for pos in range(len(self.replications))]

    def replication(self, pos: int) -> _Row:
        """The streams of batch row ``pos`` (with the ``get(*names)`` of :class:`Streams`)."""
        return _Row(self, pos)


class _Row(Streams):
    """One row of a :class:`BatchStreams` (a :class:`Streams` drawing the same numbers)."""

    def __init__(self, batch: BatchStreams, pos: int):
        super().__init__(batch.seed, batch.replications[pos])
        self._batch, self._pos = batch, pos

    def get(self, *names: str) -> np.random.Generator:
        return self._batch.get(self._pos, *names)
