"""Every figure function: it draws, has its axes labels and units, one option and many."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_rgba

from crmsim import load_scenario, loads_scenario
from crmsim.network.graph import build_graph
from crmsim.report import figures as F

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = sorted((ROOT / "scenarios").glob("*.yaml"))


def texts(fig) -> list[str]:
    out = [t.get_text() for t in fig.texts]
    for ax in fig.axes:
        out += [t.get_text() for t in ax.texts]
        out += [ax.get_title(), ax.get_xlabel(), ax.get_ylabel()]
        out += [t.get_text() for t in ax.get_yticklabels()]
        leg = ax.get_legend()
        if leg is not None:
            out += [t.get_text() for t in leg.get_texts()]
    for leg in fig.legends:
        out += [t.get_text() for t in leg.get_texts()]
    if fig._suptitle is not None:
        out.append(fig._suptitle.get_text())
    return out


def renders(fig) -> None:
    """The figure draws to pixels (catches errors that only appear when drawing)."""
    FigureCanvasAgg(fig).draw()
    w, h = fig.canvas.get_width_height()
    assert w > 100
    assert h > 100


# --------------------------------------------------------------------------- helpers


def test_escape_makes_dollars_literal():
    assert F.escape("US$ 5 and $x$") == r"US\$ 5 and \$x\$"
    fig = F.performance_bands({"a": _bands(0.9)}, labels={"a": "costs $5 and $6"})
    renders(fig)  # unescaped, "$5 and $" would be parsed as mathtext
    assert any(r"\$5 and \$6" in t for t in texts(fig))


def test_wrap_label_never_loses_short_labels_and_marks_cuts():
    assert F.wrap_label("mine_tjk") == "mine_tjk"
    wrapped = F.wrap_label("battery_maker_usa", 14)
    assert wrapped.replace("\n", "") == "battery_maker_usa"
    assert all(len(line) <= 14 for line in wrapped.split("\n"))
    cut = F.wrap_label("a very long label of many words indeed", 10, 2)
    assert cut.count("\n") == 1
    assert cut.endswith("…")


def test_options_differ_without_colour():
    # Grayscale: every option of a figure has its own line style and hatch.
    assert len(set(map(str, F.LINESTYLES))) == len(F.LINESTYLES)
    assert len(set(F.HATCHES)) == len(F.HATCHES)
    assert len(set(F.MARKERS)) == len(F.MARKERS)


def test_save_writes_png_and_svg(tmp_path):
    fig = F.resilience_triangle([1.0, 0.5, 1.0])
    files = F.save(fig, tmp_path / "tri.anything")
    assert [p.name for p in files] == ["tri.png", "tri.svg"]
    assert files[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    svg = files[1].read_text()
    assert "<svg" in svg
    assert "<dc:date>" not in svg


# --------------------------------------------------------------------------- network


def _overlaps(fig) -> list[tuple[str, str]]:
    FigureCanvasAgg(fig).draw()
    r = fig.canvas.get_renderer()
    ax = fig.axes[0]
    items = [(t.get_text(), t.get_window_extent(r)) for t in ax.texts if t.get_text()]
    bad = []
    for i, (a, ba) in enumerate(items):
        for b, bb in items[i + 1 :]:
            if ba.overlaps(bb):
                bad.append((a, b))
    return bad


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_network_of_every_shipped_scenario_has_no_overlapping_labels(path):
    sc = load_scenario(path)
    G = build_graph(sc)
    fig = F.network(G)
    assert _overlaps(fig) == []
    labels = [t.get_text() for t in fig.axes[0].texts]
    for n in G.nodes:
        country = G.nodes[n]["country"]
        assert any(
            t.endswith("\n" + country) and t.split("\n")[0].rstrip("…_-") in n for t in labels
        ), n
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert "single-source dependency" in legend
    assert {str(d["role"]) for _, d in G.nodes(data=True)} <= set(legend)


def test_network_highlights_single_source_and_marks_entrants_and_recyclers():
    sc = loads_scenario(
        """
crmsim: 1
name: chain
materials: [{id: ore}, {id: metal, lifetime: 100, content: {ore: 1}}]
nodes:
  - {id: m1, role: mine, country: TJK, output: ore, capacity: 9}
  - {id: m2, role: mine, country: CHN, output: ore, capacity: 9}
  - {id: s, role: processor, country: CHN, output: metal, capacity: 9, recipe: {ore: 1}}
  - {id: rec, role: recycler, country: DEU, output: ore, capacity: 2, collects_from: [k],
     collection_rate: 0.5, recovery_efficiency: 0.9}
  - {id: newbie, role: processor, country: TJK, output: metal, capacity: 3, recipe: {ore: 1},
     entry: {day: 100}}
  - {id: k, role: market, country: DEU, demand: {mean: 5}}
edges:
  - {from: m1, to: s, share: 0.5}
  - {from: m2, to: s, share: 0.3}
  - {from: rec, to: s, share: 0.2}
  - {from: m1, to: newbie}
  - {from: s, to: k, share: 1}
  - {from: newbie, to: k, share: 0, qualified: true}
""",
        "chain.yaml",
    )
    fig = F.network(build_graph(sc))
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.texts]
    assert "entrant" in labels
    # Shares below 100 % are printed (every one of them fits here).
    assert {"50 %", "30 %", "20 %"} <= set(labels)
    arrows = [t.arrow_patch for t in ax.texts if getattr(t, "arrow_patch", None) is not None]
    single = [a for a in arrows if a.get_edgecolor()[:3] == to_rgba(F.OKABE_ITO[5])[:3]]
    # m1→newbie and s→k are the only single-source dependencies.
    assert len(single) == 2
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "recycler" in legend
    assert "entrant / development / added" in legend
    fig2 = F.network(build_graph(sc), added=["s"])
    assert "added" in [t.get_text() for t in fig2.axes[0].texts]


# --------------------------------------------------------------------------- performance


def _bands(level: float, H: int = 50, market: str = "(all)") -> pd.DataFrame:
    day = np.arange(H)
    mid = np.where((day >= 10) & (day < 20), level, 1.0)
    return pd.DataFrame(
        {"day": day, "market": market, "mean": mid, "q05": mid - 0.05, "q25": mid,
         "q50": mid, "q75": mid, "q95": np.minimum(mid + 0.05, 1.0)}
    )  # fmt: skip


def _dis(R: int = 4) -> pd.DataFrame:
    rows = [{"replication": r, "disruption": "lockdown", "start": 10, "end": 20} for r in range(R)]
    rows.append({"replication": 0, "disruption": "fire", "start": 30, "end": 35})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("n", [1, 6])
def test_performance_bands_one_and_many_options(n):
    bands = {f"opt{i}": _bands(0.5 + 0.05 * i) for i in range(n)}
    fig = F.performance_bands(bands, _dis(), labels={"opt0": "baseline"}, n_replications=4)
    renders(fig)
    ax = fig.axes[0]
    assert "(%)" in ax.get_ylabel()
    assert "(days" in ax.get_xlabel()
    assert len(ax.lines) == n
    dashes = {str(line._unscaled_dash_pattern) for line in ax.lines}
    assert len(dashes) == min(n, len(F.LINESTYLES))
    t = texts(fig)
    assert "lockdown" in t  # in every replication at the same days: shaded and named
    assert any("fire (0.2 events per replication, random)" in x for x in t)
    assert "baseline" in t
    # Median plotted, in percent.
    assert ax.lines[0].get_ydata()[15] == pytest.approx(50.0)


def test_performance_bands_of_one_market():
    bands = {"a": pd.concat([_bands(0.5, market="m1"), _bands(0.8, market="(all)")])}
    fig = F.performance_bands(bands, market="m1")
    assert fig.axes[0].lines[0].get_ydata()[15] == pytest.approx(50.0)
    assert "market m1" in fig.axes[0].get_title()


def test_disruption_timeline():
    fig = F.disruption_timeline(_dis(4), horizon=50, n_replications=4)
    renders(fig)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["fire", "lockdown"]
    assert "(days" in ax.get_xlabel()
    assert "1.0/rep." in texts(fig)
    assert "0.2/rep." in texts(fig)
    empty = F.disruption_timeline(pd.DataFrame(columns=["disruption", "start", "end"]))
    assert "no disruption was realised" in texts(empty)


def test_resilience_triangle_numbers_by_hand():
    # Loss = (1-0.5) + (1-0.25) + (1-0.75) = 1.5 days; nadir 25 % on day 3;
    # below 100 % on days 2..4, back on day 5: TTR 3 days.
    fig = F.resilience_triangle([1, 1, 0.5, 0.25, 0.75, 1, 1], disruption=("outage", 2, 4))
    renders(fig)
    ax = fig.axes[0]
    box = next(t for t in texts(fig) if t.startswith("resilience loss"))
    assert "1.5 days" in box
    assert "nadir: 25.0 % on day 3" in box
    assert "time to recover: 3 days (day 2 to 5)" in box
    assert "(%)" in ax.get_ylabel()
    assert "(days" in ax.get_xlabel()
    assert "outage" in texts(fig)
    # The engine's TTR of the disruption, when given, replaces the span of shortfalls.
    given = F.resilience_triangle([1, 0.5, 1, 0.9], disruption=("outage", 1, 2), ttr=(7.0, False))
    assert any("time to recover from outage: 7 days" in t for t in texts(given))
    given = F.resilience_triangle([1, 0.5], disruption=("outage", 1, 2), ttr=(1.0, True))
    assert any("time to recover from outage: > 1 days (censored)" in t for t in texts(given))
    censored = F.resilience_triangle([1, 0.5, 0.5])
    assert any("not recovered by the horizon (censored; > 2 days)" in t for t in texts(censored))


# --------------------------------------------------------------------------- comparison


def _table(options: list[str], markets=("(all)",)) -> pd.DataFrame:
    rows = []
    for mk in markets:
        for i, o in enumerate(options):
            for metric, better in [("fill_rate", "higher"), ("unmet", "lower"),
                                   ("nadir", "higher"), ("resilience_loss", "lower")]:  # fmt: skip
                d = 0.01 * (i + 1) if metric in ("fill_rate", "nadir") else -(i + 1.0)
                lo, hi = (d - 0.005, d + 0.005) if i % 2 == 0 else (d - 1.0, d + 1.0)
                rows.append(
                    {"market": mk, "unit": "t", "option": o, "metric": metric, "better": better,
                     "diff_mean": d, "diff_low": lo, "diff_high": hi}
                )  # fmt: skip
    return pd.DataFrame(rows)


@pytest.mark.parametrize("n", [1, 7])
def test_forest_one_and_many_options(n):
    opts = [f"o{i}" for i in range(n)]
    fig = F.forest(_table(opts), labels={"o0": "first option"}, confidence=0.95)
    renders(fig)
    assert len(fig.axes) == 4
    xl = [ax.get_xlabel() for ax in fig.axes]
    assert "change in fill rate (percentage points)" in xl[0]
    assert "better →" in xl[0]
    assert "change in unmet demand (t)" in xl[2]
    assert "← better" in xl[2]
    assert "(days)" in xl[3]
    assert next(t.get_text() for t in fig.axes[0].get_yticklabels()) == "first option"
    # Fill rate in percentage points: option 0 gains 1 pp.
    line = fig.axes[0].lines[0]
    assert line.get_xdata()[0] == pytest.approx(1.0)
    # Filled marker: interval excludes 0; open (white) when it does not.
    assert line.get_markerfacecolor() != "white"
    if n > 1:
        assert fig.axes[0].lines[3].get_markerfacecolor() == "white"
    assert "95 %" in fig._suptitle.get_text()


def test_forest_one_row_per_market():
    fig = F.forest(_table(["a", "b"], markets=("m1", "m2")), market=["m1", "m2"])
    assert len(fig.axes) == 8
    assert fig.axes[0].get_ylabel() == "market m1"
    assert fig.axes[4].get_ylabel() == "market m2"


def test_pareto_efficient_by_hand():
    # (cost, gain): A (0,0) baseline, B (10,5), C (20,8), D (15,4) dominated by B,
    # E (20,8) ties C (both efficient), F NaN never.
    eff = F.pareto_efficient([0, 10, 20, 15, 20, math.nan], [0, 5, 8, 4, 8, 1])
    assert eff.tolist() == [True, True, True, False, True, False]
    # An option that costs more and gains less than the free baseline is not efficient.
    assert F.pareto_efficient([0, 5], [0, -1]).tolist() == [True, False]


def _costs(n: int, currency: str = "USD") -> pd.DataFrame:
    return pd.DataFrame(
        {"market": "(all)", "option": [f"o{i}" for i in range(n)], "currency": currency,
         "cost_mean": [1e6 * (i + 1) for i in range(n)],
         "cost_low": [1e6 * (i + 0.5) for i in range(n)],
         "cost_high": [1e6 * (i + 1.5) for i in range(n)],
         "fill_gain_pp": [[2.0, 1.0, 3.0, 2.5, 4.0][i % 5] for i in range(n)]}
    )  # fmt: skip


@pytest.mark.parametrize("n", [1, 5])
def test_cost_resilience_one_and_many(n):
    fig = F.cost_resilience(_costs(n), labels={"o0": "cheap option"})
    renders(fig)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "realised cost per replication over the horizon (USD)"
    assert "(percentage points)" in ax.get_ylabel()
    t = texts(fig)
    assert "cheap option (efficient)" in t
    if n == 5:
        # o1 (2 M, 1 pp) is dominated by o0 (1 M, 2 pp); o3 (4 M, 2.5) by o2 (3 M, 3).
        assert "o1" in t
        assert "o3" in t
        assert "o2 (efficient)" in t
        assert "o4 (efficient)" in t
    # Money ticks with thousands separators, never scientific notation.
    FigureCanvasAgg(fig).draw()
    ticks = [x.get_text() for x in ax.get_xticklabels() if x.get_text()]
    assert any("," in x for x in ticks)
    assert not any("e" in x for x in ticks)


def _flows() -> pd.DataFrame:
    rows = []
    for v, shares in (("baseline", {"CHN": 60, "TJK": 40}), ("smelter", {"CHN": 50, "TJK": 50})):
        for c, q in shares.items():
            rows.append({"variant": v, "replication": 0, "material": "ore", "origin": True,
                         "supplier_country": c, "shipped": q})  # fmt: skip
        rows.append({"variant": v, "replication": 0, "material": "ore", "origin": False,
                     "supplier_country": "DEU", "shipped": 999.0})  # fmt: skip
    return pd.DataFrame(rows)


def test_supply_by_country_hhi_by_hand():
    fig = F.supply_by_country(_flows(), before="baseline", after="smelter")
    renders(fig)
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["baseline", "smelter"]
    ax = fig.axes[0]
    # 0.6² + 0.4² = 0.52 → 5 200; 0.5² + 0.5² → 5 000. A stockpile (not origin) is no supply.
    assert ax.get_title() == "ore: HHI 5,200 → 5,000"
    assert [t.get_text() for t in ax.get_yticklabels()] == ["CHN", "TJK"]
    assert ax.get_xlabel() == "share of supply (%)"
    widths = sorted(round(p.get_width()) for p in ax.patches)
    assert widths == [40, 50, 50, 60]


def test_supply_by_country_one_variant():
    f = _flows()
    fig = F.supply_by_country(f[f["variant"] == "baseline"])
    assert fig.axes[0].get_title() == "ore: HHI 5,200"


def _crma(variants: list[str]) -> pd.DataFrame:
    rows = []
    bench = {"extraction": (0.10, ">="), "processing": (0.40, ">="), "recycling": (0.25, ">="),
             "single_third_country": (0.65, "<=")}  # fmt: skip
    for v in variants:
        for ind, (b, rule) in bench.items():
            share = math.nan if ind == "recycling" else 0.3
            rows.append({"variant": v, "material": "ore", "unit": "t", "indicator": ind,
                         "share": share, "benchmark": b, "rule": rule})  # fmt: skip
    return pd.DataFrame(rows)


@pytest.mark.parametrize("variants", [["baseline"], ["baseline", "a", "b", "c"]])
def test_crma_card_benchmarks(variants):
    fig = F.crma_card(_crma(variants))
    renders(fig)
    ax = fig.axes[0]
    t = texts(fig)
    assert {"≥10 %", "≥40 %", "≥25 %", "≤65 %"} <= set(t)
    assert "n/a" in t  # recycling share undefined
    assert ax.get_xlabel() == "share of home consumption (%)"
    assert ax.get_title() == "ore (t)"
    bench_x = sorted(line.get_xdata()[0] for line in ax.lines)
    assert bench_x == [10, 25, 40, 65]
    assert len(ax.patches) == 3 * len(variants)


def test_crma_card_names_materials_without_home_consumption():
    both = pd.concat(
        [_crma(["baseline"]), _crma(["baseline"]).assign(material="metal", share=np.nan)]
    )
    fig = F.crma_card(both)
    assert [ax.get_title() for ax in fig.axes] == ["ore (t)"]
    assert "no home consumption (shares undefined): metal" in fig._suptitle.get_text()


# --------------------------------------------------------------------------- circularity


def _daily() -> pd.DataFrame:
    rows = []
    for day in range(-5, 40):
        rows.append({"day": day, "node": "rec", "material": "ore", "stock": "output",
                     "shipped": 1.0, "collected": 1.0, "released": math.nan})  # fmt: skip
        rows.append({"day": day, "node": "mine", "material": "ore", "stock": "output",
                     "shipped": 3.0, "collected": math.nan, "released": math.nan})  # fmt: skip
        rows.append({"day": day, "node": "pile", "material": "ore", "stock": "output",
                     "shipped": 50.0, "collected": math.nan, "released": 0.0})  # fmt: skip
        rows.append({"day": day, "node": "k", "material": "ore", "stock": "input",
                     "shipped": math.nan, "collected": math.nan, "released": math.nan})  # fmt: skip
    return pd.DataFrame(rows)


def test_secondary_supply_eol_rir_by_hand():
    fig = F.secondary_supply(_daily(), units={"ore": "t"})
    renders(fig)
    ax1, ax2 = fig.axes
    sec, prim = ax1.lines[0], ax1.lines[1]
    assert next(iter(sec.get_xdata())) == 0  # warm-up days are not scored
    assert set(sec.get_ydata()) == {1.0}
    assert set(prim.get_ydata()) == {3.0}
    # 1 secondary of 4 shipped each day: 25 %.
    assert np.allclose(ax2.lines[0].get_ydata(), 25.0)
    assert "(%)" in ax2.get_ylabel()
    assert "(units per day)" in ax1.get_ylabel()
    assert "ore: secondary (t/day)" in texts(fig)


def test_secondary_supply_without_recycler():
    d = _daily()
    fig = F.secondary_supply(d[d["node"] != "rec"])
    assert "no recycler in this scenario" in texts(fig)


# --------------------------------------------------------------------------- stress


def _stress(n: int) -> pd.DataFrame:
    return pd.DataFrame(
        {"node": [f"node_{i}" for i in range(n)],
         "tts_lp": [10.0 + i for i in range(n)],
         "tts_sim": [8.0 + i if i != 1 else math.inf for i in range(n)],
         "ttr": [20.0 if i % 3 == 0 else 5.0 for i in range(n)],
         "flagged": [i % 3 == 0 for i in range(n)]}
    )  # fmt: skip


@pytest.mark.parametrize("n", [1, 30])
def test_stress_test_one_and_many_nodes(n):
    fig = F.stress_test(_stress(n))
    renders(fig)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "time to survive, TTS (days)"
    assert ax.get_ylabel() == "time to recover, TTR (days)"
    t = texts(fig)
    flagged = sum(i % 3 == 0 for i in range(n))
    assert f"Stress test: {flagged} of {n} nodes flagged" in t
    assert "node_0" in t  # flagged nodes are always named
    if n == 30:
        assert "node_2" not in t  # unflagged ones only up to label_all
        assert "node_1 (TTS ∞)" not in t
    else:
        assert len([x for x in t if x.startswith("node_")]) == 1


def test_stress_test_infinite_tts_and_missing_column():
    fig = F.stress_test(_stress(3))
    assert "node_1 (TTS ∞)" in texts(fig)
    with pytest.raises(ValueError, match="flagged"):
        F.stress_test(_stress(2).drop(columns="flagged"))
