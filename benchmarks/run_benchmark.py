"""Benchmark crmsim against SupplyNetPy on the generated 4-tier reference networks.

One command (see benchmarks/README.md)::

    python benchmarks/run_benchmark.py --sizes 100 500 1000 10000 --reps 3

For every size N it runs ``--reps`` replications of each tool, alternating between the tools
(crmsim first on even replications, SupplyNetPy first on odd ones) so that drifts in machine
load hit both alike. Every replication runs in a fresh Python process, which reports:

- seconds per replication: wall-clock time (``time.perf_counter``) of building the model
  from the validated scenario and simulating warm-up + horizon; generating and validating
  the scenario and importing the packages are not timed;
- SimPy events per replication: crmsim's ``result.stats["simpy_events"]`` (events scheduled
  on its calendar); for SupplyNetPy the same count, read from SimPy's event-id counter
  ``env._eid`` after the run (events processed, i.e. minus those still queued, are in the
  JSON too);
- peak memory: the worker's own peak resident set size (``resource.getrusage(RUSAGE_SELF)
  .ru_maxrss``), read at the end of the replication, so it includes the interpreter, the
  imports and the scenario (the baseline before building is reported too). A fresh process
  per replication keeps one replication's peak from hiding another's.

It prints a Markdown table, writes it with the method to ``benchmarks/RESULTS.md``, the raw
numbers to ``benchmarks/results/benchmark-<time>.json`` (and ``latest.json``) and a log-log
figure to ``benchmarks/results/benchmark.png`` and ``benchmarks/benchmark.png``. With
``--quick`` everything goes to ``benchmarks/results/quick/`` instead and the committed
``RESULTS.md`` and ``benchmark.png`` are left alone.

Until ``crmsim.simulate`` exists, only the SupplyNetPy side runs.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

TOOLS = ("crmsim", "supplynetpy")
LABEL = {"crmsim": "crmsim", "supplynetpy": "SupplyNetPy"}
RESULT_TAG = "BENCHMARK-RESULT "


# --------------------------------------------------------------------------- tools


def crmsim_simulate() -> Any | None:
    """``crmsim.simulate`` (or ``crmsim.engine.simulate``), or None while it does not exist."""
    try:
        from crmsim import simulate  # type: ignore[attr-defined]

        return simulate
    except ImportError:
        pass
    try:
        from crmsim.engine import simulate  # type: ignore[attr-defined]

        return simulate
    except ImportError:
        return None


def supplynetpy_available() -> bool:
    """Whether SupplyNetPy is installed (``pip install -e '.[bench]'``)."""
    import importlib.util

    return importlib.util.find_spec("SupplyNetPy") is not None


# --------------------------------------------------------------------------- worker


class _BudgetExceeded(Exception):
    pass


def _on_alarm(signum: int, frame: Any) -> None:
    raise _BudgetExceeded


def _maxrss_mb() -> float:
    import resource

    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kilobytes on Linux
    return kb / (1024 * 1024) if sys.platform == "darwin" else kb / 1024


def worker(
    tool: str, n_nodes: int, seed: int, network_seed: int, record: str, budget: float
) -> dict:
    """Run one replication of one tool in this (fresh) process and return its measurements."""
    import signal

    from networks import reference_scenario

    out: dict[str, Any] = {"tool": tool, "n_nodes": n_nodes, "seed": seed}
    scenario_dict = reference_scenario(n_nodes, network_seed)
    out["n_edges"] = len(scenario_dict["edges"])
    if tool == "crmsim":
        from crmsim.scenario.loader import scenario_from_dict

        simulate = crmsim_simulate()
        if simulate is None:
            return {**out, "status": "unavailable", "reason": "crmsim.simulate is not importable"}
        scenario = scenario_from_dict(scenario_dict)

        def replicate() -> dict[str, Any]:
            t0 = time.perf_counter()
            result = simulate(scenario, seed=seed, record=record)
            summary = getattr(result, "summary", None) or {}  # may be computed lazily: time it
            seconds = time.perf_counter() - t0
            stats = getattr(result, "stats", None) or {}
            fill = summary.get("fill_rate") if isinstance(summary, dict) else None
            return {
                "seconds": seconds,
                "simpy_events": stats.get("simpy_events"),
                "fill_rate": None if fill is None else float(fill),
            }

    elif tool == "supplynetpy":
        if not supplynetpy_available():
            return {**out, "status": "unavailable", "reason": "SupplyNetPy is not installed"}
        import supplynetpy_equivalent as snp

        out["supplynetpy_version"] = snp.snp_version()

        def replicate() -> dict[str, Any]:
            return snp.run_replication(scenario_dict, seed)

    else:
        raise ValueError(f"unknown tool {tool!r}")

    # Import everything the replication needs before the clock and the baseline.
    import simpy  # noqa: F401

    out["baseline_rss_mb"] = _maxrss_mb()
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, budget)
    try:
        out.update(replicate())
        out["status"] = "ok"
    except _BudgetExceeded:
        out.update(status="timeout", reason=f"replication exceeded {budget:g} s")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    out["peak_rss_mb"] = _maxrss_mb()
    return out


def run_worker(
    tool: str, n_nodes: int, seed: int, network_seed: int, record: str, budget: float
) -> dict:
    """Run :func:`worker` in a fresh Python process and parse its report."""
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--worker",
        json.dumps(
            {
                "tool": tool,
                "n_nodes": n_nodes,
                "seed": seed,
                "network_seed": network_seed,
                "record": record,
                "budget": budget,
            }
        ),
    ]
    # The worker stops itself at the budget; the hard limit here only catches a worker
    # stuck outside the timed part (scenario generation and validation take seconds).
    hard_limit = budget + 300
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=hard_limit, check=False)
    except subprocess.TimeoutExpired:
        return {
            "tool": tool,
            "n_nodes": n_nodes,
            "seed": seed,
            "status": "timeout",
            "reason": f"worker killed after {hard_limit:g} s",
        }
    for line in proc.stdout.splitlines():
        if line.startswith(RESULT_TAG):
            return json.loads(line[len(RESULT_TAG) :])
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-12:]
    return {
        "tool": tool,
        "n_nodes": n_nodes,
        "seed": seed,
        "status": "error",
        "reason": f"worker exit code {proc.returncode}",
        "stderr_tail": tail,
    }


# --------------------------------------------------------------------------- aggregation


def summarise(runs: list[dict], tool: str, n: int, skipped: str | None) -> dict:
    """Median, min and max seconds, median events, max peak memory over the good runs."""
    ok = [r for r in runs if r.get("status") == "ok"]
    row: dict[str, Any] = {"tool": tool, "n_nodes": n, "reps_ok": len(ok), "reps_run": len(runs)}
    if skipped:
        row["skipped"] = skipped
    if not ok:
        bad = [r for r in runs if r.get("status") != "ok"]
        if bad and "skipped" not in row:
            row["skipped"] = bad[0].get("reason") or bad[0].get("status")
            if bad[0].get("status") == "unavailable":
                row["skipped"] = f"not available ({bad[0].get('reason')})"
        return row
    secs = [r["seconds"] for r in ok]
    row.update(
        seconds_median=statistics.median(secs),
        seconds_min=min(secs),
        seconds_max=max(secs),
        peak_rss_mb=max(r["peak_rss_mb"] for r in ok),
        baseline_rss_mb=max(r["baseline_rss_mb"] for r in ok),
    )
    events = [r["simpy_events"] for r in ok if r.get("simpy_events") is not None]
    if events:
        row["simpy_events_median"] = statistics.median(events)
        row["us_per_event"] = 1e6 * statistics.median(
            r["seconds"] / r["simpy_events"] for r in ok if r.get("simpy_events")
        )
    fills = [r["fill_rate"] for r in ok if r.get("fill_rate") is not None]
    if fills:
        row["fill_rate_median"] = statistics.median(fills)
    if len(ok) < len(runs):
        row["note"] = f"{len(runs) - len(ok)} of {len(runs)} replications failed or timed out"
    return row


# --------------------------------------------------------------------------- reporting


def _fmt_s(row: dict) -> str:
    if "seconds_median" not in row:
        return row.get("skipped", "—")
    med, lo, hi = row["seconds_median"], row["seconds_min"], row["seconds_max"]
    return f"{_num(med)} ({_num(lo)}–{_num(hi)})"


def _num(x: float) -> str:
    if x >= 100:
        return f"{x:.0f}"
    if x >= 10:
        return f"{x:.1f}"
    if x >= 1:
        return f"{x:.2f}"
    return f"{x:.3g}"


def _int(x: Any) -> str:
    return "—" if x is None else f"{round(x):,}".replace(",", " ")


def _rss(row: dict) -> str:
    if "peak_rss_mb" not in row:
        return "—"
    return f"{row['peak_rss_mb']:.0f} (+{row['peak_rss_mb'] - row['baseline_rss_mb']:.0f})"


def _opt(row: dict, key: str, fmt: str) -> str:
    return format(row[key], fmt) if key in row else "—"


def ratio_rows(sizes: list[int], rows: dict) -> dict[int, float | None]:
    ratios = {}
    for n in sizes:
        c, s = rows[("crmsim", n)], rows[("supplynetpy", n)]
        if "seconds_median" in c and "seconds_median" in s and c["seconds_median"] > 0:
            ratios[n] = s["seconds_median"] / c["seconds_median"]
        else:
            ratios[n] = None
    return ratios


def markdown_table(sizes: list[int], rows: dict) -> str:
    ratios = ratio_rows(sizes, rows)
    head = (
        "| N nodes | edges | crmsim s/rep median (min–max) | SupplyNetPy s/rep median (min–max) "
        "| time ratio SupplyNetPy / crmsim "
        "| crmsim SimPy events/rep | SupplyNetPy SimPy events/rep "
        "| crmsim peak RSS MB (+ over baseline) | SupplyNetPy peak RSS MB (+ over baseline) "
        "| crmsim fill rate | SupplyNetPy fill rate |\n"
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    )
    lines = [head]
    for n in sizes:
        c, s = rows[("crmsim", n)], rows[("supplynetpy", n)]
        r = ratios[n]
        lines.append(
            f"| {n:,} | {_int(rows.get(('edges', n)))} | {_fmt_s(c)} | {_fmt_s(s)} "
            f"| {'—' if r is None else f'{r:.0f}×' if r >= 10 else f'{r:.1f}×'} "
            f"| {_int(c.get('simpy_events_median'))} | {_int(s.get('simpy_events_median'))} "
            f"| {_rss(c)} | {_rss(s)} "
            f"| {_opt(c, 'fill_rate_median', '.3f')} | {_opt(s, 'fill_rate_median', '.3f')} |"
        )
    return "\n".join(lines).replace(",", " ")


def checks(sizes: list[int], rows: dict) -> list[str]:
    """The issue's "Must show" benchmark figures, as observed in this run (not assertions)."""
    ratios = ratio_rows(sizes, rows)
    out = []
    r100 = ratios.get(100)
    out.append(
        "- Time ratio SupplyNetPy / crmsim at 100 nodes (target ≥ 50×): "
        + ("not measured" if r100 is None else f"{r100:.0f}×")
    )
    seq = [(n, ratios[n]) for n in sizes if ratios[n] is not None]
    if len(seq) >= 2:
        growing = all(b[1] > a[1] for a, b in itertools.pairwise(seq))
        trend = ", ".join(f"{r:.0f}× at {n:,}".replace(",", " ") for n, r in seq)
        out.append(
            f"- Ratio by size (target: growing with N): {trend} — "
            + ("growing" if growing else "not monotone")
        )
    else:
        out.append("- Ratio by size (target: growing with N): needs both tools at two sizes")
    c100, c1000 = rows.get(("crmsim", 100), {}), rows.get(("crmsim", 1000), {})
    if "seconds_median" in c100 and "seconds_median" in c1000:
        cr = c1000["seconds_median"] / c100["seconds_median"]
        out.append(f"- crmsim cost at 1 000 nodes / cost at 100 nodes (target ≤ 4×): {cr:.2f}×")
    else:
        out.append("- crmsim cost at 1 000 nodes / cost at 100 nodes (target ≤ 4×): not measured")
    c10k = rows.get(("crmsim", 10000), {})
    if "peak_rss_mb" in c10k:
        out.append(
            f"- crmsim peak memory at 10 000 nodes (target ≤ 4 096 MB): "
            f"{c10k['peak_rss_mb']:.0f} MB"
        )
    else:
        out.append("- crmsim peak memory at 10 000 nodes (target ≤ 4 096 MB): not measured")
    return out


def machine_info() -> dict[str, Any]:
    from importlib.metadata import PackageNotFoundError, version

    def ver(name: str) -> str | None:
        try:
            return version(name)
        except PackageNotFoundError:
            return None

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    commit = None
    with contextlib.suppress(OSError):  # read-only
        commit = (
            subprocess.run(
                ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                capture_output=True,
                text=True,
                check=False,
            ).stdout.strip()
            or None
        )
    return {
        "date_utc": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "crmsim": ver("crmsim"),
        "simpy": ver("simpy"),
        "supplynetpy": ver("supplynetpy"),
        "numpy": ver("numpy"),
        "git_commit": commit,
    }


def plot(sizes: list[int], rows: dict, budget: float, paths: list[Path]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_t, ax_e) = plt.subplots(1, 2, figsize=(11, 4.4))
    styles = {"crmsim": ("tab:blue", "o"), "supplynetpy": ("tab:orange", "s")}
    for tool in TOOLS:
        color, marker = styles[tool]
        pts = [(n, rows[(tool, n)]) for n in sizes if "seconds_median" in rows[(tool, n)]]
        if pts:
            xs = [n for n, _ in pts]
            med = [r["seconds_median"] for _, r in pts]
            err = [
                [m - r["seconds_min"] for m, (_, r) in zip(med, pts, strict=True)],
                [r["seconds_max"] - m for m, (_, r) in zip(med, pts, strict=True)],
            ]
            ax_t.errorbar(
                xs, med, yerr=err, color=color, marker=marker, capsize=3, label=LABEL[tool]
            )
            ev = [(n, r["simpy_events_median"]) for n, r in pts if "simpy_events_median" in r]
            if ev:
                ax_e.plot(*zip(*ev, strict=True), color=color, marker=marker, label=LABEL[tool])
        skipped = [
            n
            for n in sizes
            if "seconds_median" not in rows[(tool, n)]
            and str(rows[(tool, n)].get("skipped", "")).startswith("skipped")
        ]
        for n in skipped:
            ax_t.annotate(
                f"{LABEL[tool]}\nskipped",
                (n, budget),
                color=color,
                ha="center",
                va="bottom",
                fontsize=8,
            )
            ax_t.plot([n], [budget], marker="^", color=color, linestyle="none")
    if any("seconds_median" not in rows[("supplynetpy", n)] for n in sizes):
        ax_t.axhline(budget, color="grey", linestyle=":", linewidth=1)
        ax_t.set_ylim(top=budget * 5)
        ax_t.text(
            sizes[0], budget * 1.05, f"SupplyNetPy budget {budget:g} s", color="grey", fontsize=8
        )
    for ax, title, ylabel in (
        (ax_t, "Seconds per replication (425 simulated days)", "seconds (median, min–max)"),
        (ax_e, "SimPy events per replication", "events"),
    ):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("nodes in the reference network (N)")
        ax.set_ylabel(ylabel)
        ax.set_title(title, fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend()
    fig.suptitle("crmsim vs SupplyNetPy 0.5.1 on the 4-tier reference networks", fontsize=11)
    fig.tight_layout()
    for p in paths:
        p.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(p, dpi=120)
    plt.close(fig)


RESULTS_INTRO = """\
# Benchmark results: crmsim vs SupplyNetPy

Latest numbers from `benchmarks/run_benchmark.py` (method, network and every modelling
difference: [README.md](README.md)). Regenerate with:

```
{command}
```

![seconds and SimPy events per replication vs N](benchmark.png)

Run {date_utc}; {cpu} ({cpu_count} cores), Python {python}, SimPy {simpy}, SupplyNetPy
{supplynetpy}, crmsim {crmsim} (commit {git_commit}); {reps} replication(s) per tool and size,
alternating between the tools, each in a fresh process; replication seeds {seeds}; network
seed {network_seed}; crmsim `record="{record}"`; SupplyNetPy budget {budget:g} s per
replication, at most {max_nodes} nodes.

"""

RESULTS_NOTES = """
Seconds: wall clock of one replication (build the model from the validated scenario, 60-day
warm-up, 365-day horizon), median over the replications (min–max). SimPy events: crmsim's
`result.stats["simpy_events"]` (events scheduled on its calendar); SupplyNetPy: the same
count, read from SimPy's event-id counter `env._eid` after the run. Peak RSS: the worker
process's own `ru_maxrss` at the end of the replication (includes the interpreter, imports
and the scenario; in brackets, the increase over the worker's baseline before building).
Fill rate: served / demanded units at the markets over the horizon; it is shown to confirm
that the SupplyNetPy network flows (a jammed network would do less work and look cheap),
not to compare the models.
"""


def write_results_md(
    path: Path,
    info: dict,
    settings: dict,
    command: str,
    sizes: list[int],
    rows: dict,
    notes: list[str],
) -> None:
    seeds = [settings["seed"] + r for r in range(settings["reps"])]
    text = RESULTS_INTRO.format(
        command=command,
        reps=settings["reps"],
        seeds=seeds,
        network_seed=settings["network_seed"],
        record=settings["record"],
        budget=settings["snp_budget_s"],
        max_nodes=f"{settings['snp_max_nodes']:,}".replace(",", " "),
        **info,
    )
    text += markdown_table(sizes, rows) + "\n\n"
    text += "Against the issue's targets (observed in this run; not assertions):\n\n"
    text += "\n".join(checks(sizes, rows)) + "\n"
    if notes:
        text += "\nNotes:\n\n" + "\n".join(f"- {n}" for n in notes) + "\n"
    text += RESULTS_NOTES
    path.write_text(text, encoding="utf-8")


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Benchmark crmsim against SupplyNetPy on generated 4-tier reference networks.",
    )
    p.add_argument(
        "--sizes",
        type=int,
        nargs="+",
        default=[100, 500, 1000, 10000],
        help="network sizes N (total nodes); default: 100 500 1000 10000",
    )
    p.add_argument("--reps", type=int, default=3, help="replications per tool and size (default 3)")
    p.add_argument(
        "--seed",
        type=int,
        default=123,
        help="seed of replication 0; replication r uses seed + r (default 123)",
    )
    p.add_argument("--network-seed", type=int, default=0, help="seed of the generated networks")
    p.add_argument(
        "--record",
        choices=["summary", "daily"],
        default="summary",
        help="crmsim record mode (default summary)",
    )
    p.add_argument("--tools", nargs="+", choices=TOOLS, default=list(TOOLS))
    p.add_argument(
        "--snp-budget",
        type=float,
        default=120.0,
        help="seconds allowed per SupplyNetPy replication; a size whose replication "
        "exceeds it, and every larger size, is reported as skipped (default 120)",
    )
    p.add_argument(
        "--snp-max-nodes",
        type=int,
        default=1000,
        help="skip SupplyNetPy above this many nodes (default 1000)",
    )
    p.add_argument(
        "--crmsim-budget",
        type=float,
        default=1800.0,
        help="seconds allowed per crmsim replication (default 1800)",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: SupplyNetPy budget 40 s; outputs only under "
        "benchmarks/results/quick/ (RESULTS.md and benchmark.png untouched)",
    )
    p.add_argument("--out", type=Path, default=HERE / "results", help="directory for JSON and PNG")
    p.add_argument(
        "--report",
        type=Path,
        metavar="JSON",
        help="only rewrite RESULTS.md and benchmark.png from a saved JSON file",
    )
    p.add_argument("--worker", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.quick:
        args.snp_budget = min(args.snp_budget, 40.0)
        args.out = args.out / "quick"
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker:
        spec = json.loads(args.worker)
        result = worker(**spec)
        print(RESULT_TAG + json.dumps(result), flush=True)
        return 0

    if args.report:
        return report_from_json(args.report)

    args.command = "python benchmarks/run_benchmark.py " + " ".join(
        sys.argv[1:] if argv is None else argv
    )
    sizes = sorted(set(args.sizes))
    tools = [t for t in TOOLS if t in args.tools]
    notes: list[str] = []
    if "crmsim" in tools and crmsim_simulate() is None:
        notes.append("crmsim.simulate is not importable yet: only SupplyNetPy was run.")
        print("crmsim.simulate is not available yet: running SupplyNetPy only.", flush=True)
        tools.remove("crmsim")
    if "supplynetpy" in tools and not supplynetpy_available():
        notes.append("SupplyNetPy is not installed (pip install -e '.[bench]'): not run.")
        print("SupplyNetPy is not installed: skipping it.", flush=True)
        tools.remove("supplynetpy")

    from networks import reference_scenario

    runs: dict[tuple[str, int], list[dict]] = {(t, n): [] for t in TOOLS for n in sizes}
    skipped: dict[tuple[str, int], str | None] = {(t, n): None for t in TOOLS for n in sizes}
    for t in TOOLS:
        if t not in tools:
            for n in sizes:
                skipped[(t, n)] = "not run" if t in args.tools else "not selected"
    snp_stop: str | None = None
    rows: dict[Any, Any] = {}
    for n in sizes:
        rows[("edges", n)] = len(reference_scenario(n, args.network_seed)["edges"])
        if "supplynetpy" in tools:
            if n > args.snp_max_nodes:
                skipped[("supplynetpy", n)] = f"skipped (N > {args.snp_max_nodes:,})"
            elif snp_stop:
                skipped[("supplynetpy", n)] = snp_stop
        for rep in range(args.reps):
            order = tools if rep % 2 == 0 else tools[::-1]
            for tool in order:
                if skipped[(tool, n)]:
                    continue
                budget = args.snp_budget if tool == "supplynetpy" else args.crmsim_budget
                seed = args.seed + rep
                print(
                    f"N={n:>6} rep {rep + 1}/{args.reps} {LABEL[tool]:<11} ...", end=" ", flush=True
                )
                r = run_worker(tool, n, seed, args.network_seed, args.record, budget)
                runs[(tool, n)].append(r)
                if r.get("status") == "ok":
                    ev = r.get("simpy_events")
                    print(
                        f"{r['seconds']:.3f} s, {_int(ev)} events, "
                        f"peak {r['peak_rss_mb']:.0f} MB, fill {r.get('fill_rate')}",
                        flush=True,
                    )
                    for w in r.get("warnings") or []:
                        notes.append(f"SupplyNetPy warning at N={n}, seed {seed}: {w}")
                else:
                    print(f"{r.get('status')}: {r.get('reason')}", flush=True)
                    if r.get("stderr_tail"):
                        print("    " + "\n    ".join(r["stderr_tail"]), flush=True)
                    if r.get("status") == "timeout":
                        msg = f"skipped (>{budget:g} s)"
                        skipped[(tool, n)] = msg
                        if tool == "supplynetpy":
                            snp_stop = f"skipped (>{budget:g} s at N={n:,})"
    for t in TOOLS:
        for n in sizes:
            rows[(t, n)] = summarise(runs[(t, n)], t, n, skipped[(t, n)])

    info = machine_info()
    table = markdown_table(sizes, rows)
    print()
    print(table)
    print()
    for line in checks(sizes, rows):
        print(line)
    for note in notes:
        print(f"note: {note}")

    args.out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    payload = {
        "command": args.command,
        "machine": info,
        "settings": {
            "sizes": sizes,
            "reps": args.reps,
            "seed": args.seed,
            "network_seed": args.network_seed,
            "record": args.record,
            "snp_budget_s": args.snp_budget,
            "snp_max_nodes": args.snp_max_nodes,
            "crmsim_budget_s": args.crmsim_budget,
            "quick": args.quick,
        },
        "summary": [rows[(t, n)] for n in sizes for t in TOOLS],
        "ratios_supplynetpy_over_crmsim": {str(n): r for n, r in ratio_rows(sizes, rows).items()},
        "checks": checks(sizes, rows),
        "notes": notes,
        "runs": [r for t in TOOLS for n in sizes for r in runs[(t, n)]],
    }
    json_path = args.out / f"benchmark-{stamp}.json"
    json_path.write_text(json.dumps(payload, indent=1), encoding="utf-8")
    (args.out / "latest.json").write_text(json.dumps(payload, indent=1), encoding="utf-8")
    figs = [args.out / "benchmark.png"]
    md = args.out / "RESULTS.md"
    if not args.quick:
        figs.append(HERE / "benchmark.png")
        md = HERE / "RESULTS.md"
    plot(sizes, rows, args.snp_budget, figs)
    write_results_md(md, info, payload["settings"], args.command, sizes, rows, notes)
    written = [json_path, *figs, md]
    print("\nwrote " + ", ".join(str(f.relative_to(REPO)) for f in written))
    return 0


def report_from_json(path: Path) -> int:
    """Rewrite RESULTS.md and benchmark.png (both copies) from a saved run."""
    payload = json.loads(path.read_text(encoding="utf-8"))
    settings = payload["settings"]
    sizes = settings["sizes"]
    rows: dict[Any, Any] = {(r["tool"], r["n_nodes"]): r for r in payload["summary"]}
    for r in payload["runs"]:
        if r.get("n_edges") is not None:
            rows[("edges", r["n_nodes"])] = r["n_edges"]
    quick = settings.get("quick", False)
    out = HERE / "results" / ("quick" if quick else "")
    figs = [out / "benchmark.png"] + ([] if quick else [HERE / "benchmark.png"])
    md = out / "RESULTS.md" if quick else HERE / "RESULTS.md"
    plot(sizes, rows, settings["snp_budget_s"], figs)
    write_results_md(
        md, payload["machine"], settings, payload["command"], sizes, rows, payload["notes"]
    )
    print(markdown_table(sizes, rows))
    print("wrote " + ", ".join(str(f.relative_to(REPO)) for f in [*figs, md]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
