"""Back-tests: each shipped scenario that replays a historical episode reproduces its outcome.

Every band below is derived from what happened; the band, its reasoning and its sources
are written in ``scenarios/README.md`` ("Back-tests"). A model or parameter change that
breaks history fails here. The replication counts keep the Monte-Carlo error of each
checked mean well inside its band (standard errors are printed in the README) while the
whole file runs in well under a minute.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from crmsim import load_scenario
from crmsim.experiment import RunResult, run_replications
from crmsim.scenario.schema import Scenario

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"
SEED = 1


def run_scenario(scenario: Scenario, replications: int) -> RunResult:
    """Run ``replications`` replications of ``scenario`` with the back-tests' seed."""
    return run_replications(scenario, replications=replications, seed=SEED, workers=1)


def scheduled_only(scenario: Scenario) -> Scenario:
    """The scenario without its random disruptions: the historical events alone."""
    kept = tuple(d for d in scenario.disruptions if d.random is None)
    return scenario.model_copy(update={"disruptions": kept})


def fill_rates(run: RunResult) -> pd.Series:
    """Mean fill rate over replications, per market."""
    return run.market_summary.groupby("market")["fill_rate"].mean()


def short_days(run: RunResult, market: str, below: float = 0.95) -> int:
    """Scored days on which the median replication's performance at ``market`` is below ``below``.

    Read from the run's daily performance bands (quantiles over replications).
    """
    band = run.bands[run.bands["market"] == market]
    return int((band["q50"] < below).sum())


# --- pharma 2020: Hubei, China's restart and India's API export restriction -------------


def check_pharma(run: RunResult) -> None:
    """EU generics: no general shortage from the 2020 supply shock."""
    ms = run.market_summary
    patients = ms[ms["market"] == "eu_patients"]
    assert patients["fill_rate"].mean() >= 0.98
    assert patients["nadir"].median() >= 0.95
    assert (patients["nadir"] < 0.8).mean() <= 0.15


def check_pharma_scheduled(run: RunResult) -> None:
    """The 2020 events alone (no random plant incident) leave every replication supplied."""
    ms = run.market_summary
    assert ms["fill_rate"].min() >= 0.995
    assert ms["nadir"].min() >= 0.9


@pytest.fixture(scope="module")
def pharma() -> Scenario:
    return load_scenario(SCENARIOS / "pharma_api80.yaml")


def test_pharma_2020_no_general_generics_shortage(pharma):
    check_pharma(run_scenario(pharma, 60))


def test_pharma_2020_events_alone_cause_no_shortage(pharma):
    check_pharma_scheduled(run_scenario(scheduled_only(pharma), 20))


# --- neon 2022: Ingas and Cryoin stop ----------------------------------------------------

FABS = ("fab_twn", "fab_kor", "fab_chn", "fab_usa", "fab_deu")


def check_neon(run: RunResult) -> None:
    """Chip fabs: supply not materially cut, yet the stocks carried a real loss."""
    rates = fill_rates(run)
    for fab in FABS:
        assert rates[fab] >= 0.97, (fab, rates[fab])
    assert run.first is not None
    d = run.first.daily
    stock = d[(d["stock"] == "input") & d["node"].isin(["fab_twn", "fab_kor"])]
    by_day = stock.groupby(["node", "day"], observed=True)["on_hand"].sum().unstack("node")
    start, end = by_day.loc[0], by_day.loc[by_day.index.max()]
    assert (end <= 0.8 * start).all(), (start.to_dict(), end.to_dict())


def test_neon_2022_fab_supply_not_materially_cut():
    scenario = load_scenario(SCENARIOS / "ukraine_neon.yaml")
    check_neon(run_scenario(scenario, 40))


# --- antimony 2024/25: China's export licensing and US ban -------------------------------


def check_antimony(run: RunResult) -> None:
    """EU and US users short for months; Chinese users not; Asian buyers kept receiving."""
    rates = fill_rates(run)
    assert 0.5 <= rates["market_eu"] <= 0.95, rates["market_eu"]
    assert rates["market_usa"] <= 0.95, rates["market_usa"]
    assert rates["market_chn"] >= 0.97, rates["market_chn"]
    assert rates["market_jpn"] >= rates["market_eu"] + 0.05, rates.to_dict()
    assert short_days(run, "market_eu") >= 60
    assert short_days(run, "market_usa") >= 60
    assert short_days(run, "market_chn") <= 7


def test_antimony_2024_europe_and_us_short_for_months_china_not():
    scenario = load_scenario(SCENARIOS / "tajikistan_antimony.yaml")
    check_antimony(run_scenario(scenario, 40))


# --- the checks can fail -----------------------------------------------------------------


def test_the_checks_fail_on_outcomes_that_contradict_history():
    """Each check rejects a run whose figures contradict what happened."""
    scenario = load_scenario(SCENARIOS / "tajikistan_antimony.yaml")
    # Without China's export controls nobody is short: the antimony check must fail.
    calm = scenario.model_copy(
        update={"disruptions": tuple(d for d in scenario.disruptions if d.random is not None)}
    )
    with pytest.raises(AssertionError):
        check_antimony(run_scenario(calm, 8))
    # Ukraine's purifiers stopping with a month of stock at the fabs (the old file's
    # figure) cuts chip-grade neon: the neon check must fail.
    neon = load_scenario(SCENARIOS / "ukraine_neon.yaml")
    thin = neon.model_copy(
        update={
            "nodes": tuple(
                n.model_copy(update={"stock_days": 30.0}) if n.id in FABS else n for n in neon.nodes
            )
        }
    )
    with pytest.raises(AssertionError):
        check_neon(run_scenario(thin, 8))
    # The old pharma file's timings (China 80 % down for all 76 days plus a 30-day ramp; all
    # of India's API exports blocked to 28 May) and its stocks (30 days at the formulator,
    # 7 elsewhere): a general generics shortage, which 2020 did not see.
    pharma = load_scenario(SCENARIOS / "pharma_api80.yaml")
    cover = {"formulator": 30.0, "eu_patients": 7.0, "api_in": 7.0}
    old = {
        "china_factory_shutdown": {"duration": 76.0, "recovery_days": 30.0},
        "india_api_export_restriction": {"severity": 1.0, "duration": 86.0},
    }
    harsh = pharma.model_copy(
        update={
            "nodes": tuple(
                n.model_copy(update={"stock_days": cover[n.id]}) if n.id in cover else n
                for n in pharma.nodes
            ),
            "disruptions": tuple(
                d.model_copy(update=old[d.id]) if d.id in old else d for d in pharma.disruptions
            ),
        }
    )
    with pytest.raises(AssertionError):
        check_pharma(run_scenario(harsh, 8))
    with pytest.raises(AssertionError):
        check_pharma_scheduled(run_scenario(scheduled_only(harsh), 4))
