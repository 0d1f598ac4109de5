"""Policy levers: named, costed transformations of a scenario (``Scenario -> Scenario``).

A policy in a scenario's ``policies:`` list is one or more levers. Each lever is a pure
function in :mod:`crmsim.policy.levers` that returns a new, re-validated scenario with
nodes, edges, shares, lead times or node fields changed; the engine then simulates the
changed scenario, so the mechanics of every lever (entry, ramp-up, development, stock
release, secondary supply) are simulated, never assumed. :func:`apply_policies` applies
a combination such as ``"msme_api_makers+stockpile_60d"`` in the order written and
rejects combinations that conflict; :mod:`crmsim.policy.costs` prices them.

Examples
--------
>>> from crmsim import load_scenario
>>> s = load_scenario("scenarios/pharma_api80.yaml")
>>> app = apply_policies(s, "msme_api_makers+stockpile_60d")
>>> app.policies
('msme_api_makers', 'stockpile_60d')
>>> sorted(n.id for n in app.scenario.nodes if n.id not in {m.id for m in s.nodes})
['msme_api_makers_1', 'msme_api_makers_2', 'stockpile_60d']
>>> apply_policies(s, "stockpile_6d")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
crmsim.policy.PolicyError: unknown policy 'stockpile_6d'; did you mean 'stockpile_60d'? ...
"""

from __future__ import annotations


class PolicyError(ValueError):
    """A policy that cannot be applied; the message is meant for the user."""


# The lever and composition modules import PolicyError from here, so it is defined first.
from crmsim.policy.compose import (  # noqa: E402
    BASELINE,
    PolicyApplication,
    apply_policies,
    parse_combination,
)
from crmsim.policy.costs import StaticCost, realised_cost, static_cost  # noqa: E402
from crmsim.policy.levers import (  # noqa: E402
    apply_develop_resource,
    apply_diversify,
    apply_msme_entrant,
    apply_policy,
    apply_recycling,
    apply_stockpile,
    apply_trade_facilitation,
)

__all__ = [
    "BASELINE",
    "PolicyApplication",
    "PolicyError",
    "StaticCost",
    "apply_develop_resource",
    "apply_diversify",
    "apply_msme_entrant",
    "apply_policies",
    "apply_policy",
    "apply_recycling",
    "apply_stockpile",
    "apply_trade_facilitation",
    "parse_combination",
    "realised_cost",
    "static_cost",
]
