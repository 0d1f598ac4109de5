"""Daily demand draws per family: mean, cv and shape, read from a simulated market.

Each family is checked through the public engine (the market's recorded demand over a long
horizon), so the test holds whatever the engine's internals: ``normal`` is the zero-truncated
normal with the scenario's own mean and cv, ``gamma`` has shape 1/cv² (skewness 2·cv), and
``poisson`` has variance equal to its mean.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from crmsim.engine import simulate
from crmsim.scenario.loader import scenario_from_dict

DAYS = 20_000


def demand(distribution: str, mean: float, cv: float) -> np.ndarray:
    spec = {"mean": mean, "cv": cv, "distribution": distribution}
    s = scenario_from_dict(
        {
            "crmsim": 1,
            "name": f"{distribution} demand",
            "warmup_days": 0,
            "horizon_days": DAYS,
            "materials": [{"id": "ore"}],
            "nodes": [
                {"id": "mine", "role": "mine", "country": "AUS", "output": "ore", "capacity": 1e6},
                {"id": "city", "role": "market", "country": "DEU", "demand": spec},
            ],
            "edges": [{"from": "mine", "to": "city", "lead_time": 1}],
        }
    )
    return simulate(s, seed=11, record="summary").market_daily["demand"].to_numpy()


def se_mean(mean: float, cv: float) -> float:
    return mean * cv / math.sqrt(DAYS)


def test_gamma_demand_has_the_mean_cv_and_gamma_skewness():
    x = demand("gamma", 40.0, 0.5)
    assert x.min() >= 0
    assert x.mean() == pytest.approx(40.0, abs=4 * se_mean(40, 0.5))
    assert x.std() / x.mean() == pytest.approx(0.5, rel=0.03)
    assert stats.skew(x) == pytest.approx(2 * 0.5, abs=0.12)  # gamma: skewness 2·cv


def test_normal_demand_has_the_mean_cv_and_little_skew():
    x = demand("normal", 40.0, 0.3)
    assert x.min() >= 0
    assert x.mean() == pytest.approx(40.0, abs=4 * se_mean(40, 0.3))
    assert x.std() / x.mean() == pytest.approx(0.3, rel=0.03)
    assert abs(stats.skew(x)) < 0.15  # barely truncated at 0.3: nearly symmetric


def test_poisson_demand_has_variance_equal_to_its_mean():
    x = demand("poisson", 6.0, 0.0)
    assert (x == np.round(x)).all()
    assert x.mean() == pytest.approx(6.0, abs=4 * math.sqrt(6 / DAYS))
    assert x.var() == pytest.approx(6.0, rel=0.05)


@pytest.mark.parametrize("distribution", ["normal", "gamma"])
def test_demand_with_a_tiny_cv_is_the_mean_every_day(distribution):
    assert (demand(distribution, 12.5, 1e-9)[:100] == 12.5).all()
