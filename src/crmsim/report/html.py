"""The one-file HTML report: plain-language summary first, then every table and figure.

The report is rendered from ``templates/report.html.j2`` (jinja2, autoescaped: any text
from a scenario file is shown as text, never run as HTML). Figures are embedded as
base64 PNG, the style sheet is inline and there is no script, so the file opens offline
and can be mailed as it is.
"""

from __future__ import annotations

import base64
import io
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from crmsim.i18n import N_, _, format_datetime, format_money, format_number, format_percent
from crmsim.report.data import ReportData

__all__ = [
    "GLOSSARY",
    "SECTIONS",
    "money",
    "number",
    "pct",
    "render_html",
    "summary_points",
    "write_html",
]

#: Section id → heading, in report order (the stress test only when there are results).
SECTIONS: dict[str, str] = {
    "summary": N_("Summary"),
    "scenario": N_("Scenario and sources"),
    "network": N_("The supply network"),
    "disruptions": N_("Disruptions"),
    "comparison": N_("Comparison of the options"),
    "ranking": N_("How sure we are: ranking"),
    "scorecard": N_("Scorecard"),
    "crma": N_("Critical Raw Materials Act card"),
    "unfc": N_("UNFC resource table"),
    "circularity": N_("Circularity"),
    "stress": N_("Stress test"),
    "assumptions": N_("Assumptions"),
    "glossary": N_("Glossary"),
    "reproducibility": N_("Reproducibility"),
}

#: Every metric and word the report uses, in plain language (term → meaning).
GLOSSARY: dict[str, str] = {
    N_("fill rate"): N_(
        "the share of demand served on the day it arose, over the scored days "
        "(served ÷ demand); 100 % means no customer ever waited."
    ),
    N_("daily performance"): N_("served ÷ demand on one day (100 % on a day without demand)."),
    N_("nadir"): N_("the worst day: the lowest daily performance over the scored days."),
    N_("resilience loss"): N_(
        "the area between 100 % and daily performance, summed over the scored days,"
        " in days: 10 days of loss is as much missing supply as 10 days with "
        "nothing delivered at all."
    ),
    N_("resilience index"): N_("1 − resilience loss ÷ the number of scored days (1 = no loss)."),
    N_("unmet demand"): N_(
        "units of demand not served on the day they arose (lost, or delivered late "
        "where back-orders are allowed), in the market's unit."
    ),
    N_("TTR (time to recover)"): N_(
        "days from the start of a disruption until performance is back to what it "
        "was and stays there."
    ),
    N_("censored"): N_(
        "a time to recover that had not ended by the end of the horizon: we only "
        "know it is longer than that, so it is never averaged as if observed "
        "(Kaplan–Meier)."
    ),
    N_("TTS (time to survive)"): N_(
        "how long the network keeps serving demand after losing a node, from its "
        "stocks and other suppliers (stress test)."
    ),
    N_("HHI"): N_(
        "Herfindahl–Hirschman index of concentration: the sum of squared supply "
        "shares by country, 0–10 000; above 2 500 is highly concentrated, below 1 "
        "500 unconcentrated."
    ),
    N_("EOL-RIR"): N_(
        "end-of-life recycling input rate: the share of a material's input that "
        "comes from recycling end-of-life products."
    ),
    N_("MSME share"): N_(
        "the share of units shipped by micro, small and medium-sized firms (EU "
        "definition: fewer than 250 staff), among firms of known size."
    ),
    N_("paired difference"): N_(
        "option minus baseline in the same replication (the same demand and the "
        "same disruptions: common random numbers), averaged over replications."
    ),
    N_("interval"): N_(
        "the t-based confidence interval of a mean; a change whose interval "
        "excludes 0 is clear at that confidence."
    ),
    N_("percentage point (pp)"): N_(
        "the difference between two percentages: 95 % → 97 % is +2 pp."
    ),
    N_("MCB (multiple comparisons with the best)"): N_(
        "a ranking that says which options could be the best and whether one is "
        "clearly best, at a joint confidence level."
    ),
    N_("realised cost"): N_(
        "what an option costs in a replication over the scored horizon: capital, "
        "operating and stockpile holding costs, in the scenario's currency."
    ),
    N_("cost per percentage point"): N_(
        "realised cost ÷ fill-rate gain; shown only when the gain is clear (its "
        "interval lies above 0)."
    ),
    N_("scorecard"): N_(
        "scores from 0 to 1 in five groups (resilience, diversification, "
        "circularity, MSME inclusion, resource readiness), weighted by the "
        "scenario's weights."
    ),
    N_("CRMA benchmarks"): N_(
        "Critical Raw Materials Act (Regulation (EU) 2024/1252, Art. 5) 2030 "
        "benchmarks: at least 10 % of consumption extracted, 40 % processed and 25 "
        "% recycled at home, and at most 65 % from any single third country."
    ),
    N_("UNFC"): N_(
        "United Nations Framework Classification for Resources (2019): E = social, "
        "environmental and economic viability, F = technical feasibility, G = "
        "confidence in the estimate."
    ),
    N_("replication"): N_(
        "one simulated year (or horizon) with its own random demand and "
        "disruptions; results are averaged over replications."
    ),
    N_("warm-up"): N_(
        "days simulated before the scored horizon so that stocks settle; not "
        "scored."
    ),
}


#: Words of the tables that come from crmsim's own keys (translated when shown).
SCORE_GROUPS: dict[str, str] = {
    "resilience": N_("resilience"),
    "diversification": N_("diversification"),
    "circularity": N_("circularity"),
    "msme_inclusion": N_("MSME inclusion"),
    "resource_readiness": N_("resource readiness"),
    "total": N_("total"),
}
CRMA_INDICATORS: dict[str, str] = {
    "extraction": N_("extraction"),
    "processing": N_("processing"),
    "recycling": N_("recycling"),
    "single_third_country": N_("single third country"),
}
ROLES: dict[str, str] = {
    "mine": N_("mine"),
    "processor": N_("processor"),
    "market": N_("market"),
    "recycler": N_("recycler"),
    "stockpile": N_("stockpile"),
}
DISRUPTION_KINDS: dict[str, str] = {
    "outage": N_("outage"),
    "export_restriction": N_("export restriction"),
    "logistics": N_("logistics"),
    "demand_shock": N_("demand shock"),
}
TARGET_FIELDS: dict[str, str] = {
    "node": N_("node"),
    "role": N_("role"),
    "country": N_("country"),
    "region": N_("region"),
    "material": N_("material"),
}
_TOTAL_RULE = N_("Σ weight × score ÷ Σ weight over defined groups")


def _rule(rule: str) -> str:
    """A scorecard rule (``crmsim.experiment.scorecard``) in the current language."""
    if rule.startswith(_TOTAL_RULE):
        rest = rule[len(_TOTAL_RULE):]
        m = rest.strip().removeprefix("(undefined, left out: ").removesuffix(")")
        left = ", ".join(_(SCORE_GROUPS.get(g, g)) for g in m.split(", ")) if m else ""
        return _(_TOTAL_RULE) + (
            " (" + _("undefined, left out: {groups}").format(groups=left) + ")" if left else ""
        )
    return _(rule)


# --------------------------------------------------------------------------- formatting


def _finite(x: Any) -> bool:
    try:
        return x is not None and math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def money(x: Any, currency: str = "") -> str:
    """A sum of money for people: thousands separators, no scientific notation.

    In the current language's form (``21 820 000 USD`` in Ukrainian; :mod:`crmsim.i18n`).

    Examples
    --------
    >>> money(21820000.4, "USD"), money(12.345), money(0.0), money(float("nan"), "USD")
    ('21,820,000 USD', '12.35', '0', '–')
    """
    if not _finite(x):
        return "–"
    return format_money(float(x), currency)


def number(x: Any, digits: int = 1, signed: bool = False) -> str:
    """A number with thousands separators and fixed decimals ("–" when undefined).

    In the current language's form (a decimal comma in Ukrainian and Russian).

    Examples
    --------
    >>> number(12345.678), number(-0.04, 1, signed=True), number(None)
    ('12,345.7', '0.0', '–')
    """
    if not _finite(x):
        return "–"
    return format_number(float(x), digits, signed)


def pct(x: Any, digits: int = 1, signed: bool = False) -> str:
    """A fraction as a percentage (or a change as percentage points when ``signed``).

    In the current language's form (``95,1 %``, ``+2,1 в. п.`` in Ukrainian).

    Examples
    --------
    >>> pct(0.9512), pct(0.021, signed=True), pct(float("nan"))
    ('95.1 %', '+2.1 pp', '–')
    """
    if not _finite(x):
        return "–"
    return format_percent(float(x), digits, signed)


def _level(confidence: float) -> str:
    """A confidence level as a percentage (``95 %``, ``97.5 %``)."""
    v = round(100 * float(confidence), 6)
    return f"{format_number(v, 0 if v.is_integer() else 1)} %"


def _interval(row: Any, scale: float = 1.0, digits: int = 1, unit: str = "") -> str:
    mid = number(scale * row["diff_mean"], digits, signed=True)
    lo, hi = row["diff_low"], row["diff_high"]
    u = f" {unit}" if unit else ""
    if _finite(lo) and _finite(hi):
        return (f"{mid}{u} [{number(scale * lo, digits, True)}, "
                f"{number(scale * hi, digits, True)}]")  # fmt: skip
    return f"{mid}{u}"


# --------------------------------------------------------------------------- content


def _label(data: ReportData, v: str) -> str:
    return data.labels.get(v, v)


def summary_points(data: ReportData) -> list[str]:
    """The report's summary: a few sentences in plain language (no markup).

    Which option buys the most resilience per unit of cost, the largest gain, how sure
    we are (MCB ranking and the replications needed) and what it costs, in the scenario's
    currency; in the current language (:mod:`crmsim.i18n`).

    Parameters
    ----------
    data : ReportData

    Returns
    -------
    list of str
    """
    sc = data.scenario
    H = sc.horizon_days if sc is not None else None
    cur = data.currency
    out: list[str] = []
    mk = data.main_market
    t = data.table("comparison")
    R = data.replications
    if mk is None or not len(t):
        if data.bands:
            b = next(iter(data.bands.values()))
            b = b[b["market"] == "(all)"]
            out.append(
                _(
                    "{n} replications of {option}: median daily performance {median} on "
                    "average over the scored days (no options compared; run `crmsim "
                    "compare` or `crmsim report SCENARIO` for a comparison)."
                ).format(n=R, option=_label(data, data.variants[0]), median=pct(b["q50"].mean()))
            )
        return out
    where = (
        _("over all markets")
        if mk == "(all)"
        else _("at market {market} (the one short the most)").format(market=mk)
    )
    fr = t[(t["market"] == mk) & (t["metric"] == "fill_rate")]
    base = float(fr["baseline_mean"].iloc[0]) if len(fr) else math.nan
    horizon = _(" of the {days}-day horizon").format(days=H) if H else ""
    out.append(
        _(
            "With no policy, {share} of demand is served on time {where}, averaged over "
            "{n} replications{horizon} (the same demand and disruptions for every option)."
        ).format(share=pct(base), where=where, n=R, horizon=horizon)
    )
    costs = data.table("costs")
    c = costs[costs["market"] == mk] if len(costs) else costs
    conf = _level(data.confidence)
    if len(c):
        ok = c[c["cost_per_pp"].map(_finite)]
        if len(ok):
            best = ok.iloc[int(np.argmin(ok["cost_per_pp"].to_numpy(dtype=float)))]
            row = fr[fr["option"] == best["option"]].iloc[0]
            cost_text = (
                _("at no realised cost")
                if float(best["cost_mean"]) == 0
                else _(
                    "for {cost} per replication, i.e. {per_pp} per percentage point of "
                    "fill rate"
                ).format(cost=money(best["cost_mean"], cur), per_pp=money(best["cost_per_pp"], cur))
            )
            out.append(
                _(
                    "Most resilience per unit of cost: {option} — it raises the fill rate "
                    "by {change} ({conf} interval) {cost_text}."
                ).format(
                    option=_label(data, best["option"]),
                    change=_interval(row, 100, 1, _("pp")),
                    conf=conf,
                    cost_text=cost_text,
                )
            )
        else:
            out.append(
                _(
                    "No option raises the fill rate {where} by a margin that these {n} "
                    "replications can tell from zero, so no cost per point of resilience "
                    "can be given; see the ranking for the replications needed."
                ).format(where=where, n=R)
            )
        top = c.iloc[int(np.argmax(c["fill_gain_pp"].to_numpy(dtype=float)))]
        if float(top["fill_gain_pp"]) > 0 and (not len(ok) or top["option"] != best["option"]):
            row = fr[fr["option"] == top["option"]].iloc[0]
            out.append(
                _(
                    "Largest gain: {option}, {change} fill rate, for {cost} per replication "
                    "[{low}, {high}]."
                ).format(
                    option=_label(data, top["option"]),
                    change=_interval(row, 100, 1, _("pp")),
                    cost=money(top["cost_mean"], cur),
                    low=money(top["cost_low"], cur),
                    high=money(top["cost_high"], cur),
                )
            )
    rank = data.table("ranking")
    r = rank[rank["market"] == mk] if len(rank) else rank
    if len(r):
        clear = r[r["clearly_best"].astype(bool)]
        possible = r[r["possibly_best"].astype(bool)]
        if len(clear):
            out.append(
                _(
                    "How sure we are: {option} is clearly the best on fill rate at {conf} "
                    "joint confidence (MCB ranking)."
                ).format(option=_label(data, clear["variant"].iloc[0]), conf=conf)
            )
        else:
            names = ", ".join(_label(data, v) for v in possible["variant"])
            out.append(
                _(
                    "How sure we are: these {n} replications cannot tell apart {k} variants "
                    "that could each be the best on fill rate at {conf} joint confidence "
                    "(MCB ranking): {names}."
                ).format(n=R, k=len(possible), conf=conf, names=names)
            )
    for w in data.warnings:
        if w.startswith(f"{mk}:"):
            out.append(_("More replications: {warning}").format(warning=w))
    out.append(
        _(
            "Costs are realised costs per replication over the scored horizon (capital, "
            "operating and stockpile holding), in {currency}."
        ).format(currency=cur)
    )
    return out


def _comparison_rows(data: ReportData) -> list[dict[str, Any]]:
    t = data.table("comparison")
    costs = data.table("costs")
    cur = data.currency
    rows = []
    for (mk, opt), g in t.groupby(["market", "option"], sort=False):
        g = g.set_index("metric")
        c = costs[(costs["market"] == mk) & (costs["option"] == opt)]
        cr = c.iloc[0] if len(c) else None
        unit = str(g["unit"].iloc[0])
        rows.append(
            {
                "market": mk,
                "unit": unit,
                "option": _label(data, str(opt)),
                "id": opt,
                "fill_rate": _interval(g.loc["fill_rate"], 100, 1),
                "nadir": _interval(g.loc["nadir"], 100, 1),
                "unmet": _interval(g.loc["unmet"], 1, 0),
                "loss": _interval(g.loc["resilience_loss"], 1, 1),
                "p_better": pct(g.loc["fill_rate", "p_better"], 0),
                "cost": "–" if cr is None else money(cr["cost_mean"], ""),
                "cost_ci": "" if cr is None else
                f"[{money(cr['cost_low'])}, {money(cr['cost_high'])}]",
                "per_pp": "–" if cr is None else money(cr["cost_per_pp"]),
                "per_unit": "–" if cr is None else money(cr["cost_per_unit_avoided"]),
                "currency": cur,
            }
        )  # fmt: skip
    return rows


def _ranking_rows(data: ReportData) -> list[dict[str, Any]]:
    r = data.table("ranking")
    return [
        {
            "market": row["market"],
            "rank": int(row["rank"]),
            "variant": _label(data, str(row["variant"])),
            "fill": pct(row["mean_fill_rate"]),
            "mcb": f"[{pct(row['mcb_low'], 1, True)}, {pct(row['mcb_high'], 1, True)}]",
            "possibly": _("yes") if bool(row["possibly_best"]) else _("no"),
            "clearly": _("yes") if bool(row["clearly_best"]) else _("no"),
            "share": pct(row["share_best"], 0),
        }
        for _i, row in r.iterrows()
    ]


def _scorecard(data: ReportData) -> dict[str, Any]:
    s = data.table("scorecard")
    if not len(s):
        return {"variants": [], "rows": []}
    variants = list(dict.fromkeys(s["variant"]))
    rows = []
    for group, g in s.groupby("group", sort=False):
        g = g.set_index("variant")
        rows.append(
            {
                "group": _(SCORE_GROUPS.get(str(group), str(group).replace("_", " "))),
                "weight": number(g["weight"].iloc[0], 2),
                "rule": _rule(str(g["rule"].iloc[0])),
                "scores": [number(g.loc[v, "score"], 3) if v in g.index else "–"
                           for v in variants],
            }
        )  # fmt: skip
    return {"variants": [_label(data, v) for v in variants], "rows": rows}


def _crma(data: ReportData) -> dict[str, Any]:
    c = data.table("crma")
    if not len(c):
        return {"variants": [], "rows": []}
    variants = list(dict.fromkeys(c["variant"]))
    rows = []
    for (m, ind), g in c.groupby(["material", "indicator"], sort=False):
        g = g.set_index("variant")
        first = g.iloc[0]
        cells = []
        for v in variants:
            if v not in g.index:
                cells.append("–")
                continue
            r = g.loc[v]
            met = r["met"]
            mark = (
                ""
                if met is None or (isinstance(met, float) and math.isnan(met))
                else (" ✓ " + _("met") if bool(met) else " ✗ " + _("not met"))
            )
            country = r["country"] if isinstance(r["country"], str) and r["country"] else ""
            cells.append(pct(r["share"]) + (f" ({country})" if country else "") + mark)
        rows.append(
            {
                "material": m,
                "unit": first["unit"],
                "consumption": number(first["consumption"], 0),
                "indicator": _(CRMA_INDICATORS.get(str(ind), str(ind).replace("_", " "))),
                "benchmark": ("≥ " if first["rule"] == ">=" else "≤ ")
                + pct(first["benchmark"], 0),
                "cells": cells,
            }
        )  # fmt: skip
    home = str(c["home"].iloc[0]) if "home" in c.columns else ""
    return {"variants": [_label(data, v) for v in variants], "rows": rows, "home": home}


def _unfc(data: ReportData) -> list[dict[str, str]]:
    from crmsim.scenario.unfc import E_CATEGORIES, F_CATEGORIES, G_CATEGORIES

    sc = data.scenario
    if sc is None:
        return []
    rows = []
    for n in sc.nodes:
        code = n.unfc_code
        if code is None:
            continue
        meaning = "; ".join(
            f"{k}: {table.get(k, '')}"
            for k, table in ((code.e, E_CATEGORIES), (code.f, F_CATEGORIES), (code.g, G_CATEGORIES))
        )
        rows.append(
            {
                "node": n.id,
                "role": _(ROLES.get(str(n.role), str(n.role))),
                "country": n.country,
                "code": code.code,
                "class": code.project_class,
                "sub_class": code.sub_class or "–",
                "produces": _("from day 0") if code.on_production else
                (_("after its development") if n.development is not None
                 else _("not in this scenario")),
                "meaning": meaning,
            }
        )  # fmt: skip
    return rows


def _disruption_rows(data: ReportData) -> list[dict[str, str]]:
    sc = data.scenario
    if sc is None:
        return []
    rows = []
    for d in sc.disruptions:
        tgt = d.target
        parts = []
        for name in ("node", "role", "country", "region", "material"):
            vals = getattr(tgt, name)
            if vals:
                parts.append(f"{_(TARGET_FIELDS[name])}: {', '.join(str(v) for v in vals)}")
        if tgt.edge:
            parts.append(_("edges") + ": " + ", ".join(f"{e.from_}→{e.to}" for e in tgt.edge))
        if d.random is not None:
            when = _("random, {rate} per year per target, lasting {duration} days").format(
                rate=number(d.random.rate_per_year, 2), duration=d.random.duration
            )
        else:
            when = _("day {start} for {duration} days").format(
                start=number(d.start, 0), duration=number(d.duration, 0)
            )
        rows.append(
            {
                "id": d.id,
                "label": d.label or "",
                "kind": _(DISRUPTION_KINDS.get(str(d.kind), str(d.kind).replace("_", " "))),
                "target": "; ".join(parts),
                "when": when,
                "severity": (pct(d.severity, 0) if d.severity is not None else "–")
                + ("; " + _("lead times × {factor}").format(factor=number(d.factor, 2))
                   if d.factor is not None else ""),
                "source": d.source or "",
            }
        )
    return rows


def _recovery_rows(data: ReportData) -> list[dict[str, str]]:
    r = data.table("recovery")
    return [
        {
            "disruption": row["disruption"],
            "variant": _label(data, str(row["variant"])),
            "events": str(int(row["events"])),
            "impacted": str(int(row["impacted"])),
            "recovered": pct(row["recovered_share"], 0),
            "median": number(row["median_ttr"], 0) if _finite(row["median_ttr"])
            else f"> {number(row['restricted_to'], 0)} ({_('censored')})",
            "rmean": number(row["restricted_mean_ttr"], 1),
            "tau": number(row["restricted_to"], 0),
        }
        for _i, row in r.iterrows()
    ]  # fmt: skip


def _stress_rows(data: ReportData) -> list[dict[str, str]]:
    s = data.stress
    if s is None:
        return []

    def days(x: Any) -> str:
        if x is not None and _finite(x):
            return number(x, 1)
        return "∞" if x is not None and not pd.isna(x) else "–"

    return [
        {"node": str(r["node"]), "tts_lp": days(r["tts_lp"]), "tts_sim": days(r["tts_sim"]),
         "ttr": days(r["ttr"]), "flagged": _("yes") if bool(r["flagged"]) else _("no")}
        for _i, r in s.iterrows()
    ]  # fmt: skip


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def render_html(data: ReportData, lang: str | None = None) -> str:
    """The report as one HTML document (figures embedded, no external resources).

    Parameters
    ----------
    data : ReportData
    lang : str, optional
        ``"en"``, ``"uk"`` or ``"ru"`` (default: the current language,
        :func:`crmsim.i18n.set_language`): every label, figure and number format.

    Returns
    -------
    str
    """
    from crmsim.i18n import get_language, language, ngettext

    with language(lang):
        return _render(data, get_language(), ngettext)


def _render(data: ReportData, lang: str, ngettext: Any) -> str:
    import jinja2

    from crmsim.report.plots import draw_all

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("crmsim.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=["jinja2.ext.i18n"],
    )
    env.install_gettext_callables(_, ngettext, newstyle=True)  # type: ignore[attr-defined]
    figs = {d.name: {"title": d.title, "png": _png(d.figure)} for d in draw_all(data)}
    sc = data.scenario
    sections = {k: _(v) for k, v in SECTIONS.items()}
    if data.stress is None or not len(data.stress):
        sections.pop("stress")
    context = {
        "lang": lang,
        "data": data,
        "sc": sc,
        "sections": sections,
        "summary": summary_points(data),
        "figures": figs,
        "comparison": _comparison_rows(data) if len(data.table("comparison")) else [],
        "ranking": _ranking_rows(data) if len(data.table("ranking")) else [],
        "scorecard": _scorecard(data),
        "weights": {_(SCORE_GROUPS.get(k, k)): v for k, v in sc.scoring.weights.items()}
        if sc is not None else {},
        "crma": _crma(data),
        "unfc": _unfc(data),
        "disruptions": _disruption_rows(data),
        "recovery": _recovery_rows(data) if len(data.table("recovery")) else [],
        "stress": _stress_rows(data),
        "glossary": {_(k): _(v) for k, v in GLOSSARY.items()},
        "generated": format_datetime(datetime.now(UTC), "medium") + " UTC",
        "conf": _level(data.confidence),
        "number": number,
        "roles": {k: _(v) for k, v in ROLES.items()},
    }  # fmt: skip
    return env.get_template("report.html.j2").render(**context)


def write_html(data: ReportData, path: str | Path, lang: str | None = None) -> Path:
    """Write the report to ``path`` (UTF-8) in ``lang`` (default: the current language)."""
    path = Path(path)
    path.write_text(render_html(data, lang), encoding="utf-8")
    return path
