"""Service and resilience metrics of one replication.

Definitions (docs/model.md, "Metrics"):

* performance ``P(t) = served(t) / demand(t)`` per day, 1 when there is no demand;
* fill rate ``= Σ served / Σ demand`` (1 when there is no demand);
* resilience loss (Bruneau's resilience triangle) ``L = Σ_t (1 − P(t))`` in lost days, and
  resilience index ``1 − L / H``;
* time to recover (TTR) of a disruption: days from its start until ``P`` is back at or
  above 95 % for 7 consecutive days, counted from the first day of that run, after the
  disruption's impact; censored at the horizon;
* nadir ``= min P(t)``.

"Served" means served on the day of demand (back-orders filled later do not count as
served on time).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["fill_rate", "nadir", "performance", "resilience_loss", "time_to_recover"]


def performance(served: np.ndarray, demand: np.ndarray) -> np.ndarray:
    """Daily performance ``P(t) = served / demand`` (1 on days without demand).

    Examples
    --------
    >>> performance(np.array([5.0, 0.0, 3.0]), np.array([10.0, 0.0, 3.0]))
    array([0.5, 1. , 1. ])
    """
    served = np.asarray(served, dtype=float)
    demand = np.asarray(demand, dtype=float)
    out = np.ones_like(demand)
    np.divide(served, demand, out=out, where=demand > 0)
    return np.clip(out, 0.0, 1.0, out=out)


def fill_rate(served: np.ndarray, demand: np.ndarray) -> float:
    """Share of demand served: ``Σ served / Σ demand`` (1 without demand).

    Examples
    --------
    >>> fill_rate(np.array([5.0, 10.0]), np.array([10.0, 10.0]))
    0.75
    """
    total = float(np.sum(demand))
    if total <= 0:
        return 1.0
    return float(min(1.0, max(0.0, float(np.sum(served)) / total)))


def resilience_loss(p: np.ndarray) -> tuple[float, float]:
    """Resilience loss ``L = Σ (1 − P)`` (lost days) and index ``1 − L / H``.

    Examples
    --------
    >>> resilience_loss(np.array([1.0, 0.5, 0.0, 1.0]))
    (1.5, 0.625)
    """
    p = np.asarray(p, dtype=float)
    loss = float(np.sum(1.0 - p))
    return loss, (1.0 - loss / len(p)) if len(p) else 1.0


def nadir(p: np.ndarray) -> float:
    """The lowest daily performance (1 for an empty record)."""
    return float(np.min(p)) if len(p) else 1.0


def time_to_recover(
    p: np.ndarray,
    start: int | np.ndarray,
    impact_by: int | np.ndarray | None = None,
    *,
    threshold: float = 0.95,
    run: int = 7,
    onset: bool = False,
) -> tuple[Any, Any, Any]:
    """Time to recover from disruptions that start on day ``start``.

    The impact is the first day at or after ``start`` (and no later than ``impact_by``)
    with ``P < threshold``. Recovery is the first day after the impact that begins
    ``run`` consecutive days with ``P >= threshold``; TTR is its distance from ``start``.
    Vectorised over many disruptions: pass arrays of starts (and impact limits).

    Parameters
    ----------
    p : numpy.ndarray
        Daily performance over the scored horizon (index = scored day).
    start : int or numpy.ndarray
        First day of the disruption (scored day index; a negative start, in the warm-up,
        counts from day 0).
    impact_by : int or numpy.ndarray, optional
        Last day on which a first dip still counts as this disruption's impact
        (default: the end of the record).
    threshold : float
        Performance level regarded as recovered (0.95).
    run : int
        Consecutive days at or above the threshold (7).
    onset : bool
        Count only the *onset* of a dip as an impact: a day below the threshold whose
        previous day was at or above it (or day 0). A dip already in progress when the
        disruption starts began before it and is not its impact.

    Returns
    -------
    ttr : float or numpy.ndarray
        Days from start to recovery; 0 when there was no impact; when not recovered
        within the record, the days to the end of the record.
    censored : bool or numpy.ndarray
        True when recovery did not happen within the record.
    impacted : bool or numpy.ndarray
        Whether performance dipped below the threshold.

    Examples
    --------
    >>> p = np.array([1, 1, 0.5, 0.2, 0.9, 1, 1, 1, 1, 1, 1, 1, 1.0])
    >>> time_to_recover(p, start=1)
    (4.0, False, True)
    >>> time_to_recover(p[:8], start=1)
    (7.0, True, True)
    >>> time_to_recover(np.ones(10), start=2)
    (0.0, False, False)

    A dip in progress on the start day is another disruption's, unless ``onset=False``:

    >>> time_to_recover(p, start=3), time_to_recover(p, start=3, onset=True)
    ((2.0, False, True), (0.0, False, False))
    """
    p = np.asarray(p, dtype=float)
    n = len(p)
    scalar = np.ndim(start) == 0
    starts = np.clip(np.atleast_1d(np.asarray(start, dtype=np.int64)), 0, None)
    if impact_by is None:
        limits = np.full(starts.shape, n - 1)
    else:
        limits = np.minimum(np.atleast_1d(np.asarray(impact_by, dtype=np.int64)), n - 1)
    below = p < threshold
    if onset:
        below &= np.r_[True, ~below[:-1]] if n else below
    dips = np.flatnonzero(below)
    ok = (p >= threshold).astype(np.int64)
    if n >= run:
        window = np.convolve(ok, np.ones(run, dtype=np.int64), mode="valid")
        run_starts = np.flatnonzero(window == run)
    else:
        run_starts = np.zeros(0, dtype=np.int64)
    ttr = np.zeros(starts.shape)
    censored = np.zeros(starts.shape, dtype=bool)
    impacted = np.zeros(starts.shape, dtype=bool)
    k = np.searchsorted(dips, starts)
    has_dip = (k < len(dips)) & (starts < n)
    first_dip = np.where(has_dip, dips[np.minimum(k, max(len(dips) - 1, 0))] if len(dips) else 0, 0)
    has_dip &= first_dip <= limits
    impacted[:] = has_dip
    j = np.searchsorted(run_starts, first_dip)
    recovered = has_dip & (j < len(run_starts))
    rec_day = run_starts[np.minimum(j, max(len(run_starts) - 1, 0))] if len(run_starts) else 0
    ttr = np.where(recovered, rec_day - starts, np.where(has_dip, n - starts, 0)).astype(float)
    censored = has_dip & ~recovered
    if scalar:
        return float(ttr[0]), bool(censored[0]), bool(impacted[0])
    return ttr, censored, impacted
