"""Every policy option of the shipped scenarios runs and shows its mechanics in the record."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from crmsim import load_scenario
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
        assert set(res.levers["event"]) & {"production_started", "never_developed"}
    cost = realised_cost(app, res)
    assert cost["total"] >= 0
