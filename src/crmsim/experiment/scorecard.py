"""Scorecards of an experiment: the scenario's weighted scorecard and the CRMA benchmark card.

Both read the tables of an :class:`~crmsim.experiment.compare.ExperimentRun`: the long
per-market table (all replications) and the realised edge flows over the scored horizon
(the first ``flow_replications`` replications of every variant, the same replications in
each). Shares are computed from flows pooled over those replications (ratio of sums).

Weighted scorecard (:func:`scorecard`)
--------------------------------------
Each group is normalised to [0, 1] (1 = best) by a stated rule, and weighted by
``scoring.weights`` (printed beside every score):

resilience
    Mean over markets (each market counts equally, whatever its unit) of the market's
    fill rate, averaged over all replications.
diversification
    ``1 − HHI / 10 000``, HHI being the Herfindahl–Hirschman index of realised shipments
    *from the origins* of each material (nodes that make it rather than pass it on) by the
    origin's country; the mean over materials with any such shipments.
circularity
    End-of-life recycling input rate (EOL-RIR): units received from recyclers ÷ units
    received, per material that any compared variant recycles, averaged over those
    materials; 0 when no variant recycles anything.
msme_inclusion
    MSME share of supply: units shipped by micro, small and medium firms ÷ units shipped
    by firms of known size, per material, averaged over materials (as in
    ``SimulationResult.materials``).
resource_readiness
    Share of mine capacity on production over the horizon: each mine's capacity counts in
    full when it is UNFC *On Production* (or has no UNFC code), in proportion to the
    scored days it produced when a ``develop_resource`` policy brought it to production,
    and not at all otherwise. Undefined (NaN) without mines.

The **total** is ``Σ weight × score`` over the groups that are defined, divided by the sum
of their weights (so an undefined group neither counts as 0 nor hides its weight: the
row says which groups were left out).

Critical Raw Materials Act card (:func:`crma_card`)
---------------------------------------------------
Regulation (EU) 2024/1252, Art. 5(1), sets 2030 benchmarks for each strategic raw
material, relative to the Union's annual consumption: domestic extraction able to supply
≥ 10 %, domestic processing ≥ 40 %, domestic recycling ≥ 25 %, and ≤ 65 % of consumption
at any relevant stage of processing from a single third country. crmsim applies them to
the scenario's **home** (``home:`` countries or regions; default: the markets'
countries) with realised flows over the scored horizon, per material ``m``:

consumption ``C_m``
    Units of ``m`` received by home *consumers* of ``m``: markets demanding it and
    processors whose recipe turns it into something else (stockpiles and pass-through
    processors are not consumers, so stock moved around is not counted twice).
extraction
    ``X_m / C_m``, ``X_m`` the home mines' shipments of ``m`` plus, for a processed
    material, the home extraction of each recipe input expressed in units of ``m``
    (divided by the capacity-weighted recipe coefficient of the material's producers),
    recursively. As in the Regulation this compares domestic *capacity in use* with
    consumption, wherever the ore is then smelted: it can exceed 100 %.
processing
    Shipments of ``m`` by home processors that make it ÷ ``C_m`` (NaN when no processor
    in the network makes ``m``, e.g. for an ore).
recycling
    Shipments of ``m`` by home recyclers ÷ ``C_m`` (NaN for a material that only mines
    make and no recycler recovers: an ore is not recycled; the chain's recycling shows on
    the processed material).
single_third_country
    The largest share of ``C_m`` received from suppliers in one country outside home
    (the supplier's country: units re-exported through a third country count for it).

Every share is NaN when the home consumes none of the material.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from crmsim.i18n import N_
from crmsim.network.analysis import hhi
from crmsim.scenario.schema import Role, Scenario

if TYPE_CHECKING:
    from crmsim.experiment.compare import ExperimentRun

__all__ = [
    "CRMA_BENCHMARKS",
    "SCORE_GROUPS",
    "crma_card",
    "edge_flows",
    "home_countries",
    "resource_readiness",
    "scorecard",
]

#: CRMA 2030 benchmarks (Regulation (EU) 2024/1252, Art. 5(1)): indicator → (share, rule).
CRMA_BENCHMARKS: dict[str, tuple[float, str]] = {
    "extraction": (0.10, ">="),
    "processing": (0.40, ">="),
    "recycling": (0.25, ">="),
    "single_third_country": (0.65, "<="),
}

#: Scorecard groups and the rule that normalises each to [0, 1].
SCORE_GROUPS: dict[str, str] = {
    "resilience": N_("mean over markets of the fill rate"),
    "diversification": N_(
        "mean over materials of 1 − HHI/10 000 of realised shipments by origin country"
    ),
    "circularity": N_("EOL-RIR (secondary ÷ all input received) of recycled materials"),
    "msme_inclusion": N_("mean over materials of the MSME share of units shipped"),
    "resource_readiness": N_("share of mine capacity on production over the horizon"),
}

_PRODUCING = (Role.MINE, Role.PROCESSOR, Role.RECYCLER)
_TOL = 1e-9  # a share within this of its benchmark counts as on it (floating-point sums)


def edge_flows(result: Any, scenario: Scenario) -> pd.DataFrame:
    """Realised totals of every edge over the scored horizon of one replication.

    Reads the engine's edge totals (``edge_shipped``, ``edge_received``) behind a
    :class:`~crmsim.engine.SimulationResult`.

    Parameters
    ----------
    result : SimulationResult
        One replication of ``scenario``.
    scenario : Scenario
        The scenario simulated (with its policies applied).

    Returns
    -------
    pandas.DataFrame
        One row per edge: ``supplier, buyer, material, supplier_country, buyer_country,
        supplier_role, buyer_role, supplier_msme`` (1.0 MSME, 0.0 large, NaN unknown),
        ``origin`` (the supplier makes the material rather than passing it on),
        ``consumer`` (the buyer uses the material up: a market, or a processor that turns
        it into another material), ``shipped`` and ``received`` (units over the scored
        days).
    """
    eng = result._engine
    lay = eng.layout
    nodes = {n.id: n for n in scenario.nodes}
    src = [lay.nodes[i] for i in lay.edge_src]
    dst = [lay.nodes[i] for i in lay.edge_dst]
    mat = [lay.materials[k] for k in lay.edge_material]

    def origin(n: str, m: str) -> bool:
        node = nodes[n]
        return node.role in _PRODUCING and m not in node.recipe

    def consumer(n: str, m: str) -> bool:
        node = nodes[n]
        if node.role is Role.MARKET:
            return True
        return node.role is Role.PROCESSOR and m in node.recipe and node.output != m

    msme = lay.msme[lay.edge_src].astype(float)
    msme[msme < 0] = np.nan
    return pd.DataFrame(
        {
            "supplier": src,
            "buyer": dst,
            "material": mat,
            "supplier_country": [nodes[n].country for n in src],
            "buyer_country": [nodes[n].country for n in dst],
            "supplier_role": [str(nodes[n].role) for n in src],
            "buyer_role": [str(nodes[n].role) for n in dst],
            "supplier_msme": msme,
            "origin": [origin(n, m) for n, m in zip(src, mat, strict=True)],
            "consumer": [consumer(n, m) for n, m in zip(dst, mat, strict=True)],
            "shipped": np.asarray(eng.edge_shipped, dtype=float).copy(),
            "received": np.asarray(eng.edge_received, dtype=float).copy(),
        }
    )


def resource_readiness(result: Any) -> dict[str, float]:
    """Mine capacity on production over the scored horizon of one replication.

    Parameters
    ----------
    result : SimulationResult
        One replication.

    Returns
    -------
    dict
        ``mine_capacity`` (units/day over all mines), ``ready_capacity`` (capacity ×
        share of scored days on production) and ``readiness`` (their ratio; NaN without
        mines). A mine that a ``develop_resource`` policy brings to production on scored
        day ``d`` counts ``(H − max(d, 0)) / H`` of its capacity; one that is never
        developed counts 0.
    """
    eng = result._engine
    lay = eng.layout
    W, H = eng.W, eng.H
    mines = np.array([r is Role.MINE for r in lay.role], dtype=bool)
    frac = lay.on_production.astype(float)
    for i, start, _ in eng.developments:
        frac[i] = 0.0 if start is None else min(1.0, max(0.0, (W + H - max(start, W)) / H))
    cap = np.where(np.isfinite(lay.capacity), lay.capacity, 0.0)
    total = float(cap[mines].sum())
    ready = float((cap * frac)[mines].sum())
    return {
        "mine_capacity": total,
        "ready_capacity": ready,
        "readiness": ready / total if total > 0 else math.nan,
    }


def home_countries(scenario: Scenario, home: str | Sequence[str] | None = None) -> tuple[str, ...]:
    """Home countries: ``home`` (regions expanded), else the scenario's, else the markets'.

    Parameters
    ----------
    scenario : Scenario
        The scenario (for its ``regions`` and ``home``).
    home : str or sequence of str, optional
        Countries or region names overriding the scenario's ``home``.

    Examples
    --------
    >>> from crmsim import load_scenario
    >>> home_countries(load_scenario("scenarios/tajikistan_antimony.yaml"))
    ('TJK',)
    >>> home_countries(load_scenario("scenarios/tajikistan_antimony.yaml"), "EU")
    ('BEL', 'DEU', 'ESP', 'FRA', 'ITA', 'NLD')
    """
    names = [home] if isinstance(home, str) else list(home or scenario.home)
    if names:
        out = {c for name in names for c in scenario.countries_of(name)}
    else:
        out = {n.country for n in scenario.nodes if n.role is Role.MARKET}
    return tuple(sorted(out))


# --------------------------------------------------------------------------- scorecard


def _mean(values: list[float]) -> float:
    vals = [v for v in values if not math.isnan(v)]
    return float(np.mean(vals)) if vals else math.nan


def scorecard(run: ExperimentRun) -> pd.DataFrame:
    """The scenario's weighted scorecard, per variant (see the module docstring).

    Parameters
    ----------
    run : ExperimentRun
        From :func:`crmsim.experiment.compare.run_experiment`.

    Returns
    -------
    pandas.DataFrame
        One row per (variant, group) and a ``total`` row per variant: ``score`` in
        [0, 1], ``weight`` (from ``scoring.weights``), ``weighted`` (score × weight),
        ``rule`` (how the score is normalised) and ``replications`` (how many it
        averages).
    """
    weights = dict(run.scenario.scoring.weights)
    reps = run.replications
    flows = run.flows
    recycled: set[str] = set()
    if len(flows):
        recycled = set(flows.loc[flows["supplier_role"] == str(Role.RECYCLER), "material"])
    rows = []
    for v in run.variants:
        markets = reps[(reps["variant"] == v) & (reps["market"] != "(all)")]
        f = flows[flows["variant"] == v] if len(flows) else flows
        scores: dict[str, float] = {
            "resilience": float(markets.groupby("market")["fill_rate"].mean().mean())
        }
        if len(f):
            o = f[f["origin"]]
            div = []
            for _m, g in o.groupby("material"):
                by_country = g.groupby("supplier_country")["shipped"].sum()
                h = hhi(by_country.to_numpy())
                div.append(1.0 - h / 1e4 if not math.isnan(h) else math.nan)
            scores["diversification"] = _mean(div)
            circ = []
            for m in sorted(recycled):
                g = f[f["material"] == m]
                total = float(g["received"].sum())
                sec = float(g.loc[g["supplier_role"] == str(Role.RECYCLER), "received"].sum())
                circ.append(sec / total if total > 0 else math.nan)
            scores["circularity"] = _mean(circ) if recycled else 0.0
            ms = []
            for _m, g in f.groupby("material"):
                known = g[g["supplier_msme"].notna()]
                tot = float(known["shipped"].sum())
                ms.append(
                    float((known["shipped"] * known["supplier_msme"]).sum()) / tot
                    if tot > 0
                    else math.nan
                )
            scores["msme_inclusion"] = _mean(ms)
            rd = run.readiness[run.readiness["variant"] == v]
            cap = float(rd["mine_capacity"].sum())
            scores["resource_readiness"] = (
                float(rd["ready_capacity"].sum()) / cap if cap > 0 else math.nan
            )
        n_flow = run.flow_replications
        total = wsum = 0.0
        left_out = []
        for group, rule in SCORE_GROUPS.items():
            s = scores.get(group, math.nan)
            w = float(weights.get(group, 0.0))  # type: ignore[call-overload]
            if math.isnan(s):
                left_out.append(group)
            else:
                total += s * w
                wsum += w
            rows.append(
                {
                    "variant": v,
                    "group": group,
                    "score": s,
                    "weight": w,
                    "weighted": s * w,
                    "rule": rule,
                    "replications": run.n_replications if group == "resilience" else n_flow,
                }
            )
        rule = "Σ weight × score ÷ Σ weight over defined groups"
        if left_out:
            rule += " (undefined, left out: " + ", ".join(left_out) + ")"
        rows.append(
            {
                "variant": v,
                "group": "total",
                "score": total / wsum if wsum > 0 else math.nan,
                "weight": wsum,
                "weighted": total,
                "rule": rule,
                "replications": n_flow,
            }
        )
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- CRMA card


def _recipe_coefficients(scenario: Scenario) -> dict[str, dict[str, float]]:
    """Material → {input: capacity-weighted recipe coefficient over its producers}."""
    acc: dict[str, dict[str, list[float]]] = {}
    for n in scenario.nodes:
        if n.role is not Role.PROCESSOR or n.output is None or n.output in n.recipe:
            continue
        w = float(n.capacity or 0.0)
        w = w if math.isfinite(w) and w > 0 else 1.0
        slot = acc.setdefault(n.output, {})
        for r, q in n.recipe.items():
            a = slot.setdefault(r, [0.0, 0.0])
            a[0] += w * float(q)
            a[1] += w
    return {m: {r: a[0] / a[1] for r, a in d.items()} for m, d in acc.items()}


def _extraction(mined: dict[str, float], coef: dict[str, dict[str, float]]) -> dict[str, float]:
    """Home extraction of each material, in its own units, through recipes (recursive)."""
    memo: dict[str, float] = {}

    def value(m: str, seen: frozenset[str]) -> float:
        if m in memo:
            return memo[m]
        total = float(mined.get(m, 0.0))
        for r, q in coef.get(m, {}).items():
            if r not in seen and q > 0:
                total += value(r, seen | {m}) / q
        memo[m] = total
        return total

    for m in set(mined) | set(coef):
        value(m, frozenset())
    return memo


def crma_card(run: ExperimentRun, home: str | Sequence[str] | None = None) -> pd.DataFrame:
    """Critical Raw Materials Act benchmarks per variant and material (module docstring).

    Parameters
    ----------
    run : ExperimentRun
        From :func:`crmsim.experiment.compare.run_experiment`.
    home : str or sequence of str, optional
        The buyer region: countries or region names of the scenario (default: the
        scenario's ``home``, see :func:`home_countries`).

    Returns
    -------
    pandas.DataFrame
        One row per (variant, material, indicator): ``unit``, ``home`` (countries, comma
        separated), ``consumption`` (home consumption per replication over the scored
        horizon, in the material's unit), ``indicator`` (extraction, processing,
        recycling, single_third_country), ``share`` of consumption, ``country`` (for
        single_third_country: which), ``benchmark``, ``rule`` (``>=`` or ``<=``) and
        ``met`` (True/False; None when the share is undefined).
    """
    homes = set(home_countries(run.scenario, home))
    flows = run.flows
    rows: list[dict[str, Any]] = []
    if not len(flows):
        return pd.DataFrame(
            columns=[
                "variant", "material", "unit", "home", "consumption", "indicator",
                "share", "country", "benchmark", "rule", "met",
            ]
        )  # fmt: skip
    n_flow = max(run.flow_replications, 1)
    home_text = ",".join(sorted(homes))
    for v, app in zip(run.variants, run.applications, strict=True):
        sc = app.scenario
        coef = _recipe_coefficients(sc)
        f = flows[flows["variant"] == v]
        sup_home = f["supplier_country"].isin(homes)
        mined = {
            str(k): float(x)
            for k, x in f[sup_home & (f["supplier_role"] == str(Role.MINE)) & f["origin"]]
            .groupby("material")["shipped"]
            .sum()
            .items()
        }
        extraction = _extraction(mined, coef)
        processed = set(coef)
        recycled = {n.output for n in sc.nodes if n.role is Role.RECYCLER}
        for mat in sc.materials:
            m = mat.id
            g = f[f["material"] == m]
            gh = g[g["buyer_country"].isin(homes) & g["consumer"]]
            C = float(gh["received"].sum())
            shares: dict[str, float] = {}
            country: str | None = None
            if C > 0:
                gs = g[g["supplier_country"].isin(homes) & g["origin"]]
                shares["extraction"] = extraction[m] / C if m in extraction else 0.0
                shares["processing"] = (
                    float(gs.loc[gs["supplier_role"] == str(Role.PROCESSOR), "shipped"].sum()) / C
                    if m in processed
                    else math.nan
                )
                shares["recycling"] = (
                    float(gs.loc[gs["supplier_role"] == str(Role.RECYCLER), "shipped"].sum()) / C
                    if m in processed or m in recycled
                    else math.nan
                )
                third = (
                    gh[~gh["supplier_country"].isin(homes)]
                    .groupby("supplier_country")["received"]
                    .sum()
                )
                third = third[third > 0]
                if len(third):
                    top = third.sort_values(ascending=False, kind="stable")
                    country = str(top.index[0])
                    shares["single_third_country"] = float(top.iloc[0]) / C
                else:
                    shares["single_third_country"] = 0.0
            for ind, (bench, rule) in CRMA_BENCHMARKS.items():
                s = shares.get(ind, math.nan)
                # Shares are ratios of sums of floats: a share on the benchmark meets it.
                met = (
                    None
                    if math.isnan(s)
                    else (s >= bench - _TOL if rule == ">=" else s <= bench + _TOL)
                )
                rows.append(
                    {
                        "variant": v,
                        "material": m,
                        "unit": mat.unit,
                        "home": home_text,
                        "consumption": C / n_flow,
                        "indicator": ind,
                        "share": s,
                        "country": country if ind == "single_third_country" else None,
                        "benchmark": bench,
                        "rule": rule,
                        "met": met,
                    }
                )
    return pd.DataFrame(rows)
