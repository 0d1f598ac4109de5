"""Stages with nothing to do on a day do nothing, and do their work when there is some.

Each guard is tested both ways on one small chain (a mine, a qualified alternative mine
and a market): without the feature or the event the stage's work is never reached; with
it the work is done, on the days it is due, and the batch still gives every replication
bitwise the numbers of the oracle engine (``tests/reference_engine.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

from crmsim.engine import run_batch, stages
from crmsim.engine.recorders import recorders_for
from crmsim.scenario.loader import scenario_from_dict
from test_engine_batch import _chain, _prepare, _reference, assert_same_replication

OUTAGE = {
    "id": "down",
    "kind": "outage",
    "target": {"node": "mine"},
    "start": 20,
    "duration": 30,
    "severity": 1.0,
}


class Probe:
    """A recorder that notes, per day, which of the day's optional flows a stage filled."""

    def __init__(self) -> None:
        self.seen: dict[str, list[bool]] = {"collected": [], "released": [], "cancelled": []}

    def start(self, s: Any, replications: Sequence[int]) -> None:
        """Nothing to allocate."""

    def record(self, s: Any, day: Any) -> None:
        """Note whether each optional flow was filled today."""
        for name, days in self.seen.items():
            days.append(getattr(day, name) is not None)

    def arrays(self, pos: int) -> dict[str, Any]:
        """Nothing kept per replication."""
        return {}


def _run(data: dict[str, Any], reps: Sequence[int] = (0, 1)) -> list[Any]:
    s = scenario_from_dict(data)
    G, lay = _prepare(s)
    got = run_batch(s, 5, list(reps), recorders=recorders_for("daily"), layout=lay, graph=G)
    for r, new in zip(reps, got, strict=True):
        assert_same_replication(_reference(s, 5, r, (G, lay)), new)
    return got


def _calls(monkeypatch: pytest.MonkeyPatch, name: str) -> list[int]:
    """Days on which ``stages.<name>`` is called (its first argument after the state)."""
    days: list[int] = []
    real = getattr(stages, name)

    def spy(s: Any, day: Any, *args: Any, **kw: Any) -> Any:
        days.append(day if isinstance(day, int) else day.d)
        return real(s, day, *args, **kw)

    monkeypatch.setattr(stages, name, spy)
    return days


def test_resourcing_is_not_computed_while_no_supplier_is_impaired(monkeypatch):
    days = _calls(monkeypatch, "_divert")
    got = _run(_chain())
    assert days == []
    alt = got[0].layout.node_index["alt"]
    assert all(float(v.rec_ship[:, alt].sum()) == 0.0 for v in got)


def test_resourcing_is_computed_from_the_first_day_a_supplier_is_impaired(monkeypatch):
    days = _calls(monkeypatch, "_divert")
    data = _chain(disruptions=[OUTAGE])
    got = _run(data)
    W = data["warmup_days"]
    # Every day of the outage, and the day after it (which finds the edge recovered).
    assert sorted(set(days)) == list(range(W + 20, W + 51))
    alt = got[0].layout.node_index["alt"]
    assert all(float(v.rec_ship[:, alt].sum()) > 0.0 for v in got)  # the work mattered


def test_availability_is_recomputed_only_on_days_an_outage_changes_it(monkeypatch):
    calls: list[int] = []
    real = stages.ramp_share

    def spy(ev: Any, day: int) -> float:
        calls.append(day)
        return real(ev, day)

    monkeypatch.setattr(stages, "ramp_share", spy)
    _run(_chain())
    assert calls == []
    ramp = dict(OUTAGE, recovery_days=4)
    _run(_chain(disruptions=[ramp]), reps=(0,))
    W = 10
    # The start day, the end day, then each day of the 4-day recovery ramp.
    assert sorted(set(calls)) == [W + 20, W + 50, W + 51, W + 52, W + 53]


def test_levers_stage_runs_only_with_an_entrant_or_a_development(monkeypatch):
    days = _calls(monkeypatch, "levers")
    _run(_chain())
    assert days == []
    data = _chain()
    data["nodes"].append(
        {
            "id": "newco",
            "role": "mine",
            "country": "DEU",
            "output": "ore",
            "capacity": 5,
            "entry": {"day": 30},
        }
    )
    data["edges"].append(
        {"from": "newco", "to": "city", "lead_time": 2, "share": 0.0, "qualified": True}
    )
    _run(data, reps=(0,))
    assert days == list(range(10 + 200))


def test_end_of_life_releases_and_quotas_fill_flows_only_when_they_exist():
    probe = Probe()
    s = scenario_from_dict(_chain())
    run_batch(s, 5, [0, 1], recorders=[*recorders_for("summary"), probe])
    assert not any(any(days) for days in probe.seen.values())
    # An export restriction fills the cancelled orders on the days it is in force only.
    restricted = _chain(
        disruptions=[
            {
                "id": "ban",
                "kind": "export_restriction",
                "target": {"country": "CHN"},
                "start": 5,
                "duration": 10,
                "severity": 0.5,
            }
        ]
    )
    probe = Probe()
    run_batch(scenario_from_dict(restricted), 5, [0], recorders=[probe])
    cancelled = np.flatnonzero(probe.seen["cancelled"])
    assert cancelled.tolist() == list(range(10 + 5, 10 + 15))
    assert not any(probe.seen["collected"])
    assert not any(probe.seen["released"])
