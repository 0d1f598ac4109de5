"""Every figure a :class:`~crmsim.report.data.ReportData` has the numbers for.

Used by ``crmsim plot RESULTS_DIR`` (which saves them) and by the HTML report (which
embeds them). A figure whose data is absent (no bands in a compare folder, no recycler,
no stress test) is left out, never drawn empty.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from crmsim.i18n import N_, _
from crmsim.report import figures as F
from crmsim.report.data import ReportData

__all__ = ["FIGURE_TITLES", "Drawn", "draw_all", "save_all"]

#: Figure name → title in the report (and file name stem).
FIGURE_TITLES: dict[str, str] = {
    "network": N_("The supply network"),
    "disruptions": N_("Disruptions timeline"),
    "performance": N_("Daily performance per option"),
    "triangle": N_("Resilience triangle"),
    "forest": N_("Paired differences against the baseline"),
    "cost_resilience": N_("Cost against resilience gained"),
    "supply_by_country": N_("Supply by country, before and after"),
    "crma": N_("Critical Raw Materials Act card"),
    "secondary_supply": N_("Secondary supply and EOL-RIR over time"),
    "stress": N_("Stress test: time to survive and time to recover"),
}


@dataclass(frozen=True)
class Drawn:
    """A drawn figure: its name, title and the figure."""

    name: str
    title: str
    figure: Figure


def _best_option(data: ReportData) -> str | None:
    costs = data.table("costs")
    mk = data.main_market
    if not len(costs) or mk is None:
        return None
    sub = costs[costs["market"] == mk]
    if not len(sub):
        return None
    return str(sub["option"].iloc[int(np.argmax(sub["fill_gain_pp"].to_numpy(dtype=float)))])


def draw_all(data: ReportData) -> list[Drawn]:
    """Draw every figure the data allows, in report order.

    Titles, labels and numbers are in the current language (:mod:`crmsim.i18n`).

    Parameters
    ----------
    data : ReportData

    Returns
    -------
    list of Drawn
    """
    out: list[Drawn] = []

    def add(name: str, fig: Figure) -> None:
        out.append(Drawn(name, _(FIGURE_TITLES[name]), fig))

    sc = data.scenario
    if sc is not None:
        from crmsim.network.graph import build_graph

        add("network", F.network(build_graph(sc), title=sc.name))
    dis = data.table("disruptions")
    horizon = sc.horizon_days if sc is not None else None
    if len(dis):
        add("disruptions", F.disruption_timeline(dis, horizon=horizon,
                                                 n_replications=data.replications))  # fmt: skip
    if data.bands:
        # The summary's market (bands always have "(all)"; a market when units differ).
        first = next(iter(data.bands.values()))
        mk = data.main_market
        market = mk if mk is not None and mk in set(first["market"]) else "(all)"
        add(
            "performance",
            F.performance_bands(data.bands, dis if len(dis) else None, labels=data.labels,
                                n_replications=data.replications, market=market),
        )  # fmt: skip
    if data.performance is not None and len(data.performance):
        spans = F._disruption_spans(dis if len(dis) else None, data.replications)[0]
        worst = None
        if spans:
            p = data.performance

            # The shaded disruption: the one with the largest shortfall while in force.
            def lost(s: tuple[str, float, float]) -> float:
                a, b = max(0, int(s[1])), min(len(p), int(s[2]))
                return float(np.sum(1 - np.minimum(p[a:b], 1))) if b > a else 0.0

            worst = max(spans, key=lost)
        base = data.variants[0] if data.variants else "baseline"
        title = _("Resilience triangle: {option}, replication 0").format(
            option=data.labels.get(base, base)
        )
        ttr = None
        if worst is not None and {"ttr", "censored", "replication"} <= set(dis.columns):
            d0 = dis[(dis["replication"] == 0) & (dis["disruption"] == worst[0])
                     & (dis["start"] == worst[1])]  # fmt: skip
            if "variant" in d0.columns:
                d0 = d0[d0["variant"] == base]
            if len(d0):
                ttr = (float(d0["ttr"].iloc[0]), bool(d0["censored"].iloc[0]))
        add("triangle", F.resilience_triangle(data.performance, disruption=worst, ttr=ttr,
                                              title=title))  # fmt: skip
    table = data.table("comparison")
    if len(table):
        add("forest", F.forest(table, labels=data.labels, confidence=data.confidence,
                               max_markets=5))  # fmt: skip
    costs = data.table("costs")
    if len(costs):
        add("cost_resilience", F.cost_resilience(costs, market=data.main_market,
                                                 labels=data.labels))  # fmt: skip
    flows = data.table("flows")
    if len(flows):
        after = _best_option(data)
        add("supply_by_country", F.supply_by_country(
            flows, before=data.variants[0], after=after, labels=data.labels))  # fmt: skip
    crma = data.table("crma")
    if len(crma):
        add("crma", F.crma_card(crma, labels=data.labels))
    daily = data.daily
    if daily is not None and daily["collected"].notna().any():
        units = {m.id: m.unit for m in sc.materials} if sc is not None else None
        add("secondary_supply", F.secondary_supply(daily, units=units))
    if data.stress is not None and len(data.stress):
        add("stress", F.stress_test(data.stress))
    return out


def save_all(
    drawn: list[Drawn], folder: str | Path, formats: tuple[str, ...] = ("png", "svg")
) -> list[Path]:
    """Save drawn figures as ``folder/NAME.png`` and ``.svg``; returns the files."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    files: list[Path] = []
    for d in drawn:
        files += F.save(d.figure, folder / d.name, formats)
    return files
