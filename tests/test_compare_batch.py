"""`crmsim compare` builds its per-replication tables for a whole batch at once.

The reference is the way compare built them before (kept here, :func:`old_chunk` and
:func:`old_frames`): one ``SimulationResult`` per replication and its pandas tables row by
row. The batch-built tables must be bitwise the same on every shipped scenario, however a
batch is split into chunks and also when a batch has to be built one replication at a
time; a replication that fails is still named.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from crmsim import load_scenario
from crmsim.experiment import compare as compare_module
from crmsim.experiment.compare import (
    _COST_COLUMNS,
    _DISRUPTION_COLUMNS,
    _MARKET_COLUMNS,
    ALL_MARKETS,
    ReplicationError,
    _batch_frames,
    _compare_chunk,
    _market_units,
    run_experiment,
    variants_of,
)
from crmsim.scenario.loader import scenario_from_dict
from crmsim.scenario.schema import Scenario
from test_compare_scale import CHAIN

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = sorted((ROOT / "scenarios").glob("*.yaml"))
TABLES = ("replications", "disruptions", "flows", "readiness", "performance")


# ------------------------------------------------------------- the old way (reference)


@dataclass(frozen=True)
class OldCompact:
    """One replication of one variant as plain records (what compare sent before)."""

    variant: int
    replication: int
    markets: list[dict[str, Any]]
    disruptions: list[dict[str, Any]]
    flows: list[dict[str, Any]] | None
    readiness: dict[str, Any] | None
    performance: np.ndarray


def old_chunk(payload: tuple[Any, ...], items: list[tuple[int, int]]) -> list[OldCompact]:
    """compare's chunk as it was: a ``SimulationResult`` and row dicts per replication."""
    from crmsim.engine import SimulationResult
    from crmsim.experiment.runner import _prepare
    from crmsim.experiment.scorecard import edge_flows, resource_readiness
    from crmsim.policy import realised_cost

    seed, n_flow, units, shared, variants = payload
    out = []
    for v, r in items:
        name, scenario, application = variants[v]
        (view,) = compare_module._simulate(scenario, seed, [r], _prepare(scenario), r < n_flow)
        res = SimulationResult(scenario.name, int(seed), int(r), view.stats, view)
        summary = dict(res.summary)
        costs = dict.fromkeys(_COST_COLUMNS, 0.0)
        if application is not None and application.policies:
            cost = realised_cost(application, res)
            costs = {f"cost_{k}": float(cost[k]) for k in ("capex", "opex", "holding", "total")}
        rows = []
        ms = res.market_summary
        for rec in ms[["market", "material", *_MARKET_COLUMNS]].to_dict("records"):
            rows.append(
                {"variant": name, "replication": r, "market": rec["market"],
                 "material": rec["material"], "unit": units.get(rec["market"], (None, ""))[1],
                 **{c: rec[c] for c in _MARKET_COLUMNS}, **costs}
            )  # fmt: skip
        if shared is not None:
            rows.append(
                {"variant": name, "replication": r, "market": ALL_MARKETS,
                 "material": ",".join(sorted({m for m, _ in units.values()})), "unit": shared,
                 **{c: summary[c] for c in _MARKET_COLUMNS}, **costs}
            )  # fmt: skip
        dis = [
            {"variant": name, "replication": r, **{str(k): x for k, x in rec.items()}}
            for rec in res.disruptions[_DISRUPTION_COLUMNS[2:]].to_dict("records")
        ]
        flows = ready = None
        if r < n_flow:
            fl = edge_flows(res, scenario)
            flows = [
                {str(k): x for k, x in rec.items()}
                for rec in fl.assign(variant=name, replication=r).to_dict("records")
            ]
            ready = {"variant": name, "replication": r, **resource_readiness(res)}
        names = [str(m) for m in res.market_summary["market"]]
        mp = np.asarray(res.market_performance, dtype=float)
        perf = np.vstack(
            [*(mp[:, names.index(m)] for m in sorted(names)), np.asarray(res.performance)]
        )
        out.append(OldCompact(v, r, rows, dis, flows, ready, perf))
    return out


def old_frames(results: list[OldCompact]) -> dict[str, pd.DataFrame]:
    """compare's tables of one batch as it built them before."""
    results = sorted(results, key=lambda c: c.replication)
    keys = ["variant", "replication", "market", "material", "unit"]
    reps = pd.DataFrame(
        [row for c in results for row in c.markets],
        columns=[*keys, *_MARKET_COLUMNS, *_COST_COLUMNS],
    )
    dis = pd.DataFrame([row for c in results for row in c.disruptions], columns=_DISRUPTION_COLUMNS)
    flows = pd.DataFrame([row for c in results if c.flows for row in c.flows])
    if len(flows):
        k2 = ["variant", "replication"]
        flows = flows[[*k2, *[c for c in flows.columns if c not in k2]]]
    ready = pd.DataFrame([c.readiness for c in results if c.readiness is not None])
    markets = sorted({row["market"] for c in results for row in c.markets} - {ALL_MARKETS})
    markets = [*markets, ALL_MARKETS]
    arr = np.vstack([c.performance for c in results])
    perf = pd.concat(
        [
            pd.DataFrame(
                {
                    "replication": np.repeat([c.replication for c in results], len(markets)),
                    "market": markets * len(results),
                }
            ),
            pd.DataFrame(arr, columns=[f"d{t}" for t in range(arr.shape[1])]),
        ],
        axis=1,
    )
    return {"replications": reps, "disruptions": dis, "flows": flows, "readiness": ready,
            "performance": perf}  # fmt: skip


# ------------------------------------------------------------------------- helpers


def payload_of(scenario: Scenario, seed: int, n_flow: int) -> tuple[Any, ...]:
    """What run_experiment sends its workers (every variant of the scenario)."""
    units = _market_units(scenario)
    unit_set = {u for _, u in units.values()}
    shared = unit_set.pop() if len(unit_set) == 1 else None
    apps = variants_of(scenario)
    return seed, n_flow, units, shared, [(a.combination, a.scenario, a) for a in apps]


def assert_bitwise(new: pd.DataFrame, old: pd.DataFrame, what: str) -> None:
    """Same columns, dtypes and values; numbers compared bit for bit."""
    assert list(new.columns) == list(old.columns), what
    assert list(new.dtypes) == list(old.dtypes), what
    assert_frame_equal(new, old, check_exact=True, obj=what)
    for c in new.columns:
        a, b = new[c].to_numpy(), old[c].to_numpy()
        if a.dtype.kind in "biuf":
            assert a.tobytes() == b.tobytes(), f"{what}: column {c} differs in its bits"


def assert_same_frames(new: dict[str, pd.DataFrame], old: dict[str, pd.DataFrame]) -> None:
    for table in TABLES:
        assert_bitwise(new[table], old[table], table)


# --------------------------------------------------------------------------- tests


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_batch_tables_equal_the_per_replication_tables_on_every_shipped_scenario(
    path: Path,
) -> None:
    scenario = load_scenario(path)
    payload = payload_of(scenario, seed=1, n_flow=2)
    R = 5
    some_disruptions = False
    for v in range(len(payload[4])):
        items = [(v, r) for r in range(R)]
        old = old_frames(old_chunk(payload, items))
        whole = _batch_frames(_compare_chunk(payload, items))
        assert_same_frames(whole, old)
        # A batch split over workers: chunks of 2 and 3 replications, collected.
        blocks = _compare_chunk(payload, items[:2]) + _compare_chunk(payload, items[2:])
        assert_same_frames(_batch_frames(blocks[::-1]), old)
        assert set(old["flows"]["replication"]) == {0, 1}  # flows of r < n_flow only
        assert list(old["readiness"]["replication"]) == [0, 1]
        some_disruptions |= bool(len(old["disruptions"]))
    if scenario.disruptions:
        assert some_disruptions, "the comparison should cover disruption rows"


def test_costs_flows_and_all_markets_rows_are_those_of_each_replication() -> None:
    # CHAIN: a policy with capex (priced per replication), markets sharing a unit.
    scenario = scenario_from_dict(CHAIN)
    payload = payload_of(scenario, seed=7, n_flow=3)
    assert payload[3] is not None  # a shared unit: "(all)" rows
    for v in range(len(payload[4])):
        items = [(v, r) for r in range(7)]
        new = _batch_frames(_compare_chunk(payload, items))
        old = old_frames(old_chunk(payload, items))
        assert_same_frames(new, old)
        long = new["replications"]
        assert (long["market"] == ALL_MARKETS).sum() == 7
        if payload[4][v][0] == "maybe_financed+stock":
            # The entrant's capex is paid only in replications where it found finance.
            capex = long.groupby("replication")["cost_capex"].first()
            assert capex.nunique() == 2


def test_a_batch_that_fails_is_built_one_replication_at_a_time_to_the_same_tables(
    monkeypatch: Any,
) -> None:
    scenario = scenario_from_dict(CHAIN)
    payload = payload_of(scenario, seed=7, n_flow=1)
    items = [(1, r) for r in range(4)]
    old = old_frames(old_chunk(payload, items))
    real = compare_module._simulate
    calls: list[int] = []

    def no_batches(scenario: Any, seed: int, reps: list[int], *a: Any) -> Any:
        calls.append(len(reps))
        if len(reps) > 1:
            raise MemoryError("a batch is too big")
        return real(scenario, seed, reps, *a)

    monkeypatch.setattr(compare_module, "_simulate", no_batches)
    blocks = _compare_chunk(payload, items)
    assert calls == [4, 1, 1, 1, 1]
    assert [b.replications for b in blocks] == [[0], [1], [2], [3]]
    assert_same_frames(_batch_frames(blocks), old)


def is_stock_variant_nodes(ids: set[str]) -> bool:
    """The CHAIN variant ``stock`` by its node ids (its stockpile node, no entrant)."""
    return "stock" in ids and "maybe_financed_1" not in ids


def test_a_replication_whose_tables_fail_is_named(monkeypatch: Any) -> None:
    import crmsim.engine.results as results_module

    real = results_module.batch_tables

    def flaky(reps: Any, *a: Any) -> Any:
        nodes = set(reps[0].layout.nodes)
        if any(rep.replication == 3 for rep in reps) and is_stock_variant_nodes(nodes):
            raise ValueError("cannot tabulate")
        return real(reps, *a)

    monkeypatch.setattr(results_module, "batch_tables", flaky)
    with pytest.raises(ReplicationError) as info:
        run_experiment(scenario_from_dict(CHAIN), replications=5, flow_replications=0)
    err = info.value
    assert (err.variant, err.replication, err.seed) == ("stock", 3, 7)
    assert "ValueError: cannot tabulate" in str(err)


def test_a_replication_whose_cost_fails_is_named(monkeypatch: Any) -> None:
    import crmsim.policy as policy_module

    real = policy_module.realised_cost

    def flaky(application: Any, result: Any) -> Any:
        if application.combination == "maybe_financed+stock" and result.replication == 2:
            raise KeyError("no price")
        return real(application, result)

    monkeypatch.setattr(policy_module, "realised_cost", flaky)
    with pytest.raises(ReplicationError) as info:
        run_experiment(scenario_from_dict(CHAIN), replications=5, flow_replications=0)
    err = info.value
    assert (err.variant, err.replication, err.seed) == ("maybe_financed+stock", 2, 7)
    assert "variant maybe_financed+stock, replication 2 (root seed 7)" in str(err)
