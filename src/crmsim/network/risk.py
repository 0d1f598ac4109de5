"""Supply risk in the manner of the EU critical-raw-materials methodology.

European Commission (2017), *Methodology for establishing the EU list of critical raw
materials* (Guidelines), section on supply risk:

    SR = [HHI_WGI,GS · IR/2 + HHI_WGI,EU · (1 − IR/2)] · (1 − EOL_RIR) · SI

with ``HHI_WGI = Σ_c share_c² · WGI_c`` (shares as fractions, WGI scaled 0–10, higher =
weaker governance), so HHI_WGI lies in 0–10. In crmsim:

- **GS** (global supply) is the *capacity basis*: production capacity on production of the
  material's origins, by country (see :mod:`crmsim.network.analysis`);
- **EU** is the scenario's **home**: planned flows (*sourcing basis*) of the material from its
  origins into buyers located in the home countries. ``home`` entries are country codes or
  region names (``regions:``); by default the home is the countries of the markets;
- **IR** (import reliance of home) is the material's ``import_reliance`` when the scenario
  gives it, else the share of those home sourcing flows that come from suppliers outside home;
- **EOL_RIR** and **SI** are the material's ``eol_rir`` and ``substitution_index``.

Governance scores come from the shipped table ``crmsim/data/governance.csv`` (World Bank WGI,
see ``crmsim/data/README.md``), overridden per country by the scenario's ``governance:``.
Nothing unknown is ever taken as zero: a supplying country without a score makes its HHI_WGI
unknown (NaN) and is listed in ``missing_governance``; a missing EOL_RIR or SI makes SR NaN and
is named in ``missing`` (the bracketed part, ``sr_concentration``, is still reported).
"""

from __future__ import annotations

import math
from functools import lru_cache
from importlib.resources import files

import networkx as nx
import pandas as pd

from crmsim.network.analysis import _materials, origins, supply_shares
from crmsim.network.graph import baseline_flows
from crmsim.scenario.schema import Role

__all__ = [
    "governance_scores",
    "governance_table",
    "hhi_wgi",
    "home_countries",
    "supply_risk",
]

OVERRIDE_SOURCE = "scenario file (governance:)"


@lru_cache(maxsize=1)
def _table() -> pd.DataFrame:
    with files("crmsim").joinpath("data", "governance.csv").open("r", encoding="utf-8") as f:
        return pd.read_csv(f, dtype={"country": str, "source": str})


def governance_table() -> pd.DataFrame:
    """Return a copy of the shipped table: ``country, wgi_scaled, wgi_mean, year, source``.

    Examples
    --------
    >>> t = governance_table()
    >>> {"CHN", "TJK", "UKR"} <= set(t["country"])
    True
    >>> bool(t["wgi_scaled"].between(0, 10).all())
    True
    """
    return _table().copy()


def governance_scores(G: nx.MultiDiGraph) -> pd.DataFrame:
    """Governance scores for every country in the network, with where each comes from.

    Scores given in the scenario (``G.graph["governance"]``) override the shipped table. A
    country in neither has ``wgi_scaled`` NaN and source ``"unknown"``.

    Returns
    -------
    pandas.DataFrame
        Columns ``country, wgi_scaled, year, source``, sorted by country.

    Examples
    --------
    >>> from crmsim.network.graph import build_graph
    >>> from crmsim.scenario.loader import scenario_from_dict
    >>> G = build_graph(scenario_from_dict({
    ...     "crmsim": 1, "name": "override", "governance": {"AUS": 2.0},
    ...     "materials": [{"id": "ore"}],
    ...     "nodes": [
    ...         {"id": "a", "role": "mine", "country": "AUS", "output": "ore", "capacity": 3},
    ...         {"id": "k", "role": "market", "country": "ISL", "demand": {"mean": 1}},
    ...     ],
    ...     "edges": [{"from": "a", "to": "k"}],
    ... }))
    >>> governance_scores(G)[["country", "wgi_scaled", "source"]]
      country  wgi_scaled                       source
    0     AUS         2.0  scenario file (governance:)
    1     ISL         NaN                      unknown
    """
    table = _table().set_index("country")
    overrides = dict(G.graph.get("governance", {}))
    countries = sorted({d["country"] for _, d in G.nodes(data=True)} | set(overrides))
    rows = []
    for c in countries:
        if c in overrides:
            rows.append((c, float(overrides[c]), math.nan, OVERRIDE_SOURCE))
        elif c in table.index:
            r = table.loc[c]
            rows.append((c, float(r["wgi_scaled"]), float(r["year"]), str(r["source"])))
        else:
            rows.append((c, math.nan, math.nan, "unknown"))
    return pd.DataFrame(rows, columns=["country", "wgi_scaled", "year", "source"])


def home_countries(G: nx.MultiDiGraph) -> tuple[str, ...]:
    """Resolve the home countries: ``G.graph["home"]`` with regions expanded, else the markets'.

    Examples
    --------
    >>> import networkx as nx
    >>> G = nx.MultiDiGraph(home=("EU", "GBR"), regions={"EU": ("DEU", "FRA")})
    >>> home_countries(G)
    ('DEU', 'FRA', 'GBR')
    """
    regions = G.graph.get("regions", {})
    home = G.graph.get("home", ())
    if home:
        out = {c for name in home for c in regions.get(name, (name,))}
    else:
        out = {d["country"] for _, d in G.nodes(data=True) if d["role"] is Role.MARKET}
    return tuple(sorted(out))


def hhi_wgi(shares: dict[str, float], wgi: dict[str, float]) -> tuple[float, tuple[str, ...]]:
    """Governance-weighted concentration ``Σ_c share_c² · WGI_c`` (shares as fractions).

    Parameters
    ----------
    shares : dict
        Country → quantity or share (normalised here).
    wgi : dict
        Country → scaled governance score (0–10).

    Returns
    -------
    value : float
        In 0–10; NaN when there is no supply or a supplying country has no score.
    missing : tuple of str
        Supplying countries without a score.

    Examples
    --------
    >>> hhi_wgi({"AUS": 0.75, "CHN": 0.25}, {"AUS": 2.0, "CHN": 6.0})
    (1.5, ())
    >>> hhi_wgi({"AUS": 1.0, "XXX": 1.0}, {"AUS": 2.0})
    (nan, ('XXX',))
    """
    total = math.fsum(shares.values())
    missing = tuple(sorted(c for c, q in shares.items() if q > 0 and not _known(wgi.get(c))))
    if total <= 0 or missing:
        return math.nan, missing
    return math.fsum((q / total) ** 2 * wgi[c] for c, q in shares.items() if q > 0), ()


def _known(x: float | None) -> bool:
    return x is not None and not math.isnan(x)


def _home_sourcing(G: nx.MultiDiGraph, home: tuple[str, ...]) -> dict[str, dict[str, float]]:
    """Material → {supplier country: planned flow into home buyers} (origin edges only)."""
    _, flows = baseline_flows(G)
    home_set = set(home)
    out: dict[str, dict[str, float]] = {}
    for m in _materials(G):
        src = set(origins(G, m))
        by_country: dict[str, float] = {}
        for (u, v, k), q in sorted(flows.items()):
            if k == m and u in src and q > 0 and G.nodes[v]["country"] in home_set:
                c = G.nodes[u]["country"]
                by_country[c] = by_country.get(c, 0.0) + q
        out[m] = by_country
    return out


def supply_risk(G: nx.MultiDiGraph) -> pd.DataFrame:
    """Supply risk per material with every input shown (EU CRM methodology, 2017).

    Returns
    -------
    pandas.DataFrame
        One row per material with columns ``material, home, hhi_wgi_gs, hhi_wgi_home,
        import_reliance, ir_source, eol_rir, substitution_index, sr_concentration,
        supply_risk, missing, missing_governance``. ``sr_concentration`` is the bracket
        ``HHI_WGI,GS·IR/2 + HHI_WGI,home·(1 − IR/2)``; ``supply_risk`` multiplies it by
        ``(1 − EOL_RIR)·SI``. ``ir_source`` is ``"scenario"`` or ``"network"`` (derived) or
        ``"unknown"``. Unknown values are NaN, and ``missing`` says which input is missing.

    Examples
    --------
    Capacities AUS 30 / CHN 10 (GS shares 0.75 / 0.25); the German market buys half from
    each (home shares 0.5 / 0.5, all imported, IR = 1); WGI 2 (AUS) and 6 (CHN):
    HHI_GS = 0.75²·2 + 0.25²·6 = 1.5, HHI_home = 0.5²·2 + 0.5²·6 = 2.0,
    bracket = 1.5·0.5 + 2.0·0.5 = 1.75, SR = 1.75·(1 − 0.1)·0.9 = 1.4175.

    >>> from crmsim.network.graph import build_graph
    >>> from crmsim.scenario.loader import scenario_from_dict
    >>> G = build_graph(scenario_from_dict({
    ...     "crmsim": 1, "name": "two mines", "governance": {"AUS": 2, "CHN": 6},
    ...     "materials": [{"id": "ore", "eol_rir": 0.1, "substitution_index": 0.9}],
    ...     "nodes": [
    ...         {"id": "a", "role": "mine", "country": "AUS", "output": "ore", "capacity": 30},
    ...         {"id": "b", "role": "mine", "country": "CHN", "output": "ore", "capacity": 10},
    ...         {"id": "mkt", "role": "market", "country": "DEU", "demand": {"mean": 20}},
    ...     ],
    ...     "edges": [{"from": "a", "to": "mkt", "share": 0.5},
    ...               {"from": "b", "to": "mkt", "share": 0.5}],
    ... }))
    >>> r = supply_risk(G).iloc[0]
    >>> [float(r[c]) for c in ("hhi_wgi_gs", "hhi_wgi_home", "import_reliance", "sr_concentration")]
    [1.5, 2.0, 1.0, 1.75]
    >>> round(float(r["supply_risk"]), 4)
    1.4175
    """
    gov = governance_scores(G)
    wgi = dict(zip(gov["country"], gov["wgi_scaled"], strict=True))
    home = home_countries(G)
    home_set = set(home)
    cap = supply_shares(G, by="country", bases=("capacity",))
    sourcing = _home_sourcing(G, home)
    materials = G.graph.get("materials", {})
    rows = []
    for m in _materials(G):
        spec = materials[m]
        missing: list[str] = []
        c = cap[cap["material"] == m]
        gs_shares = dict(zip(c["country"], c["quantity"], strict=True))
        gs, gs_missing = hhi_wgi(gs_shares, wgi)
        if not gs_shares:
            missing.append("global supply (no producing capacity on production)")
        home_shares = sourcing[m]
        hm, home_missing = hhi_wgi(home_shares, wgi)
        if not home_shares:
            missing.append("home sourcing (no planned flows into home buyers)")
        missing_gov = tuple(sorted(set(gs_missing) | set(home_missing)))
        if missing_gov:
            missing.append("governance score of " + ", ".join(missing_gov))

        if spec.import_reliance is not None:
            ir, ir_source = float(spec.import_reliance), "scenario"
        elif home_shares:
            total = math.fsum(home_shares.values())
            imported = math.fsum(q for ctry, q in home_shares.items() if ctry not in home_set)
            ir, ir_source = imported / total, "network"
        else:
            ir, ir_source = math.nan, "unknown"
            missing.append("import reliance")

        bracket = gs * ir / 2 + hm * (1 - ir / 2)
        eol = math.nan if spec.eol_rir is None else float(spec.eol_rir)
        si = math.nan if spec.substitution_index is None else float(spec.substitution_index)
        if spec.eol_rir is None:
            missing.append("eol_rir")
        if spec.substitution_index is None:
            missing.append("substitution_index")
        sr = bracket * (1 - eol) * si
        rows.append(
            (m, home, gs, hm, ir, ir_source, eol, si, bracket, sr, tuple(missing), missing_gov)
        )
    return pd.DataFrame(
        rows,
        columns=["material", "home", "hhi_wgi_gs", "hhi_wgi_home", "import_reliance",
                 "ir_source", "eol_rir", "substitution_index", "sr_concentration",
                 "supply_risk", "missing", "missing_governance"],
    )  # fmt: skip
