"""Named planted mutants: the six engine-bug classes of issue 7, as snippet replacements.

Each entry replaces ``original`` (which must occur exactly once in ``file``; each line's
indentation is matched loosely and the first line's indentation is re-applied to the
replacement) by ``replacement``. When the engine code changes so that a snippet no longer
occurs, the mutant is reported as "not applicable": update the snippet here to plant the
same bug class in the new code.
"""

CORE = "src/crmsim/engine/core.py"

PLANTED: list[dict[str, str]] = [
    {
        "name": "rationing-first-come",
        "file": CORE,
        "description": "a short supplier fills orders first-come by edge order, not pro rata",
        "original": """
            ratio = np.divide(can, req_total, out=np.zeros(N), where=req_total > 0)
            ship = request * ratio[lay.edge_src]
        """,
        "replacement": """
            left = self.out_stock.copy()
            ship = np.zeros_like(request)
            for e_fc in range(len(request)):
                s_fc = lay.edge_src[e_fc]
                ship[e_fc] = min(request[e_fc], left[s_fc])
                left[s_fc] -= ship[e_fc]
        """,
    },
    {
        "name": "eol-split-ignored",
        "file": CORE,
        "description": "each of two recyclers collects a market's whole end of life",
        "original": "units = float(self.eol_due[d, col]) * part",
        "replacement": "units = float(self.eol_due[d, col])",
    },
    {
        "name": "resource-above-spare",
        "file": CORE,
        "description": "re-sourced orders are accepted beyond the alternative's spare capacity",
        "original": "accepted = request * np.minimum(1.0, scale)[src_alt]",
        "replacement": "accepted = request",
    },
    {
        "name": "logistics-loses-transit",
        "file": CORE,
        "description": "a logistics delay takes goods in transit off the calendar, never rebooked",
        "original": "np.add.at(self.arrivals[:, e], new_day, qty)",
        "replacement": "pass",
    },
    {
        "name": "switch-delay-off-by-one",
        "file": CORE,
        "description": "re-sourcing starts one day late (>= becomes >)",
        "original": "(age[pf] >= lay.edge_switch_days[pt])",
        "replacement": "(age[pf] > lay.edge_switch_days[pt])",
    },
    {
        "name": "release-ignores-export-block",
        "file": CORE,
        "description": "a stockpile release crosses a border its export restriction blocks",
        "original": """
                if quota is not None and self._block[plan.edge] > 0:
                    qty = min(qty, float(quota[plan.edge]))
        """,
        "replacement": """
                if False:
                    qty = min(qty, float(quota[plan.edge]))
        """,
    },
]
