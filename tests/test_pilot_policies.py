"""Every policy option of the shipped scenarios runs and shows its mechanics in the record."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from crmsim import load_scenario
from crmsim.cli import cli
from crmsim.engine import simulate
from crmsim.policy import apply_policies, realised_cost
from crmsim.policy.levers import stockpile_id

ROOT = Path(__file__).resolve().parents[1]
CASES = [
    (path.name, p.id)
    for path in sorted((ROOT / "scenarios").glob("*.yaml"))
    for p in load_scenario(path).policies
]


def rows(result, node):
    d = result.daily
    return d[(d["node"] == node) & (d["stock"] == "output")]


@pytest.mark.parametrize(("name", "policy_id"), CASES, ids=[f"{n}:{p}" for n, p in CASES])
def test_policy_runs_and_its_mechanics_show(name, policy_id):
    base = load_scenario(ROOT / "scenarios" / name)
    app = apply_policies(base, policy_id)
    policy = base.policy(policy_id)
    res = simulate(app.scenario, seed=3)
    res.check_conservation()
    baseline = simulate(base, seed=3)
    # Common random numbers: the same demand draws with and without the policy.
    np.testing.assert_array_equal(res.market_daily["demand"], baseline.market_daily["demand"])
    added = {n.id for n in app.scenario.nodes} - {n.id for n in base.nodes}
    if policy.msme_entrant is not None:
        entrants = sorted(n for n in added if n.startswith(policy.msme_entrant.id or policy_id))
        assert entrants
        events = res.levers[res.levers["node"].isin(entrants)]
        # Every entrant either found no finance or entered (on a day, or on a shortage).
        for node in entrants:
            ev = set(events.loc[events["node"] == node, "event"])
            assert ev & {"no_finance", "entered"} or policy.msme_entrant.trigger.day is None
            cap = rows(res, node)["capacity_available"]
            if "entered" in ev:
                assert cap.max() > 0
            else:
                assert cap.max() == 0
    if policy.recycling is not None:
        rec = rows(res, policy.recycling.id)
        assert rec["collected"].sum() > 0, "the recycler collects end-of-life material"
        assert rec["produced"].sum() > 0, "and recovers secondary material"
        mats = res.materials.set_index("material")
        assert (mats["eol_rir"].dropna() > 0).any()
    if policy.stockpile is not None:
        sp = rows(res, stockpile_id(policy.stockpile, policy_id))
        assert sp.loc[sp["day"] == 0, "on_hand"].iloc[0] > 0
        assert sp["released"].notna().all()
    if policy.develop_resource is not None:
        node = policy.develop_resource.node
        events = set(res.levers.loc[res.levers["node"] == node, "event"])
        ((start,),) = [
            (s,) for i, s, _ in res._engine.developments if res._engine.layout.nodes[i] == node
        ]
        cap = rows(res, node)["capacity_available"]
        if start is None:
            assert events == {"never_developed"}
            assert cap.max() == 0
        elif start < res._engine.W + res._engine.H:
            assert events == {"production_started"}
            assert cap.max() > 0
        else:  # drawn beyond the horizon (a Development Pending project over one year)
            assert events == set()
            assert cap.max() == 0
    cost = realised_cost(app, res)
    assert cost["total"] >= 0


# --- the ten-year UNFC development case -----------------------------------------------


def test_konchoch_starts_producing_within_ten_years_in_about_half_the_replications():
    """Development Pending over 10 years: 0.6 × P(lognormal(8 y, CV 0.3) < 10 y) ≈ 0.49.

    The scenario's notes give the measured share over 100 replications (54/100); over the
    30 replications here the binomial 95 % range around 0.49 is about 0.31–0.67.
    """
    base = load_scenario(ROOT / "scenarios" / "tajikistan_antimony_10y.yaml")
    assert base.horizon_days == 3650
    app = apply_policies(base, "develop_konchoch")
    started = 0
    for r in range(30):
        res = simulate(app.scenario, base.experiment.seed, replication=r, record="summary")
        ev = res.levers[
            (res.levers["node"] == "deposit_konchoch")
            & (res.levers["event"] == "production_started")
        ]
        started += int(len(ev) > 0 and ev["day"].iloc[0] < base.horizon_days)
    assert 0.3 <= started / 30 <= 0.7, started
    # Without the option it never produces.
    res = simulate(base, base.experiment.seed, replication=0, record="summary")
    assert "production_started" not in set(res.levers["event"])


def konchoch_shipments(res) -> dict[str, float]:
    """Scored-horizon shipments from Konchoch, per buyer."""
    eng = res._engine
    lay = eng.layout
    i = lay.node_index["deposit_konchoch"]
    return {
        lay.nodes[int(v)]: float(q)
        for v, q in zip(
            lay.edge_dst[lay.edge_src == i], eng.edge_shipped[lay.edge_src == i], strict=True
        )
    }


def test_developed_konchoch_sells_metal_to_users_whose_chinese_supply_is_restricted():
    # Replication 5 (seed 20240915): development starts on day 2113 with a capacity factor
    # of 1.07; the EU's and the US's Chinese edges are export-restricted all decade, so
    # the orders their quotas cannot carry are re-sourced to Konchoch's metal.
    base = load_scenario(ROOT / "scenarios" / "tajikistan_antimony_10y.yaml")
    app = apply_policies(base, "develop_konchoch").scenario
    seed = base.experiment.seed
    dev = simulate(app, seed, replication=5, record="summary")
    started = dev.levers[dev.levers["event"] == "production_started"]
    assert started["day"].tolist() == [2113.0]
    sold = konchoch_shipments(dev)
    assert sold["market_eu"] > 1000, sold
    assert sold["market_usa"] > 1000, sold
    ref = simulate(base, seed, replication=5, record="summary")
    fill = {
        name: r.market_summary.set_index("market")["fill_rate"]
        for name, r in (("dev", dev), ("ref", ref))
    }
    assert fill["dev"]["market_eu"] > fill["ref"]["market_eu"] + 0.02
    assert fill["dev"]["market_usa"] > fill["ref"]["market_usa"] + 0.02
    assert fill["dev"]["market_chn"] == pytest.approx(fill["ref"]["market_chn"], abs=1e-9)
    # Before it produces nothing is re-sourced to it: a replication without development
    # (replication 0) sells nothing and leaves every user as in the baseline.
    none = simulate(app, seed, replication=0, record="summary")
    assert "production_started" not in set(none.levers["event"])
    assert sum(konchoch_shipments(none).values()) == 0.0
    base0 = simulate(base, seed, replication=0, record="summary")
    pd.testing.assert_frame_equal(none.market_summary, base0.market_summary)


def test_ten_year_demand_grows_one_and_a_half_percent_a_year():
    # growth_per_year 0.015 on the four users' markets: the mean of the tenth scored year
    # over the first is 1.015^9 = 1.143 (each year's mean: cv 0.1 over 365 days, so the
    # ratio's standard error is about 0.01); the battery market stays flat.
    base = load_scenario(ROOT / "scenarios" / "tajikistan_antimony_10y.yaml")
    res = simulate(base, base.experiment.seed, replication=0)
    md = res.market_daily
    for market, ratio in (
        ("market_eu", 1.015**9),
        ("market_chn", 1.015**9),
        ("usa_batteries", 1.0),
    ):
        d = md[md["market"] == market].set_index("day")["demand"]
        got = d.loc[3285:3649].mean() / d.loc[0:364].mean()
        assert got == pytest.approx(ratio, abs=0.03), (market, got)


# --- crmsim run on the pilots shows the pilot's own options and producer figures --------


@pytest.mark.parametrize(
    ("name", "policy", "expected"),
    [
        (
            "tajikistan_antimony.yaml",
            "export_diversification_tjk",
            [
                "policy: export_diversification_tjk — Tajik concentrate sold to the smelters",
                "producer-country view: TJK",
                "sb_concentrate: exports",
                "sb_metal: exports",
                "value added at home",
                "buyer HHI",
                "own options (crmsim run -p ID): msme_smelter_tjk, export_diversification_tjk, "
                "develop_konchoch",
            ],
        ),
        (
            "ukraine_neon.yaml",
            "eu_fab_contract_ukr",
            [
                "policy: eu_fab_contract_ukr — restart purification in Ukraine",
                "producer-country view: UKR",
                "neon: exports",
                "own options (crmsim run -p ID): restart_purification_ukr, eu_fab_contract_ukr, "
                "partner_purifier_rou, msme_purifier_ukr",
            ],
        ),
    ],
)
def test_crmsim_run_prints_the_producer_view(name, policy, expected):
    result = CliRunner().invoke(
        cli, ["run", str(ROOT / "scenarios" / name), "-r", "2", "-p", policy, "-w", "1"]
    )
    assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())
    for text in expected:
        assert " ".join(text.split()) in out, text


def test_crmsim_run_of_an_importer_scenario_prints_no_producer_view():
    result = CliRunner().invoke(
        cli, ["run", str(ROOT / "scenarios" / "tutorial.yaml"), "-r", "1", "-w", "1"]
    )
    assert result.exit_code == 0, result.output
    assert "producer-country view" not in result.output
