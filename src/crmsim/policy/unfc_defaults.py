"""Default development lead times, success chances and capacity spread by UNFC class.

The ``develop_resource`` policy brings a mine (or an anthropogenic resource such as
tailings) that is not *On Production* into production. How long that takes, and whether
it ever happens, depends on how mature the project is — its UNFC-2019 class — and how
uncertain its realised capacity is depends on the G category (confidence in the
estimate). This module holds those defaults as one table, each row saying whether its
numbers are sourced or an assumption; a scenario overrides them per policy
(``develop_resource: {lead_time: ..., success_probability: ...}``).

Sourced anchor: IEA (2021), *The Role of Critical Minerals in Clean Energy Transitions*,
World Energy Outlook Special Report, p. 124 / Chapter 3: mines that started production
in 2010–2019 took **more than 16 years on average from discovery to first production**.
crmsim takes 16.5 years as the mean for a project discovered but without any
development project (the extra half year over "more than 16" is an assumption). Every
other row is an assumption, scaled between that anchor and typical construction times
of a few years for a project whose capital is already committed; lead times are
lognormal with a coefficient of variation of 0.3 (an assumption).

Examples
--------
>>> from crmsim.scenario.unfc import parse_unfc
>>> d = development_default(parse_unfc("E1 F1.2 G1"))
>>> round(d.lead_time_years, 1), d.success_probability, d.sourced
(3.0, 0.95, False)
>>> development_default(parse_unfc("E3 F4 G2")).lead_time_years
16.5
>>> CAPACITY_CV["G2"]
0.25
"""

from __future__ import annotations

from dataclasses import dataclass

from crmsim.scenario.distributions import Dist
from crmsim.scenario.unfc import UnfcCode

__all__ = [
    "CAPACITY_CV",
    "DAYS_PER_YEAR",
    "DEVELOPMENT_DEFAULTS",
    "IEA_2021",
    "LEAD_TIME_CV",
    "DevelopmentDefault",
    "capacity_cv",
    "development_default",
]

#: Days in a year (lead times are simulated in days).
DAYS_PER_YEAR = 365.25

#: Coefficient of variation of the default lognormal lead times (an assumption).
LEAD_TIME_CV = 0.3

#: The one sourced figure in the table.
IEA_2021 = (
    "IEA (2021), The Role of Critical Minerals in Clean Energy Transitions, World Energy "
    "Outlook Special Report: mines that started production in 2010–2019 took more than 16 "
    "years on average from discovery to first production"
)

#: Spread of the realised capacity (coefficient of variation) per UNFC G category:
#: G1 high confidence, G2 moderate, G3 low. Assumptions; G4 (a potential deposit,
#: exploration only) cannot be developed without exploration and has no entry.
CAPACITY_CV: dict[str, float] = {"G1": 0.1, "G2": 0.25, "G3": 0.5}


@dataclass(frozen=True, slots=True)
class DevelopmentDefault:
    """Default development of one UNFC class or sub-class.

    Attributes
    ----------
    project_class : str
        UNFC-2019 project class, e.g. ``"Potentially Viable Projects"``.
    sub_class : str or None
        Sub-class, e.g. ``"Development Pending"``; None for the class as a whole.
    lead_time_years : float
        Mean years from the start of the policy (scored day 0) to first production.
    success_probability : float
        Chance that the project ever reaches production.
    sourced : bool
        True when the numbers come from a published source (``source``), False when they
        are crmsim's assumptions.
    source : str
        The source, or why the assumption was chosen.
    """

    project_class: str
    sub_class: str | None
    lead_time_years: float
    success_probability: float
    sourced: bool
    source: str

    @property
    def lead_time(self) -> Dist:
        """The lead-time distribution in days: lognormal, mean as tabled, CV 0.3."""
        mean = self.lead_time_years * DAYS_PER_YEAR
        return Dist.model_validate({"lognormal": {"mean": mean, "sd": LEAD_TIME_CV * mean}})


_A = "assumption: "
#: The table, most mature first. ``None`` sub-class rows cover codes whose F category is
#: not refined enough to determine a sub-class (e.g. E1 F1 G1).
DEVELOPMENT_DEFAULTS: tuple[DevelopmentDefault, ...] = (
    DevelopmentDefault(
        "Viable Projects",
        "Approved for Development",
        3.0,
        0.95,
        False,
        _A + "capital committed and construction under way (F1.2): a few years of "
        "construction remain; small risk of abandonment",
    ),
    DevelopmentDefault(
        "Viable Projects",
        "Justified for Development",
        5.0,
        0.85,
        False,
        _A + "feasibility shown but financing, permits and construction remain (F1.3)",
    ),
    DevelopmentDefault(
        "Viable Projects",
        None,
        5.0,
        0.85,
        False,
        _A + "F1 without sub-category: treated as Justified for Development",
    ),
    DevelopmentDefault(
        "Potentially Viable Projects",
        "Development Pending",
        8.0,
        0.6,
        False,
        _A + "studies ongoing (F2.1); feasibility, permitting and construction remain",
    ),
    DevelopmentDefault(
        "Potentially Viable Projects",
        "Development On Hold",
        11.0,
        0.4,
        False,
        _A + "activities on hold (F2.2): Development Pending plus a delay",
    ),
    DevelopmentDefault(
        "Potentially Viable Projects",
        None,
        9.5,
        0.5,
        False,
        _A + "F2 without sub-category: between Pending and On Hold",
    ),
    DevelopmentDefault(
        "Non-Viable Projects",
        "Development Unclarified",
        14.0,
        0.2,
        False,
        _A + "viability not yet determinable (E3.2 F2.2); most such projects never proceed",
    ),
    DevelopmentDefault(
        "Non-Viable Projects",
        "Development Not Viable",
        16.5,
        0.05,
        False,
        _A + "no reasonable prospects today (E3.3 F2.3): only a policy that changes the "
        "economics could develop it; lead time as discovery-to-production (IEA 2021)",
    ),
    DevelopmentDefault(
        "Non-Viable Projects",
        None,
        14.0,
        0.2,
        False,
        _A + "E3 F2 without sub-categories: treated as Development Unclarified",
    ),
    DevelopmentDefault(
        "Remaining products not developed from identified projects",
        None,
        16.5,
        0.1,
        True,
        IEA_2021 + " (16.5 years used; the chance of success 0.1 is an assumption)",
    ),
)


def development_default(code: UnfcCode) -> DevelopmentDefault:
    """The default development of a resource with this UNFC code.

    Parameters
    ----------
    code : UnfcCode
        A parsed code (:func:`crmsim.scenario.unfc.parse_unfc`).

    Returns
    -------
    DevelopmentDefault
        The row for its sub-class, or for its class when the code sets no sub-class.

    Raises
    ------
    ValueError
        For a resource already On Production, or a G4 (potential deposit) resource:
        those have no development default.

    Examples
    --------
    >>> from crmsim.scenario.unfc import parse_unfc
    >>> development_default(parse_unfc("E2 F2.1 G2")).success_probability
    0.6
    >>> development_default(parse_unfc("E3 F3 G4"))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: UNFC E3 F3 G4 (Prospective Projects) is a potential deposit (G4): it cannot ...
    """
    if code.on_production:
        raise ValueError(f"UNFC {code.code} is already On Production")
    if not code.known_deposit:
        raise ValueError(
            f"UNFC {code.code} ({code.label}) is a potential deposit ({code.g[:2]}): it cannot "
            "be developed without exploration"
        )
    for row in DEVELOPMENT_DEFAULTS:
        if row.project_class == code.project_class and row.sub_class == code.sub_class:
            return row
    for row in DEVELOPMENT_DEFAULTS:  # pragma: no cover - every known-deposit class is tabled
        if row.project_class == code.project_class and row.sub_class is None:
            return row
    raise ValueError(f"no development default for UNFC {code.code} ({code.label})")


def capacity_cv(code: UnfcCode) -> float:
    """Coefficient of variation of the realised capacity from the G category.

    Examples
    --------
    >>> from crmsim.scenario.unfc import parse_unfc
    >>> capacity_cv(parse_unfc("E2 F2.1 G3"))
    0.5
    """
    try:
        return CAPACITY_CV[code.g]
    except KeyError:
        raise ValueError(
            f"UNFC {code.code}: {code.g} is a potential deposit; it cannot be developed "
            "without exploration"
        ) from None
