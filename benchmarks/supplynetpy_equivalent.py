"""The benchmark's reference network built in SupplyNetPy 0.5.1 (PyPI ``supplynetpy``).

SupplyNetPy is the closest open-source peer of crmsim: a SimPy supply-network simulator.
This module builds, from a crmsim scenario dict made by :mod:`networks`, the same network
with SupplyNetPy's public API and runs one replication. It only *calls* SupplyNetPy (installed
from PyPI, ``pip install -e '.[bench]'``); no SupplyNetPy code is copied here.

Mapping (every difference is listed in ``benchmarks/README.md``):

- mine → ``Supplier`` (``node_type="supplier"``) mining ``capacity`` units per day of its own
  ``RawMaterial``;
- processor (refiner) → ``Manufacturer`` whose ``Product`` needs ``share`` units of each of its
  mines' raw materials per unit (so each production order is split over its mines by share,
  as in crmsim) and makes at most ``capacity`` units per day (``batch_size=capacity``,
  ``manufacturing_time=1``);
- component maker → ``InventoryNode`` (``"distributor"``): a SupplyNetPy ``Manufacturer`` can
  only buy from raw-material suppliers, so the 1:1 recipe becomes a pass-through, with no
  production-capacity limit;
- market → ``InventoryNode`` (``"retailer"``) plus a ``Demand`` that orders every day a
  normal(10, 2) quantity (truncated above 0) and takes what is in stock (lost sales);
- edge → ``Link`` with the same fixed lead time; the buyers in the two lower tiers choose one
  supplier per order with ``SelectProbabilistic`` (probabilities = shares,
  ``on_disruption="block"``);
- order-up-to: ``SSReplenishment`` reviewed every day (``period=1``) with ``S`` = planned
  daily need × (7 days of cover + share-weighted inbound lead time) and ``s`` just below ``S``;
- outage (Poisson 1/year, exponential 10 days) → each mine, processor and component maker gets
  ``node_disrupt_time`` ~ exponential(mean 365 days) and ``node_recovery_time`` ~
  exponential(mean 10 days).

Random numbers come from one ``numpy.random.SeedSequence(seed)``: one spawned stream per
node for outages and per market for demand. SupplyNetPy's library RNG is also seeded
(``set_seed``), although nothing here draws from it.

Examples
--------
>>> from networks import reference_scenario
>>> out = run_replication(reference_scenario(20), seed=1)
>>> out["simpy_events"] > 0, 0 <= out["fill_rate"] <= 1
(True, True)
"""

from __future__ import annotations

import random
import warnings
from collections import defaultdict
from typing import Any

import numpy as np

from networks import planned_flows

__all__ = ["STORAGE_FACTOR", "build_network", "run_replication", "snp_version"]

#: Storage capacity of a stocking site, as a multiple of its order-up-to position S.
STORAGE_FACTOR = 3.0


def snp_version() -> str | None:
    """The installed SupplyNetPy version, or None if it is not installed."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("supplynetpy")
    except PackageNotFoundError:
        return None


def _silence(scm: Any) -> None:
    """Switch off SupplyNetPy's library logger (per-node loggers are muted with logging=False).

    Log *strings* are still built on every event (f-strings evaluated before the logger call
    sees it is disabled); that cost cannot be switched off through SupplyNetPy's API.
    """
    scm.global_logger.disable_logging()


def build_network(scenario: dict[str, Any], seed: int, env: Any | None = None) -> dict[str, Any]:
    """Build the SupplyNetPy equivalent of a reference scenario dict.

    Parameters
    ----------
    scenario : dict
        A scenario from :func:`networks.reference_scenario`.
    seed : int
        Replication seed: outages and demand draw from streams spawned from it.
    env : simpy.Environment, optional
        The environment to build in (a new one by default).

    Returns
    -------
    dict
        ``env``, ``nodes`` (id → SupplyNetPy node), ``demands`` (market id → ``Demand``),
        ``links`` (``(u, v)`` → ``Link``).
    """
    import simpy
    import SupplyNetPy.Components as scm

    _silence(scm)
    scm.set_seed(seed)
    env = simpy.Environment() if env is None else env

    nodes_by_id = {n["id"]: n for n in scenario["nodes"]}
    rates, _ = planned_flows(scenario)
    in_edges: dict[str, list[dict[str, Any]]] = defaultdict(list)
    out_edges: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in sorted(scenario["edges"], key=lambda e: (e["from"], e["to"])):
        in_edges[e["to"]].append(e)
        out_edges[e["from"]].append(e)

    # Outage process of the reference scenario (one stochastic disruption).
    (outage,) = scenario["disruptions"]
    rate_per_year = float(outage["random"]["rate_per_year"])
    mean_outage = float(outage["random"]["duration"]["exponential"]["mean"])
    disrupted_roles = set(outage["target"]["role"])

    ids = sorted(nodes_by_id)
    streams = dict(zip(ids, np.random.SeedSequence(seed).spawn(len(ids)), strict=True))

    def rng_for(node_id: str) -> np.random.Generator:
        return np.random.default_rng(streams[node_id])

    # Order-up-to position S: need × (stock days + share-weighted inbound lead time).
    def need(node_id: str) -> float:
        return rates[node_id]  # recipes are 1:1 and a market needs its demand

    def target(node_id: str) -> float:
        node = nodes_by_id[node_id]
        lead = sum(e["share"] * float(e["lead_time"]) for e in in_edges[node_id])
        return need(node_id) * (float(node.get("stock_days", 7.0)) + lead)

    # Storage capacity. A SupplyNetPy supplier fills an order only when it holds all of it
    # (FIFO, no partial shipments), so an order larger than its storage waits for ever and
    # blocks every later order. Storage is therefore at least the largest order a buyer can
    # place: a buyer orders at most its own storage, times the raw-material quantity per
    # unit for a Manufacturer buyer. Computed from the markets upwards.
    tier_rank = {"market": 0, "component": 1, "processor": 2, "mine": 3}
    storage: dict[str, float] = {}
    for node_id in sorted(ids, key=lambda i: (tier_rank[i.split("_", 1)[0]], i)):
        tier = node_id.split("_", 1)[0]
        if tier == "mine":  # a mine mines until its storage is full: keep that small
            own = need(node_id) * float(nodes_by_id[node_id].get("stock_days", 7.0))
        else:  # only a cap (stock is held at S by the policy): leave room for catch-up orders
            own = STORAGE_FACTOR * target(node_id)
        biggest_order = 0.0
        for e in out_edges[node_id]:
            buyer = e["to"]
            per_unit = e["share"] if buyer.startswith("processor_") else 1.0
            biggest_order = max(biggest_order, storage[buyer] * per_unit)
        storage[node_id] = max(own, biggest_order, 1.0)

    def outage_kwargs(node_id: str) -> dict[str, Any]:
        role = nodes_by_id[node_id]["role"]
        if role not in disrupted_roles:
            return {}
        g = rng_for(node_id)
        mean_gap = 365.0 / rate_per_year
        return {
            "node_disrupt_time": lambda: float(g.exponential(mean_gap)),
            "node_recovery_time": lambda: float(g.exponential(mean_outage)),
        }

    def initial(node_id: str) -> float:
        # SupplyNetPy cannot start with goods in transit. Starting with only 7 days on hand
        # makes every site order its whole lead-time pipeline at time 0, in single orders
        # that its supplier cannot fill whole (SupplyNetPy ships an order only when it has
        # all of it), and the network jams. So every stocking site starts with its whole
        # order-up-to position S on hand; the pipeline fills during the warm-up.
        node = nodes_by_id[node_id]
        if node["role"] == "mine":
            days = node.get("initial_stock_days", node.get("stock_days", 7.0))
            return min(need(node_id) * float(days), storage[node_id])
        return min(target(node_id), storage[node_id])

    def policy(node_id: str) -> dict[str, Any]:
        big_s = max(target(node_id), 1e-6)
        return {"s": max(big_s - 1e-6, 0.0), "S": big_s, "period": 1}

    built: dict[str, Any] = {}
    raw_materials: dict[str, Any] = {}
    for node_id in ids:
        tier = node_id.split("_", 1)[0]
        node = nodes_by_id[node_id]
        common = {"env": env, "ID": node_id, "name": node_id, "logging": False}
        if tier == "mine":
            rm = scm.RawMaterial(
                ID=f"ore@{node_id}",
                name=f"ore from {node_id}",
                extraction_quantity=float(node["capacity"]),
                extraction_time=1,
                mining_cost=0,
                cost=1,
            )
            raw_materials[node_id] = rm
            built[node_id] = scm.Supplier(
                **common,
                node_type="supplier",
                capacity=storage[node_id],
                initial_level=initial(node_id),
                inventory_holding_cost=0,
                raw_material=rm,
                **outage_kwargs(node_id),
            )
    for node_id in ids:
        tier = node_id.split("_", 1)[0]
        node = nodes_by_id[node_id]
        common = {"env": env, "ID": node_id, "name": node_id, "logging": False}
        if tier == "processor":
            product = scm.Product(
                ID=f"refined@{node_id}",
                name=f"refined metal from {node_id}",
                manufacturing_cost=1,
                manufacturing_time=1,
                sell_price=1,
                raw_materials=[
                    (raw_materials[e["from"]], float(e["share"])) for e in in_edges[node_id]
                ],
                batch_size=float(node["capacity"]),
            )
            built[node_id] = scm.Manufacturer(
                **common,
                capacity=storage[node_id],
                initial_level=initial(node_id),
                inventory_holding_cost=0,
                product_sell_price=1,
                replenishment_policy=scm.SSReplenishment,
                policy_param=policy(node_id),
                product=product,
                **outage_kwargs(node_id),
            )
        elif tier in ("component", "market"):
            seed_sel = int(rng_for(node_id).integers(2**63))
            built[node_id] = scm.InventoryNode(
                **common,
                node_type="distributor" if tier == "component" else "retailer",
                capacity=storage[node_id],
                initial_level=initial(node_id),
                inventory_holding_cost=0,
                replenishment_policy=scm.SSReplenishment,
                policy_param=policy(node_id),
                product_sell_price=1,
                product_buy_price=1,
                supplier_selection_policy=scm.SelectProbabilistic,
                supplier_selection_param={
                    "probabilities": {e["from"]: float(e["share"]) for e in in_edges[node_id]},
                    "on_disruption": "block",
                    "rng": random.Random(seed_sel),
                },
                **outage_kwargs(node_id),
            )

    links = {}
    for e in sorted(scenario["edges"], key=lambda e: (e["to"], e["from"])):
        u, v = e["from"], e["to"]
        links[(u, v)] = scm.Link(
            env=env,
            ID=f"{u}->{v}",
            source=built[u],
            sink=built[v],
            cost=0,
            lead_time=float(e["lead_time"]),
        )

    demands = {}
    for node_id in ids:
        node = nodes_by_id[node_id]
        if node["role"] != "market":
            continue
        mean = float(node["demand"]["mean"])
        sd = mean * float(node["demand"].get("cv", 0.0))
        g = np.random.default_rng(np.random.SeedSequence([seed, 1, ids.index(node_id)]))

        def quantity(g: np.random.Generator = g, mean: float = mean, sd: float = sd) -> float:
            return max(float(g.normal(mean, sd)), 1e-9)  # SupplyNetPy needs a positive size

        demands[node_id] = scm.Demand(
            env=env,
            ID=f"{node_id}.customers",
            name=f"customers of {node_id}",
            order_arrival_model=1,
            order_quantity_model=quantity,
            demand_node=built[node_id],
            consume_available=True,
            logging=False,
        )
    return {"env": env, "nodes": built, "demands": demands, "links": links}


def _event_counts(env: Any) -> tuple[int, int]:
    """SimPy events (scheduled, processed) so far, read from SimPy's own bookkeeping.

    SimPy numbers every event it schedules with ``next(env._eid)`` (an ``itertools.count``),
    so the next id is the number scheduled (crmsim counts the same thing); events still in
    ``env._queue`` were scheduled but not processed. Reading the counter consumes one id,
    which does not matter after the run. Nothing is wrapped, so counting costs nothing.
    """
    scheduled = next(env._eid)
    return scheduled, scheduled - len(env._queue)


def run_replication(scenario: dict[str, Any], seed: int) -> dict[str, Any]:
    """Build and run one SupplyNetPy replication (warm-up, reset statistics, horizon).

    Returns
    -------
    dict
        ``build_s``, ``run_s``, ``seconds`` (build + run), ``simpy_events`` (scheduled) and
        ``simpy_events_processed``, ``fill_rate``
        (served / demanded units at the markets over the scored horizon), ``warnings``
        (distinct SupplyNetPy warning messages, which are otherwise hidden).
    """
    import time

    # Imports are not part of the timed replication.
    import simpy  # noqa: F401
    import SupplyNetPy.Components  # noqa: F401

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        t0 = time.perf_counter()
        net = build_network(scenario, seed)
        t1 = time.perf_counter()
        env = net["env"]
        warmup = int(scenario.get("warmup_days", 60))
        horizon = int(scenario.get("horizon_days", 365))
        env.run(until=warmup)
        for group in ("nodes", "demands", "links"):
            for item in net[group].values():
                item.stats.reset()
        env.run(until=warmup + horizon)
        t2 = time.perf_counter()
    scheduled, processed = _event_counts(env)
    demanded = sum(d.stats.demand_placed[1] for d in net["demands"].values())
    served = sum(d.stats.fulfillment_received[1] for d in net["demands"].values())
    messages = sorted({str(w.message)[:160] for w in caught})
    return {
        "build_s": t1 - t0,
        "run_s": t2 - t1,
        "seconds": t2 - t0,
        "simpy_events": scheduled,
        "simpy_events_processed": processed,
        "fill_rate": served / demanded if demanded else 1.0,
        "warnings": messages,
    }
