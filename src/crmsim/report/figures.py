r"""The figures of a crmsim experiment, one function each.

Every function takes the tables crmsim computes (a graph, ``RunResult.bands``,
``Comparison.table``, ``Comparison.costs``, the realised flows, the CRMA card, a daily
record, a stress-test table) and returns a :class:`matplotlib.figure.Figure` drawn without
``pyplot`` (nothing is shown on screen, no global figure list grows, no display is needed);
save it with :func:`save` as PNG and SVG.

Conventions, the same in every figure:

* colours from the Okabe–Ito palette, which readers with any common colour-vision
  deficiency tell apart, and each option also has its own **line style, marker and
  hatch**, so a figure printed in grayscale still reads;
* every axis has its quantity and unit (``(days)``, ``(%)``, ``(t)``, the currency);
* titles, axis labels and legends are in the current language, and numbers in its
  form (:mod:`crmsim.i18n`: ``crmsim.set_language("uk")``);
* user text (ids, labels, names) is escaped for matplotlib's mathtext: a ``$`` in a name
  is printed as a dollar sign, never starts a formula (:func:`escape`).
"""

from __future__ import annotations

import math
import textwrap
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import (
    Formatter,
    FuncFormatter,
    MaxNLocator,
    PercentFormatter,
    ScalarFormatter,
)

from crmsim.i18n import N_, _, format_number, get_language, ngettext

__all__ = [
    "HATCHES",
    "LINESTYLES",
    "MARKERS",
    "OKABE_ITO",
    "cost_resilience",
    "crma_card",
    "disruption_timeline",
    "escape",
    "forest",
    "forest_markets",
    "network",
    "pareto_efficient",
    "performance_bands",
    "resilience_triangle",
    "save",
    "secondary_supply",
    "stress_test",
    "supply_by_country",
    "wrap_label",
]

#: Okabe & Ito (2008) colour-blind-safe palette (black first for the baseline).
OKABE_ITO: tuple[str, ...] = (
    "#000000",  # black
    "#E69F00",  # orange
    "#56B4E9",  # sky blue
    "#009E73",  # bluish green
    "#0072B2",  # blue
    "#D55E00",  # vermillion
    "#CC79A7",  # reddish purple
    "#F0E442",  # yellow (last: weak on white)
)
#: Line style of the i-th option (cycled), so lines differ without colour.
LINESTYLES: tuple[Any, ...] = ("-", "--", "-.", ":", (0, (5, 1, 1, 1, 1, 1)), (0, (8, 2)))
#: Marker of the i-th option (cycled).
MARKERS: tuple[str, ...] = ("o", "s", "^", "D", "v", "P", "X", "h")
#: Hatch of the i-th option's bars and bands (cycled).
HATCHES: tuple[str, ...] = ("", "///", "\\\\\\", "xx", "...", "++", "oo", "--")

_GREY = "#BBBBBB"
_ALERT = OKABE_ITO[5]  # vermillion: single-source dependency, flagged node
_ALT = OKABE_ITO[4]  # blue: qualified alternative


def escape(text: object) -> str:
    r"""User text made safe for matplotlib: ``$`` is a dollar sign, not mathtext.

    Examples
    --------
    >>> escape("cost in US$ and $5")
    'cost in US\\$ and \\$5'
    """
    return str(text).replace("$", r"\$")


def wrap_label(text: object, width: int = 14, max_lines: int = 2) -> str:
    r"""Wrap a label on word and ``_`` boundaries; shorten with "…" beyond ``max_lines``.

    Examples
    --------
    >>> wrap_label("tajik_smelter_msme", 10)
    'tajik_\nsmelter_…'
    >>> wrap_label("mine")
    'mine'
    """
    s = str(text)
    if len(s) <= width:
        return s
    # Break after underscores and hyphens too (ids rarely have spaces).
    spaced = s.replace("_", "_\u200b").replace("-", "-\u200b")
    words = spaced.replace("\u200b", " \u200b").split(" ")
    lines: list[str] = []
    cur = ""
    for w in words:
        w = w.replace("\u200b", "")
        cand = cur + ("" if cur.endswith(("_", "-")) or not cur else " ") + w
        if cur and len(cand) > width:
            lines.append(cur)
            cur = w
        else:
            cur = cand
    lines.append(cur)
    lines = [textwrap.shorten(x, width, placeholder="…") if len(x) > width else x for x in lines]
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        last = lines[-1]
        lines[-1] = (last[: width - 1] if len(last) >= width else last) + "…"
    return "\n".join(lines)


def _style(i: int) -> dict[str, Any]:
    return {
        "color": OKABE_ITO[i % len(OKABE_ITO)],
        "ls": LINESTYLES[i % len(LINESTYLES)],
        "marker": MARKERS[i % len(MARKERS)],
        "hatch": HATCHES[i % len(HATCHES)],
    }


class _DecimalComma(Formatter):
    """A numeric tick formatter with a decimal comma (Ukrainian, Russian) around another."""

    def __init__(self, inner: Formatter) -> None:
        self.inner = inner

    def set_axis(self, axis: Any) -> None:
        super().set_axis(axis)
        self.inner.set_axis(axis)

    def set_locs(self, locs: Any) -> None:
        self.inner.set_locs(locs)

    def __call__(self, x: float, pos: int | None = None) -> str:
        return str(self.inner(x, pos)).replace(".", ",")

    def format_ticks(self, values: Any) -> list[str]:
        return [s.replace(".", ",") for s in self.inner.format_ticks(values)]

    def get_offset(self) -> str:
        return str(self.inner.get_offset()).replace(".", ",")


def _localise(fig: Figure) -> Figure:
    """Numeric ticks in the current language's form (a decimal comma in uk and ru).

    Decided when the figure is made, so a figure drawn later, in another language, keeps
    the form of its labels.
    """
    if get_language() == "en":
        return fig
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            f = axis.get_major_formatter()
            if isinstance(f, ScalarFormatter | PercentFormatter):
                axis.set_major_formatter(_DecimalComma(f))
    return fig


def _money_formatter() -> FuncFormatter:
    lang = get_language()  # of the figure, not of the moment it is drawn
    return FuncFormatter(lambda x, _pos: format_number(x, 0, lang=lang))


def save(fig: Figure, path: str | Path, formats: Sequence[str] = ("png", "svg")) -> list[Path]:
    """Save a figure as ``path`` with each suffix in ``formats``.

    Parameters
    ----------
    fig : Figure
        From one of this module's functions.
    path : str or Path
        File name; its suffix, if any, is replaced.
    formats : sequence of str
        ``png`` (150 dpi), ``svg`` and any other format matplotlib writes.

    Returns
    -------
    list of Path
        The files written.
    """
    path = Path(path)
    out = []
    for fmt in formats:
        p = path.with_suffix(f".{fmt}")
        fig.savefig(p, format=fmt, dpi=150 if fmt == "png" else None, metadata=_metadata(fmt))
        out.append(p)
    return out


def _metadata(fmt: str) -> dict[str, Any] | None:
    # No creation date in SVG/PDF, so the same results give the same file.
    if fmt == "svg":
        return {"Date": None}
    if fmt == "pdf":
        return {"CreationDate": None}
    return None


# --------------------------------------------------------------------------- network

_ROLE_NAMES: dict[str, str] = {
    "mine": N_("mine"),
    "processor": N_("processor"),
    "market": N_("market"),
    "recycler": N_("recycler"),
    "stockpile": N_("stockpile"),
}

_ROLE_STYLE: dict[str, tuple[str, str]] = {
    # role: (marker, colour) — shapes differ, so roles read without colour.
    "mine": ("s", OKABE_ITO[1]),
    "processor": ("o", OKABE_ITO[2]),
    "recycler": ("^", OKABE_ITO[3]),
    "stockpile": ("D", OKABE_ITO[6]),
    "market": ("h", OKABE_ITO[4]),
}


def network(
    G: nx.MultiDiGraph,
    *,
    title: str | None = None,
    added: Sequence[str] = (),
    share_labels: bool | None = None,
) -> Figure:
    r"""The supply network in layers: suppliers on the left, markets on the right.

    Columns are supply tiers (the topological generations of the supply graph, markets
    always last: mine → processor → … → market); in a column, nodes are grouped by
    material and country. Each node is drawn with a shape and colour by role and labelled
    with its (wrapped) id and country; recyclers and stockpiles have their own shapes,
    entrants (a node with ``entry``), UNFC developments and nodes ``added`` by a policy
    are ringed and tagged. Planned supply edges have a width proportional to the buyer's
    share (printed when ``share_labels`` and below 100 %); **single-source dependencies**
    (a buyer with one
    supplier of a material) are thick vermillion; qualified alternatives are dashed blue.

    Parameters
    ----------
    G : networkx.MultiDiGraph
        From :func:`crmsim.network.graph.build_graph`.
    title : str, optional
        Default: the scenario name.
    added : sequence of str
        Nodes a policy option added (ringed, tagged "added").
    share_labels : bool, optional
        Print each planned edge's share (default: at most 30 edges).

    Returns
    -------
    Figure

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
    >>> fig = network(G)
    >>> sorted(t.get_text() for t in fig.axes[0].texts if t.get_text())
    ['k\nDEU', 'm\nTJK']
    """
    from crmsim.network.analysis import single_sourced
    from crmsim.network.plot import tiers

    tier = tiers(G)
    columns: dict[int, list[str]] = defaultdict(list)
    for n, t in tier.items():
        columns[t].append(n)
    n_tiers = max(tier.values(), default=0) + 1
    tallest = max((len(v) for v in columns.values()), default=1)
    row_h = 1.0  # vertical distance between nodes, in data units (= inches below)
    pos: dict[str, tuple[float, float]] = {}
    for t, nodes in columns.items():
        nodes.sort(key=lambda n: (str(G.nodes[n]["material"]), G.nodes[n]["country"], n))
        k = len(nodes)
        for i, n in enumerate(nodes):
            pos[n] = (float(t), row_h * ((k - 1) / 2 - i))
    col_w = 2.6
    fig = Figure(
        figsize=(max(6.5, col_w * n_tiers + 2.6), max(3.4, 0.95 * row_h * tallest + 1.6)),
        layout="constrained",
    )
    ax = fig.add_subplot()
    ys = [p[1] for p in pos.values()] or [0.0]
    ax.set_xlim(-0.6, n_tiers - 0.4)
    ax.set_ylim(min(ys) - 0.8, max(ys) + 0.55)
    if share_labels is None:
        share_labels = G.number_of_edges() <= 30
    single = {(r.supplier, r.buyer, r.material) for r in single_sourced(G).itertuples(index=False)}
    parallel: dict[tuple[str, str], int] = defaultdict(int)
    share_texts: list[Any] = []
    for u, v, k, d in sorted(G.edges(keys=True, data=True), key=lambda e: e[:3]):
        i = parallel[(u, v)]
        parallel[(u, v)] += 1
        rad = 0.12 * i
        if tier[v] - tier[u] > 1:
            rad += -0.25 if (pos[u][1] + pos[v][1]) / 2 >= 0 else 0.25
        share = float(d["share"])
        if share > 0:
            is_single = (u, v, k) in single
            colour = _ALERT if is_single else "#555555"
            style, width = "-", (3.2 if is_single else 0.8 + 4.0 * share)
        elif d["qualified"]:
            colour, style, width = _ALT, "--", 1.2
        else:
            colour, style, width = "#777777", ":", 0.8
        ax.annotate(
            "", xy=pos[v], xytext=pos[u],
            arrowprops={"arrowstyle": "-|>", "mutation_scale": 11, "lw": width, "ls": style,
                        "color": colour, "alpha": 0.85, "shrinkA": 13, "shrinkB": 13,
                        "connectionstyle": f"arc3,rad={rad}"},
            zorder=1,
        )  # fmt: skip
        if share_labels and 0 < share < 1:
            # On the drawn curve, a third of the way from the supplier.
            share_texts.append((pos[u], pos[v], rad, f"{share:.0%}".replace("%", " %"), colour))
    roles_seen = []
    for role, (marker, colour) in _ROLE_STYLE.items():
        nodes = [n for n in pos if str(G.nodes[n]["role"]) == role]
        if not nodes:
            continue
        roles_seen.append(role)
        ax.scatter(
            [pos[n][0] for n in nodes], [pos[n][1] for n in nodes], s=260, marker=marker,
            c=colour, edgecolors="black", linewidths=0.8, zorder=2,
        )  # fmt: skip
    tagged: dict[str, str] = {}
    for n in pos:
        spec = G.nodes[n].get("spec")
        if n in added:
            tagged[n] = _("added")
        elif spec is not None and getattr(spec, "entry", None) is not None:
            tagged[n] = _("entrant")
        elif spec is not None and getattr(spec, "development", None) is not None:
            tagged[n] = _("UNFC dev.")
    if tagged:
        ax.scatter(
            [pos[n][0] for n in tagged], [pos[n][1] for n in tagged], s=620, marker="o",
            facecolors="none", edgecolors="black", linewidths=1.3, linestyles="--", zorder=2,
        )  # fmt: skip
    labels = []
    for n in sorted(pos):
        x, y = pos[n]
        labels.append(ax.text(
            x, y - 0.2, f"{escape(wrap_label(n))}\n{escape(G.nodes[n]['country'])}",
            fontsize=7.5, ha="center", va="top", zorder=4, linespacing=1.05,
            bbox={"boxstyle": "round,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.75},
        ))  # fmt: skip
        if n in tagged:
            labels.append(ax.text(x + 0.13, y + 0.13, tagged[n], fontsize=6.5, ha="left",
                                  va="bottom",
                    style="italic", zorder=4))  # fmt: skip
    ax.set_title(escape(title if title is not None else G.graph.get("name", "")), fontsize=10)
    ax.set_axis_off()
    _place_share_labels(fig, ax, labels, share_texts)
    handles: list[Any] = [
        Line2D([], [], ls="", marker=_ROLE_STYLE[r][0], ms=8, mfc=_ROLE_STYLE[r][1],
               mec="black", label=_(_ROLE_NAMES.get(r, r))) for r in roles_seen
    ]  # fmt: skip
    handles += [
        Line2D([], [], color="#555555", lw=3, label=_("supply (width ∝ share)")),
        Line2D([], [], color=_ALERT, lw=3.2, label=_("single-source dependency")),
        Line2D([], [], color=_ALT, lw=1.2, ls="--", label=_("qualified alternative")),
    ]
    if tagged:
        handles.append(
            Line2D([], [], ls="", marker="o", ms=12, mfc="none", mec="black",
                   label=_("entrant / development / added"))
        )  # fmt: skip
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=7.5,
              frameon=False)  # fmt: skip
    return fig


def _place_share_labels(fig: Figure, ax: Axes, fixed: list[Any], shares: list[Any]) -> None:
    """Put share labels on their curves; leave out any that would overlap another label."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.transforms import Bbox

    from crmsim.network.plot import _on_arc

    if not shares:
        return
    if not isinstance(fig.canvas, FigureCanvasAgg):
        FigureCanvasAgg(fig)
    fig.draw_without_rendering()  # the final layout, so display boxes are right
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    taken: list[Bbox] = [t.get_window_extent(renderer).expanded(1.05, 1.1) for t in fixed]
    for a, b, rad, text, colour in shares:
        for t in (0.3, 0.45, 0.2, 0.6):
            x, y = _on_arc(ax, a, b, rad, t)
            txt = ax.text(
                x, y, text, fontsize=6.5, ha="center", va="center", color=colour, zorder=3,
                bbox={"boxstyle": "round,pad=0.12", "fc": "white", "ec": "none", "alpha": 0.9},
            )  # fmt: skip
            box = txt.get_window_extent(renderer).expanded(1.05, 1.1)
            if not any(box.overlaps(o) for o in taken):
                taken.append(box)
                break
            txt.remove()


# --------------------------------------------------------------------------- performance

DAY_AXIS = N_("scored day (days since the start of the horizon)")
PERFORMANCE_AXIS = N_("daily performance: served ÷ demand (%)")


def _disruption_spans(
    disruptions: pd.DataFrame | None, n_replications: int | None
) -> tuple[list[tuple[str, float, float]], list[str]]:
    """Spans shared by at least half of the replications, and the other (random) ones."""
    if disruptions is None or not len(disruptions):
        return [], []
    d = disruptions
    if "variant" in d.columns:
        first = d["variant"].iloc[0]
        d = d[d["variant"] == first]
    R = n_replications or (int(d["replication"].nunique()) if "replication" in d.columns else 1)
    spans, other = [], []
    for name, g in d.groupby("disruption", sort=True):
        counts = g.groupby(["start", "end"]).size()
        common = counts[counts >= max(1, R / 2)]
        if len(common):
            for start, end in common.index:
                spans.append((str(name), float(start), float(end)))
        else:
            other.append(_("{name} ({rate} events per replication, random)").format(
                name=name, rate=format_number(len(g) / max(R, 1), 1)))
    return spans, other


def performance_bands(
    bands: Mapping[str, pd.DataFrame],
    disruptions: pd.DataFrame | None = None,
    *,
    market: str = "(all)",
    labels: Mapping[str, str] | None = None,
    n_replications: int | None = None,
    title: str | None = None,
) -> Figure:
    """Daily performance per option: the median and the 90 % band over replications.

    Parameters
    ----------
    bands : mapping of str to DataFrame
        Variant → ``RunResult.bands`` (columns ``day, market, q05, q50, q95``).
    disruptions : DataFrame, optional
        Realised disruptions (``disruption, start, end`` and ``replication``; a ``variant``
        column is reduced to its first variant). A disruption with the same days in at
        least half of the replications is shaded and named; random ones are listed under
        the plot.
    market : str
        Market id, or ``"(all)"`` for overall performance.
    labels : mapping, optional
        Readable label of each variant.
    n_replications : int, optional
        Replications (to tell scheduled disruptions from random ones).
    title : str, optional
        Figure title.

    Returns
    -------
    Figure
    """
    fig = Figure(figsize=(9.0, 4.2), layout="constrained")
    ax = fig.add_subplot()
    spans, other = _disruption_spans(disruptions, n_replications)
    for j, (name, start, end) in enumerate(spans):
        ax.axvspan(start, end, color=_GREY, alpha=0.35, lw=0, zorder=0)
        ax.text(max(start, 0.0), 0.99 - 0.065 * (j % 6), escape(wrap_label(name, 30, 1)),
                transform=ax.get_xaxis_transform(), fontsize=7, va="top", ha="left", zorder=5,
                bbox={"boxstyle": "round,pad=0.1", "fc": "white", "ec": "#999999",
                      "alpha": 0.85, "lw": 0.5})  # fmt: skip
    for i, (variant, b) in enumerate(bands.items()):
        sub = b[b["market"] == market].sort_values("day")
        if not len(sub):
            continue
        st = _style(i)
        label = escape(wrap_label(labels.get(variant, variant) if labels else variant, 60))
        ax.fill_between(
            sub["day"], 100 * sub["q05"], 100 * sub["q95"], color=st["color"], alpha=0.15,
            hatch=st["hatch"] or None, edgecolor=st["color"], lw=0, zorder=1,
        )  # fmt: skip
        ax.plot(sub["day"], 100 * sub["q50"], color=st["color"], ls=st["ls"], lw=1.6,
                label=label, zorder=2)  # fmt: skip
    ax.set_xlabel(_(DAY_AXIS))
    ax.set_ylabel(_(PERFORMANCE_AXIS))
    ax.yaxis.set_major_formatter(PercentFormatter(100))
    ax.set_ylim(bottom=min(0.0, ax.get_ylim()[0]), top=105)
    fig.legend(loc="outside lower center", fontsize=7.5, ncols=2 if len(bands) > 3 else 1,
               title=_("median of each option; shaded: 90 % of replications (5–95 %)"),
               title_fontsize=7.5, frameon=False)  # fmt: skip
    where = _("all markets") if market == "(all)" else _("market {market}").format(market=market)
    head = title or _("Daily performance, {where}").format(where=where)
    if other:
        head += "\n" + textwrap.fill(_("also random: ") + "; ".join(other), 130)
    ax.set_title(escape(head), fontsize=9)
    return _localise(fig)


def disruption_timeline(
    disruptions: pd.DataFrame,
    *,
    horizon: int | None = None,
    n_replications: int | None = None,
) -> Figure:
    """When each disruption was in force, over the replications.

    One row per disruption; each realised event is a bar from its first to its last day
    (overlapping events of several replications look darker); an event that ended in the
    warm-up or started after the horizon is cut at the scored days.

    Parameters
    ----------
    disruptions : DataFrame
        ``disruption, start, end`` (and ``replication``; a ``variant`` column is reduced
        to its first variant).
    horizon : int, optional
        Scored days (the x axis ends there).
    n_replications : int, optional
        Replications, for the labels (events per replication).

    Returns
    -------
    Figure
    """
    d = disruptions
    if len(d) and "variant" in d.columns:
        d = d[d["variant"] == d["variant"].iloc[0]]
    names = sorted(d["disruption"].unique()) if len(d) else []
    R = n_replications or (int(d["replication"].nunique()) if len(d) and "replication" in d else 1)
    fig = Figure(figsize=(9.0, 0.45 * max(len(names), 1) + 1.4), layout="constrained")
    ax = fig.add_subplot()
    alpha = max(0.08, min(0.8, 1.5 / max(R, 1)))
    for i, name in enumerate(names):
        g = d[d["disruption"] == name]
        st = _style(i + 1)
        start = np.maximum(g["start"].to_numpy(dtype=float), 0.0)
        end = g["end"].to_numpy(dtype=float)
        if horizon is not None:
            end = np.minimum(end, float(horizon))
        keep = end > start
        ax.broken_barh(
            list(zip(start[keep], (end - start)[keep], strict=True)), (i - 0.35, 0.7),
            facecolors=st["color"], alpha=alpha, edgecolor="black", lw=0.3,
            hatch=st["hatch"] or None,
        )  # fmt: skip
        ax.text(1.005, i, _("{rate}/rep.").format(rate=format_number(len(g) / R, 1)),
                transform=ax.get_yaxis_transform(),
                fontsize=7, va="center")  # fmt: skip
    ax.set_yticks(range(len(names)), [escape(wrap_label(n, 26, 2)) for n in names], fontsize=8)
    if names:
        ax.set_ylim(len(names) - 0.5, -0.5)
    if horizon is not None:
        ax.set_xlim(0, horizon)
    ax.set_xlabel(_(DAY_AXIS))
    ax.set_ylabel(_("disruption"))
    if not names:
        ax.text(0.5, 0.5, _("no disruption was realised"), transform=ax.transAxes, ha="center")
    ax.set_title(ngettext("Disruptions in force ({n} replication; darker = more often)",
                          "Disruptions in force ({n} replications; darker = more often)",
                          R).format(n=R), fontsize=10)  # fmt: skip
    return _localise(fig)


def resilience_triangle(
    performance: Sequence[float] | np.ndarray,
    *,
    disruption: tuple[str, float, float] | None = None,
    ttr: tuple[float, bool] | None = None,
    title: str | None = None,
) -> Figure:
    """One replication's daily performance with the resilience loss shaded and annotated.

    The loss is ``Σ_t (1 − performance(t))`` over the scored days (in days of lost
    demand: one day of no supply at all is 1); the nadir is the lowest daily performance;
    the time to recover is measured from the first day below 100 % to the first day back
    at 100 % after the last shortfall (censored when it is not back by the horizon).

    Parameters
    ----------
    performance : array-like
        Daily performance (fraction 0–1) over the scored days.
    disruption : (name, start, end), optional
        A disruption to shade and name.
    ttr : (days, censored), optional
        The engine's time to recover from ``disruption`` (``SimulationResult.disruptions``:
        measured from its start, within its impact window); shown instead of the span of
        all shortfalls.
    title : str, optional
        Figure title.

    Returns
    -------
    Figure
    """
    p = np.clip(np.asarray(performance, dtype=float), 0.0, None)
    days = np.arange(len(p))
    fig = Figure(figsize=(8.0, 4.0), layout="constrained")
    ax = fig.add_subplot()
    if disruption is not None:
        name, start, end = disruption
        ax.axvspan(start, end, color=_GREY, alpha=0.35, lw=0, zorder=0)
        ax.annotate(escape(wrap_label(name, 24, 1)), (start, 0.98), xytext=(3, 0),
                    textcoords="offset points", fontsize=7.5, va="top",
                    xycoords=ax.get_xaxis_transform())  # fmt: skip
    ax.plot(days, 100 * p, color="black", lw=1.5, label=_("daily performance"), zorder=2)
    short = np.minimum(p, 1.0)
    ax.fill_between(days, 100 * short, 100, where=short < 1, color=OKABE_ITO[5], alpha=0.35,
                    hatch="///", edgecolor=OKABE_ITO[5], lw=0, label=_("resilience loss"),
                    zorder=1)  # fmt: skip
    loss = float(np.sum(1.0 - short))
    below = np.flatnonzero(short < 1.0 - 1e-9)
    lines = [_("resilience loss: {loss} days of lost demand").format(loss=format_number(loss, 1))]
    if len(p):
        i = int(np.argmin(p))
        low = format_number(100 * p[i], 1)
        lines.append(_("nadir: {share} % on day {day}").format(share=low, day=i))
        ax.annotate(_("nadir {share} %").format(share=low), (i, 100 * p[i]), xytext=(12, -4),
                    textcoords="offset points", fontsize=7.5,
                    arrowprops={"arrowstyle": "->", "lw": 0.8})  # fmt: skip
    if ttr is not None and disruption is not None:
        days_, cens = ttr
        name = disruption[0]
        lines.append(
            _("time to recover from {name}: > {days} days (censored)").format(
                name=name, days=format_number(days_, 0))
            if cens
            else _("time to recover from {name}: {days} days").format(
                name=name, days=format_number(days_, 0))
        )
    elif len(below):
        first, last = int(below[0]), int(below[-1])
        if last + 1 < len(p):
            lines.append(_("time to recover: {days} days (day {first} to {last})").format(
                days=last + 1 - first, first=first, last=last + 1))
        else:
            lines.append(_("not recovered by the horizon (censored; > {days} days)").format(
                days=len(p) - first))
    ax.text(0.99, 0.04, escape("\n".join(lines)), transform=ax.transAxes, ha="right", va="bottom",
            fontsize=8, bbox={"fc": "white", "ec": "#999999", "boxstyle": "round"})  # fmt: skip
    ax.set_xlabel(_(DAY_AXIS))
    ax.set_ylabel(_(PERFORMANCE_AXIS))
    ax.yaxis.set_major_formatter(PercentFormatter(100))
    ax.set_ylim(min(0.0, 100 * float(p.min(initial=1.0)) - 5), 108)
    ax.legend(fontsize=7.5, loc="center right")
    ax.set_title(escape(title or _("Resilience triangle (one replication)")), fontsize=10)
    return _localise(fig)


# --------------------------------------------------------------------------- comparison

#: metric → (axis label, scale to display units, unit or None for the market unit)
_FOREST: dict[str, tuple[str, float, str | None]] = {
    "fill_rate": (N_("fill rate"), 100.0, N_("percentage points")),
    "nadir": (N_("nadir"), 100.0, N_("percentage points")),
    "unmet": (N_("unmet demand"), 1.0, None),
    "resilience_loss": (N_("resilience loss"), 1.0, N_("days")),
}


def _pick_markets(table: pd.DataFrame, market: str | Sequence[str] | None) -> list[str]:
    ms = list(dict.fromkeys(table["market"]))
    if market is None:
        return ["(all)"] if "(all)" in ms else ms[:3]
    return [market] if isinstance(market, str) else list(market)


def forest_markets(table: pd.DataFrame, n: int = 3) -> list[str]:
    """The markets a forest plot shows by default: ``(all)``, or those that matter most.

    ``["(all)"]`` when the table has it (all markets share a unit). Otherwise the ``n``
    markets the baseline leaves short the most (largest 1 − mean fill rate), ties broken
    by the largest change of fill rate any option makes (absolute, in percentage
    points), then by name — the markets with a problem, and where the options act.

    Parameters
    ----------
    table : DataFrame
        ``Comparison.table`` (``market, metric, baseline_mean, diff_mean``).
    n : int
        How many markets at most.

    Returns
    -------
    list of str

    Examples
    --------
    >>> t = pd.DataFrame({"market": ["a", "b", "c", "d"], "metric": "fill_rate",
    ...                   "baseline_mean": [0.99, 0.80, 0.99, 1.0],
    ...                   "diff_mean": [0.001, 0.05, 0.009, 0.0]})
    >>> forest_markets(t, 2)
    ['b', 'c']
    """
    ms = list(dict.fromkeys(table["market"]))
    if "(all)" in ms:
        return ["(all)"]
    fr = table[table["metric"] == "fill_rate"]
    if not len(fr) or "baseline_mean" not in fr.columns:
        return sorted(ms)[:n]
    short = (1.0 - fr.groupby("market")["baseline_mean"].first()).fillna(0.0)
    change = fr.assign(a=fr["diff_mean"].abs()).groupby("market")["a"].max().fillna(0.0)
    key = {m: (-round(float(short.get(m, 0.0)), 12), -round(float(change.get(m, 0.0)), 12), m)
           for m in ms}  # fmt: skip
    return sorted(ms, key=key.__getitem__)[:n]


def forest(
    table: pd.DataFrame,
    *,
    market: str | Sequence[str] | None = None,
    labels: Mapping[str, str] | None = None,
    confidence: float | None = None,
    max_markets: int = 3,
) -> Figure:
    """Forest plot: each option's paired change against the baseline, with its interval.

    One panel per metric (fill rate and nadir in percentage points, unmet demand in the
    market's unit, resilience loss in days), one row of panels per market; a filled marker
    means the interval excludes 0 (a clear change), an open one that it does not.

    Parameters
    ----------
    table : DataFrame
        ``Comparison.table`` (``market, unit, option, metric, better, diff_mean, diff_low,
        diff_high``).
    market : str or sequence of str, optional
        Markets to show (default: :func:`forest_markets` — ``"(all)"`` when present,
        else the ``max_markets`` markets the baseline leaves short the most).
    labels : mapping, optional
        Readable label of each option.
    confidence : float, optional
        Confidence level, for the title.
    max_markets : int
        Most markets shown by default.

    Returns
    -------
    Figure
    """
    if market is None:
        markets = forest_markets(table, max_markets)
    else:
        markets = [market] if isinstance(market, str) else list(market)
    options = list(dict.fromkeys(table["option"]))
    metrics = [m for m in _FOREST if m in set(table["metric"])]
    fig = Figure(
        figsize=(3.0 * len(metrics) + 2.2, (0.55 * len(options) + 1.3) * len(markets)),
        layout="constrained",
    )
    axes = fig.subplots(len(markets), len(metrics), squeeze=False, sharey="row")
    names = [escape(wrap_label(labels.get(o, o) if labels else o, 30, 3)) for o in options]
    for r, mk in enumerate(markets):
        for c, metric in enumerate(metrics):
            ax: Axes = axes[r][c]
            label, scale, unit = _FOREST[metric]
            sub = table[(table["market"] == mk) & (table["metric"] == metric)]
            sub = sub.set_index("option").reindex(options)
            u = _(unit) if unit else (
                str(sub["unit"].dropna().iloc[0]) if sub["unit"].notna().any() else "")
            for i, o in enumerate(options):
                row = sub.loc[o]
                if not np.isfinite(row["diff_mean"]):
                    continue
                st = _style(i + 1)
                m, lo, hi = (scale * float(row[k]) for k in ("diff_mean", "diff_low", "diff_high"))
                clear = np.isfinite(lo) and np.isfinite(hi) and (lo > 0 or hi < 0)
                ax.errorbar(
                    [m], [i],
                    xerr=[[m - lo if np.isfinite(lo) else 0], [hi - m if np.isfinite(hi) else 0]],
                    fmt=st["marker"], color=st["color"], mfc=st["color"] if clear else "white",
                    ms=7, capsize=3, lw=1.3,
                )  # fmt: skip
            ax.axvline(0, color="#666666", lw=0.8, ls="--")
            better = str(sub["better"].dropna().iloc[0]) if sub["better"].notna().any() else ""
            arrow = _("better →") if better == "higher" else _("← better") if better else ""
            xlabel = _("change in {metric} ({unit})").format(metric=_(label), unit=u)
            ax.set_xlabel(escape(f"{xlabel}\n{arrow}"), fontsize=8)
            if c == 0:
                ax.set_yticks(range(len(options)), names, fontsize=8)
                ax.set_ylabel(escape(_("option") if mk == "(all)" else
                                     _("market {market}").format(market=mk)), fontsize=8)
            ax.set_ylim(len(options) - 0.5, -0.5)
            ax.tick_params(labelsize=7.5)
            ax.grid(axis="x", color="#DDDDDD", lw=0.6)
    if confidence:
        level = round(100 * float(confidence), 6)
        head = _("Paired change against the baseline, with {level} % intervals (filled: the "
                 "interval excludes 0)").format(
            level=format_number(level, 0 if level.is_integer() else 1))
    else:
        head = _("Paired change against the baseline, with intervals (filled: the interval "
                 "excludes 0)")
    fig.suptitle(head, fontsize=10)
    return _localise(fig)


def pareto_efficient(cost: Sequence[float], gain: Sequence[float]) -> np.ndarray:
    """Which options no other option beats on both cost (lower) and gain (higher).

    Parameters
    ----------
    cost, gain : sequence of float
        Each option's cost and resilience gain (NaN: never efficient).

    Returns
    -------
    numpy.ndarray of bool

    Examples
    --------
    >>> pareto_efficient([0, 10, 20, 15], [0, 5, 8, 4]).tolist()
    [True, True, True, False]
    """
    c = np.asarray(cost, dtype=float)
    g = np.asarray(gain, dtype=float)
    ok = np.isfinite(c) & np.isfinite(g)
    out = ok.copy()
    for i in np.flatnonzero(ok):
        others = ok & (np.arange(len(c)) != i)
        dominated = others & (c <= c[i]) & (g >= g[i]) & ((c < c[i]) | (g > g[i]))
        out[i] = not dominated.any()
    return out


def cost_resilience(
    costs: pd.DataFrame,
    *,
    market: str | None = None,
    labels: Mapping[str, str] | None = None,
) -> Figure:
    """Each option's realised cost against the fill rate it gains; efficient options marked.

    The baseline sits at (0, 0). An option is *efficient* (on the Pareto frontier, joined
    by a line) when no other option, nor the baseline, gains at least as much for at most
    its cost. Horizontal bars are the cost interval.

    Parameters
    ----------
    costs : DataFrame
        ``Comparison.costs`` (``market, option, currency, cost_mean, cost_low, cost_high,
        fill_gain_pp``).
    market : str, optional
        Default ``"(all)"`` when present, else the first market.
    labels : mapping, optional
        Readable label of each option.

    Returns
    -------
    Figure
    """
    mk = _pick_markets(costs, market)[0]
    sub = costs[costs["market"] == mk].reset_index(drop=True)
    cur = str(sub["currency"].iloc[0]) if len(sub) else ""
    c = np.concatenate([[0.0], sub["cost_mean"].to_numpy(dtype=float)])
    g = np.concatenate([[0.0], sub["fill_gain_pp"].to_numpy(dtype=float)])
    eff = pareto_efficient(c.tolist(), g.tolist())
    fig = Figure(figsize=(10.0, 4.8), layout="constrained")
    ax = fig.add_subplot()
    order = np.argsort(c[eff], kind="stable")
    ax.plot(c[eff][order], g[eff][order], color="#666666", lw=1, ls="--", zorder=1,
            label=_("efficient frontier"))  # fmt: skip
    ax.plot([0], [0], marker="o", color="black", ls="", ms=7, label=_("baseline"), zorder=3)
    for i, row in sub.iterrows():
        st = _style(int(str(i)) + 1)
        k = int(str(i)) + 1
        lo, hi = float(row["cost_low"]), float(row["cost_high"])
        xerr = [[c[k] - lo], [hi - c[k]]] if np.isfinite(lo) and np.isfinite(hi) else None
        name = labels.get(row["option"], row["option"]) if labels else row["option"]
        ax.errorbar(
            [c[k]], [g[k]], xerr=xerr, fmt=st["marker"], color=st["color"], ms=8, capsize=3,
            mfc=st["color"] if eff[k] else "white", zorder=3,
            label=escape(wrap_label(name, 45, 3) + (" " + _("(efficient)") if eff[k] else "")),
        )  # fmt: skip
    ax.axhline(0, color="#999999", lw=0.7)
    ax.set_xlabel(escape(_("realised cost per replication over the horizon ({currency})").format(
        currency=cur)))
    ax.set_ylabel(_("fill-rate gain over the baseline (percentage points)"))
    ax.xaxis.set_major_formatter(_money_formatter())
    ax.xaxis.set_major_locator(MaxNLocator(nbins=5))
    ax.set_xlim(left=min(0.0, ax.get_xlim()[0]))
    fig.legend(loc="outside right upper", fontsize=7.5, frameon=False)
    where = _("all markets") if mk == "(all)" else _("market {market}").format(market=mk)
    title = _("Cost against resilience gained, {where} (filled: efficient)").format(where=where)
    ax.set_title(escape(textwrap.fill(title, 80)), fontsize=10)
    return _localise(fig)


def _country_shares(flows: pd.DataFrame, variant: str, material: str) -> pd.Series:
    f = flows[(flows["variant"] == variant) & (flows["material"] == material)]
    f = f[f["origin"].astype(bool)]
    s = f.groupby("supplier_country")["shipped"].sum()
    total = float(s.sum())
    return s / total if total > 0 else s * 0.0


def supply_by_country(
    flows: pd.DataFrame,
    *,
    before: str = "baseline",
    after: str | None = None,
    materials: Sequence[str] | None = None,
    labels: Mapping[str, str] | None = None,
) -> Figure:
    """Each material's supply by supplier country, before and after an option, with HHI.

    Supply is what the material's makers (mines, processors, recyclers — not stockpiles
    or traders passing it on) shipped over the scored days, summed over the kept
    replications; the HHI (0–10 000) of those country shares is in each panel's title.

    Parameters
    ----------
    flows : DataFrame
        The compare's realised flows (``variant, material, supplier_country, origin,
        shipped``).
    before, after : str
        Variants to compare (default ``after``: the last variant in ``flows``).
    materials : sequence of str, optional
        Default: every material with supply.
    labels : mapping, optional
        Readable label of each variant.

    Returns
    -------
    Figure
    """
    from crmsim.network.analysis import hhi

    variants = list(dict.fromkeys(flows["variant"]))
    if after is None:
        after = variants[-1] if variants else before
    pair = [before] if after == before else [before, after]
    if materials is None:
        origin = flows[flows["origin"].astype(bool) & (flows["shipped"] > 0)]
        materials = sorted(origin["material"].unique())
    n = max(1, len(materials))
    ncol = min(n, 3)
    nrow = math.ceil(n / ncol)
    fig = Figure(figsize=(4.2 * ncol, 3.2 * nrow + 0.5), layout="constrained")
    axes = fig.subplots(nrow, ncol, squeeze=False)
    for j, m in enumerate(materials):
        ax: Axes = axes[j // ncol][j % ncol]
        shares = {v: _country_shares(flows, v, m) for v in pair}
        countries = sorted(set().union(*[s.index for s in shares.values()]),
                           key=lambda k: -float(shares[pair[0]].get(k, 0.0)))  # fmt: skip
        y = np.arange(len(countries))
        h = 0.8 / len(pair)
        hh = []
        for i, v in enumerate(pair):
            st = _style(0 if i == 0 else 1)
            vals = [100 * float(shares[v].get(k, 0.0)) for k in countries]
            ax.barh(y + (i - (len(pair) - 1) / 2) * h, vals, height=h, color=st["color"],
                    alpha=0.35 if i == 0 else 0.8, hatch=HATCHES[i + 1] if i else "",
                    edgecolor="black", lw=0.6,
                    label=escape(labels.get(v, v) if labels else v))  # fmt: skip
            hh.append(hhi(shares[v].to_numpy()))
        ax.set_yticks(y, [escape(k) for k in countries], fontsize=8)
        ax.set_ylim(len(countries) - 0.5, -0.5)
        ax.set_xlabel(_("share of supply (%)"), fontsize=8)
        ax.set_ylabel(_("supplier country (ISO 3166)"), fontsize=8)
        ax.set_xlim(0, 100)
        ax.xaxis.set_major_formatter(PercentFormatter(100))
        text = " → ".join("–" if not np.isfinite(x) else format_number(x, 0) for x in hh)
        ax.set_title(escape(f"{m}: HHI {text}"), fontsize=9)
        ax.tick_params(labelsize=7.5)
    for j in range(len(materials), nrow * ncol):
        axes[j // ncol][j % ncol].set_axis_off()
    if len(materials):
        handles, names = axes[0][0].get_legend_handles_labels()
        fig.legend(handles, [wrap_label(n, 70, 2) for n in names], loc="outside lower center",
                   fontsize=7.5, frameon=False)  # fmt: skip
    fig.suptitle(_("Supply by country, before and after (HHI 0–10 000: >2 500 highly "
                   "concentrated)"), fontsize=10)  # fmt: skip
    return _localise(fig)


_CRMA_NAMES = {
    "extraction": N_("extraction at home"),
    "processing": N_("processing at home"),
    "recycling": N_("recycling at home"),
    "single_third_country": N_("largest third country"),
}


def crma_card(
    crma: pd.DataFrame,
    *,
    variants: Sequence[str] | None = None,
    labels: Mapping[str, str] | None = None,
) -> Figure:
    """The Critical Raw Materials Act card: each share against its 2030 benchmark.

    One panel per material; bars per indicator and variant; a black tick marks the
    benchmark (at least 10 % extraction, 40 % processing, 25 % recycling of home
    consumption; at most 65 % from any single third country); "n/a" where a share is
    undefined (no home consumption).

    Parameters
    ----------
    crma : DataFrame
        ``Comparison.crma`` (``variant, material, indicator, share, benchmark, rule``).
    variants : sequence of str, optional
        Default: every variant.
    labels : mapping, optional
        Readable label of each variant.

    Returns
    -------
    Figure
    """
    variants = list(variants or dict.fromkeys(crma["variant"]))
    every = list(dict.fromkeys(crma["material"]))
    defined = set(crma.loc[np.isfinite(crma["share"].astype(float)), "material"])
    # A material without home consumption has no share at all: named, not drawn.
    materials = [m for m in every if m in defined] or every[:1]
    skipped = [m for m in every if m not in materials]
    indicators = [i for i in _CRMA_NAMES if i in set(crma["indicator"])]
    n = max(1, len(materials))
    ncol = min(n, 2)
    nrow = math.ceil(n / ncol)
    per = 0.3 * len(variants) * len(indicators) + 1.0
    # At least 9 inches wide: the title and the legend of one material must fit too.
    fig = Figure(figsize=(max(5.2 * ncol, 9.0), per * nrow + 0.6), layout="constrained")
    axes = fig.subplots(nrow, ncol, squeeze=False)
    h = 0.8 / max(1, len(variants))
    for j, m in enumerate(materials):
        ax: Axes = axes[j // ncol][j % ncol]
        sub = crma[crma["material"] == m]
        for k, ind in enumerate(indicators):
            rows = sub[sub["indicator"] == ind]
            for i, v in enumerate(variants):
                r = rows[rows["variant"] == v]
                y = k + (i - (len(variants) - 1) / 2) * h
                share = float(r["share"].iloc[0]) if len(r) else math.nan
                st = _style(i)
                name = escape(labels.get(v, v) if labels else v)
                if np.isfinite(share):
                    ax.barh(y, 100 * share, height=h, color=st["color"], alpha=0.75,
                            hatch=st["hatch"], edgecolor="black", lw=0.5,
                            label=name)  # fmt: skip
                else:
                    ax.text(1, y, _("n/a"), fontsize=7, va="center")
            if len(rows):
                b = 100 * float(rows["benchmark"].iloc[0])
                rule = str(rows["rule"].iloc[0])
                ax.plot([b, b], [k - 0.45, k + 0.45], color="black", lw=2.2)
                sign = "≥" if rule == ">=" else "≤"
                ax.text(b, k - 0.47, f"{sign}{format_number(b, 0)} %", fontsize=7,
                        ha="center", va="bottom")  # fmt: skip
        ax.set_yticks(range(len(indicators)), [_(_CRMA_NAMES[i]) for i in indicators], fontsize=8)
        ax.set_ylim(len(indicators) - 0.4, -0.7)
        ax.set_xlim(0, 105)
        ax.xaxis.set_major_formatter(PercentFormatter(100))
        ax.set_xlabel(_("share of home consumption (%)"), fontsize=8)
        unit = str(sub["unit"].iloc[0]) if "unit" in sub.columns and len(sub) else ""
        ax.set_title(escape(f"{m} ({unit})" if unit else m), fontsize=9)
        ax.tick_params(labelsize=7.5)
    for j in range(len(materials), nrow * ncol):
        axes[j // ncol][j % ncol].set_axis_off()
    handles = [
        Patch(facecolor=_style(i)["color"], alpha=0.75, hatch=_style(i)["hatch"],
              edgecolor="black", label=escape(wrap_label(labels.get(v, v) if labels else v, 60)))
        for i, v in enumerate(variants)
    ]  # fmt: skip
    fig.legend(handles=handles, loc="outside lower center", fontsize=7, frameon=False,
               ncols=2 if len(variants) > 3 else 1)  # fmt: skip
    head = textwrap.fill(
        _("Critical Raw Materials Act benchmarks (black ticks, Reg. (EU) 2024/1252 Art. 5)"), 100
    )
    if skipped:
        head += "\n" + textwrap.fill(_("no home consumption (shares undefined): ")
                                      + ", ".join(skipped), 100)  # fmt: skip
    fig.suptitle(escape(head), fontsize=10)
    return _localise(fig)


# --------------------------------------------------------------------------- circularity


def secondary_supply(
    daily: pd.DataFrame,
    *,
    materials: Sequence[str] | None = None,
    window: int = 30,
    units: Mapping[str, str] | None = None,
) -> Figure:
    """Secondary supply (shipped by recyclers) and the EOL-RIR over time, per material.

    Top: units shipped per day by recyclers (secondary) and by all other makers
    (primary). Bottom: the end-of-life recycling input rate over a rolling ``window`` of
    days — recyclers' share of everything shipped of the material. (The summary EOL-RIR
    of a run, ``SimulationResult.materials``, counts units on arrival instead, so the
    two differ by what is in transit at the ends of the horizon.)

    Parameters
    ----------
    daily : DataFrame
        A daily record (``SimulationResult.daily`` or ``daily_rep0.parquet``): ``day,
        node, material, stock, shipped, collected, released``. Recyclers are the output
        rows with ``collected`` recorded; stockpile releases are not supply.
    materials : sequence of str, optional
        Default: the materials recyclers ship.
    window : int
        Days of the rolling EOL-RIR.
    units : mapping, optional
        Unit of each material (default ``units``).

    Returns
    -------
    Figure
    """
    out = daily[daily["stock"] == "output"].copy()
    out = out[out["day"] >= 0]
    rec = out["collected"].notna()
    stock = out["released"].notna()
    if materials is None:
        materials = sorted(out.loc[rec, "material"].unique())
    fig = Figure(figsize=(8.5, 5.2), layout="constrained")
    ax1, ax2 = fig.subplots(2, 1, sharex=True)
    for i, m in enumerate(materials):
        st = _style(i + 1)
        mm = out["material"] == m
        sec = out[mm & rec].groupby("day")["shipped"].sum()
        prim = out[mm & ~rec & ~stock].groupby("day")["shipped"].sum()
        days = sorted(set(sec.index) | set(prim.index))
        sec, prim = sec.reindex(days, fill_value=0.0), prim.reindex(days, fill_value=0.0)
        u = (units or {}).get(m, _("units"))
        ax1.plot(days, sec, color=st["color"], ls="-", lw=1.5,
                 label=escape(_("{material}: secondary ({unit}/day)").format(
                     material=m, unit=u)))  # fmt: skip
        ax1.plot(days, prim, color=st["color"], ls=":", lw=1.2,
                 label=escape(_("{material}: primary ({unit}/day)").format(
                     material=m, unit=u)))  # fmt: skip
        tot = (sec + prim).rolling(window, min_periods=1).sum()
        rir = 100 * sec.rolling(window, min_periods=1).sum() / tot.where(tot > 0)
        ax2.plot(days, rir, color=st["color"], ls=st["ls"], lw=1.6, label=escape(m))
    if not len(materials):
        ax1.text(0.5, 0.5, _("no recycler in this scenario"), transform=ax1.transAxes,
                 ha="center", va="center")  # fmt: skip
    ax1.set_ylabel(_("shipped (units per day)"))
    if len(materials):
        ax1.legend(fontsize=7, loc="best")
    ax1.set_title(_("Secondary (recycled) and primary supply"), fontsize=10)
    ax2.set_ylabel(_("EOL-RIR, {window}-day rolling (%)").format(window=window))
    ax2.yaxis.set_major_formatter(PercentFormatter(100))
    ax2.set_xlabel(_(DAY_AXIS))
    if len(materials):
        ax2.legend(fontsize=7, loc="best")
    return _localise(fig)


# --------------------------------------------------------------------------- stress test

#: Columns a stress-test table must have (from ``crmsim.stress``).
STRESS_COLUMNS = ("node", "tts_lp", "tts_sim", "ttr", "flagged")


def stress_test(stress: pd.DataFrame, *, label_all: int = 15) -> Figure:
    """Time to survive against time to recover, per node whose loss is simulated.

    A node is at risk when the network cannot survive its loss for as long as it takes to
    recover (TTR > TTS: above the diagonal). Each node shows its TTS from the linear
    programme (open square) and from the simulation (filled circle); flagged nodes are
    vermillion and always named (every node is named when there are at most
    ``label_all``). An infinite TTS (the network never runs short) is drawn at the right
    edge with "∞".

    Parameters
    ----------
    stress : DataFrame
        Columns ``node, tts_lp, tts_sim, ttr`` (days) and ``flagged`` (bool).
    label_all : int
        Name every node up to this many.

    Returns
    -------
    Figure

    Raises
    ------
    ValueError
        A required column is missing.
    """
    missing = [c for c in STRESS_COLUMNS if c not in stress.columns]
    if missing:
        raise ValueError(f"stress table lacks column(s) {missing}; needs {list(STRESS_COLUMNS)}")
    df = stress.reset_index(drop=True)
    vals = pd.concat([df["tts_lp"], df["tts_sim"], df["ttr"]]).astype(float)
    finite = vals[np.isfinite(vals)]
    top = float(finite.max()) * 1.15 if len(finite) else 10.0
    top = max(top, 1.0)
    fig = Figure(figsize=(6.8, 5.4), layout="constrained")
    ax = fig.add_subplot()
    ax.fill_between([0, top], [0, top], [top, top], color=OKABE_ITO[5], alpha=0.07, lw=0)
    ax.plot([0, top], [0, top], color="#666666", lw=0.9, ls="--", label=_("TTR = TTS"))
    ax.text(0.03 * top, 0.95 * top,
            _("at risk: recovery takes longer than the network survives"),
            fontsize=7, va="top", color=OKABE_ITO[5])  # fmt: skip

    def clip(x: float) -> float:
        return top if not np.isfinite(x) else x

    for _i, r in df.iterrows():
        flag = bool(r["flagged"])
        col = _ALERT if flag else OKABE_ITO[4]
        ttr = float(r["ttr"])
        if not np.isfinite(ttr):
            continue
        lp, sim = clip(float(r["tts_lp"])), clip(float(r["tts_sim"]))
        ax.plot([lp, sim], [ttr, ttr], color=col, lw=0.8, alpha=0.6)
        ax.plot([lp], [ttr], marker="s", mfc="white", mec=col, ms=6, ls="")
        ax.plot([sim], [ttr], marker="o" if not flag else "D", color=col, ms=6, ls="")
        if flag or len(df) <= label_all:
            inf = " (TTS ∞)" if not np.isfinite(float(r["tts_sim"])) else ""
            ax.annotate(escape(wrap_label(r["node"], 18, 1)) + inf, (sim, ttr),
                        xytext=(5, 4), textcoords="offset points", fontsize=7,
                        color=col)  # fmt: skip
    ax.set_xlim(0, top * 1.02)
    ax.set_ylim(0, top * 1.02)
    ax.set_xlabel(_("time to survive, TTS (days)"))
    ax.set_ylabel(_("time to recover, TTR (days)"))
    handles = [
        Line2D([], [], marker="o", color=OKABE_ITO[4], ls="", label=_("TTS, simulated")),
        Line2D([], [], marker="s", mfc="white", mec=OKABE_ITO[4], ls="",
               label=_("TTS, linear programme")),
        Line2D([], [], marker="D", color=_ALERT, ls="", label=_("flagged (TTR > TTS)")),
        Patch(color=OKABE_ITO[5], alpha=0.15, label=_("at-risk region")),
    ]  # fmt: skip
    ax.legend(handles=handles, fontsize=7.5, loc="lower right")
    ax.set_title(_("Stress test: {flagged} of {n} nodes flagged").format(
        flagged=int(df["flagged"].astype(bool).sum()), n=len(df)), fontsize=10)  # fmt: skip
    return _localise(fig)
