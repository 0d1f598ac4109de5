"""Disruptions: which nodes and edges a target matches, and the events of one replication.

Matching rules (documented in ``docs/engine.md``):

* Conditions in a target combine with AND; a list inside one condition is an OR.
* **Node kinds** (``outage``, ``demand_shock``) match nodes by ``node``, ``role``,
  ``country``/``region`` and ``material`` (the node's output, or a market's demanded
  material). A ``demand_shock`` only ever hits markets.
* **Edge kinds** (``export_restriction``, ``logistics``) match edges by ``edge`` and by the
  *supplier's* ``node``/``role``/``country``/``region`` and the edge's ``material``. An
  export restriction with a country or region blocks only flows that *leave* it (the buyer
  is outside); flows within the country are unaffected.

Timing: days are whole; a scheduled disruption with ``start: s`` (day 0 = first scored day)
and ``duration: d`` is in force on days ``s .. s+round(d)-1``. Stochastic disruptions
arrive as a Poisson process at ``rate_per_year`` over the whole simulated period (warm-up
included), per matching node for node kinds and once for the whole matched set for edge
kinds; an arrival at continuous time ``t`` starts on day ``floor(t)`` and lasts
``max(1, round(duration))`` days. Each random target draws from its own stream.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import networkx as nx

from crmsim.scenario.schema import Disruption, DisruptionKind, Role, Target

if TYPE_CHECKING:  # (numpy only when events are drawn: the scenario warnings use this module)
    from crmsim.engine.streams import Streams

__all__ = ["DisruptionEvent", "generate_events", "match_edges", "match_nodes"]

NODE_KINDS = (DisruptionKind.OUTAGE, DisruptionKind.DEMAND_SHOCK)


@dataclass(frozen=True)
class DisruptionEvent:
    """One realised disruption in one replication.

    Attributes
    ----------
    disruption_id : str
        The scenario disruption it comes from.
    kind : DisruptionKind
        Its kind.
    target : str
        What it hits, in words (a node id, or the disruption's target set).
    start, end : int
        Simulated day index of the first day in force and of the first day after it
        (day index 0 is the first warm-up day).
    severity, factor, recovery_days, stock_loss : float
        As in the scenario (severity drawn for stochastic events).
    nodes, edges : tuple of int
        Indices (canonical order) of the nodes or edges it affects.
    stochastic : bool
        Drawn from a random arrival process (True) or scheduled (False).
    """

    disruption_id: str
    kind: DisruptionKind
    target: str
    start: int
    end: int
    severity: float
    factor: float
    recovery_days: float
    stock_loss: float
    nodes: tuple[int, ...]
    edges: tuple[int, ...]
    stochastic: bool


def _countries(target: Target, regions: dict[str, tuple[str, ...]]) -> set[str]:
    out = set(target.country)
    for r in target.region:
        out.update(regions.get(r, ()))
    return out


def match_nodes(G: nx.MultiDiGraph, target: Target, kind: DisruptionKind) -> list[str]:
    """Node ids (sorted) that a node-kind disruption's target matches.

    Parameters
    ----------
    G : networkx.MultiDiGraph
        The supply network from :func:`crmsim.network.build_graph`.
    target : Target
        The disruption's target.
    kind : DisruptionKind
        ``outage`` or ``demand_shock`` (which matches markets only).

    Returns
    -------
    list of str
        Matching node ids.
    """
    countries = _countries(target, G.graph["regions"])
    out = []
    for n in sorted(G.nodes):
        d = G.nodes[n]
        if kind is DisruptionKind.DEMAND_SHOCK and d["role"] is not Role.MARKET:
            continue
        if target.node and n not in target.node:
            continue
        if target.role and d["role"] not in target.role:
            continue
        if (target.country or target.region) and d["country"] not in countries:
            continue
        if target.material and d["material"] not in target.material:
            continue
        if target.edge and not any(n in (e.from_, e.to) for e in target.edge):
            continue
        out.append(n)
    return out


def match_edges(
    G: nx.MultiDiGraph, target: Target, kind: DisruptionKind
) -> list[tuple[str, str, str]]:
    """Edge keys (sorted) that an edge-kind disruption's target matches.

    Parameters
    ----------
    G : networkx.MultiDiGraph
        The supply network.
    target : Target
        The disruption's target; node conditions apply to the supplier.
    kind : DisruptionKind
        ``export_restriction`` (only flows leaving the country/region) or ``logistics``.

    Returns
    -------
    list of tuple
        Matching ``(supplier, buyer, material)`` keys.
    """
    countries = _countries(target, G.graph["regions"])
    out = []
    for u, v, k in sorted(G.edges(keys=True)):
        du, dv = G.nodes[u], G.nodes[v]
        if target.edge and not any(
            e.from_ == u and e.to == v and (e.material is None or e.material == k)
            for e in target.edge
        ):
            continue
        if target.node and u not in target.node:
            continue
        if target.role and du["role"] not in target.role:
            continue
        if countries:
            if du["country"] not in countries:
                continue
            if kind is DisruptionKind.EXPORT_RESTRICTION and dv["country"] in countries:
                continue
        if target.material and k not in target.material:
            continue
        out.append((u, v, k))
    return out


def _describe(target: Target) -> str:
    parts = []
    for name in ("node", "role", "country", "region", "material", "edge"):
        values = getattr(target, name)
        if values:
            parts.append(f"{name}=" + ",".join(str(v) for v in values))
    return " ".join(parts)


_Unit = tuple[str, tuple[int, ...], tuple[int, ...]]


def _units(
    G: nx.MultiDiGraph,
    d: Disruption,
    node_index: dict[str, int],
    edge_index: dict[tuple[str, str, str], int],
) -> tuple[list[_Unit], list[_Unit]]:
    """What a disruption hits: its random units and its scheduled units.

    Random units are one per matched node (node kinds) or the matched edge set; a scheduled
    disruption hits the matched nodes together, or the edge set.
    """
    units: list[_Unit]
    if d.kind in NODE_KINDS:
        ids = match_nodes(G, d.target, d.kind)
        units = [(n, (node_index[n],), ()) for n in ids]
        nodes = tuple(node_index[n] for n in ids)
        return units, ([(_describe(d.target), nodes, ())] if nodes else [])
    keys = match_edges(G, d.target, d.kind)
    units = [(_describe(d.target), (), tuple(edge_index[k] for k in keys))] if keys else []
    return units, units


def generate_events(
    G: nx.MultiDiGraph,
    disruptions: tuple[Disruption, ...],
    streams: Streams,
    *,
    warmup_days: int,
    total_days: int,
    node_index: dict[str, int],
    edge_index: dict[tuple[str, str, str], int],
    matches: dict[str, Any] | None = None,
) -> list[DisruptionEvent]:
    """Realise every disruption of a scenario for one replication.

    Parameters
    ----------
    G : networkx.MultiDiGraph
        The supply network.
    disruptions : tuple of Disruption
        The scenario's disruptions.
    streams : Streams
        The replication's named random streams.
    warmup_days, total_days : int
        Warm-up length W and simulated length W + H, in days.
    node_index, edge_index : dict
        Canonical array positions of nodes and edges.
    matches : dict, optional
        A cache of what each disruption's target matches (filled on first use): pass
        the same dict for every replication of one scenario to match targets once.

    Returns
    -------
    list of DisruptionEvent
        Sorted by start day, then disruption id and target.
    """
    events: list[DisruptionEvent] = []
    cache = matches if matches is not None else {}
    for d in sorted(disruptions, key=lambda d: d.id):
        if d.id not in cache:
            cache[d.id] = _units(G, d, node_index, edge_index)
        units, units_s = cache[d.id]
        factor = float(d.factor) if d.factor is not None else 1.0
        if d.random is None:
            assert d.start is not None and d.duration is not None
            start = warmup_days + math.floor(d.start)
            end = start + round(d.duration)
            for label, nodes, edges in units_s:
                events.append(
                    DisruptionEvent(
                        d.id,
                        d.kind,
                        label,
                        start,
                        end,
                        float(d.severity),
                        factor,
                        float(d.recovery_days),
                        float(d.stock_loss),
                        nodes,
                        edges,
                        False,
                    )
                )
            continue
        rnd = d.random
        for label, nodes, edges in units:
            rng = streams.get("disruption", d.id, label)
            t = 0.0
            mean_gap = 365.0 / rnd.rate_per_year
            while True:
                t += float(rng.exponential(mean_gap))
                if t >= total_days:
                    break
                duration = float(rnd.duration.sample(rng))
                severity = (
                    float(rnd.severity.sample(rng)) if rnd.severity is not None else d.severity
                )
                start = math.floor(t)
                events.append(
                    DisruptionEvent(
                        d.id,
                        d.kind,
                        label,
                        start,
                        start + max(1, round(duration)),
                        min(max(severity, 0.0), 1.0),
                        factor,
                        float(d.recovery_days),
                        float(d.stock_loss),
                        nodes,
                        edges,
                        True,
                    )
                )
    events.sort(key=lambda e: (e.start, e.disruption_id, e.target))
    return events
