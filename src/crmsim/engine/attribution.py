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

import weakref
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from crmsim.engine.disruptions import DisruptionEvent
from crmsim.metrics.performance import performance, time_to_recover
from crmsim.scenario.schema import DisruptionKind

if TYPE_CHECKING:
    # What these functions read: one replication's plain-array result (or an Engine).
    from crmsim.engine.batch import Replication as Engine
    from crmsim.scenario.schema import Scenario

__all__ = [
    "DIFFERENCE_TOLERANCE",
    "Attribution",
    "attribute",
    "attribution",
    "attribution_columns",
    "attribution_table",
    "attributions",
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


#: Most keys or market ids listed in one cell of ``overlaps`` or ``markets``.
LIST_MAX = 20


def _listed(items: list[str]) -> str:
    """Comma-separated, at most :data:`LIST_MAX` items, then how many more."""
    if len(items) <= LIST_MAX:
        return ",".join(items)
    return ",".join(items[:LIST_MAX]) + f",… (+{len(items) - LIST_MAX} more)"


class _Reach:
    """Reachable market columns of events, from one node × market reach matrix."""

    def __init__(self, eng: Engine):
        from crmsim.network.graph import reach_matrix

        lay = eng.layout
        self.layout = lay
        self.graph = eng.graph
        self.K = len(lay.markets)
        self.bits = reach_matrix(
            eng.graph, lay.nodes, [lay.nodes[i] for i in lay.markets], packed=True
        )
        self.cache: dict[Any, np.ndarray] = {}

    def __call__(self, ev: DisruptionEvent) -> np.ndarray:
        key = (ev.nodes, ev.edges)
        if key not in self.cache:
            rows = list(ev.nodes) + [int(self.layout.edge_dst[e]) for e in ev.edges]
            word = np.bitwise_or.reduce(self.bits[rows], axis=0)
            on = np.unpackbits(word.view(np.uint8), bitorder="little")[: self.K]
            self.cache[key] = np.flatnonzero(on)
        return self.cache[key]


_REACH: weakref.WeakKeyDictionary[Any, _Reach] = weakref.WeakKeyDictionary()


def _reach_of(eng: Engine) -> _Reach:
    """The :class:`_Reach` of a layout, built once and shared by its replications."""
    got = _REACH.get(eng.layout)
    if got is None or got.graph is not eng.graph:
        got = _Reach(eng)
        _REACH[eng.layout] = got
    return got


def _overlaps(
    reach: list[np.ndarray],
    effect: np.ndarray,
    starts: np.ndarray,
    limits: np.ndarray,
    impacted: np.ndarray,
    ttr: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Overlapping pairs ``(i, j)`` of events and whether each event overlaps another.

    Event i's reading (from its start to its recovery, or to the end of its impact window
    when not impacted) meets the span of another event j that can change something on a
    shared reachable market (j in force, within its impact window, or not yet recovered
    from its own impact).
    """
    recovered_by = np.where(impacted, np.maximum(starts, 0) + ttr, limits)
    span_end = np.maximum(limits, recovered_by)
    pi, pj = _overlap_pairs(reach, effect, starts, recovered_by, span_end)
    overlapping = np.zeros(len(effect), dtype=bool)
    overlapping[pi] = True
    return pi, pj, overlapping


def _overlap_pairs(
    reach: list[np.ndarray],
    effect: np.ndarray,
    starts: np.ndarray,
    recovered_by: np.ndarray,
    span_end: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Ordered pairs (i, j), i ≠ j, of effective events sharing a market whose times meet.

    A self-join of the (event, market) incidences on the market, so the work grows with the
    number of events per market, not with the square of all events.
    """
    live = [i for i in range(len(reach)) if effect[i] and reach[i].size]
    if not live:
        return np.zeros(0, dtype=np.intp), np.zeros(0, dtype=np.intp)
    ev = np.repeat(np.array(live), [reach[i].size for i in live])
    mk = np.concatenate([reach[i] for i in live])
    order = np.argsort(mk, kind="stable")
    ev, mk = ev[order], mk[order]
    bounds = np.flatnonzero(np.r_[True, mk[1:] != mk[:-1], True])
    sizes = np.diff(bounds)
    rep = np.repeat(sizes, sizes)  # each incidence pairs with its whole market group
    a = np.repeat(np.arange(ev.size), rep)
    offset = np.arange(a.size) - np.repeat(np.cumsum(rep) - rep, rep)
    b = np.repeat(np.repeat(bounds[:-1], sizes), rep) + offset
    i, j = ev[a], ev[b]
    keep = (i != j) & (starts[j] <= recovered_by[i]) & (starts[i] <= span_end[j])
    n = len(reach)
    code = np.sort(i[keep].astype(np.int64) * n + j[keep])
    code = code[np.r_[True, code[1:] != code[:-1]]] if code.size else code
    return (code // n).astype(np.intp), (code % n).astype(np.intp)


def _combined(served: np.ndarray, demand: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Daily performance of a set of markets together: Σ served / Σ demand."""
    return performance(served[:, cols].sum(axis=1), demand[:, cols].sum(axis=1))


def _combined_many(served: np.ndarray, demand: np.ndarray, sets: list[np.ndarray]) -> np.ndarray:
    """:func:`_combined` for many market sets at once: shape (days, sets)."""
    from scipy import sparse

    rows = np.concatenate(sets)
    cols = np.repeat(np.arange(len(sets)), [len(c) for c in sets])
    M = sparse.csr_array((np.ones(rows.size), (rows, cols)), shape=(served.shape[1], len(sets)))
    return performance(served @ M, demand @ M)


def _ttr_columns(
    perf: np.ndarray,
    column: np.ndarray,
    start: np.ndarray,
    limit: np.ndarray,
    threshold: float = 0.95,
    run: int = 7,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Time to recover of many events, each read off one column of ``perf``.

    The same as :func:`~crmsim.metrics.performance.time_to_recover` with ``onset=True``
    (checked by a property test), for a (days × series) array at once.
    """
    n_days, G = perf.shape
    below = perf < threshold
    onset = below & np.vstack([np.ones((1, G), dtype=bool), ~below[:-1]])
    ok = np.vstack([np.zeros((1, G), dtype=np.int64), np.cumsum(~below, axis=0)])
    runs = np.zeros((n_days, G), dtype=bool)
    if n_days >= run:
        runs[: n_days - run + 1] = (ok[run:] - ok[:-run]) == run
    day = np.arange(n_days)[:, None]

    def next_true(mask: np.ndarray) -> np.ndarray:
        idx = np.where(mask, day, n_days)
        nxt = np.minimum.accumulate(idx[::-1], axis=0)[::-1]
        return np.vstack([nxt, np.full((1, G), n_days)])

    s = np.clip(start, 0, None)
    first = next_true(onset)[np.minimum(s, n_days), column]
    hit = (first < n_days) & (first <= limit)
    back = next_true(runs)[np.minimum(first, n_days), column]
    recovered = hit & (back < n_days)
    ttr = np.where(recovered, back - s, np.where(hit, n_days - s, 0)).astype(float)
    return ttr, hit & ~recovered, hit


def _acts_until(ev: DisruptionEvent) -> int:
    """First simulated day after an event (and its recovery ramp) has stopped acting."""
    ramp = int(np.ceil(ev.recovery_days)) if ev.kind is DisruptionKind.OUTAGE else 0
    return ev.end + ramp


@dataclass(frozen=True, eq=False)
class Attribution:
    """The attributed reading of a replication's events, as arrays.

    One entry per event whose impact can reach the scored horizon; ``listed`` selects
    those in force during it (the rows of the ``disruptions`` table). Entry
    ``pair_i[k]`` overlaps entry ``pair_j[k]`` (sorted by ``i``, then ``j``).
    """

    events: list[DisruptionEvent]
    keys: list[str]
    listed: np.ndarray
    reach: list[np.ndarray]
    effect: np.ndarray
    starts: np.ndarray
    ends: np.ndarray
    impacted: np.ndarray
    ttr: np.ndarray
    censored: np.ndarray
    overlapping: np.ndarray
    pair_i: np.ndarray
    pair_j: np.ndarray

    def summary(self) -> dict[str, Any]:
        """``disruptions``, ``disruptions_overlapping``, ``ttr_max``, ``ttr_censored``."""
        rows = self.listed
        own = rows[self.impacted[rows] & ~self.overlapping[rows]]
        return {
            "disruptions": int(rows.size),
            "disruptions_overlapping": int(self.overlapping[rows].sum()),
            "ttr_max": float(self.ttr[own].max()) if own.size else 0.0,
            "ttr_censored": bool(self.censored[own].any()),
        }


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
    return attribution_table(eng, attribution(eng))


def attribution(eng: Engine) -> Attribution:
    """The arrays behind :func:`attribute` (what the summary metrics need)."""
    W, H = eng.W, eng.H
    window = eng.layout.impact_window
    keys = eng.event_keys
    # Events whose impact can reach the scored horizon take part in overlaps; events in
    # force during the horizon are listed.
    near = [i for i, e in enumerate(eng.events) if _acts_until(e) + window > W and e.start < W + H]
    served, demand = eng.rec_served[W:], eng.rec_demand[W:]
    evs = [eng.events[i] for i in near]
    n = len(evs)
    reach_of = _reach_of(eng)
    reach = [reach_of(e) for e in evs]
    effect = np.array([has_effect(e) for e in evs], dtype=bool)
    starts = np.array([e.start - W for e in evs], dtype=np.int64)
    ends = np.array([e.end - W for e in evs], dtype=np.int64)
    limits = np.floor(np.array([_acts_until(e) - W for e in evs]) + window).astype(np.int64)
    ttr, censored, impacted = np.zeros(n), np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
    # One combined performance series per distinct reachable set, all read at once.
    groups: dict[bytes, int] = {}
    column = np.full(n, -1, dtype=np.intp)
    for i in range(n):
        if effect[i] and reach[i].size:
            column[i] = groups.setdefault(reach[i].tobytes(), len(groups))
    if groups:
        members = [np.frombuffer(b, dtype=reach[0].dtype) for b in groups]
        perf = _combined_many(served, demand, members)
        sel = np.flatnonzero(column >= 0)
        t, c, m = _ttr_columns(perf, column[sel], starts[sel], limits[sel])
        ttr[sel], censored[sel], impacted[sel] = t, c, m
    pi, pj, overlapping = _overlaps(reach, effect, starts, limits, impacted, ttr)
    return Attribution(
        events=evs,
        keys=[keys[i] for i in near],
        listed=np.array([i for i in range(n) if evs[i].end > W], dtype=np.intp),
        reach=reach,
        effect=effect,
        starts=starts,
        ends=ends,
        impacted=impacted,
        ttr=ttr,
        censored=censored,
        overlapping=overlapping,
        pair_i=pi,
        pair_j=pj,
    )


def attributions(engs: Sequence[Engine]) -> list[Attribution]:
    """:func:`attribution` of several replications of one scenario, computed together.

    The per-event work (which events count, what they reach) is done per replication; the
    combined performance series, the times to recover and the overlaps of all their
    events are computed in one pass over the batch: market ``k`` of the ``r``-th
    replication is column ``r·K + k`` of one (days × R·K) array, so no series or pair
    mixes replications. Each result is the same as :func:`attribution` of that
    replication alone (``tests/test_batch_tables.py`` checks it bitwise against
    :func:`attribution`, which stays the per-replication reading).

    Parameters
    ----------
    engs : sequence of Engine
        Finished replications of one scenario (one layout).

    Returns
    -------
    list of Attribution
        In the order of ``engs``.
    """
    if not engs:
        return []
    W, H = engs[0].W, engs[0].H
    window = engs[0].layout.impact_window
    K = len(engs[0].layout.markets)
    reach_of = _reach_of(engs[0])
    per: list[tuple[list[DisruptionEvent], list[str], list[np.ndarray]]] = []
    for eng in engs:
        keys = eng.event_keys
        # Events whose impact can reach the scored horizon take part in overlaps; events
        # in force during the horizon are listed.
        near = [
            i for i, e in enumerate(eng.events) if _acts_until(e) + window > W and e.start < W + H
        ]
        evs = [eng.events[i] for i in near]
        per.append((evs, [keys[i] for i in near], [reach_of(e) for e in evs]))
    # Chunks of replications with at most ATTRIBUTION_CELLS values per (days × events)
    # array and per (days × markets) stack: the memory of a batch stays bounded.
    out: list[Attribution] = []
    lo, cells = 0, 0
    for hi, p in enumerate(per):
        add = H * (len(p[0]) + K)
        if hi > lo and cells + add > ATTRIBUTION_CELLS:
            out += _attribute_chunk(engs[lo:hi], per[lo:hi])
            lo, cells = hi, 0
        cells += add
    return out + _attribute_chunk(engs[lo:], per[lo:])


#: Most values (scored days × (events + markets) of its replications) in one chunk of
#: :func:`attributions`.
ATTRIBUTION_CELLS = 1_000_000


def _attribute_chunk(
    engs: Sequence[Engine], per: list[tuple[list[DisruptionEvent], list[str], list[np.ndarray]]]
) -> list[Attribution]:
    """:func:`attributions` of a chunk of replications, their events listed in ``per``."""
    W, _H = engs[0].W, engs[0].H
    window = engs[0].layout.impact_window
    K = len(engs[0].layout.markets)
    sizes = np.array([len(p[0]) for p in per], dtype=np.intp)
    first = np.concatenate([[0], np.cumsum(sizes)])
    n = int(first[-1])
    all_evs = [e for p in per for e in p[0]]
    effect = np.array([has_effect(e) for e in all_evs], dtype=bool)
    starts = np.array([e.start - W for e in all_evs], dtype=np.int64)
    ends = np.array([e.end - W for e in all_evs], dtype=np.int64)
    limits = np.floor(np.array([_acts_until(e) - W for e in all_evs]) + window).astype(np.int64)
    # Reachable market columns of the batch: replication r's market k is column r·K + k.
    reach = [m + r * K if r else m for r, p in enumerate(per) for m in p[2]]
    ttr, censored, impacted = np.zeros(n), np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
    # One combined performance series per distinct reachable set, all read at once.
    groups: dict[bytes, int] = {}
    column = np.full(n, -1, dtype=np.intp)
    for i in range(n):
        if effect[i] and reach[i].size:
            column[i] = groups.setdefault(reach[i].tobytes(), len(groups))
    if groups:
        served = np.concatenate([eng.rec_served[W:] for eng in engs], axis=1)
        demand = np.concatenate([eng.rec_demand[W:] for eng in engs], axis=1)
        members = [np.frombuffer(b, dtype=reach[0].dtype) for b in groups]
        perf = _combined_many(served, demand, members)
        del served, demand
        sel = np.flatnonzero(column >= 0)
        t, c, m = _ttr_columns(perf, column[sel], starts[sel], limits[sel])
        ttr[sel], censored[sel], impacted[sel] = t, c, m
    pi, pj, overlapping = _overlaps(reach, effect, starts, limits, impacted, ttr)
    # Pairs are sorted by i then j and never cross replications: split them by i.
    cut = np.searchsorted(pi, first)
    out = []
    for r, (evs, keys, own_reach) in enumerate(per):
        lo, hi = int(first[r]), int(first[r + 1])
        a, b = int(cut[r]), int(cut[r + 1])
        out.append(
            Attribution(
                events=evs,
                keys=keys,
                listed=np.array([i for i in range(hi - lo) if evs[i].end > W], dtype=np.intp),
                reach=own_reach,
                effect=effect[lo:hi],
                starts=starts[lo:hi],
                ends=ends[lo:hi],
                impacted=impacted[lo:hi],
                ttr=ttr[lo:hi],
                censored=censored[lo:hi],
                overlapping=overlapping[lo:hi],
                pair_i=pi[a:b] - lo,
                pair_j=pj[a:b] - lo,
            )
        )
    return out


def attribution_table(eng: Engine, a: Attribution) -> pd.DataFrame:
    """The ``disruptions`` table from an :class:`Attribution`."""
    lay = eng.layout
    market_names = [lay.nodes[i] for i in lay.markets]
    rows = a.listed.tolist()
    evs, keys = a.events, a.keys
    partners: dict[int, list[int]] = {}
    for i, j in zip(a.pair_i.tolist(), a.pair_j.tolist(), strict=True):
        partners.setdefault(i, []).append(j)
    return pd.DataFrame(
        {
            "event": [keys[i] for i in rows],
            "disruption": [evs[i].disruption_id for i in rows],
            "occurrence": [int(keys[i].rsplit("#", 1)[1]) for i in rows],
            "kind": [str(evs[i].kind) for i in rows],
            "target": [evs[i].target for i in rows],
            "start": a.starts[rows],
            "end": a.ends[rows],
            "severity": [evs[i].severity for i in rows],
            "factor": [evs[i].factor for i in rows],
            "stochastic": [evs[i].stochastic for i in rows],
            "has_effect": a.effect[rows],
            "markets": [_listed([market_names[j] for j in a.reach[i]]) for i in rows],
            "impacted": a.impacted[rows],
            "ttr": a.ttr[rows],
            "censored": a.censored[rows],
            "overlapping": a.overlapping[rows],
            "overlaps": [_listed([keys[j] for j in partners.get(i, [])]) for i in rows],
        },
        columns=DISRUPTION_COLUMNS,
    )


def attribution_columns(eng: Engine, attrs: Sequence[Attribution]) -> dict[str, Any]:
    """The columns of the ``disruptions`` tables of several replications, one after another.

    Parameters
    ----------
    eng : Engine
        Any replication of the scenario (its layout names the markets).
    attrs : sequence of Attribution
        The replications' attributions, in the order their rows are wanted.

    Returns
    -------
    dict
        Column name -> list or array (the columns of :data:`DISRUPTION_COLUMNS`), the rows
        of ``attrs[0]`` first: the rows of :func:`attribution_table` of each, one after
        another (``tests/test_batch_tables.py``).
    """
    lay = eng.layout
    market_names = [lay.nodes[i] for i in lay.markets]
    names: dict[bytes, str] = {}

    def markets(cols: np.ndarray) -> str:
        key = cols.tobytes()
        got = names.get(key)
        if got is None:
            got = names[key] = _listed([market_names[j] for j in cols])
        return got

    col: dict[str, list[Any]] = {c: [] for c in DISRUPTION_COLUMNS}
    arrays: dict[str, list[np.ndarray]] = {
        c: [] for c in ("start", "end", "has_effect", "impacted", "ttr", "censored", "overlapping")
    }
    for a in attrs:
        rows = a.listed.tolist()
        evs, keys = a.events, a.keys
        partners: dict[int, list[int]] = {}
        for i, j in zip(a.pair_i.tolist(), a.pair_j.tolist(), strict=True):
            partners.setdefault(i, []).append(j)
        col["event"] += [keys[i] for i in rows]
        col["disruption"] += [evs[i].disruption_id for i in rows]
        col["occurrence"] += [int(keys[i].rsplit("#", 1)[1]) for i in rows]
        col["kind"] += [str(evs[i].kind) for i in rows]
        col["target"] += [evs[i].target for i in rows]
        col["severity"] += [evs[i].severity for i in rows]
        col["factor"] += [evs[i].factor for i in rows]
        col["stochastic"] += [evs[i].stochastic for i in rows]
        col["markets"] += [markets(a.reach[i]) for i in rows]
        col["overlaps"] += [_listed([keys[j] for j in partners.get(i, [])]) for i in rows]
        arrays["start"].append(a.starts[a.listed])
        arrays["end"].append(a.ends[a.listed])
        arrays["has_effect"].append(a.effect[a.listed])
        arrays["impacted"].append(a.impacted[a.listed])
        arrays["ttr"].append(a.ttr[a.listed])
        arrays["censored"].append(a.censored[a.listed])
        arrays["overlapping"].append(a.overlapping[a.listed])
    dtypes = {"start": np.int64, "end": np.int64, "ttr": float}
    out: dict[str, Any] = {}
    for c in DISRUPTION_COLUMNS:
        if c in arrays:
            parts = arrays[c]
            out[c] = (
                np.concatenate(parts) if parts else np.zeros(0, dtype=dtypes.get(c, bool))
            )
        else:
            out[c] = col[c]
    return out


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
    reach_of = _reach_of(eng)
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
        cols = reach_of(ev)
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
    assert eng.result is not None
    return marginal_effects(eng.result, events, by_market=by_market)
