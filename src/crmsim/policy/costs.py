"""What a policy costs: static costs from the file, realised costs from a simulation.

*Static* costs are what a policy commits to, read from its levers: capital cost (capex;
per entrant for MSME entrants), operating cost per day at full operation (opex), and the
holding-cost rate of a stockpile with the stock it starts with.

*Realised* costs (:func:`realised_cost`) price what happened in one replication, over
the scored horizon only (the warm-up is not costed):

* MSME entrants: capex only if the entrant entered (no finance → no capex), opex for
  each scored day it operated (from entry to exit or the end of the horizon);
* develop_resource: capex always (the project is paid for whether or not it succeeds),
  opex for each scored day after production started;
* stockpile: capex always, plus the holding cost × the stock on hand each scored day;
* recycling, diversify and trade facilitation: capex always, opex every scored day.

Examples
--------
>>> from crmsim.scenario.schema import Policy
>>> p = Policy.model_validate({"id": "two", "msme_entrant": {"count": 2, "country": "DEU",
...     "size": "small", "capacity": 8, "supplies": ["f"], "capex": 4e6,
...     "opex_per_day": 2000}})
>>> c = static_cost(None, p)
>>> c.capex, c.opex_per_day
(8000000.0, 4000.0)
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from crmsim.scenario.schema import Policy, Scenario

if TYPE_CHECKING:
    from crmsim.policy.compose import PolicyApplication

__all__ = ["LEVER_EVENTS", "StaticCost", "realised_cost", "static_cost"]

#: Events the engine records in ``result.levers`` (column ``event``).
LEVER_EVENTS = ("entered", "no_finance", "exited", "production_started", "never_developed")


@dataclass(frozen=True)
class StaticCost:
    """The static cost of a policy (or of a combination).

    Attributes
    ----------
    policy : str
        Policy id (or combination ``a+b``).
    capex : float
        Total capital cost (all entrants).
    opex_per_day : float
        Operating cost per day with everything operating.
    holding_cost_per_unit_day : float
        Stockpile holding cost per unit held per day.
    stock_units : float
        Units a stockpile holds at the start (days of cover × initial fill × the buyer's
        planned need); NaN when unknown.
    """

    policy: str
    capex: float = 0.0
    opex_per_day: float = 0.0
    holding_cost_per_unit_day: float = 0.0
    stock_units: float = 0.0

    @property
    def holding_per_day(self) -> float:
        """Holding cost per day of the initial stock."""
        if self.holding_cost_per_unit_day == 0:
            return 0.0
        return self.holding_cost_per_unit_day * self.stock_units

    def per_year(self) -> float:
        """Opex and holding cost of 365 days (excluding capex)."""
        return 365.0 * (self.opex_per_day + self.holding_per_day)

    def as_dict(self) -> dict[str, Any]:
        """Fields and the derived holding cost per day, for tables and manifests."""
        return {**asdict(self), "holding_per_day": self.holding_per_day}

    @classmethod
    def total(cls, costs: Iterable[StaticCost], name: str) -> StaticCost:
        """Add up several policies' static costs.

        The holding-cost rate of the sum is the stock-weighted mean rate, so that the
        total's ``holding_per_day`` is the sum of the parts'.
        """
        costs = list(costs)
        units = sum(c.stock_units for c in costs if c.holding_cost_per_unit_day)
        holding = sum(c.holding_per_day for c in costs)
        return cls(
            policy=name,
            capex=sum(c.capex for c in costs),
            opex_per_day=sum(c.opex_per_day for c in costs),
            holding_cost_per_unit_day=holding / units if units else 0.0,
            stock_units=units,
        )


def _stock_units(scenario: Scenario | None, policy: Policy) -> float:
    sp = policy.stockpile
    if sp is None:
        return 0.0
    if scenario is None:
        return math.nan
    from crmsim.policy.levers import _planned

    _, needs = _planned(scenario)
    need = needs.get(sp.at, {}).get(sp.material, 0.0)
    return sp.days_of_cover * sp.initial_fill * need


def static_cost(scenario: Scenario | None, policy: Policy) -> StaticCost:
    """The static cost of one policy.

    Parameters
    ----------
    scenario : Scenario or None
        A scenario containing the policy's buyers (the baseline or the transformed one),
        used to size a stockpile's stock; None leaves ``stock_units`` NaN.
    policy : Policy
        The policy.

    Returns
    -------
    StaticCost
        Capex (entrants' capex × count), opex per day (entrants' × count) and the
        stockpile's holding-cost rate and initial stock.
    """
    capex = opex = 0.0
    if (m := policy.msme_entrant) is not None:
        capex += m.capex * m.count
        opex += m.opex_per_day * m.count
    for lever in (
        policy.recycling,
        policy.develop_resource,
        policy.diversify,
        policy.trade_facilitation,
    ):
        if lever is not None:
            capex += lever.capex
            opex += lever.opex_per_day
    rate = 0.0
    if (sp := policy.stockpile) is not None:
        capex += sp.capex
        rate = sp.holding_cost_per_unit_day
    return StaticCost(
        policy=policy.id,
        capex=float(capex),
        opex_per_day=float(opex),
        holding_cost_per_unit_day=float(rate),
        stock_units=float(_stock_units(scenario, policy)),
    )


def _event_day(levers: Any, node: str, event: str) -> float | None:
    """The first day of an event at a node (None when it did not happen)."""
    rows = levers[(levers["node"] == node) & (levers["event"] == event)]
    days = [float(d) for d in rows["day"] if d is not None and not math.isnan(float(d))]
    return min(days) if days else None


def realised_cost(application: PolicyApplication, result: Any) -> dict[str, Any]:
    """Price what actually happened in one replication, over the scored horizon.

    Parameters
    ----------
    application : PolicyApplication
        From :func:`crmsim.policy.apply_policies`.
    result : SimulationResult
        One replication of ``application.scenario``. Uses ``result.horizon_days``;
        ``result.levers``, a table with columns ``node``, ``event`` (one of
        :data:`LEVER_EVENTS`) and ``day`` (scored day; NaN when it never happened), for
        entrants and developed resources; and ``result.stock_held`` (stock on hand summed
        over the scored days, per node), or else ``result.daily`` rows (``node``, ``day``,
        ``on_hand``), for stockpile nodes.

    Returns
    -------
    dict
        ``policy`` (the combination), ``capex``, ``opex``, ``holding`` and ``total``,
        and ``by_policy``: the same four amounts for each policy.

    Raises
    ------
    ValueError
        If the result lacks a table the policies need.
    """
    from crmsim.policy.levers import _entrant_ids, stockpile_id

    scenario = application.scenario
    H = float(result.horizon_days)
    levers = getattr(result, "levers", None)
    by_policy: dict[str, dict[str, float]] = {}
    for pid in application.policies:
        p = scenario.policy(pid)
        capex = opex = holding = 0.0
        if (m := p.msme_entrant) is not None:
            if levers is None:
                raise ValueError("the result has no `levers` table (entry events) to cost entrants")
            for node in _entrant_ids(m, pid):
                entered = _event_day(levers, node, "entered")
                if entered is None:
                    continue
                exited = _event_day(levers, node, "exited")
                end = H if exited is None else min(exited, H)
                capex += m.capex
                opex += m.opex_per_day * max(0.0, end - max(entered, 0.0))
        if (d := p.develop_resource) is not None:
            if levers is None:
                raise ValueError(
                    "the result has no `levers` table (production events) to cost develop_resource"
                )
            capex += d.capex
            started = _event_day(levers, d.node, "production_started")
            if started is not None:
                opex += d.opex_per_day * max(0.0, H - max(started, 0.0))
        if (sp := p.stockpile) is not None:
            capex += sp.capex
            if sp.holding_cost_per_unit_day:
                node = stockpile_id(sp, pid)
                held = getattr(result, "stock_held", None)
                if held is not None:
                    unit_days = float(held.get(node, 0.0))
                else:
                    daily = result.daily
                    rows = daily[(daily["node"] == node) & (daily["day"] >= 0)]
                    unit_days = float(rows["on_hand"].sum())
                holding += sp.holding_cost_per_unit_day * unit_days
        for lever in (p.recycling, p.diversify, p.trade_facilitation):
            if lever is not None:
                capex += lever.capex
                opex += lever.opex_per_day * H
        by_policy[pid] = {
            "capex": capex,
            "opex": opex,
            "holding": holding,
            "total": capex + opex + holding,
        }
    totals = {
        k: sum(v[k] for v in by_policy.values()) for k in ("capex", "opex", "holding", "total")
    }
    return {"policy": application.combination, **totals, "by_policy": by_policy}
