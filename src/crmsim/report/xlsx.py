"""The report's tables as an Excel workbook (openpyxl), for readers who work in spreadsheets.

Sheets: ``summary`` (the plain-language summary and what produced the numbers),
``comparison``, ``costs``, ``ranking``, ``scorecard``, ``crma``, ``recovery``, ``unfc`` and
``data_dictionary`` (every column of every sheet: meaning and unit), plus ``stress`` when
there are stress-test results. Money columns are formatted with thousands separators
(``#,##0``) and fractions as percentages, so no cell shows scientific notation.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from crmsim.report.data import ReportData

__all__ = ["SHEETS", "write_xlsx"]

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

_MONEY = {"cost_mean", "cost_low", "cost_high", "cost_per_pp", "cost_per_unit_avoided"}
_FRACTION = {"fill_rate", "mean_fill_rate", "share", "p_better", "p_tie", "p_worse",
             "share_best", "recovered_share", "benchmark", "score"}  # fmt: skip


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
    summary = pd.DataFrame(
        [{"item": f"summary {i + 1}", "value": s} for i, s in enumerate(summary_points(data))]
        + [{"item": k, "value": v} for k, v in manifest]
    )
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
        "item": ("what the row is", ""),
        "value": ("its value, in plain language", ""),
    },
    "unfc": {
        "node": ("node id", ""),
        "role": ("role of the node", ""),
        "country": ("ISO 3166-1 alpha-3 country", ""),
        "code": ("UNFC-2019 code (E F G)", ""),
        "class": ("UNFC-2019 project class", ""),
        "sub_class": ("UNFC-2019 sub-class where the code determines one", ""),
        "produces": ("when the resource produces in the scenario", ""),
        "meaning": ("what each of the E, F and G categories means", ""),
    },
    "stress": {
        "node": ("node whose loss is simulated", ""),
        "tts_lp": ("time to survive its loss, linear programme", "days"),
        "tts_sim": ("time to survive its loss, simulated", "days"),
        "ttr": ("time to recover the node", "days"),
        "flagged": ("TTR > TTS: the network cannot bridge the loss", "bool"),
    },
}


def _dictionary(data: ReportData, sheets: dict[str, pd.DataFrame]) -> pd.DataFrame:
    from crmsim.experiment.compare import DATA_DICTIONARY

    known = {**DATA_DICTIONARY, **_EXTRA}
    rows = []
    for sheet, df in sheets.items():
        for col in df.columns:
            meaning, unit = known.get(sheet, {}).get(str(col), ("", ""))
            if unit == "currency":
                unit = data.currency
            elif unit.startswith("currency/"):
                unit = data.currency + unit[len("currency") :]
            rows.append({"sheet": sheet, "column": str(col), "meaning": meaning, "unit": unit})
    return pd.DataFrame(rows, columns=["sheet", "column", "meaning", "unit"])


def write_xlsx(data: ReportData, path: str | Path) -> Path:
    """Write the workbook; returns its path.

    Parameters
    ----------
    data : ReportData
    path : str or Path
        The ``.xlsx`` file.

    Returns
    -------
    Path
    """
    from openpyxl.utils import get_column_letter

    path = Path(path)
    sheets = _sheets(data)
    with pd.ExcelWriter(path, engine="openpyxl") as xw:
        for name, df in sheets.items():
            df.to_excel(xw, sheet_name=name, index=False)
            ws = xw.sheets[name]
            ws.freeze_panes = "A2"
            for j, col in enumerate(df.columns, start=1):
                letter = get_column_letter(j)
                fmt = "#,##0" if col in _MONEY else "0.0%" if col in _FRACTION else None
                if fmt:
                    for cell in ws[letter][1:]:
                        cell.number_format = fmt
                width = max([len(str(col))] + [len(str(v)) for v in df[col].head(200)])
                ws.column_dimensions[letter].width = min(80, max(10, width + 2))
    return path
