"""Recorders: what a run keeps of each day, chosen by passing objects, not flags.

A recorder is told about the batch when the run starts (:meth:`Recorder.start`), sees
every settled day's flows (:meth:`Recorder.record`) and hands each replication its part
as plain arrays (:meth:`Recorder.arrays`). The engine always keeps the per-market daily
history (demand, served, unmet): the levers' shortage rules read it and every summary
metric needs it, so :class:`Summary` only hands it on (and adds stock held).

* :class:`Summary` — what the summary metrics and realised costs need;
* :class:`Daily` — every node's daily record, for chosen replications;
* :class:`EdgeFlows` — per-edge totals over the scored horizon (input received, shipped,
  cancelled by quotas): the materials table and the CRMA card.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from crmsim.engine.state import State, bincount2

if TYPE_CHECKING:
    from crmsim.engine.stages import Day

__all__ = ["Daily", "EdgeFlows", "Recorder", "Summary", "recorders_for"]


class Recorder(Protocol):
    """What the engine asks of a recorder."""

    def start(self, s: State, replications: Sequence[int]) -> None:
        """Allocate for the batch (``replications``: the numbers of its rows)."""

    def record(self, s: State, day: Day) -> None:
        """Keep what is wanted of one settled day."""

    def arrays(self, pos: int) -> dict[str, Any]:
        """The kept arrays of the batch row ``pos`` (attribute name -> array)."""
        return {}


class Summary:
    """Stock on hand over the scored days (holding cost); hands on the market history."""

    def __init__(self) -> None:
        self.stock_held = np.zeros((0, 0))
        self._s: State | None = None

    def start(self, s: State, replications: Sequence[int]) -> None:  # noqa: D102
        self.stock_held = np.zeros((s.R, s.st.layout.n_nodes))
        self._s = s

    def record(self, s: State, day: Day) -> None:  # noqa: D102
        if day.d >= s.st.W:
            self.stock_held += s.out_stock

    def arrays(self, pos: int) -> dict[str, Any]:  # noqa: D102
        s = self._s
        assert s is not None
        demand, served = s.rec_demand[:, pos].copy(), s.rec_served[:, pos].copy()
        total = (served if s.rec_served_total is None else s.rec_served_total[:, pos]).copy()
        return {
            "rec_demand": demand,
            "rec_served": served,
            "rec_served_total": total,
            # the day's demand − served on the day, as the demand stage computes it
            "rec_unmet": demand - served,
            "stock_held": self.stock_held[pos].copy(),
        }


class EdgeFlows:
    """Per-edge totals: received and shipped over the scored days, cancelled over the run."""

    def __init__(self) -> None:
        self.received = self.shipped = self.cancelled = np.zeros((0, 0))

    def start(self, s: State, replications: Sequence[int]) -> None:  # noqa: D102
        E = s.st.layout.n_edges
        self.received = np.zeros((s.R, E))
        self.shipped = np.zeros((s.R, E))
        self.cancelled = np.zeros((s.R, E))

    def record(self, s: State, day: Day) -> None:  # noqa: D102
        if day.cancelled is not None:
            self.cancelled += day.cancelled
        if day.d >= s.st.W:
            assert day.arrived is not None
            self.received += day.arrived
            if day.ship is not None:
                self.shipped += day.ship

    def arrays(self, pos: int) -> dict[str, Any]:  # noqa: D102
        return {
            "edge_received": self.received[pos].copy(),
            "edge_shipped": self.shipped[pos].copy(),
            "edge_cancelled": self.cancelled[pos].copy(),
        }


class Daily:
    """Every node's daily record for chosen replications (default: all of the batch).

    Parameters
    ----------
    replications : collection of int, optional
        Replication numbers to keep (others in the batch keep nothing here).
    """

    def __init__(self, replications: Collection[int] | None = None) -> None:
        self.wanted = None if replications is None else {int(r) for r in replications}
        self.rows = np.zeros(0, dtype=np.intp)
        self._where: dict[int, int] = {}
        self._rec: dict[str, np.ndarray] = {}

    def start(self, s: State, replications: Sequence[int]) -> None:  # noqa: D102
        rows = [
            pos for pos, r in enumerate(replications) if self.wanted is None or r in self.wanted
        ]
        self.rows = np.asarray(rows, dtype=np.intp)
        self._where = {pos: k for k, pos in enumerate(rows)}
        lay, T, n = s.st.layout, s.st.T, len(rows)
        N, S = lay.n_nodes, lay.n_slots
        self._rec = {
            # day-major: a day's record is one contiguous block
            name: np.zeros((T, n, S if name in ("rec_in", "rec_recv", "rec_cons") else N))
            for name in (
                "rec_avail",
                "rec_out",
                "rec_prod",
                "rec_ship",
                "rec_in",
                "rec_recv",
                "rec_cons",
                "rec_released",
                "rec_collected",
            )
        }

    def record(self, s: State, day: Day) -> None:  # noqa: D102
        if not self.rows.size:
            return
        rows, d, lay, rec = self.rows, day.d, s.st.layout, self._rec
        assert day.cap_today is not None and day.prod is not None and day.consumed is not None
        rec["rec_avail"][d] = day.cap_today[rows]
        rec["rec_out"][d] = s.out_stock[rows]
        rec["rec_prod"][d] = day.prod[rows]
        if day.shipped_node is not None:
            rec["rec_ship"][d] = day.shipped_node[rows]
        rec["rec_in"][d] = s.in_stock[rows]
        assert day.received is not None and day.served_total is not None
        rec["rec_recv"][d] = day.received[rows]
        cons = day.consumed[rows].copy()
        cons[:, lay.market_slot] = day.served_total[rows]
        rec["rec_cons"][d] = cons
        if day.released is not None and day.released.shape[1]:
            rec["rec_released"][d] = bincount2(lay.edge_src, day.released[rows], lay.n_nodes)
        if day.collected is not None:
            rec["rec_collected"][d] = day.collected[rows]

    def arrays(self, pos: int) -> dict[str, Any]:  # noqa: D102
        k = self._where.get(pos)
        if k is None:
            return {}
        return {name: a[:, k].copy() for name, a in self._rec.items()}


def recorders_for(record: str, replications: Collection[int] | None = None) -> list[Any]:
    """The recorders of the ``record="daily"|"summary"`` shorthand of :func:`simulate`.

    Parameters
    ----------
    record : {"daily", "summary"}
        ``"summary"``: :class:`Summary` and :class:`EdgeFlows`; ``"daily"`` adds
        :class:`Daily` (for ``replications``, default all).
    replications : collection of int, optional
        Replications whose daily record to keep.

    Returns
    -------
    list
        Recorder objects.

    Examples
    --------
    >>> [type(r).__name__ for r in recorders_for("daily")]
    ['Summary', 'EdgeFlows', 'Daily']
    """
    if record not in ("daily", "summary"):
        raise ValueError(f"record must be 'daily' or 'summary', not {record!r}")
    out: list[Any] = [Summary(), EdgeFlows()]
    if record == "daily":
        out.append(Daily(replications))
    return out
