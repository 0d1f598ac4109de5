"""Array layout of a supply network: nodes, input slots and edges as numpy arrays.

The engine settles each day's flows for all nodes and edges at once with numpy, so the
graph is translated once per scenario into index arrays in canonical (sorted) order:

* **nodes** ``0..N-1``: sorted ids; every non-market node holds an *output stock* of its
  material;
* **slots** ``0..S-1``: one per (node, input material) pair, sorted — a processor's recipe
  inputs, a pass-through node's (stockpile, processor without recipe) own material, a
  market's demanded material. Slots hold *input stock*;
* **edges** ``0..E-1``: sorted ``(supplier, buyer, material)``; each feeds one buyer slot.

Stock targets come from the undisrupted planned flows (:func:`baseline_flows`): a node
with inputs holds ``stock_days`` of each planned input and orders up to an inventory
position of ``need × (stock_days + mean lead time)``; its output is made to order. A node
without inputs (mine, recycler, processor without recipe) holds ``stock_days`` of its
planned output.
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx
import numpy as np

from crmsim.network.graph import EdgeKey, baseline_flows, edge_list, node_list, node_need
from crmsim.scenario.distributions import Dist
from crmsim.scenario.schema import Demand, Role

__all__ = ["Layout", "build_layout", "impact_window", "lead_days"]


def lead_days(value: float | np.ndarray, cap: int) -> np.ndarray:
    """Whole-day lead times: rounded, at least 1, at most ``cap`` days.

    ``cap`` is the simulated length ``T``: goods due later than the end of the run land in
    the arrival calendar's last row whatever their lead time, so capping changes nothing
    the run can see and keeps every day index a small integer (a lead time of ``1e19`` or
    ``inf`` days, or a logistics factor of ``1e10``, never overflows).

    Parameters
    ----------
    value : float or numpy.ndarray
        Lead times in days (possibly fractional, huge or infinite).
    cap : int
        Largest lead time kept (``>= 1``).

    Returns
    -------
    numpy.ndarray
        Integer days in ``[1, cap]``.

    Raises
    ------
    ValueError
        If a lead time is not a number (NaN).

    Examples
    --------
    >>> lead_days(np.array([0.2, 2.5, 3.5, 1e19, np.inf]), 100).tolist()
    [1, 2, 4, 100, 100]
    """
    x = np.asarray(value, dtype=float)
    if np.isnan(x).any():
        raise ValueError("a lead time is not a number (NaN)")
    return np.clip(np.rint(np.minimum(x, cap)), 1, max(1, cap)).astype(np.intp)


@dataclass(frozen=True, eq=False)
class Layout:
    """Index arrays of one supply network (see the module docstring)."""

    nodes: tuple[str, ...]
    node_index: dict[str, int]
    materials: tuple[str, ...]
    material_index: dict[str, int]
    role: tuple[Role, ...]
    node_material: np.ndarray  # (N,) material index, -1 if none
    capacity: np.ndarray  # (N,) units/day (inf where unlimited, 0 for markets)
    producer: np.ndarray  # (N,) bool: produces (mines, processors, recyclers)
    stockpile: np.ndarray  # (N,) bool: holds strategic stock (no production)
    on_production: np.ndarray  # (N,) bool: UNFC class allows production
    rate: np.ndarray  # (N,) planned output (units/day)
    out_target: np.ndarray  # (N,)
    out_init: np.ndarray  # (N,)
    recycler: np.ndarray  # (N,) bool
    msme: np.ndarray  # (N,) 1 MSME, 0 large, -1 unknown
    slot_node: np.ndarray  # (S,)
    slot_material: np.ndarray  # (S,)
    slot_coef: np.ndarray  # (S,) input per unit output (1 for markets)
    slot_target: np.ndarray  # (S,) on-hand target
    slot_position_target: np.ndarray  # (S,) order-up-to inventory position
    slot_init: np.ndarray  # (S,)
    slot_is_market: np.ndarray  # (S,) bool
    slot_is_stockpile: np.ndarray  # (S,) bool
    edges: tuple[EdgeKey, ...]
    edge_index: dict[EdgeKey, int]
    edge_src: np.ndarray  # (E,)
    edge_dst: np.ndarray  # (E,)
    edge_slot: np.ndarray  # (E,)
    edge_material: np.ndarray  # (E,)
    edge_share: np.ndarray  # (E,)
    edge_qualified: np.ndarray  # (E,) bool
    edge_switch_days: np.ndarray  # (E,)
    edge_lead: tuple[Dist, ...]  # (E,)
    edge_lead_fixed: np.ndarray  # (E,) whole days (mean, rounded) — used when fixed
    edge_lead_random: np.ndarray  # (E,) bool: drawn per shipment
    edge_flow: np.ndarray  # (E,) planned flow (units/day)
    edge_quota_ref: np.ndarray  # (E,) reference flow of an export quota (units/day)
    pair_from: np.ndarray  # (P,) impaired edge of each (edge, qualified alternative) pair
    pair_to: np.ndarray  # (P,) the alternative: another qualified edge into the same slot
    markets: np.ndarray  # (K,) node indices of markets
    market_slot: np.ndarray  # (K,) their slots
    market_demand: tuple[Demand, ...]  # (K,)
    market_backorders: np.ndarray  # (K,) bool
    impact_window: float  # days an upstream disruption may take to reach a market
    horizon_days: int
    warmup_days: int
    switch_default: float

    @property
    def n_nodes(self) -> int:
        """Number of nodes N."""
        return len(self.nodes)

    @property
    def n_slots(self) -> int:
        """Number of input slots S."""
        return len(self.slot_node)

    @property
    def n_edges(self) -> int:
        """Number of edges E."""
        return len(self.edges)


def impact_window(G: nx.MultiDiGraph, order: list[str] | None = None) -> float:
    """Days an upstream disruption may take to reach a market.

    The longest supply path, counting each edge's mean lead time and the buyer's days of
    cover, plus the largest days of cover held anywhere. A first dip in performance later
    than a disruption's ``end + window`` is not attributed to it (time to recover).
    """
    longest = dict.fromkeys(G.nodes, 0.0)
    incoming: dict[str, list[tuple[str, float]]] = {n: [] for n in G.nodes}
    for u, v, lead in G.edges(data="lead_time"):
        incoming[v].append((u, float(lead.mean) + float(G.nodes[v]["stock_days"])))
    for v in order if order is not None else nx.topological_sort(G):
        for u, w in incoming[v]:
            longest[v] = max(longest[v], longest[u] + w)
    cover = max((float(d["stock_days"]) for _, d in G.nodes(data=True)), default=0.0)
    return max(longest.values(), default=0.0) + cover


def _reference_rate(G: nx.MultiDiGraph, node: str, flows: dict[EdgeKey, float]) -> float:
    """A stockpile's reference use: its buyers' whole need of its material (not by share)."""
    material = G.nodes[node]["material"]
    total = 0.0
    for _, v, k in G.out_edges(node, keys=True):
        if k != material:
            continue
        share_flow = flows.get((node, v, k), 0.0)
        share = G.edges[node, v, k]["share"]
        if share > 0:
            total += share_flow / share
        else:
            total += sum(
                flows.get((u, v, k), 0.0) for u, _, kk in G.in_edges(v, keys=True) if kk == k
            )
    return total


def build_layout(G: nx.MultiDiGraph, switch_default: float = 7.0) -> Layout:
    """Translate a supply network graph into engine arrays.

    Parameters
    ----------
    G : networkx.MultiDiGraph
        From :func:`crmsim.network.build_graph`.
    switch_default : float
        Switching delay for edges that do not set one.

    Returns
    -------
    Layout
        Index arrays in canonical order.
    """
    nodes = tuple(node_list(G))
    node_index = {n: i for i, n in enumerate(nodes)}
    materials = tuple(sorted(G.graph["materials"]))
    material_index = {m: i for i, m in enumerate(materials)}
    order = list(nx.topological_sort(G))
    rates, flows = baseline_flows(G, order)
    unit_need = {v: node_need(G, v, 1.0) for v in G.nodes}

    n = len(nodes)
    role = tuple(G.nodes[v]["role"] for v in nodes)
    node_material = np.array(
        [
            material_index.get(G.nodes[v]["material"], -1) if G.nodes[v]["material"] else -1
            for v in nodes
        ],
        dtype=np.intp,
    )
    producer = np.array([r is not Role.MARKET for r in role], dtype=bool)
    capacity = np.array(
        [
            0.0 if role[i] is Role.MARKET else float(G.nodes[v]["capacity"])
            for i, v in enumerate(nodes)
        ]
    )
    on_production = np.array([bool(G.nodes[v]["on_production"]) for v in nodes])
    rate = np.zeros(n)
    for i, v in enumerate(nodes):
        if role[i] is Role.STOCKPILE:
            rate[i] = _reference_rate(G, v, flows)
        else:
            rate[i] = rates[v]
    stock_days = np.array([float(G.nodes[v]["stock_days"]) for v in nodes])
    init_days = np.array([float(G.nodes[v]["initial_stock_days"]) for v in nodes])
    # Days of cover are held of the inputs where a node has inputs (its output is made to
    # order and shipped the day after), and of the output where it has none (mines,
    # recyclers, processors without recipe).
    # A stockpile holds its whole target as output stock (its input slot only receives).
    has_inputs = np.array([bool(unit_need[v]) for v in nodes], dtype=bool)
    stockpile = np.array([r is Role.STOCKPILE for r in role], dtype=bool)
    holds = (producer & ~has_inputs) | stockpile
    out_target = np.where(holds, stock_days * rate, 0.0)
    out_init = np.where(holds, init_days * rate, 0.0)
    producer &= ~stockpile
    recycler = np.array([r is Role.RECYCLER for r in role], dtype=bool)
    msme = np.array(
        [-1 if G.nodes[v]["msme"] is None else int(G.nodes[v]["msme"]) for v in nodes],
        dtype=np.int8,
    )

    # Input slots: what each node needs per unit of output.
    slots: list[tuple[int, int, float]] = []
    for i, v in enumerate(nodes):
        need = unit_need[v]
        for m in sorted(need):
            slots.append((i, material_index[m], need[m]))
    slot_key = {(i, m): s for s, (i, m, _) in enumerate(slots)}
    slot_node = np.array([s[0] for s in slots], dtype=np.intp)
    slot_material = np.array([s[1] for s in slots], dtype=np.intp)
    slot_coef = np.array([s[2] for s in slots], dtype=float)
    slot_is_market = np.array([role[i] is Role.MARKET for i in slot_node], dtype=bool)
    slot_rate = rate[slot_node] * slot_coef if len(slots) else np.zeros(0)

    edges = tuple(edge_list(G))
    edge_index = {e: j for j, e in enumerate(edges)}
    edge_src = np.array([node_index[u] for u, _, _ in edges], dtype=np.intp)
    edge_dst = np.array([node_index[v] for _, v, _ in edges], dtype=np.intp)
    edge_material = np.array([material_index[k] for _, _, k in edges], dtype=np.intp)
    edge_slot = np.array(
        [slot_key[(node_index[v], material_index[k])] for _, v, k in edges], dtype=np.intp
    )
    data = [G.edges[e] for e in edges]
    edge_share = np.array([d["share"] for d in data], dtype=float)
    edge_qualified = np.array([bool(d["qualified"]) for d in data], dtype=bool)
    edge_switch = np.array(
        [switch_default if d["switch_days"] is None else d["switch_days"] for d in data],
        dtype=float,
    )
    edge_lead = tuple(d["lead_time"] for d in data)
    total_days = int(G.graph["horizon_days"]) + int(G.graph["warmup_days"])
    edge_lead_fixed = (
        lead_days(np.array([d.mean for d in edge_lead]), total_days)
        if edges
        else np.zeros(0, dtype=np.intp)
    )
    edge_lead_random = np.array([not d.is_fixed for d in edge_lead], dtype=bool)
    edge_flow = np.array([flows.get(e, 0.0) for e in edges], dtype=float)
    # An export quota is set against the edge's planned flow; an edge without one (a
    # qualified alternative, a stockpile's release edge) against its buyer's planned need.
    buyer_need = np.array(
        [rate[node_index[v]] * slots[edge_slot[j]][2] for j, (_, v, _) in enumerate(edges)],
        dtype=float,
    )
    edge_quota_ref = np.where(edge_flow > 0, edge_flow, buyer_need)
    # Pairs (impaired edge, alternative): every other qualified edge into the same slot.
    by_slot: dict[int, list[int]] = {}
    for j in range(len(edges)):
        by_slot.setdefault(int(edge_slot[j]), []).append(j)
    pairs = [
        (a, b)
        for group in by_slot.values()
        for a in group
        for b in group
        if a != b and edge_qualified[b]
    ]
    pair_from = np.array([a for a, _ in pairs], dtype=np.intp)
    pair_to = np.array([b for _, b in pairs], dtype=np.intp)

    # Mean whole-day lead time per slot, weighted by share (pipeline cover).
    s_count = len(slots)
    share_sum = np.bincount(edge_slot, weights=edge_share, minlength=s_count)
    lead_weighted = np.bincount(edge_slot, weights=edge_share * edge_lead_fixed, minlength=s_count)
    slot_lead = np.divide(lead_weighted, share_sum, out=np.zeros(s_count), where=share_sum > 0)
    slot_stock_days = stock_days[slot_node] if s_count else np.zeros(0)
    slot_init_days = init_days[slot_node] if s_count else np.zeros(0)
    slot_target = slot_stock_days * slot_rate
    slot_position_target = slot_rate * (slot_stock_days + slot_lead)
    slot_init = slot_init_days * slot_rate
    slot_is_stockpile = stockpile[slot_node] if s_count else np.zeros(0, dtype=bool)
    slot_target[slot_is_stockpile] = 0.0
    slot_init[slot_is_stockpile] = 0.0
    slot_position_target[slot_is_stockpile] = out_target[slot_node[slot_is_stockpile]]

    markets = np.array([i for i in range(n) if role[i] is Role.MARKET], dtype=np.intp)
    market_slot = np.array(
        [slot_key[(int(i), int(node_material[i]))] for i in markets], dtype=np.intp
    )
    market_demand = tuple(G.nodes[nodes[i]]["demand"] for i in markets)

    return Layout(
        nodes=nodes,
        node_index=node_index,
        materials=materials,
        material_index=material_index,
        role=role,
        node_material=node_material,
        capacity=capacity,
        producer=producer,
        stockpile=stockpile,
        on_production=on_production,
        rate=rate,
        out_target=out_target,
        out_init=out_init,
        recycler=recycler,
        msme=msme,
        slot_node=slot_node,
        slot_material=slot_material,
        slot_coef=slot_coef,
        slot_target=slot_target,
        slot_position_target=slot_position_target,
        slot_init=slot_init,
        slot_is_market=slot_is_market,
        slot_is_stockpile=slot_is_stockpile,
        edges=edges,
        edge_index=edge_index,
        edge_src=edge_src,
        edge_dst=edge_dst,
        edge_slot=edge_slot,
        edge_material=edge_material,
        edge_share=edge_share,
        edge_qualified=edge_qualified,
        edge_switch_days=edge_switch,
        edge_lead=edge_lead,
        edge_lead_fixed=edge_lead_fixed,
        edge_lead_random=edge_lead_random,
        edge_flow=edge_flow,
        edge_quota_ref=edge_quota_ref,
        pair_from=pair_from,
        pair_to=pair_to,
        markets=markets,
        market_slot=market_slot,
        market_demand=market_demand,
        market_backorders=np.array([d.backorders for d in market_demand], dtype=bool),
        impact_window=impact_window(G, order),
        horizon_days=int(G.graph["horizon_days"]),
        warmup_days=int(G.graph["warmup_days"]),
        switch_default=switch_default,
    )
