"""The scenario schema (``crmsim: 1``), declared once as pydantic models.

These models are the single reference for the scenario file: validation, the JSON Schema
(``crmsim schema``) and the scenario reference in ``docs/scenario-reference.md`` are all
generated from them. Every model is frozen (immutable) and forbids unknown keys, so a
misspelt key is an error rather than a silently ignored setting.

Field-level checks (types, ranges, one-of choices) live here. Checks that need the whole
scenario (ids that must exist, shares that must sum to one, supply paths) live in
:mod:`crmsim.scenario.checks`, so that all problems are collected and reported at once.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from crmsim.scenario.distributions import MAX_DAYS, MAX_NORMAL_CV, Dist
from crmsim.scenario.errors import short_repr
from crmsim.scenario.unfc import UnfcCode, parse_unfc

__all__ = [
    "MAX_COUNT",
    "MAX_DAYS",
    "MAX_FACTOR",
    "MAX_MONEY",
    "MAX_QUANTITY",
    "MAX_RATE_PER_YEAR",
    "MAX_RATIO",
    "MIN_QUANTITY",
    "MIN_RATE_PER_YEAR",
    "SCHEMA_VERSION",
    "Demand",
    "DevelopResource",
    "Development",
    "Disruption",
    "DisruptionKind",
    "Diversify",
    "Edge",
    "EdgeRef",
    "Entry",
    "Experiment",
    "Material",
    "MsmeEntrant",
    "Node",
    "Policy",
    "RandomArrivals",
    "Recycling",
    "Release",
    "Resource",
    "Role",
    "Scenario",
    "Scoring",
    "SilencedWarning",
    "Simulation",
    "Size",
    "Stockpile",
    "Target",
    "TradeFacilitation",
]

SCHEMA_VERSION = 1

# Every number must be finite: `.inf` and `.nan` are rejected everywhere (allow_inf_nan).
_FROZEN = ConfigDict(frozen=True, extra="forbid", populate_by_name=True, allow_inf_nan=False)

# Bounds. Every number in a scenario has one, chosen far beyond any real supply chain, so
# that a slip (1e15 for 1e5) or a hostile file is an error and never an overflow, a NaN or
# a run that exhausts memory. MAX_DAYS (100 years, from distributions) bounds every day
# count: horizon, warm-up, start, duration, lead times, stock cover.
#: Most units per day of a capacity, a demand or a release (a trillion: world output of
#: the largest commodities is about 1e10 t/year, 3e7 t/day).
MAX_QUANTITY = 1e12
#: Smallest positive capacity or rate of flow: smaller (e.g. 1e-320) is below the precision
#: of shares and ratios (1 / 1e-320 overflows), so a quantity is 0 or at least this.
MIN_QUANTITY = 1e-9
#: Most units of an input per unit of output (recipe) or of a material embedded per unit.
MAX_RATIO = 1e6
#: Largest multiplier of lead times, demand or capacity (a disruption factor of 1000 already
#: turns a day's lead time into three years).
MAX_FACTOR = 1_000.0
#: Most events per year of a random disruption or exit hazard (about three a day).
MAX_RATE_PER_YEAR = 1_000.0
#: Fewest events per year of a random disruption (once in a million years; smaller rates
#: make the time to the first event overflow).
MIN_RATE_PER_YEAR = 1e-6
#: Largest cost (capex, opex per day): 1e15, ten times world GDP.
MAX_MONEY = 1e15
#: Most entrants added by one msme_entrant lever.
MAX_COUNT = 1_000
_MAX_ID = 100
_MAX_NAME = 500
_MAX_TEXT = 5_000

# Ids: letters, digits, "_", "." and "-"; never "+" (policy combinations use it) nor ">"
# (edge references use "->").
Id = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        min_length=1,
        max_length=_MAX_ID,
        pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$",
    ),
]
#: A short name (a scenario, node or material name, a label): at most 500 characters.
Name = Annotated[str, StringConstraints(max_length=_MAX_NAME)]
#: Free text (a description, a source, an assumption): at most 5000 characters.
Text = Annotated[str, StringConstraints(max_length=_MAX_TEXT)]
Fraction = Annotated[float, Field(ge=0, le=1)]
Days = Annotated[float, Field(ge=0, le=MAX_DAYS)]
PositiveDays = Annotated[float, Field(gt=0, le=MAX_DAYS)]
Money = Annotated[float, Field(ge=0, le=MAX_MONEY)]
Factor = Annotated[float, Field(gt=0, le=MAX_FACTOR)]
Ratio = Annotated[float, Field(ge=0, le=MAX_RATIO)]
Hazard = Annotated[float, Field(ge=0, le=MAX_RATE_PER_YEAR)]
Cv = Annotated[float, Field(ge=0, le=10)]


class _AtLeast:
    """A check that a positive number is not below ``minimum`` (``why`` says why)."""

    def __init__(self, minimum: float, why: str):
        self.minimum = minimum
        self.why = why

    def __call__(self, value: float) -> float:
        if value < self.minimum:
            raise ValueError(f"must be at least {self.minimum:g}: {self.why}")
        return value


def _at_least(minimum: float, why: str) -> AfterValidator:
    return AfterValidator(_AtLeast(minimum, why))


_PRECISION = "smaller quantities are below the precision of shares and ratios"
PositiveQuantity = Annotated[
    float, Field(gt=0, le=MAX_QUANTITY), _at_least(MIN_QUANTITY, _PRECISION)
]
PositiveRatio = Annotated[float, Field(gt=0, le=MAX_RATIO), _at_least(MIN_QUANTITY, _PRECISION)]
InUse = Annotated[float, Field(ge=0, le=MAX_QUANTITY * MAX_DAYS)]


def _zero_or_measurable(value: float) -> float:
    """A quantity is 0 or at least MIN_QUANTITY (see there)."""
    if 0 < value < MIN_QUANTITY:
        raise ValueError(f"must be 0 or at least {MIN_QUANTITY:g}: {_PRECISION}")
    return value


#: Units per day (capacity, demand): 0, or between MIN_QUANTITY and MAX_QUANTITY.
Quantity = Annotated[float, Field(ge=0, le=MAX_QUANTITY), AfterValidator(_zero_or_measurable)]


def _country(value: str) -> str:
    """Validate an ISO 3166-1 alpha-3 code with pycountry (upper-cased)."""
    from crmsim.scenario.countries import check_country

    return check_country(value)


Country = Annotated[str, StringConstraints(max_length=_MAX_ID), AfterValidator(_country)]


def _as_list(value: Any) -> Any:
    if value is None:
        return ()
    if isinstance(value, str | dict):
        return (value,)
    return value


class Role(StrEnum):
    """What a node does in the network."""

    MINE = "mine"
    PROCESSOR = "processor"
    MARKET = "market"
    RECYCLER = "recycler"
    STOCKPILE = "stockpile"


class Size(StrEnum):
    """Firm size class (EU definition 2003/361/EC, by staff headcount)."""

    MICRO = "micro"  # < 10 staff
    SMALL = "small"  # < 50
    MEDIUM = "medium"  # < 250
    LARGE = "large"  # >= 250

    @property
    def is_msme(self) -> bool:
        """True for micro, small and medium enterprises."""
        return self is not Size.LARGE

    @classmethod
    def from_employees(cls, employees: int) -> Size:
        """The size class of a firm with the given staff headcount.

        Examples
        --------
        >>> Size.from_employees(9), Size.from_employees(49), Size.from_employees(250)
        (<Size.MICRO: 'micro'>, <Size.SMALL: 'small'>, <Size.LARGE: 'large'>)
        """
        if employees < 10:
            return cls.MICRO
        if employees < 50:
            return cls.SMALL
        if employees < 250:
            return cls.MEDIUM
        return cls.LARGE


class DisruptionKind(StrEnum):
    """The kinds of disruption the engine simulates."""

    OUTAGE = "outage"
    EXPORT_RESTRICTION = "export_restriction"
    LOGISTICS = "logistics"
    DEMAND_SHOCK = "demand_shock"


class Material(BaseModel):
    """A traded good: ore, refined metal, component or finished product."""

    model_config = _FROZEN
    id: Id = Field(description="Unique material id, used by nodes, edges and recipes.")
    name: Name | None = Field(default=None, description="Readable name.")
    unit: Annotated[str, StringConstraints(max_length=_MAX_ID)] = Field(
        default="t", description="Unit of quantities (capacities are unit/day)."
    )
    eol_rir: Fraction | None = Field(
        default=None,
        description="End-of-life recycling input rate (0–1) as published, e.g. by the EU CRM "
        "assessment; used by the supply-risk indicator. Unknown when omitted.",
    )
    substitution_index: Fraction | None = Field(
        default=None,
        description="EU CRM substitution index for supply risk (0–1; 1 = no substitute). "
        "Unknown when omitted.",
    )
    import_reliance: Fraction | None = Field(
        default=None,
        description="Import reliance of the home region (0–1) for the supply-risk indicator; "
        "derived from the network when omitted.",
    )
    lifetime: Dist | None = Field(
        default=None,
        description="In-use lifetime of served units in days (for end-of-life recycling).",
    )
    content: dict[Id, Ratio] = Field(
        default_factory=dict,
        description="Embedded material per unit of this material, e.g. {antimony: 0.02}: "
        "what a recycler can recover from one end-of-life unit.",
    )
    reference_price: Annotated[float, Field(gt=0, le=MAX_MONEY)] | None = Field(
        default=None,
        description="Price per unit of the material in the scenario's currency, at which the "
        "producer-country view values exports and value added at home (crmsim run).",
    )
    source: Text | None = Field(
        default=None, description="Where this material's numbers come from."
    )


class Demand(BaseModel):
    """Final demand at a market, per day."""

    model_config = _FROZEN
    mean: Quantity = Field(description="Mean demand (units/day; at most 1e12).")
    cv: Cv = Field(
        default=0.0,
        description="Coefficient of variation of daily demand (at most 10: beyond that a day's "
        "demand is almost always zero with rare huge spikes).",
    )
    distribution: Literal["normal", "gamma", "poisson"] = Field(
        default="normal",
        description="Family of daily demand; 'normal' is truncated at zero (never negative) "
        "with mean and cv those of the truncated distribution.",
    )
    backorders: bool = Field(
        default=False,
        description="Unmet demand is back-ordered (true) or lost (false, the default).",
    )

    @model_validator(mode="after")
    def _normal_cv_feasible(self) -> Demand:
        if self.distribution == "normal" and self.mean > 0 and self.cv > MAX_NORMAL_CV:
            raise ValueError(
                f"cv {self.cv:g} is too large for normal demand: a normal truncated at zero "
                f"always has cv below 1 (at most {MAX_NORMAL_CV} is accepted); use "
                "`distribution: gamma` for such variable demand"
            )
        return self


class Entry(BaseModel):
    """When a node added by a policy (e.g. an MSME entrant) enters the market.

    Before entry the node has no capacity and buyers do not order from it; after entry its
    capacity ramps up linearly over ``ramp_up_days`` and buyers order from it once it is
    qualified (``qualification_days`` after entry).
    """

    model_config = _FROZEN
    day: Days | None = Field(default=None, description="Enter on this scored day.")
    fill_rate_below: Fraction | None = Field(
        default=None,
        description="Shortage signal: enter once the watched performance stays below this...",
    )
    for_days: Annotated[int, Field(ge=1, le=MAX_DAYS)] = Field(
        default=7, description="... for this many consecutive scored days."
    )
    watch: Id | None = Field(
        default=None,
        description="Market whose daily performance is watched (default: all markets).",
    )
    finance_probability: Fraction = Field(
        default=1.0,
        description="Probability of obtaining finance (drawn once per replication from the "
        "node's own stream); without finance the node never enters.",
    )
    ramp_up_days: Days = Field(default=0.0, description="Days from entry to full capacity.")
    qualification_days: Days = Field(
        default=0.0, description="Days after entry before buyers order from it."
    )
    exit_hazard_per_year: Hazard = Field(
        default=0.0, description="Rate of failure/exit after entry (per year, at most 1000)."
    )

    @model_validator(mode="after")
    def _one(self) -> Entry:
        if (self.day is None) == (self.fill_rate_below is None):
            raise ValueError("an entry is either `day` or `fill_rate_below` (with for_days)")
        return self


class Development(BaseModel):
    """Bringing a UNFC-classified resource that is not On Production into production."""

    model_config = _FROZEN
    lead_time: Dist = Field(description="Days from scored day 0 until production starts.")
    success_probability: Fraction = Field(
        default=1.0, description="Chance that the project ever reaches production."
    )
    capacity_cv: Cv = Field(
        default=0.0,
        description="Coefficient of variation of the realised capacity (set from the UNFC G "
        "category by the develop_resource policy: G1 narrow, G2 wider, G3 wide; at most 10).",
    )


class Resource(BaseModel):
    """Quantity of a mine's or recycler's resource in one UNFC-2019 class."""

    model_config = _FROZEN
    unfc: Annotated[str, StringConstraints(max_length=_MAX_ID)] = Field(
        description="UNFC-2019 code of these quantities, e.g. 'E2 F2.1 G2'."
    )
    tonnes: Annotated[float, Field(gt=0, le=MAX_QUANTITY)] = Field(
        description="Quantity in tonnes (of the node's output material, contained; at most 1e12)."
    )
    source: Text | None = Field(default=None, description="Where the quantity comes from.")

    @field_validator("unfc")
    @classmethod
    def _unfc(cls, value: str) -> str:
        return parse_unfc(value).code


class Release(BaseModel):
    """A strategic stockpile's release and replenishment rule."""

    model_config = _FROZEN
    to: Id = Field(description="The buyer the stockpile releases to.")
    below_fill_rate: Fraction | None = Field(
        default=None,
        description="Release while the buyer's supply ratio (a market: served ÷ demand; "
        "another buyer: received ÷ planned need, both over the last 7 days) is below this.",
    )
    below_days_of_cover: Days | None = Field(
        default=None,
        description="Release while the buyer's own stock of the material covers fewer days.",
    )
    per_day: PositiveQuantity | None = Field(
        default=None, description="Most released per day (default: the buyer's planned need)."
    )
    replenish: bool = Field(default=True, description="Refill from its suppliers after release.")
    replenish_per_day: PositiveQuantity | None = Field(
        default=None, description="Most ordered for refilling per day (default: 10 % of need)."
    )

    @model_validator(mode="after")
    def _some_rule(self) -> Release:
        if self.below_fill_rate is None and self.below_days_of_cover is None:
            raise ValueError("a release rule needs below_fill_rate or below_days_of_cover")
        return self


class Node(BaseModel):
    """An actor in the network: a mine, processor, market, recycler or stockpile."""

    model_config = _FROZEN
    id: Id = Field(description="Unique node id.")
    role: Role = Field(description="mine, processor, market, recycler or stockpile.")
    country: Country = Field(description="ISO 3166-1 alpha-3 country code, e.g. DEU, CHN.")
    name: Name | None = Field(default=None, description="Readable name.")
    output: Id | None = Field(
        default=None,
        description="Material produced (mine, processor, recycler) or held (stockpile); for a "
        "market, the material demanded (inferred from its suppliers when omitted).",
    )
    capacity: Quantity | None = Field(
        default=None,
        description="Production capacity in units/day (required for mine, processor, recycler; "
        "release capacity for a stockpile): 0, or from 1e-9 (below the precision of shares) "
        "to 1e12.",
    )
    size: Size | None = Field(
        default=None,
        description="Firm size: micro, small, medium or large (EU definition). Unspecified "
        "when omitted, and reported as such.",
    )
    employees: Annotated[int, Field(ge=0, le=10_000_000)] | None = Field(
        default=None,
        description="Staff headcount; sets or checks `size` (at most 10 million, above the "
        "largest employer).",
    )
    recipe: dict[Id, PositiveRatio] = Field(
        default_factory=dict,
        description="Processor only: units of each input material per unit of output "
        "(from 1e-9 to 1e6).",
    )
    stock_days: Days = Field(
        default=7.0,
        description="Days of cover (order-up-to policy): of each input for nodes with inputs "
        "(processors with a recipe, markets, stockpiles), whose output is made to order; of "
        "the output for nodes without inputs (mines, recyclers, processors without recipe).",
    )
    initial_stock_days: Days | None = Field(
        default=None, description="Days of cover on hand at the start (default: stock_days)."
    )
    demand: Demand | None = Field(default=None, description="Market only: daily final demand.")
    unfc: Annotated[str, StringConstraints(max_length=_MAX_ID)] | None = Field(
        default=None,
        description="Mine or recycler: UNFC-2019 code such as 'E1.1 F1.1 G1'. A mine produces "
        "only when its class is On Production (E1 F1.1). Default: on production.",
    )
    collection_rate: Fraction | None = Field(
        default=None, description="Recycler: share of end-of-life units collected."
    )
    recovery_efficiency: Fraction | None = Field(
        default=None, description="Recycler: share of the collected embedded material recovered."
    )
    collects_from: tuple[Id, ...] = Field(
        default=(),
        description="Recycler: markets whose end-of-life units it collects (default: all "
        "markets whose product contains its output material).",
    )
    in_use_initial: InUse | Literal["steady_state"] | None = Field(
        default=None,
        description="Market: units in use at the start (or 'steady_state': demand × mean "
        "lifetime), so recycling has feedstock from day 0.",
    )
    entry: Entry | None = Field(
        default=None,
        description="The node enters during the run (MSME entrants; set by the msme_entrant "
        "policy or written directly).",
    )
    development: Development | None = Field(
        default=None,
        description="Mine or recycler not On Production: when and whether it starts producing.",
    )
    release: Release | None = Field(
        default=None, description="Stockpile only: when it releases stock, and to whom."
    )
    resources: tuple[Resource, ...] = Field(
        default=(),
        max_length=MAX_COUNT,
        description="Mine or recycler: resource quantities by UNFC class (reported in the "
        "resource table of crmsim show), e.g. [{unfc: 'E1.1 F1.1 G1', tonnes: 50000}].",
    )
    source: Text | None = Field(default=None, description="Where this node's numbers come from.")

    @field_validator("unfc")
    @classmethod
    def _unfc(cls, value: str | None) -> str | None:
        if value is None:
            return None
        return parse_unfc(value).code

    @field_validator("collects_from", mode="before")
    @classmethod
    def _listify(cls, value: Any) -> Any:
        return _as_list(value)

    @model_validator(mode="after")
    def _role_fields(self) -> Node:
        role = self.role
        problems: list[str] = []
        if role in (Role.MINE, Role.PROCESSOR, Role.RECYCLER):
            if self.output is None:
                problems.append(f"a {role} needs `output` (the material it produces)")
            if self.capacity is None:
                problems.append(f"a {role} needs `capacity` (units/day)")
        if role is Role.STOCKPILE and self.output is None:
            problems.append("a stockpile needs `output` (the material it holds)")
        if role is Role.MARKET and self.demand is None:
            problems.append("a market needs `demand` (e.g. {mean: 80, cv: 0.1})")
        if role is not Role.MARKET:
            if self.demand is not None:
                problems.append(f"`demand` is for markets only, not a {role}")
            if self.in_use_initial is not None:
                problems.append(f"`in_use_initial` is for markets only, not a {role}")
        if self.recipe and role is not Role.PROCESSOR:
            problems.append(f"`recipe` is for processors only, not a {role}")
        if self.unfc is not None and role not in (Role.MINE, Role.RECYCLER):
            problems.append(f"`unfc` is for mines and recyclers only, not a {role}")
        if role is not Role.RECYCLER:
            for f in ("collection_rate", "recovery_efficiency"):
                if getattr(self, f) is not None:
                    problems.append(f"`{f}` is for recyclers only, not a {role}")
            if self.collects_from:
                problems.append(f"`collects_from` is for recyclers only, not a {role}")
        if self.employees is not None and self.size is not None:
            implied = Size.from_employees(self.employees)
            if implied is not self.size:
                problems.append(
                    f"size {self.size.value!r} contradicts employees={self.employees} "
                    f"(EU definition: {implied.value}); drop one or make them agree"
                )
        if self.release is not None and role is not Role.STOCKPILE:
            problems.append(f"`release` is for stockpiles only, not a {role}")
        if self.resources and role not in (Role.MINE, Role.RECYCLER):
            problems.append(f"`resources` are for mines and recyclers only, not a {role}")
        if self.development is not None and role not in (Role.MINE, Role.RECYCLER):
            problems.append(f"`development` is for mines and recyclers only, not a {role}")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def firm_size(self) -> Size | None:
        """The size class, from ``size`` or else from ``employees``."""
        if self.size is not None:
            return self.size
        if self.employees is not None:
            return Size.from_employees(self.employees)
        return None

    @property
    def unfc_code(self) -> UnfcCode | None:
        """The parsed UNFC code, or None when not given."""
        return parse_unfc(self.unfc) if self.unfc else None

    @property
    def on_production(self) -> bool:
        """Whether the node produces from day 0 (a mine must be UNFC On Production)."""
        code = self.unfc_code
        return code is None or code.on_production


class EdgeRef(BaseModel):
    """A reference to an edge: supplier and buyer (and the material, when ambiguous)."""

    model_config = _FROZEN
    from_: Id = Field(alias="from", description="Supplier node id.")
    to: Id = Field(description="Buyer node id.")
    material: Id | None = Field(default=None, description="Material, when the pair trades several.")

    @model_validator(mode="before")
    @classmethod
    def _parse_arrow(cls, data: Any) -> Any:
        if isinstance(data, str):
            if "->" not in data:
                raise ValueError(
                    f"an edge reference is 'supplier->buyer' or a mapping; got {short_repr(data)}"
                )
            a, b = (s.strip() for s in data.split("->", 1))
            return {"from": a, "to": b}
        return data

    def __str__(self) -> str:
        return f"{self.from_}->{self.to}" + (f" ({self.material})" if self.material else "")


class Edge(BaseModel):
    """A supply relationship: supplier → buyer for one material."""

    model_config = _FROZEN
    from_: Id = Field(alias="from", description="Supplier node id.")
    to: Id = Field(description="Buyer node id.")
    material: Id | None = Field(
        default=None, description="Material supplied (default: the supplier's output)."
    )
    share: Fraction = Field(
        default=1.0,
        description="The buyer's sourcing share of this material from this supplier; a buyer's "
        "shares for one material sum to 1. A qualified alternative may have share 0.",
    )
    lead_time: Dist = Field(
        default_factory=lambda: Dist(fixed=0.0),
        description="Days from shipment to arrival: a number or a distribution.",
    )
    qualified: bool = Field(
        default=False,
        description="The buyer has qualified this supplier as an alternative: orders meant for "
        "a blocked or failed supplier move here after the switching delay.",
    )
    switch_days: Days | None = Field(
        default=None,
        description="Switching delay in days before re-sourced orders go to this supplier "
        "(default: simulation.switching_delay_days).",
    )
    source: Text | None = Field(default=None, description="Where this edge's numbers come from.")


class Target(BaseModel):
    """What a disruption hits. Conditions combine with AND; a list within one is an OR."""

    model_config = _FROZEN
    node: tuple[Id, ...] = Field(default=(), description="Node id(s).")
    role: tuple[Role, ...] = Field(default=(), description="Node role(s).")
    country: tuple[Country, ...] = Field(default=(), description="ISO alpha-3 country code(s).")
    region: tuple[Id, ...] = Field(default=(), description="Region name(s) from `regions`.")
    material: tuple[Id, ...] = Field(default=(), description="Material id(s).")
    edge: tuple[EdgeRef, ...] = Field(default=(), description="Edge(s): 'supplier->buyer'.")

    @field_validator("node", "role", "country", "region", "material", "edge", mode="before")
    @classmethod
    def _listify(cls, value: Any) -> Any:
        return _as_list(value)

    @model_validator(mode="after")
    def _something(self) -> Target:
        if not any((self.node, self.role, self.country, self.region, self.material, self.edge)):
            raise ValueError(
                "a target needs at least one of node, role, country, region, material, edge"
            )
        return self


class RandomArrivals(BaseModel):
    """Stochastic disruptions: Poisson arrivals per matching target."""

    model_config = _FROZEN
    rate_per_year: Annotated[
        float,
        Field(gt=0, le=MAX_RATE_PER_YEAR),
        _at_least(MIN_RATE_PER_YEAR, "rarer events make the time to the first one overflow"),
    ] = Field(
        description="Mean arrivals per year, per matching target (from 1e-6, once in a million "
        "years, to 1000, about three a day)."
    )
    duration: Dist = Field(description="Duration in days: a number or a distribution.")
    severity: Dist | None = Field(
        default=None,
        description="Severity (0–1) per event: a number or a bounded distribution "
        "(default: the disruption's `severity`).",
    )

    @field_validator("severity")
    @classmethod
    def _bounded(cls, value: Dist | None) -> Dist | None:
        if value is not None and value.upper > 1:
            raise ValueError(
                f"severity must stay within [0, 1]; {value} can exceed 1 — use a number, "
                "uniform or triangular with high <= 1"
            )
        return value


class Disruption(BaseModel):
    """An event that removes capacity or blocks flow for a while."""

    model_config = _FROZEN
    id: Id = Field(description="Unique disruption id.")
    label: Name | None = Field(default=None, description="Readable label for reports.")
    kind: DisruptionKind = Field(
        description="outage, export_restriction, logistics or demand_shock."
    )
    target: Target = Field(description="What it hits.")
    start: Days | None = Field(
        default=None, description="Scheduled: start day (0 = first scored day)."
    )
    duration: Days | None = Field(default=None, description="Scheduled: duration in days.")
    random: RandomArrivals | None = Field(
        default=None, description="Stochastic: Poisson arrivals instead of start/duration."
    )
    severity: Fraction = Field(
        default=1.0,
        description="Outage: share of capacity removed (1 = full outage); export restriction: "
        "share of flow blocked.",
    )
    factor: Factor | None = Field(
        default=None,
        description="logistics: lead time multiplier (e.g. 2); demand_shock: demand multiplier "
        "(at most 1000).",
    )
    recovery_days: Days = Field(
        default=0.0, description="Outage: days of linear ramp back to full capacity after the end."
    )
    stock_loss: Fraction = Field(
        default=0.0, description="Outage: share of on-hand stock destroyed at the start."
    )
    source: Text | None = Field(default=None, description="Where this disruption comes from.")

    @model_validator(mode="after")
    def _when(self) -> Disruption:
        scheduled = self.start is not None or self.duration is not None
        problems = []
        if self.random is not None and scheduled:
            problems.append("give either start and duration (scheduled) or random, not both")
        elif self.random is None and (self.start is None or self.duration is None):
            missing = [f for f in ("start", "duration") if getattr(self, f) is None]
            problems.append(
                f"a scheduled disruption needs {' and '.join(missing)} "
                "(or `random: {rate_per_year: ..., duration: ...}` for a stochastic one)"
            )
        if self.kind in (DisruptionKind.LOGISTICS, DisruptionKind.DEMAND_SHOCK):
            if self.factor is None:
                problems.append(f"a {self.kind} disruption needs `factor`")
        elif self.factor is not None:
            problems.append(f"`factor` is for logistics and demand_shock, not {self.kind}")
        if self.kind is not DisruptionKind.OUTAGE:
            if self.recovery_days:
                problems.append(f"`recovery_days` is for outages, not {self.kind}")
            if self.stock_loss:
                problems.append(f"`stock_loss` is for outages, not {self.kind}")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def scheduled(self) -> bool:
        """True for a scheduled (start, duration) disruption."""
        return self.random is None


# --------------------------------------------------------------------------- policies


class Trigger(BaseModel):
    """When an MSME entrant enters: on a day, or on a shortage signal."""

    model_config = _FROZEN
    day: Days | None = Field(default=None, description="Enter on this day.")
    fill_rate_below: Fraction | None = Field(
        default=None, description="Shortage signal: a buyer's fill rate below this..."
    )
    for_days: Annotated[int, Field(ge=1, le=MAX_DAYS)] = Field(
        default=7, description="... for this many consecutive days."
    )
    buyer: Id | None = Field(
        default=None,
        description="Whose fill rate is watched (default: the first buyer it supplies).",
    )

    @model_validator(mode="after")
    def _one(self) -> Trigger:
        if (self.day is None) == (self.fill_rate_below is None):
            raise ValueError("a trigger is either `day` or `fill_rate_below` (with for_days)")
        return self


class MsmeEntrant(BaseModel):
    """Add micro, small or medium firms that enter the market during the run."""

    model_config = _FROZEN
    count: Annotated[int, Field(ge=1, le=MAX_COUNT)] = Field(
        default=1, description="Number of entrants (at most 1000: each is a node)."
    )
    id: Id | None = Field(default=None, description="Id prefix of the new nodes.")
    country: Country = Field(description="ISO alpha-3 country of the entrants.")
    size: Literal[Size.MICRO, Size.SMALL, Size.MEDIUM] = Field(
        description="micro, small or medium (EU definition)."
    )
    role: Literal[Role.MINE, Role.PROCESSOR, Role.RECYCLER] = Field(
        default=Role.PROCESSOR, description="What the entrants do."
    )
    output: Id | None = Field(
        default=None, description="Material produced (default: what its buyers need)."
    )
    capacity: PositiveQuantity = Field(description="Capacity of each entrant (units/day).")
    recipe: dict[Id, PositiveRatio] = Field(default_factory=dict, description="Processor recipe.")
    suppliers: tuple[Id, ...] = Field(default=(), description="Suppliers of its inputs.")
    supplies: tuple[Id, ...] = Field(description="Buyers it supplies once qualified.")
    share: Fraction | None = Field(
        default=None,
        description="Each buyer's sourcing share moved to the entrants once qualified "
        "(default: qualified alternative only, used when other suppliers fail).",
    )
    trigger: Trigger = Field(default_factory=lambda: Trigger(day=0), description="Entry trigger.")
    finance_probability: Fraction = Field(
        default=1.0, description="Probability of obtaining finance; without it, no entry."
    )
    ramp_up_days: Days = Field(default=0.0, description="Days from entry to full capacity.")
    qualification_days: Days = Field(
        default=0.0, description="Days after entry before buyers accept its output."
    )
    exit_hazard_per_year: Hazard = Field(default=0.0, description="Failure/exit rate per year.")
    stock_days: Days = Field(default=7.0, description="Its days of cover.")
    lead_time: Dist = Field(
        default_factory=lambda: Dist(fixed=2.0),
        description="Lead time of the entrants' new edges, from their suppliers and to their "
        "buyers (default 2 days: an assumption for a domestic entrant).",
    )
    capex: Money = Field(default=0.0, description="Capital cost per entrant.")
    opex_per_day: Money = Field(default=0.0, description="Operating cost per entrant per day.")

    @field_validator("suppliers", "supplies", mode="before")
    @classmethod
    def _listify(cls, value: Any) -> Any:
        return _as_list(value)


class Recycling(BaseModel):
    """Add a recycler (or scale an existing one) and its collection."""

    model_config = _FROZEN
    id: Id = Field(description="The recycler node to add, or an existing recycler to change.")
    country: Country | None = Field(default=None, description="Country of a new recycler.")
    size: Size | None = Field(default=None, description="Firm size of a new recycler.")
    output: Id | None = Field(default=None, description="Secondary material recovered.")
    capacity: Quantity | None = Field(default=None, description="Capacity (units/day).")
    capacity_factor: Factor | None = Field(
        default=None, description="Existing recycler: multiply its capacity by this."
    )
    collection_rate: Fraction | None = Field(default=None, description="Share collected.")
    recovery_efficiency: Fraction | None = Field(default=None, description="Share recovered.")
    collects_from: tuple[Id, ...] = Field(default=(), description="Markets collected from.")
    supplies: tuple[Id, ...] = Field(default=(), description="Processors it ships to.")
    max_share: Fraction = Field(
        default=1.0, description="Maximum share of a buyer's input that secondary material covers."
    )
    lead_time: Dist = Field(
        default_factory=lambda: Dist(fixed=2.0),
        description="Lead time of its new edges to `supplies` (default 2 days: an assumption).",
    )
    unfc: Annotated[str, StringConstraints(max_length=_MAX_ID)] | None = Field(
        default=None, description="UNFC-2019 code of the anthropogenic resource."
    )
    capex: Money = Field(default=0.0, description="Capital cost.")
    opex_per_day: Money = Field(default=0.0, description="Operating cost per day.")

    @field_validator("collects_from", "supplies", mode="before")
    @classmethod
    def _listify(cls, value: Any) -> Any:
        return _as_list(value)

    @field_validator("unfc")
    @classmethod
    def _unfc(cls, value: str | None) -> str | None:
        return None if value is None else parse_unfc(value).code


class Stockpile(BaseModel):
    """Hold a strategic stock of a material for a buyer, released in a crisis."""

    model_config = _FROZEN
    id: Id | None = Field(
        default=None, description="Id of the stockpile node (default: the policy id)."
    )
    at: Id = Field(description="The buyer node the stockpile serves.")
    material: Id = Field(description="Material held.")
    days_of_cover: PositiveDays = Field(
        description="Target size in days of the buyer's normal use."
    )
    initial_fill: Fraction = Field(default=1.0, description="Share of the target held at start.")
    release_below_fill_rate: Fraction | None = Field(
        default=None, description="Release when the buyer's fill rate falls below this."
    )
    release_below_days_of_cover: Days | None = Field(
        default=None, description="Release when the buyer's own cover falls below this."
    )
    release_per_day: PositiveQuantity | None = Field(
        default=None, description="Maximum release per day (default: the buyer's normal use)."
    )
    replenish: bool = Field(default=True, description="Refill after the crisis.")
    replenish_per_day: PositiveQuantity | None = Field(
        default=None, description="Maximum refill per day (default: 10 % of normal use)."
    )
    lead_time: Dist = Field(
        default_factory=lambda: Dist(fixed=1.0),
        description="Lead time from the stockpile to the buyer (default 1 day: an assumption).",
    )
    holding_cost_per_unit_day: Money = Field(default=0.0, description="Holding cost.")
    capex: Money = Field(default=0.0, description="Capital cost (storage).")


class DevelopResource(BaseModel):
    """Bring a UNFC-classified resource (mine or anthropogenic) toward production."""

    model_config = _FROZEN
    node: Id = Field(description="The mine or recycler to develop.")
    lead_time: Dist | None = Field(
        default=None, description="Days to production (default: per UNFC class, documented)."
    )
    success_probability: Fraction | None = Field(
        default=None, description="Chance it ever produces (default: per UNFC class)."
    )
    capex: Money = Field(default=0.0, description="Capital cost.")
    opex_per_day: Money = Field(default=0.0, description="Operating cost per day once producing.")


class Diversify(BaseModel):
    """Cap a buyer's share from any one country or supplier."""

    model_config = _FROZEN
    buyer: Id = Field(description="The buyer whose sourcing changes.")
    material: Id | None = Field(default=None, description="Material (default: all its inputs).")
    max_share_per_country: Fraction | None = Field(default=None, description="Cap per country.")
    max_share_per_supplier: Fraction | None = Field(default=None, description="Cap per supplier.")
    to: tuple[Id, ...] = Field(
        default=(), description="Alternatives to move the excess to (default: qualified ones)."
    )
    lead_time: Dist | None = Field(
        default=None,
        description="Lead time of new edges from alternatives in `to` (default: the mean lead "
        "time of the buyer's edges from suppliers in the same country).",
    )
    capex: Money = Field(default=0.0, description="Capital cost (qualification, contracts).")
    opex_per_day: Money = Field(default=0.0, description="Operating cost per day.")

    @field_validator("to", mode="before")
    @classmethod
    def _listify(cls, value: Any) -> Any:
        return _as_list(value)

    @model_validator(mode="after")
    def _some_cap(self) -> Diversify:
        if self.max_share_per_country is None and self.max_share_per_supplier is None:
            raise ValueError("diversify needs max_share_per_country or max_share_per_supplier")
        return self


class TradeFacilitation(BaseModel):
    """Shorten cross-border lead times (border delays, customs)."""

    model_config = _FROZEN
    factor: Annotated[float, Field(gt=0, le=1)] = Field(
        default=1.0, description="Multiply cross-border lead times by this."
    )
    minus_days: Days = Field(default=0.0, description="Then subtract this many days (floor 0).")
    countries: tuple[Country, ...] = Field(
        default=(), description="Only edges into these countries (default: all cross-border)."
    )
    capex: Money = Field(default=0.0, description="Capital cost.")
    opex_per_day: Money = Field(default=0.0, description="Operating cost per day.")

    @field_validator("countries", mode="before")
    @classmethod
    def _listify(cls, value: Any) -> Any:
        return _as_list(value)


LEVERS = (
    "msme_entrant",
    "recycling",
    "stockpile",
    "develop_resource",
    "diversify",
    "trade_facilitation",
)


class Policy(BaseModel):
    """A named, costed option: one or more levers applied to the baseline."""

    model_config = _FROZEN
    id: Id = Field(description="Unique policy id ('baseline' is reserved).")
    label: Name | None = Field(default=None, description="Plain-language label for reports.")
    description: Text | None = Field(default=None, description="What it means in practice.")
    msme_entrant: MsmeEntrant | None = None
    recycling: Recycling | None = None
    stockpile: Stockpile | None = None
    develop_resource: DevelopResource | None = None
    diversify: Diversify | None = None
    trade_facilitation: TradeFacilitation | None = None

    @model_validator(mode="after")
    def _some_lever(self) -> Policy:
        if self.id == "baseline":
            raise ValueError("'baseline' is reserved for the unchanged scenario")
        if not any(getattr(self, lever) is not None for lever in LEVERS):
            raise ValueError("a policy needs at least one lever: " + ", ".join(LEVERS))
        return self


class Experiment(BaseModel):
    """Monte Carlo settings."""

    model_config = _FROZEN
    replications: Annotated[int, Field(ge=1, le=1_000_000)] = Field(
        default=100,
        description="Replications R (at most a million, far beyond any useful precision).",
    )
    seed: Annotated[int, Field(ge=0)] = Field(default=12345, description="Root seed.")
    compare: tuple[Annotated[str, StringConstraints(max_length=_MAX_NAME)], ...] = Field(
        default=("baseline",),
        description="Policies to compare: ids, or combinations joined by '+' (a+b).",
    )
    confidence: Annotated[float, Field(gt=0, lt=1)] = Field(
        default=0.95, description="Confidence level of intervals."
    )


class Scoring(BaseModel):
    """Scorecard weights (shown in every report, never hidden)."""

    model_config = _FROZEN
    weights: dict[
        Literal[
            "resilience", "diversification", "circularity", "msme_inclusion", "resource_readiness"
        ],
        Fraction,
    ] = Field(
        default_factory=lambda: {  # type: ignore[arg-type]
            "resilience": 0.4,
            "diversification": 0.2,
            "circularity": 0.15,
            "msme_inclusion": 0.15,
            "resource_readiness": 0.1,
        },
        description="Weights of the scorecard groups; they sum to 1.",
    )

    @field_validator("weights")
    @classmethod
    def _sum_to_one(cls, value: dict[str, float]) -> dict[str, float]:
        total = sum(value.values())
        if abs(total - 1) > 1e-6:
            raise ValueError(f"weights sum to {total:g}; they must sum to 1")
        return value


class Simulation(BaseModel):
    """Engine settings."""

    model_config = _FROZEN
    switching_delay_days: Days = Field(
        default=7.0,
        description="Days before orders for a blocked or failed supplier move to qualified "
        "alternatives (per edge: switch_days).",
    )
    record: Literal["daily", "summary"] = Field(
        default="daily", description="Keep the daily record (daily) or only summaries."
    )


#: Codes of the warnings of :func:`crmsim.scenario.check_warnings`, for `silence_warnings`.
WarningCode = Literal[
    "capacity_below_plan",
    "recycler_no_feedstock",
    "disruption_matches_nothing",
    "entrant_never_supplies",
    "development_after_horizon",
    "ignored_field",
]


class SilencedWarning(BaseModel):
    """A warning silenced on purpose: its code, and the element it is about (or all)."""

    model_config = _FROZEN
    code: WarningCode = Field(description="The warning's code, as crmsim validate prints it.")
    id: Id | None = Field(
        default=None,
        description="Only the warning about this node, disruption or policy (default: every "
        "warning with this code).",
    )
    reason: Text | None = Field(default=None, description="Why it is silenced (for readers).")

    @model_validator(mode="before")
    @classmethod
    def _code_only(cls, data: Any) -> Any:
        return {"code": data} if isinstance(data, str) else data


class Scenario(BaseModel):
    """A crmsim scenario: network, disruptions, policies and experiment settings."""

    model_config = _FROZEN
    crmsim: Literal[1] = Field(description="Schema version; must be 1.")
    name: Name = Field(description="Scenario name (at most 500 characters).")
    description: Text | None = Field(default=None, description="What the scenario represents.")
    sources: tuple[Text, ...] = Field(
        default=(), description="Sources of the numbers in the file (cite them by number)."
    )
    assumptions: tuple[Text, ...] = Field(
        default=(), description="Numbers that are assumptions, and why."
    )
    horizon_days: Annotated[int, Field(ge=1, le=MAX_DAYS)] = Field(
        default=365,
        description="Scored days H (at most 36500, 100 years: the daily record grows with it).",
    )
    warmup_days: Annotated[int, Field(ge=0, le=MAX_DAYS)] = Field(
        default=60, description="Simulated but unscored days W before day 0 (at most 36500)."
    )
    regions: dict[Id, tuple[Country, ...]] = Field(
        default_factory=dict, description="Named groups of countries, e.g. {EU: [DEU, FRA]}."
    )
    home: tuple[Annotated[str, StringConstraints(max_length=_MAX_ID)], ...] = Field(
        default=(),
        description="Home countries or regions for import reliance and supply risk "
        "(default: the markets' countries).",
    )
    currency: Annotated[str, StringConstraints(min_length=1, max_length=16)] = Field(
        default="USD",
        description="Currency of every cost in the file (capex, opex, holding costs), e.g. USD "
        "or EUR; shown beside costs in comparisons.",
    )
    governance: dict[Country, Annotated[float, Field(ge=0, le=10)]] = Field(
        default_factory=dict,
        description="Scaled governance scores (0–10, higher = weaker governance) that override "
        "the shipped WGI table.",
    )
    materials: tuple[Material, ...] = Field(min_length=1, description="Materials traded.")
    nodes: tuple[Node, ...] = Field(min_length=1, description="Actors in the network.")
    edges: tuple[Edge, ...] = Field(default=(), description="Supply relationships.")
    disruptions: tuple[Disruption, ...] = Field(default=(), description="Disruptions.")
    policies: tuple[Policy, ...] = Field(default=(), description="Policy options.")
    experiment: Experiment = Field(default_factory=Experiment, description="Experiment settings.")
    scoring: Scoring = Field(default_factory=Scoring, description="Scorecard weights.")
    simulation: Simulation = Field(default_factory=Simulation, description="Engine settings.")
    silence_warnings: tuple[SilencedWarning, ...] = Field(
        default=(),
        description="Warnings not to report: a code (every warning of that kind) or {code, "
        "id, reason} (only the one about that node, disruption or policy). The warnings and "
        "their codes are listed in the README (crmsim validate).",
    )

    @field_validator("home", mode="before")
    @classmethod
    def _listify(cls, value: Any) -> Any:
        return _as_list(value)

    @field_validator("sources", "assumptions", mode="before")
    @classmethod
    def _listify_text(cls, value: Any) -> Any:
        return _as_list(value)

    # Convenience look-ups (built on demand; the model itself is immutable).
    def material(self, material_id: str) -> Material:
        """The material with this id (KeyError if none)."""
        for m in self.materials:
            if m.id == material_id:
                return m
        raise KeyError(material_id)

    def node(self, node_id: str) -> Node:
        """The node with this id (KeyError if none)."""
        for n in self.nodes:
            if n.id == node_id:
                return n
        raise KeyError(node_id)

    def policy(self, policy_id: str) -> Policy:
        """The policy with this id (KeyError if none)."""
        for p in self.policies:
            if p.id == policy_id:
                return p
        raise KeyError(policy_id)

    def countries_of(self, name: str) -> tuple[str, ...]:
        """Countries of a region name, or the country itself."""
        return self.regions.get(name, (name,))
