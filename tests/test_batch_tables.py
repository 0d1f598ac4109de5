"""Per-replication tables built for a whole batch from stacked arrays.

:func:`crmsim.engine.results.batch_tables` must give, row for row and bit for bit, what
``SimulationResult(...).summary``, ``.market_summary`` and ``.disruptions`` give for each
replication of the batch (the per-replication API, :func:`crmsim.engine.attribution.attribution`
and :func:`~crmsim.engine.attribution.attribution_table`, stays the reference). The bands of a
large network cover ``"(all)"`` and a bounded set of markets (:func:`band_series`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import crmsim
from crmsim.engine import SimulationResult, run_batch, simulate
from crmsim.engine import attribution as attribution_module
from crmsim.engine import results as results_module
from crmsim.engine.recorders import Summary
from crmsim.engine.results import batch_tables
from crmsim.experiment import run_replications, runner
from crmsim.experiment.bands import BandAccumulator
from crmsim.experiment.runner import band_series
from crmsim.scenario.loader import scenario_from_dict

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = sorted(p.name for p in (ROOT / "scenarios").glob("*.yaml"))


def _reference(views: list[Any]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The three tables of each replication through SimulationResult, concatenated.

    Empty tables are left out of the concatenation (they carry no dtypes), as the runner
    always did; with no rows at all the table is the empty one of the first replication.
    """
    rows, per_market, events = [], [], []
    for v in views:
        res = SimulationResult(v.scenario.name, v.seed, v.replication, v.stats, v)
        rows.append({"replication": v.replication, **res.summary})
        per_market.append(res.market_summary.assign(replication=v.replication))
        events.append(res.disruptions.assign(replication=v.replication))
    events = [e for e in events if len(e)] or events[:1]
    return (
        pd.DataFrame(rows),
        pd.concat(per_market, ignore_index=True),
        pd.concat(events, ignore_index=True),
    )


def _same_summary(a: Any, b: Any) -> None:
    """Two runs' summaries are identical but for the time taken."""
    pd.testing.assert_frame_equal(
        a.summary.drop(columns="seconds"), b.summary.drop(columns="seconds"), check_exact=True
    )


def _assert_same(views: list[Any], **kw: Any) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    t = batch_tables(views, **kw)
    summary, per_market, events = _reference(views)
    got = pd.DataFrame({"replication": t.replications, **t.summary})
    pd.testing.assert_frame_equal(got, summary, check_exact=True)
    got = pd.DataFrame(t.market_summary)[per_market.columns]
    pd.testing.assert_frame_equal(got, per_market, check_exact=True)
    got = pd.DataFrame(t.disruptions)[events.columns]
    pd.testing.assert_frame_equal(got, events, check_exact=True)
    # The bands' input: each replication's market and overall daily performance.
    for pos, v in enumerate(views):
        res = SimulationResult(v.scenario.name, v.seed, v.replication, v.stats, v)
        np.testing.assert_array_equal(t.overall[pos], res.performance)
        cols = kw.get("band_columns")
        want = res.market_performance if cols is None else res.market_performance[:, cols]
        np.testing.assert_array_equal(t.performance[pos], want)
    return summary, per_market, events


@pytest.mark.parametrize("name", SHIPPED)
def test_batch_tables_equal_each_replications_tables_on_every_shipped_scenario(name):
    s = crmsim.load_scenario(ROOT / "scenarios" / name)
    views = run_batch(s, 3, list(range(10)), recorders=[Summary()])
    _, _, events = _assert_same(views)
    assert len(events)  # every shipped scenario has disruptions in 10 replications


def _two_units(disruptions: list[dict[str, Any]], **over: Any) -> Any:
    """Two chains of two materials in different units (t and kg), demand with noise."""
    data: dict[str, Any] = {
        "crmsim": 1,
        "name": "two units",
        "warmup_days": 20,
        "horizon_days": 120,
        "materials": [{"id": "ore"}, {"id": "salt", "unit": "kg"}],
        "nodes": [
            {"id": "mine_a", "role": "mine", "country": "AUS", "output": "ore", "capacity": 12},
            {"id": "mine_b", "role": "mine", "country": "CHN", "output": "salt",
             "capacity": 12000},
            {"id": "city_a", "role": "market", "country": "DEU",
             "demand": {"mean": 10, "cv": 0.2}},
            {"id": "city_b", "role": "market", "country": "FRA",
             "demand": {"mean": 10000, "cv": 0.2}},
        ],
        "edges": [
            {"from": "mine_a", "to": "city_a", "lead_time": 5},
            {"from": "mine_b", "to": "city_b", "lead_time": 5},
        ],
        "disruptions": disruptions,
    }  # fmt: skip
    data.update(over)
    return scenario_from_dict(data)


def _outage(did: str, node: str, start: int, duration: int, **kw: Any) -> dict[str, Any]:
    target = {"node": node}
    return {"id": did, "kind": "outage", "target": target, "start": start, "duration": duration,
            **kw}  # fmt: skip


def test_batch_tables_with_overlapping_censored_and_no_events_and_two_units():
    # mine_b: two overlapping outages; mine_a: an outage to the end of the horizon
    # (censored TTR); a random outage at mine_a that some replications lack entirely.
    s = _two_units(
        [
            _outage("b_first", "mine_b", 20, 30),
            _outage("b_second", "mine_b", 40, 30),
            _outage("a_end", "mine_a", 100, 40),
        ]
    )
    views = run_batch(s, 5, [0, 1, 2], recorders=[Summary()])
    summary, per_market, events = _assert_same(views)
    # The cases are there: overlaps, a censored TTR, two units side by side.
    assert events.groupby("replication")["overlapping"].sum().tolist() == [2, 2, 2]
    assert events.loc[events["event"] == "a_end[mine_a]#0", "censored"].all()
    assert summary["ttr_censored"].all()
    assert sorted(set(per_market["material"])) == ["ore", "salt"]
    # No disruption at all: empty disruptions, zeros in the summary.
    quiet = run_batch(_two_units([]), 5, [0, 1, 2], recorders=[Summary()])
    summary, _, events = _assert_same(quiet)
    assert len(events) == 0
    assert summary["disruptions"].tolist() == [0, 0, 0]
    assert summary["ttr_max"].tolist() == [0.0, 0.0, 0.0]


def test_batch_tables_mixed_batch_some_replications_without_events():
    duration = {"uniform": {"low": 5, "high": 30}}
    rare = {"id": "rare", "kind": "outage", "target": {"node": "mine_a"},
            "random": {"rate_per_year": 1.5, "duration": duration}}  # fmt: skip
    s = _two_units([rare])
    views = run_batch(s, 11, list(range(12)), recorders=[Summary()])
    _, _, events = _assert_same(views)
    counts = events.groupby("replication").size().reindex(range(12), fill_value=0)
    assert (counts == 0).any()
    assert (counts > 0).any()


def test_batch_tables_in_pieces_equal_the_whole_and_band_columns_select(monkeypatch):
    s = crmsim.load_scenario(ROOT / "scenarios" / "tajikistan_antimony.yaml")
    views = run_batch(s, 3, list(range(6)), recorders=[Summary()])
    whole = batch_tables(views)
    monkeypatch.setattr(results_module, "TABLE_CELLS", 1)  # one replication stacked at a time
    monkeypatch.setattr(attribution_module, "ATTRIBUTION_CELLS", 1)  # and attributed
    _assert_same(views, band_columns=[0, 2])
    pieces = batch_tables(views)
    for c, v in whole.summary.items():
        np.testing.assert_array_equal(pieces.summary[c], v)
    np.testing.assert_array_equal(pieces.performance, whole.performance)


def test_run_replications_tables_equal_each_simulated_replication():
    """The runner's tables are those of simulate() per replication, on one or two workers."""
    s = _two_units([_outage("b_first", "mine_b", 20, 30), _outage("b_second", "mine_b", 40, 30)])
    one = run_replications(s, 5, 2, workers=1, keep_first_daily=False)
    views = [simulate(s, 2, replication=r)._engine for r in range(5)]
    summary, per_market, events = _reference(views)
    pd.testing.assert_frame_equal(
        one.summary[summary.columns], summary, check_exact=True
    )
    pd.testing.assert_frame_equal(
        one.market_summary, per_market[one.market_summary.columns], check_exact=True
    )
    pd.testing.assert_frame_equal(
        one.disruptions, events[one.disruptions.columns], check_exact=True
    )
    assert list(one.summary.columns[-2:]) == ["simpy_events", "seconds"]
    two = run_replications(s, 5, 2, workers=2, keep_first_daily=False)
    _same_summary(one, two)
    pd.testing.assert_frame_equal(one.disruptions, two.disruptions, check_exact=True)
    pd.testing.assert_frame_equal(one.bands, two.bands, check_exact=True)


# ------------------------------------------------------------------ bands of large networks
def _markets(means: dict[str, float]) -> Any:
    nodes: list[dict[str, Any]] = [
        {"id": "mine", "role": "mine", "country": "AUS", "output": "ore", "capacity": 100}
    ]
    nodes += [
        {"id": m, "role": "market", "country": "DEU", "demand": {"mean": mean, "cv": 0.3}}
        for m, mean in means.items()
    ]
    return scenario_from_dict(
        {
            "crmsim": 1,
            "name": "markets",
            "warmup_days": 10,
            "horizon_days": 40,
            "materials": [{"id": "ore"}],
            "nodes": nodes,
            "edges": [{"from": "mine", "to": m, "lead_time": 3} for m in means],
            "disruptions": [_outage("cut", "mine", 5, 10)],
        }
    )


def test_band_series_rule(monkeypatch):
    s = _markets({"m_a": 5, "m_b": 30, "m_c": 30, "m_d": 1})
    layout = runner._prepare(s)[1]
    names = [layout.nodes[i] for i in layout.markets]
    assert band_series(layout).tolist() == list(range(4))  # few markets: all of them
    monkeypatch.setattr(runner, "BAND_MARKETS", 3)
    picked = [names[k] for k in band_series(layout)]
    assert picked == ["m_a", "m_b", "m_c"]  # largest mean demand (30, 30, 5)
    monkeypatch.setattr(runner, "BAND_MARKETS", 1)
    assert [names[k] for k in band_series(layout)] == ["m_b"]  # a tie goes to the first id
    assert [names[k] for k in band_series(layout, ["m_d", "m_a"])] == ["m_a", "m_d"]
    assert band_series(layout, []).tolist() == []
    with pytest.raises(ValueError, match=r"band_markets: m_x is not a market .*m_a, m_b"):
        band_series(layout, ["m_x"])


def test_bands_of_chosen_markets_are_those_rows_of_the_full_bands(monkeypatch):
    s = _markets({"m_a": 5, "m_b": 30, "m_c": 20})
    full = run_replications(s, 6, 1, workers=1, keep_first_daily=False)
    asked = run_replications(s, 6, 1, workers=1, keep_first_daily=False, band_markets=["m_c"])
    assert list(dict.fromkeys(asked.bands["market"])) == ["(all)", "m_c"]
    want = full.bands[full.bands["market"].isin(["(all)", "m_c"])].reset_index(drop=True)
    pd.testing.assert_frame_equal(asked.bands, want, check_exact=True)
    # The default on a network over the bound: "(all)" and the largest.
    monkeypatch.setattr(runner, "BAND_MARKETS", 1)
    capped = run_replications(s, 6, 1, workers=1, keep_first_daily=False)
    assert list(dict.fromkeys(capped.bands["market"])) == ["(all)", "m_b"]
    _same_summary(capped, full)
    with pytest.raises(ValueError, match="band_markets: nowhere"):
        run_replications(s, 2, 1, workers=1, keep_first_daily=False, band_markets=["nowhere"])


@pytest.mark.parametrize("R", [5, 300])  # exact and histogram modes
def test_add_many_is_add_of_each(R):
    rng = np.random.default_rng(0)
    perf = rng.choice([0.0, 0.3, 0.97, 1.0], size=(R, 7, 2))
    overall = rng.uniform(size=(R, 7))
    order = rng.permutation(R)
    one, many = BandAccumulator(["a", "b"], 7, R), BandAccumulator(["a", "b"], 7, R)
    for r in order:
        one.add(int(r), perf[r], overall[r])
    for chunk in np.array_split(order, 3):
        many.add_many(chunk, perf[chunk], overall[chunk])
    pd.testing.assert_frame_equal(one.table(), many.table(), check_exact=True)
    if one.exact:  # (the histogram mode keeps no record of who was added)
        with pytest.raises(ValueError, match="added twice"):
            many.add_many(order[:2], perf[:2], overall[:2])
        fresh = BandAccumulator(["a", "b"], 7, R)
        with pytest.raises(ValueError, match="added twice"):
            fresh.add_many([1, 1], perf[:2], overall[:2])
        with pytest.raises(ValueError, match=r"replication 5 is not in 0 … 4"):
            fresh.add_many([0, 5], perf[:2], overall[:2])


def test_passes_are_bounded_by_the_daily_market_records(monkeypatch):
    s = _markets({"m_a": 5, "m_b": 30, "m_c": 20})
    layout = runner._prepare(s)[1]
    days = s.warmup_days + s.horizon_days  # 50 days × 3 markets = 150 values a replication
    assert runner.batch_size_for(layout, days) == runner.BATCH_SIZE
    monkeypatch.setattr(runner, "BATCH_RECORD_CELLS", 1000)
    assert runner.batch_size_for(layout, days) == 6  # 1000 // 150
    assert runner.batch_size_for(layout) == runner.BATCH_SIZE  # no days: no such bound
    monkeypatch.setattr(runner, "BATCH_RECORD_CELLS", 10)
    assert runner.batch_size_for(layout, days) == 1
    small = run_replications(s, 7, 1, workers=1, keep_first_daily=False)
    monkeypatch.setattr(runner, "BATCH_RECORD_CELLS", 10**9)
    big = run_replications(s, 7, 1, workers=1, keep_first_daily=False)
    _same_summary(small, big)
    pd.testing.assert_frame_equal(small.disruptions, big.disruptions, check_exact=True)
    pd.testing.assert_frame_equal(small.bands, big.bands, check_exact=True)


def test_compare_bands_keep_the_series_run_keeps(monkeypatch):
    from crmsim.experiment.compare import compare

    s = _markets({"m_a": 5, "m_b": 30, "m_c": 20})
    monkeypatch.setattr(runner, "BAND_MARKETS", 1)
    run = run_replications(s, 4, 3, workers=1, keep_first_daily=False)
    cmp = compare(s, replications=4, seed=3, workers=1, flow_replications=0)
    (bands,) = cmp.run.bands.values()
    assert list(dict.fromkeys(bands["market"])) == ["(all)", "m_b"]
    pd.testing.assert_frame_equal(bands, run.bands, check_exact=True)


def test_cli_run_band_market(tmp_path):
    from click.testing import CliRunner

    from crmsim.cli import cli

    tutorial = str(ROOT / "scenarios" / "tutorial.yaml")
    out = tmp_path / "res"
    args = ["run", tutorial, "-r", "3", "-w", "1", "--no-daily", "-o", str(out)]
    res = CliRunner().invoke(cli, [*args, "--band-market", "nowhere"])
    assert res.exit_code == 1
    assert "Traceback" not in res.output
    (line,) = res.stderr.strip().splitlines()
    assert line.startswith(f"crmsim run: --band-market in {tutorial}: nowhere is not a market")
    assert "markets: " in line
    assert not out.exists()  # nothing simulated, nothing written
    neon = str(ROOT / "scenarios" / "ukraine_neon.yaml")  # five markets: one asked for
    res = CliRunner().invoke(
        cli, ["run", neon, "-r", "2", "-w", "1", "--no-daily", "-o", str(out),
              "--band-market", "fab_deu"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    bands = pd.read_parquet(out / "bands.parquet")
    assert list(dict.fromkeys(bands["market"])) == ["(all)", "fab_deu"]
