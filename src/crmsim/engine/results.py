"""Results of one replication: tidy pandas tables, summary metrics and the ledger."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from crmsim.engine.batch import Replication
from crmsim.metrics.performance import fill_rate, nadir, performance, resilience_loss

__all__ = ["BatchTables", "ConservationError", "SimulationResult", "batch_tables"]

LEDGER_COLUMNS = (
    "initial",
    "produced",
    "recovered",
    "final_stock",
    "in_transit",
    "consumed",
    "delivered",
    "destroyed",
    "imbalance",
)


class ConservationError(AssertionError):
    """Material is not conserved (a bug in the engine, never a user error)."""


@dataclass(frozen=True, eq=False)
class SimulationResult:
    """What one replication produced.

    Attributes
    ----------
    scenario_name : str
        The scenario's name.
    seed, replication : int
        Root seed and replication number.
    stats : dict
        ``simpy_events`` (events on the SimPy calendar), ``seconds``, ``disruption_events``,
        ``capped`` (notes on run-time caps that bound, e.g. combined demand shocks).

    Notes
    -----
    Day numbers in every table are scored days: day 0 is the first day after the warm-up;
    warm-up days are negative. Summaries cover the scored horizon only.
    """

    scenario_name: str
    seed: int
    replication: int
    stats: dict[str, Any]
    _engine: Replication = field(repr=False)

    # ------------------------------------------------------------- tables
    @property
    def horizon_days(self) -> int:
        """Scored days H."""
        return self._engine.H

    @property
    def warmup_days(self) -> int:
        """Warm-up days W."""
        return self._engine.W

    @cached_property
    def market_daily(self) -> pd.DataFrame:
        """Per market and scored day: demand, served (on the day), unmet, performance."""
        eng = self._engine
        lay = eng.layout
        W, H, K = eng.W, eng.H, len(lay.markets)

        def column(rec: np.ndarray) -> np.ndarray:
            return rec[W:].T.reshape(-1)  # market-major, day-minor

        return pd.DataFrame(
            {
                "day": np.tile(np.arange(H), K),
                "market": np.repeat(self.market_names, H),
                "material": np.repeat(
                    [lay.materials[lay.node_material[i]] for i in lay.markets], H
                ),
                "demand": column(eng.rec_demand),
                "served": column(eng.rec_served),
                "served_incl_backorders": column(eng.rec_served_total),
                "unmet": column(eng.rec_unmet),
                "performance": self.market_performance.T.reshape(-1),
            }
        )

    @property
    def market_names(self) -> list[str]:
        """Market ids, in the (sorted) order of the columns of :attr:`market_performance`."""
        lay = self._engine.layout
        return [lay.nodes[i] for i in lay.markets]

    @cached_property
    def market_performance(self) -> np.ndarray:
        """Daily performance per market over the scored days, shape (H, markets)."""
        eng = self._engine
        return performance(eng.rec_served[eng.W :], eng.rec_demand[eng.W :])

    @cached_property
    def performance(self) -> np.ndarray:
        """Overall daily performance ``Σ served / Σ demand`` over markets (scored days)."""
        eng = self._engine
        W = eng.W
        return performance(eng.rec_served[W:].sum(axis=1), eng.rec_demand[W:].sum(axis=1))

    @cached_property
    def daily(self) -> pd.DataFrame:
        """Every node's daily record (needs ``record="daily"``), tidy.

        One row per day, node and material: ``on_hand``; for a node's output material
        ``produced`` (for a recycler: recovered), ``shipped`` and ``capacity_available``
        (capacity × availability × entry ramp); for a stockpile ``released``; for a
        recycler ``collected`` (end-of-life material collected); for an input material
        ``received`` and ``consumed`` (for a market, what it served); for a market also
        ``demand``, ``served`` and ``unmet`` (lost or back-ordered).
        """
        eng = self._engine
        if eng.record != "daily":
            raise ValueError("this run kept no daily record: simulate with record='daily'")
        lay = eng.layout
        T, W = eng.T, eng.W
        day = np.arange(T) - W
        assert eng.rec_out is not None and eng.rec_prod is not None
        assert eng.rec_ship is not None and eng.rec_avail is not None
        assert eng.rec_in is not None and eng.rec_recv is not None
        assert eng.rec_cons is not None
        assert eng.rec_released is not None and eng.rec_collected is not None
        prod_nodes = np.flatnonzero((lay.producer | lay.stockpile) & (lay.node_material >= 0))
        nan = np.full(T, np.nan)
        frames = []
        for i in prod_nodes:
            frames.append(
                pd.DataFrame(
                    {
                        "day": day,
                        "node": lay.nodes[i],
                        "material": lay.materials[lay.node_material[i]],
                        "stock": "output",
                        "on_hand": eng.rec_out[:, i],
                        "produced": eng.rec_prod[:, i],
                        "shipped": eng.rec_ship[:, i],
                        "capacity_available": eng.rec_avail[:, i],
                        "released": eng.rec_released[:, i] if lay.stockpile[i] else nan,
                        "collected": eng.rec_collected[:, i] if lay.recycler[i] else nan,
                        "received": nan,
                        "consumed": nan,
                        "demand": nan,
                        "served": nan,
                        "unmet": nan,
                    }
                )
            )
        market_pos = {int(s): j for j, s in enumerate(lay.market_slot)}
        for s in range(lay.n_slots):
            j = market_pos.get(s)
            frames.append(
                pd.DataFrame(
                    {
                        "day": day,
                        "node": lay.nodes[lay.slot_node[s]],
                        "material": lay.materials[lay.slot_material[s]],
                        "stock": "input",
                        "on_hand": eng.rec_in[:, s],
                        "produced": nan,
                        "shipped": nan,
                        "capacity_available": nan,
                        "released": nan,
                        "collected": nan,
                        "received": eng.rec_recv[:, s],
                        "consumed": eng.rec_cons[:, s],
                        "demand": nan if j is None else eng.rec_demand[:, j],
                        "served": nan if j is None else eng.rec_served[:, j],
                        "unmet": nan if j is None else eng.rec_unmet[:, j],
                    }
                )
            )
        out = pd.concat(frames, ignore_index=True)
        out["stock"] = out["stock"].astype("category")
        return out.sort_values(["day", "node", "material", "stock"], ignore_index=True)

    @cached_property
    def disruptions(self) -> pd.DataFrame:
        """Every realised disruption with its attributed impact and time to recover (TTR).

        One row per event in force during the scored horizon. Columns: ``event`` (the
        stable key ``disruption[target]#k``, usable in ``simulate(..., exclude=[...])``),
        ``disruption``, ``occurrence`` (``k``), ``kind``, ``target``, ``start``, ``end``
        (scored days, negative in the warm-up), ``severity``, ``factor``, ``stochastic``,
        ``has_effect`` (False for severity 0 or factor 1: it changes nothing),
        ``markets`` (the markets it can reach, comma-separated), ``impacted``, ``ttr``,
        ``censored`` (not recovered by the end of the horizon: ``ttr`` is then the days
        observed), ``overlapping`` and ``overlaps`` (the keys of the events whose impact
        it cannot be told apart from). The rules are in docs/engine.md, "Metrics"; the
        exact answer is :meth:`marginal_effects`.
        """
        from crmsim.engine.attribution import attribution_table

        return attribution_table(self._engine, self._attribution)

    @cached_property
    def _attribution(self) -> Any:
        from crmsim.engine.attribution import attribution

        return attribution(self._engine)

    def marginal_effects(
        self, events: list[str] | None = None, *, by_market: bool = False
    ) -> pd.DataFrame:
        """Each event's marginal effect: this replication minus the same without the event.

        See :func:`crmsim.engine.attribution.marginal_effects` (lost units attributable,
        TTR of the performance difference); one extra simulation per event.

        Parameters
        ----------
        events : list of str, optional
            Event keys (default: every row of :attr:`disruptions`).
        by_market : bool
            One row per event and market instead of one per event.

        Returns
        -------
        pandas.DataFrame
        """
        from crmsim.engine.attribution import marginal_effects

        return marginal_effects(self._engine, events, by_market=by_market)

    @cached_property
    def market_summary(self) -> pd.DataFrame:
        """Per market: demand, served, unmet, fill rate, nadir, resilience loss and index."""
        eng = self._engine
        lay = eng.layout
        W = eng.W
        p = self.market_performance
        demand = eng.rec_demand[W:].sum(axis=0)
        served = eng.rec_served[W:].sum(axis=0)
        loss = (1.0 - p).sum(axis=0)
        return pd.DataFrame(
            {
                "market": self.market_names,
                "material": [lay.materials[lay.node_material[i]] for i in lay.markets],
                "demand": demand,
                "served": served,
                "unmet": eng.rec_unmet[W:].sum(axis=0),
                "fill_rate": performance(served, demand),  # Σ served / Σ demand, 1 if none
                "nadir": p.min(axis=0) if len(p) else np.ones(len(lay.markets)),
                "resilience_loss": loss,
                "resilience_index": 1.0 - loss / max(len(p), 1),
            }
        )

    @cached_property
    def summary(self) -> dict[str, Any]:
        """Overall metrics of the replication (scored horizon).

        Keys: ``fill_rate``, ``demand``, ``served``, ``unmet`` (lost or back-ordered
        units), ``nadir``, ``resilience_loss`` (lost days), ``resilience_index``,
        ``disruptions`` (events in force), ``disruptions_overlapping`` (of those, how
        many overlap another's impact), ``ttr_max`` (the longest TTR of an impacted
        event that overlaps no other: 0 when there is none) and ``ttr_censored``
        (some such TTR is censored at the horizon, so ``ttr_max`` is a lower bound).
        """
        eng = self._engine
        W = eng.W
        p = self.performance
        loss, index = resilience_loss(p)
        return {
            "fill_rate": fill_rate(eng.rec_served[W:], eng.rec_demand[W:]),
            "demand": float(eng.rec_demand[W:].sum()),
            "served": float(eng.rec_served[W:].sum()),
            "unmet": float(eng.rec_unmet[W:].sum()),
            "nadir": nadir(p),
            "resilience_loss": loss,
            "resilience_index": index,
            **self._attribution.summary(),
        }

    @cached_property
    def stock_held(self) -> pd.Series:
        """Output stock on hand summed over the scored days, per node (unit-days).

        What a holding cost per unit and day is charged on (e.g. a strategic stockpile).
        """
        eng = self._engine
        return pd.Series(eng.stock_held, index=pd.Index(eng.layout.nodes, name="node"))

    @cached_property
    def levers(self) -> pd.DataFrame:
        """What the policy levers did: one row per node and event.

        Events: ``entered``, ``qualified``, ``exited``, ``no_finance`` (an entrant that
        found no finance never enters), ``production_started`` and ``never_developed``
        (resource development); ``day`` is the scored day (NaN when it never happens).
        """
        rows = [{"node": n, "event": e, "day": day} for n, e, day in self._engine.lever_events]
        return pd.DataFrame(rows, columns=["node", "event", "day"])

    @cached_property
    def materials(self) -> pd.DataFrame:
        """Per material over the scored horizon: input received, secondary share, MSME share.

        ``eol_rir`` (end-of-life recycling input rate) = secondary input ÷ all input of
        the material received by buyers; ``msme_share`` = units shipped by micro, small
        and medium firms ÷ units shipped by firms of known size; ``unknown_size_shipped``
        is reported separately, never counted on either side.
        """
        eng = self._engine
        lay = eng.layout
        M = len(lay.materials)
        rec = lay.recycler[lay.edge_src]
        received = np.bincount(lay.edge_material, weights=eng.edge_received, minlength=M)
        secondary = np.bincount(lay.edge_material, weights=eng.edge_received * rec, minlength=M)
        msme = lay.msme[lay.edge_src]
        shipped = np.bincount(lay.edge_material, weights=eng.edge_shipped, minlength=M)
        by_msme = np.bincount(
            lay.edge_material, weights=eng.edge_shipped * (msme == 1), minlength=M
        )
        by_large = np.bincount(
            lay.edge_material, weights=eng.edge_shipped * (msme == 0), minlength=M
        )
        known = by_msme + by_large
        return pd.DataFrame(
            {
                "material": list(lay.materials),
                "received": received,
                "secondary_received": secondary,
                "eol_rir": np.divide(
                    secondary, received, out=np.full(M, np.nan), where=received > 0
                ),
                "shipped": shipped,
                "msme_shipped": by_msme,
                "unknown_size_shipped": np.maximum(shipped - known, 0.0),
                "msme_share": np.divide(by_msme, known, out=np.full(M, np.nan), where=known > 0),
            }
        )

    @cached_property
    def recycling(self) -> pd.DataFrame:
        """Per recycler over the whole run: embedded material collected, lost, recovered."""
        eng = self._engine
        lay = eng.layout
        rows = []
        for i in np.flatnonzero(lay.recycler):
            rows.append(
                {
                    "recycler": lay.nodes[i],
                    "material": lay.materials[lay.node_material[i]],
                    "collected": eng.collected[i],
                    "collection_lost": eng.collection_lost[i],
                    "recovery_lost": eng.recovery_lost[i],
                    "awaiting_recovery": eng.pool[i],
                }
            )
        return pd.DataFrame(
            rows,
            columns=[
                "recycler",
                "material",
                "collected",
                "collection_lost",
                "recovery_lost",
                "awaiting_recovery",
            ],
        )

    # ------------------------------------------------------------- ledger
    @cached_property
    def ledger(self) -> pd.DataFrame:
        """Material balance per material over the whole run (warm-up included).

        ``initial + produced + recovered = final_stock + in_transit + consumed +
        delivered + destroyed``; ``imbalance`` is the difference (zero up to rounding).
        ``recovered`` is secondary material from recyclers; what recycling loses is
        end-of-life material outside this balance (see :attr:`recycling`).
        """
        lay = self._engine.layout
        return pd.DataFrame(
            self._engine.ledger(),
            index=pd.Index(lay.materials, name="material"),
            columns=list(LEDGER_COLUMNS),
        )

    def check_conservation(self, rtol: float = 1e-9) -> None:
        """Raise :class:`ConservationError` unless every material balances within ``rtol``.

        The tolerance is relative to the largest flow term of the material.
        """
        led = self.ledger
        scale = led.drop(columns="imbalance").abs().max(axis=1).clip(lower=1.0)
        # Written so that NaN fails (NaN <= x is False): a NaN balance is not a balance.
        ok = (led["imbalance"].abs() <= rtol * scale) & np.isfinite(led.to_numpy()).all(axis=1)
        bad = ~ok
        if bad.any():
            raise ConservationError("material not conserved:\n" + led[bad].to_string())

    def check_consistency(self, strict: bool = True) -> list[Any]:
        """Run the independent balance checks of :mod:`crmsim.engine.consistency`.

        Parameters
        ----------
        strict : bool
            Raise :class:`~crmsim.engine.consistency.ConsistencyError` naming the first
            invariant that fails (default) instead of returning the violations.

        Returns
        -------
        list of Violation
            Empty when every invariant holds.
        """
        from crmsim.engine.consistency import check_all

        return check_all(self._engine, strict=strict)


#: Columns of :attr:`SimulationResult.summary`, in order.
SUMMARY_COLUMNS = (
    "fill_rate",
    "demand",
    "served",
    "unmet",
    "nadir",
    "resilience_loss",
    "resilience_index",
    "disruptions",
    "disruptions_overlapping",
    "ttr_max",
    "ttr_censored",
)

#: Columns of :attr:`SimulationResult.market_summary`, in order.
MARKET_SUMMARY_COLUMNS = (
    "market",
    "material",
    "demand",
    "served",
    "unmet",
    "fill_rate",
    "nadir",
    "resilience_loss",
    "resilience_index",
)

#: Most values (replications × scored days × markets) stacked at once by
#: :func:`batch_tables`: bounds its memory on large networks (8 MB per stacked array).
TABLE_CELLS = 1_000_000


@dataclass(frozen=True, eq=False)
class BatchTables:
    """The per-replication tables of a batch of replications of one scenario, as columns.

    Row for row the same values as :class:`SimulationResult`'s ``summary``,
    ``market_summary`` and ``disruptions`` of each replication, one replication after
    another (:func:`batch_tables`).

    Attributes
    ----------
    replications : numpy.ndarray
        Replication numbers, in the order of the batch.
    summary : dict of str to numpy.ndarray
        :data:`SUMMARY_COLUMNS`, one value per replication.
    market_summary : dict of str to numpy.ndarray
        :data:`MARKET_SUMMARY_COLUMNS` and ``replication``: one row per replication and
        market (markets in layout order within a replication).
    disruptions : dict of str to sequence
        The columns of the ``disruptions`` table and ``replication``.
    performance : numpy.ndarray
        ``(replications, days, len(band_columns))``: the daily performance of the markets
        asked for (:func:`batch_tables`'s ``band_columns``).
    overall : numpy.ndarray
        ``(replications, days)``: overall daily performance.
    """

    replications: np.ndarray
    summary: dict[str, np.ndarray]
    market_summary: dict[str, Any]
    disruptions: dict[str, Any]
    performance: np.ndarray
    overall: np.ndarray


def batch_tables(
    reps: Sequence[Replication], band_columns: Sequence[int] | np.ndarray | None = None
) -> BatchTables:
    """The summary, market summary and disruptions tables of a batch, built together.

    Vectorised over the replication axis (at most :data:`TABLE_CELLS` values stacked at
    a time); the values are bitwise those of ``SimulationResult(...).summary``,
    ``.market_summary`` and ``.disruptions`` of each replication (same reductions along
    the same axes; ``tests/test_batch_tables.py``).

    Parameters
    ----------
    reps : sequence of Replication
        Replications of one scenario (one layout), e.g. what
        :func:`crmsim.engine.run_batch` returns.
    band_columns : sequence of int, optional
        Positions (in layout order) of the markets whose daily performance to return in
        :attr:`BatchTables.performance` (default: every market).

    Returns
    -------
    BatchTables
    """
    from crmsim.engine.attribution import attribution_columns, attributions

    if not reps:
        raise ValueError("batch_tables needs at least one replication")
    first = reps[0]
    lay = first.layout
    W, H, K = first.W, first.H, len(lay.markets)
    R = len(reps)
    cols = np.arange(K) if band_columns is None else np.asarray(band_columns, dtype=np.intp)
    names = [lay.nodes[i] for i in lay.markets]
    materials = [lay.materials[lay.node_material[i]] for i in lay.markets]
    summary = {
        "fill_rate": np.empty(R),
        "demand": np.empty(R),
        "served": np.empty(R),
        "unmet": np.empty(R),
        "nadir": np.empty(R),
        "resilience_loss": np.empty(R),
        "resilience_index": np.empty(R),
    }
    market = {c: np.empty((R, K)) for c in MARKET_SUMMARY_COLUMNS[2:]}
    perf_out = np.empty((R, H, cols.size))
    overall = np.empty((R, H))
    step = max(1, TABLE_CELLS // max(1, H * K))
    for lo in range(0, R, step):
        part = reps[lo : lo + step]
        hi = lo + len(part)
        served = np.stack([rep.rec_served[W:] for rep in part])  # (r, H, K)
        demand = np.stack([rep.rec_demand[W:] for rep in part])
        unmet = np.stack([rep.rec_unmet[W:] for rep in part])
        n = len(part)
        # Overall: a reduction of each replication's (H, K) block as one contiguous row
        # (the pairwise sum numpy makes of the block alone).
        total_demand = demand.reshape(n, -1).sum(axis=1)
        total_served = served.reshape(n, -1).sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            fill = np.minimum(1.0, np.maximum(0.0, total_served / total_demand))
        summary["fill_rate"][lo:hi] = np.where(total_demand <= 0, 1.0, fill)
        summary["demand"][lo:hi] = total_demand
        summary["served"][lo:hi] = total_served
        summary["unmet"][lo:hi] = unmet.reshape(n, -1).sum(axis=1)
        p_all = performance(served.sum(axis=2), demand.sum(axis=2))  # (r, H)
        overall[lo:hi] = p_all
        loss = (1.0 - p_all).sum(axis=1)
        summary["nadir"][lo:hi] = p_all.min(axis=1) if H else 1.0
        summary["resilience_loss"][lo:hi] = loss
        summary["resilience_index"][lo:hi] = (1.0 - loss / H) if H else 1.0
        # Per market: reductions over the days (axis 1), as over axis 0 of one replication.
        p = performance(served, demand)  # (r, H, K)
        perf_out[lo:hi] = p[:, :, cols]
        m_demand = demand.sum(axis=1)
        m_served = served.sum(axis=1)
        m_loss = (1.0 - p).sum(axis=1)
        market["demand"][lo:hi] = m_demand
        market["served"][lo:hi] = m_served
        market["unmet"][lo:hi] = unmet.sum(axis=1)
        market["fill_rate"][lo:hi] = performance(m_served, m_demand)
        market["nadir"][lo:hi] = p.min(axis=1) if H else 1.0
        market["resilience_loss"][lo:hi] = m_loss
        market["resilience_index"][lo:hi] = 1.0 - m_loss / max(H, 1)
        del served, demand, unmet, p
    attrs = attributions(reps)
    rows = [a.summary() for a in attrs]
    summary_out: dict[str, np.ndarray] = dict(summary)
    summary_out["disruptions"] = np.array([r["disruptions"] for r in rows], dtype=np.int64)
    summary_out["disruptions_overlapping"] = np.array(
        [r["disruptions_overlapping"] for r in rows], dtype=np.int64
    )
    summary_out["ttr_max"] = np.array([r["ttr_max"] for r in rows], dtype=float)
    summary_out["ttr_censored"] = np.array([r["ttr_censored"] for r in rows], dtype=bool)
    numbers = np.array([int(rep.replication) for rep in reps], dtype=np.int64)
    market_out: dict[str, Any] = {
        "replication": np.repeat(numbers, K),
        "market": names * R,
        "material": materials * R,
        **{c: v.reshape(-1) for c, v in market.items()},
    }
    dis = attribution_columns(first, attrs)
    dis = {"replication": np.repeat(numbers, [a.listed.size for a in attrs]), **dis}
    return BatchTables(numbers, summary_out, market_out, dis, perf_out, overall)
