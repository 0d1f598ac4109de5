"""Figures, a one-file HTML report and a spreadsheet of a crmsim experiment.

* :mod:`crmsim.report.figures` — one function per figure, each returning a
  :class:`matplotlib.figure.Figure` (PNG and SVG with :func:`~crmsim.report.figures.save`);
* :mod:`crmsim.report.data` — the tables a report reads, from a :class:`Comparison`, a
  scenario file or a results folder of ``crmsim run --out`` / ``crmsim compare --out``;
* :mod:`crmsim.report.html` — the self-contained HTML report (jinja2, figures embedded);
* :mod:`crmsim.report.xlsx` — the same tables as an Excel workbook (openpyxl).
"""

from __future__ import annotations

from crmsim.report.data import ReportData, from_comparison, from_folder, from_scenario
from crmsim.report.html import render_html, write_html
from crmsim.report.xlsx import write_xlsx

__all__ = [
    "ReportData",
    "from_comparison",
    "from_folder",
    "from_scenario",
    "render_html",
    "write_html",
    "write_xlsx",
]
