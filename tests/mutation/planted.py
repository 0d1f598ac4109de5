"""Named planted mutants: engine-bug classes as snippet replacements in the stage functions.

Each entry replaces ``original`` (which must occur exactly once in ``file``; each line's
indentation is matched loosely and the first line's indentation is re-applied to the
replacement) by ``replacement``. When the engine code changes so that a snippet no longer
occurs, the mutant is reported as "not applicable": update the snippet here to plant the
same bug class in the new code.

The first six are the bug classes of the first engine review (issue 7), moved from the
one-replication engine to the batched stage functions (``src/crmsim/engine/stages.py``);
the rest are the rules stated in docs/engine.md that a test must pin: export quotas,
open orders, end of life, back-orders, recovery ramps, lead times and entry triggers.
"""

STAGES = "src/crmsim/engine/stages.py"

PLANTED: list[dict[str, str]] = [
    {
        "name": "rationing-first-come",
        "file": STAGES,
        "description": "a short supplier fills orders first-come by edge order, not pro rata",
        "original": """
            ratio = _div(can, req_total, req_total > 0, 0.0)
            ship = s.scratch("ship", request.shape)
            np.take(ratio, lay.edge_src, axis=1, out=ship, mode="clip")
            ship *= request
        """,
        "replacement": """
            left = s.out_stock.copy()
            ship = np.zeros_like(request)
            for e_fc in range(request.shape[1]):
                s_fc = lay.edge_src[e_fc]
                ship[:, e_fc] = np.minimum(request[:, e_fc], left[:, s_fc])
                left[:, s_fc] -= ship[:, e_fc]
        """,
    },
    {
        "name": "eol-split-ignored",
        "file": STAGES,
        "description": "each of two recyclers collects a market's whole end of life",
        "original": "units = s.eol_due[col][:, d] * part",
        "replacement": "units = s.eol_due[col][:, d]",
    },
    {
        "name": "resource-above-spare",
        "file": STAGES,
        "description": "re-sourced orders are accepted beyond the alternative's spare capacity",
        "original": "accepted = request * np.minimum(1.0, scale)[:, src_alt]",
        "replacement": "accepted = request",
    },
    {
        "name": "logistics-loses-transit",
        "file": STAGES,
        "description": "a logistics delay takes goods in transit off the calendar, never rebooked",
        "original": "np.add.at(s.ring[:, r, e], target, qty)",
        "replacement": "pass",
    },
    {
        "name": "switch-delay-off-by-one",
        "file": STAGES,
        "description": "re-sourcing starts one day late (>= becomes >)",
        "original": "(age[:, pf_u] >= lay.edge_switch_days[pt])",
        "replacement": "(age[:, pf_u] > lay.edge_switch_days[pt])",
    },
    {
        "name": "release-ignores-export-block",
        "file": STAGES,
        "description": "a stockpile release crosses a border its export restriction blocks",
        "original": "lim = trigger & (s.block[:, plan.edge] > 0)",
        "replacement": "lim = trigger & False",
    },
    {
        "name": "partial-quota-does-not-bite",
        "file": STAGES,
        "description": "a partial export restriction lets every order cross (quota ignored)",
        "original": "allowed = np.where(s.block > 0, np.minimum(s.backlog, quota), s.backlog)",
        "replacement": "allowed = np.where(s.block >= 1, 0.0, s.backlog)",
    },
    {
        "name": "quota-not-scaled-by-growth",
        "file": STAGES,
        "description": "the export quota ignores demand growth (reference flow of day 0)",
        "original": "quota_ref = quota_ref * st.scale[d][lay.edge_dst]",
        "replacement": "quota_ref = quota_ref * 1.0",
    },
    {
        "name": "halted-plant-buys-inputs",
        "file": STAGES,
        "description": "a plant with no capacity today still buys the inputs for its open orders",
        "original": "makeable = np.where(day.cap_today[:, owner] > 0, beyond, 0.0)",
        "replacement": "makeable = beyond",
    },
    {
        "name": "open-orders-echo",
        "file": STAGES,
        "description": "inputs are bought for all open orders, not only those beyond output stock",
        "original": "beyond = np.maximum(0.0, day.open_orders[:, owner] - s.out_stock[:, owner])",
        "replacement": "beyond = day.open_orders[:, owner]",
    },
    {
        "name": "collection-rate-ignored",
        "file": STAGES,
        "description": "every end-of-life unit is collected whatever the collection rate",
        "original": "got = eol_embedded * plan.collection_rate",
        "replacement": "got = eol_embedded * 1.0",
    },
    {
        "name": "recovery-efficiency-ignored",
        "file": STAGES,
        "description": "a recycler recovers all the feedstock it uses (efficiency ignored)",
        "original": "prod[:, rec] = used * eff",
        "replacement": "prod[:, rec] = used",
    },
    {
        "name": "backorders-forgotten",
        "file": STAGES,
        "description": "a back-ordering market forgets its unmet demand the next day",
        "original": "s.market_backlog = np.where(bo, wanted - served_total, 0.0)",
        "replacement": "s.market_backlog = np.zeros_like(wanted)",
    },
    {
        "name": "recovery-ramp-ignored",
        "file": STAGES,
        "description": "a node is fully back the day its outage ends (no recovery ramp)",
        "original": "a *= 1.0 - ev.severity * ramp_share(ev, d)",
        "replacement": "a *= 1.0 - ev.severity * (ev.start <= d < ev.end)",
    },
    {
        "name": "lead-time-one-day-short",
        "file": STAGES,
        "description": "shipments arrive one day before their lead time",
        "original": "due = d + lead_e  # due at or after the end of the run: the sink row L",
        "replacement": "due = d + max(lead_e - 1, 1)",
    },
    {
        "name": "entry-trigger-any-day",
        "file": STAGES,
        "description": "the consecutive-days entry rule fires on any one day below the threshold",
        "original": "return np.all(perf < below, axis=1)",
        "replacement": "return np.any(perf < below, axis=1)",
    },
    {
        "name": "destroyed-input-stock-kept",
        "file": STAGES,
        "description": "an outage that destroys stock spares the input stock",
        "original": "lost_in = s.in_stock[r, slots] * share",
        "replacement": "lost_in = s.in_stock[r, slots] * 0.0",
    },
    {
        "name": "release-rule-uses-best-day",
        "file": STAGES,
        "description": "a plant release rule takes the best of 7 days, not their mean",
        "original": "ratio = s.plant_perf[lo:d, :, k].mean(axis=0) if d > lo else np.ones(s.R)",
        "replacement": "ratio = s.plant_perf[lo:d, :, k].max(axis=0) if d > lo else np.ones(s.R)",
    },
    {
        "name": "impairment-clock-never-resets",
        "file": STAGES,
        "description": "the switching delay is counted from an edge's first impairment ever",
        "original": "s.impaired_since[~impaired & g] = -1",
        "replacement": "pass",
    },
]
