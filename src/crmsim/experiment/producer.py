"""The producer-country view: what a supplying country sells, earns and adds at home.

Importers read crmsim's fill rates; a producer country — Tajikistan for antimony, Ukraine
for neon — asks what each option does to its own exports. :func:`producer_view` answers
from the **realised flows** of the scored horizon (the edge shipments that
:func:`crmsim.experiment.scorecard.edge_flows` reads), per material the country's nodes
ship:

``exports``
    Units shipped by the country's nodes to buyers in other countries.
``home_sales``
    Units shipped by the country's nodes to buyers in the country.
``export_revenue``
    ``exports × reference_price`` of the material (the scenario's ``reference_price``,
    in its ``currency``; NaN without a price).
``value_added_home``
    What processing at home adds over selling its inputs: for every processor of the
    country making the material, units shipped × (price of the output − Σ recipe
    coefficient × price of the input). For antimony, the metal a Tajik smelter sells
    less the concentrate it used, valued at the concentrate price: what smelting at home
    adds. NaN when a price is missing; 0 when the country has no such processor.
``buyer_hhi``
    Herfindahl–Hirschman index (0–10 000) of the exports by buyer country; with
    ``top_buyer`` (the largest buyer country), ``top_buyer_share`` and
    ``buyer_countries`` (how many countries bought any).

A last row, material ``"(all)"``, adds revenue and value added over the priced materials
and gives the HHI of export *revenue* by buyer country (volumes of different materials
are not added). A country is named by ``country`` (an ISO code or a region of the
scenario) or else by the scenario's ``home``: a pilot file names its producer country in
``home`` (``home: [TJK]``), and ``crmsim run`` prints this view when the scenario gives a
reference price and ``home``'s nodes ship across the border.

Flows pooled over replications: totals are means per replication (sum over replications
÷ their number), and the HHI is that of the pooled shipments (ratio of sums), as in the
scorecards.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from crmsim.network.analysis import hhi
from crmsim.scenario.schema import Role, Scenario

__all__ = [
    "ALL_MATERIALS",
    "PRODUCER_COLUMNS",
    "print_producer_view",
    "producer_figures",
    "producer_options",
    "producer_options_text",
    "producer_text",
    "producer_view",
]

#: Material label of the row that adds up the priced materials.
ALL_MATERIALS = "(all)"

#: Columns of :func:`producer_view` (``variant`` first).
PRODUCER_COLUMNS = (
    "variant",
    "country",
    "material",
    "unit",
    "exports",
    "home_sales",
    "reference_price",
    "export_revenue",
    "value_added_home",
    "buyer_hhi",
    "top_buyer",
    "top_buyer_share",
    "buyer_countries",
    "horizon_days",
    "replications",
)


def _countries(scenario: Scenario, country: str | Sequence[str] | None) -> tuple[str, ...]:
    names = [country] if isinstance(country, str) else list(country or scenario.home)
    if not names:
        raise ValueError(
            "producer_view: name the producer country (country='TJK') or give the "
            "scenario a `home:`"
        )
    return tuple(sorted({c for n in names for c in scenario.countries_of(n)}))


def producer_figures(
    flows: pd.DataFrame,
    scenario: Scenario,
    country: str | Sequence[str] | None = None,
    replications: int = 1,
) -> pd.DataFrame:
    """The producer-country figures from a table of realised edge flows.

    Parameters
    ----------
    flows : pandas.DataFrame
        Edge totals as :func:`~crmsim.experiment.scorecard.edge_flows` returns them
        (``supplier, buyer, material, supplier_country, buyer_country, shipped``), for
        one or more replications of ``scenario`` stacked.
    scenario : Scenario
        The scenario simulated (with its policies applied): recipes, prices and roles.
    country : str or sequence of str, optional
        Producer country or countries (ISO codes or region names); default ``home``.
    replications : int
        Number of replications stacked in ``flows`` (totals are divided by it).

    Returns
    -------
    pandas.DataFrame
        One row per material the country ships, then ``"(all)"``; the columns of
        :data:`PRODUCER_COLUMNS` without ``variant``.
    """
    if replications < 1:
        raise ValueError(f"replications must be at least 1, not {replications}")
    home = set(_countries(scenario, country))
    label = ",".join(sorted(home))
    price = {m.id: m.reference_price for m in scenario.materials}
    unit = {m.id: m.unit for m in scenario.materials}
    nodes = {n.id: n for n in scenario.nodes}
    mine = flows[flows["supplier_country"].isin(home)]
    rows = []
    revenue_by_buyer: dict[str, float] = {}
    for material in sorted(mine["material"].unique()):
        f = mine[mine["material"] == material]
        abroad = f[~f["buyer_country"].isin(home)]
        by_buyer = abroad.groupby("buyer_country")["shipped"].sum() / replications
        by_buyer = by_buyer[by_buyer > 0]
        exports = float(by_buyer.sum())
        p = price.get(material)
        revenue = exports * p if p is not None else math.nan
        if p is not None:
            for b, q in by_buyer.items():
                revenue_by_buyer[str(b)] = revenue_by_buyer.get(str(b), 0.0) + float(q) * p
        added = 0.0
        for sup, g in f.groupby("supplier"):
            node = nodes[str(sup)]
            if node.role is not Role.PROCESSOR or not node.recipe or node.output != material:
                continue
            inputs = {k: price.get(k) for k in node.recipe}
            if p is None or any(x is None for x in inputs.values()):
                added = math.nan
                break
            margin = p - math.fsum(c * float(inputs[k] or 0.0) for k, c in node.recipe.items())
            added += float(g["shipped"].sum()) / replications * margin
        top = str(by_buyer.idxmax()) if exports > 0 else None
        rows.append(
            {
                "country": label,
                "material": material,
                "unit": unit.get(material, ""),
                "exports": exports,
                "home_sales": float(f.loc[f["buyer_country"].isin(home), "shipped"].sum())
                / replications,
                "reference_price": math.nan if p is None else float(p),
                "export_revenue": revenue,
                "value_added_home": added,
                "buyer_hhi": hhi(by_buyer.to_numpy()),
                "top_buyer": top,
                "top_buyer_share": float(by_buyer.max()) / exports if exports > 0 else math.nan,
                "buyer_countries": len(by_buyer),
            }
        )
    priced = [r for r in rows if not math.isnan(r["reference_price"])]
    total_rev = math.fsum(r["export_revenue"] for r in priced)
    top_rev = max(revenue_by_buyer, key=lambda b: revenue_by_buyer[b]) if revenue_by_buyer else None
    rows.append(
        {
            "country": label,
            "material": ALL_MATERIALS,
            "unit": scenario.currency,
            "exports": math.nan,
            "home_sales": math.nan,
            "reference_price": math.nan,
            "export_revenue": total_rev if priced else math.nan,
            "value_added_home": (
                math.fsum(r["value_added_home"] for r in priced) if priced else math.nan
            ),
            "buyer_hhi": hhi(revenue_by_buyer.values()),
            "top_buyer": top_rev,
            "top_buyer_share": (
                revenue_by_buyer[top_rev] / total_rev if top_rev and total_rev > 0 else math.nan
            ),
            "buyer_countries": len(revenue_by_buyer),
        }
    )
    out = pd.DataFrame(rows)
    out["horizon_days"] = int(scenario.horizon_days)
    out["replications"] = int(replications)
    return out


def producer_view(
    result_or_run: Any,
    country: str | Sequence[str] | None = None,
    *,
    replications: int = 10,
) -> pd.DataFrame:
    """The producer-country view of a simulation, a run or an experiment, per option.

    Parameters
    ----------
    result_or_run : SimulationResult, RunResult or ExperimentRun
        * a :class:`~crmsim.engine.SimulationResult`: that replication's flows;
        * a :class:`~crmsim.experiment.RunResult` (``crmsim run``): replications
          ``0 .. min(replications, R) − 1`` of the scenario it ran (re-simulated with the
          run's seed, summary record only; needs the run's replication 0, i.e. not
          ``keep_first_daily=False``);
        * an :class:`~crmsim.experiment.compare.ExperimentRun`: every variant's kept
          flows (its ``flow_replications``), one block of rows per variant.
    country : str or sequence of str, optional
        Producer country or countries (ISO codes or region names); default the
        scenario's ``home``.
    replications : int
        For a RunResult: how many replications to pool (default 10).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`PRODUCER_COLUMNS`; see the module docstring for each figure.

    Raises
    ------
    ValueError
        When no producer country is named, or a RunResult kept no replication 0.
    """
    from crmsim.engine import simulate
    from crmsim.experiment.scorecard import edge_flows

    if hasattr(result_or_run, "applications") and hasattr(result_or_run, "flows"):
        run = result_or_run
        frames = []
        for app in run.applications:
            fl = run.flows[run.flows["variant"] == app.combination] if len(run.flows) else None
            if fl is None or fl.empty:
                continue
            n = int(fl["replication"].nunique())
            fig = producer_figures(fl, app.scenario, country, replications=n)
            fig.insert(0, "variant", app.combination)
            frames.append(fig)
        if not frames:
            raise ValueError("producer_view: the experiment kept no flows (flow_replications=0)")
        return pd.concat(frames, ignore_index=True)[list(PRODUCER_COLUMNS)]
    if hasattr(result_or_run, "_engine"):
        res = result_or_run
        scenario = res._engine.scenario
        fig = producer_figures(edge_flows(res, scenario), scenario, country)
        fig.insert(0, "variant", "run")
        return fig[list(PRODUCER_COLUMNS)]
    first = getattr(result_or_run, "first", None)
    if first is None:
        raise ValueError(
            "producer_view: this run kept no replication 0 (run without --no-daily, or "
            "pass a SimulationResult or an ExperimentRun)"
        )
    scenario = first._engine.scenario
    n = max(1, min(int(replications), int(result_or_run.replications)))
    flows = pd.concat(
        [
            edge_flows(
                simulate(scenario, result_or_run.seed, replication=r, record="summary"),
                scenario,
            )
            for r in range(n)
        ],
        ignore_index=True,
    )
    fig = producer_figures(flows, scenario, country, replications=n)
    fig.insert(0, "variant", "run")
    return fig[list(PRODUCER_COLUMNS)]


def producer_options(scenario: Scenario, country: str | Sequence[str] | None = None) -> list[str]:
    """Ids of the policies that act in the producer country.

    A policy acts there when an entrant or new recycler is located there or buys from
    the country's nodes (a partner plant abroad on the country's raw material), it
    develops or changes one of the country's nodes, or it moves a buyer's sourcing to one
    of the country's nodes.

    Examples
    --------
    >>> from crmsim import load_scenario
    >>> producer_options(load_scenario("scenarios/tajikistan_antimony.yaml"))[:1]
    ['msme_smelter_tjk']
    """
    home = set(_countries(scenario, country))
    where = {n.id: n.country for n in scenario.nodes}
    out = []
    for p in scenario.policies:
        places: set[str] = set()
        if p.msme_entrant is not None:
            places.add(p.msme_entrant.country)
            places |= {where.get(a, "") for a in p.msme_entrant.suppliers}
        if p.recycling is not None:
            places.add(p.recycling.country or where.get(p.recycling.id, ""))
        if p.develop_resource is not None:
            places.add(where.get(p.develop_resource.node, ""))
        if p.diversify is not None:
            places |= {where.get(a, "") for a in p.diversify.to}
        if p.trade_facilitation is not None:
            places |= set(p.trade_facilitation.countries)
        if places & home:
            out.append(p.id)
    return out


def _fmt(x: Any, money: bool = False) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    return f"{x:,.0f}" if money or abs(x) >= 100 else f"{x:,.4g}"


def producer_text(view: pd.DataFrame, currency: str = "USD") -> str:
    """The producer view as plain text lines (one per variant and material).

    Parameters
    ----------
    view : pandas.DataFrame
        A table from :func:`producer_view`.
    currency : str
        Currency of the revenue figures.

    Returns
    -------
    str
        Lines ending in a newline ('' for an empty view).
    """
    if view.empty:
        return ""
    r0 = view.iloc[0]
    lines = [
        f"producer-country view: {r0['country']} — realised shipments over "
        f"{int(r0['horizon_days'])} scored days, mean of {int(r0['replications'])} "
        f"replication(s); revenue at the scenario's reference prices ({currency})"
    ]
    for r in view.itertuples(index=False):
        hhi_txt = _fmt(r.buyer_hhi, money=True)
        top = f"{r.top_buyer} {r.top_buyer_share:.0%}" if isinstance(r.top_buyer, str) else "—"
        prefix = f"  [{r.variant}] " if view["variant"].nunique() > 1 else "  "
        if r.material == ALL_MATERIALS:
            lines.append(
                f"{prefix}all materials: export revenue {_fmt(r.export_revenue, True)}, "
                f"value added at home {_fmt(r.value_added_home, True)}, buyer HHI (revenue) "
                f"{hhi_txt}, top buyer {top}"
            )
        else:
            lines.append(
                f"{prefix}{r.material}: exports {_fmt(r.exports)} {r.unit} to "
                f"{r.buyer_countries} countr{'y' if r.buyer_countries == 1 else 'ies'}, "
                f"home sales {_fmt(r.home_sales)}, revenue {_fmt(r.export_revenue, True)} at "
                f"{_fmt(r.reference_price, True)}/{r.unit}, value added at home "
                f"{_fmt(r.value_added_home, True)}, buyer HHI {hhi_txt}, top buyer {top}"
            )
    return "\n".join(lines) + "\n"


def print_producer_view(run: Any, echo: Any = print) -> None:
    """Print the producer view of a ``crmsim run`` result when the scenario asks for one.

    Shown when replication 0 was kept, the scenario names ``home`` and gives a
    ``reference_price`` to a material that ``home``'s nodes export; silent otherwise.
    """
    first = getattr(run, "first", None)
    if first is None:
        return
    scenario = first._engine.scenario
    if not scenario.home or all(m.reference_price is None for m in scenario.materials):
        return
    view = producer_view(run)
    if not np.isfinite(view["export_revenue"]).any():
        return
    echo(producer_text(view, scenario.currency).rstrip("\n"))
    opts = producer_options(scenario)
    if opts:
        echo("  the producer country's own options (crmsim run -p ID): " + ", ".join(opts))


def producer_options_text(scenario: Scenario) -> str:
    """For ``crmsim show``: the producer country and its own options ('' without ``home``).

    Examples
    --------
    >>> from crmsim import load_scenario
    >>> text = producer_options_text(load_scenario("scenarios/ukraine_neon.yaml"))
    >>> text.split(": ")[-1].split(", ")[:3]
    ['restart_purification_ukr', 'eu_fab_contract_ukr', 'partner_purifier_rou']

    Shown, like the producer view of ``crmsim run``, only for a scenario that names
    ``home`` and gives a material a ``reference_price``.
    """
    if not scenario.home or all(m.reference_price is None for m in scenario.materials):
        return ""
    opts = producer_options(scenario)
    label = ",".join(_countries(scenario, None))
    return (
        f"\nProducer country {label} (home): its own options: "
        + (", ".join(opts) if opts else "none")
        + "\n"
    )
