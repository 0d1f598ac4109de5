"""The stages of a simulated day, one function each, over a batch :class:`State`.

Each stage reads and updates the run state of ``R`` replications at once (numpy over the
replication axis) and returns that day's flows. The order of the day and every rule are in
``docs/engine.md`` ("The day"). A stage with nothing to do on a day returns at once.
Disruption starts and ends (SimPy processes at whole days) update the state through
:func:`apply_event`, :func:`retire_event`, :func:`destroy_stock` and
:func:`delay_in_transit`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from crmsim.engine.disruptions import DisruptionEvent
from crmsim.engine.layout import lead_days
from crmsim.engine.state import MAX_DEMAND_FACTOR, State, bincount2, ramp_share
from crmsim.scenario.schema import DisruptionKind

__all__ = [
    "Day",
    "apply_event",
    "arrivals",
    "delay_in_transit",
    "demand",
    "destroy_stock",
    "disruptions",
    "end_of_life",
    "levers",
    "ordering",
    "production",
    "record",
    "resource",
    "retire_event",
    "shipping",
]


@dataclass(eq=False)
class Day:
    """The flows of one day of a batch (each ``(R, ·)``), filled in stage by stage."""

    d: int
    arrived: np.ndarray | None = None  # (R, E) delivered today
    received: np.ndarray | None = None  # (R, S)
    cap_today: np.ndarray | None = None  # (R, N) capacity × availability × entry ramp
    prod: np.ndarray | None = None  # (R, N)
    consumed: np.ndarray | None = None  # (R, S) taken by production
    open_orders: np.ndarray | None = None  # (R, N)
    demand: np.ndarray | None = None  # (R, K)
    served_now: np.ndarray | None = None
    served_total: np.ndarray | None = None
    unmet: np.ndarray | None = None
    raw: np.ndarray | None = None  # (R, E) orders placed today (before re-sourcing)
    released: np.ndarray | None = None  # (R, E) stockpile releases (None: no rule)
    ship: np.ndarray | None = None  # (R, E) shipped (incl. releases)
    shipped_node: np.ndarray | None = None  # (R, N)
    collected: np.ndarray | None = None  # (R, N) end-of-life material collected
    cancelled: np.ndarray | None = None  # (R, E) orders cancelled by export quotas


def _div(num: np.ndarray, den: np.ndarray, where: np.ndarray, fill: float) -> np.ndarray:
    """``num / den`` where ``where`` holds, else ``fill`` (``np.divide(..., where=)``, faster).

    Examples
    --------
    >>> den = np.array([2.0, 0.0])
    >>> _div(np.array([1.0, 1.0]), den, den > 0, 7.0).tolist()
    [0.5, 7.0]
    """
    return np.where(where, num / np.where(where, den, 1.0), fill)


# ------------------------------------------------------------ calendar (SimPy) events
def apply_event(s: State, r: int, ev: DisruptionEvent, *, start: bool, day: int) -> None:
    """A disruption of replication ``r`` starts (``start``) or ends on ``day``."""
    if ev.kind is DisruptionKind.OUTAGE:
        if start:
            for i in ev.nodes:
                s.node_events[r].setdefault(i, []).append(ev)
                s.dirty[r].add(i)
            s.touched.add(r)
            s.outage_active[r] = bool(s.node_events[r])
            if ev.stock_loss > 0:
                destroy_stock(s, r, np.asarray(ev.nodes, dtype=np.intp), ev.stock_loss)
        elif ev.recovery_days > 0:
            s.ramping[r].update(ev.nodes)
            s.touched.add(r)
        else:
            retire_event(s, r, ev)
        return
    # Demand shocks, export restrictions and logistics: the factor of each node or edge is
    # recomputed from the events in force (never undone by division).
    targets = ev.nodes if ev.kind is DisruptionKind.DEMAND_SHOCK else ev.edges
    table = s.in_force[r].setdefault(ev.kind, {})
    for i in targets:
        if start:
            table.setdefault(i, []).append(ev)
        else:
            lst = [e for e in table.get(i, []) if e is not ev]
            if lst:
                table[i] = lst
            else:
                table.pop(i, None)
    _recompute(s, r, ev.kind, targets)
    if ev.kind is DisruptionKind.LOGISTICS and start:
        delay_in_transit(s, r, np.asarray(ev.edges, dtype=np.intp), day, ev.factor)


def _recompute(s: State, r: int, kind: DisruptionKind, targets: tuple[int, ...]) -> None:
    """Recompute the combined factor of ``targets`` from the events of ``kind`` in force.

    Demand shocks multiply (capped at :data:`MAX_DEMAND_FACTOR`), logistics factors
    multiply (the lead times they give are capped at the run length), export restrictions
    combine as ``1 − Π(1 − severity)``.
    """
    table = s.in_force[r].get(kind, {})
    for i in targets:
        evs = table.get(i, [])
        if kind is DisruptionKind.DEMAND_SHOCK:
            f = math.prod(e.factor for e in evs)
            if f > MAX_DEMAND_FACTOR:
                s.capped[r].append(
                    f"demand shocks at {s.st.layout.nodes[i]} combine to factor {f:g}; "
                    f"capped at {MAX_DEMAND_FACTOR:g}"
                )
                f = MAX_DEMAND_FACTOR
            s.demand_factor[r, i] = f
        elif kind is DisruptionKind.EXPORT_RESTRICTION:
            keep = math.prod(1.0 - min(max(e.severity, 0.0), 1.0) for e in evs)
            s.block[r, i] = 1.0 - keep
        else:
            s.lead_factor[r, i] = math.prod(e.factor for e in evs)
    if kind is DisruptionKind.EXPORT_RESTRICTION:
        s.any_block[r] = bool(s.block[r].any())
    elif kind is DisruptionKind.LOGISTICS:
        s.logistics_active[r] = bool(table)


def retire_event(s: State, r: int, ev: DisruptionEvent) -> None:
    """An outage of replication ``r`` no longer weighs on availability (after recovery)."""
    for i in ev.nodes:
        lst = [e for e in s.node_events[r].get(i, []) if e is not ev]
        if lst:
            s.node_events[r][i] = lst
        else:
            s.node_events[r].pop(i, None)
        s.dirty[r].add(i)
    s.touched.add(r)
    s.outage_active[r] = bool(s.node_events[r])


def destroy_stock(s: State, r: int, nodes: np.ndarray, share: float) -> None:
    """An outage destroys ``share`` of the stock held at ``nodes`` (replication ``r``)."""
    lay = s.st.layout
    M = len(lay.materials)
    lost_out = s.out_stock[r, nodes] * share
    s.out_stock[r, nodes] -= lost_out
    has = lay.node_material[nodes] >= 0
    s.destroyed_m[r] += np.bincount(
        lay.node_material[nodes][has], weights=lost_out[has], minlength=M
    )
    slots = np.flatnonzero(np.isin(lay.slot_node, nodes))
    lost_in = s.in_stock[r, slots] * share
    s.in_stock[r, slots] -= lost_in
    s.destroyed_m[r] += np.bincount(lay.slot_material[slots], weights=lost_in, minlength=M)


def delay_in_transit(s: State, r: int, edges: np.ndarray, day: int, factor: float) -> None:
    """Goods in transit on delayed edges take ``factor`` × their remaining time."""
    T, L = s.st.T, s.ring_len
    last = min(T, day + L)  # days day+1 .. last-1 are live rows of the ring
    if last <= day + 1:
        return
    days = np.arange(day + 1, last)
    rows = days % L
    for e in s.st.ring_pos[edges]:  # the ring's column of each edge
        col = s.ring[rows, r, e]
        due = np.flatnonzero(col)
        if due.size == 0:
            continue
        qty = col[due].copy()
        s.ring[rows[due], r, e] = 0.0
        remaining = due + 1  # days from `day`
        # Float first, capped at the run length, then whole days (never overflows).
        new_day = day + np.minimum(np.ceil(remaining * factor), T).astype(np.intp)
        new_day = np.minimum(new_day, T)
        target = np.where(new_day >= T, L, new_day % L)
        np.add.at(s.ring[:, r, e], target, qty)


# --------------------------------------------------------------------------- stages
def disruptions(s: State, d: int) -> None:
    """Stage 1: availability of the nodes whose outages changed (or are recovering)."""
    if not s.touched:
        return
    for r in list(s.touched):
        ne = s.node_events[r]
        for i in s.dirty[r] | s.ramping[r]:
            a = 1.0
            for ev in ne.get(i, ()):
                a *= 1.0 - ev.severity * ramp_share(ev, d)
            s.avail[r, i] = a
        s.dirty[r] = set()
        s.ramping[r] = {
            i
            for i in s.ramping[r]
            if any(ev.end <= d < ev.end + math.ceil(ev.recovery_days) for ev in ne.get(i, ()))
        }
        if not s.ramping[r]:
            s.touched.discard(r)


def _performance(s: State, column: int | None, d: int, days: int) -> np.ndarray:
    """Daily performance over the last ``days`` scored days before ``d``, ``(R, n)``."""
    lo = max(s.st.W, d - days)
    if column is None:
        dem = np.ascontiguousarray(s.rec_demand[lo:d].sum(axis=2).T)
        srv = np.ascontiguousarray(s.rec_served[lo:d].sum(axis=2).T)
    else:
        dem = np.ascontiguousarray(s.rec_demand[lo:d, :, column].T)
        srv = np.ascontiguousarray(s.rec_served[lo:d, :, column].T)
    return np.divide(srv, dem, out=np.ones_like(dem), where=dem > 0)


def _entry_fires(s: State, p: int, d: int) -> np.ndarray:
    """Whether entrant ``p``'s shortage rule fires on day ``d``, per replication.

    * consecutive: performance below the threshold on each of the last ``for_days``
      scored days;
    * moving average: Σ served ÷ Σ demand over the last ``window_days`` scored days (all
      of them completed) below the threshold;
    * shortage days: at least ``shortage_days`` of the last ``window_days`` scored days
      (fewer at the start of the horizon) with performance below the threshold.
    """
    en = s.entrants
    assert en is not None
    below = en.trigger_below[p]
    assert below is not None
    n = en.trigger_days[p]
    rule, watch = en.rule[p], en.watch[p]
    if rule == "consecutive":
        perf = _performance(s, watch, d, n)
        if perf.shape[1] < n:
            return np.zeros(s.R, dtype=bool)
        return np.all(perf < below, axis=1)
    lo = max(s.st.W, d - n)
    if rule == "moving_average":
        if d - lo < n:
            return np.zeros(s.R, dtype=bool)
        if watch is None:
            # Each replication's window (days × markets) summed as one run, in day order.
            dem = s.rec_demand[lo:d].transpose(1, 0, 2).reshape(s.R, -1).sum(axis=1)
            srv = s.rec_served[lo:d].transpose(1, 0, 2).reshape(s.R, -1).sum(axis=1)
        else:
            dem = np.ascontiguousarray(s.rec_demand[lo:d, :, watch].T).sum(axis=1)
            srv = np.ascontiguousarray(s.rec_served[lo:d, :, watch].T).sum(axis=1)
        ratio = np.divide(srv, dem, out=np.ones_like(dem), where=dem > 0)
        return (dem > 0) & (ratio < below)
    perf = _performance(s, watch, d, n)
    need = en.shortage_days[p]
    assert need is not None
    return np.count_nonzero(perf < below, axis=1) >= need


def levers(s: State, d: int) -> None:
    """Entry, ramp-up, qualification, exit and resource development on day ``d``."""
    en, dev = s.entrants, s.developments
    lay = s.st.layout
    scored = float(d - s.st.W)
    if en is not None:
        for p in range(en.n):
            i = int(en.node[p])
            day = en.day[:, p]
            if en.trigger_below[p] is not None:
                waiting = en.financed[:, p] & np.isnan(day)
                if waiting.any():
                    fires = waiting & _entry_fires(s, p, d)
                    day[fires] = float(d)
            entered = ~np.isnan(day) & (d >= day)  # NaN compares False
            check = entered & ~en.exited[:, p]
            if check.any():
                hazard = (
                    np.maximum(0.0, d - day) * en.exit_base[p]
                    + en.stressed_days[:, p] * en.exit_stress[p]
                )
                en.exited[:, p] |= check & (hazard / 365.0 >= en.exit_draw[:, p]) & (hazard > 0)
            exited = entered & en.exited[:, p]
            present = entered & ~en.exited[:, p]
            ramp = float(en.ramp_up_days[p])
            if ramp <= 0:
                factor = np.where(present, 1.0, 0.0)
            else:
                with np.errstate(over="ignore"):  # a denormal ramp: full at once
                    factor = np.where(present, np.minimum(1.0, (d - day) / ramp), 0.0)
            qualified = present & (d >= day + en.qualification_days[p])
            for mask, logged, what in (
                (exited, en.exit_logged, "exited"),
                (present, en.entry_logged, "entered"),
                (qualified, en.qual_logged, "qualified"),
            ):
                new = mask & ~logged[:, p]
                if new.any():
                    logged[:, p] |= new
                    for r in np.flatnonzero(new):
                        s.lever_events[r].append((lay.nodes[i], what, scored))
            s.cap_factor[:, i] = factor * float(lay.on_production[i])
            s.edge_active[:, en.out_edges[p]] = qualified[:, None]
            s.slot_active[:, en.node_slots[p]] = present[:, None]
    if dev is not None:
        for p in range(len(dev.node)):
            i = int(dev.node[p])
            on = d >= dev.start[:, p]  # NaN (never developed) compares False
            if on.any():
                s.cap_factor[on, i] = dev.factor[on, p]
                new = on & ~dev.logged[:, p]
                if new.any():
                    dev.logged[:, p] |= new
                    for r in np.flatnonzero(new):
                        s.lever_events[r].append((lay.nodes[i], "production_started", scored))


def arrivals(s: State, day: Day) -> None:
    """Stage 2: shipments due today arrive in the buyer's input stock."""
    st, lay, d = s.st, s.st.layout, day.d
    row = d & (s.ring_len - 1)  # the ring's length is a power of two
    ring_row = s.ring[row]
    arrived = np.take(
        ring_row, st.ring_pos, axis=1, out=s.scratch("arrived", ring_row.shape), mode="clip"
    )
    s.ring[row] = 0.0
    s.transit -= arrived
    received = bincount2(lay.edge_slot, arrived, lay.n_slots)
    s.in_stock += received
    # A stockpile's receipts join its held stock at once (a transfer, not production).
    if st.has_stockpile:
        sp = lay.slot_is_stockpile
        np.add.at(s.out_stock, (slice(None), lay.slot_node[sp]), s.in_stock[:, sp])  # type: ignore[arg-type]
        s.in_stock[:, sp] = 0.0
    day.arrived, day.received = arrived, received


def production(s: State, day: Day) -> None:
    """Stage 3: each producer makes ``min(capacity, inputs by recipe, room)``."""
    st, lay, d = s.st, s.st.layout, day.d
    N, M, R = lay.n_nodes, len(lay.materials), s.R
    if st.unlimited.size:  # an unlimited node that is down: inf × 0 is no capacity, not NaN
        with np.errstate(invalid="ignore"):
            cap_today = lay.capacity * s.avail * s.cap_factor
        u = st.unlimited
        cu = cap_today[:, u]
        cap_today[:, u] = np.where(np.isnan(cu), 0.0, cu)
    else:
        cap_today = lay.capacity * s.avail * s.cap_factor
    input_limit = np.full((R, N), np.inf)
    rec = st.recyclers  # integer positions (faster than a mask on 2-D arrays)
    if st.has_recycler:
        input_limit[:, rec] = s.pool[:, rec] * st.efficiency[rec]
    if st.slot_groups is not None:
        # Slots are sorted by node: the scarcest input per node, by segment.
        starts, owners, sel = st.slot_groups
        ratio = s.in_stock[:, sel] / lay.slot_coef[sel]
        input_limit[:, owners] = np.minimum(
            input_limit[:, owners], np.minimum.reduceat(ratio, starts, axis=1)
        )
    open_orders = bincount2(lay.edge_src, s.backlog, N)
    if st.scale is not None:
        scale = st.scale[d]
        s.rate_today = lay.rate * scale
        out_target = lay.out_target * scale
    else:
        out_target = lay.out_target
    room = np.maximum(0.0, out_target + open_orders - s.out_stock)
    if st.plant_slots.size:
        # A plant buyer's input performance: what its stock of the input allows of what
        # it wants to make today (1 when it wants nothing, e.g. while halted).
        b, sl = st.plant_buyers, st.plant_slots
        want = np.minimum(cap_today[:, b], room[:, b])
        can = np.minimum(s.in_stock[:, sl] / lay.slot_coef[sl], want)
        s.plant_perf[d] = _div(can, want, want > 0, 1.0)
    if st.has_recycler:
        room[:, rec] = np.inf  # collected material is recovered as it comes
    prod = np.where(lay.producer, np.minimum(np.minimum(cap_today, input_limit), room), 0.0)
    np.copyto(prod, 0.0, where=~np.isfinite(prod))
    if st.has_recycler:
        # A recycler uses feedstock from its pool and recovers `efficiency` of it: the
        # feedstock used is fixed first (never more than the pool) and the recovered amount
        # derived from it, so the pool balances even for a denormal efficiency.
        eff = st.efficiency[rec]
        used = np.minimum(
            s.pool[:, rec],
            _div(prod[:, rec], eff, eff > 0, 0.0),
        )
        prod[:, rec] = used * eff
    consumed = np.zeros((R, lay.n_slots))
    used_in = prod[:, st.prod_owner] * st.prod_coef  # the slots of recipes (prod_sel)
    consumed[:, st.prod_sel] = used_in
    before = s.in_stock
    pre = before - consumed
    np.minimum(s.preclip_in, pre, out=s.preclip_in)
    s.in_stock = np.maximum(pre, 0.0)
    s.cum_cons += before - s.in_stock
    s.out_stock += prod
    s.cum_prod += prod
    s.produced_m += bincount2(st.primary_material, prod[:, st.primary], M)
    if st.has_recycler:
        pre_pool = s.pool[:, rec] - used
        s.preclip_pool[:, rec] = np.minimum(s.preclip_pool[:, rec], pre_pool)
        s.pool[:, rec] = np.maximum(pre_pool, 0.0)
        s.recovery_lost[:, rec] += used - prod[:, rec]
        s.cum_recovered[:, rec] += prod[:, rec]
        s.recovered_m += bincount2(st.recycler_material, prod[:, rec], M)
    # The other slots consume exactly 0.0, which changes no sum: only the recipe slots, in
    # slot order, are added.
    s.consumed_m += bincount2(st.prod_material, used_in, M)
    en = s.entrants
    if en is not None:
        # A stressed day for each qualified entrant producing below its threshold
        # (utilisation: production ÷ the capacity available that day; none: not counted).
        for p in range(en.n):
            if en.exit_stress[p] <= 0:
                continue
            i = int(en.node[p])
            dayp = en.day[:, p]
            on = ~np.isnan(dayp) & ~en.exited[:, p] & (d >= dayp + en.qualification_days[p])
            cap = cap_today[:, i]
            en.stressed_days[:, p] += on & (cap > 0) & (prod[:, i] < en.stress_below[p] * cap)
    day.cap_today, day.prod, day.consumed, day.open_orders = cap_today, prod, consumed, open_orders


def demand(s: State, day: Day) -> None:
    """Stage 4: markets draw demand and serve it from stock (lost sales or back-orders)."""
    st, lay, d = s.st, s.st.layout, day.d
    ms = lay.market_slot
    dem = s.demand_draws[d] * s.demand_factor[:, lay.markets]
    stock = s.in_stock[:, ms]
    if st.has_backorders:
        bo = lay.market_backorders
        wanted = dem + np.where(bo, s.market_backlog, 0.0)
        served_total = np.minimum(stock, wanted)
        from_backlog = np.minimum(served_total, np.where(bo, s.market_backlog, 0.0))
        served_now = served_total - from_backlog
        s.market_backlog = np.where(bo, wanted - served_total, 0.0)
    else:
        served_total = served_now = np.minimum(stock, dem)
    unmet = dem - served_now
    s.in_stock[:, ms] = stock - served_total
    s.delivered_m += bincount2(st.market_material, served_total, len(lay.materials))
    # Served units enter use and reach end of life after their lifetime (by cohort).
    T = st.T
    for j, pmf in st.pmf.items():
        rows = served_total[:, j] > 0
        if rows.all():
            s.eol_due[j][:, d : T + 1] += served_total[:, j, None] * pmf[None, : T + 1 - d]
        elif rows.any():
            s.eol_due[j][rows, d : T + 1] += served_total[rows, j, None] * pmf[None, : T + 1 - d]
    day.demand, day.served_now, day.served_total, day.unmet = dem, served_now, served_total, unmet


def ordering(s: State, day: Day) -> None:
    """Stage 5a: order up to the target inventory position, split over suppliers by share.

    A producer's target also covers the inputs for its open orders beyond its output
    stock (lets an alternative supplier buy the inputs for re-sourced orders), unless it
    has no capacity today (``docs/engine.md`` step 5): a halted plant buys none.
    """
    st, lay, d = s.st, s.st.layout, day.d
    S = lay.n_slots
    ms = lay.market_slot
    in_pipe = np.add(s.backlog, s.transit, out=s.scratch("pipe", s.backlog.shape))
    pipeline = bincount2(lay.edge_slot, in_pipe, S)
    position = s.in_stock + pipeline
    if st.has_backorders:
        position[:, ms] -= s.market_backlog
    if st.scale is not None:
        target1 = lay.slot_position_target * st.scale[d][lay.slot_node]
    else:
        target1 = lay.slot_position_target
    target = np.empty((s.R, S))
    target[:] = target1
    assert day.open_orders is not None
    assert day.cap_today is not None
    owner = st.prod_owner
    beyond = np.maximum(0.0, day.open_orders[:, owner] - s.out_stock[:, owner])
    makeable = np.where(day.cap_today[:, owner] > 0, beyond, 0.0)  # a halted plant: none
    target[:, st.prod_sel] += st.prod_coef * makeable
    if st.has_stockpile:
        sp = lay.slot_is_stockpile
        position[:, sp] += s.out_stock[:, lay.slot_node[sp]]
    order = np.maximum(0.0, target - position)
    if s.entrants is not None:
        order *= s.slot_active
    if st.has_stockpile:
        # Stockpiles with a release rule refill slowly, and not while releasing.
        for plan in st.releases:
            slots = st.release_slots[plan.node]
            if not plan.replenish:
                order[:, slots] = 0.0
            else:
                capped = np.minimum(order[:, slots], plan.replenish_per_day)
                order[:, slots] = np.where(s.releasing[:, plan.node, None], 0.0, capped)
    if s.share_dirty:
        share = lay.edge_share * s.edge_active
        share_sum = bincount2(lay.edge_slot, share, S)
        per_edge = share_sum[:, lay.edge_slot]
        s.share = _div(share, per_edge, per_edge > 0, 0.0)
        s.share_dirty = s.entrants is not None
    raw = np.take(order, lay.edge_slot, axis=1, out=s.scratch("raw", s.share.shape), mode="clip")
    raw *= s.share
    day.raw = raw


def resource(s: State, day: Day) -> None:
    """Stage 5b: place the day's orders; divert those meant for impaired suppliers.

    An edge is impaired by the share of orders its supplier cannot deliver (down, short of
    feedstock, or export-restricted). Its orders may go to a qualified alternative edge
    ``a`` into the same buyer slot once it has been impaired for ``a``'s switching delay.
    Without any (edge, qualified alternative) pair this stage only places the orders; the
    rest is computed on the edges of such pairs only.
    """
    st = s.st
    raw = day.raw
    assert raw is not None and day.cap_today is not None
    if not st.pair_edges.size:
        s.backlog += raw  # no alternative anywhere: every order goes where it is meant
        return
    go: np.ndarray | None = None  # replications that look at re-sourcing today (None: all)
    if not st.dynamic_supply:
        # Availability only changes through events: with no outage or restriction in force
        # and no edge impaired when last looked at, nothing can be impaired today.
        go = s.any_impaired | s.any_block | s.outage_active
        if not go.any():
            s.backlog += raw
            return
    _divert(s, day, go)


def _divert(s: State, day: Day, go: np.ndarray | None) -> None:
    """Re-sourcing proper (stage 5b): impairment, open pairs, diverted and placed orders.

    ``go`` marks the replications that look at re-sourcing today (``None``: all).
    """
    st, lay, d = s.st, s.st.layout, day.d
    raw = day.raw
    assert raw is not None and day.cap_today is not None
    N = lay.n_nodes
    U, pf_u, pt_u = st.pair_edges, st.pair_from_u, st.pair_to_u
    pt = lay.pair_to
    nU = U.size
    cap_today, block = day.cap_today, s.block
    rate_today = s.rate_today
    # Share of its capacity a supplier can use today (unlimited suppliers: availability).
    # A developed resource's drawn capacity factor is its capacity, not an impairment: once
    # it produces it counts as fully available (docs/engine.md, "Re-sourcing").
    cap_factor = s.cap_factor
    if st.developed.size:
        cap_factor = cap_factor.copy()
        cap_factor[:, st.developed] = cap_factor[:, st.developed] > 0
    avail_frac = st.cap_nonzero * s.avail * cap_factor
    rec = st.recyclers  # integer positions (faster than a mask on 2-D arrays)
    if st.has_recycler:
        eff = st.efficiency[rec]
        feasible = np.minimum(cap_today[:, rec], s.pool[:, rec] * eff)
        feasible = feasible + s.out_stock[:, rec]
        rate_rec = rate_today[rec]
        avail_frac[:, rec] = np.minimum(
            avail_frac[:, rec], _div(feasible, rate_rec, rate_rec > 0, 1.0)
        )
    avail_frac = np.minimum(np.maximum(avail_frac, 0.0), 1.0)
    if go is not None:
        # Whether any edge at all is impaired decides whether tomorrow looks again.
        unable_all = np.minimum(
            np.maximum(1.0 - avail_frac[:, lay.edge_src] * (1.0 - block), 0.0), 1.0
        )
        impaired_all = unable_all > 1e-12
        s.any_impaired = np.where(go, impaired_all.any(axis=1), s.any_impaired)
        unable, impaired = unable_all[:, U], impaired_all[:, U]
        g = go[:, None]
        started = impaired & (s.impaired_since < 0) & g
        s.impaired_since[started] = d
        s.impaired_since[~impaired & g] = -1
    else:
        unable = np.minimum(
            np.maximum(1.0 - avail_frac[:, st.pair_src] * (1.0 - block[:, U]), 0.0), 1.0
        )
        impaired = unable > 1e-12
        s.impaired_since[impaired & (s.impaired_since < 0)] = d
        s.impaired_since[~impaired] = -1
    # A pair (impaired edge, alternative) is open once the impaired edge has been impaired
    # for the alternative's switching delay.
    age = d - s.impaired_since
    open_pair = (
        impaired[:, pf_u] & s.edge_active[:, pt] & (age[:, pf_u] >= lay.edge_switch_days[pt])
    )
    if go is not None:
        open_pair &= go[:, None]
    if not open_pair.any():
        s.backlog += raw
        return
    diverting = bincount2(pf_u, open_pair.astype(float), nU) > 0
    spare = np.maximum(0.0, cap_today - rate_today)
    if st.has_recycler:
        # A recycler can take on what its feedstock and recovered stock allow.
        deliverable = np.minimum(cap_today[:, rec], s.pool[:, rec] * st.efficiency[rec])
        spare[:, rec] = np.maximum(0.0, deliverable + s.out_stock[:, rec] - rate_today[rec])
    spare[~np.isfinite(spare)] = 1e300
    # Edges that divert do not receive; weights by spare capacity of the usable part.
    src_alt = st.alt_src
    weight = np.where(
        open_pair & ~diverting[:, pt_u], spare[:, src_alt] * (1.0 - unable[:, pt_u]), 0.0
    )
    weight_total = bincount2(pf_u, weight, nU)
    diverting &= weight_total > 0  # no usable alternative: the orders stay
    active = np.asarray(diverting.any(axis=1))
    if not active.any():
        s.backlog += raw
        return
    frac = np.where(diverting, unable, 0.0)
    raw_u = raw[:, U]
    divert = (raw_u + s.backlog[:, U]) * frac
    keep_raw = raw_u * (1.0 - frac)
    backlog = s.backlog[:, U] * (1.0 - frac)
    wt = weight_total[:, pf_u]
    pair_share = _div(weight, wt, wt > 0, 0.0)
    request = divert[:, pf_u] * pair_share
    # Pro rata when several buyers compete for one supplier's spare capacity.
    per_supplier = bincount2(src_alt, request, N)
    scale = _div(spare, per_supplier, per_supplier > spare, 1.0)
    accepted = request * np.minimum(1.0, scale)[:, src_alt]
    accepted_alt = bincount2(pt_u, accepted, nU)
    returned = divert - bincount2(pf_u, accepted, nU)
    backlog += keep_raw + accepted_alt + np.maximum(returned, 0.0)
    out = s.backlog + raw
    out[:, U] = np.where(active[:, None], backlog, out[:, U])
    s.backlog = out


def _release(s: State, d: int, quota: np.ndarray | None) -> np.ndarray:
    """Stock each stockpile pushes to its buyer today (per edge), ``(R, E)``.

    The fill-rate rule reads the last 7 *completed* days (``d − 7 … d − 1``). A release
    over an export-restricted edge uses that edge's quota first (``quota`` is reduced in
    place); the rest stays in the stockpile.
    """
    lay = s.st.layout
    out = np.zeros((s.R, lay.n_edges))
    for plan in s.st.releases:
        trigger = np.zeros(s.R, dtype=bool)
        if plan.below_fill_rate is not None:
            if plan.buyer_market is not None:
                perf = _performance(s, plan.buyer_market, d, 7)
                ratio = perf.mean(axis=1) if perf.shape[1] else np.ones(s.R)
            else:
                lo = max(s.st.W, d - 7)
                k = s.st.plant_col[plan.node]
                ratio = s.plant_perf[lo:d, :, k].mean(axis=0) if d > lo else np.ones(s.R)
            trigger |= ratio < plan.below_fill_rate
        if plan.below_days_of_cover is not None and plan.need > 0:
            cover = s.in_stock[:, plan.buyer_slot] / plan.need
            trigger |= cover < plan.below_days_of_cover
        s.releasing[:, plan.node] = trigger
        if trigger.any():
            qty = np.minimum(s.out_stock[:, plan.node], plan.per_day)
            if quota is not None:
                lim = trigger & (s.block[:, plan.edge] > 0)
                qty = np.where(lim, np.minimum(qty, quota[:, plan.edge]), qty)
                quota[lim, plan.edge] -= qty[lim]
            s.out_stock[trigger, plan.node] -= qty[trigger]
            out[trigger, plan.edge] += qty[trigger]
    return out


def shipping(s: State, day: Day) -> None:
    """Stage 6: export quotas, stockpile releases, then suppliers fill orders and ship.

    Suppliers fill orders from stock, pro rata when short, and ship with the edge's lead
    time; on an export-restricted edge what crosses in a day is capped by its quota and
    the orders beyond it are cancelled.
    """
    st, lay, d = s.st, s.st.layout, day.d
    N = lay.n_nodes
    quota_ref = lay.edge_quota_ref
    if st.scale is not None:
        quota_ref = quota_ref * st.scale[d][lay.edge_dst]
    quota = (1.0 - s.block) * quota_ref if s.any_block.any() else None
    released = _release(s, d, quota) if st.releases else None  # None: no release rule
    if quota is not None:
        # What may still cross today; orders beyond it are cancelled (lost to the route:
        # the buyer re-orders, re-sources or goes short).
        allowed = np.where(s.block > 0, np.minimum(s.backlog, quota), s.backlog)
        day.cancelled = s.backlog - allowed
        s.backlog = allowed
    request = s.backlog
    req_total = bincount2(lay.edge_src, request, N)
    can = np.minimum(s.out_stock, req_total)
    ratio = _div(can, req_total, req_total > 0, 0.0)
    ship = s.scratch("ship", request.shape)
    np.take(ratio, lay.edge_src, axis=1, out=ship, mode="clip")
    ship *= request
    np.subtract(s.backlog, ship, out=s.backlog)
    filled = bincount2(lay.edge_src, ship, N)
    pre_out = s.out_stock - filled
    np.minimum(s.preclip_out, pre_out, out=s.preclip_out)
    s.out_stock = np.maximum(pre_out, 0.0)
    if released is not None:
        ship = ship + released  # releases already left the stockpile's stock
        shipped_node = bincount2(lay.edge_src, ship, N)
    else:
        shipped_node = filled  # the same sum of the same shipments
    _to_ring(s, d, ship)
    s.transit += ship
    day.released, day.ship, day.shipped_node = released, ship, shipped_node


def _to_ring(s: State, d: int, ship: np.ndarray) -> None:
    """Put day ``d``'s shipments ``(R, E)`` in the arrival ring, each at its due row.

    One shipment per edge and day: the (row, replication, edge) cells are unique, so each
    cell gets one ``+=``, whatever the order. Without a logistics delay in force, the
    edges of one fixed lead time share a row for every replication, and the ring keeps
    them in adjacent columns (``Static.ring_order``): one slice ``+=`` per lead time (a
    scatter over the whole ring visits a cache line per cell). Edges with drawn lead
    times, and every edge while a logistics delay is in force, are scattered cell by
    cell.
    """
    T, L = s.st.T, s.ring_len  # L: a power of two, longer than any lead time
    R, E = ship.shape
    flat = s.ring.reshape(-1)
    if s.logistics_active.any():
        lead = s.lead_fixed
        if s.lead_edges.size:
            lead = lead.copy()
            lead[:, s.lead_edges] = s.lead_draws[d]
        lead = np.where(s.lead_factor != 1.0, lead_days(lead * s.lead_factor, T), lead)
        flat[_ring_rows(d + lead, T, L) * (R * E) + s.ring_cells] += ship
        return
    # The ring's column order.
    by_lead = np.take(ship, s.st.ring_order, axis=1, out=s.scratch("by_lead", (R, E)), mode="clip")
    for lead_e, a, b in s.st.lead_groups:
        due = d + lead_e  # due at or after the end of the run: the sink row L
        s.ring[L if due >= T else due & (L - 1), :, a:b] += by_lead[:, a:b]
    if s.lead_edges.size:
        q = s.lead_edges
        rows = _ring_rows(d + s.lead_draws[d], T, L)
        flat[rows * (R * E) + s.ring_cells[:, q]] += ship[:, q]


def _ring_rows(arrive: np.ndarray, T: int, L: int) -> np.ndarray:
    """Ring row of each arrival day (the sink row ``L`` at or after the end ``T``).

    Examples
    --------
    >>> _ring_rows(np.array([3, 9, 12]), 10, 8).tolist()
    [3, 1, 8]
    """
    if int(arrive.max(initial=0)) < T:
        return arrive & (L - 1)
    return np.where(arrive >= T, L, arrive & (L - 1))


def end_of_life(s: State, day: Day) -> None:
    """Stage 7: end-of-life units are collected and sent to recyclers."""
    if not s.st.recycling:
        return
    d = day.d
    collected = np.zeros((s.R, s.st.layout.n_nodes))
    for plan in s.st.recycling:
        r = plan.recycler
        eol_embedded: np.ndarray | float = 0.0
        for col, part, content in plan.sources:
            units = s.eol_due[col][:, d] * part
            s.eol_units[:, col] += units
            eol_embedded = eol_embedded + units * content
        got = eol_embedded * plan.collection_rate
        s.pool[:, r] += got
        s.collected[:, r] += got
        s.collection_lost[:, r] += eol_embedded - got
        collected[:, r] = got
    day.collected = collected


def record(s: State, day: Day) -> None:
    """Stage 8: the day's market record."""
    d = day.d
    s.days_done = d + 1
    s.rec_demand[d] = day.demand
    s.rec_served[d] = day.served_now
    if s.rec_served_total is not None:  # back-orders: served today + from the back-log
        s.rec_served_total[d] = day.served_total
