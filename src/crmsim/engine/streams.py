"""Random streams: one numpy Generator per random source, keyed by name.

Every random source (a market's demand, a stochastic disruption's arrivals at one target,
an edge's lead times, an entrant's finance draw...) gets its own
:class:`numpy.random.Generator`, derived from the experiment's root seed, the replication
number and a stable hash of the source's *name*. Because streams are keyed by name rather
than by position, adding a node (a policy) creates a new stream and leaves every other
stream untouched: replication ``r`` of every policy sees the same disruptions and demand
(common random numbers). No global random state is ever used.

Examples
--------
>>> s = Streams(seed=7, replication=0)
>>> a = s.get("demand", "eu_patients").random()
>>> b = Streams(seed=7, replication=0).get("demand", "eu_patients").random()
>>> a == b
True
>>> s.get("demand", "other").random() != a
True
"""

from __future__ import annotations

import hashlib

import numpy as np

__all__ = ["Streams", "stream_key"]


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
