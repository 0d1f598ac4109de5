"""Scale benchmark of `crmsim compare`: serial, a 2-worker local pool and a 2-worker Dask cluster.

Runs the experiment (baseline + 3 options) on the 100-node reference network of
``networks.py`` with each executor, each in a fresh Python process, and reports wall time,
replications per second, the speed-up over one worker, peak memory, and whether the
tables are bitwise identical. See README.md ("Scale benchmark"). Not a test.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import resource
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
MODES = ("serial", "pool2", "dask2")


def scenario() -> Any:
    sys.path.insert(0, str(HERE))
    from crmsim.scenario.loader import scenario_from_dict
    from networks import reference_scenario

    data = reference_scenario(100, seed=0)
    data["policies"] = [
        {"id": f"stock_p{i}", "stockpile": {"at": f"processor_0{i}", "material": "ore",
                                            "days_of_cover": 20, "release_below_fill_rate": 0.95}}
        for i in (0, 1, 2)
    ]  # fmt: skip
    data["experiment"] = {"seed": 1, "compare": ["stock_p0", "stock_p1", "stock_p0+stock_p1"]}
    return scenario_from_dict(data)


def worker(mode: str, replications: int, batch: int) -> dict[str, Any]:
    """One measurement, in this (fresh) process."""
    import pandas as pd

    from crmsim.experiment.compare import run_experiment

    s = scenario()
    kw: dict[str, Any] = {"replications": replications, "flow_replications": 0,
                          "batch_size": batch}  # fmt: skip
    startup = 0.0
    cluster = client = None
    if mode == "dask2":
        import distributed

        t0 = time.perf_counter()
        cluster = distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
            dashboard_address=":0",  # any free port: 8787 may be taken
        )  # fmt: skip
        client = distributed.Client(cluster, set_as_default=False)
        startup = time.perf_counter() - t0
        kw["scheduler"] = client
    else:
        kw["workers"] = 1 if mode == "serial" else 2
    t0 = time.perf_counter()
    run = run_experiment(s, **kw)
    seconds = time.perf_counter() - t0
    if client is not None:
        client.close()
        cluster.close()
    digest = hashlib.sha256(
        pd.util.hash_pandas_object(run.replications, index=False).to_numpy().tobytes()
    ).hexdigest()
    return {
        "mode": mode,
        "executor": run.executor,
        "replications": replications,
        "variants": len(run.variants),
        "seconds": seconds,
        "startup_seconds": startup,
        "reps_per_second": replications * len(run.variants) / seconds,
        "peak_rss_mb_main": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "peak_rss_mb_largest_child": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        / 1024,
        "table_sha256": digest,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--replications", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=3, help="runs per mode (medians reported)")
    ap.add_argument("--batch-size", type=int, default=100)
    ap.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    ap.add_argument("--worker", choices=MODES, help=argparse.SUPPRESS)
    ap.add_argument("--write", action="store_true", help="append a section to RESULTS.md")
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.replications, args.batch_size)))
        return
    results: dict[str, list[dict[str, Any]]] = {m: [] for m in args.modes}
    for run in range(args.runs):
        for mode in args.modes:  # alternate the modes, so drifts in load hit all alike
            out = subprocess.run(
                [sys.executable, __file__, "--worker", mode, "--replications",
                 str(args.replications), "--batch-size", str(args.batch_size)],
                check=True, capture_output=True, text=True,
            ).stdout  # fmt: skip
            rec = json.loads(out.strip().splitlines()[-1])
            results[mode].append(rec)
            print(f"run {run + 1} {mode}: {rec['seconds']:.1f} s, "
                  f"{rec['reps_per_second']:.1f} rep/s", flush=True)  # fmt: skip
    table = summarise(results, args)
    print(table)
    if args.write:
        with open(HERE / "RESULTS.md", "a", encoding="utf-8") as fh:
            fh.write("\n" + table)


def summarise(results: dict[str, list[dict[str, Any]]], args: Any) -> str:
    import platform

    import crmsim

    med = {m: statistics.median(r["seconds"] for r in rs) for m, rs in results.items() if rs}
    base = med.get("serial")
    digests = {r["table_sha256"] for rs in results.values() for r in rs}
    any_rec = next(r for rs in results.values() for r in rs)
    lines = [
        f"## Scale: `compare` on the 100-node reference network "
        f"({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)",
        "",
        f"`python benchmarks/compare_scale.py --replications {args.replications} --runs "
        f"{args.runs} --batch-size {args.batch_size}`: {any_rec['variants']} variants "
        "(baseline, two stockpile options and their combination) × "
        f"{args.replications} replications, "
        f"flow_replications=0, each mode in a fresh process, modes alternated; crmsim "
        f"{crmsim.__version__}, Python {platform.python_version()}, {_cores()} cores. "
        "**The machine is shared with other jobs and noisy**: the figures are medians of "
        f"{args.runs} run(s) and only indicative.",
        "",
        "| executor | wall s (median; min–max) | replications/s | speed-up vs 1 worker "
        "| cluster start s | peak RSS MB main / largest worker |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for mode, rs in results.items():
        if not rs:
            continue
        secs = [r["seconds"] for r in rs]
        speed = f"{base / med[mode]:.2f}×" if base else "—"
        lines.append(
            f"| {rs[0]['executor']} | {med[mode]:.1f} ({min(secs):.1f}–{max(secs):.1f}) | "
            f"{statistics.median(r['reps_per_second'] for r in rs):.1f} | {speed} | "
            f"{statistics.median(r['startup_seconds'] for r in rs):.1f} | "
            f"{max(r['peak_rss_mb_main'] for r in rs):.0f} / "
            f"{max(r['peak_rss_mb_largest_child'] for r in rs):.0f} |"
        )
    lines += [
        "",
        "Tables bitwise identical across every run and executor: "
        + ("yes" if len(digests) == 1 else f"NO ({len(digests)} different)")
        + " (SHA-256 of the replications table's row hashes). Wall time is the experiment "
        "alone; the Dask cluster's start-up is in its own column. Peak RSS: `ru_maxrss` of "
        "the main process, and the largest of its finished child processes (pool workers "
        "or Dask worker processes).",
        "",
    ]
    return "\n".join(lines)


def _cores() -> int:
    from crmsim.experiment.pool import available_cores

    return available_cores()


if __name__ == "__main__":
    main()
