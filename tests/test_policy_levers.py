"""Each lever's transformation of a small inline scenario, checked by hand."""

from __future__ import annotations

import copy
import math
from typing import Any

import pytest

from crmsim.network.graph import baseline_flows, build_graph
from crmsim.policy import (
    PolicyError,
    apply_develop_resource,
    apply_diversify,
    apply_msme_entrant,
    apply_recycling,
    apply_stockpile,
    apply_trade_facilitation,
)
from crmsim.policy.levers import scale_lead_time
from crmsim.policy.unfc_defaults import DAYS_PER_YEAR
from crmsim.scenario.distributions import Dist
from crmsim.scenario.loader import scenario_from_dict
from crmsim.scenario.schema import (
    DevelopResource,
    Diversify,
    MsmeEntrant,
    Recycling,
    Role,
    Scenario,
    Stockpile,
    TradeFacilitation,
)

#: The pharma worked example at demand 65: planned flows cn 32.5, in 19.5, eu 13 t/day.
BASE: dict[str, Any] = {
    "crmsim": 1,
    "name": "api",
    "materials": [
        {"id": "ore"},
        {"id": "api"},
        {"id": "pills", "lifetime": 100, "content": {"api": 1.0}},
    ],
    "nodes": [
        {"id": "mine", "role": "mine", "country": "DEU", "output": "ore", "capacity": 50},
        {"id": "api_cn", "role": "processor", "country": "CHN", "output": "api", "capacity": 50},
        {"id": "api_in", "role": "processor", "country": "IND", "output": "api", "capacity": 30},
        {"id": "api_eu", "role": "processor", "country": "DEU", "output": "api", "capacity": 15},
        {
            "id": "formulator",
            "role": "processor",
            "country": "DEU",
            "output": "pills",
            "capacity": 90,
            "recipe": {"api": 1.0},
            "stock_days": 30,
        },
        {"id": "patients", "role": "market", "country": "DEU", "demand": {"mean": 65}},
    ],
    "edges": [
        {"from": "api_cn", "to": "formulator", "share": 0.5, "lead_time": 35},
        {"from": "api_in", "to": "formulator", "share": 0.3, "lead_time": 28},
        {"from": "api_eu", "to": "formulator", "share": 0.2, "lead_time": 5, "qualified": True},
        {"from": "formulator", "to": "patients", "lead_time": 3},
    ],
}


def scenario(**changes: Any) -> Scenario:
    data = copy.deepcopy(BASE)
    for key, value in changes.items():
        data[key] = data[key] + value
    return scenario_from_dict(data)


@pytest.fixture
def base() -> Scenario:
    return scenario()


def shares(s: Scenario, buyer: str, material: str = "api") -> dict[str, float]:
    out = {n.id: n.output for n in s.nodes}
    return {
        e.from_: e.share
        for e in s.edges
        if e.to == buyer and (e.material or out[e.from_]) == material
    }


def edge(s: Scenario, a: str, b: str):
    return next(e for e in s.edges if e.from_ == a and e.to == b)


# --------------------------------------------------------------------------- msme_entrant
def entrant(**kw: Any) -> MsmeEntrant:
    spec = {
        "count": 2,
        "country": "DEU",
        "size": "small",
        "capacity": 8,
        "supplies": ["formulator"],
    }
    return MsmeEntrant.model_validate({**spec, **kw})


def test_entrants_with_share_rescale_the_buyer_shares_exactly(base):
    t = apply_msme_entrant(
        base,
        entrant(share=0.2, ramp_up_days=90, finance_probability=0.7, qualification_days=60),
        "msme",
    )
    assert shares(t, "formulator") == pytest.approx(
        {"api_cn": 0.4, "api_in": 0.24, "api_eu": 0.16, "msme_1": 0.1, "msme_2": 0.1}, abs=1e-12
    )
    assert math.fsum(shares(t, "formulator").values()) == pytest.approx(1, abs=1e-9)
    n = t.node("msme_2")
    assert (n.role, n.country, n.size.value, n.capacity, n.output) == (
        Role.PROCESSOR,
        "DEU",
        "small",
        8,
        "api",
    )
    assert n.entry.day == 0
    assert n.entry.finance_probability == 0.7
    assert (n.entry.ramp_up_days, n.entry.qualification_days) == (90, 60)
    e = edge(t, "msme_1", "formulator")
    assert e.qualified
    assert e.lead_time.mean == 2
    assert len(base.nodes) == 6
    assert shares(base, "formulator")["api_cn"] == 0.5


def test_entrants_without_share_are_qualified_alternatives_only(base):
    t = apply_msme_entrant(base, entrant(id="mk"), "msme")
    assert shares(t, "formulator") == {
        "api_cn": 0.5,
        "api_in": 0.3,
        "api_eu": 0.2,
        "mk_1": 0.0,
        "mk_2": 0.0,
    }
    assert edge(t, "mk_2", "formulator").qualified


def test_shortage_trigger_watches_a_market_buyer_only(base):
    lever = entrant(trigger={"fill_rate_below": 0.9, "for_days": 14, "buyer": "patients"})
    entry = apply_msme_entrant(base, lever, "msme").node("msme_1").entry
    assert (entry.fill_rate_below, entry.for_days, entry.watch, entry.day) == (
        0.9,
        14,
        "patients",
        None,
    )
    lever = entrant(trigger={"fill_rate_below": 0.9})  # first buyer: the formulator
    assert apply_msme_entrant(base, lever, "msme").node("msme_1").entry.watch is None


def test_entrant_recipe_inputs_split_equally_over_listed_suppliers():
    s = scenario(
        nodes=[{"id": "mine2", "role": "mine", "country": "POL", "output": "ore", "capacity": 5}]
    )
    lever = entrant(count=1, recipe={"ore": 2.0}, suppliers=["mine", "mine2"])
    t = apply_msme_entrant(s, lever, "msme")
    assert shares(t, "msme_1", "ore") == {"mine": 0.5, "mine2": 0.5}
    assert t.node("msme_1").recipe == {"ore": 2.0}


def test_entrant_errors(base):
    with pytest.raises(PolicyError, match="recipe input 'ore' has no supplier"):
        apply_msme_entrant(base, entrant(recipe={"ore": 1.0}, suppliers=["api_cn"]), "p")
    with pytest.raises(PolicyError, match="cannot infer the entrants' output"):
        apply_msme_entrant(base, entrant(supplies=["formulator", "patients"]), "p")
    with pytest.raises(PolicyError, match="does not use 'ore'"):
        apply_msme_entrant(base, entrant(output="ore"), "p")


def test_entrant_id_taken(base):
    lever = MsmeEntrant.model_validate(
        {"country": "DEU", "size": "micro", "capacity": 1, "supplies": ["formulator"], "id": "api"}
    )
    twice = apply_msme_entrant(base, lever, "p")
    with pytest.raises(PolicyError, match=r"'api_1'.*already has a node"):
        apply_msme_entrant(twice, lever, "p")


# --------------------------------------------------------------------------- recycling
def test_new_recycler_and_its_edge_scales_the_other_shares(base):
    lever = Recycling.model_validate(
        {
            "id": "rec",
            "country": "DEU",
            "size": "small",
            "output": "api",
            "capacity": 4,
            "collection_rate": 0.5,
            "recovery_efficiency": 0.8,
            "collects_from": ["patients"],
            "supplies": ["formulator"],
            "max_share": 0.25,
        }
    )
    t = apply_recycling(base, lever, "p")
    n = t.node("rec")
    assert (n.role, n.capacity, n.collection_rate, n.recovery_efficiency, n.collects_from) == (
        Role.RECYCLER,
        4,
        0.5,
        0.8,
        ("patients",),
    )
    e = edge(t, "rec", "formulator")
    assert (e.share, e.lead_time.mean, e.qualified) == (0.25, 2, True)
    # The buyer's other shares (0.5/0.3/0.2) are scaled by 0.75 so all still sum to 1.
    assert edge(t, "api_cn", "formulator").share == pytest.approx(0.375)
    assert edge(t, "api_in", "formulator").share == pytest.approx(0.225)
    assert edge(t, "api_eu", "formulator").share == pytest.approx(0.15)


def test_recycling_scales_an_existing_recycler():
    s = scenario(
        nodes=[
            {
                "id": "rec",
                "role": "recycler",
                "country": "DEU",
                "output": "api",
                "capacity": 10,
                "collection_rate": 0.5,
                "recovery_efficiency": 0.5,
            }
        ]
    )
    lever = Recycling(id="rec", capacity_factor=1.3, collection_rate=0.9)
    n = apply_recycling(s, lever, "p").node("rec")
    assert (n.capacity, n.collection_rate, n.recovery_efficiency) == pytest.approx((13, 0.9, 0.5))


def test_recycling_errors(base):
    with pytest.raises(PolicyError, match="does not use 'api'"):
        apply_recycling(
            base,
            Recycling(id="r", country="DEU", output="api", capacity=1, supplies=("patients",)),
            "p",
        )
    with pytest.raises(PolicyError, match="needs country, output"):
        apply_recycling(base, Recycling(id="r", capacity=1), "p")
    with pytest.raises(PolicyError, match="existing processor"):
        apply_recycling(base, Recycling(id="api_cn", collection_rate=0.5), "p")


# --------------------------------------------------------------------------- stockpile
def test_stockpile_node_and_edges(base):
    lever = Stockpile(
        at="formulator",
        material="api",
        days_of_cover=60,
        initial_fill=0.5,
        release_below_fill_rate=0.95,
        replenish_per_day=3,
    )
    t = apply_stockpile(base, lever, "sp60")
    n = t.node("sp60")
    assert (n.role, n.country, n.output, n.stock_days, n.initial_stock_days, n.capacity) == (
        Role.STOCKPILE,
        "DEU",
        "api",
        60,
        30,
        None,
    )
    assert n.release.to == "formulator"
    assert n.release.below_fill_rate == 0.95
    assert n.release.replenish
    assert n.release.replenish_per_day == 3
    out = edge(t, "sp60", "formulator")
    assert (out.share, out.qualified, out.lead_time.mean) == (0.0, False, 1)
    assert shares(t, "sp60") == {"api_cn": 0.5, "api_in": 0.3, "api_eu": 0.2}
    assert edge(t, "api_cn", "sp60").lead_time.mean == 35
    assert shares(t, "formulator")["sp60"] == 0.0


def test_stockpile_errors(base):
    with pytest.raises(PolicyError, match="does not use 'ore'"):
        apply_stockpile(
            base,
            Stockpile(
                at="formulator", material="ore", days_of_cover=5, release_below_fill_rate=0.9
            ),
            "p",
        )
    with pytest.raises(PolicyError, match="release rule"):
        apply_stockpile(base, Stockpile(at="formulator", material="api", days_of_cover=5), "p")


# --------------------------------------------------------------------------- develop_resource
def with_unfc(code: str | None) -> Scenario:
    data = copy.deepcopy(BASE)
    data["nodes"].append(
        {
            "id": "deposit",
            "role": "mine",
            "country": "DEU",
            "output": "ore",
            "capacity": 20,
            **({"unfc": code} if code else {}),
        }
    )
    return scenario_from_dict(data)


@pytest.mark.parametrize(
    ("code", "years", "p", "cv"),
    [
        ("E1 F1.2 G1", 3.0, 0.95, 0.1),
        ("E1 F1.3 G2", 5.0, 0.85, 0.25),
        ("E2 F2.1 G2", 8.0, 0.6, 0.25),
        ("E2 F2.2 G3", 11.0, 0.4, 0.5),
        ("E3.2 F2.2 G3", 14.0, 0.2, 0.5),
        ("E3 F4 G1", 16.5, 0.1, 0.1),
    ],
)
def test_develop_resource_defaults_per_class(code, years, p, cv):
    d = apply_develop_resource(with_unfc(code), DevelopResource(node="deposit"), "dev")
    dev = d.node("deposit").development
    assert dev.lead_time.mean == pytest.approx(years * DAYS_PER_YEAR)
    assert (dev.success_probability, dev.capacity_cv) == (p, cv)


def test_develop_resource_overrides():
    lever = DevelopResource.model_validate(
        {
            "node": "deposit",
            "lead_time": {"uniform": {"low": 300, "high": 500}},
            "success_probability": 0.5,
        }
    )
    dev = apply_develop_resource(with_unfc("E2 F2.1 G1"), lever, "dev").node("deposit").development
    assert (dev.lead_time.mean, dev.success_probability, dev.capacity_cv) == (400, 0.5, 0.1)


@pytest.mark.parametrize(
    ("code", "node", "message"),
    [
        ("E3 F3 G4", "deposit", "cannot be developed without exploration"),
        ("E1 F1.1 G1", "deposit", "already On Production"),
        (None, "deposit", "has no UNFC code"),
        ("E1 F1.2 G1", "api_cn", "applies to a mine or recycler"),
    ],
)
def test_develop_resource_errors(code, node, message):
    with pytest.raises(PolicyError, match=message):
        apply_develop_resource(with_unfc(code), DevelopResource(node=node), "dev")


# --------------------------------------------------------------------------- diversify
def test_country_cap_met_within_spare_capacity(base):
    lever = Diversify(
        buyer="formulator", material="api", max_share_per_country=0.4, to=("api_in", "api_eu")
    )
    t = apply_diversify(base, lever, "div")
    x = shares(t, "formulator")
    # 0.1 of 65 t/day = 6.5 t/day moves in proportion to spare capacity 10.5 : 2.
    assert x["api_cn"] == pytest.approx(0.4, abs=1e-12)
    assert x["api_in"] == pytest.approx(0.3 + 0.1 * 10.5 / 12.5, abs=1e-12)
    assert x["api_eu"] == pytest.approx(0.2 + 0.1 * 2 / 12.5, abs=1e-12)
    assert abs(math.fsum(x.values()) - 1) <= 1e-9
    rates, _ = baseline_flows(build_graph(t))
    for n in ("api_cn", "api_in", "api_eu"):
        assert rates[n] <= t.node(n).capacity + 1e-9
    assert max(x.values()) <= 0.4 + 1e-12


def test_supplier_cap_moves_excess_to_qualified_alternatives():
    s = scenario(
        nodes=[
            {"id": "api_fr", "role": "processor", "country": "FRA", "output": "api", "capacity": 60}
        ],
        edges=[
            {"from": "api_fr", "to": "formulator", "share": 0.0, "lead_time": 4, "qualified": True}
        ],
    )
    t = apply_diversify(s, Diversify(buyer="formulator", max_share_per_supplier=0.35), "div")
    x = shares(t, "formulator")
    # excess 0.15 → api_eu (spare 2) and api_fr (spare 60) in proportion 2 : 60
    assert x["api_cn"] == pytest.approx(0.35)
    assert x["api_eu"] == pytest.approx(0.2 + 0.15 * 2 / 62)
    assert x["api_fr"] == pytest.approx(0.15 * 60 / 62)
    assert abs(math.fsum(x.values()) - 1) <= 1e-9


def test_impossible_cap_says_by_how_much(base):
    lever = Diversify(buyer="formulator", material="api", max_share_per_country=0.3)
    # excess 0.2 (13 t/day); the only qualified alternative, api_eu, has 2 t/day spare.
    with pytest.raises(
        PolicyError,
        match=r"0\.1692 of its supply \(16\.92 percentage points, "
        r"11 units/day",
    ):
        apply_diversify(base, lever, "div")


def test_new_alternative_gets_an_edge_with_the_country_lead_time():
    s = scenario(
        nodes=[
            {
                "id": "api_cn2",
                "role": "processor",
                "country": "CHN",
                "output": "api",
                "capacity": 100,
            }
        ]
    )
    lever = Diversify(buyer="formulator", max_share_per_supplier=0.4, to=("api_cn2",))
    t = apply_diversify(s, lever, "div")
    e = edge(t, "api_cn2", "formulator")
    assert e.lead_time.mean == 35
    assert e.qualified
    assert e.share == pytest.approx(0.1)
    s2 = scenario(
        nodes=[
            {
                "id": "api_kr",
                "role": "processor",
                "country": "KOR",
                "output": "api",
                "capacity": 100,
            }
        ]
    )
    with pytest.raises(PolicyError, match="no supplier in KOR"):
        apply_diversify(
            s2, Diversify(buyer="formulator", max_share_per_supplier=0.4, to=("api_kr",)), "div"
        )
    lever = Diversify(
        buyer="formulator", max_share_per_supplier=0.4, to=("api_kr",), lead_time=Dist(fixed=20)
    )
    assert edge(apply_diversify(s2, lever, "div"), "api_kr", "formulator").lead_time.mean == 20


# --------------------------------------------------------------------------- trade facilitation
def test_trade_facilitation_scales_cross_border_lead_times(base):
    t = apply_trade_facilitation(base, TradeFacilitation(factor=0.5, minus_days=3), "tf")
    assert edge(t, "api_cn", "formulator").lead_time.mean == 14.5  # 35 × 0.5 − 3
    assert edge(t, "api_in", "formulator").lead_time.mean == 11.0
    assert edge(t, "api_eu", "formulator").lead_time.mean == 5  # domestic
    assert edge(t, "formulator", "patients").lead_time.mean == 3
    only = apply_trade_facilitation(
        base, TradeFacilitation(minus_days=50, countries=("FRA",)), "tf"
    )
    assert only.edges == base.edges


@pytest.mark.parametrize(
    "dist",
    [
        {"uniform": {"low": 20, "high": 40}},
        {"triangular": {"low": 10, "mode": 20, "high": 60}},
        {"normal": {"mean": 30, "sd": 5}},
        {"lognormal": {"mean": 30, "sd": 10}},
        {"exponential": {"mean": 30}},
        {"weibull": {"shape": 2.0, "scale": 30}},
    ],
)
def test_distributed_lead_time_mean_becomes_mean_times_factor_minus_days(dist):
    d = Dist.model_validate(dist)
    scaled = scale_lead_time(d, 0.8, 4)
    assert scaled.mean == pytest.approx(d.mean * 0.8 - 4, rel=1e-9)
    assert type(getattr(scaled, next(iter(dist)))) is type(getattr(d, next(iter(dist))))
    assert scale_lead_time(d, 0.1, 1000).fixed == 0
