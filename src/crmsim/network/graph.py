"""Build the supply network graph from a scenario: the single source of truth.

The graph is a :class:`networkx.MultiDiGraph`: one node per scenario node, one edge per
supplier → buyer relationship, keyed by material (a pair of firms may trade several
materials). Every scenario field is a node or edge attribute, plus a few derived ones:

node attributes
    ``role`` (:class:`~crmsim.scenario.schema.Role`), ``country``, ``material`` (what it
    produces, holds or, for a market, demands), ``capacity`` (``inf`` for markets),
    ``size`` (:class:`~crmsim.scenario.schema.Size` or None), ``msme`` (bool or None when
    the size is unknown), ``recipe``, ``stock_days``, ``initial_stock_days``, ``demand``,
    ``unfc`` (:class:`~crmsim.scenario.unfc.UnfcCode` or None), ``on_production``,
    ``spec`` (the :class:`~crmsim.scenario.schema.Node` itself).
edge attributes
    ``material``, ``share``, ``lead_time`` (:class:`~crmsim.scenario.distributions.Dist`),
    ``qualified``, ``switch_days``, ``spec``.
graph attributes
    ``name``, ``regions``, ``materials`` (id → Material), ``home``, ``governance``,
    ``horizon_days``, ``warmup_days``.

Nodes and edges are inserted in sorted order (by id, then supplier, buyer, material), so
everything computed from the graph is independent of the order in the file and of the
hash seed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

import networkx as nx

from crmsim.scenario.schema import Role, Scenario

if TYPE_CHECKING:  # (imported by reach_matrix: building a graph needs no numpy)
    import numpy as np

__all__ = [
    "EdgeKey",
    "baseline_flows",
    "build_graph",
    "edge_list",
    "node_list",
    "node_need",
    "reach_matrix",
    "reachable_markets",
]

EdgeKey = tuple[str, str, str]


def _market_materials(scenario: Scenario) -> dict[str, set[str]]:
    """Materials each buyer receives (edge material, or the supplier's output)."""
    output = {n.id: n.output for n in scenario.nodes}
    out: dict[str, set[str]] = {}
    for e in scenario.edges:
        material = e.material or output.get(e.from_)
        if material is not None:
            out.setdefault(e.to, set()).add(material)
    return out


def build_graph(scenario: Scenario) -> nx.MultiDiGraph:
    """Build the supply network of a (validated) scenario.

    Parameters
    ----------
    scenario : Scenario
        A scenario that has passed validation (ids resolve, shares sum to one).

    Returns
    -------
    networkx.MultiDiGraph
        Nodes and edges with the attributes listed in the module docstring.

    Examples
    --------
    >>> from crmsim.scenario.loader import scenario_from_dict
    >>> s = scenario_from_dict({
    ...     "crmsim": 1, "name": "chain",
    ...     "materials": [{"id": "ore"}],
    ...     "nodes": [
    ...         {"id": "mine", "role": "mine", "country": "AUS", "output": "ore", "capacity": 10},
    ...         {"id": "buyer", "role": "market", "country": "DEU", "demand": {"mean": 8}},
    ...     ],
    ...     "edges": [{"from": "mine", "to": "buyer", "lead_time": 20}],
    ... })
    >>> G = build_graph(s)
    >>> G.nodes["buyer"]["material"], G.edges["mine", "buyer", "ore"]["share"]
    ('ore', 1.0)
    """
    G = nx.MultiDiGraph(
        name=scenario.name,
        regions={k: tuple(v) for k, v in scenario.regions.items()},
        materials={m.id: m for m in scenario.materials},
        home=tuple(scenario.home),
        governance=dict(scenario.governance),
        horizon_days=scenario.horizon_days,
        warmup_days=scenario.warmup_days,
    )
    received = _market_materials(scenario)
    for n in sorted(scenario.nodes, key=lambda n: n.id):
        material = n.output if n.role is not Role.MARKET or n.output else None
        if n.role is Role.MARKET and material is None:
            mats = received.get(n.id, set())
            material = next(iter(mats)) if len(mats) == 1 else None
        size = n.firm_size
        capacity = n.capacity if n.capacity is not None else math.inf
        G.add_node(
            n.id,
            role=n.role,
            country=n.country,
            material=material,
            capacity=float(capacity),
            size=size,
            msme=None if size is None else size.is_msme,
            recipe=dict(n.recipe),
            stock_days=n.stock_days,
            initial_stock_days=(
                n.stock_days if n.initial_stock_days is None else n.initial_stock_days
            ),
            demand=n.demand,
            unfc=n.unfc_code,
            on_production=n.on_production,
            spec=n,
        )
    output = {n.id: n.output for n in scenario.nodes}
    edges = []
    for e in scenario.edges:
        material = e.material or output.get(e.from_)
        edges.append((e.from_, e.to, material, e))
    for u, v, material, e in sorted(edges, key=lambda t: (t[0], t[1], t[2] or "")):
        G.add_edge(
            u,
            v,
            key=material,
            material=material,
            share=e.share,
            lead_time=e.lead_time,
            qualified=e.qualified,
            switch_days=(
                scenario.simulation.switching_delay_days if e.switch_days is None else e.switch_days
            ),
            spec=e,
        )
    return G


def node_list(G: nx.MultiDiGraph) -> list[str]:
    """Node ids in the canonical (sorted) order used for arrays."""
    return sorted(G.nodes)


def edge_list(G: nx.MultiDiGraph) -> list[EdgeKey]:
    """Edge keys ``(supplier, buyer, material)`` in canonical (sorted) order."""
    return sorted(G.edges(keys=True))


def node_need(G: nx.MultiDiGraph, node: str, rate: float) -> dict[str, float]:
    """Inputs a node needs per day to deliver ``rate`` units/day of its material.

    A processor needs its recipe (a processor without a recipe draws on inputs outside
    the model, like a mine; give it ``recipe: {x: 1}`` to pass material ``x`` through); a
    market needs its demanded material; a stockpile holds and passes on its own material;
    mines and recyclers need nothing from suppliers.
    """
    data = G.nodes[node]
    role = data["role"]
    if role is Role.PROCESSOR:
        return {m: rate * q for m, q in data["recipe"].items()}
    if role in (Role.MARKET, Role.STOCKPILE):
        mat = data["material"]
        return {mat: rate} if mat is not None else {}
    return {}


def baseline_flows(
    G: nx.MultiDiGraph,
    order: list[str] | None = None,
    means: Mapping[str, float] | None = None,
) -> tuple[dict[str, float], dict[EdgeKey, float]]:
    """Undisrupted daily flows implied by mean demand, shares and recipes.

    Mean market demand is propagated upstream: a buyer's daily need for each input is split
    over its suppliers by share. Capacity limits are ignored (these are planned flows, used
    for stock targets and flow-weighted concentration).

    Parameters
    ----------
    G : networkx.MultiDiGraph
        A graph from :func:`build_graph` (its supply edges must form a DAG).
    order : list of str, optional
        A topological order of ``G`` already computed (saves computing it again).
    means : mapping, optional
        Market id → mean demand to propagate instead of the market's ``demand.mean``
        (markets not in it demand 0). The flows are linear in these means; the engine
        uses this to split planned flows by market when demand grows.

    Returns
    -------
    rates : dict
        Node id → planned output (units/day); for a market, its mean demand.
    flows : dict
        ``(supplier, buyer, material)`` → planned flow (units/day).

    Raises
    ------
    networkx.NetworkXUnfeasible
        If the supply edges contain a cycle.

    Examples
    --------
    >>> import networkx as nx
    >>> from crmsim.scenario.loader import scenario_from_dict
    >>> s = scenario_from_dict({
    ...     "crmsim": 1, "name": "two suppliers",
    ...     "materials": [{"id": "api"}, {"id": "pills"}],
    ...     "nodes": [
    ...         {"id": "cn", "role": "processor", "country": "CHN", "output": "api",
    ...          "capacity": 50},
    ...         {"id": "in", "role": "processor", "country": "IND", "output": "api",
    ...          "capacity": 30},
    ...         {"id": "fm", "role": "processor", "country": "DEU", "output": "pills",
    ...          "capacity": 100, "recipe": {"api": 0.5}},
    ...         {"id": "mk", "role": "market", "country": "DEU", "demand": {"mean": 80}},
    ...     ],
    ...     "edges": [
    ...         {"from": "cn", "to": "fm", "share": 0.75},
    ...         {"from": "in", "to": "fm", "share": 0.25},
    ...         {"from": "fm", "to": "mk"},
    ...     ],
    ... })
    >>> rates, flows = baseline_flows(build_graph(s))
    >>> rates["fm"], flows[("cn", "fm", "api")], flows[("in", "fm", "api")]
    (80.0, 30.0, 10.0)
    """
    rates: dict[str, float] = {n: 0.0 for n in G.nodes}
    flows: dict[EdgeKey, float] = {}
    # Plain adjacency lists (networkx views are slow in a tight loop); nodes and edges
    # were inserted in sorted order, so the topological order below is deterministic.
    out_keys: dict[str, list[EdgeKey]] = {n: [] for n in G.nodes}
    in_edges: dict[str, list[tuple[str, str, float]]] = {n: [] for n in G.nodes}
    for u, v, k, share in G.edges(keys=True, data="share"):
        out_keys[u].append((u, v, k))
        in_edges[v].append((u, k, float(share)))
    for n in reversed(order if order is not None else list(nx.topological_sort(G))):
        data = G.nodes[n]
        if data["role"] is Role.MARKET:
            demand = data["demand"]
            if means is not None:
                rates[n] = float(means.get(n, 0.0))
            else:
                rates[n] = float(demand.mean) if demand is not None else 0.0
        else:
            rates[n] = sum(flows[key] for key in out_keys[n])
        need = node_need(G, n, rates[n])
        for u, k, share in in_edges[n]:
            flows[(u, n, k)] = need.get(k, 0.0) * share
    return rates, flows


def reachable_markets(
    G: nx.MultiDiGraph,
    nodes: Iterable[str] = (),
    edges: Iterable[EdgeKey] = (),
) -> list[str]:
    """Markets that goods from some nodes, or over some edges, can reach (sorted).

    A node reaches itself (a market hit by a demand shock reaches only itself) and every
    node downstream of it along supply edges; an edge reaches its buyer and everything
    downstream of the buyer. Every edge counts, also a back-up with share 0: what it
    could carry, it could fail to carry.

    Parameters
    ----------
    G : networkx.MultiDiGraph
        The supply network from :func:`build_graph`.
    nodes : iterable of str
        Node ids (e.g. the nodes an outage hits).
    edges : iterable of EdgeKey
        ``(supplier, buyer, material)`` keys (e.g. the edges an export restriction
        blocks).

    Returns
    -------
    list of str
        Ids of the markets reached.

    Examples
    --------
    >>> G = nx.MultiDiGraph()
    >>> G.add_nodes_from(["mine", "plant", "a", "b"])
    >>> for n in ("a", "b"):
    ...     G.nodes[n]["role"] = Role.MARKET
    >>> for n in ("mine", "plant"):
    ...     G.nodes[n]["role"] = Role.PROCESSOR
    >>> _ = G.add_edge("mine", "plant", key="ore")
    >>> _ = G.add_edge("plant", "a", key="x")
    >>> _ = G.add_edge("mine", "b", key="ore")
    >>> reachable_markets(G, nodes=["plant"]), reachable_markets(G, nodes=["mine"])
    (['a'], ['a', 'b'])
    >>> reachable_markets(G, edges=[("mine", "b", "ore")]), reachable_markets(G, nodes=["b"])
    (['b'], ['b'])
    """
    start = set(nodes) | {v for _, v, _ in edges}
    seen = set(start)
    for n in start:
        seen |= nx.descendants(G, n)
    return sorted(n for n in seen if G.nodes[n]["role"] is Role.MARKET)


def reach_matrix(
    G: nx.MultiDiGraph, nodes: Sequence[str], markets: Sequence[str], *, packed: bool = False
) -> np.ndarray:
    """Which markets each node can reach, for every node at once.

    The same rule as :func:`reachable_markets` (a node reaches itself and everything
    downstream), computed level by level from the markets up: a node's row is the OR of its
    buyers' rows, and its buyers all lie on lower levels (height = longest path to a sink).
    Rows are kept as bit sets, 64 markets to a word.

    Parameters
    ----------
    G : networkx.MultiDiGraph
        The supply network (its supply edges form a DAG).
    nodes : sequence of str
        Row order (e.g. the engine's canonical node order); every node of ``G``.
    markets : sequence of str
        Column order: the market ids.
    packed : bool
        Return the bit sets (``uint64``, shape ``(len(nodes), ceil(len(markets) / 64))``;
        market ``k`` is bit ``k % 64`` of word ``k // 64``; unpack with
        ``numpy.unpackbits(rows.view(numpy.uint8), axis=-1, bitorder="little")``).

    Returns
    -------
    numpy.ndarray
        Of bool, shape (len(nodes), len(markets)), unless ``packed``.

    Examples
    --------
    >>> G = nx.MultiDiGraph([("mine", "plant"), ("plant", "a"), ("mine", "b")])
    >>> reach_matrix(G, ["a", "b", "mine", "plant"], ["a", "b"]).astype(int).tolist()
    [[1, 0], [0, 1], [1, 1], [1, 0]]
    >>> reach_matrix(G, ["a", "b", "mine", "plant"], ["a", "b"], packed=True).ravel().tolist()
    [1, 2, 3, 1]
    """
    import numpy as np

    row = {n: i for i, n in enumerate(nodes)}
    N, K = len(nodes), len(markets)
    words = max(1, -(-K // 64))
    bits = np.zeros((N, words * 64), dtype=bool)
    bits[[row[m] for m in markets], np.arange(K)] = True
    out = np.packbits(bits, axis=1, bitorder="little").view(np.uint64)
    pairs = np.array(sorted({(row[u], row[v]) for u, v in G.edges()}), dtype=np.intp)
    if pairs.size:
        src, dst = pairs[:, 0], pairs[:, 1]  # sorted by supplier
        height = np.zeros(N, dtype=np.intp)
        for _ in range(N):  # at most the longest path; stops when no height changes
            new = height.copy()
            np.maximum.at(new, src, height[dst] + 1)
            if np.array_equal(new, height):
                break
            height = new
        for h in range(1, int(height.max()) + 1):
            sel = np.flatnonzero(height[src] == h)
            s_h = src[sel]
            first = np.flatnonzero(np.r_[True, s_h[1:] != s_h[:-1]])
            out[s_h[first]] |= np.bitwise_or.reduceat(out[dst[sel]], first, axis=0)
    if packed:
        return out
    return np.unpackbits(out.view(np.uint8), axis=1, bitorder="little")[:, :K].astype(bool)
