"""The targets of issue 11 ("engine, second generation"), measured side by side in one run.

One command prints a table of every target — target, measured, met? — and the details
behind it (per-replication cost by network size beside the numpy floor and SupplyNetPy,
the SimPy share of the time, the split of a day by stage, start-up times, memory):

    python benchmarks/issue11.py                 # about 10–15 minutes on 2 cores
    python benchmarks/issue11.py --quick         # a smoke run, about a minute
    python benchmarks/issue11.py --write         # also append the tables to RESULTS.md

Every measurement runs in a fresh Python process (``--worker``), so imports, caches and
memory never leak from one into the next; timings are medians of ``--runs`` (3) runs,
sizes alternated run by run. ``--src DIR`` measures another checkout's ``src`` (e.g. the
main branch, for "before" figures) with this script. The "today" figures the pilot target
is compared with are in ``before_issue11.json`` (``--save-before`` writes them). The
machine is shared: the load average is printed with the results. Not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
BEFORE_FILE = HERE / "before_issue11.json"
SIZES = (100, 500, 1000, 10000)
#: Replications per crmsim measurement, by network size (enough for a stable median).
CRMSIM_REPS = {100: 512, 500: 256, 1000: 128, 10000: 16}  # batches: enough replications per pass


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _children_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


# ------------------------------------------------------------------ workers (fresh processes)


def w_floor(n: int, reps: int) -> dict[str, Any]:
    sys.path.insert(0, str(HERE))
    from floor import simulate_floor
    from networks import reference_scenario

    data = reference_scenario(n, seed=0)
    t0 = time.perf_counter()
    out = simulate_floor(data, reps, seed=1)
    return {**out, "seconds_per_rep": (time.perf_counter() - t0) / reps, "rss_mb": _rss_mb()}


def w_crmsim(n: int, reps: int) -> dict[str, Any]:
    sys.path.insert(0, str(HERE))
    from crmsim.experiment import run_replications
    from networks import validated_reference_scenario

    s = validated_reference_scenario(n, seed=0)
    base = _rss_mb()
    t0 = time.perf_counter()
    run = run_replications(s, reps, 1, workers=1, keep_first_daily=False)
    seconds = time.perf_counter() - t0
    return {
        "seconds_per_rep": seconds / reps,
        "fill_rate": float(run.summary["fill_rate"].mean()),
        "rss_mb": _rss_mb(),
        "baseline_rss_mb": base,
    }


def w_pilot(reps: int) -> dict[str, Any]:
    import crmsim
    from crmsim.experiment import run_replications

    s = crmsim.load_scenario(ROOT / "scenarios" / "tajikistan_antimony.yaml")
    t0 = time.perf_counter()
    run_replications(s, reps, 1, workers=1, keep_first_daily=False)
    return {"seconds_per_rep": (time.perf_counter() - t0) / reps, "nodes": len(s.nodes)}


def w_memory(reps: int, workers: int) -> dict[str, Any]:
    sys.path.insert(0, str(HERE))
    from crmsim.experiment import run_replications
    from networks import validated_reference_scenario

    s = validated_reference_scenario(100, seed=0)
    t0 = time.perf_counter()
    run = run_replications(s, reps, 1, workers=workers, keep_first_daily=False)
    return {
        "seconds": time.perf_counter() - t0,
        "rss_mb": _rss_mb(),
        "children_rss_mb": _children_rss_mb(),
        "bands_rows": len(run.bands),
    }


def w_profile(n: int, reps: int) -> dict[str, Any]:
    """SimPy's share of the time (cProfile) and the split of a day by stage (line_profiler)."""
    import cProfile
    import pstats

    sys.path.insert(0, str(HERE))
    from crmsim.experiment import run_replications
    from networks import validated_reference_scenario

    s = validated_reference_scenario(n, seed=0)
    run_replications(s, 1, 1, workers=1, keep_first_daily=False)  # warm: imports, layout
    prof = cProfile.Profile()
    prof.enable()
    run_replications(s, reps, 2, workers=1, keep_first_daily=False)
    prof.disable()
    st = pstats.Stats(prof)
    total = st.total_tt  # type: ignore[attr-defined]
    simpy_tt = sum(
        v[2] for k, v in st.stats.items() if f"{os.sep}simpy{os.sep}" in k[0]  # type: ignore[attr-defined]
    )
    out: dict[str, Any] = {"simpy_share": simpy_tt / total, "profiled_seconds": total}
    out["stages"] = _stage_split(s, reps)
    return out


def _stage_split(s: Any, reps: int) -> dict[str, float] | str:
    """Share of ``Engine._settle`` time per numbered stage (its ``# N.`` comments)."""
    import inspect

    try:
        from line_profiler import LineProfiler
    except ImportError:
        return "line_profiler not installed (pip install -e '.[bench]')"
    from crmsim.engine import core
    from crmsim.experiment import run_replications

    settle = getattr(getattr(core, "Engine", None), "_settle", None)
    if settle is None:
        return _stage_split_by_function(s, reps)
    lines, first = inspect.getsourcelines(settle)
    stage_of: dict[int, str] = {}
    stage = "0. set-up"
    for k, text in enumerate(lines):
        m = re.match(r"\s{8,12}# (\d+)\. ([^.:(,]+)", text)
        if m:
            stage = f"{m.group(1)}. {m.group(2).strip()}"
        # re-sourcing is one call inside the ordering stage: shown on its own
        resourcing = "self._resource(" in text
        stage_of[first + k] = "5r. Re-sourcing (Engine._resource)" if resourcing else stage
    lp = LineProfiler()
    lp.add_function(settle)
    lp.enable_by_count()
    run_replications(s, reps, 3, workers=1, keep_first_daily=False)
    lp.disable_by_count()
    totals: dict[str, float] = {}
    for (_, _, _), timings in lp.get_stats().timings.items():
        for lineno, _hits, t in timings:
            key = stage_of.get(lineno, "other")
            totals[key] = totals.get(key, 0.0) + t
    grand = sum(totals.values()) or 1.0
    return {k: v / grand for k, v in sorted(totals.items(), key=lambda kv: _stage_no(kv[0]))}


def _stage_no(name: str) -> float:
    m = re.match(r"(\d+)(r?)\.", name)
    return float(m.group(1)) + (0.5 if m.group(2) else 0.0) if m else 99.0


def _stage_split_by_function(s: Any, reps: int) -> dict[str, float]:
    """The engine has one function per stage (the batched engine): their cProfile shares."""
    import cProfile
    import pstats

    from crmsim.experiment import run_replications

    prof = cProfile.Profile()
    prof.enable()
    run_replications(s, reps, 3, workers=1, keep_first_daily=False)
    prof.disable()
    st = pstats.Stats(prof)
    engine = f"crmsim{os.sep}engine{os.sep}"
    rows = {
        f"{Path(k[0]).stem}.{k[2]}": v[3]
        for k, v in st.stats.items()  # type: ignore[attr-defined]
        if engine in k[0] and not k[2].startswith("<")
    }
    total = st.total_tt or 1.0  # type: ignore[attr-defined]
    top = sorted(rows.items(), key=lambda kv: -kv[1])[:12]
    return {k: v / total for k, v in top}


def w_supplynetpy(n: int) -> dict[str, Any]:
    sys.path.insert(0, str(HERE))
    from networks import reference_scenario
    from supplynetpy_equivalent import run_replication

    return run_replication(reference_scenario(n, seed=0), seed=123)


WORKERS: dict[str, Callable[..., dict[str, Any]]] = {
    "floor": w_floor,
    "crmsim": w_crmsim,
    "pilot": w_pilot,
    "memory": w_memory,
    "profile": w_profile,
    "supplynetpy": w_supplynetpy,
}


# ------------------------------------------------------------------ the parent


def _env(src: Path | None) -> dict[str, str]:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    if src is not None:
        env["PYTHONPATH"] = str(src) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def measure(kind: str, *args: Any, src: Path | None = None) -> dict[str, Any]:
    """Run one worker in a fresh process; its JSON result."""
    cmd = [sys.executable, __file__, "--worker", kind, *map(str, args)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=_env(src))
    return json.loads(out.stdout.strip().splitlines()[-1])


def wall(cmd: list[str], runs: int, src: Path | None) -> float:
    """Median wall seconds of a command, run ``runs`` times."""
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=False, capture_output=True, env=_env(src), cwd=ROOT)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def med(xs: list[float]) -> float:
    return statistics.median(xs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3, help="runs per timing (medians reported)")
    ap.add_argument("--quick", action="store_true", help="small sizes and counts: a smoke run")
    ap.add_argument("--src", type=Path, default=None, help="measure this checkout's src/")
    ap.add_argument("--before-src", type=Path, default=None,
                    help="also measure the pilot with this checkout's src/, side by side, as "
                    "the 'today' of the pilot target")  # fmt: skip
    ap.add_argument("--skip", nargs="*", default=[], help="parts to skip: compare supplynetpy")
    ap.add_argument("--write", action="store_true", help="append the tables to RESULTS.md")
    ap.add_argument("--save-before", action="store_true", help=f"write {BEFORE_FILE.name}")
    ap.add_argument("--label", default="", help="what is measured (for the tables' title)")
    ap.add_argument("--memory", nargs=2, type=int, default=None, metavar=("LO", "HI"),
                    help="replications of the memory comparison (default 250 4000)")  # fmt: skip
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args, rest = ap.parse_known_args()
    if args.worker:
        print(json.dumps(WORKERS[args.worker](*map(int, rest))))
        return
    src = args.src.resolve() if args.src else None
    load0 = os.getloadavg()
    t_start = time.perf_counter()
    sizes = (100, 500) if args.quick else SIZES
    floor_sizes = [n for n in sizes if n <= 1000]
    reps = {n: max(2, CRMSIM_REPS[n] // (4 if args.quick else 1)) for n in sizes}
    floor_reps = 100 if args.quick else 1000
    runs = 1 if args.quick else args.runs
    res: dict[str, Any] = {"crmsim": {}, "floor": {}, "rss": {}, "fill": {}}

    for run in range(runs):  # sizes alternated, tools alternated
        for n in sizes:
            c = measure("crmsim", n, reps[n], src=src)
            res["crmsim"].setdefault(n, []).append(c["seconds_per_rep"])
            res["rss"].setdefault(n, []).append(c["rss_mb"])
            res["fill"][n] = c["fill_rate"]
            if n in floor_sizes:
                f = measure("floor", n, floor_reps, src=src)
                res["floor"].setdefault(n, []).append(f["seconds_per_rep"])
                res.setdefault("floor_fill", {})[n] = f["fill_rate"]
            print(f"run {run + 1}: {n} nodes: crmsim {c['seconds_per_rep'] * 1e3:.1f} ms/rep"
                  + (f", floor {res['floor'][n][-1] * 1e3:.2f} ms/rep" if n in floor_sizes
                     else ""), flush=True)  # fmt: skip
        p = measure("pilot", 16 if args.quick else 512, src=src)
        res.setdefault("pilot", []).append(p["seconds_per_rep"])
        if args.before_src:
            b = measure("pilot", 16 if args.quick else 512, src=args.before_src.resolve())
            res.setdefault("pilot_before", []).append(b["seconds_per_rep"])
    if "supplynetpy" not in args.skip:
        try:
            snp = [measure("supplynetpy", 100, src=src)["seconds"] for _ in range(runs)]
            res["snp100"] = med(snp)
            print(f"SupplyNetPy 100 nodes: {res['snp100']:.2f} s/rep", flush=True)
        except subprocess.CalledProcessError:
            res["snp100"] = None  # not installed (pip install -e '.[bench]')
    prof = measure("profile", 100, 4 if args.quick else 10, src=src)
    res["profile"] = prof
    py = [sys.executable, "-m", "crmsim"]
    scenarios = sorted((ROOT / "scenarios").glob("*.yaml"))
    res["validate"] = {f.name: wall([*py, "validate", str(f)], 3 if args.quick else 7, src)
                       for f in scenarios}  # fmt: skip
    res["help"] = wall([*py, "--help"], 3 if args.quick else 7, src)
    print(f"validate: max of medians {max(res['validate'].values()):.3f} s", flush=True)
    cores = os.cpu_count() or 1
    lo, hi = args.memory or ((50, 400) if args.quick else (250, 4000))
    res["memory"] = {R: measure("memory", R, cores, src=src) for R in (lo, hi)}
    print(f"memory: {res['memory'][lo]['rss_mb']:.0f} MB at {lo}, "
          f"{res['memory'][hi]['rss_mb']:.0f} MB at {hi}", flush=True)  # fmt: skip
    if "compare" not in args.skip:
        R = 50 if args.quick else 1000
        cmp = []
        for _ in range(runs):
            out = subprocess.run(
                [sys.executable, str(HERE / "compare_scale.py"), "--worker", "pool2",
                 "--replications", str(R), "--batch-size", "100"],
                check=True, capture_output=True, text=True, env=_env(src),
            ).stdout  # fmt: skip
            cmp.append(json.loads(out.strip().splitlines()[-1]))
        res["compare"] = {"replications": R, "seconds": med([c["seconds"] for c in cmp]),
                          "runs": [c["seconds"] for c in cmp]}  # fmt: skip
        print(f"compare 4 × {R}: {res['compare']['seconds']:.1f} s", flush=True)
    res["load"] = (load0, os.getloadavg())
    res["minutes"] = (time.perf_counter() - t_start) / 60
    text = report(res, args, src, lo, hi, sizes)
    print(text)
    if args.save_before:
        BEFORE_FILE.write_text(
            json.dumps({"pilot_seconds_per_rep": med(res["pilot"]), "label": args.label,
                        "when": f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"}, indent=1) + "\n"
        )  # fmt: skip
    if args.write:
        with open(HERE / "RESULTS.md", "a", encoding="utf-8") as fh:
            fh.write("\n" + text)


def _ms(x: float) -> str:
    return f"{x:.3g} s" if x >= 1 else f"{x * 1e3:.3g} ms"


def report(res: dict[str, Any], args: Any, src: Path | None, lo: int, hi: int, sizes: Any) -> str:
    crm = {n: med(v) for n, v in res["crmsim"].items()}
    flo = {n: med(v) for n, v in res["floor"].items()}
    before = json.loads(BEFORE_FILE.read_text()) if BEFORE_FILE.exists() else {}
    if res.get("pilot_before"):
        before = {"pilot_seconds_per_rep": med(res["pilot_before"]),
                  "when": f"the same run, {args.before_src}"}  # fmt: skip
    pilot = med(res["pilot"])
    mem = res["memory"]
    rows: list[tuple[str, str, str]] = []

    def target(name: str, measured: str, met: bool | None) -> None:
        rows.append((name, measured, "—" if met is None else ("yes" if met else "**no**")))

    if 100 in flo:
        r = crm[100] / flo[100]
        target("100 nodes: within 5× of the numpy floor", f"{r:.1f}× ({_ms(crm[100])} vs "
               f"{_ms(flo[100])})", r <= 5)  # fmt: skip
    snp = res.get("snp100")
    if snp:
        r = snp / crm[100]
        target("100 nodes: ≥ 500× faster than SupplyNetPy", f"{r:.0f}× ({snp:.2f} s vs "
               f"{_ms(crm[100])})", r >= 500)  # fmt: skip
    if 500 in flo:
        r = crm[500] / flo[500]
        target("500 nodes: within 3× of the floor", f"{r:.1f}× ({_ms(crm[500])} vs "
               f"{_ms(flo[500])})", r <= 3)  # fmt: skip
    if "pilot_seconds_per_rep" in before:
        r = before["pilot_seconds_per_rep"] / pilot
        target("antimony pilot: ≥ 20× faster per replication than today",
               f"{r:.1f}× ({_ms(pilot)} vs {_ms(before['pilot_seconds_per_rep'])} "
               f"on {before.get('when', '?')})", r >= 20)  # fmt: skip
    else:
        target("antimony pilot: ≥ 20× faster per replication than today", _ms(pilot), None)
    if "compare" in res:
        c = res["compare"]
        target(f"{c['replications']} replications × 4 variants, 100 nodes, ≤ 20 s wall "
               "(compare, all cores)", f"{c['seconds']:.1f} s", c["seconds"] <= 20)  # fmt: skip
    r = mem[hi]["rss_mb"] / mem[lo]["rss_mb"]
    target(f"memory flat: peak at {hi} replications ≤ 1.2 × peak at {lo}",
           f"{r:.2f}× ({mem[hi]['rss_mb']:.0f} vs {mem[lo]['rss_mb']:.0f} MB, main process)",
           r <= 1.2)  # fmt: skip
    if 1000 in crm:
        r = crm[1000] / crm[100]
        target("cost at 1 000 nodes ≤ 4 × cost at 100", f"{r:.2f}×", r <= 4)
    if 10000 in res["rss"]:
        m = max(res["rss"][10000])
        target("10 000 nodes within 1 GB", f"{m:.0f} MB peak RSS", m <= 1024)
    v = max(res["validate"].values())
    target("`crmsim validate FILE` ≤ 0.5 s wall", f"{v:.3f} s (slowest shipped file, median)",
           v <= 0.5)  # fmt: skip
    la0, la1 = res["load"]
    head = [
        f"## Issue 11 targets{' — ' + args.label if args.label else ''} "
        f"({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)",
        "",
        f"`python benchmarks/issue11.py{' --quick' if args.quick else ''}"
        f"{' --src ' + str(src) if src else ''}"
        f"{' --before-src ' + str(args.before_src) if args.before_src else ''}`: "
        f"medians of {1 if args.quick else args.runs} run(s), each measurement in a fresh "
        f"process; Python {platform.python_version()}, "
        f"{os.cpu_count()} cores; load average {la0[0]:.1f} at the start and {la1[0]:.1f} at "
        f"the end (the machine is shared: timings are only comparable within this run); "
        f"{res['minutes']:.0f} min.",
        "",
        "| target | measured | met? |",
        "|---|---|---|",
        *[f"| {a} | {b} | {c} |" for a, b, c in rows],
        "",
        "Per replication (365 scored days after a 60-day warm-up, `record=\"summary\"`; crmsim: "
        "`run_replications(workers=1)` wall time ÷ R, graph and layout included; floor: "
        f"`benchmarks/floor.py`, one pass of {100 if args.quick else 1000} replications ÷ R):",
        "",
        "| nodes | crmsim | numpy floor | crmsim / floor | crmsim peak RSS MB | fill rate crmsim / "
        "floor |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for n in sizes:
        f = flo.get(n)
        ff = res.get("floor_fill", {}).get(n)
        head.append(
            f"| {n:,} | {_ms(crm[n])} | {_ms(f) if f else '—'} | "
            f"{f'{crm[n] / f:.1f}×' if f else '—'} | {max(res['rss'][n]):.0f} | "
            f"{res['fill'][n]:.3f} / {f'{ff:.3f}' if ff else '—'} |"
        )
    prof = res["profile"]
    head += [
        "",
        f"SimPy's own share of crmsim's time (cProfile, 100 nodes): "
        f"**{prof['simpy_share']:.1%}**.",
        "",
    ]
    stages = prof["stages"]
    if isinstance(stages, dict):
        head += ["Split of a day by stage (share of the day's settlement time; line_profiler "
                 "on `Engine._settle`, grouped by its numbered stages, or cProfile by function "
                 "for an engine with one function per stage; 100 nodes):", "",
                 "| stage | share |", "|---|---:|"]  # fmt: skip
        head += [f"| {k} | {v:.1%} |" for k, v in stages.items()]
    else:
        head.append(f"Split of a day by stage: {stages}.")
    head += [
        "",
        f"Start-up: `crmsim --help` {res['help']:.3f} s; `crmsim validate` per shipped file "
        "(median wall, s): "
        + ", ".join(f"{k} {v:.3f}" for k, v in res["validate"].items())
        + ".",
        "",
        f"Memory (`run_replications` of the 100-node network, {os.cpu_count()} workers, "
        "peak RSS of the main process / largest worker): "
        + "; ".join(
            f"{R} replications {m['rss_mb']:.0f} / {m['children_rss_mb']:.0f} MB "
            f"({m['seconds']:.0f} s)"
            for R, m in mem.items()
        )
        + ".",
        "",
    ]
    if "compare" in res:
        head += [f"Compare runs (s): {', '.join(f'{x:.1f}' for x in res['compare']['runs'])}.",
                 ""]  # fmt: skip
    return "\n".join(head)


if __name__ == "__main__":
    main()
