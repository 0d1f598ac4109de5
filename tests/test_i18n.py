"""Languages: every label has a translation, the catalogue is up to date, nothing is left in
English in a Ukrainian or Russian report, numbers follow the language."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from click.testing import CliRunner

import crmsim
from crmsim import i18n
from crmsim.cli import cli
from crmsim.i18n import _, format_money, format_number, format_percent, language

ROOT = Path(__file__).resolve().parents[1]
LOCALE = ROOT / "src" / "crmsim" / "locale"
PLACEHOLDER = re.compile(r"\{[a-z_]+\}|%\([a-z_]+\)s|%%")


def _catalog(lang: str):
    with (LOCALE / lang / "LC_MESSAGES" / "crmsim.po").open("rb") as fh:
        return read_po(fh, locale=lang)


def _ids(catalog) -> set[object]:
    return {m.id for m in catalog if m.id}


# --------------------------------------------------------------------------- catalogues


def test_template_is_up_to_date_with_the_source():
    """Re-extract from src/crmsim and the notebooks: the same messages as crmsim.pot."""
    with (LOCALE / "crmsim.pot").open("rb") as fh:
        pot = read_po(fh)
    fresh = i18n.extract_catalog(ROOT)
    missing = _ids(fresh) - _ids(pot)
    stale = _ids(pot) - _ids(fresh)
    hint = "crmsim.pot is stale: run `python -m crmsim.i18n update`"
    assert not missing, f"{hint}; new messages {sorted(map(str, missing))}"
    assert not stale, f"{hint}; messages gone {sorted(map(str, stale))}"


@pytest.mark.parametrize("lang", ["uk", "ru"])
def test_every_message_is_translated_and_keeps_its_placeholders(lang):
    with (LOCALE / "crmsim.pot").open("rb") as fh:
        pot = read_po(fh)
    cat = _catalog(lang)
    assert _ids(cat) == _ids(pot), "the .po does not hold the template's messages"
    untranslated, fuzzy, broken = [], [], []
    for m in cat:
        if not m.id:
            continue
        forms = m.string if isinstance(m.string, tuple) else (m.string,)
        if not all(f and f.strip() for f in forms) or len(forms) != (3 if m.pluralizable else 1):
            untranslated.append(m.id)
        if m.fuzzy:
            fuzzy.append(m.id)
        source = m.id[-1] if isinstance(m.id, tuple) else m.id
        want = sorted(PLACEHOLDER.findall(source))
        if any(sorted(PLACEHOLDER.findall(f)) != want for f in forms):
            broken.append(m.id)
    assert untranslated == [], f"{lang}: no translation for {untranslated}"
    assert fuzzy == [], f"{lang}: fuzzy (unchecked) translations {fuzzy}"
    assert broken == [], f"{lang}: placeholders differ from the English in {broken}"


_SAME_IN_EVERY_LANGUAGE = {"EOL-RIR", "HHI", "TTR = TTS", "TTS < TTR"}


@pytest.mark.parametrize("lang", ["uk", "ru"])
def test_no_translation_is_just_the_english(lang):
    same = [m.id for m in _catalog(lang) if m.id and isinstance(m.id, str) and m.string == m.id]
    assert sorted(same) == sorted(_SAME_IN_EVERY_LANGUAGE)


def test_a_translation_is_used_and_english_is_the_fallback():
    with language("uk"):
        assert _("Summary") == "Підсумок"
        assert _("not a message of crmsim") == "not a message of crmsim"
    with language("ru"):
        assert _("Summary") == "Резюме"
    assert _("Summary") == "Summary"


def test_set_language_and_language_block():
    assert crmsim.get_language() == "en"
    try:
        crmsim.set_language("uk_UA")
        assert crmsim.get_language() == "uk"
        with language("ru"):
            assert crmsim.get_language() == "ru"
        assert crmsim.get_language() == "uk"
    finally:
        crmsim.set_language("en")
    with pytest.raises(ValueError, match="valid: en, uk, ru"):
        crmsim.set_language("de")


# --------------------------------------------------------------------------- numbers


def test_numbers_follow_the_language():
    nb = "\u00a0"  # CLDR: a no-break space between thousands in Ukrainian and Russian
    assert format_number(1234567.891, 2) == "1,234,567.89"
    assert format_money(21_820_000.4, "USD") == "21,820,000 USD"
    assert format_percent(0.021, signed=True) == "+2.1 pp"
    for lang, pp in (("uk", "в. п."), ("ru", "п. п.")):
        with language(lang):
            assert format_number(1234567.891, 2) == f"1{nb}234{nb}567,89"
            assert format_number(-0.5, 1) == "-0,5"
            assert format_number(-0.04, 1, signed=True) == "0,0"
            assert format_money(21_820_000.4, "USD") == f"21{nb}820{nb}000 USD"
            assert format_percent(0.9512) == "95,1 %"
            assert format_percent(0.021, signed=True) == f"+2,1 {pp}"


def test_dates_follow_the_language():
    from datetime import date

    d = date(2024, 9, 15)
    assert i18n.format_date(d) == "September 15, 2024"
    with language("uk"):
        assert i18n.format_date(d) == "15 вересня 2024\u202fр."  # CLDR: narrow no-break space
    with language("ru"):
        assert i18n.format_date(d) == "15 сентября 2024\u202fг."


# --------------------------------------------------------------------------- the report


class _Labels(HTMLParser):
    """The texts of headings, table headers, captions, glossary terms and figure titles."""

    TAGS = ("h1", "h2", "h3", "th", "caption", "dt", "a", "figcaption")

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.texts: list[str] = []
        self.alts: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.alts.append(dict(attrs).get("alt") or "")
        elif tag in self.TAGS:
            self.stack.append(tag)
            self.texts.append("")

    def handle_endtag(self, tag):
        if self.stack and tag == self.stack[-1]:
            self.stack.pop()

    def handle_data(self, data):
        if self.stack:
            self.texts[-1] += data


def _labels(html: str) -> tuple[list[str], list[str]]:
    p = _Labels()
    p.feed(html)
    return [t.strip() for t in p.texts if t.strip()], p.alts


@pytest.fixture(scope="module")
def report_data():
    from crmsim.report.data import from_scenario

    return from_scenario(ROOT / "scenarios" / "tajikistan_antimony.yaml", replications=3,
                         seed=5, flow_replications=1)  # fmt: skip


@pytest.fixture(scope="module")
def english_html(report_data) -> str:
    from crmsim.report.html import render_html

    return render_html(report_data, "en")


def _data_words(data) -> set[str]:
    """Texts that come from the scenario, not from crmsim: names, ids, labels."""
    sc = data.scenario
    words = {sc.name, sc.currency, "(all)", "τ", "id", *_SAME_IN_EVERY_LANGUAGE}
    words |= set(data.variants) | set(data.labels.values())
    words |= {n.id for n in sc.nodes} | {m.id for m in sc.materials}
    return words


@pytest.mark.parametrize("lang", ["uk", "ru"])
def test_report_has_no_english_label_left(report_data, english_html, lang):
    from crmsim.report.html import render_html

    english, en_alts = _labels(english_html)
    html = render_html(report_data, lang)
    assert f'<html lang="{lang}">' in html
    texts, alts = _labels(html)
    assert len(texts) == len(english)
    assert len(alts) == len(en_alts)
    data = _data_words(report_data)
    left = sorted({t for t in texts if t in set(english) and t not in data})
    assert left == [], f"{lang}: labels still in English: {left}"
    # Every figure title (the images' alt text) is translated too.
    assert not set(alts) & set(en_alts)
    # The summary is in the language, with its number form.
    assert re.search(r"\d,\d %", html)


def test_english_report_is_unchanged_by_the_catalogues(english_html):
    from crmsim.report.html import SECTIONS

    texts, _alts = _labels(english_html)
    for title in SECTIONS.values():
        if title != "Stress test":
            assert title in texts


# --------------------------------------------------------------------------- figures


def test_figures_speak_the_language():
    import pandas as pd

    from crmsim.report import figures

    bands = {"baseline": pd.DataFrame({"day": [0, 1], "market": "(all)", "q05": 0.9,
                                       "q50": 1.0, "q95": 1.0})}  # fmt: skip
    with language("uk"):
        fig = figures.performance_bands(bands)
        assert fig.axes[0].get_xlabel() == "оцінюваний день (днів від початку горизонту)"
        assert fig.axes[0].get_title() == "Денний рівень обслуговування, усі ринки"
        tri = figures.resilience_triangle([1.0, 0.5, 1.0])
        text = "\n".join(t.get_text() for t in tri.axes[0].texts)
        assert "надир: 50,0 % у день 1" in text
        assert "втрата стійкості: 0,5 днів втраченого попиту" in text
    fig = figures.performance_bands(bands)
    assert fig.axes[0].get_xlabel() == "scored day (days since the start of the horizon)"


def test_figure_ticks_have_the_languages_decimal_sign():
    import pandas as pd
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from crmsim.report import figures

    t = pd.DataFrame([{"market": "m", "unit": "t", "option": "x", "metric": "fill_rate",
                       "better": "higher", "baseline_mean": 0.9, "diff_mean": 0.004,
                       "diff_low": 0.001, "diff_high": 0.007}])  # fmt: skip

    def ticks(lang: str) -> list[str]:
        with language(lang):
            fig = figures.forest(t)
        FigureCanvasAgg(fig).draw()
        return [x.get_text() for x in fig.axes[0].get_xticklabels()]

    en, uk = ticks("en"), ticks("uk")
    assert "0.5" in en
    assert "0,5" in uk
    assert [x.replace(".", ",") for x in en] == uk


# --------------------------------------------------------------------------- command line


def invoke(args: list[str]):
    return CliRunner().invoke(cli, args, catch_exceptions=False)


def test_run_tables_in_ukrainian_and_russian():
    path = str(ROOT / "scenarios" / "tutorial.yaml")
    res = invoke(["run", path, "-r", "2", "--lang", "uk"])
    assert res.exit_code == 0, res.output
    assert "2 реплікації, зерно" in res.output
    assert "рівень виконання замовлень (загальний, 0–1)" in res.output
    assert re.search(r"0,\d{2,4}", res.output)  # decimal commas
    assert "fill rate" not in res.output
    res = invoke(["run", path, "-r", "2", "--lang", "ru"])
    assert res.exit_code == 0, res.output
    assert "уровень выполнения заказов (общий, 0–1)" in res.output
    assert crmsim.get_language() == "en"  # --lang does not leak


def test_bad_lang_is_a_clear_error():
    res = CliRunner().invoke(cli, ["run", "x.yaml", "--lang", "de"])
    assert res.exit_code == 2
    assert "'de' is not one of 'en', 'uk', 'ru'" in res.output


def test_stress_and_show_tables_translate():
    path = str(ROOT / "scenarios" / "tutorial.yaml")
    res = invoke(["stress", path, "--lang", "ru"])
    assert res.exit_code == 0, res.output
    assert "Стресс-тест" in res.output
    assert "узел" in res.output
    res = invoke(["show", path, "--lang", "uk"])
    assert res.exit_code == 0, res.output
    assert "Постачання за країнами" in res.output
    assert "Supply by country" not in res.output


# --------------------------------------------------------------------------- notebooks


@pytest.mark.parametrize("lang", ["uk", "ru"])
def test_translated_notebooks_have_every_heading_translated(lang, tmp_path):
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        original = json.loads(path.read_text(encoding="utf-8"))
        nb = i18n.translate_notebook(path, lang)
        before, after = i18n.notebook_headings(original), i18n.notebook_headings(nb)
        assert len(after) == len(before) > 0
        assert all(a != b for a, b in zip(after, before, strict=True)), path.name
        code = [c for c in nb["cells"] if c["cell_type"] == "code"]
        assert f'crmsim.set_language("{lang}")' in "".join(code[0]["source"])
        # Nothing else changes: the same cells, the same code after the inserted line.
        assert len(nb["cells"]) == len(original["cells"])
        for a, b in zip(code[1:], [c for c in original["cells"] if c["cell_type"] == "code"][1:],
                        strict=True):  # fmt: skip
            assert a["source"] == b["source"]
    assert i18n._main(["notebooks", "--lang", lang, "--out", str(tmp_path)]) == 0
    assert len(list(tmp_path.glob("*.ipynb"))) == 4


@pytest.mark.parametrize("lang", ["uk", "ru"])
def test_network_labels_do_not_overlap_in_other_languages(lang):
    """Tags such as "новий учасник" are longer than "entrant": still no overlap."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from crmsim.network.graph import build_graph
    from crmsim.report import figures

    sc = crmsim.load_scenario(ROOT / "scenarios" / "tajikistan_antimony.yaml")
    with language(lang):
        fig = figures.network(build_graph(sc))
    FigureCanvasAgg(fig).draw()
    r = fig.canvas.get_renderer()
    items = [(t.get_text(), t.get_window_extent(r)) for t in fig.axes[0].texts if t.get_text()]
    bad = [(a, b) for i, (a, ba) in enumerate(items) for b, bb in items[i + 1 :] if ba.overlaps(bb)]
    assert bad == []
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert _("single-source dependency") not in legend  # English, outside the block
    with language(lang):
        assert _("single-source dependency") in legend


def test_crmsim_lang_environment_variable_sets_the_default():
    import os
    import subprocess
    import sys

    code = "from crmsim.i18n import get_language, _; print(get_language(), _('Summary'))"
    for value, want in (("uk", "uk Підсумок"), ("ru_RU", "ru Резюме"), ("xx", "en Summary")):
        env = {**os.environ, "CRMSIM_LANG": value}
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                             text=True, check=True)  # fmt: skip
        assert out.stdout.strip() == want


# ------------------------------------------------------------- sweep, sensitivity, policies


def _serial(args: list[str]):
    """Run a command with room for every table on one line a row (``COLUMNS=250``)."""
    from cli_helpers import SerialCliRunner

    return SerialCliRunner().invoke(cli, args, env={"COLUMNS": "250"}, catch_exceptions=False)


def test_sweep_prints_ukrainian_headers():
    path = str(ROOT / "scenarios" / "tutorial.yaml")
    args = ["sweep", path, "--set", "nodes.refinery_deu.capacity=10,20", "-r", "2"]
    res = _serial([*args, "--lang", "uk"])
    assert res.exit_code == 0, res.output
    for text in ("2 точки сітки", "на базовому сценарії", "по 2 реплікації",
                 "різниці порівняно з першою точкою сітки", "рівень виконання замовлень, %",
                 "незадоволений попит, t", "незадоволений попит Δ t"):  # fmt: skip
        assert text in res.output, text
    assert re.search(r"\d+,\d{2} \[\d+,\d{2}, \d+,\d{2}\]", res.output)  # decimal commas
    for english in ("fill rate", "unmet", "grid point", "replications", "differences"):
        assert english not in res.output, english
    en = _serial(args)
    assert "2 grid points, on the baseline, 2 replications each" in en.output
    assert "fill rate %" in en.output
    assert "fill rate Δ pp" in en.output
    assert crmsim.get_language() == "en"  # --lang does not leak


def test_sensitivity_prints_russian_labels():
    path = str(ROOT / "scenarios" / "tutorial.yaml")
    res = _serial(["sensitivity", path, "--vary", "nodes.refinery_deu.capacity=10:20",
                   "--vary", "nodes.mine_aus.capacity=20:40", "-n", "2", "-r", "1",
                   "--lang", "ru"])  # fmt: skip
    assert res.exit_code == 0, res.output
    for text in ("скрининг Морриса: траекторий — 2", "1 репликация на точку",
                 "входные величины по влиянию на показатель «уровень выполнения заказов»",
                 "место", "диапазон", "сходимость:", "20–40"):  # fmt: skip
        assert text in res.output, text
    assert "Morris screening" not in res.output
    assert "inputs ranked" not in res.output
    assert re.search(r"0,\d{4}", res.output)


def test_policies_table_translates_and_shows_the_currency():
    path = str(ROOT / "scenarios" / "tajikistan_antimony.yaml")
    res = _serial(["policies", path, "--lang", "uk"])
    assert res.exit_code == 0, res.output
    for text in ("варіанти політики", "назва", "важелі", "капітальні витрати (USD)",
                 "операційні витрати (USD/день)", "25\u00a0000\u00a0000",
                 "порівнюються за замовчуванням (experiment.compare):"):  # fmt: skip
        assert text in res.output, text
    en = _serial(["policies", path])
    assert "capex (USD)" in en.output
    assert "25,000,000" in en.output


# --------------------------------------------------------------------------- the workbook


@pytest.fixture(scope="module")
def report_with_stress(report_data):
    import dataclasses

    import pandas as pd

    stress = pd.DataFrame({"node": ["smelter_chn"], "role": ["processor"], "country": ["CHN"],
                           "tts_lp": [12.0], "tts_sim": [12.0], "tts_upper_bound_paper": [30.0],
                           "ttr": [60.0], "flagged": [True], "exposure": [1234.0],
                           "rank": [1]})  # fmt: skip
    return dataclasses.replace(report_data, stress=stress)


def _workbook(data, lang, tmp_path):
    import pandas as pd

    from crmsim.report.xlsx import write_xlsx

    return pd.read_excel(write_xlsx(data, tmp_path / f"{lang}.xlsx", lang=lang), sheet_name=None)


@pytest.mark.parametrize("lang", ["uk", "ru"])
def test_workbook_has_every_sheet_and_no_english_header(report_with_stress, lang, tmp_path):
    from crmsim.report.xlsx import SHEETS, sheet_name

    en = _workbook(report_with_stress, "en", tmp_path)
    wb = _workbook(report_with_stress, lang, tmp_path)
    assert list(en) == list(SHEETS)  # English: the results files' names
    assert list(wb) == [sheet_name(s, lang) for s in SHEETS]
    for name in wb:
        assert len(name) <= 31, name  # Excel's rules
        assert not set(name) & set("[]:*?/\\"), name
    assert not set(wb) & set(en)
    english_headers = {str(c) for df in en.values() for c in df.columns}
    for (sheet, df), (_en_sheet, en_df) in zip(wb.items(), en.items(), strict=True):
        assert len(df) == len(en_df), sheet  # the same rows
        left = {str(c) for c in df.columns} & english_headers
        assert left == set(), f"{lang} {sheet}: headers still in English: {left}"
    dd_name = sheet_name("data_dictionary", lang)
    dd, en_dd = wb[dd_name], en["data_dictionary"]
    # One more column: each column's name in the results files, which is the English one.
    with language(lang):
        assert list(dd.columns) == [_(c) for c in ("sheet", "column", "meaning", "unit",
                                                   "name in the results files")]  # fmt: skip
    files = dd.iloc[:, 4]
    assert list(files) == list(en_dd["column"])
    # Every sheet's every column is listed, under its translated name.
    for sheet, df in wb.items():
        assert not any(re.search(r"\.\d+$", str(c)) for c in df.columns), sheet  # unique
        if sheet == dd_name:
            continue
        listed = dd.loc[dd.iloc[:, 0] == sheet, dd.columns[1]]
        assert set(listed) == {str(c) for c in df.columns}, sheet
    # Every meaning is translated; units too, except the currency and its symbols.
    meanings = dd.iloc[:, 2].fillna("")
    same = [(f, m) for f, m, e in zip(files, meanings, en_dd["meaning"].fillna(""), strict=True)
            if e and m == e]  # fmt: skip
    assert same == [], f"{lang}: meanings still in English: {same}"
    assert not (en_dd["meaning"].fillna("") == "").any()  # and none is empty
    units = dict(zip(files, dd.iloc[:, 3].fillna(""), strict=True))
    assert units["cost_mean"] == "USD"
    assert units["cost_per_pp"] == "USD/" + ("в. п." if lang == "uk" else "п. п.")
    en_units = set(en_dd["unit"].dropna()) - {"USD"}
    assert not set(dd.iloc[:, 3].dropna()) & en_units
    # The summary's items are translated; its values (the scenario's words, ids) are not.
    summary = wb[sheet_name("summary", lang)]
    items = list(summary.iloc[:, 0])
    assert not set(items) & set(en["summary"]["item"])
    assert summary.iloc[:, 1].tolist()[-2] == "USD"
    # Number formats follow the column, whatever its header.
    from openpyxl import load_workbook

    ws = load_workbook(tmp_path / f"{lang}.xlsx")[sheet_name("costs", lang)]
    header = [c.value for c in ws[1]]
    with language(lang):
        col = header.index(_("mean cost")) + 1
    assert ws.cell(row=2, column=col).number_format == "#,##0"


def test_report_command_writes_the_workbook_in_the_language(tmp_path):
    import pandas as pd

    from crmsim.report.xlsx import SHEETS, sheet_name

    out = tmp_path / "звіт.xlsx"
    res = _serial(["report", str(ROOT / "scenarios" / "tutorial.yaml"), "-r", "2", "--lang", "uk",
                   "--out", str(out)])  # fmt: skip
    assert res.exit_code == 0, res.output
    sheets = pd.read_excel(out, sheet_name=None)
    assert list(sheets) == [sheet_name(s, "uk") for s in SHEETS if s != "stress"]
    assert "середня різниця" in sheets["порівняння"].columns
