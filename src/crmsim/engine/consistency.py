"""Independent balance checks of one simulated run, one function per named invariant.

In the manner of PyPSA's ``consistency.py``: each check reads the engine's state and its
instruments (totals measured where a stock changes, never the ledger's own terms) and
returns a list of :class:`Violation` (empty when the invariant holds). :func:`check_all`
runs them all and, with ``strict=True`` (the default, and what the tests use), raises a
:class:`ConsistencyError` naming the first invariant that fails, the material or node and
the numbers.

The invariants (``docs/engine.md``, "Balance checks"):

``transit_matches_calendar``
    Goods in transit on each edge (the running counter) equal what the arrival calendar
    still holds for that edge — read back from the calendar rows not yet delivered.
``consumption_matches_recipes``
    What production took from each input stock equals the node's production times the
    recipe coefficient of that input (per slot, over the run).
``recycling_pool_balances``
    For each recycler, end-of-life material collected = recovered + recovery loss +
    awaiting recovery.
``end_of_life_bounded``
    End-of-life units sent to recyclers from a market never exceed the units it served
    plus its initial in-use stock (one day of lifetime discretisation allowed).
``no_negative_stock_before_clip``
    No input stock, output stock or collected pool ever fell below zero *before* the
    engine clipped it at zero (beyond rounding): a clip that fires is a failure.
``ledger_balances``
    The per-material ledger balances, and none of its terms is NaN or infinite.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    # What these functions read: one replication's plain-array result (or an Engine).
    from crmsim.engine.batch import Replication as Engine

__all__ = [
    "CHECKS",
    "ConsistencyError",
    "Violation",
    "check_all",
    "consumption_matches_recipes",
    "end_of_life_bounded",
    "ledger_balances",
    "no_negative_stock_before_clip",
    "recycling_pool_balances",
    "transit_matches_calendar",
]

#: Relative tolerance of every check (relative to the largest quantity it compares, ≥ 1).
RTOL = 1e-9


@dataclass(frozen=True)
class Violation:
    """One failed invariant.

    Attributes
    ----------
    invariant : str
        Name of the check (its function name).
    where : str
        The material, node, edge or market concerned.
    expected, actual : float
        The two numbers that should agree (or the bound and the value).
    detail : str
        What the numbers are.
    """

    invariant: str
    where: str
    expected: float
    actual: float
    detail: str

    def __str__(self) -> str:
        return (
            f"{self.invariant} fails at {self.where}: {self.detail} "
            f"(expected {self.expected:.12g}, got {self.actual:.12g}, "
            f"difference {self.actual - self.expected:.3g})"
        )


class ConsistencyError(AssertionError):
    """A run broke an invariant of the model (a bug in the engine, never a user error)."""

    def __init__(self, violations: list[Violation]):
        self.violations = violations
        head = violations[0]
        more = f" (and {len(violations) - 1} more)" if len(violations) > 1 else ""
        super().__init__(str(head) + more)

    @property
    def invariant(self) -> str:
        """Name of the first invariant that failed."""
        return self.violations[0].invariant


def _tol(*values: float | np.ndarray) -> float:
    scale = max([1.0] + [float(np.max(np.abs(v), initial=0.0)) for v in values])
    return RTOL * scale


def _bad(a: float, b: float, tol: float) -> bool:
    """True unless ``a`` and ``b`` agree within ``tol`` (NaN never agrees)."""
    return not abs(a - b) <= tol


def _slot_name(eng: Engine, s: int) -> str:
    lay = eng.layout
    return f"node {lay.nodes[lay.slot_node[s]]}, input {lay.materials[lay.slot_material[s]]}"


def transit_matches_calendar(eng: Engine) -> list[Violation]:
    """In-transit stock per edge equals what the arrival calendar still holds."""
    lay = eng.layout
    held = eng.arrivals[eng.days_done :].sum(axis=0)
    tol = _tol(held, eng.transit, lay.edge_flow * max(1, eng.T))
    out = []
    for e in range(lay.n_edges):
        if _bad(float(held[e]), float(eng.transit[e]), tol):
            u, v, k = lay.edges[e]
            out.append(
                Violation(
                    "transit_matches_calendar",
                    f"edge {u} -> {v} ({k})",
                    float(held[e]),
                    float(eng.transit[e]),
                    "in transit (counter) vs. still due in the arrival calendar",
                )
            )
    return out


def consumption_matches_recipes(eng: Engine) -> list[Violation]:
    """Input taken by production equals production × recipe coefficient, per slot."""
    lay = eng.layout
    out = []
    sel = eng._prod_sel
    expected = eng.cum_prod[lay.slot_node[sel]] * lay.slot_coef[sel]
    tol = _tol(expected, eng.cum_cons[sel])
    for s, exp in zip(sel, expected, strict=True):
        got = float(eng.cum_cons[s])
        if _bad(float(exp), got, tol):
            out.append(
                Violation(
                    "consumption_matches_recipes",
                    _slot_name(eng, int(s)),
                    float(exp),
                    got,
                    f"taken from input stock vs. production × recipe coefficient "
                    f"{lay.slot_coef[s]:g}",
                )
            )
    return out


def recycling_pool_balances(eng: Engine) -> list[Violation]:
    """Collected = recovered + recovery loss + awaiting recovery, per recycler."""
    lay = eng.layout
    out = []
    for r in np.flatnonzero(lay.recycler):
        accounted = eng.cum_recovered[r] + eng.recovery_lost[r] + eng.pool[r]
        tol = _tol(eng.collected[r], accounted)
        if _bad(float(eng.collected[r]), float(accounted), tol):
            out.append(
                Violation(
                    "recycling_pool_balances",
                    f"recycler {lay.nodes[r]}",
                    float(eng.collected[r]),
                    float(accounted),
                    "collected vs. recovered + recovery loss + awaiting recovery",
                )
            )
    return out


def end_of_life_bounded(eng: Engine) -> list[Violation]:
    """End-of-life units sent to recyclers ≤ units served + initial in-use stock."""
    lay = eng.layout
    out = []
    served = eng.rec_served_total.sum(axis=0)
    for j in range(len(lay.markets)):
        mean = float(lay.market_demand[j].mean)
        # The steady-state in-use stock is mean demand × mean lifetime; discretising the
        # lifetime to whole days may add up to a day's demand.
        bound = float(served[j] + eng.in_use_start[j] + mean)
        got = float(eng.eol_units[j])
        if not got <= bound + _tol(bound, got):
            out.append(
                Violation(
                    "end_of_life_bounded",
                    f"market {lay.nodes[lay.markets[j]]}",
                    bound,
                    got,
                    "end-of-life units sent to recyclers vs. at most served + in use at the start",
                )
            )
    return out


def no_negative_stock_before_clip(eng: Engine) -> list[Violation]:
    """No stock went below zero before a clip (beyond rounding)."""
    lay = eng.layout
    out = []
    scale = _tol(lay.slot_position_target, lay.out_target, lay.rate * 10, lay.edge_flow * 10)
    for s in np.flatnonzero(~(eng.preclip_in >= -scale)):
        out.append(
            Violation(
                "no_negative_stock_before_clip",
                _slot_name(eng, int(s)),
                0.0,
                float(eng.preclip_in[s]),
                "lowest input stock before the clip at zero",
            )
        )
    for i in np.flatnonzero(~(eng.preclip_out >= -scale)):
        out.append(
            Violation(
                "no_negative_stock_before_clip",
                f"node {lay.nodes[i]}, output",
                0.0,
                float(eng.preclip_out[i]),
                "lowest output stock before the clip at zero",
            )
        )
    for i in np.flatnonzero(~(eng.preclip_pool >= -scale)):
        out.append(
            Violation(
                "no_negative_stock_before_clip",
                f"recycler {lay.nodes[i]}, collected pool",
                0.0,
                float(eng.preclip_pool[i]),
                "lowest collected pool before the clip at zero",
            )
        )
    return out


def ledger_balances(eng: Engine, rtol: float = RTOL) -> list[Violation]:
    """The per-material ledger balances within ``rtol`` and holds no NaN or infinity."""
    lay = eng.layout
    led = eng.ledger()
    out = []
    for m, row in enumerate(led):
        terms, imbalance = row[:-1], float(row[-1])
        scale = max(1.0, float(np.max(np.abs(terms)))) if np.isfinite(terms).all() else np.nan
        if not (np.isfinite(terms).all() and abs(imbalance) <= rtol * scale):
            out.append(
                Violation(
                    "ledger_balances",
                    f"material {lay.materials[m]}",
                    0.0,
                    imbalance,
                    "initial + produced + recovered − final − in transit − consumed − "
                    "delivered − destroyed",
                )
            )
    return out


#: Every check, in the order :func:`check_all` runs them.
CHECKS: tuple[Callable[[Engine], list[Violation]], ...] = (
    transit_matches_calendar,
    consumption_matches_recipes,
    recycling_pool_balances,
    end_of_life_bounded,
    no_negative_stock_before_clip,
    ledger_balances,
)


def check_all(eng: Engine, strict: bool = True) -> list[Violation]:
    """Run every invariant check on a (finished or partly run) engine.

    Parameters
    ----------
    eng : Engine
        The engine after :meth:`~crmsim.engine.core.Engine.run` (or between days).
    strict : bool
        Raise on the first failing invariant (default) instead of returning the list.

    Returns
    -------
    list of Violation
        Empty when every invariant holds.

    Raises
    ------
    ConsistencyError
        With ``strict=True``, if any invariant fails.
    """
    found = [v for check in CHECKS for v in check(eng)]
    if strict and found:
        raise ConsistencyError(found)
    return found
