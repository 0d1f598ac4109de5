r"""Draw a supply network: tiers left to right, nodes by role and country, widths by share.

Drawing uses :class:`matplotlib.figure.Figure` directly (no ``pyplot``): nothing is shown on
screen, no global figure list grows, and it works on machines without a display. Every text
drawn from the scenario (the title, node labels) is drawn as plain text, never parsed as
matplotlib mathtext: a name such as ``"$\notacommand$"`` is shown as written.
"""

from __future__ import annotations

from collections import defaultdict

import networkx as nx
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from crmsim.network.analysis import single_sourced
from crmsim.scenario.schema import Role

__all__ = ["ROLE_COLOURS", "SINGLE_SOURCE_COLOUR", "plot_network", "tiers"]

ROLE_COLOURS: dict[Role, str] = {
    Role.MINE: "#8c564b",
    Role.PROCESSOR: "#1f77b4",
    Role.RECYCLER: "#2ca02c",
    Role.STOCKPILE: "#9467bd",
    Role.MARKET: "#ff7f0e",
}
SINGLE_SOURCE_COLOUR = "#d62728"
_EDGE_COLOUR = "#555555"
_ALT_COLOUR = "#1f77b4"


def tiers(G: nx.MultiDiGraph) -> dict[str, int]:
    """Supply tier of each node: 0 for nodes without suppliers, markets in the last tier.

    Tiers are the topological generations of the supply DAG (a node's tier is the length of
    the longest supply chain that ends at it); markets are moved to the last tier so that
    final demand is always on the right.

    Examples
    --------
    >>> from crmsim.network.graph import build_graph
    >>> from crmsim.scenario.loader import scenario_from_dict
    >>> G = build_graph(scenario_from_dict({
    ...     "crmsim": 1, "name": "chain",
    ...     "materials": [{"id": "ore"}, {"id": "metal"}],
    ...     "nodes": [
    ...         {"id": "m", "role": "mine", "country": "TJK", "output": "ore", "capacity": 9},
    ...         {"id": "s", "role": "processor", "country": "CHN", "output": "metal",
    ...          "capacity": 9, "recipe": {"ore": 1}},
    ...         {"id": "k", "role": "market", "country": "DEU", "demand": {"mean": 5}},
    ...         {"id": "k2", "role": "market", "country": "USA", "demand": {"mean": 1}},
    ...     ],
    ...     "edges": [{"from": "m", "to": "s"}, {"from": "s", "to": "k"},
    ...               {"from": "m", "to": "k2"}],
    ... }))
    >>> tiers(G)
    {'k': 2, 'k2': 2, 'm': 0, 's': 1}
    """
    out: dict[str, int] = {}
    for i, generation in enumerate(nx.topological_generations(G)):
        for n in generation:
            out[n] = i
    last = max(out.values(), default=0)
    for n, d in G.nodes(data=True):
        if d["role"] is Role.MARKET:
            out[n] = last
    return dict(sorted(out.items()))


def _positions(G: nx.MultiDiGraph, tier: dict[str, int]) -> dict[str, tuple[float, float]]:
    columns: dict[int, list[str]] = defaultdict(list)
    for n, t in tier.items():
        columns[t].append(n)
    pos = {}
    for t, nodes in columns.items():
        # Group a column by material, then country, so that rivals sit next to each other.
        nodes.sort(key=lambda n: (str(G.nodes[n]["material"]), G.nodes[n]["country"], n))
        k = len(nodes)
        for i, n in enumerate(nodes):
            pos[n] = (float(t), (k - 1) / 2 - i)
    return pos


def _on_arc(
    ax: Axes, a: tuple[float, float], b: tuple[float, float], rad: float, t: float
) -> tuple[float, float]:
    """Point at parameter ``t`` of matplotlib's ``arc3`` curve from ``a`` to ``b``."""
    to_display, to_data = ax.transData, ax.transData.inverted()
    (x0, y0), (x1, y1) = to_display.transform([a, b])
    # arc3's control point, in display coordinates (see matplotlib.patches.ConnectionStyle).
    cx, cy = (x0 + x1) / 2 + rad * (y1 - y0), (y0 + y1) / 2 - rad * (x1 - x0)
    x = (1 - t) ** 2 * x0 + 2 * (1 - t) * t * cx + t**2 * x1
    y = (1 - t) ** 2 * y0 + 2 * (1 - t) * t * cy + t**2 * y1
    px, py = to_data.transform((x, y))
    return float(px), float(py)


def plot_network(
    G: nx.MultiDiGraph,
    ax: Axes | None = None,
    *,
    title: str | None = None,
    share_labels: bool | None = None,
) -> Figure:
    r"""Draw the supply network.

    Mines (tier 0) are on the left and markets on the right; nodes are coloured by role and
    labelled with their id and country; planned edges are drawn with a width proportional to
    the buyer's sourcing share, single-source dependencies in red, qualified alternatives
    (share 0) dashed.

    Parameters
    ----------
    G : networkx.MultiDiGraph
        A graph from :func:`~crmsim.network.graph.build_graph`.
    ax : matplotlib.axes.Axes, optional
        Where to draw; by default a new figure (not registered with ``pyplot``).
    title : str, optional
        Title (default: the scenario name), drawn as plain text (``$`` is not math).
    share_labels : bool, optional
        Print each planned edge's share (default: when the network has at most 40 edges).

    Returns
    -------
    matplotlib.figure.Figure
        The figure drawn on; save it with ``fig.savefig("network.png")``.

    Examples
    --------
    >>> from crmsim.network.graph import build_graph
    >>> from crmsim.scenario.loader import scenario_from_dict
    >>> G = build_graph(scenario_from_dict({
    ...     "crmsim": 1, "name": "chain",
    ...     "materials": [{"id": "ore"}],
    ...     "nodes": [
    ...         {"id": "m", "role": "mine", "country": "TJK", "output": "ore", "capacity": 9},
    ...         {"id": "k", "role": "market", "country": "DEU", "demand": {"mean": 5}},
    ...     ],
    ...     "edges": [{"from": "m", "to": "k"}],
    ... }))
    >>> fig = plot_network(G)
    >>> sorted(t.get_text() for t in fig.axes[0].texts if t.get_text())
    ['100 %', 'k\nDEU', 'm\nTJK']
    """
    tier = tiers(G)
    pos = _positions(G, tier)
    n_tiers = max(tier.values(), default=0) + 1
    tallest = max((sum(1 for t in tier.values() if t == i) for i in range(n_tiers)), default=1)
    if ax is None:
        fig = Figure(
            figsize=(max(6.0, 2.8 * n_tiers + 1.5), max(3.5, 1.1 * tallest + 1.8)),
            layout="constrained",
        )
        ax = fig.add_subplot()
    else:
        fig = ax.figure  # type: ignore[assignment]
    if share_labels is None:
        share_labels = G.number_of_edges() <= 40

    single = {(r.supplier, r.buyer, r.material) for r in single_sourced(G).itertuples(index=False)}
    ys = [p[1] for p in pos.values()] or [0.0]
    # Limits first: share labels are placed on the drawn curves, in display coordinates.
    ax.set_xlim(-0.5, n_tiers - 0.5)
    ax.set_ylim(min(ys) - 0.75, max(ys) + 0.5)
    parallel: dict[tuple[str, str], int] = defaultdict(int)
    for u, v, k, d in sorted(G.edges(keys=True, data=True), key=lambda e: e[:3]):
        i = parallel[(u, v)]
        parallel[(u, v)] += 1
        (x0, y0), (x1, y1) = pos[u], pos[v]
        rad = 0.12 * i
        if tier[v] - tier[u] > 1:
            # An edge that skips a tier would run through the nodes of that tier: bend it
            # away from the middle of the drawing.
            rad += -0.2 if (y0 + y1) / 2 >= 0 else 0.2
        share = float(d["share"])
        if share > 0:
            colour = SINGLE_SOURCE_COLOUR if (u, v, k) in single else _EDGE_COLOUR
            style, width, alpha = "-", 0.8 + 5.0 * share, 0.85
        elif d["qualified"]:
            colour, style, width, alpha = _ALT_COLOUR, "--", 1.2, 0.8
        else:
            colour, style, width, alpha = _EDGE_COLOUR, ":", 0.8, 0.6
        ax.annotate(
            "",
            xy=pos[v],
            xytext=pos[u],
            arrowprops={
                "arrowstyle": "-|>",
                "mutation_scale": 12,
                "lw": width,
                "ls": style,
                "color": colour,
                "alpha": alpha,
                "shrinkA": 16,
                "shrinkB": 16,
                "connectionstyle": f"arc3,rad={rad}",
            },
            zorder=1,
        )
        if share_labels and share > 0:
            x, y = _on_arc(ax, (x0, y0), (x1, y1), rad, 0.4)
            ax.text(
                x, y, f"{share:.0%}".replace("%", " %"), fontsize=7, ha="center", va="center",
                color=colour, zorder=3,
                bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.8},
            )  # fmt: skip

    for role, colour in ROLE_COLOURS.items():
        nodes = [n for n in pos if G.nodes[n]["role"] is role]
        if not nodes:
            continue
        ax.scatter(
            [pos[n][0] for n in nodes], [pos[n][1] for n in nodes],
            s=420, c=colour, edgecolors="white", linewidths=1.5, zorder=2,
        )  # fmt: skip
    for n in sorted(pos):
        x, y = pos[n]
        ax.text(x, y - 0.2, f"{n}\n{G.nodes[n]['country']}", fontsize=8, ha="center", va="top",
                zorder=4, parse_math=False)  # fmt: skip

    handles = [
        Line2D([], [], ls="", marker="o", ms=9, color=c, label=str(r.value))
        for r, c in ROLE_COLOURS.items()
        if any(d["role"] is r for _, d in G.nodes(data=True))
    ]
    handles += [
        Line2D([], [], color=_EDGE_COLOUR, lw=3, label="supply (width ∝ share)"),
        Line2D([], [], color=SINGLE_SOURCE_COLOUR, lw=3, label="single-source dependency"),
        Line2D([], [], color=_ALT_COLOUR, lw=1.2, ls="--", label="qualified alternative"),
    ]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8,
              frameon=False)  # fmt: skip
    ax.set_title(
        title if title is not None else str(G.graph.get("name", "")), fontsize=11, parse_math=False
    )
    ax.set_axis_off()
    return fig
