"""Statistics over replications: t-based intervals, bounded quantities, censored times.

One home for the rules every summary of replications follows (``RunResult.describe``,
the disruption table of ``crmsim run``, policy comparisons):

* **Intervals of a mean are t-based** at the experiment's confidence level
  (``experiment.confidence``, default 0.95): ``mean ± t_{(1+c)/2, n−1} · sd/√n``.
* **Bounded quantities stay inside their bounds.** A fill rate lies in [0, 1] and a
  paired difference of fill rates in [−1, 1]; an interval is clipped to the bounds, so no
  reported limit is impossible. With one replication, or with no variation at all, the
  interval is the single value when every observation is identical (a difference that is
  exactly 0 in every replication has the interval [0, 0]) and undefined (NaN) with n = 1.
* **Censored times are never averaged as if observed.** A time to recover that is not
  reached by the end of the horizon is *right-censored*. Summaries of censored times use
  the Kaplan–Meier estimator (``scipy.stats.ecdf`` on ``scipy.stats.CensoredData``): the
  share recovered by the horizon, the median time to recover (undefined — reported as
  ``> horizon`` — when fewer than half recover), and the mean restricted to the horizon
  (the area under the survival curve up to the horizon, a lower bound of the true mean
  when anything is censored), each labelled as such.

``scipy.stats`` is imported inside the functions: it is slow to import and most commands
never need it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["CensoredSummary", "censored_summary", "t_interval"]


def t_interval(
    x: np.ndarray,
    confidence: float = 0.95,
    bounds: tuple[float, float] | None = None,
) -> tuple[float, float, float]:
    """Mean of ``x`` and its t-based confidence interval.

    Parameters
    ----------
    x : numpy.ndarray
        Observations, one per replication (NaN values are an error: summarise only
        quantities that every replication defines).
    confidence : float
        Two-sided confidence level, in (0, 1).
    bounds : (float, float), optional
        The range the quantity cannot leave (e.g. ``(0, 1)`` for a fill rate,
        ``(-1, 1)`` for a paired difference of fill rates): the interval is clipped to it.

    Returns
    -------
    mean, low, high : float
        ``low`` and ``high`` are NaN with a single observation.

    Examples
    --------
    >>> t_interval(np.array([1.0, 2.0, 3.0]), 0.95)
    (2.0, -0.484..., 4.484...)
    >>> t_interval(np.array([0.98, 1.0, 1.0]), 0.95, bounds=(0.0, 1.0))
    (0.993..., 0.964..., 1.0)
    >>> t_interval(np.zeros(5), 0.9)
    (0.0, 0.0, 0.0)
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie strictly between 0 and 1, not {confidence!r}")
    x = np.asarray(x, dtype=float)
    if x.size == 0:
        return math.nan, math.nan, math.nan
    if np.isnan(x).any():
        raise ValueError("t_interval: the observations contain NaN")
    mean = float(x.mean())
    n = x.size
    if n == 1:
        return mean, math.nan, math.nan
    sd = float(x.std(ddof=1))
    if sd == 0.0:
        low = high = mean
    else:
        from scipy import stats

        half = float(stats.t.ppf(0.5 + confidence / 2, n - 1)) * sd / math.sqrt(n)
        low, high = mean - half, mean + half
    if bounds is not None:
        lo, hi = bounds
        low, high = min(max(low, lo), hi), min(max(high, lo), hi)
        mean = min(max(mean, lo), hi)
    return mean, low, high


@dataclass(frozen=True)
class CensoredSummary:
    """A Kaplan–Meier summary of right-censored durations (e.g. times to recover).

    Attributes
    ----------
    n : int
        Number of durations.
    observed : int
        How many ended within the horizon (not censored).
    share_observed : float
        ``observed / n``: e.g. the share of impacted events recovered by the horizon.
    median : float
        Kaplan–Meier median duration; NaN when the survival curve does not fall to 0.5
        within the horizon (report it as "> horizon").
    restricted_mean : float
        Mean restricted to ``horizon``: the area under the Kaplan–Meier survival curve from
        0 to ``horizon``. Equal to the plain mean when nothing is censored; a lower bound
        of the true mean otherwise.
    horizon : float
        The restriction time.
    """

    n: int
    observed: int
    share_observed: float
    median: float
    restricted_mean: float
    horizon: float

    @property
    def median_text(self) -> str:
        """The median for people: a number of days, or ``"> horizon"`` when undefined."""
        if self.n == 0:
            return "–"
        if math.isnan(self.median):
            return f"> {self.horizon:g}"
        return f"{self.median:g}"


def censored_summary(
    durations: np.ndarray, censored: np.ndarray, horizon: float
) -> CensoredSummary:
    """Kaplan–Meier summary of durations, some right-censored.

    Parameters
    ----------
    durations : numpy.ndarray
        Observed durations, or for censored entries the time observed so far.
    censored : numpy.ndarray of bool
        True where the duration had not ended when observation stopped.
    horizon : float
        Restriction time of the restricted mean (e.g. the longest time any event could
        be observed). Must be at least every duration.

    Returns
    -------
    CensoredSummary

    Examples
    --------
    Nothing censored: the median and restricted mean are the plain ones.

    >>> s = censored_summary(np.array([2.0, 4.0, 6.0]), np.array([False, False, False]), 10)
    >>> s.median, s.restricted_mean, s.share_observed
    (4.0, 4.0, 1.0)

    Two of three not recovered by day 10: the median is undefined ("> 10").

    >>> s = censored_summary(np.array([2.0, 10.0, 10.0]), np.array([False, True, True]), 10)
    >>> s.median_text, round(s.restricted_mean, 3), round(s.share_observed, 3)
    ('> 10', 7.333, 0.333)
    """
    d = np.asarray(durations, dtype=float)
    c = np.asarray(censored, dtype=bool)
    if d.shape != c.shape:
        raise ValueError("durations and censored must have the same shape")
    n = int(d.size)
    if n == 0:
        return CensoredSummary(0, 0, math.nan, math.nan, math.nan, float(horizon))
    if np.isnan(d).any():
        raise ValueError("censored_summary: the durations contain NaN")
    if (d > horizon + 1e-9).any():
        raise ValueError(f"censored_summary: a duration exceeds the horizon {horizon:g}")
    observed = int((~c).sum())
    if observed == 0:
        # Survival is 1 up to the horizon: nothing ended.
        return CensoredSummary(n, 0, 0.0, math.nan, float(horizon), float(horizon))
    from scipy import stats

    data = stats.CensoredData(uncensored=d[~c], right=d[c])
    sf = stats.ecdf(data).sf
    times = np.asarray(sf.quantiles, dtype=float)
    surv = np.asarray(sf.probabilities, dtype=float)
    # Survival is a right-continuous step function: 1 before times[0], surv[i] on
    # [times[i], times[i+1]).
    knots = np.concatenate(([0.0], times[times < horizon], [float(horizon)]))
    levels = np.concatenate(([1.0], surv[times < horizon]))
    restricted = float(np.sum(np.diff(knots) * levels))
    below = np.flatnonzero(surv <= 0.5 + 1e-12)
    median = float(times[below[0]]) if below.size else math.nan
    return CensoredSummary(
        n=n,
        observed=observed,
        share_observed=observed / n,
        median=median,
        restricted_mean=restricted,
        horizon=float(horizon),
    )
