"""Probability distributions of non-negative quantities (days, severities, capacities).

In a scenario file a distribution is either a plain number (fixed) or a mapping with exactly
one key naming the family::

    lead_time: 28                                   # fixed
    lead_time: {uniform: {low: 20, high: 40}}
    duration: {triangular: {low: 10, mode: 20, high: 60}}
    duration: {exponential: {mean: 30}}
    duration: {lognormal: {mean: 20, sd: 10}}       # mean and sd of the variable itself
    lifetime: {normal: {mean: 3650, sd: 700}}       # truncated at zero (see below)
    lifetime: {weibull: {shape: 2.0, scale: 4000}}

Every quantity crmsim draws is non-negative, so every family here has support in
``[0, inf)``. The normal is *truncated* at zero (negative values are impossible, the density
is renormalised over ``[0, inf)``), never clipped: :func:`truncated_normal` is the one
routine that does it, for lead times, durations, lifetimes and market demand. For a ``Dist``
``normal`` the ``mean`` and ``sd`` are those of the normal *before* truncation (its
:attr:`Dist.mean` is the truncated mean, which is what :meth:`Dist.sample` produces);
market demand instead names the mean and cv of the truncated distribution itself (see
:func:`normal_for_moments`).

Every parameter is finite and at most :data:`MAX_DAYS` (36 500, 100 years: distributions
describe days or severities); a Weibull shape is at least 0.1 (smaller shapes have means of
millions of scales) and a lognormal mean at least 1e-6 (smaller ones overflow its sigma).

Examples
--------
>>> import numpy as np
>>> d = Dist.model_validate({"lognormal": {"mean": 20, "sd": 10}})
>>> round(d.mean, 6)
20.0
>>> x = d.sample(np.random.default_rng(1), 100_000)
>>> bool(abs(x.mean() - 20) < 0.2)
True
>>> Dist.model_validate(3).sample(np.random.default_rng(0), 3)
array([3., 3., 3.])
"""

from __future__ import annotations

import math
from functools import cached_property, lru_cache
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

# numpy and scipy are imported where they are used, not here: loading and checking a
# scenario (``crmsim validate``) draws nothing, so it does not pay for them (``scipy.stats``
# alone takes about half a second).
if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "MAX_DAYS",
    "MAX_NORMAL_CV",
    "Dist",
    "Exponential",
    "Lognormal",
    "Normal",
    "Triangular",
    "TruncatedNormal",
    "Uniform",
    "Weibull",
    "normal_for_moments",
    "truncated_normal",
]

#: Largest coefficient of variation of demand a zero-truncated normal is asked to match. A
#: normal truncated at zero always has cv < 1 (it tends to the exponential as its mean
#: parameter goes to minus infinity); near 1 it is an exponential in all but name.
MAX_NORMAL_CV = 0.99


class TruncatedNormal:
    """The normal ``N(loc, scale²)`` truncated to ``[0, inf)``.

    The single truncation routine of crmsim: demand, lead times, durations and lifetimes all
    draw from (:meth:`rvs`) or integrate (:meth:`cdf`) this distribution. Draws are by
    inversion, ``x = loc − scale · Φ⁻¹(u · Φ(loc/scale))`` with ``u`` uniform on ``(0, 1]``
    from the caller's Generator (one uniform per draw, accurate far into either tail);
    moments and the distribution function are scipy's ``truncnorm``.

    Parameters
    ----------
    loc, scale : float
        Mean and standard deviation of the normal before truncation (``scale > 0``).

    Examples
    --------
    >>> import numpy as np
    >>> d = TruncatedNormal(0.0, 1.0)  # half-normal: mean sqrt(2/pi)
    >>> round(d.mean(), 6)
    0.797885
    >>> x = d.rvs(100_000, np.random.default_rng(0))
    >>> bool(x.min() >= 0), bool(abs(x.mean() - 0.797885) < 0.01)
    (True, True)
    """

    def __init__(self, loc: float, scale: float):
        if not scale > 0:
            raise ValueError(f"scale must be positive, not {scale!r}")
        self.loc = float(loc)
        self.scale = float(scale)
        # A scale below 1e-12 of |loc| (or below 1e-200) is a point mass (at loc, or at 0
        # for loc < 0) to double precision: treated as one, so no ratio overflows.
        tiny = self.scale < 1e-12 * abs(self.loc) or self.scale < 1e-200
        self._point = max(self.loc, 0.0) if tiny else None
        self._mass = 1.0
        if self._point is None:
            from scipy.special import ndtr, ndtri

            self._ndtri = ndtri
            self._mass = float(ndtr(self.loc / self.scale))

    @cached_property
    def _scipy(self) -> Any:
        import numpy as np
        from scipy import stats

        return stats.truncnorm(-self.loc / self.scale, np.inf, loc=self.loc, scale=self.scale)

    def rvs(self, size: int, rng: np.random.Generator) -> np.ndarray:
        """``size`` draws from the Generator ``rng`` (never global state)."""
        return self.invert(1.0 - rng.random(size))  # u in (0, 1]

    def invert(self, u: np.ndarray) -> np.ndarray:
        """The draws of uniforms ``u`` in (0, 1], elementwise (what :meth:`rvs` returns)."""
        import numpy as np

        if self._point is not None:
            return np.full(np.shape(u), self._point)
        x = self.loc - self.scale * self._ndtri(u * self._mass)
        return np.maximum(x, 0.0)  # rounding only: the inversion is >= 0 in exact arithmetic

    def cdf(self, x: np.ndarray) -> np.ndarray:
        """Distribution function at ``x``."""
        import numpy as np

        if self._point is not None:
            return (np.asarray(x) >= self._point).astype(float)
        return np.asarray(self._scipy.cdf(x), dtype=float)

    def mean(self) -> float:
        """Mean of the truncated distribution."""
        if self._point is not None:
            return self._point
        return float(self._scipy.mean())

    def std(self) -> float:
        """Standard deviation of the truncated distribution."""
        if self._point is not None:
            return 0.0
        return float(self._scipy.std())


def truncated_normal(loc: float, scale: float) -> TruncatedNormal:
    """The normal ``N(loc, scale²)`` truncated at zero (see :class:`TruncatedNormal`).

    Examples
    --------
    >>> round(truncated_normal(0.0, 1.0).mean(), 6)
    0.797885
    """
    return TruncatedNormal(loc, scale)


def _cv_at(t: float) -> float:
    """Coefficient of variation of ``N(t, 1)`` truncated at zero."""
    d = truncated_normal(t, 1.0)
    return d.std() / d.mean()


@lru_cache(maxsize=256)
def normal_for_moments(mean: float, cv: float) -> tuple[float, float]:
    """Parameters ``(loc, scale)`` of the normal whose zero-truncation has this mean and cv.

    Market demand ``{mean: mu, cv: c, distribution: normal}`` means the *realised* daily
    demand has mean ``mu`` and standard deviation ``c·mu``; this solves (numerically, by
    moment matching with :func:`scipy.optimize.brentq`) for the normal before truncation.

    Parameters
    ----------
    mean : float
        Mean of the truncated distribution (``> 0``).
    cv : float
        Its coefficient of variation, ``0 < cv <= MAX_NORMAL_CV``.

    Returns
    -------
    tuple of float
        ``loc`` and ``scale`` for :func:`truncated_normal`.

    Raises
    ------
    ValueError
        If ``cv`` exceeds :data:`MAX_NORMAL_CV` (no truncated normal has it).

    Examples
    --------
    >>> loc, scale = normal_for_moments(10.0, 0.5)
    >>> d = truncated_normal(loc, scale)
    >>> round(d.mean(), 9), round(d.std(), 9)
    (10.0, 5.0)
    """
    if not cv <= MAX_NORMAL_CV:
        raise ValueError(
            f"a normal truncated at zero cannot have cv {cv:g} (its cv is always below 1; "
            f"at most {MAX_NORMAL_CV} is accepted): use `distribution: gamma` for such "
            "variable demand"
        )
    if cv < 0.1:
        # Truncation removes less than 1e-23 of the mass: the parameters are the moments.
        return mean, cv * mean
    # In units of the pre-truncation sd, the truncated mean is t + phi(t)/Phi(t) and the cv
    # falls monotonically in t from 1 (t -> -inf) to 0 (t -> inf).
    from scipy.optimize import brentq

    t = brentq(lambda x: _cv_at(x) - cv, -20.0, 12.0, xtol=1e-13, rtol=1e-13)
    m1 = truncated_normal(t, 1.0).mean()
    scale = mean / m1
    return t * scale, scale


#: Most days of any time span in a scenario: 100 years (36 500 days).
MAX_DAYS = 36_500

_FROZEN = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class Uniform(BaseModel):
    """Uniform on ``[low, high]``."""

    model_config = _FROZEN
    low: float = Field(ge=0, le=MAX_DAYS)
    high: float = Field(ge=0, le=MAX_DAYS)

    @model_validator(mode="after")
    def _order(self) -> Uniform:
        if self.low > self.high:
            raise ValueError(f"low ({self.low}) must not exceed high ({self.high})")
        return self


class Triangular(BaseModel):
    """Triangular on ``[low, high]`` with the given mode."""

    model_config = _FROZEN
    low: float = Field(ge=0, le=MAX_DAYS)
    mode: float = Field(ge=0, le=MAX_DAYS)
    high: float = Field(ge=0, le=MAX_DAYS)

    @model_validator(mode="after")
    def _order(self) -> Triangular:
        if not self.low <= self.mode <= self.high:
            raise ValueError(
                f"need low <= mode <= high; got low={self.low}, mode={self.mode}, high={self.high}"
            )
        return self


class Exponential(BaseModel):
    """Exponential with the given mean."""

    model_config = _FROZEN
    mean: float = Field(gt=0, le=MAX_DAYS)


class Lognormal(BaseModel):
    """Lognormal given by the mean and standard deviation of the variable itself."""

    model_config = _FROZEN
    mean: float = Field(ge=1e-6, le=MAX_DAYS)
    sd: float = Field(ge=0, le=MAX_DAYS)


class Normal(BaseModel):
    """Normal truncated at zero; ``mean`` and ``sd`` are those of the normal before truncation.

    The truncated distribution's own mean is :attr:`Dist.mean` (above ``mean`` when the
    truncation bites).
    """

    model_config = _FROZEN
    mean: float = Field(ge=0, le=MAX_DAYS)
    sd: float = Field(ge=0, le=MAX_DAYS)


class Weibull(BaseModel):
    """Weibull with shape ``k`` and scale ``lambda``."""

    model_config = _FROZEN
    shape: float = Field(ge=0.1, le=MAX_DAYS)
    scale: float = Field(gt=0, le=MAX_DAYS)


FAMILIES = ("fixed", "uniform", "triangular", "exponential", "lognormal", "normal", "weibull")


class Dist(BaseModel):
    """A distribution of a non-negative quantity: exactly one family is given.

    A plain number in the scenario file becomes ``{fixed: number}``.
    """

    model_config = _FROZEN
    fixed: float | None = Field(default=None, ge=0, le=MAX_DAYS)
    uniform: Uniform | None = None
    triangular: Triangular | None = None
    exponential: Exponential | None = None
    lognormal: Lognormal | None = None
    normal: Normal | None = None
    weibull: Weibull | None = None

    @model_validator(mode="before")
    @classmethod
    def _number_is_fixed(cls, data: Any) -> Any:
        if isinstance(data, bool):
            return data  # rejected below with a clear message
        if isinstance(data, int | float):
            return {"fixed": data}
        return data

    @model_validator(mode="after")
    def _exactly_one(self) -> Dist:
        given = [f for f in FAMILIES if getattr(self, f) is not None]
        if len(given) != 1:
            raise ValueError(
                "a distribution is a number or a mapping with exactly one of "
                + ", ".join(FAMILIES)
                + (f"; got {', '.join(given)}" if given else "")
            )
        return self

    @cached_property
    def family(self) -> str:
        """The name of the family given (``"fixed"``, ``"uniform"``, ...)."""
        return next(f for f in FAMILIES if getattr(self, f) is not None)

    @property
    def mean(self) -> float:
        """The mean (of the truncated distribution for ``normal``)."""
        fam = self.family
        if fam == "fixed":
            return float(self.fixed)  # type: ignore[arg-type]
        if fam == "uniform":
            u = self.uniform
            assert u is not None
            return (u.low + u.high) / 2
        if fam == "triangular":
            t = self.triangular
            assert t is not None
            return (t.low + t.mode + t.high) / 3
        if fam == "exponential":
            assert self.exponential is not None
            return self.exponential.mean
        if fam == "lognormal":
            assert self.lognormal is not None
            return self.lognormal.mean
        if fam == "normal":
            n = self.normal
            assert n is not None
            if n.sd == 0:
                return n.mean
            return truncated_normal(n.mean, n.sd).mean()
        w = self.weibull
        assert w is not None
        return w.scale * math.gamma(1 + 1 / w.shape)

    @property
    def upper(self) -> float:
        """The upper end of the support (``inf`` for unbounded families)."""
        fam = self.family
        if fam == "fixed":
            return float(self.fixed)  # type: ignore[arg-type]
        if fam == "uniform":
            assert self.uniform is not None
            return self.uniform.high
        if fam == "triangular":
            assert self.triangular is not None
            return self.triangular.high
        if fam == "normal" and self.normal is not None and self.normal.sd == 0:
            return self.normal.mean
        if fam == "lognormal" and self.lognormal is not None and self.lognormal.sd == 0:
            return self.lognormal.mean
        return math.inf

    @property
    def is_fixed(self) -> bool:
        """True when the value is certain (a fixed number)."""
        return self.family == "fixed"

    def sample(self, rng: np.random.Generator, size: int | None = None) -> Any:
        """Draw from the distribution.

        Parameters
        ----------
        rng : numpy.random.Generator
            The stream to draw from (never global state).
        size : int, optional
            Number of draws; a float is returned when omitted.

        Returns
        -------
        float or numpy.ndarray
            Non-negative draws.
        """
        import numpy as np

        fam = self.family
        n = 1 if size is None else size
        if fam == "fixed":
            out = np.full(n, float(self.fixed))  # type: ignore[arg-type]
        elif fam == "uniform":
            assert self.uniform is not None
            out = rng.uniform(self.uniform.low, self.uniform.high, n)
        elif fam == "triangular":
            t = self.triangular
            assert t is not None
            out = np.full(n, t.low) if t.low == t.high else rng.triangular(t.low, t.mode, t.high, n)
        elif fam == "exponential":
            assert self.exponential is not None
            out = rng.exponential(self.exponential.mean, n)
        elif fam == "lognormal":
            ln = self.lognormal
            assert ln is not None
            sigma2 = math.log1p((ln.sd / ln.mean) ** 2)
            mu = math.log(ln.mean) - sigma2 / 2
            out = rng.lognormal(mu, math.sqrt(sigma2), n)
        elif fam == "normal":
            nm = self.normal
            assert nm is not None
            if nm.sd == 0:
                out = np.full(n, nm.mean)
            else:
                out = truncated_normal(nm.mean, nm.sd).rvs(n, rng)
        else:
            w = self.weibull
            assert w is not None
            out = w.scale * rng.weibull(w.shape, n)
        return float(out[0]) if size is None else out

    def __str__(self) -> str:
        fam = self.family
        if fam == "fixed":
            return f"{self.fixed:g}"
        params = getattr(self, fam).model_dump()
        return f"{fam}(" + ", ".join(f"{k}={v:g}" for k, v in params.items()) + ")"
