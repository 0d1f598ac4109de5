"""Probability distributions of non-negative quantities (days, severities, capacities).

In a scenario file a distribution is either a plain number (fixed) or a mapping with exactly
one key naming the family::

    lead_time: 28                                   # fixed
    lead_time: {uniform: {low: 20, high: 40}}
    duration: {triangular: {low: 10, mode: 20, high: 60}}
    duration: {exponential: {mean: 30}}
    duration: {lognormal: {mean: 20, sd: 10}}       # mean and sd of the variable itself
    lifetime: {normal: {mean: 3650, sd: 700}}       # truncated at zero
    lifetime: {weibull: {shape: 2.0, scale: 4000}}

Every quantity crmsim draws is non-negative, so every family here has support in
``[0, inf)``; the normal is truncated at zero by redrawing negative values.

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
from functools import cached_property
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "MAX_DAYS",
    "Dist",
    "Exponential",
    "Lognormal",
    "Normal",
    "Triangular",
    "Uniform",
    "Weibull",
]

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
    """Normal with the given mean and standard deviation, truncated at zero."""

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
            a = n.mean / n.sd
            phi = math.exp(-a * a / 2) / math.sqrt(2 * math.pi)
            big_phi = 0.5 * (1 + math.erf(a / math.sqrt(2)))
            return n.mean + n.sd * phi / big_phi if big_phi > 0 else 0.0
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
            out = rng.normal(nm.mean, nm.sd, n)
            bad = out < 0
            for _ in range(100):
                if not bad.any():
                    break
                out[bad] = rng.normal(nm.mean, nm.sd, int(bad.sum()))
                bad = out < 0
            out = np.maximum(out, 0.0)
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
