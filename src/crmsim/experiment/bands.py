"""Daily performance bands streamed over replications, in memory that does not grow with R.

A band is, per scored day and market (and ``"(all)"``), the mean and the quantiles
:data:`BAND_QUANTILES` of daily performance over the replications. Daily performance is a
ratio in ``[0, 1]`` (:func:`crmsim.metrics.performance.performance`), which is what makes a
fixed-size summary possible. :class:`BandAccumulator` adds one replication at a time, in any
order, and has two modes, chosen from the number of replications R before the first one
arrives:

* **exact** (R ≤ :data:`EXACT_MAX_REPLICATIONS`): every value is kept, in an array indexed
  by replication; quantiles are :func:`numpy.quantile` (linear interpolation) and the mean
  :func:`numpy.mean` over the replications in replication order — the same numbers as
  stacking every replication's array.
* **histogram** (R larger): per day and market a histogram of :data:`HISTOGRAM_BINS` bins —
  one for exactly 0 (nothing served), one for exactly 1 (everything served) and
  ``HISTOGRAM_BINS − 2`` of equal width ``w = 1 / (HISTOGRAM_BINS − 2)`` over ``(0, 1)``.
  A quantile is the linear interpolation :func:`numpy.quantile` would make between the
  two order statistics around it, each taken as the midpoint of its bin (0 or 1 for the
  end bins). **Error bound:** every order statistic is within ``w / 2`` of its bin's
  midpoint, so each reported quantile is within ``w / 2`` = :data:`QUANTILE_ERROR_BOUND`
  (1/1024 ≈ 0.00098) of the exact ``numpy.quantile`` of all the values, and exact where
  both order statistics are 0 or 1. The mean is exact to 1e-12: values are summed as
  integers in units of 2⁻⁴⁰ (so the sum, like the counts, does not depend on the order in
  which replications arrive: results are identical for any number of workers).

Both modes hold ``8 · days · series · EXACT_MAX_REPLICATIONS`` ≈ ``4 · days · series ·
HISTOGRAM_BINS`` bytes at most (about 31 MB for 365 days and 41 series), whatever R is.

Examples
--------
>>> import numpy as np
>>> acc = BandAccumulator(["a"], days=2, replications=2)
>>> acc.add(1, np.array([[0.5], [1.0]]), np.array([0.5, 1.0]))
>>> acc.add(0, np.array([[1.0], [1.0]]), np.array([1.0, 1.0]))
>>> acc.table()[["day", "market", "mean", "q50"]]
   day market  mean   q50
0    0  (all)  0.75  0.75
1    1  (all)  1.00  1.00
2    0      a  0.75  0.75
3    1      a  1.00  1.00
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = [
    "BAND_QUANTILES",
    "EXACT_MAX_REPLICATIONS",
    "HISTOGRAM_BINS",
    "QUANTILE_ERROR_BOUND",
    "BandAccumulator",
]

#: Quantiles kept for the daily performance bands.
BAND_QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)

#: Up to this many replications the bands are exact (every value kept).
EXACT_MAX_REPLICATIONS = 256

#: Bins of the histogram mode: exactly 0, 512 of width 1/512 over (0, 1), exactly 1.
HISTOGRAM_BINS = 514

#: Largest difference between a quantile of the histogram mode and the exact one.
QUANTILE_ERROR_BOUND = 0.5 / (HISTOGRAM_BINS - 2)

#: The histogram mode sums values as integers in units of 2**-_FIXED_BITS.
_FIXED_BITS = 40

#: Name of the series over all markets.
ALL = "(all)"


class BandAccumulator:
    """Mean and quantiles of daily performance over replications, added one at a time.

    Parameters
    ----------
    markets : sequence of str
        The markets, in the order of the columns of each replication's per-market array.
    days : int
        Scored days H.
    replications : int
        How many replications will be added (decides the mode; see the module).
    exact_max : int, optional
        Largest R kept exactly (default :data:`EXACT_MAX_REPLICATIONS`).

    Notes
    -----
    The bands table has one row per series (``"(all)"`` first, then the markets sorted)
    and day: ``day``, ``market``, ``mean``, ``q05``, ``q25``, ``q50``, ``q75``, ``q95``.
    """

    def __init__(
        self,
        markets: Sequence[str],
        days: int,
        replications: int,
        *,
        exact_max: int | None = None,
    ) -> None:
        self.markets = list(markets)
        self.days = int(days)
        self.replications = int(replications)
        limit = EXACT_MAX_REPLICATIONS if exact_max is None else int(exact_max)
        self.exact = self.replications <= limit
        self.added = 0
        S = len(self.markets) + 1  # series 0 is "(all)"
        if self.exact:
            self._values = np.empty((self.replications, self.days, S))
            self._seen = np.zeros(self.replications, dtype=bool)
        else:
            self._counts = np.zeros((self.days, S, HISTOGRAM_BINS), dtype=np.uint32)
            self._sums = np.zeros((self.days, S), dtype=np.int64)
            self._cells = np.arange(self.days * S, dtype=np.int64) * HISTOGRAM_BINS

    @property
    def mode(self) -> str:
        """``"exact"`` or ``"histogram"``."""
        return "exact" if self.exact else "histogram"

    @property
    def nbytes(self) -> int:
        """Bytes held for the bands."""
        if self.exact:
            return int(self._values.nbytes)
        return int(self._counts.nbytes + self._sums.nbytes + self._cells.nbytes)

    def add(self, replication: int, performance: np.ndarray, overall: np.ndarray) -> None:
        """Add one replication's daily performance.

        Parameters
        ----------
        replication : int
            Its number, ``0 … replications − 1`` (each added once, in any order).
        performance : numpy.ndarray
            Shape ``(days, markets)``: each market's daily performance, in ``[0, 1]``.
        overall : numpy.ndarray
            Shape ``(days,)``: performance over all markets.
        """
        values = np.empty((self.days, len(self.markets) + 1))
        values[:, 0] = overall
        if self.markets:
            values[:, 1:] = performance
        if not 0 <= replication < self.replications:
            raise ValueError(f"replication {replication} is not in 0 … {self.replications - 1}")
        if self.exact:
            if self._seen[replication]:
                raise ValueError(f"replication {replication} was added twice")
            self._seen[replication] = True
            self._values[replication] = values
            self.added += 1
            return
        if not ((values >= 0.0) & (values <= 1.0)).all():
            raise ValueError("daily performance must lie in [0, 1]")
        self.added += 1
        inner = HISTOGRAM_BINS - 2
        idx = np.minimum(np.floor(values * inner).astype(np.int64), inner - 1) + 1
        idx[values == 0.0] = 0
        idx[values == 1.0] = HISTOGRAM_BINS - 1
        flat = self._counts.reshape(-1)
        flat[self._cells + idx.reshape(-1)] += 1
        self._sums += np.rint(np.ldexp(values, _FIXED_BITS)).astype(np.int64)

    def add_many(
        self, replications: Sequence[int] | np.ndarray, performance: np.ndarray, overall: np.ndarray
    ) -> None:
        """Add several replications' daily performance at once (the same as :meth:`add` each).

        Parameters
        ----------
        replications : sequence of int
            Their numbers (each added once, in any order).
        performance : numpy.ndarray
            Shape ``(len(replications), days, markets)``.
        overall : numpy.ndarray
            Shape ``(len(replications), days)``.
        """
        reps = np.asarray(replications, dtype=np.int64).reshape(-1)
        if not self.exact or reps.size < 2:
            for pos, r in enumerate(reps.tolist()):
                self.add(r, performance[pos], overall[pos])
            return
        bad = reps[(reps < 0) | (reps >= self.replications)]
        if bad.size:
            raise ValueError(f"replication {bad[0]} is not in 0 … {self.replications - 1}")
        twice = np.unique(reps, return_counts=True)
        dup = twice[0][(twice[1] > 1) | self._seen[twice[0]]]
        if dup.size:
            raise ValueError(f"replication {dup[0]} was added twice")
        self._seen[reps] = True
        self._values[reps, :, 0] = overall
        if self.markets:
            self._values[reps, :, 1:] = performance
        self.added += int(reps.size)

    def table(self) -> pd.DataFrame:
        """The bands table (see the class notes), once every replication was added."""
        if self.added != self.replications:
            raise ValueError(
                f"{self.added} of {self.replications} replications added: the bands need all"
            )
        if self.exact:
            mean = self._values.mean(axis=0)  # (H, S), summed in replication order
            q = np.quantile(self._values, BAND_QUANTILES, axis=0)  # (Q, H, S)
        else:
            mean = np.ldexp(self._sums.astype(np.float64), -_FIXED_BITS) / self.replications
            q = self._histogram_quantiles()
        order = [0, *sorted(range(1, len(self.markets) + 1), key=lambda s: self.markets[s - 1])]
        names = [ALL, *self.markets]
        frames = []
        day = np.arange(self.days)
        for s in order:
            frame = pd.DataFrame({"day": day, "market": names[s], "mean": mean[:, s]})
            for qi, qv in zip(BAND_QUANTILES, q, strict=True):
                frame[f"q{round(qi * 100):02d}"] = qv[:, s]
            frames.append(frame)
        return pd.concat(frames, ignore_index=True)

    def _histogram_quantiles(self) -> np.ndarray:
        """Quantiles ``(Q, H, S)`` from the histograms (error ≤ :data:`QUANTILE_ERROR_BOUND`)."""
        inner = HISTOGRAM_BINS - 2
        mid = np.empty(HISTOGRAM_BINS)
        mid[0], mid[-1] = 0.0, 1.0
        mid[1:-1] = (np.arange(inner) + 0.5) / inner
        out = np.empty((len(BAND_QUANTILES), *self._counts.shape[:2]))
        step = 8  # days at a time: the cumulative counts of all days would double the memory
        for d0 in range(0, self.days, step):
            cum = np.cumsum(self._counts[d0 : d0 + step], axis=-1, dtype=np.int64)
            for i, qi in enumerate(BAND_QUANTILES):
                h = (self.replications - 1) * qi  # numpy's "linear" position
                lo, hi = int(np.floor(h)), int(np.ceil(h))
                # the bin holding the k-th smallest value (0-based): the first with cum > k
                x_lo = mid[np.argmax(cum > lo, axis=-1)]
                x_hi = mid[np.argmax(cum > hi, axis=-1)]
                out[i, d0 : d0 + step] = x_lo + (h - lo) * (x_hi - x_lo)
        return out
