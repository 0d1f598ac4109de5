"""Global sensitivity analysis: which uncertain inputs move a metric most (SALib).

Each input is a dotted path of the scenario (see :func:`crmsim.experiment.sweep.set_fields`)
with a range ``[lo, hi]``, sampled uniformly. Each sample point is one scenario variant,
simulated over R replications with the **same seed** at every point (common random
numbers), so the differences between points are differences of the inputs, not of the
random draws; the model output Y of a point is the mean of the metric over its R
replications at one market.

Two methods from SALib (Herman & Usher 2017; Iwanaga, Usher & Herman 2022):

* **Morris** elementary-effects screening (Morris 1991; ``mu_star`` of Campolongo,
  Cariboni & Saltelli 2007): ``n`` trajectories of ``k + 1`` points on a grid of
  ``levels`` levels (default 4, step Δ = levels / (2 (levels − 1)) of the range). The
  elementary effect of an input is the change of Y when the input alone moves by Δ,
  divided by Δ — so it is in units of the metric per whole range. ``mu_star`` (mean
  absolute effect) ranks the inputs, ``sigma`` (standard deviation of the effects)
  signals interactions or non-linearity, ``mu_star_conf`` is a bootstrap half-width.
  Convergence: the ranking from the first half of the trajectories is compared with the
  ranking from the second half.
* **Sobol'** variance-based indices with Saltelli's sampling scheme (Saltelli 2002;
  Saltelli et al. 2010), ``n (k + 2)`` points (``n`` a power of two): first-order ``S1``
  (share of the variance of Y due to the input alone) and total ``ST`` (including all
  its interactions), each with a bootstrap confidence half-width. Convergence: the
  largest ``ST`` half-width, and whether the intervals of adjacent ranks are separated.

An input that provably changes nothing gives exactly the same Y at every pair of points
that differ only in it (common random numbers), hence ``mu_star = 0`` and
``S1 = ST = 0`` exactly.

References
----------
Campolongo, F., Cariboni, J. and Saltelli, A. (2007). An effective screening design for
sensitivity analysis of large models. *Environmental Modelling & Software* 22, 1509–1518.
Herman, J. and Usher, W. (2017). SALib: an open-source Python library for sensitivity
analysis. *Journal of Open Source Software* 2(9), 97.
Morris, M. D. (1991). Factorial sampling plans for preliminary computational experiments.
*Technometrics* 33(2), 161–174.
Saltelli, A. (2002). Making best use of model evaluations to compute sensitivity
indices. *Computer Physics Communications* 145, 280–297.
Saltelli, A. et al. (2010). Variance based sensitivity analysis of model output.
*Computer Physics Communications* 181, 259–270.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from crmsim.scenario.schema import Scenario

__all__ = [
    "METHODS",
    "SENSITIVITY_DICTIONARY",
    "SensitivityResult",
    "default_market",
    "parse_bounds",
    "run_sensitivity",
    "sensitivity",
]

#: Methods and their default base sample sizes n.
METHODS: dict[str, int] = {"morris": 10, "sobol": 32}

#: Metrics a sensitivity analysis can rank inputs by (per market, mean over replications).
SENSITIVITY_METRICS = ("fill_rate", "unmet", "nadir", "resilience_loss", "resilience_index")

#: Default replications per sample point.
DEFAULT_REPLICATIONS = 10


@dataclass(frozen=True, eq=False)
class SensitivityResult:
    """A global sensitivity analysis of one metric at one market.

    Attributes
    ----------
    table : pandas.DataFrame
        Inputs ranked by influence (:func:`sensitivity` returns it).
    samples : pandas.DataFrame
        One row per sample point: ``sample``, the inputs' values and ``y`` (the metric).
    method : str
        ``morris`` or ``sobol``.
    metric, market : str
        What Y is.
    n : int
        Base sample size (Morris trajectories; Sobol' N).
    n_points : int
        Sample points (``n (k + 1)`` Morris, ``n (k + 2)`` Sobol').
    n_simulated : int
        Distinct sample points simulated (repeated Morris points are run once).
    replications, seed : int
        Replications per point and root seed (the same at every point).
    levels : int or None
        Morris grid levels.
    confidence : float
        Level of the bootstrap intervals.
    convergence : str
        Plain-language statement of how settled the ranking is.
    seconds : float
        Wall time.
    """

    table: pd.DataFrame
    samples: pd.DataFrame
    method: str
    metric: str
    market: str
    n: int
    n_points: int
    n_simulated: int
    replications: int
    seed: int
    levels: int | None
    confidence: float
    convergence: str
    seconds: float


def parse_bounds(text: str) -> tuple[float, float]:
    """``"lo:hi"`` → ``(lo, hi)``, with lo < hi.

    Examples
    --------
    >>> parse_bounds("0.2:0.8")
    (0.2, 0.8)
    """
    lo, sep, hi = text.partition(":")
    try:
        if not sep:
            raise ValueError
        out = (float(lo), float(hi))
    except ValueError:
        raise ValueError(f"{text!r}: give a range lo:hi, e.g. 0.2:0.8") from None
    if not (math.isfinite(out[0]) and math.isfinite(out[1])) or not out[0] < out[1]:
        raise ValueError(f"{text!r}: the range needs finite lo < hi")
    return out


def default_market(scenario: Scenario, market: str | None) -> str:
    """The market whose metric is Y.

    The one given; else ``(all)`` when the markets share a unit; else the only market.

    Raises
    ------
    ValueError
        An unknown market, or several markets in different units and none chosen.
    """
    from crmsim.experiment.compare import ALL_MARKETS, _market_units

    units = _market_units(scenario)
    shared = len({u for _, u in units.values()}) == 1
    valid = sorted(units) + ([ALL_MARKETS] if shared else [])
    if market is not None:
        if market not in valid:
            import difflib

            close = difflib.get_close_matches(market, valid, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ValueError(f"--market {market}: not a market{hint} (valid: {', '.join(valid)})")
        return market
    if shared:
        return ALL_MARKETS
    if len(units) == 1:
        return next(iter(units))
    raise ValueError(
        "the markets are in different units, so there is no all-markets metric; choose one "
        f"with --market (valid: {', '.join(sorted(units))})"
    )


def _seed_for(seed: int, purpose: int) -> int:
    """A non-zero 32-bit seed for SALib, derived from the root seed and a purpose."""
    return int(np.random.SeedSequence([seed, 0x5A1B, purpose]).generate_state(1)[0]) | 1


def _ranking(names: list[str], score: np.ndarray) -> list[str]:
    order = sorted(range(len(names)), key=lambda i: (-score[i], i))
    return [names[i] for i in order]


def run_sensitivity(
    scenario: Scenario,
    bounds: Mapping[str, tuple[float, float]],
    metric: str = "fill_rate",
    market: str | None = None,
    method: str = "morris",
    n: int | None = None,
    replications: int | None = None,
    seed: int | None = None,
    *,
    policy: str | None = None,
    levels: int = 4,
    workers: int | None = 1,
    confidence: float | None = None,
    progress: Callable[[int], None] | None = None,
    start: Callable[[int], None] | None = None,
    source: str | Path | None = None,
) -> SensitivityResult:
    """Rank uncertain inputs by their influence on a metric (Morris or Sobol', SALib).

    Parameters
    ----------
    scenario : Scenario
        The scenario (not modified).
    bounds : mapping of str to (float, float)
        Dotted path → (lo, hi), sampled uniformly (see
        :func:`crmsim.experiment.sweep.set_fields`; whole-number fields are rounded).
    metric : str
        ``fill_rate``, ``unmet``, ``nadir``, ``resilience_loss`` or ``resilience_index``.
    market : str, optional
        Market whose metric is Y (default: see :func:`default_market`).
    method : {"morris", "sobol"}
        Elementary-effects screening or variance-based indices.
    n : int, optional
        Morris trajectories (default 10) or Sobol' base sample (a power of two,
        default 32).
    replications : int, optional
        Replications per sample point (default 10), the same seed at every point.
    seed : int, optional
        Root seed of the simulations and of the sampling (default ``experiment.seed``).
    policy : str, optional
        Policy combination applied at every point (needed to vary ``policies.<id>``).
    levels : int
        Morris grid levels (even, default 4).
    workers : int or None
        Worker processes per point; results do not depend on it.
    confidence : float, optional
        Level of the bootstrap intervals (default ``experiment.confidence``).
    progress : callable, optional
        Called with the number of replications just finished.
    start : callable, optional
        Called once, before simulating, with the total number of replications.
    source : str or Path, optional
        The scenario's file, so that a bad value is reported with its line.

    Returns
    -------
    SensitivityResult

    Raises
    ------
    SettingError
        A bad path, or a value at the bounds that the scenario refuses.
    ValueError
        A bad metric, market, method or sample size.
    """
    from SALib.analyze import morris as morris_analyze
    from SALib.analyze import sobol as sobol_analyze
    from SALib.sample import morris as morris_sample
    from SALib.sample import sobol as sobol_sample

    from crmsim.experiment.sweep import (
        SettingError,
        check_policy_settings,
        set_fields,
        simulate_variant,
    )

    t0 = time.perf_counter()
    if method not in METHODS:
        raise ValueError(f"method {method!r}: choose morris or sobol")
    if metric not in SENSITIVITY_METRICS:
        raise ValueError(f"metric {metric!r}: choose one of {', '.join(SENSITIVITY_METRICS)}")
    names = list(bounds)
    if not names:
        raise SettingError("--vary: give at least one input, e.g. --vary nodes.x.capacity=4:8")
    k = len(names)
    lohi = [tuple(float(v) for v in bounds[name]) for name in names]
    for name, (lo, hi) in zip(names, lohi, strict=True):
        if not lo < hi:
            raise SettingError(f"--vary {name}={lo:g}:{hi:g}: the range needs lo < hi")
    n = int(METHODS[method] if n is None else n)
    if method == "sobol" and (n < 2 or n & (n - 1)):
        raise ValueError(f"-n {n}: Saltelli sampling needs a power of two (e.g. 16, 32, 64)")
    if method == "morris" and n < 2:
        raise ValueError(f"-n {n}: Morris screening needs at least 2 trajectories")
    if method == "morris" and (levels < 2 or levels % 2):
        raise ValueError(f"levels {levels}: Morris levels must be even and at least 2")
    R = int(DEFAULT_REPLICATIONS if replications is None else replications)
    if R < 1:
        raise ValueError(f"replications must be at least 1, not {R}")
    seed = int(seed if seed is not None else scenario.experiment.seed)
    c = float(scenario.experiment.confidence if confidence is None else confidence)
    check_policy_settings(scenario, names, policy)
    # Both corners first, so a bad bound is reported before anything is simulated.
    for corner in (0, 1):
        corner_values = {nm: b[corner] for nm, b in zip(names, lohi, strict=True)}
        set_fields(scenario, corner_values, what="--vary", source=source)
    target_market = default_market(scenario, market)

    problem = {"num_vars": k, "names": names, "bounds": [list(b) for b in lohi]}
    rng = np.random.default_rng(_seed_for(seed, 1))
    if method == "morris":
        X = morris_sample.sample(problem, n, num_levels=levels, seed=rng)
    else:
        X = sobol_sample.sample(problem, n, calc_second_order=False, seed=rng)
    unique: dict[tuple[float, ...], int] = {}
    for row in X:
        unique.setdefault(tuple(float(v) for v in row), len(unique))
    if start is not None:
        start(R * len(unique))
    y_of: dict[tuple[float, ...], float] = {}
    for key in unique:
        point = dict(zip(names, key, strict=True))
        variant = set_fields(scenario, point, what="--vary", source=source)
        long = simulate_variant(variant, policy, R, seed, workers=workers, progress=progress)
        vals = long.loc[long.market == target_market, metric].to_numpy(dtype=float)
        if vals.size != R:
            raise ValueError(f"market {target_market!r} is missing at a sample point")
        y_of[key] = float(vals.mean())
    Y = np.array([y_of[tuple(float(v) for v in row)] for row in X])
    samples = pd.DataFrame(X, columns=names)
    samples.insert(0, "sample", np.arange(len(X)))
    samples["y"] = Y

    # Differences in the last bits of a float are no variation to apportion.
    constant = bool(np.ptp(Y) <= 1e-12 * max(1.0, float(np.abs(Y).max())))
    base = pd.DataFrame({"input": names, "low": [b[0] for b in lohi],
                         "high": [b[1] for b in lohi]})  # fmt: skip
    if method == "morris":
        res = morris_analyze.analyze(problem, X, Y, num_levels=levels, conf_level=c,
                                     seed=_seed_for(seed, 2))  # fmt: skip
        table = base.assign(
            mu=np.asarray(res["mu"], dtype=float),
            mu_star=np.asarray(res["mu_star"], dtype=float),
            mu_star_conf=np.asarray(res["mu_star_conf"], dtype=float),
            sigma=np.asarray(res["sigma"], dtype=float),
        )
        score = table["mu_star"].to_numpy()
        convergence = _morris_convergence(problem, X, Y, n, k, levels, names, score, seed)
    else:
        if constant:
            nan = np.full(k, math.nan)
            res = {"S1": nan, "S1_conf": nan, "ST": nan, "ST_conf": nan}
        else:
            res = sobol_analyze.analyze(problem, Y, calc_second_order=False, conf_level=c,
                                        seed=_seed_for(seed, 2))  # fmt: skip
        table = base.assign(**{key: np.asarray(res[key], dtype=float)
                               for key in ("S1", "S1_conf", "ST", "ST_conf")})  # fmt: skip
        score = np.nan_to_num(table["ST"].to_numpy(), nan=-math.inf)
        convergence = _sobol_convergence(table, c)
    if constant:
        convergence = (
            f"the metric is the same ({Y[0]:.6g}) at every sample point: no input moves it "
            "over these ranges. " + convergence
        )
    order = _ranking(names, score)
    table = table.set_index("input").loc[order].reset_index()
    table.insert(0, "rank", np.arange(1, k + 1))
    table["metric"] = metric
    table["market"] = target_market
    return SensitivityResult(
        table=table,
        samples=samples,
        method=method,
        metric=metric,
        market=target_market,
        n=n,
        n_points=len(X),
        n_simulated=len(unique),
        replications=R,
        seed=seed,
        levels=levels if method == "morris" else None,
        confidence=c,
        convergence=convergence,
        seconds=time.perf_counter() - t0,
    )


def _morris_convergence(
    problem: dict[str, Any],
    X: np.ndarray,
    Y: np.ndarray,
    n: int,
    k: int,
    levels: int,
    names: list[str],
    score: np.ndarray,
    seed: int,
) -> str:
    from SALib.analyze import morris as morris_analyze

    half = n // 2
    if half < 2:
        return (f"{n} trajectories: too few to compare the rankings of two halves (use "
                "-n 4 or more); treat the ranking as provisional")  # fmt: skip
    rows = half * (k + 1)
    ranks = []
    for part in (slice(0, rows), slice(rows, 2 * rows)):
        r = morris_analyze.analyze(problem, X[part], Y[part], num_levels=levels,
                                   seed=_seed_for(seed, 3))  # fmt: skip
        ranks.append(_ranking(names, np.asarray(r["mu_star"], dtype=float)))
    full = _ranking(names, score)
    if ranks[0] == ranks[1]:
        return (f"the ranking by mu_star is the same in the first and the second {half} "
                f"trajectories ({' > '.join(full)})")  # fmt: skip
    same_top = ranks[0][0] == ranks[1][0]
    return (
        f"the rankings of the first and the second {half} trajectories differ "
        f"({' > '.join(ranks[0])} vs {' > '.join(ranks[1])}); the top input "
        f"{'agrees' if same_top else 'differs too'}: increase -n for a settled ranking"
    )


def _sobol_convergence(table: pd.DataFrame, c: float) -> str:
    st, conf = table["ST"].to_numpy(), table["ST_conf"].to_numpy()
    if not np.isfinite(st).all():
        return "the indices are undefined (the metric does not vary)"
    worst = float(np.max(conf))
    order = np.argsort(-st, kind="stable")
    separated = all(
        st[order[i]] - conf[order[i]] > st[order[i + 1]] + conf[order[i + 1]]
        for i in range(len(order) - 1)
    )
    verdict = (
        "the intervals of adjacent ranks do not overlap, so the ranking is settled"
        if separated
        else "some adjacent ST intervals overlap, so those ranks are not settled: "
        "increase -n (or -r)"
    )
    return f"largest ST confidence half-width {worst:.3g} at {100 * c:g} %; {verdict}"


def sensitivity(
    scenario: Scenario,
    bounds: Mapping[str, tuple[float, float]],
    metric: str = "fill_rate",
    market: str | None = None,
    method: str = "morris",
    n: int | None = None,
    replications: int | None = None,
    seed: int | None = None,
    *,
    policy: str | None = None,
    workers: int | None = 1,
    progress: Callable[[int], None] | None = None,
) -> pd.DataFrame:
    """Inputs ranked by their influence on a metric (see :func:`run_sensitivity`).

    Parameters
    ----------
    scenario : Scenario
        The scenario.
    bounds : mapping of str to (float, float)
        Dotted path → (lo, hi).
    metric : str
        Metric of the market (default fill rate).
    market : str, optional
        Market (default ``(all)`` when the markets share a unit).
    method : {"morris", "sobol"}
        Screening or variance-based indices.
    n : int, optional
        Base sample size.
    replications : int, optional
        Replications per point (default 10).
    seed : int, optional
        Root seed.
    policy : str, optional
        Policy combination applied at every point.
    workers : int or None
        Worker processes per point.
    progress : callable, optional
        Called with the number of replications just finished.

    Returns
    -------
    pandas.DataFrame
        One row per input, most influential first: ``rank, input, low, high`` and
        ``mu, mu_star, mu_star_conf, sigma`` (Morris) or ``S1, S1_conf, ST, ST_conf``
        (Sobol'), then ``metric, market``.

    Examples
    --------
    >>> from crmsim import load_scenario
    >>> s = load_scenario("scenarios/tutorial.yaml")
    >>> t = sensitivity(s, {"horizon_days": (100, 300)}, n=2, replications=1)
    >>> t[["rank", "input"]].values.tolist()
    [[1, 'horizon_days']]
    """
    return run_sensitivity(
        scenario, bounds, metric, market, method, n, replications, seed,
        policy=policy, workers=workers, progress=progress,
    ).table  # fmt: skip


#: Column meanings and units of the tables written by ``crmsim sensitivity``.
SENSITIVITY_DICTIONARY: dict[str, dict[str, tuple[str, str]]] = {
    "sensitivity": {
        "rank": ("1 = most influential (by mu_star, Morris; by ST, Sobol')", ""),
        "input": ("dotted path of the varied field", ""),
        "low": ("lower end of its sampled range", "field's"),
        "high": ("upper end of its sampled range", "field's"),
        "mu": ("Morris: mean elementary effect (signed), per whole range", "metric"),
        "mu_star": ("Morris: mean absolute elementary effect, per whole range", "metric"),
        "mu_star_conf": ("Morris: bootstrap half-width of mu_star", "metric"),
        "sigma": ("Morris: standard deviation of the elementary effects", "metric"),
        "S1": ("Sobol': first-order index (share of variance, input alone)", "fraction"),
        "S1_conf": ("Sobol': bootstrap half-width of S1", "fraction"),
        "ST": ("Sobol': total index (with all interactions)", "fraction"),
        "ST_conf": ("Sobol': bootstrap half-width of ST", "fraction"),
        "metric": ("the metric Y (mean over the replications of a point)", ""),
        "market": ("market whose metric is Y; '(all)' = all markets", ""),
    },
    "samples": {
        "sample": ("sample point number, in SALib's order", ""),
        "<setting>": ("one column per --vary path: its value at the point", "field's"),
        "y": ("the metric at the point, mean over its replications", "metric"),
    },
}
