"""Structural analysis of a supply network: where it depends on one supplier or one country.

Every function takes the graph ``G`` from :func:`crmsim.network.graph.build_graph` (the single
source of truth), reads node and edge attributes only, mutates nothing and returns plain data
(tidy :class:`pandas.DataFrame` objects, one row per observation, sorted deterministically).

Definitions
-----------
origin of a material
    A node that produces the material rather than passing it on: a mine, processor or recycler
    whose ``material`` is that material, unless its recipe takes that same material (a
    processor with ``recipe: {x: 1}`` passes ``x`` through, as in
    :func:`~crmsim.network.graph.node_need`; counting it too would count the same units
    twice).
capacity basis
    Production capacity (units/day) of the origins of a material that are on production
    (node attribute ``on_production``; a mine is on production only when its UNFC class is
    *On Production*).
sourcing basis
    Planned daily flows (:func:`~crmsim.network.graph.baseline_flows`) on edges that carry the
    material and leave an origin of it, i.e. what the network is planned to buy from whom.
HHI
    Herfindahl–Hirschman index of supply by country, ``Σ (100·share)²`` in 0–10 000. Bands
    from the US DOJ/FTC *Horizontal Merger Guidelines* (2010), as in docs/model.md: below 1 500
    unconcentrated, 1 500–2 500 moderately concentrated, above 2 500 highly concentrated.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import networkx as nx
import pandas as pd

from crmsim.i18n import N_, _, format_number
from crmsim.network.graph import baseline_flows
from crmsim.scenario.schema import Role, Size

__all__ = [
    "BASES",
    "MAX_PATHS",
    "NetworkReport",
    "analyse",
    "concentration",
    "hhi",
    "hhi_band",
    "market_dependencies",
    "msme_share",
    "origins",
    "single_sourced",
    "supply_paths",
    "supply_shares",
]

Basis = Literal["capacity", "sourcing"]
BASES: tuple[Basis, ...] = ("capacity", "sourcing")
PRODUCING = (Role.MINE, Role.PROCESSOR, Role.RECYCLER)
MAX_PATHS = 20
"""Default cap on the number of simple paths listed per (mine, market) pair."""


def _materials(G: nx.MultiDiGraph) -> list[str]:
    return sorted(G.graph.get("materials", {}))


def origins(G: nx.MultiDiGraph, material: str) -> list[str]:
    """Nodes that produce ``material`` (rather than pass it on), in sorted order.

    Examples
    --------
    >>> from crmsim.network.graph import build_graph
    >>> from crmsim.scenario.loader import scenario_from_dict
    >>> G = build_graph(scenario_from_dict({
    ...     "crmsim": 1, "name": "ore via a trader",
    ...     "materials": [{"id": "ore"}],
    ...     "nodes": [
    ...         {"id": "mine", "role": "mine", "country": "AUS", "output": "ore", "capacity": 10},
    ...         {"id": "trader", "role": "processor", "country": "NLD", "output": "ore",
    ...          "capacity": 10, "recipe": {"ore": 1}},
    ...         {"id": "mkt", "role": "market", "country": "DEU", "demand": {"mean": 5}},
    ...     ],
    ...     "edges": [{"from": "mine", "to": "trader"}, {"from": "trader", "to": "mkt"}],
    ... }))
    >>> origins(G, "ore")
    ['mine']
    """
    return sorted(
        n
        for n, d in G.nodes(data=True)
        if d["role"] in PRODUCING and d["material"] == material and material not in d["recipe"]
    )


def _supplier_quantities(G: nx.MultiDiGraph, basis: Basis) -> pd.DataFrame:
    """One row per (material, supplier) with the supplier's quantity on this basis."""
    rows = []
    if basis == "capacity":
        for m in _materials(G):
            for n in origins(G, m):
                d = G.nodes[n]
                if d["on_production"] and d["capacity"] > 0:
                    rows.append((m, n, d["country"], float(d["capacity"])))
    elif basis == "sourcing":
        _, flows = baseline_flows(G)
        for m in _materials(G):
            src = set(origins(G, m))
            totals: dict[str, float] = {}
            for (u, _v, k), q in flows.items():
                if k == m and u in src and q > 0:
                    totals[u] = totals.get(u, 0.0) + q
            for n in sorted(totals):
                rows.append((m, n, G.nodes[n]["country"], totals[n]))
    else:
        raise ValueError(f"basis must be one of {BASES}, not {basis!r}")
    return pd.DataFrame(rows, columns=["material", "supplier", "country", "quantity"])


def supply_shares(
    G: nx.MultiDiGraph,
    *,
    by: Literal["country", "supplier"] = "country",
    bases: Iterable[Basis] = BASES,
) -> pd.DataFrame:
    """Supply shares per material, by country or by supplier, on each basis.

    Parameters
    ----------
    G : networkx.MultiDiGraph
        A graph from :func:`~crmsim.network.graph.build_graph`.
    by : {"country", "supplier"}
        Aggregate by the supplier's country, or list each supplier.
    bases : iterable of {"capacity", "sourcing"}
        Which bases to include (see the module docstring).

    Returns
    -------
    pandas.DataFrame
        Columns ``material, basis, country, quantity, share`` (plus ``supplier`` after
        ``basis`` when ``by="supplier"``); quantity in units/day, share a fraction of the
        material's total on that basis. Sorted by material, basis, share (largest first).

    Examples
    --------
    >>> from crmsim.network.graph import build_graph
    >>> from crmsim.scenario.loader import scenario_from_dict
    >>> G = build_graph(scenario_from_dict({
    ...     "crmsim": 1, "name": "two mines",
    ...     "materials": [{"id": "ore"}],
    ...     "nodes": [
    ...         {"id": "a", "role": "mine", "country": "AUS", "output": "ore", "capacity": 30},
    ...         {"id": "b", "role": "mine", "country": "CHN", "output": "ore", "capacity": 10},
    ...         {"id": "mkt", "role": "market", "country": "DEU", "demand": {"mean": 20}},
    ...     ],
    ...     "edges": [{"from": "a", "to": "mkt", "share": 0.5},
    ...               {"from": "b", "to": "mkt", "share": 0.5}],
    ... }))
    >>> supply_shares(G)[["basis", "country", "quantity", "share"]]
          basis country  quantity  share
    0  capacity     AUS      30.0   0.75
    1  capacity     CHN      10.0   0.25
    2  sourcing     AUS      10.0   0.50
    3  sourcing     CHN      10.0   0.50
    """
    frames = []
    for basis in bases:
        q = _supplier_quantities(G, basis)
        if by == "country":
            q = q.groupby(["material", "country"], as_index=False, sort=True).agg(
                quantity=("quantity", "sum")
            )
        elif by != "supplier":
            raise ValueError(f"by must be 'country' or 'supplier', not {by!r}")
        q.insert(1, "basis", basis)
        frames.append(q)
    cols = ["material", "basis"] + (["supplier"] if by == "supplier" else []) + ["country"]
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=cols)
    out = out.reindex(columns=[*cols, "quantity"])
    total = out.groupby(["material", "basis"])["quantity"].transform("sum")
    out["share"] = out["quantity"] / total
    key = "supplier" if by == "supplier" else "country"
    out = out.sort_values(
        ["material", "basis", "share", key], ascending=[True, True, False, True], kind="stable"
    )
    return out.reset_index(drop=True)


def hhi(shares: Iterable[float]) -> float:
    """Herfindahl–Hirschman index of quantities or shares, on 0–10 000.

    The input is normalised first, so quantities and fractions give the same result; an
    empty or all-zero input gives NaN (no supply: concentration undefined).

    Examples
    --------
    >>> hhi([0.5, 0.3, 0.2])
    3800.0
    >>> round(hhi([50, 30, 15]), 2)
    4016.62
    >>> hhi([])
    nan
    """
    values = [float(s) for s in shares]
    total = math.fsum(values)
    if not values or total <= 0:
        return math.nan
    # 1e4 · Σq² / (Σq)²: multiply before dividing so that round shares stay exact.
    return 1e4 * math.fsum(v * v for v in values) / (total * total)


def hhi_band(value: float) -> str:
    """Concentration band of an HHI (2010 US Horizontal Merger Guidelines, as in docs/model.md).

    Examples
    --------
    >>> hhi_band(1400), hhi_band(2500), hhi_band(3800), hhi_band(float("nan"))
    ('unconcentrated', 'moderately concentrated', 'highly concentrated', 'unknown')
    """
    if math.isnan(value):
        return "unknown"
    if value < 1500:
        return "unconcentrated"
    if value <= 2500:
        return "moderately concentrated"
    return "highly concentrated"


def concentration(G: nx.MultiDiGraph) -> pd.DataFrame:
    """HHI by country, its band and the largest single-country share, per material and basis.

    Returns
    -------
    pandas.DataFrame
        Columns ``material, basis, hhi, band, top_country, top_share, countries, total``
        (``countries``: number of supplying countries; ``total``: units/day). A material with
        no supply on a basis has HHI NaN and band ``"unknown"``.

    Examples
    --------
    >>> from crmsim.network.graph import build_graph
    >>> from crmsim.scenario.loader import scenario_from_dict
    >>> G = build_graph(scenario_from_dict({
    ...     "crmsim": 1, "name": "two mines",
    ...     "materials": [{"id": "ore"}],
    ...     "nodes": [
    ...         {"id": "a", "role": "mine", "country": "AUS", "output": "ore", "capacity": 30},
    ...         {"id": "b", "role": "mine", "country": "CHN", "output": "ore", "capacity": 10},
    ...         {"id": "mkt", "role": "market", "country": "DEU", "demand": {"mean": 20}},
    ...     ],
    ...     "edges": [{"from": "a", "to": "mkt", "share": 0.5},
    ...               {"from": "b", "to": "mkt", "share": 0.5}],
    ... }))
    >>> concentration(G)[["basis", "hhi", "band", "top_country", "top_share"]]
          basis     hhi                     band top_country  top_share
    0  capacity  6250.0      highly concentrated         AUS       0.75
    1  sourcing  5000.0      highly concentrated         AUS       0.50
    """
    shares = supply_shares(G, by="country")
    rows = []
    for m in _materials(G):
        for basis in BASES:
            s = shares[(shares["material"] == m) & (shares["basis"] == basis)]
            value = hhi(s["quantity"])
            if len(s):
                top = s.iloc[0]
                top_country, top_share = str(top["country"]), float(top["share"])
            else:
                top_country, top_share = None, math.nan
            rows.append(
                (m, basis, value, hhi_band(value), top_country, top_share, len(s),
                 float(s["quantity"].sum()))
            )  # fmt: skip
    return pd.DataFrame(
        rows,
        columns=["material", "basis", "hhi", "band", "top_country", "top_share", "countries",
                 "total"],
    )  # fmt: skip


def single_sourced(G: nx.MultiDiGraph) -> pd.DataFrame:
    """Single-sourced dependencies: a buyer with exactly one supplier (share > 0) of an input.

    Returns
    -------
    pandas.DataFrame
        One row per dependency with columns ``buyer, buyer_country, material, supplier,
        supplier_country, has_qualified_alternative, qualified_alternatives`` (the other
        suppliers of that material the buyer has qualified, ``qualified: true``, as a tuple).

    Examples
    --------
    >>> from crmsim.network.graph import build_graph
    >>> from crmsim.scenario.loader import scenario_from_dict
    >>> G = build_graph(scenario_from_dict({
    ...     "crmsim": 1, "name": "one supplier and a backup",
    ...     "materials": [{"id": "ore"}],
    ...     "nodes": [
    ...         {"id": "a", "role": "mine", "country": "AUS", "output": "ore", "capacity": 30},
    ...         {"id": "b", "role": "mine", "country": "CAN", "output": "ore", "capacity": 10},
    ...         {"id": "mkt", "role": "market", "country": "DEU", "demand": {"mean": 20}},
    ...     ],
    ...     "edges": [{"from": "a", "to": "mkt"},
    ...               {"from": "b", "to": "mkt", "share": 0, "qualified": True}],
    ... }))
    >>> single_sourced(G)[["buyer", "material", "supplier", "qualified_alternatives"]]
      buyer material supplier qualified_alternatives
    0   mkt      ore        a                   (b,)
    """
    rows = []
    for buyer in sorted(G.nodes):
        by_material: dict[str, list[tuple[str, dict]]] = {}
        for u, _v, k, d in G.in_edges(buyer, keys=True, data=True):
            by_material.setdefault(k, []).append((u, d))
        for m in sorted(by_material):
            edges = sorted(by_material[m], key=lambda t: t[0])
            active = [u for u, d in edges if d["share"] > 0]
            if len(active) != 1:
                continue
            sole = active[0]
            alternatives = tuple(u for u, d in edges if d["qualified"] and u != sole)
            rows.append(
                (buyer, G.nodes[buyer]["country"], m, sole, G.nodes[sole]["country"],
                 bool(alternatives), alternatives)
            )  # fmt: skip
    return pd.DataFrame(
        rows,
        columns=["buyer", "buyer_country", "material", "supplier", "supplier_country",
                 "has_qualified_alternative", "qualified_alternatives"],
    )  # fmt: skip


def _planned(G: nx.MultiDiGraph) -> nx.DiGraph:
    """Collapse to the planned network: one arc per supplier → buyer pair with a share > 0."""
    D = nx.DiGraph()
    D.add_nodes_from(sorted(G.nodes))
    D.add_edges_from(sorted({(u, v) for u, v, d in G.edges(data=True) if d["share"] > 0}))
    return D


def supply_paths(G: nx.MultiDiGraph, max_paths: int = MAX_PATHS) -> pd.DataFrame:
    """List simple paths from each mine to each market over the planned supply network.

    Paths follow edges with a positive share (qualified alternatives with share 0 are not
    planned routes). At most ``max_paths`` paths are listed per (mine, market) pair, in the
    deterministic order of :func:`networkx.all_simple_paths` on the sorted graph; ``truncated``
    says when a pair has more.

    Returns
    -------
    pandas.DataFrame
        Columns ``mine, mine_country, market, market_country, n_paths, truncated, paths,
        countries`` (``paths``: tuple of node-id tuples; ``countries``: sorted tuple of the
        countries any listed path passes through). Pairs with no path are omitted.

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
    ...     ],
    ...     "edges": [{"from": "m", "to": "s"}, {"from": "s", "to": "k"}],
    ... }))
    >>> supply_paths(G).loc[0, ["paths", "countries"]].tolist()
    [(('m', 's', 'k'),), ('CHN', 'DEU', 'TJK')]
    """
    if max_paths < 1:
        raise ValueError(f"max_paths must be at least 1, not {max_paths}")
    D = _planned(G)
    mines = [n for n in sorted(G.nodes) if G.nodes[n]["role"] is Role.MINE]
    markets = [n for n in sorted(G.nodes) if G.nodes[n]["role"] is Role.MARKET]
    rows = []
    for a in mines:
        reach = nx.descendants(D, a)
        for b in markets:
            if b not in reach:
                continue
            found: list[tuple[str, ...]] = []
            truncated = False
            for p in nx.all_simple_paths(D, a, b):
                if len(found) == max_paths:
                    truncated = True
                    break
                found.append(tuple(p))
            countries = tuple(sorted({G.nodes[n]["country"] for p in found for n in p}))
            rows.append(
                (a, G.nodes[a]["country"], b, G.nodes[b]["country"], len(found), truncated,
                 tuple(found), countries)
            )  # fmt: skip
    return pd.DataFrame(
        rows,
        columns=["mine", "mine_country", "market", "market_country", "n_paths", "truncated",
                 "paths", "countries"],
    )  # fmt: skip


def market_dependencies(G: nx.MultiDiGraph) -> pd.DataFrame:
    """Which markets depend on which countries (through any upstream planned supplier).

    Returns
    -------
    pandas.DataFrame
        One row per (market, country) with columns ``market, market_country, country,
        nodes`` (the upstream nodes in that country, as a sorted tuple).

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
    >>> market_dependencies(G).values.tolist()
    [['k', 'DEU', 'TJK', ('m',)]]
    """
    D = _planned(G)
    rows = []
    for b in sorted(G.nodes):
        if G.nodes[b]["role"] is not Role.MARKET:
            continue
        by_country: dict[str, list[str]] = {}
        for n in sorted(nx.ancestors(D, b)):
            by_country.setdefault(G.nodes[n]["country"], []).append(n)
        for c in sorted(by_country):
            rows.append((b, G.nodes[b]["country"], c, tuple(by_country[c])))
    return pd.DataFrame(rows, columns=["market", "market_country", "country", "nodes"])


def msme_share(G: nx.MultiDiGraph) -> pd.DataFrame:
    """Share of production capacity held by micro, small and medium firms, per material.

    Capacity is the capacity basis (origins on production). Nodes whose size is unknown are
    neither MSME nor large: their capacity is reported separately and left out of the share,
    ``msme_share = msme / (msme + large)`` (NaN when no producer's size is known).

    Returns
    -------
    pandas.DataFrame
        Columns ``material, capacity, msme, large, unknown, msme_share, unknown_share,
        unknown_nodes`` (capacities in units/day; ``unknown_share`` of total capacity).

    Examples
    --------
    >>> from crmsim.network.graph import build_graph
    >>> from crmsim.scenario.loader import scenario_from_dict
    >>> G = build_graph(scenario_from_dict({
    ...     "crmsim": 1, "name": "sizes",
    ...     "materials": [{"id": "ore"}],
    ...     "nodes": [
    ...         {"id": "a", "role": "mine", "country": "AUS", "output": "ore", "capacity": 30,
    ...          "size": "large"},
    ...         {"id": "b", "role": "mine", "country": "AUS", "output": "ore", "capacity": 10,
    ...          "size": "small"},
    ...         {"id": "c", "role": "mine", "country": "AUS", "output": "ore", "capacity": 60},
    ...         {"id": "k", "role": "market", "country": "DEU", "demand": {"mean": 5}},
    ...     ],
    ...     "edges": [{"from": "a", "to": "k"}],
    ... }))
    >>> m = msme_share(G).iloc[0]
    >>> float(m["msme_share"]), float(m["unknown"]), m["unknown_nodes"]
    (0.25, 60.0, ('c',))
    """
    rows = []
    for m in _materials(G):
        msme = large = unknown = 0.0
        unknown_nodes = []
        for n in origins(G, m):
            d = G.nodes[n]
            if not d["on_production"]:
                continue
            cap = float(d["capacity"])
            size: Size | None = d["size"]
            if size is None:
                unknown += cap
                unknown_nodes.append(n)
            elif size.is_msme:
                msme += cap
            else:
                large += cap
        total = msme + large + unknown
        known = msme + large
        rows.append(
            (m, total, msme, large, unknown, msme / known if known > 0 else math.nan,
             unknown / total if total > 0 else math.nan, tuple(unknown_nodes))
        )  # fmt: skip
    return pd.DataFrame(
        rows,
        columns=["material", "capacity", "msme", "large", "unknown", "msme_share",
                 "unknown_share", "unknown_nodes"],
    )  # fmt: skip


@dataclass(frozen=True, eq=False)
class NetworkReport:
    """The structural analysis of one supply network (see :func:`analyse`).

    Attributes
    ----------
    name : str
        Scenario name.
    shares : pandas.DataFrame
        Supply shares by country, both bases (:func:`supply_shares`).
    suppliers : pandas.DataFrame
        Supply shares by supplier, both bases.
    concentration : pandas.DataFrame
        HHI, band and largest country share (:func:`concentration`).
    single_sourced : pandas.DataFrame
        Single-sourced dependencies (:func:`single_sourced`).
    paths : pandas.DataFrame
        Mine → market paths (:func:`supply_paths`).
    dependencies : pandas.DataFrame
        Market → country dependencies (:func:`market_dependencies`).
    msme : pandas.DataFrame
        MSME share of capacity (:func:`msme_share`).
    risk : pandas.DataFrame
        Supply risk and its inputs (:func:`crmsim.network.risk.supply_risk`).
    governance : pandas.DataFrame
        Governance scores used (:func:`crmsim.network.risk.governance_scores`).
    max_paths : int
        The cap on listed paths per (mine, market) pair.
    """

    name: str
    shares: pd.DataFrame
    suppliers: pd.DataFrame
    concentration: pd.DataFrame
    single_sourced: pd.DataFrame
    paths: pd.DataFrame
    dependencies: pd.DataFrame
    msme: pd.DataFrame
    risk: pd.DataFrame
    governance: pd.DataFrame
    max_paths: int = MAX_PATHS

    @property
    def materials(self) -> list[str]:
        """Material ids covered by the report, sorted."""
        return sorted(self.concentration["material"].unique())

    def to_text(self, material: str | None = None, width: int = 100) -> str:
        """Summarise the report for the terminal (plain text, no colour codes).

        Parameters
        ----------
        material : str, optional
            Only this material (default: all).
        width : int
            Line width of the tables.
        """
        return _render(self, material=material, width=width)


def analyse(G: nx.MultiDiGraph, max_paths: int = MAX_PATHS) -> NetworkReport:
    """Run the whole structural analysis of a supply network.

    Parameters
    ----------
    G : networkx.MultiDiGraph
        A graph from :func:`~crmsim.network.graph.build_graph`.
    max_paths : int
        Cap on the paths listed per (mine, market) pair.

    Returns
    -------
    NetworkReport

    Examples
    --------
    >>> from crmsim.network.graph import build_graph
    >>> from crmsim.scenario.loader import scenario_from_dict
    >>> G = build_graph(scenario_from_dict({
    ...     "crmsim": 1, "name": "two mines",
    ...     "materials": [{"id": "ore", "eol_rir": 0.1, "substitution_index": 0.9}],
    ...     "nodes": [
    ...         {"id": "a", "role": "mine", "country": "AUS", "output": "ore", "capacity": 30},
    ...         {"id": "b", "role": "mine", "country": "CHN", "output": "ore", "capacity": 10},
    ...         {"id": "mkt", "role": "market", "country": "DEU", "demand": {"mean": 20}},
    ...     ],
    ...     "edges": [{"from": "a", "to": "mkt", "share": 0.5},
    ...               {"from": "b", "to": "mkt", "share": 0.5}],
    ... }))
    >>> report = analyse(G)
    >>> float(report.concentration.loc[0, "hhi"])
    6250.0
    >>> "highly concentrated" in report.to_text()
    True
    """
    from crmsim.network.risk import governance_scores, supply_risk

    return NetworkReport(
        name=str(G.graph.get("name", "")),
        shares=supply_shares(G, by="country"),
        suppliers=supply_shares(G, by="supplier"),
        concentration=concentration(G),
        single_sourced=single_sourced(G),
        paths=supply_paths(G, max_paths=max_paths),
        dependencies=market_dependencies(G),
        msme=msme_share(G),
        risk=supply_risk(G),
        governance=governance_scores(G),
        max_paths=max_paths,
    )


def _fmt(x: object, digits: int = 2, pct: bool = False) -> str:
    """Format a number for the text report; NaN and None read as "unknown"."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return _("unknown")
    if isinstance(x, float | int):
        return f"{format_number(100 * x, 1)} %" if pct else format_number(x, digits)
    return str(x)


#: Words of the text report that come from the tables' values (translated when shown).
_WORDS = (
    N_("capacity"),
    N_("sourcing"),
    N_("unconcentrated"),
    N_("moderately concentrated"),
    N_("highly concentrated"),
    N_("unknown"),
)


def _render(report: NetworkReport, material: str | None = None, width: int = 100) -> str:
    """Plain-text rendering of a report with ``rich`` tables."""
    import io

    from rich import box
    from rich.console import Console
    from rich.table import Table

    buf = io.StringIO()
    # force_jupyter=False: in a notebook rich would otherwise send every print to the page
    # as a separate output instead of into the text buffer.
    con = Console(
        file=buf, width=width, color_system=None, force_terminal=False, force_jupyter=False,
        highlight=False, emoji=False, markup=False, soft_wrap=False,
    )  # fmt: skip
    materials = report.materials if material is None else [material]
    if material is not None and material not in report.materials:
        raise KeyError(f"unknown material {material!r}; known: {', '.join(report.materials)}")

    con.print(_("Supply network: {name}").format(name=report.name))
    con.print(
        _(
            "Bases: capacity = production capacity on production; sourcing = planned flows "
            "(mean demand, shares, recipes). HHI bands: 2010 US Horizontal Merger Guidelines."
        )
    )
    for m in materials:
        con.print()
        con.rule(f"{_('material')}: {m}", style="none", characters="=")
        sh = report.shares[report.shares["material"] == m]
        t = Table(title=_("Supply by country"), box=box.SIMPLE, title_justify="left")
        t.add_column(_("country"))
        for basis in BASES:
            t.add_column(_("{basis} (units/day)").format(basis=_(basis)), justify="right")
            t.add_column(_("{basis} share").format(basis=_(basis)), justify="right")
        for c in sorted(sh["country"].unique()):
            cells = [c]
            for basis in BASES:
                r = sh[(sh["country"] == c) & (sh["basis"] == basis)]
                q = float(r["quantity"].iloc[0]) if len(r) else 0.0
                s = float(r["share"].iloc[0]) if len(r) else 0.0
                cells += [_fmt(q), _fmt(s, pct=True)]
            t.add_row(*cells)
        con.print(t)

        conc = report.concentration[report.concentration["material"] == m]
        t = Table(title=_("Concentration by country (HHI 0–10 000)"), box=box.SIMPLE,
                  title_justify="left")  # fmt: skip
        for i, col in enumerate(
            (_("basis"), "HHI", _("band"), _("largest country"), _("its share"))
        ):
            t.add_column(col, justify="right" if i in (1, 4) else "left")
        for _i, r in conc.iterrows():
            t.add_row(_(str(r["basis"])), _fmt(r["hhi"], 0), _(str(r["band"])),
                      _fmt(r["top_country"]), _fmt(r["top_share"], pct=True))  # fmt: skip
        con.print(t)

        ss = report.single_sourced[report.single_sourced["material"] == m]
        if len(ss):
            t = Table(title=_("Single-sourced dependencies"), box=box.SIMPLE,
                      title_justify="left")  # fmt: skip
            for col in (_("buyer"), _("sole supplier"), _("qualified alternative")):
                t.add_column(col)
            for _i, r in ss.iterrows():
                alt = ", ".join(r["qualified_alternatives"]) or _("none")
                t.add_row(f"{r['buyer']} ({r['buyer_country']})",
                          f"{r['supplier']} ({r['supplier_country']})", alt)  # fmt: skip
            con.print(t)
        else:
            con.print(_("Single-sourced dependencies") + ": " + _("none"))

        ms = report.msme[report.msme["material"] == m].iloc[0]
        line = _(
            "MSME share of capacity: {share} (micro/small/medium {msme}, large {large} "
            "units/day)"
        ).format(share=_fmt(ms["msme_share"], pct=True), msme=_fmt(ms["msme"]),
                 large=_fmt(ms["large"]))  # fmt: skip
        if ms["unknown"] > 0:
            line += "; " + _(
                "size unknown for {units} units/day ({nodes}), left out of the share"
            ).format(units=_fmt(ms["unknown"]), nodes=", ".join(ms["unknown_nodes"]))
        con.print(line)

        rk = report.risk[report.risk["material"] == m].iloc[0]
        t = Table(title=_("Supply risk (EU CRM methodology 2017)"), box=box.SIMPLE,
                  title_justify="left")  # fmt: skip
        t.add_column(_("input"))
        t.add_column(_("value"), justify="right")
        t.add_row(_("HHI_WGI global supply (capacity)"), _fmt(rk["hhi_wgi_gs"]))
        t.add_row(_("HHI_WGI home sourcing ({home})").format(home=", ".join(rk["home"])),
                  _fmt(rk["hhi_wgi_home"]))  # fmt: skip
        t.add_row(_("import reliance IR ({source})").format(source=rk["ir_source"]),
                  _fmt(rk["import_reliance"]))  # fmt: skip
        t.add_row("[GS·IR/2 + home·(1 − IR/2)]", _fmt(rk["sr_concentration"]))
        t.add_row(_("end-of-life recycling input rate"), _fmt(rk["eol_rir"]))
        t.add_row(_("substitution index"), _fmt(rk["substitution_index"]))
        t.add_row(_("supply risk SR"), _fmt(rk["supply_risk"]))
        con.print(t)
        if rk["missing"]:
            con.print(_("SR unknown or partial; missing: ") + "; ".join(rk["missing"]))

    if material is None:
        con.print()
        con.rule("network", style="none", characters="=")
        dep = report.dependencies
        for mk in sorted(dep["market"].unique()):
            d = dep[dep["market"] == mk]
            countries = ", ".join(f"{r['country']} ({len(r['nodes'])})" for _i, r in d.iterrows())
            con.print(f"Market {mk} depends on: {countries}  (upstream nodes per country)")
        p = report.paths
        if len(p):
            capped = int(p["truncated"].sum())
            con.print(
                f"Mine → market paths: {int(p['n_paths'].sum())} listed over {len(p)} pairs "
                f"(at most {report.max_paths} per pair"
                + (f"; {capped} pairs have more)" if capped else ")")
            )
        else:
            con.print("Mine → market paths: none (no mines in the network)")
        gov = report.governance
        unknown = gov[gov["wgi_scaled"].isna()]["country"].tolist()
        if unknown:
            con.print("Governance score unknown for: " + ", ".join(unknown))
    # rich pads table lines to their width; trailing blanks only get in the way of diffs.
    return "\n".join(line.rstrip() for line in buf.getvalue().splitlines()) + "\n"
