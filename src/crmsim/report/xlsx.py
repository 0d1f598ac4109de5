"""The report's tables as an Excel workbook (openpyxl), for readers who work in spreadsheets.

Sheets: ``summary`` (the plain-language summary and what produced the numbers),
``comparison``, ``costs``, ``ranking``, ``scorecard``, ``crma``, ``recovery``, ``unfc`` and
``data_dictionary`` (every column of every sheet: meaning and unit), plus ``stress`` when
there are stress-test results. Money columns are formatted with thousands separators
(``#,##0``) and fractions as percentages, so no cell shows scientific notation.

In English the sheets and columns are named as in the results files (``diff_mean``), so
the workbook and a ``crmsim compare --out`` folder read alike. In Ukrainian or Russian
(``lang``) the sheet names, column headers, the summary's items, the data dictionary's
meanings and units are in that language, and the dictionary has one more column: each
column's name in the results files. Ids, units of the scenario and symbols stay as they
are (``market_usa``, ``t``, ``USD``, ``HHI``).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from crmsim.i18n import N_, _, get_language, language
from crmsim.report.data import ReportData

__all__ = ["COLUMN_LABELS", "SHEETS", "SHEET_TITLES", "sheet_name", "write_xlsx"]

#: Sheets of the workbook, in order (``stress`` only with stress-test results).
SHEETS = (
    "summary",
    "comparison",
    "costs",
    "ranking",
    "scorecard",
    "crma",
    "recovery",
    "unfc",
    "stress",
    "data_dictionary",
)

#: What a sheet is called in a language other than English (at most 31 characters).
SHEET_TITLES: dict[str, str] = {
    "summary": N_("summary"),
    "comparison": N_("comparison"),
    "costs": N_("costs"),
    "ranking": N_("ranking"),
    "scorecard": N_("scorecard"),
    "crma": N_("CRMA benchmarks"),
    "recovery": N_("recovery"),
    "unfc": N_("UNFC resources"),
    "stress": N_("stress test"),
    "data_dictionary": N_("data dictionary"),
}

#: A column's header in a language other than English (English: the column's name).
COLUMN_LABELS: dict[str, str] = {
    "item": N_("item"),
    "value": N_("value"),
    "market": N_("market"),
    "material": N_("material"),
    "unit": N_("unit"),
    "option": N_("option"),
    "metric": N_("metric"),
    "better": N_("better when"),
    "baseline_mean": N_("baseline mean"),
    "option_mean": N_("option mean"),
    "diff_mean": N_("mean difference"),
    "diff_low": N_("difference, lower limit"),
    "diff_high": N_("difference, upper limit"),
    "diff_sd": N_("difference, standard deviation"),
    "p_better": N_("share better"),
    "p_tie": N_("share tied"),
    "p_worse": N_("share worse"),
    "n": N_("replications"),
    "currency": N_("currency"),
    "cost_mean": N_("mean cost"),
    "cost_low": N_("cost, lower limit"),
    "cost_high": N_("cost, upper limit"),
    "fill_gain_pp": N_("fill-rate gain"),
    "cost_per_pp": N_("cost per percentage point"),
    "shortage_avoided": N_("shortage avoided"),
    "cost_per_unit_avoided": N_("cost per unit of shortage avoided"),
    "note": N_("note"),
    "rank": N_("rank"),
    "variant": N_("variant"),
    "mean_fill_rate": N_("mean fill rate"),
    "mcb_low": N_("MCB lower limit"),
    "mcb_high": N_("MCB upper limit"),
    "possibly_best": N_("possibly best"),
    "clearly_best": N_("clearly best"),
    "share_best": N_("share of replications best"),
    "confidence": N_("confidence level"),
    "group": N_("group"),
    "score": N_("score"),
    "weight": N_("weight"),
    "weighted": N_("weighted score"),
    "rule": N_("rule"),
    "replications": N_("replications"),
    "home": N_("home region"),
    "consumption": N_("consumption"),
    "indicator": N_("indicator"),
    "share": N_("share"),
    "country": N_("country"),
    "benchmark": N_("benchmark"),
    "met": N_("benchmark met"),
    "disruption": N_("disruption"),
    "events": N_("events"),
    "impacted": N_("impacted"),
    "recovered_share": N_("share recovered"),
    "median_ttr": N_("median time to recover"),
    "restricted_mean_ttr": N_("restricted mean time to recover"),
    "restricted_to": N_("restricted to τ"),
    "node": N_("node"),
    "role": N_("role"),
    "code": N_("code"),
    "class": N_("class"),
    "sub_class": N_("sub-class"),
    "produces": N_("produces"),
    "meaning": N_("meaning"),
    "tts_lp": N_("time to survive, linear programme"),
    "tts_sim": N_("time to survive, simulated"),
    "tts_upper_bound_paper": N_("time to survive, upper bound of the paper"),
    "ttr": N_("time to recover"),
    "flagged": N_("flagged (TTS < TTR)"),
    "exposure": N_("exposure"),
    "sheet": N_("sheet"),
    "column": N_("column"),
    "name_in_files": N_("name in the results files"),
}

#: Units of the data dictionary in other languages (``currency`` is the scenario's).
_UNITS: dict[str, str] = {
    "fraction 0–1": N_("fraction 0–1"),
    "fraction": N_("fraction"),
    "days": N_("days"),
    "day": N_("day"),
    "count": N_("count"),
    "bool": N_("yes/no"),
    "percentage points": N_("percentage points"),
    "metric": N_("the metric's unit"),
    "unit": N_("the market's unit"),
    "market-days": N_("market-days"),
}

#: The summary sheet's items.
_ITEMS: dict[str, str] = {
    "scenario": N_("scenario"),
    "scenario file": N_("scenario file"),
    "scenario SHA-256": N_("scenario SHA-256"),
    "crmsim version": N_("crmsim version"),
    "seed": N_("seed"),
    "replications per option": N_("replications per option"),
    "currency": N_("currency"),
    "command to reproduce": N_("command to reproduce"),
}

# The meanings of the data dictionary (crmsim.experiment.compare.DATA_DICTIONARY) of the
# columns in the workbook, marked here so that the catalogues hold their translations;
# a test fails when one of them changes there and is no longer translated.
_MEANINGS = (
    N_("market node id or '(all)'"),
    N_("material the market demands"),
    N_("unit of the market's material"),
    N_("the policy combination compared with the baseline"),
    N_("fill_rate, unmet, nadir or resilience_loss"),
    N_("direction in which the metric improves: higher or lower"),
    N_("mean of the metric over replications, baseline"),
    N_("mean of the metric over replications, option"),
    N_("mean paired difference option − baseline"),
    N_("lower limit of the t-based interval of diff_mean"),
    N_("upper limit of the t-based interval of diff_mean"),
    N_("standard deviation of the paired differences"),
    N_("share of replications in which the option is better"),
    N_("share of replications with exactly the same value"),
    N_("share of replications in which the option is worse"),
    N_("replications"),
    N_("the policy combination"),
    N_("currency of the costs (the scenario's `currency`)"),
    N_("mean realised cost per replication, scored horizon"),
    N_("lower limit of its t-based interval"),
    N_("upper limit of its t-based interval"),
    N_("mean fill-rate gain"),
    N_("cost_mean ÷ fill_gain_pp; NaN unless the gain is significant"),
    N_("mean reduction of unmet demand"),
    N_("cost_mean ÷ shortage_avoided; NaN unless the reduction is significant"),
    N_("why a ratio is undefined"),
    N_("1 = highest mean fill rate"),
    N_("baseline or policy combination"),
    N_("mean fill rate over replications"),
    N_("lower MCB limit of fill rate − best of the others"),
    N_("upper MCB limit of fill rate − best of the others"),
    N_("no other variant is clearly better (MCB)"),
    N_("better than every other variant (MCB)"),
    N_("share of replications with the highest fill rate (ties count)"),
    N_("joint confidence level of the MCB intervals"),
    N_("scorecard group, or total"),
    N_("normalised score (1 = best)"),
    N_("weight from scoring.weights (total: sum of defined groups' weights)"),
    N_("score × weight"),
    N_("how the score is normalised"),
    N_("replications the score averages"),
    N_("material"),
    N_("unit of the material"),
    N_("the buyer region's countries"),
    N_("home consumption per replication, scored horizon"),
    N_("extraction, processing, recycling or single_third_country"),
    N_("share of home consumption (NaN when undefined)"),
    N_("for single_third_country: the largest third-country supplier"),
    N_("CRMA 2030 benchmark (Regulation (EU) 2024/1252, Art. 5)"),
    N_(">= (at least) or <= (at most)"),
    N_("whether the benchmark is met (empty when undefined)"),
    N_("disruption id in the scenario"),
    N_("realised events over all replications"),
    N_("events that lowered overall performance"),
    N_("share of events recovered by the horizon"),
    N_("Kaplan–Meier median TTR, 0 if not impacted (empty: > horizon)"),
    N_("Kaplan–Meier mean restricted to restricted_to"),
    N_("longest follow-up τ: largest TTR or censoring time"),
)

_MONEY = {"cost_mean", "cost_low", "cost_high", "cost_per_pp", "cost_per_unit_avoided"}
_FRACTION = {"fill_rate", "mean_fill_rate", "share", "p_better", "p_tie", "p_worse",
             "share_best", "recovered_share", "benchmark", "score"}  # fmt: skip


def sheet_name(sheet: str, lang: str | None = None) -> str:
    """The name of a sheet of the workbook in a language (English: the sheet's id).

    Examples
    --------
    >>> sheet_name("data_dictionary"), sheet_name("data_dictionary", "uk")
    ('data_dictionary', 'словник даних')
    """
    with language(lang) as code:
        return sheet if code == "en" else _(SHEET_TITLES[sheet])[:31]


def _header(column: str) -> str:
    if get_language() == "en" or column not in COLUMN_LABELS:
        return column
    return _(COLUMN_LABELS[column])


def _sheets(data: ReportData) -> dict[str, pd.DataFrame]:
    from crmsim.report.html import _unfc, summary_points

    manifest = [
        ("scenario", data.scenario_name),
        ("scenario file", data.scenario_file or ""),
        ("scenario SHA-256", data.scenario_sha256 or ""),
        ("crmsim version", data.version),
        ("seed", str(data.seed)),
        ("replications per option", str(data.replications)),
        ("currency", data.currency),
        ("command to reproduce", data.command),
    ]
    en = get_language() == "en"
    item = "summary {i}" if en else _("summary {i}")
    rows = [{"item": item.format(i=i + 1), "value": s} for i, s in enumerate(summary_points(data))]
    rows += [{"item": k if en else _(_ITEMS[k]), "value": v} for k, v in manifest]
    summary = pd.DataFrame(rows)
    sheets = {"summary": summary}
    for name in ("comparison", "costs", "ranking", "scorecard", "crma", "recovery"):
        sheets[name] = data.table(name)
    sheets["unfc"] = pd.DataFrame(
        _unfc(data),
        columns=["node", "role", "country", "code", "class", "sub_class", "produces", "meaning"],
    )
    if data.stress is not None and len(data.stress):
        sheets["stress"] = data.stress
    sheets["data_dictionary"] = _dictionary(data, sheets)
    return sheets


_EXTRA: dict[str, dict[str, tuple[str, str]]] = {
    "summary": {
        "item": (N_("what the row is"), ""),
        "value": (N_("its value, in plain language"), ""),
    },
    "unfc": {
        "node": (N_("node id"), ""),
        "role": (N_("role of the node"), ""),
        "country": (N_("ISO 3166-1 alpha-3 country"), ""),
        "code": (N_("UNFC-2019 code (E F G)"), ""),
        "class": (N_("UNFC-2019 project class"), ""),
        "sub_class": (N_("UNFC-2019 sub-class where the code determines one"), ""),
        "produces": (N_("when the resource produces in the scenario"), ""),
        "meaning": (N_("what each of the E, F and G categories means"), ""),
    },
    "stress": {
        "node": (N_("node whose loss is simulated"), ""),
        "role": (N_("role of the node"), ""),
        "country": (N_("ISO 3166-1 alpha-3 country"), ""),
        "tts_lp": (N_("time to survive its loss, linear programme"), "days"),
        "tts_sim": (N_("time to survive its loss, simulated"), "days"),
        "tts_upper_bound_paper": (
            N_("time to survive by the static LP of Simchi-Levi et al. (an upper bound)"),
            "days",
        ),
        "ttr": (N_("time to recover the node"), "days"),
        "flagged": (N_("TTR > TTS: the network cannot bridge the loss"), "bool"),
        "exposure": (N_("demand lost after an outage of length TTR"), "market-days"),
        "rank": (N_("rank by exposure (1 = most exposed)"), ""),
    },
}


def _unit(unit: str, currency: str) -> str:
    """A unit of the data dictionary in the current language, the currency filled in."""
    en = get_language() == "en"
    if unit == "currency":
        return currency
    if unit.startswith("currency/"):
        rest = unit[len("currency/") :]
        rest = rest if en else {"pp": _("pp"), "unit": _("the market's unit")}.get(rest, rest)
        return f"{currency}/{rest}"
    return unit if en or unit not in _UNITS else _(_UNITS[unit])


def _dictionary(data: ReportData, sheets: dict[str, pd.DataFrame]) -> pd.DataFrame:
    from crmsim.experiment.compare import DATA_DICTIONARY

    known = {**DATA_DICTIONARY, **_EXTRA}
    en = get_language() == "en"
    rows = []
    for sheet, df in sheets.items():
        for col in df.columns:
            meaning, unit = known.get(sheet, {}).get(str(col), ("", ""))
            row = {
                "sheet": sheet_name(sheet),
                "column": _header(str(col)),
                "meaning": _(meaning) if meaning and not en else meaning,
                "unit": _unit(unit, data.currency),
            }
            if not en:
                row["name_in_files"] = str(col)
            rows.append(row)
    columns = ["sheet", "column", "meaning", "unit"] + ([] if en else ["name_in_files"])
    return pd.DataFrame(rows, columns=columns)


def write_xlsx(data: ReportData, path: str | Path, lang: str | None = None) -> Path:
    """Write the workbook; returns its path.

    Parameters
    ----------
    data : ReportData
    path : str or Path
        The ``.xlsx`` file.
    lang : str, optional
        ``"en"``, ``"uk"`` or ``"ru"`` (default: the current language): the sheet names,
        column headers, summary and data dictionary in that language.

    Returns
    -------
    Path
    """
    from openpyxl.utils import get_column_letter

    path = Path(path)
    with language(lang):
        sheets = _sheets(data)
        names = {sheet: sheet_name(sheet) for sheet in sheets}
        headers = {sheet: [_header(str(c)) for c in df.columns] for sheet, df in sheets.items()}
    with pd.ExcelWriter(path, engine="openpyxl") as xw:
        for sheet, df in sheets.items():
            name = names[sheet]
            df.set_axis(headers[sheet], axis=1).to_excel(xw, sheet_name=name, index=False)
            ws = xw.sheets[name]
            ws.freeze_panes = "A2"
            for j, (col, head) in enumerate(zip(df.columns, headers[sheet], strict=True), 1):
                letter = get_column_letter(j)
                fmt = "#,##0" if col in _MONEY else "0.0%" if col in _FRACTION else None
                if fmt:
                    for cell in ws[letter][1:]:
                        cell.number_format = fmt
                width = max([len(head)] + [len(str(v)) for v in df[col].head(200)])
                ws.column_dimensions[letter].width = min(80, max(10, width + 2))
    return path
