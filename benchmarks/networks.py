"""Reference networks for the benchmark: generated 4-tier crmsim scenarios.

``reference_scenario(n_nodes, seed)`` builds a scenario *dict* (the same shape as a
scenario file) for a critical-raw-material chain with four tiers:

==================  =========  ==============================  =========
tier                crmsim      output / recipe                  share of N
==================  =========  ==============================  =========
mines               mine        ``ore``                          10 %
processors          processor   ``refined`` from ``ore`` 1:1     20 %
component makers    processor   ``component`` from ``refined``   30 %
markets             market      demand for ``component``         40 %
==================  =========  ==============================  =========

Every tier has at least one node. Each buyer has 1–3 suppliers in the tier above (and every
supplier has at least one buyer); its sourcing shares sum to exactly 1 (the last share is
1 − the others, rounded to 1e-3, and checked to 1e-9). Capacities are at least 1.3 × the
planned flow, obtained by propagating mean market demand (10 units/day, cv 0.2) upstream
through shares and 1:1 recipes. Lead times are fixed, 2–20 days. Every node holds 7 days of
cover. One stochastic outage disruption hits every mine and processor (component makers
are processors too): Poisson arrivals at 1 per year per node, exponential duration with a
mean of 10 days. Horizon 365 days after a 60-day warm-up.

All random draws come from one ``numpy.random.default_rng(seed)``, in a fixed order, so the
same ``(n_nodes, seed)`` always gives the same network.

Examples
--------
>>> d = reference_scenario(20, seed=1)
>>> [sum(n["role"] == r for n in d["nodes"]) for r in ("mine", "processor", "market")]
[2, 10, 8]
>>> from crmsim.scenario.loader import scenario_from_dict
>>> scenario_from_dict(d).name
'crmsim benchmark reference network, 20 nodes (seed 1)'
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

import numpy as np

__all__ = [
    "COUNTRIES",
    "SIZES",
    "TIERS",
    "planned_flows",
    "reference_scenario",
    "tier_sizes",
    "validated_reference_scenario",
]

#: The benchmark sizes (total nodes).
SIZES = (100, 500, 1_000, 10_000)

#: (tier name, crmsim role, output material, input material, share of N)
TIERS = (
    ("mine", "mine", "ore", None, 0.10),
    ("processor", "processor", "refined", "ore", 0.20),
    ("component", "processor", "component", "refined", 0.30),
    ("market", "market", None, "component", 0.40),
)

#: A small list of producer and consumer countries (ISO alpha-3).
COUNTRIES = ("AUS", "CHL", "CHN", "COD", "DEU", "IDN", "IND", "JPN", "KOR", "USA", "ZAF", "TJK")

DEMAND_MEAN = 10.0
DEMAND_CV = 0.2
STOCK_DAYS = 7.0
CAPACITY_FACTOR = 1.3
LEAD_TIME_DAYS = (2, 20)  # inclusive
HORIZON_DAYS = 365
WARMUP_DAYS = 60
OUTAGE_RATE_PER_YEAR = 1.0
OUTAGE_MEAN_DAYS = 10.0
SHARE_DECIMALS = 3


def tier_sizes(n_nodes: int) -> list[int]:
    """Nodes per tier (mines, processors, component makers, markets) for ``n_nodes`` in all.

    Examples
    --------
    >>> tier_sizes(100), tier_sizes(4), tier_sizes(10_000)
    ([10, 20, 30, 40], [1, 1, 1, 1], [1000, 2000, 3000, 4000])
    """
    if n_nodes < len(TIERS):
        raise ValueError(f"need at least {len(TIERS)} nodes (one per tier), got {n_nodes}")
    sizes = [max(1, round(n_nodes * frac)) for *_, frac in TIERS[:-1]]
    sizes.append(n_nodes - sum(sizes))
    if sizes[-1] < 1:  # only for tiny N, where rounding up the upper tiers eats the markets
        raise ValueError(f"cannot split {n_nodes} nodes into 4 non-empty tiers")
    return sizes


def _shares(rng: np.random.Generator, k: int) -> list[float]:
    """k positive shares rounded to 1e-3; the last is 1 − the others, so they sum to 1."""
    if k == 1:
        return [1.0]
    w = rng.uniform(0.2, 1.0, size=k)
    w = w / w.sum()
    first = [round(float(x), SHARE_DECIMALS) for x in w[:-1]]
    last = round(1.0 - sum(first), SHARE_DECIMALS)
    shares = [*first, last]
    if abs(sum(shares) - 1.0) > 1e-9 or min(shares) <= 0:
        raise AssertionError(f"shares {shares} do not sum to 1 within 1e-9")
    return shares


def _capacity(rate: float) -> float:
    """At least 1.3 × ``rate``, rounded up to 0.1 unit/day (at least 0.1)."""
    cap = math.ceil(CAPACITY_FACTOR * rate * 10) / 10
    if cap < CAPACITY_FACTOR * rate:  # guard against float round-off in the ceil
        cap = round(cap + 0.1, 1)
    return max(cap, 0.1)


def planned_flows(
    scenario: dict[str, Any],
) -> tuple[dict[str, float], dict[tuple[str, str], float]]:
    """Planned daily output per node and flow per edge, from mean demand, shares and recipes.

    Mean market demand is propagated upstream: a buyer's need for its input (rate × recipe
    quantity; a market needs its demand) is split over its suppliers by share. This is the
    same rule as :func:`crmsim.network.graph.baseline_flows`, written for the plain dict so
    the SupplyNetPy side can use it without crmsim.

    Returns
    -------
    rates : dict
        Node id → planned output (units/day); for a market, its mean demand.
    flows : dict
        ``(supplier, buyer)`` → planned flow (units/day).
    """
    nodes = {n["id"]: n for n in scenario["nodes"]}
    in_edges: dict[str, list[dict[str, Any]]] = defaultdict(list)
    out_edges: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in scenario["edges"]:
        in_edges[e["to"]].append(e)
        out_edges[e["from"]].append(e)
    rates: dict[str, float] = {}
    flows: dict[tuple[str, str], float] = {}
    # Tiers are generated in order, so walk them from markets up to mines.
    tier_order = {t[0]: i for i, t in enumerate(TIERS)}
    for node_id in sorted(nodes, key=lambda i: (-tier_order[_tier_of(i)], i)):
        node = nodes[node_id]
        if node["role"] == "market":
            rates[node_id] = float(node["demand"]["mean"])
            need = rates[node_id]
        else:
            rates[node_id] = sum(flows[(node_id, e["to"])] for e in out_edges[node_id])
            recipe = node.get("recipe") or {}
            need = rates[node_id] * (next(iter(recipe.values())) if recipe else 0.0)
        for e in in_edges[node_id]:
            flows[(e["from"], node_id)] = need * e["share"]
    return rates, flows


def _tier_of(node_id: str) -> str:
    return node_id.split("_", 1)[0]


def reference_scenario(n_nodes: int, seed: int = 0) -> dict[str, Any]:
    """A 4-tier reference scenario with ``n_nodes`` nodes, as a scenario dict.

    Parameters
    ----------
    n_nodes : int
        Total number of nodes (at least 4): 10 % mines, 20 % processors, 30 % component
        makers, 40 % markets, at least one of each.
    seed : int
        Seed of the ``numpy.random.default_rng`` that draws the network (suppliers, shares,
        lead times, countries). It does not seed the simulation.

    Returns
    -------
    dict
        A scenario mapping for :func:`crmsim.scenario.loader.scenario_from_dict`.

    Examples
    --------
    >>> d = reference_scenario(100)
    >>> len(d["nodes"]), d["horizon_days"], d["warmup_days"]
    (100, 365, 60)
    >>> rates, flows = planned_flows(d)
    >>> all(n["capacity"] >= 1.3 * rates[n["id"]] for n in d["nodes"] if "capacity" in n)
    True
    """
    rng = np.random.default_rng(seed)
    sizes = tier_sizes(n_nodes)
    width = len(str(max(sizes)))
    ids = [
        [f"{name}_{i:0{width}d}" for i in range(count)]
        for (name, *_), count in zip(TIERS, sizes, strict=True)
    ]

    # Edges, tier by tier: every supplier gets one buyer first (suppliers never outnumber
    # buyers here), then every buyer is topped up to its drawn number of suppliers (1-3).
    edges: list[dict[str, Any]] = []
    for t in range(1, len(TIERS)):
        suppliers, buyers = ids[t - 1], ids[t]
        wanted = rng.integers(1, 4, size=len(buyers))
        chosen: list[list[int]] = [[] for _ in buyers]
        buyer_order = rng.permutation(len(buyers))
        for j, s in enumerate(rng.permutation(len(suppliers))):
            chosen[int(buyer_order[j % len(buyers)])].append(int(s))
        for b, picks in enumerate(chosen):
            k = min(max(int(wanted[b]), len(picks)), len(suppliers), 3)
            while len(picks) < k:  # rejection sampling: k <= 3, so this is quick
                x = int(rng.integers(len(suppliers)))
                if x not in picks:
                    picks.append(x)
            picks.sort()
            shares = _shares(rng, len(picks))
            lead = rng.integers(LEAD_TIME_DAYS[0], LEAD_TIME_DAYS[1] + 1, size=len(picks))
            for s, share, lt in zip(picks, shares, lead, strict=True):
                edges.append(
                    {"from": suppliers[s], "to": buyers[b], "share": share, "lead_time": int(lt)}
                )

    countries = rng.choice(len(COUNTRIES), size=n_nodes)
    nodes: list[dict[str, Any]] = []
    k = 0
    for (_name, role, output, source, _frac), tier_ids in zip(TIERS, ids, strict=True):
        for node_id in tier_ids:
            node: dict[str, Any] = {
                "id": node_id,
                "role": role,
                "country": COUNTRIES[int(countries[k])],
                "stock_days": STOCK_DAYS,
            }
            k += 1
            if role == "market":
                node["demand"] = {"mean": DEMAND_MEAN, "cv": DEMAND_CV}
            else:
                node["output"] = output
                if source is not None:
                    node["recipe"] = {source: 1.0}
            nodes.append(node)

    scenario: dict[str, Any] = {
        "crmsim": 1,
        "name": f"crmsim benchmark reference network, {n_nodes} nodes (seed {seed})",
        "description": "Generated 4-tier network (mines, processors, component makers, "
        "markets) for the crmsim vs SupplyNetPy benchmark; see benchmarks/README.md.",
        "assumptions": [
            "Every number is synthetic: generated by benchmarks/networks.py, not data.",
        ],
        "horizon_days": HORIZON_DAYS,
        "warmup_days": WARMUP_DAYS,
        "materials": [
            {"id": "ore", "name": "ore concentrate"},
            {"id": "refined", "name": "refined metal"},
            {"id": "component", "name": "component"},
        ],
        "nodes": nodes,
        "edges": edges,
        "disruptions": [
            {
                "id": "random_outages",
                "kind": "outage",
                "target": {"role": ["mine", "processor"]},
                "random": {
                    "rate_per_year": OUTAGE_RATE_PER_YEAR,
                    "duration": {"exponential": {"mean": OUTAGE_MEAN_DAYS}},
                },
            }
        ],
    }

    rates, _ = planned_flows(scenario)
    for node in nodes:
        if node["role"] != "market":
            node["capacity"] = _capacity(rates[node["id"]])
    _check(scenario)
    return scenario


def _check(scenario: dict[str, Any]) -> None:
    """Structural checks of a generated scenario (shares, supplier counts, coverage)."""
    by_buyer: dict[str, list[float]] = defaultdict(list)
    has_buyer: set[str] = set()
    for e in scenario["edges"]:
        by_buyer[e["to"]].append(e["share"])
        has_buyer.add(e["from"])
    for node in scenario["nodes"]:
        nid = node["id"]
        if node["role"] != "mine":
            shares = by_buyer[nid]
            if not 1 <= len(shares) <= 3:
                raise AssertionError(f"{nid} has {len(shares)} suppliers")
            if abs(sum(shares) - 1.0) > 1e-9:
                raise AssertionError(f"{nid}: shares sum to {sum(shares)!r}")
        if node["role"] != "market" and nid not in has_buyer:
            raise AssertionError(f"{nid} has no buyer")


def validated_reference_scenario(n_nodes: int, seed: int = 0) -> Any:
    """The reference scenario validated by crmsim (a :class:`crmsim.scenario.Scenario`)."""
    from crmsim.scenario.loader import scenario_from_dict

    return scenario_from_dict(reference_scenario(n_nodes, seed))
