"""Attribution of impact to disruptions: reachable markets, overlaps, marginal effects.

Two readings of what a disruption did (the rules are written once in docs/engine.md,
"Metrics"):

* **Attributed** (every run, cheap): each event's impact and time to recover (TTR) are
  read off the combined performance of the markets its nodes or edges can reach
  (:func:`crmsim.network.graph.reachable_markets`); only a dip that *begins* after the
  event started and before its impact window closed is its impact; an event whose impact
  span overlaps another event's on a shared market is flagged ``overlapping`` (its
  reading cannot be separated from the other's); an event that changes nothing by
  construction (severity 0, factor 1) is never impacted.
* **Marginal** (exact, one more simulation per event): the difference between the
  replication with and without that one event, under the same random numbers
  (:func:`marginal_effects`).

Events are identified by a stable key ``disruption[target]#k``: the disruption id, what it
hits, and ``k``, the event's occurrence index among the events of that disruption and
target in the replication (by start day, warm-up included; 0 for a scheduled event).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from crmsim.engine.disruptions import DisruptionEvent
from crmsim.metrics.performance import performance, time_to_recover
from crmsim.scenario.schema import DisruptionKind

if TYPE_CHECKING:
    from crmsim.engine.core import Engine
    from crmsim.scenario.schema import Scenario

__all__ = [
    "DIFFERENCE_TOLERANCE",
    "attribute",
    "event_keys",
    "has_effect",
    "marginal",
    "marginal_effects",
    "select_events",
]

#: A marginal effect has recovered once the performance difference is back within this.
DIFFERENCE_TOLERANCE = 0.05

DISRUPTION_COLUMNS = [
    "event",
    "disruption",
    "occurrence",
    "kind",
    "target",
    "start",
    "end",
    "severity",
    "factor",
    "stochastic",
    "has_effect",
    "markets",
    "impacted",
    "ttr",
    "censored",
    "overlapping",
    "overlaps",
]


def event_keys(events: Sequence[DisruptionEvent]) -> list[str]:
    """Stable keys ``disruption[target]#k`` of a replication's events.

    ``k`` counts the events of one disruption and target in the order given (the engine
    lists events by start day), from 0.

    Examples
    --------
    >>> from crmsim.scenario.schema import DisruptionKind
    >>> def ev(start):
    ...     return DisruptionEvent("flood", DisruptionKind.OUTAGE, "mine", start, start + 5,
    ...                            1.0, 1.0, 0.0, 0.0, (0,), (), True)
    >>> event_keys([ev(3), ev(40)])
    ['flood[mine]#0', 'flood[mine]#1']
    """
    seen: dict[tuple[str, str], int] = {}
    out = []
    for ev in events:
        k = seen.get((ev.disruption_id, ev.target), 0)
        seen[(ev.disruption_id, ev.target)] = k + 1
        out.append(f"{ev.disruption_id}[{ev.target}]#{k}")
    return out


def select_events(keys: Sequence[str], exclude: Collection[str]) -> list[int]:
    """Positions of the events to keep when ``exclude`` (event keys) are left out.

    Raises
    ------
    ValueError
        If a key in ``exclude`` names no event of the replication (the message lists
        the valid keys).
    """
    unknown = sorted(set(exclude) - set(keys))
    if unknown:
        valid = ", ".join(keys) if keys else "none: no disruption events"
        raise ValueError(
            f"exclude: no event {', '.join(unknown)} in this replication; valid keys: {valid}"
        )
    drop = set(exclude)
    return [i for i, k in enumerate(keys) if k not in drop]


def has_effect(ev: DisruptionEvent) -> bool:
    """Whether an event can change anything at all.

    An outage or export restriction of severity 0 (and, for an outage, no stock loss) and
    a demand shock or logistics disruption of factor 1 leave every flow as it was: the
    engine multiplies by 1 (``tests/test_attribution.py`` checks that their marginal
    effect is exactly 0).
    """
    if ev.kind is DisruptionKind.OUTAGE:
        return ev.severity > 0 or ev.stock_loss > 0
    if ev.kind is DisruptionKind.EXPORT_RESTRICTION:
        return ev.severity > 0
    return ev.factor != 1.0


def _reach(eng: Engine, ev: DisruptionEvent, cache: dict[Any, np.ndarray]) -> np.ndarray:
    """Columns (market positions) of the markets an event's nodes or edges can reach."""
    key = (ev.nodes, ev.edges)
    if key not in cache:
        from crmsim.network.graph import reachable_markets

        lay = eng.layout
        names = reachable_markets(
            eng.graph, [lay.nodes[i] for i in ev.nodes], [lay.edges[e] for e in ev.edges]
        )
        pos = {lay.nodes[i]: j for j, i in enumerate(lay.markets)}
        cache[key] = np.array(sorted(pos[n] for n in names), dtype=np.intp)
    return cache[key]


def _combined(served: np.ndarray, demand: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Daily performance of a set of markets together: Σ served / Σ demand."""
    return performance(served[:, cols].sum(axis=1), demand[:, cols].sum(axis=1))


def _acts_until(ev: DisruptionEvent) -> int:
    """First simulated day after an event (and its recovery ramp) has stopped acting."""
    ramp = int(np.ceil(ev.recovery_days)) if ev.kind is DisruptionKind.OUTAGE else 0
    return ev.end + ramp


def attribute(eng: Engine) -> pd.DataFrame:
    """Each realised disruption's attributed impact (the ``disruptions`` table).

    Parameters
    ----------
    eng : Engine
        A finished run.

    Returns
    -------
    pandas.DataFrame
        One row per event in force during the scored horizon; the columns are described in
        :attr:`crmsim.engine.SimulationResult.disruptions`.
    """
    W, H = eng.W, eng.H
    K = len(eng.layout.markets)
    window = eng.layout.impact_window
    keys = eng.event_keys
    # Events whose impact can reach the scored horizon take part in overlaps; events in
    # force during the horizon are listed.
    near = [i for i, e in enumerate(eng.events) if _acts_until(e) + window > W and e.start < W + H]
    served, demand = eng.rec_served[W:], eng.rec_demand[W:]
    evs = [eng.events[i] for i in near]
    n = len(evs)
    cache: dict[Any, np.ndarray] = {}
    reach = [_reach(eng, e, cache) for e in evs]
    effect = np.array([has_effect(e) for e in evs])
    starts = np.array([e.start - W for e in evs], dtype=np.int64)
    ends = np.array([e.end - W for e in evs], dtype=np.int64)
    limits = np.floor(np.array([_acts_until(e) - W for e in evs]) + window).astype(np.int64)
    ttr, censored, impacted = np.zeros(n), np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
    groups: dict[bytes, list[int]] = {}
    for i in range(n):
        if effect[i] and reach[i].size:
            groups.setdefault(reach[i].tobytes(), []).append(i)
    for idx in groups.values():
        p = _combined(served, demand, reach[idx[0]])
        sel = np.array(idx)
        t, c, m = time_to_recover(p, starts[sel], limits[sel], onset=True)
        ttr[sel], censored[sel], impacted[sel] = t, c, m
    # Overlap: event i's reading (from its start to its recovery, or to the end of its
    # impact window when not impacted) meets the span of another event j that can change
    # something on a shared reachable market (j in force, within its impact window, or
    # not yet recovered from its own impact).
    recovered_by = np.where(impacted, np.maximum(starts, 0) + ttr, limits)
    span_end = np.maximum(limits, recovered_by)
    on = np.zeros((n, K), dtype=bool)
    for i in range(n):
        on[i, reach[i]] = effect[i]
    shared = (on.astype(np.int64) @ on.T.astype(np.int64)) > 0
    meet = (starts[:, None] <= span_end[None, :]) & (starts[None, :] <= recovered_by[:, None])
    pairs = shared & meet
    np.fill_diagonal(pairs, False)
    lay = eng.layout
    market_names = [lay.nodes[i] for i in lay.markets]
    rows = [i for i in range(n) if evs[i].end > W]
    return pd.DataFrame(
        {
            "event": [keys[near[i]] for i in rows],
            "disruption": [evs[i].disruption_id for i in rows],
            "occurrence": [int(keys[near[i]].rsplit("#", 1)[1]) for i in rows],
            "kind": [str(evs[i].kind) for i in rows],
            "target": [evs[i].target for i in rows],
            "start": starts[rows],
            "end": ends[rows],
            "severity": [evs[i].severity for i in rows],
            "factor": [evs[i].factor for i in rows],
            "stochastic": [evs[i].stochastic for i in rows],
            "has_effect": effect[rows],
            "markets": [",".join(market_names[j] for j in reach[i]) for i in rows],
            "impacted": impacted[rows],
            "ttr": ttr[rows],
            "censored": censored[rows],
            "overlapping": pairs[rows].any(axis=1),
            "overlaps": [",".join(keys[near[j]] for j in np.flatnonzero(pairs[i])) for i in rows],
        },
        columns=DISRUPTION_COLUMNS,
    )


MARGINAL_COLUMNS = [
    "event",
    "disruption",
    "occurrence",
    "kind",
    "target",
    "start",
    "end",
    "markets",
    "lost_units",
    "lost_units_reachable",
    "lost_units_elsewhere",
    "max_difference",
    "impacted",
    "ttr",
    "censored",
]


def marginal_effects(
    eng: Engine, events: Sequence[str] | None = None, *, by_market: bool = False
) -> pd.DataFrame:
    """Each event's marginal effect: the run with it minus the run without it.

    The replication is simulated again without the one event, with every other random
    draw identical (named streams). Lost units attributable are ``unmet with − unmet
    without`` over the scored horizon (negative when the event *helped* a market); the
    TTR of the difference is read off ``d(t) = P_without(t) − P_with(t)`` on the combined
    performance of the event's reachable markets: from the event's start to the first day
    that begins 7 days with ``|d| ≤ 0.05``, after the first day with ``|d| > 0.05``;
    censored at the horizon.

    Parameters
    ----------
    eng : Engine
        A finished run (any ``record``).
    events : sequence of str, optional
        Event keys (default: every event listed in the ``disruptions`` table, i.e. in
        force during the scored horizon).
    by_market : bool
        Return one row per event and market instead (``unmet_with``, ``unmet_without``,
        ``lost_units``, ``reachable``).

    Returns
    -------
    pandas.DataFrame
        One row per event: key, disruption, occurrence, kind, target, start, end (scored
        days), ``markets`` (reachable), ``lost_units`` (all markets),
        ``lost_units_reachable``, ``lost_units_elsewhere`` (markets outside the reachable
        set, e.g. through competition for a shared alternative supplier),
        ``max_difference`` (largest ``|d|``), ``impacted`` (``|d| > 0.05`` on some day),
        ``ttr`` and ``censored``.
    """
    from crmsim.engine.core import Engine

    W = eng.W
    keys = list(eng.event_keys)
    if events is None:
        events = [k for k, e in zip(keys, eng.events, strict=True) if e.end > W and e.start < eng.T]
    position = {k: i for i, k in enumerate(keys)}
    unknown = [k for k in events if k not in position]
    if unknown:
        raise ValueError(f"no event {', '.join(unknown)} in this replication")
    lay = eng.layout
    market_names = [lay.nodes[i] for i in lay.markets]
    served, demand = eng.rec_served[W:], eng.rec_demand[W:]
    unmet_with = eng.rec_unmet[W:].sum(axis=0)
    cache: dict[Any, np.ndarray] = {}
    rows: list[dict[str, Any]] = []
    long: list[pd.DataFrame] = []
    for key in events:
        ev = eng.events[position[key]]
        other = Engine(
            eng.scenario,
            eng.seed,
            eng.replication,
            record="summary",
            layout=lay,
            graph=eng.graph,
            exclude=[key],
        ).run()
        unmet_without = other.rec_unmet[W:].sum(axis=0)
        lost = unmet_with - unmet_without
        cols = _reach(eng, ev, cache)
        reachable = np.zeros(len(market_names), dtype=bool)
        reachable[cols] = True
        if cols.size:
            d = _combined(other.rec_served[W:], other.rec_demand[W:], cols) - _combined(
                served, demand, cols
            )
        else:
            d = np.zeros(eng.H)
        ttr, censored, impacted = time_to_recover(
            1.0 - np.abs(d), ev.start - W, threshold=1.0 - DIFFERENCE_TOLERANCE
        )
        occurrence = int(key.rsplit("#", 1)[1])
        rows.append(
            {
                "event": key,
                "disruption": ev.disruption_id,
                "occurrence": occurrence,
                "kind": str(ev.kind),
                "target": ev.target,
                "start": ev.start - W,
                "end": ev.end - W,
                "markets": ",".join(market_names[j] for j in cols),
                "lost_units": float(lost.sum()),
                "lost_units_reachable": float(lost[reachable].sum()),
                "lost_units_elsewhere": float(lost[~reachable].sum()),
                "max_difference": float(np.abs(d).max()) if d.size else 0.0,
                "impacted": impacted,
                "ttr": ttr,
                "censored": censored,
            }
        )
        if by_market:
            long.append(
                pd.DataFrame(
                    {
                        "event": key,
                        "disruption": ev.disruption_id,
                        "market": market_names,
                        "reachable": reachable,
                        "unmet_with": unmet_with,
                        "unmet_without": unmet_without,
                        "lost_units": lost,
                    }
                )
            )
    if by_market:
        cols_long = [
            "event",
            "disruption",
            "market",
            "reachable",
            "unmet_with",
            "unmet_without",
            "lost_units",
        ]
        return pd.concat(long, ignore_index=True) if long else pd.DataFrame(columns=cols_long)
    return pd.DataFrame(rows, columns=MARGINAL_COLUMNS)


def marginal(
    scenario: Scenario,
    seed: int | None = None,
    replication: int = 0,
    *,
    events: Sequence[str] | None = None,
    by_market: bool = False,
) -> pd.DataFrame:
    """Marginal effect of each disruption event of one replication (see :func:`marginal_effects`).

    Parameters
    ----------
    scenario : Scenario
        A validated scenario.
    seed : int, optional
        Root seed (default: the scenario's ``experiment.seed``).
    replication : int
        Replication number.
    events : sequence of str, optional
        Event keys (default: every event in force during the scored horizon).
    by_market : bool
        One row per event and market instead of one per event.

    Returns
    -------
    pandas.DataFrame
    """
    from crmsim.engine.core import Engine

    if seed is None:
        seed = scenario.experiment.seed
    eng = Engine(scenario, seed, replication, record="summary").run()
    return marginal_effects(eng, events, by_market=by_market)
