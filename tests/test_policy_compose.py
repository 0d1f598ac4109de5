"""Combining policies: order, conflicts, unknown ids, and costs."""

from __future__ import annotations

import copy
import math
from typing import Any

import pandas as pd
import pytest

from crmsim.policy import PolicyError, apply_policies, parse_combination, realised_cost
from crmsim.scenario.loader import scenario_from_dict
from crmsim.scenario.schema import Scenario
from test_policy_levers import BASE, shares


def with_policies(*policies: dict[str, Any]) -> Scenario:
    data = copy.deepcopy(BASE)
    data["policies"] = list(policies)
    return scenario_from_dict(data)


ENTRANT = {
    "count": 2,
    "country": "POL",
    "size": "small",
    "capacity": 8,
    "supplies": ["formulator"],
    "capex": 1e6,
    "opex_per_day": 100,
    "share": 0.2,
}
STOCK = {
    "at": "formulator",
    "material": "api",
    "days_of_cover": 60,
    "release_below_fill_rate": 0.95,
    "holding_cost_per_unit_day": 0.5,
    "capex": 10,
}


def test_policies_apply_in_the_order_written():
    s = with_policies({"id": "msme", "msme_entrant": ENTRANT}, {"id": "sp", "stockpile": STOCK})
    ab = apply_policies(s, "msme+sp")
    ba = apply_policies(s, ["sp", "msme"])
    assert ab.policies == ("msme", "sp")
    assert ba.policies == ("sp", "msme")
    # The stockpile refills like the formulator buys at the time it is added.
    assert shares(ab.scenario, "sp")["api_cn"] == pytest.approx(0.4)
    assert "msme_1" in shares(ab.scenario, "sp")
    assert shares(ba.scenario, "sp") == {"api_cn": 0.5, "api_in": 0.3, "api_eu": 0.2}
    assert ab.combination == "msme+sp"
    assert [c.policy for c in ab.costs] == ["msme", "sp"]


def test_baseline_is_the_unchanged_scenario():
    s = with_policies({"id": "sp", "stockpile": STOCK})
    app = apply_policies(s, "baseline")
    assert app.scenario is s
    assert app.policies == ()
    assert app.label.startswith("baseline")
    assert app.total_cost.capex == 0


@pytest.mark.parametrize(
    ("policies", "message"),
    [
        (
            [
                {
                    "id": "cap_a",
                    "diversify": {
                        "buyer": "formulator",
                        "material": "api",
                        "max_share_per_country": 0.45,
                        "to": ["api_in", "api_eu"],
                    },
                },
                {
                    "id": "cap_b",
                    "diversify": {"buyer": "formulator", "max_share_per_supplier": 0.9},
                },
            ],
            "policies 'cap_a' and 'cap_b' conflict: both set the sourcing cap of 'formulator' "
            "for 'api'",
        ),
        (
            [
                {"id": "tf_a", "trade_facilitation": {"factor": 0.5}},
                {"id": "tf_b", "trade_facilitation": {"minus_days": 2, "countries": ["DEU"]}},
            ],
            "policies 'tf_a' and 'tf_b' conflict: both change lead_time of edge "
            "api_cn->formulator (api)",
        ),
        (
            [
                {"id": "m_a", "msme_entrant": ENTRANT},
                {"id": "m_b", "msme_entrant": {**ENTRANT, "share": 0.1}},
            ],
            "policies 'm_a' and 'm_b' conflict: both change share of edge",
        ),
        (
            [
                {"id": "s_a", "stockpile": {**STOCK, "id": "strategic"}},
                {"id": "s_b", "stockpile": {**STOCK, "id": "strategic"}},
            ],
            "policies 's_a' and 's_b' conflict: both add node 'strategic'",
        ),
    ],
)
def test_conflicts_name_both_policies_and_the_field(policies, message):
    s = with_policies(*policies)
    combo = "+".join(p["id"] for p in policies)
    apply_policies(s, policies[0]["id"])  # each alone is fine
    apply_policies(s, policies[1]["id"])
    with pytest.raises(PolicyError) as err:
        apply_policies(s, combo)
    assert message in str(err.value)


def test_changing_what_an_earlier_policy_added_is_not_a_conflict():
    s = with_policies(
        {"id": "msme", "msme_entrant": ENTRANT}, {"id": "tf", "trade_facilitation": {"factor": 0.5}}
    )
    t = apply_policies(s, "msme+tf").scenario
    e = next(e for e in t.edges if e.from_ == "msme_1")
    assert e.lead_time.mean == 1.0  # POL -> DEU: cross-border, 2 days × 0.5


def test_unknown_policy_suggests_the_closest_id():
    s = with_policies({"id": "stockpile_60d", "stockpile": STOCK})
    with pytest.raises(
        PolicyError,
        match=r"unknown policy 'stockpile_6d'; did you mean "
        r"'stockpile_60d'\?",
    ):
        apply_policies(s, "stockpile_6d")
    with pytest.raises(
        PolicyError,
        match=r"unknown policy 'zzz'\. Policies of this scenario: "
        r"baseline, stockpile_60d",
    ):
        apply_policies(s, ["baseline", "zzz"][1])


@pytest.mark.parametrize(
    ("text", "message"),
    [("a++b", "empty policy id"), ("baseline+a", "cannot be combined"), ("a+b+a", "twice")],
)
def test_parse_combination_errors(text, message):
    with pytest.raises(PolicyError, match=message):
        parse_combination(text)


# --------------------------------------------------------------------------- costs
class FakeResult:
    """What realised_cost reads from a SimulationResult."""

    horizon_days = 100

    def __init__(self, levers: pd.DataFrame, daily: pd.DataFrame):
        self.levers = levers
        self.daily = daily


def test_static_costs_per_policy():
    s = with_policies({"id": "msme", "msme_entrant": ENTRANT}, {"id": "sp", "stockpile": STOCK})
    app = apply_policies(s, "msme+sp")
    msme, sp = app.costs
    assert (msme.capex, msme.opex_per_day) == (2e6, 200)
    assert (sp.capex, sp.holding_cost_per_unit_day, sp.stock_units) == (10, 0.5, 60 * 65)
    total = app.total_cost
    assert (total.capex, total.opex_per_day, total.holding_per_day) == (2e6 + 10, 200, 1950)


def test_realised_cost_prices_what_happened():
    s = with_policies(
        {"id": "msme", "msme_entrant": ENTRANT},
        {"id": "sp", "stockpile": STOCK},
        {"id": "tf", "trade_facilitation": {"factor": 0.9, "capex": 5, "opex_per_day": 2}},
    )
    app = apply_policies(s, "msme+sp+tf")
    levers = pd.DataFrame(
        {
            "node": ["msme_1", "msme_1", "msme_2"],
            "event": ["entered", "exited", "no_finance"],
            "day": [10.0, 70.0, math.nan],
        }
    )
    daily = pd.DataFrame(
        {
            "node": ["sp", "sp", "sp", "formulator"],
            "day": [-1, 0, 1, 0],
            "on_hand": [999.0, 100.0, 50.0, 7.0],
        }
    )
    cost = realised_cost(app, FakeResult(levers, daily))
    assert cost["by_policy"]["msme"] == {
        "capex": 1e6,
        "opex": 100 * 60,
        "holding": 0.0,
        "total": 1e6 + 6000,
    }
    assert cost["by_policy"]["sp"]["holding"] == 0.5 * 150  # scored days only
    assert cost["by_policy"]["tf"]["opex"] == 2 * 100
    assert cost["total"] == pytest.approx(1e6 + 6000 + 10 + 75 + 5 + 200)
    assert cost["policy"] == "msme+sp+tf"


def test_realised_cost_of_development_counts_opex_once_producing():
    data = copy.deepcopy(BASE)
    data["nodes"].append(
        {
            "id": "deposit",
            "role": "mine",
            "country": "DEU",
            "output": "ore",
            "capacity": 20,
            "unfc": "E2 F2.1 G2",
        }
    )
    data["policies"] = [
        {"id": "dev", "develop_resource": {"node": "deposit", "capex": 50, "opex_per_day": 3}}
    ]
    app = apply_policies(scenario_from_dict(data), "dev")
    started = pd.DataFrame({"node": ["deposit"], "event": ["production_started"], "day": [40.0]})
    assert realised_cost(app, FakeResult(started, pd.DataFrame()))["total"] == 50 + 3 * 60
    never = pd.DataFrame({"node": ["deposit"], "event": ["never_developed"], "day": [math.nan]})
    assert realised_cost(app, FakeResult(never, pd.DataFrame()))["total"] == 50
