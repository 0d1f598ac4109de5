"""The numpy "floor": the reference network simulated with the least work a day can take.

What a replication of the reference network (``networks.py``) costs when R replications
advance together and each day is a handful of numpy operations over ``(R, nodes)`` and
``(R, edges)`` arrays — the lower bound a general engine can approach, not a model to
trust. It keeps what makes the network's day: outages (Poisson, 1 a year per mine and
processor, exponential durations, whole days), arrivals after each edge's fixed lead
time (a ring buffer), production limited by capacity, availability and input stock,
market demand (normal, mean 10, sd 2, truncated at 0 by clipping), served from stock
(lost sales), orders up to an inventory position of need × (7 days + share-weighted lead
time), split by share, shipped pro rata from the supplier's output stock. It leaves out
everything else crmsim does (re-sourcing, levers, recorders, metrics beyond fill rate,
checks). Fill rate is printed as a sanity check that goods flow.

``python benchmarks/floor.py --nodes 100 --replications 1000`` prints seconds per
replication (one pass of R replications, divided by R).

Examples
--------
>>> from networks import reference_scenario
>>> out = simulate_floor(reference_scenario(20, seed=1), replications=8, seed=0)
>>> out["replications"], 0.5 < out["fill_rate"] <= 1.0
(8, True)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from networks import planned_flows, reference_scenario

__all__ = ["simulate_floor"]


def col(values: Any) -> np.ndarray:
    """A column vector (broadcasts over the replications axis)."""
    return np.asarray(values, dtype=float)[:, None]


def simulate_floor(data: dict[str, Any], replications: int, seed: int = 0) -> dict[str, Any]:
    """R replications of a reference scenario dict in one vectorised pass."""
    R = int(replications)
    rng = np.random.default_rng(seed)
    nodes = data["nodes"]
    index = {n["id"]: i for i, n in enumerate(nodes)}
    N, E = len(nodes), len(data["edges"])
    W, H = int(data["warmup_days"]), int(data["horizon_days"])
    T = W + H
    src = np.array([index[e["from"]] for e in data["edges"]])
    dst = np.array([index[e["to"]] for e in data["edges"]])
    share = np.array([float(e["share"]) for e in data["edges"]])
    lead = np.array([int(e["lead_time"]) for e in data["edges"]])
    rates, flows = planned_flows(data)
    need = np.array([rates[n["id"]] for n in nodes])  # output (market: demand) per day
    cap = np.array([float(n.get("capacity", 0.0)) for n in nodes])
    role = np.array([n["role"] for n in nodes])
    market = np.flatnonzero(role == "market")
    mine = np.flatnonzero(role == "mine")
    proc = np.flatnonzero(role == "processor")
    stock_days = np.array([float(n["stock_days"]) for n in nodes])
    # Arrays are (nodes, R) and (edges, R): replications last, so that a row is contiguous.
    # Sparse maps sum an (E, R) array into (N, R) by supplier or by buyer.
    ones = np.ones(E)
    by_src = sp.csr_matrix((ones, (src, np.arange(E))), shape=(N, E))
    by_dst = sp.csr_matrix((ones, (dst, np.arange(E))), shape=(N, E))
    buys = np.zeros(N, dtype=bool)
    buys[dst] = True
    lead_w = np.zeros(N)
    np.add.at(lead_w, dst, share * lead)
    target_pos = col(need * (stock_days + lead_w))  # inventory position of a buyer's input
    target_out = col(need * stock_days)  # output stock of a supplier
    buys_c, share_c, cap_c = col(buys), col(share), col(cap)
    # State: input stock and on order per node; output stock; pipeline ring buffer.
    inp = np.repeat(col(np.where(buys, need * stock_days, 0.0)), R, axis=1)
    out = np.repeat(target_out, R, axis=1)
    L = int(lead.max()) + 1
    ring = np.zeros((L, E, R))
    flow_e = np.array([flows[(e["from"], e["to"])] for e in data["edges"]])
    for k in range(1, L):  # the steady-state pipeline: planned flow on every day in transit
        ring[k] = col(np.where(lead >= k, flow_e, 0.0))
    onorder = np.repeat(col(by_dst @ (flow_e * lead)), R, axis=1)
    # Outages: changes of the "down" count per day, sorted by day (cheap to apply daily).
    hit = np.concatenate([mine, proc])
    n_ev = rng.poisson(T / 365.0, size=(R, hit.size))
    rr, jj = np.nonzero(n_ev)
    reps = np.repeat(rr, n_ev[rr, jj])
    where = hit[np.repeat(jj, n_ev[rr, jj])]
    start = rng.integers(0, T, size=reps.size)
    end = start + np.maximum(1, np.rint(rng.exponential(10.0, size=reps.size))).astype(int)
    day = np.concatenate([start, end])
    delta = np.concatenate([np.ones(reps.size), -np.ones(reps.size)])
    order = np.argsort(day, kind="stable")
    day, delta = day[order], delta[order]
    r_of, n_of = np.concatenate([reps, reps])[order], np.concatenate([where, where])[order]
    bounds = np.searchsorted(day, np.arange(T + 1))
    down = np.zeros((N, R))
    served_sum = np.zeros(R)
    demand_sum = np.zeros(R)
    edges = np.arange(E)
    for d in range(T):
        a, b = bounds[d], bounds[d + 1]
        if b > a:
            np.add.at(down, (n_of[a:b], r_of[a:b]), delta[a:b])
        up = down <= 0
        slot = d % L
        arrived = by_dst @ ring[slot]  # (N, R)
        ring[slot] = 0.0
        inp += arrived
        onorder -= arrived
        made = np.minimum(cap_c * up, np.maximum(target_out - out, 0.0))
        made[proc] = np.minimum(made[proc], inp[proc])
        made[market] = 0.0
        inp[proc] -= made[proc]
        out += made
        demand = np.maximum(rng.normal(10.0, 2.0, size=(market.size, R)), 0.0)
        served = np.minimum(inp[market], demand)
        inp[market] -= served
        if d >= W:
            served_sum += served.sum(axis=0)
            demand_sum += demand.sum(axis=0)
        want = np.maximum(target_pos - inp - onorder, 0.0) * buys_c  # (N, R)
        ask = want[dst] * share_c  # (E, R)
        asked = by_src @ ask  # (N, R)
        fill = np.minimum(1.0, np.divide(out * up, asked, out=np.ones_like(out), where=asked > 0))
        ship = ask * fill[src]
        out -= by_src @ ship
        onorder += by_dst @ ship
        ring[(d + lead) % L, edges] += ship
    return {
        "replications": R,
        "nodes": N,
        "edges": E,
        "fill_rate": float(served_sum.sum() / demand_sum.sum()),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nodes", type=int, default=100)
    ap.add_argument("--replications", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    data = reference_scenario(args.nodes, seed=0)
    t0 = time.perf_counter()
    res = simulate_floor(data, args.replications, args.seed)
    res["seconds_per_replication"] = (time.perf_counter() - t0) / args.replications
    print(json.dumps(res))


if __name__ == "__main__":
    main()
