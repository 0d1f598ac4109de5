"""Command-line tables at 80 columns: long names wrap whole, figures are never split."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from rich.console import Console
from rich.table import Table

from cli_helpers import SerialCliRunner
from crmsim.cli import cli
from crmsim.cli.tables import _wrap, fit, table_console

ROOT = Path(__file__).resolve().parents[1]

#: Longer than any column an 80-column table can give it: it must fold, not be cut.
LONG_EVENT = "chinese_refinery_shutdown_under_the_new_export_licensing_regime_of_2026"
LONG_OPTION = "strategic_stockpile_of_thirty_days_of_cover_for_eu_industry"


@pytest.fixture(scope="module")
def long_names(tmp_path_factory) -> Path:
    text = (ROOT / "scenarios" / "tutorial.yaml").read_text(encoding="utf-8")
    assert "refinery_chn_shutdown" in text
    assert "stockpile_30d" in text
    text = text.replace("refinery_chn_shutdown", LONG_EVENT).replace("stockpile_30d", LONG_OPTION)
    path = tmp_path_factory.mktemp("long") / "long_names.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _invoke(args: list[str], width: int = 80):
    res = SerialCliRunner().invoke(cli, args, env={"COLUMNS": str(width)},
                                   catch_exceptions=False)  # fmt: skip
    assert res.exit_code == 0, res.output
    return res.output


def _first_column(output: str, title: str) -> str:
    """The first column of the table under ``title``, its lines joined (a folded cell
    joins back into the whole text)."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if title in line)
    body = next(i for i in range(start, len(lines)) if lines[i].startswith("┡"))
    end = next(i for i in range(body, len(lines)) if lines[i].startswith("└"))
    return "".join(line.split("│")[1].strip() for line in lines[body + 1 : end])


@pytest.mark.parametrize("lang", ["en", "uk"])
def test_run_disruption_table_keeps_a_long_event_name_whole_at_80_columns(long_names, lang):
    out = _invoke(["run", str(long_names), "-r", "2", "--lang", lang])
    assert not re.search(r"\S…", out)  # rich's mark of a cut cell ("a … b" is an interval)
    tables = [line for line in out.splitlines() if line[:1] in "┏┃┡│└"]
    assert tables
    assert max(len(line) for line in tables) <= 80
    title = "disruptions —" if lang == "en" else "збої —"
    cells = _first_column(out, title)
    assert LONG_EVENT in cells


def test_compare_table_keeps_a_long_option_name_whole_at_80_columns(long_names):
    out = _invoke(["compare", str(long_names), "-r", "3", "--lang", "uk"])
    assert not re.search(r"\S…", out)  # rich's mark of a cut cell ("a … b" is an interval)
    tables = [line for line in out.splitlines() if line[:1] in "┏┃┡│└"]
    assert max(len(line) for line in tables) <= 80
    assert _first_column(out, "eu_industry (t) —") == LONG_OPTION
    # Figures stay whole: a sum of money keeps its no-break space, never split over lines.
    money = [line.split("│")[7].strip() for line in out.splitlines()
             if line.startswith("│")][:1]  # fmt: skip
    assert re.fullmatch(r"\d{1,3}(\u00a0\d{3})*", money[0]), money


def test_a_wide_terminal_keeps_one_line_per_row(long_names):
    out = _invoke(["run", str(long_names), "-r", "2"], width=250)
    row = next(line for line in out.splitlines() if LONG_EVENT in line)
    assert row.startswith("│ " + LONG_EVENT)


def test_figures_break_only_at_ordinary_spaces():
    nb = "\u00a0"
    assert _wrap(f"932 [784, 1{nb}081]", 11) == f"932 [784,\n1{nb}081]"
    assert _wrap("0,5 [0,1, 0,9]", 20) == "0,5 [0,1, 0,9]"
    # In a table: rich alone would break "1 081" at its no-break space.
    for width in range(30, 60):
        t = Table("name")
        t.add_column("unmet (t)", justify="right")
        t.add_row("india_paracetamol_api_restriction", f"932 [784, 1{nb}081]")
        t.add_row("hubei", f"12{nb}345 [12{nb}001, 12{nb}689]")
        console = Console(width=width)
        with console.capture() as cap:
            console.print(fit(t, console))
        text = cap.get()
        for figure in (f"1{nb}081]", f"12{nb}345", f"12{nb}001,"):
            assert figure in text, (width, figure)
        assert max(len(line) for line in text.splitlines()) <= width


def test_fit_leaves_a_table_that_fits_alone():
    t = Table("a", "b")
    t.add_row("x", "y")
    console = Console(width=80)
    fit(t, console)
    assert [c.width for c in t.columns] == [None, None]


def test_table_console_uses_the_terminal_width_when_known(monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    assert table_console(150).width == 80
    monkeypatch.delenv("COLUMNS")
    assert table_console(150).width == 150  # not a terminal: a file keeps one line a row


def test_stress_table_keeps_node_ids_whole_at_80_columns():
    """The Tajikistan pilot's ids were cut (``battery_maker…``) in a 140-column layout."""
    nodes = ("battery_maker_usa", "deposit_konchoch", "recycler_usa")
    out = _invoke(["stress", str(ROOT / "scenarios" / "tajikistan_antimony.yaml"),
                   "--nodes", ",".join(nodes), "--lang", "uk"])  # fmt: skip
    assert not re.search(r"\S…", out)
    cells = _first_column(out, "Стрес-тест")
    for node in nodes:
        assert node in cells, node
