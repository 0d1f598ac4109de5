"""`crmsim report` and `crmsim plot`: the HTML report (in a real browser), the workbook."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from cli_helpers import one_worker
from crmsim.cli import cli
from crmsim.report.data import ReportData, from_folder
from crmsim.report.html import SECTIONS, money, render_html, summary_points
from crmsim.report.xlsx import SHEETS

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = sorted((ROOT / "scenarios").glob("*.yaml"))
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def invoke(args: list[str]):
    return CliRunner().invoke(cli, one_worker(args), catch_exceptions=False)


@pytest.fixture(scope="module")
def reports(tmp_path_factory) -> dict[str, Path]:
    """`crmsim report FILE -r 3` of every shipped scenario (made once for this module)."""
    out = tmp_path_factory.mktemp("reports")
    files = {}
    for path in SCENARIOS:
        html = out / f"{path.stem}.html"
        res = invoke(["report", str(path), "-r", "3", "-s", "5", "--flow-replications", "1",
                      "--out", str(html)])  # fmt: skip
        assert res.exit_code == 0, res.output
        files[path.stem] = html
    # One report in Ukrainian, for the browser (Cyrillic text, the same layout).
    html = out / "tajikistan_antimony.uk.html"
    res = invoke(["report", str(ROOT / "scenarios" / "tajikistan_antimony.yaml"), "-r", "3",
                  "-s", "5", "--flow-replications", "1", "--lang", "uk",
                  "--out", str(html)])  # fmt: skip
    assert res.exit_code == 0, res.output
    files["tajikistan_antimony.uk"] = html
    return files


class _Parts(HTMLParser):
    """Ids of sections, tables, images (and their sources) of a document."""

    def __init__(self) -> None:
        super().__init__()
        self.sections: list[str] = []
        self.tables = 0
        self.images: list[str] = []
        self.links: list[str] = []
        self.scripts = 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "section":
            self.sections.append(a.get("id", ""))
        elif tag == "table":
            self.tables += 1
        elif tag == "img":
            self.images.append(a.get("src", ""))
        elif tag == "script":
            self.scripts += 1
        for key in ("href", "src"):
            if key in a and tag != "img":
                self.links.append(a[key] or "")


def parts(text: str) -> _Parts:
    p = _Parts()
    p.feed(text)
    return p


def visible_text(html: str) -> str:
    return re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", html)


# --------------------------------------------------------------------------- the HTML


@pytest.mark.parametrize("name", [p.stem for p in SCENARIOS])
def test_report_of_every_shipped_scenario_is_complete_and_self_contained(reports, name):
    html = reports[name].read_text(encoding="utf-8")
    p = parts(html)
    expected = [s for s in SECTIONS if s != "stress"]  # no stress results here
    assert p.sections == expected
    assert p.scripts == 0
    # Self-contained: every image embedded, no link leaves the file.
    assert p.images
    assert all(src.startswith("data:image/png;base64,") for src in p.images)
    assert all(link.startswith("#") for link in p.links), p.links
    assert "http://" not in visible_text(html)
    assert "https://" not in visible_text(html)
    for fig in ("network", "disruptions", "performance", "triangle", "forest",
                "cost_resilience", "supply_by_country", "crma"):  # fmt: skip
        assert f'id="fig-{fig}"' in html, fig
    # Tables: scenario, disruptions, recovery, comparison, ranking, scorecard, CRMA, repro.
    for cls in ("facts", "disruptions", "recovery", "comparison", "ranking", "scorecard",
                "crma", "repro"):  # fmt: skip
        assert f'<table class="{cls}">' in html, cls
    text = visible_text(html)
    # Numbers for people: no scientific notation, the currency named.
    assert not re.search(r"\d\.?\d*e[+-]\d", text)
    assert "USD" in text
    assert "Most resilience per unit of cost" in text or "No option raises the fill rate" in text
    assert "How sure we are" in text
    for term in ("fill rate", "nadir", "resilience loss", "TTR (time to recover)", "censored",
                 "HHI", "EOL-RIR", "MSME share"):  # fmt: skip
        assert f"<dt>{term}</dt>" in html, term
    sha = re.search(r"scenario SHA-256</th><td><code>([0-9a-f]{64})</code>", html)
    assert sha is not None
    assert f"crmsim report {ROOT / 'scenarios' / (name + '.yaml')} -r 3 -s 5" in text


def test_unfc_table_explains_each_code(reports):
    html = reports["tutorial"].read_text(encoding="utf-8")
    section = html.split('id="unfc"')[1].split("</section>")[0]
    from crmsim import load_scenario

    sc = load_scenario(ROOT / "scenarios" / "tutorial.yaml")
    coded = [n for n in sc.nodes if n.unfc_code is not None]
    assert coded, "the tutorial has a UNFC-coded mine"
    for n in coded:
        assert f"<td>{n.id}</td>" in section
        assert f"<td>{n.unfc_code.code}</td>" in section
        assert f"<td>{n.unfc_code.project_class}</td>" in section
    # E1.1 F1.1 G1: what each category means, and that it produces from day 0.
    assert "E1.1: extraction and sale economic on the basis of current market conditions" in section
    assert "F1.1: extraction is currently taking place" in section
    assert "G1: high level of confidence (known deposit)" in section
    assert "<td>On Production</td>" in section
    assert "<td>from day 0</td>" in section
    # A scenario without codes says so.
    other = reports["pharma_api80"].read_text(encoding="utf-8")
    assert "No node of this scenario carries a UNFC code." in other


def test_user_text_is_escaped_and_stress_section_appears_only_with_results(tmp_path):
    from crmsim import compare, loads_scenario
    from crmsim.report.data import from_comparison

    text = (ROOT / "scenarios" / "tutorial.yaml").read_text(encoding="utf-8")
    text = re.sub(r"^name: .*$", 'name: "Tutorial <b>bold</b> & US$ costs"', text, count=1,
                  flags=re.M)  # fmt: skip
    sc = loads_scenario(text, "tutorial.yaml")
    cmp = compare(sc, replications=3, flow_replications=1)
    data = from_comparison(cmp, daily=False)
    html = render_html(data)
    assert "Tutorial &lt;b&gt;bold&lt;/b&gt; &amp; US$ costs" in html
    assert "<b>bold</b>" not in html
    assert 'id="stress"' not in html
    stress = pd.DataFrame({"node": ["refinery_a"], "tts_lp": [12.0], "tts_sim": [np.inf],
                           "ttr": [30.0], "flagged": [True]})  # fmt: skip
    data.stress = stress
    html = render_html(data)
    section = html.split('id="stress"')[1].split("</section>")[0]
    assert "<td>refinery_a</td>" in section
    assert "∞" in section
    assert 'id="fig-stress"' in section


def _data(costs: list[tuple[str, float, float, float, float]], clearly: str | None) -> ReportData:
    """Hand-made tables: (option, cost, gain pp, gain low pp, gain high pp)."""
    rows, crow, rank = [], [], []
    for opt, cost, g, lo, hi in costs:
        rows.append({"market": "(all)", "unit": "t", "option": opt, "metric": "fill_rate",
                     "better": "higher", "baseline_mean": 0.9, "option_mean": 0.9 + g / 100,
                     "diff_mean": g / 100, "diff_low": lo / 100, "diff_high": hi / 100,
                     "p_better": 1.0})  # fmt: skip
        crow.append({"market": "(all)", "option": opt, "currency": "EUR", "cost_mean": cost,
                     "cost_low": cost, "cost_high": cost, "fill_gain_pp": g,
                     "cost_per_pp": cost / g if lo > 0 else np.nan})  # fmt: skip
    for i, v in enumerate(["baseline", *[c[0] for c in costs]]):
        rank.append({"market": "(all)", "rank": i + 1, "variant": v, "mean_fill_rate": 0.9,
                     "mcb_low": 0.0, "mcb_high": 0.0, "possibly_best": clearly in (None, v),
                     "clearly_best": v == clearly, "share_best": 0.5})  # fmt: skip
    return ReportData(
        kind="compare", scenario=None, scenario_name="hand", scenario_file=None,
        scenario_sha256=None, seed=1, replications=20,
        variants=["baseline", *[c[0] for c in costs]],
        labels={"baseline": "no policy", "a": "option A", "b": "option B", "c": "option C"},
        currency="EUR", confidence=0.95,
        tables={"comparison": pd.DataFrame(rows), "costs": pd.DataFrame(crow),
                "ranking": pd.DataFrame(rank)},
    )  # fmt: skip


def test_summary_names_the_cheapest_point_of_resilience_and_the_largest_gain():
    # A: 2 pp for 1,000,000 (500,000 per pp); B: 3 pp for 3,000,000 (1,000,000 per pp);
    # C: 5 pp but not clear (its interval reaches 0): no cost per point.
    data = _data([("a", 1e6, 2, 1, 3), ("b", 3e6, 3, 2, 4), ("c", 1e5, 5, -1, 11)], "b")
    s = summary_points(data)
    assert s[0].startswith("With no policy, 90.0 % of demand is served on time over all markets")
    assert s[1] == (
        "Most resilience per unit of cost: option A — it raises the fill rate by +2.0 pp "
        "[+1.0, +3.0] (95 % interval) for 1,000,000 EUR per replication, i.e. 500,000 EUR "
        "per percentage point of fill rate."
    )
    assert s[2].startswith(
        "Largest gain: option C, +5.0 pp [-1.0, +11.0] fill rate, for 100,000 EUR"
    )
    assert s[3] == (
        "How sure we are: option B is clearly the best on fill rate at 95 % joint "
        "confidence (MCB ranking)."
    )
    assert "in EUR" in s[-1]


def test_summary_when_nothing_is_clear_and_nobody_is_clearly_best():
    data = _data([("a", 0.0, 0.5, -1, 2)], None)
    s = summary_points(data)
    assert s[1].startswith(
        "No option raises the fill rate over all markets by a margin that these 20"
    )
    assert s[2].startswith("Largest gain: option A, +0.5 pp [-1.0, +2.0]")
    assert s[3].startswith("How sure we are: these 20 replications cannot tell apart 2 variants")
    assert "no policy, option A" in s[3]


def test_money_never_scientific():
    assert money(2.182e7, "USD") == "21,820,000 USD"
    assert money(1e15) == "1,000,000,000,000,000"


# --------------------------------------------------------------------------- a real browser


def _chromium(args: list[str], timeout: float = 240) -> subprocess.CompletedProcess:
    assert CHROMIUM is not None
    profile = tempfile.mkdtemp(prefix="crmsim-chromium-")
    try:
        return subprocess.run(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", "--disable-dev-shm-usage", f"--user-data-dir={profile}",
             # No network at all: a resource that is not in the file cannot load.
             "--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>",
             "--enable-logging=stderr", "--v=0", *args],
            capture_output=True, text=True, timeout=timeout, check=False,
        )  # fmt: skip
    finally:
        shutil.rmtree(profile, ignore_errors=True)


_CHECK = """<script>
window.addEventListener("load", function () {
  var imgs = Array.prototype.slice.call(document.images);
  var bad = imgs.filter(function (i) { return !(i.complete && i.naturalWidth > 0); });
  document.body.dataset.images = String(imgs.length);
  document.body.dataset.imagesOk = (imgs.length > 0 && bad.length === 0) ? "yes" : "no";
  document.body.dataset.tables = String(document.querySelectorAll("table").length);
  var hidden = Array.prototype.slice.call(document.querySelectorAll("section"))
    .filter(function (s) { return s.getBoundingClientRect().height <= 0; });
  document.body.dataset.sectionsShown = hidden.length === 0 ? "yes" : "no";
});
</script>"""


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("CI is set but chromium is not installed (.ci/run installs it)")
        pytest.skip("chromium is not installed (Debian: apt-get install chromium); CI runs it")
    return CHROMIUM


def _console_errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]


@pytest.mark.parametrize("name", [p.stem for p in SCENARIOS] + ["tajikistan_antimony.uk"])
def test_report_renders_in_chromium_with_every_image_loaded(reports, browser, name, tmp_path):
    html = reports[name].read_text(encoding="utf-8")
    n_img = len(parts(html).images)
    n_tab = parts(html).tables
    probe = tmp_path / f"{name}.html"
    probe.write_text(html.replace("</body>", _CHECK + "\n</body>"), encoding="utf-8")
    res = _chromium(["--virtual-time-budget=20000", "--dump-dom", probe.as_uri()])
    assert res.returncode == 0, res.stderr[-2000:]
    body = re.search(r"<body([^>]*)>", res.stdout)
    assert body is not None, res.stdout[:500]
    attrs = body.group(1)
    assert f'data-images="{n_img}"' in attrs, attrs
    assert 'data-images-ok="yes"' in attrs, attrs
    assert f'data-tables="{n_tab}"' in attrs, attrs
    assert 'data-sections-shown="yes"' in attrs, attrs
    dom = parts(res.stdout)
    assert dom.sections == [s for s in SECTIONS if s != "stress"]
    assert _console_errors(res.stderr) == []


def test_screenshot_of_a_report_is_kept(reports, browser, tmp_path):
    shot = tmp_path / "report_tajikistan_antimony.png"
    res = _chromium(["--hide-scrollbars", f"--screenshot={shot}", "--window-size=1280,4000",
                     reports["tajikistan_antimony"].as_uri()])  # fmt: skip
    assert res.returncode == 0, res.stderr[-2000:]
    assert shot.is_file()
    assert shot.stat().st_size > 50_000
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert _console_errors(res.stderr) == []
    print(f"screenshot of the report: {shot}")


# --------------------------------------------------------------------------- xlsx


def test_xlsx_has_every_sheet(tmp_path):
    out = tmp_path / "report.xlsx"
    res = invoke(["report", str(ROOT / "scenarios" / "pharma_api80.yaml"), "-r", "3",
                  "--out", str(out)])  # fmt: skip
    assert res.exit_code == 0, res.output
    sheets = pd.read_excel(out, sheet_name=None)
    assert list(sheets) == [s for s in SHEETS if s != "stress"]
    for name, df in sheets.items():
        if name != "unfc":  # the pharma scenario has no UNFC-coded node
            assert len(df), name
    comparison = sheets["comparison"]
    assert {"market", "option", "metric", "diff_mean", "diff_low", "diff_high"} <= set(
        comparison.columns
    )
    assert set(comparison["metric"]) == {"fill_rate", "unmet", "nadir", "resilience_loss"}
    dd = sheets["data_dictionary"]
    for name, df in sheets.items():
        if name == "data_dictionary":
            continue
        listed = set(dd.loc[dd["sheet"] == name, "column"])
        assert set(map(str, df.columns)) == listed, name
    costs = dd[(dd["sheet"] == "costs") & (dd["column"] == "cost_per_pp")]
    assert costs["unit"].iloc[0] == "USD/pp"
    assert dd.loc[dd["sheet"].isin(["comparison", "costs", "ranking"]), "meaning"].notna().all()
    summary = sheets["summary"].set_index("item")["value"]
    assert summary["currency"] == "USD"
    assert len(summary["scenario SHA-256"]) == 64
    from openpyxl import load_workbook

    ws = load_workbook(out)["costs"]
    header = [c.value for c in ws[1]]
    col = header.index("cost_mean") + 1
    assert ws.cell(row=2, column=col).number_format == "#,##0"


# --------------------------------------------------------------------------- folders


@pytest.fixture(scope="module")
def compare_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cmp") / "res"
    res = invoke(["compare", str(ROOT / "scenarios" / "tajikistan_antimony.yaml"), "-r", "3",
                  "--flow-replications", "1", "-o", str(out)])  # fmt: skip
    assert res.exit_code == 0, res.output
    return out


def test_plot_a_compare_folder(compare_dir):
    res = invoke(["plot", str(compare_dir)])
    assert res.exit_code == 0, res.output
    figs = compare_dir / "figures"
    names = {p.stem for p in figs.glob("*.png")}
    assert {"network", "disruptions", "forest", "cost_resilience", "supply_by_country",
            "crma"} <= names  # fmt: skip
    assert {p.stem for p in figs.glob("*.svg")} == names
    # A compare folder keeps the daily bands of every variant: the daily-performance
    # figure is drawn; it has no daily record, so no triangle and no secondary supply.
    assert "performance" in names
    assert not {"triangle", "secondary_supply"} & names


def test_plot_a_run_folder_with_stress_results(tmp_path):
    out = tmp_path / "run"
    res = invoke(["run", str(ROOT / "scenarios" / "tajikistan_antimony.yaml"), "-r", "2",
                  "-o", str(out)])  # fmt: skip
    assert res.exit_code == 0, res.output
    pd.DataFrame({"node": ["smelter_chn", "mine_tjk"], "tts_lp": [20.0, np.inf],
                  "tts_sim": [18.0, np.inf], "ttr": [90.0, 10.0],
                  "flagged": [True, False]}).to_csv(out / "stress.csv", index=False)  # fmt: skip
    res = invoke(["plot", str(out), "--format", "png"])
    assert res.exit_code == 0, res.output
    names = {p.stem for p in (out / "figures").glob("*.png")}
    assert names == {"network", "disruptions", "performance", "triangle", "secondary_supply",
                     "stress"}  # fmt: skip
    data = from_folder(out)
    assert data.kind == "run"
    assert data.performance is not None
    report = tmp_path / "run.html"
    res = invoke(["report", str(out), "--out", str(report)])
    assert res.exit_code == 0, res.output
    html = report.read_text(encoding="utf-8")
    assert "no options compared" in html
    assert 'id="fig-stress"' in html
    assert 'id="fig-performance"' in html
    assert parts(html).sections == list(SECTIONS)
    # Replication 0's overall performance, from its daily record = the run's summary.
    summary = pd.read_parquet(out / "summary.parquet")
    assert float(np.sum(1 - data.performance)) == pytest.approx(
        float(summary.loc[0, "resilience_loss"]), rel=1e-9
    )


def test_report_of_a_compare_folder(compare_dir, tmp_path):
    out = tmp_path / "r.html"
    res = invoke(["report", str(compare_dir), "--out", str(out)])
    assert res.exit_code == 0, res.output
    html = out.read_text(encoding="utf-8")
    manifest = json.loads((compare_dir / "manifest.json").read_text())
    assert manifest["scenario_sha256"] in html
    assert "crmsim compare" in html
    assert 'id="fig-forest"' in html
    assert parts(html).sections == [s for s in SECTIONS if s != "stress"]


def test_bad_input_is_a_clear_error(tmp_path):
    res = CliRunner().invoke(cli, ["plot", str(tmp_path)])
    assert res.exit_code == 1
    assert "not a crmsim results folder (no manifest.json)" in res.output
    assert "Traceback" not in res.output
    existing = tmp_path / "r.html"
    existing.write_text("x")
    res = CliRunner().invoke(cli, ["report", str(ROOT / "scenarios" / "tutorial.yaml"),
                                   "--out", str(existing)])  # fmt: skip
    assert res.exit_code == 1
    assert "already exists; use --overwrite" in res.output
    broken = tmp_path / "bad.yaml"
    broken.write_text("crmsim: 1\nname: x\nnodes: 3\n")
    res = CliRunner().invoke(cli, ["report", str(broken), "--out", str(tmp_path / "b.html")])
    assert res.exit_code == 1
    assert "bad.yaml" in res.output
    assert "Traceback" not in res.output
    res = CliRunner().invoke(cli, ["report", str(ROOT / "scenarios" / "tutorial.yaml"),
                                   "-p", "nope", "--out", str(tmp_path / "c.html")])  # fmt: skip
    assert res.exit_code == 1
    assert "--policies nope" in res.output


def test_disruptions_table_says_when_and_how_hard(reports):
    html = reports["tajikistan_antimony"].read_text(encoding="utf-8")
    section = html.split('<table class="disruptions">')[1].split("</table>")[0]
    assert "<td>day 0 for 47 days</td>" in section  # china_licensing_october
    assert "<td>day 79 for 286 days</td>" in section  # china_us_export_ban
    assert "random, 0.30 per year per target, lasting lognormal(mean=21, sd=10) days" in section
    assert "100 %; lead times × 2.00" in section  # the logistics disruption
    assert (
        "<td>China&#39;s export licensing, first weeks (15 Sep – 31 Oct 2024; 4.8 % of normal"
        " crossed)</td>" in section
    )
