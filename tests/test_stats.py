"""The statistics over replications, against textbook values and hand calculations."""

import math

import numpy as np
import pytest
from scipy import stats

from crmsim.metrics.stats import censored_summary, t_interval


def test_t_interval_matches_textbook_t_quantile():
    x = np.array([0.91, 0.95, 0.97, 0.99, 0.93, 0.96])
    mean, lo, hi = t_interval(x, 0.9)
    half = stats.t.ppf(0.95, 5) * x.std(ddof=1) / math.sqrt(6)
    assert mean == pytest.approx(x.mean())
    assert (lo, hi) == pytest.approx((x.mean() - half, x.mean() + half))
    # A wider level gives a wider interval; z = 1.96 would be too narrow at n = 6.
    _, lo95, hi95 = t_interval(x, 0.95)
    assert hi95 - lo95 > hi - lo
    assert hi95 - lo95 > 2 * 1.96 * x.std(ddof=1) / math.sqrt(6)


def test_bounded_interval_stays_inside_bounds():
    x = np.array([1.0, 1.0, 1.0, 0.9])
    _, lo, hi = t_interval(x, 0.95)
    assert hi > 1.0  # the unbounded interval leaves [0, 1]...
    _, lo_b, hi_b = t_interval(x, 0.95, bounds=(0.0, 1.0))
    assert hi_b == 1.0
    assert lo_b == pytest.approx(lo)


def test_degenerate_intervals():
    assert t_interval(np.zeros(4), 0.95) == (0.0, 0.0, 0.0)
    mean, lo, hi = t_interval(np.array([0.5]), 0.95)
    assert mean == 0.5
    assert math.isnan(lo)
    assert math.isnan(hi)
    with pytest.raises(ValueError, match="confidence"):
        t_interval(np.ones(3), 1.0)
    with pytest.raises(ValueError, match="NaN"):
        t_interval(np.array([1.0, np.nan]), 0.95)


def test_kaplan_meier_by_hand():
    # Times 3, 5+, 7, 9+ (+ = censored), horizon 10.
    # S: 1 on [0,3), 3/4 on [3,7), 3/4·(1 − 1/2) = 3/8 on [7,10].
    s = censored_summary(
        np.array([3.0, 5.0, 7.0, 9.0]), np.array([False, True, False, True]), horizon=10
    )
    assert s.observed == 2
    assert s.share_observed == 0.5
    assert s.median == 7.0
    assert s.restricted_mean == pytest.approx(3 * 1 + 4 * 0.75 + 3 * 0.375)
    # Averaging the censored values as if observed would understate the mean.
    assert s.restricted_mean > np.mean([3.0, 5.0, 7.0, 9.0])


def test_all_censored_and_empty():
    s = censored_summary(np.array([10.0, 10.0]), np.array([True, True]), horizon=10)
    assert s.share_observed == 0.0
    assert math.isnan(s.median)
    assert s.median_text == "> 10"
    assert s.restricted_mean == 10.0
    e = censored_summary(np.array([]), np.array([], dtype=bool), horizon=10)
    assert e.n == 0
    assert e.median_text == "–"
    with pytest.raises(ValueError, match="exceeds the horizon"):
        censored_summary(np.array([11.0]), np.array([False]), horizon=10)
