"""Referential checks: what needs the whole scenario to be judged.

The schema (:mod:`crmsim.scenario.schema`) checks each field on its own: types, ranges,
choices, UNFC codes, country codes. This module checks what only makes sense across
fields, once every field is valid:

* ids are unique (materials, nodes, disruptions, policies) and every reference to a node,
  material, region or policy names one that exists (with a "did you mean" when misspelt);
* an edge ships its supplier's output, and its buyer uses that material (a processor's
  recipe input, the output a processor without a recipe passes through, a market's demanded
  material, a stockpile's material);
* a buyer's shares for one material sum to 1 (within 1e-6);
* every recipe input has a supplier, every market has a material and a supply path from a
  node that needs no inputs (a mine, a recycler, or a processor without a recipe);
* the supply edges form no cycle;
* ``experiment.compare`` names ``baseline`` or policy ids joined by ``+``.

Every check returns :class:`~crmsim.scenario.errors.Problem` objects with a field path in
the file's own words (``edges[2].from``); the loader adds file, line and column.
"""

from __future__ import annotations

import difflib
from collections import defaultdict
from collections.abc import Iterable, Sequence

import networkx as nx

from crmsim.scenario.countries import check_country
from crmsim.scenario.errors import Problem
from crmsim.scenario.schema import Edge, EdgeRef, Node, Recycling, Role, Scenario, Target

__all__ = ["SHARE_TOLERANCE", "check_scenario", "suggest"]

#: A buyer's shares for one material must sum to 1 within this tolerance.
SHARE_TOLERANCE = 1e-6

_MAX_LISTED = 12

Path = tuple[str | int, ...]


def suggest(value: str, valid: Iterable[str]) -> str | None:
    """Return the closest valid spelling of a misspelt id, if one is close enough.

    Parameters
    ----------
    value : str
        The id as written.
    valid : iterable of str
        The ids that exist.

    Returns
    -------
    str or None
        The best match (:func:`difflib.get_close_matches`, cutoff 0.6), or None.

    Examples
    --------
    >>> suggest("api_cm", ["api_cn", "api_in", "formulator"])
    'api_cn'
    >>> suggest("zzz", ["api_cn"]) is None
    True
    """
    matches = difflib.get_close_matches(str(value), sorted(set(valid)), n=1, cutoff=0.6)
    if not matches:
        lowered = {v.lower(): v for v in valid}
        return lowered.get(str(value).lower())
    return matches[0]


def _listing(values: Iterable[str]) -> str:
    items = sorted(set(values))
    if not items:
        return "(none)"
    shown = ", ".join(items[:_MAX_LISTED])
    return shown + (f", ... ({len(items)} in all)" if len(items) > _MAX_LISTED else "")


class _Checker:
    """Collects the problems of one scenario."""

    def __init__(self, scenario: Scenario):
        self.s = scenario
        self.problems: list[Problem] = []
        self.nodes: dict[str, Node] = {}
        for n in scenario.nodes:
            self.nodes.setdefault(n.id, n)
        self.node_index = {n.id: i for i, n in reversed(list(enumerate(scenario.nodes)))}
        self.materials = {m.id for m in scenario.materials}
        self.policies = {p.id for p in scenario.policies}

    # ------------------------------------------------------------------ helpers
    def add(
        self, message: str, path: Path, *, value: object = ..., hint: str | None = None, code: str
    ) -> None:
        self.problems.append(Problem(message, path, value=value, hint=hint, code=code))

    def unknown(self, kind: str, value: str, valid: Iterable[str], path: Path) -> None:
        """Report a reference to an id that does not exist."""
        valid = list(valid)
        close = suggest(value, valid)
        plural = {"node": "nodes", "material": "materials", "region": "regions"}.get(kind, kind)
        hint = f"did you mean {close!r}?" if close else None
        self.add(
            f"unknown {kind} {value!r}; known {plural}: {_listing(valid)}",
            path,
            value=value,
            hint=hint,
            code=f"unknown_{kind}",
        )

    def node_ref(self, value: str, path: Path) -> Node | None:
        node = self.nodes.get(value)
        if node is None:
            self.unknown("node", value, self.nodes, path)
        return node

    def node_refs(self, values: Sequence[str], path: Path) -> None:
        for j, v in enumerate(values):
            self.node_ref(v, (*path, j))

    def material_ref(self, value: str | None, path: Path) -> bool:
        if value is None or value in self.materials:
            return value is not None
        self.unknown("material", value, self.materials, path)
        return False

    def edge_material(self, e: Edge) -> str | None:
        if e.material is not None:
            return e.material
        supplier = self.nodes.get(e.from_)
        return supplier.output if supplier is not None else None

    # ------------------------------------------------------------------ checks
    def run(self) -> list[Problem]:
        self.duplicate_ids()
        self.materials_()
        self.nodes_()
        self.regions_and_home()
        good_edges = self.edges()
        self.shares(good_edges)
        self.recipe_inputs()
        self.markets(good_edges)
        self.cycles()
        self.disruptions()
        self.policies_()
        self.compare()
        return self.problems

    def duplicate_ids(self) -> None:
        id_lists: tuple[tuple[str, str, list[str]], ...] = (
            ("material", "materials", [m.id for m in self.s.materials]),
            ("node", "nodes", [n.id for n in self.s.nodes]),
            ("disruption", "disruptions", [d.id for d in self.s.disruptions]),
            ("policy", "policies", [p.id for p in self.s.policies]),
        )
        for kind, key, item_ids in id_lists:
            first: dict[str, int] = {}
            for i, item_id in enumerate(item_ids):
                if item_id in first:
                    self.add(
                        f"duplicate {kind} id {item_id!r}: already used by {key}[{first[item_id]}]",
                        (key, i, "id"),
                        value=item_id,
                        hint=f"give every {kind} a unique id",
                        code="duplicate_id",
                    )
                else:
                    first[item_id] = i

    def materials_(self) -> None:
        for i, m in enumerate(self.s.materials):
            for mat in m.content:
                self.material_ref(mat, ("materials", i, "content", mat))

    def nodes_(self) -> None:
        for i, n in enumerate(self.s.nodes):
            self.material_ref(n.output, ("nodes", i, "output"))
            for mat in n.recipe:
                self.material_ref(mat, ("nodes", i, "recipe", mat))
            for j, src in enumerate(n.collects_from):
                self.collect_ref(src, ("nodes", i, "collects_from", j))
            # `entry` and `release` are new in the schema: read them defensively so these
            # checks follow them without depending on their final shape.
            for lever, key in (("entry", "watch"), ("release", "to")):
                ref = getattr(getattr(n, lever, None), key, None)
                if isinstance(ref, str):
                    self.node_ref(ref, ("nodes", i, lever, key))

    def collect_ref(self, value: str, path: Path) -> None:
        node = self.node_ref(value, path)
        if node is not None and node.role is not Role.MARKET:
            self.add(
                f"a recycler collects end-of-life units from markets; {value!r} is a "
                f"{node.role.value}",
                path,
                value=value,
                hint=f"markets: {_listing(n.id for n in self.s.nodes if n.role is Role.MARKET)}",
                code="not_a_market",
            )

    def regions_and_home(self) -> None:
        regions = list(self.s.regions)
        for j, entry in enumerate(self.s.home):
            if entry in self.s.regions:
                continue
            try:
                code = check_country(entry)
            except ValueError as exc:
                close = suggest(entry, regions)
                self.add(
                    f"home entry {entry!r} is neither a region ({_listing(regions)}) nor a "
                    f"country code: {exc}",
                    ("home", j),
                    value=entry,
                    hint=f"did you mean region {close!r}?" if close else None,
                    code="unknown_region",
                )
                continue
            if code != entry:
                self.add(
                    f"write country codes in upper case: {code!r}, not {entry!r}",
                    ("home", j),
                    value=entry,
                    code="country_case",
                )

    def edges(self) -> list[tuple[int, Edge, str]]:
        """Check every edge; return those whose ends and material resolve."""
        good: list[tuple[int, Edge, str]] = []
        seen: dict[tuple[str, str, str | None], int] = {}
        # A buyer with an edge that does not resolve has shares we cannot add up: its
        # share check would only repeat the edge's own problem.
        self.unresolved_buyers: set[str] = set()
        for i, e in enumerate(self.s.edges):
            n_before = len(self.problems)
            self.edge(i, e, seen, good)
            if len(self.problems) > n_before:
                self.unresolved_buyers.add(e.to)
        return good

    def edge(
        self,
        i: int,
        e: Edge,
        seen: dict[tuple[str, str, str | None], int],
        good: list[tuple[int, Edge, str]],
    ) -> None:
        """Check one edge; add it to ``good`` when it resolves."""
        supplier = self.node_ref(e.from_, ("edges", i, "from"))
        buyer = self.node_ref(e.to, ("edges", i, "to"))
        if e.material is not None and not self.material_ref(e.material, ("edges", i, "material")):
            return
        if supplier is None or buyer is None:
            return
        if e.from_ == e.to:
            self.add(
                f"node {e.from_!r} cannot supply itself",
                ("edges", i, "to"),
                value=e.to,
                code="cycle",
            )
            return
        if supplier.role is Role.MARKET:
            self.add(
                f"{e.from_!r} is a market (final demand) and supplies nothing; recyclers "
                "collect from markets with `collects_from`",
                ("edges", i, "from"),
                value=e.from_,
                code="market_supplies",
            )
            return
        material = e.material or supplier.output
        if material is None:  # pragma: no cover - schema requires an output
            return
        if e.material is not None and supplier.output and e.material != supplier.output:
            self.add(
                f"supplier {e.from_!r} produces {supplier.output!r}, not {e.material!r}",
                ("edges", i, "material"),
                value=e.material,
                hint=f"use material: {supplier.output} or drop `material`",
                code="edge_material",
            )
            return
        key = (e.from_, e.to, material)
        if key in seen:
            self.add(
                f"duplicate edge {e.from_}->{e.to} for {material!r}: also edges[{seen[key]}]",
                ("edges", i),
                hint="merge them into one edge",
                code="duplicate_edge",
            )
            return
        seen[key] = i
        if self.buyer_uses(buyer, material, i):
            good.append((i, e, material))

    def buyer_uses(self, buyer: Node, material: str, i: int) -> bool:
        """Whether ``buyer`` can use ``material`` (report the problem when not)."""
        path: Path = ("edges", i, "to")
        role = buyer.role
        msg: str | None = None
        hint: str | None = None
        if role in (Role.MINE, Role.RECYCLER):
            msg = f"{buyer.id!r} is a {role.value}; it takes no inputs from suppliers"
            if role is Role.RECYCLER:
                hint = "a recycler collects end-of-life units from markets (collects_from)"
        elif role is Role.PROCESSOR and buyer.recipe:
            if material not in buyer.recipe:
                msg = (
                    f"processor {buyer.id!r} does not use {material!r}: its recipe inputs are "
                    f"{_listing(buyer.recipe)}"
                )
                hint = f"add {material} to its recipe, or send this edge to a buyer that uses it"
        elif role in (Role.PROCESSOR, Role.STOCKPILE):
            if material != buyer.output:
                what = "has no recipe, so it passes through" if role is Role.PROCESSOR else "holds"
                msg = (
                    f"{role.value} {buyer.id!r} {what} {buyer.output!r}; it cannot use "
                    f"{material!r} received from this edge"
                )
                if role is Role.PROCESSOR:
                    hint = f"give it a recipe, e.g. recipe: {{{material}: 1.0}}"
        elif role is Role.MARKET and buyer.output is not None and material != buyer.output:
            msg = (
                f"market {buyer.id!r} demands {buyer.output!r} (its output) but this edge ships "
                f"{material!r}"
            )
            hint = "make its output match what its suppliers ship, or drop `output`"
        if msg is None:
            return True
        self.add(msg, path, value=buyer.id, hint=hint, code="buyer_material")
        return False

    def shares(self, good: list[tuple[int, Edge, str]]) -> None:
        groups: dict[tuple[str, str], list[tuple[int, Edge]]] = defaultdict(list)
        for i, e, material in good:
            groups[(e.to, material)].append((i, e))
        for (buyer, material), members in groups.items():
            if buyer in self.unresolved_buyers:
                continue
            total = sum(e.share for _, e in members)
            if abs(total - 1.0) <= SHARE_TOLERANCE:
                continue
            listed = ", ".join(f"edges[{i}] from {e.from_} = {e.share:g}" for i, e in members)
            first = members[0][0]
            self.add(
                f"shares of {material!r} bought by {buyer!r} sum to {total:.10g}, not 1 "
                f"(within {SHARE_TOLERANCE:g}): {listed}",
                ("edges", first, "share"),
                value=members[0][1].share,
                hint="adjust the shares so they sum to 1 (a qualified alternative may have "
                "share 0)",
                code="shares_sum",
            )

    def recipe_inputs(self) -> None:
        supplied: set[tuple[str, str]] = set()
        for e in self.s.edges:
            material = self.edge_material(e)
            if material is not None:
                supplied.add((e.to, material))
        for i, n in enumerate(self.s.nodes):
            if n.role is not Role.PROCESSOR:
                continue
            for material in n.recipe:
                if material not in self.materials or (n.id, material) in supplied:
                    continue
                makers = [
                    m.id
                    for m in self.s.nodes
                    if m.output == material and m.id != n.id and m.role is not Role.MARKET
                ]
                self.add(
                    f"recipe input {material!r} of {n.id!r} has no supplier (no edge "
                    f"{{from: ..., to: {n.id}}} ships {material!r})",
                    ("nodes", i, "recipe", material),
                    hint=(
                        f"add an edge from one of: {_listing(makers)}"
                        if makers
                        else f"no node produces {material!r}; add one"
                    ),
                    code="no_supplier",
                )

    def markets(self, good: list[tuple[int, Edge, str]]) -> None:
        suppliers: dict[str, set[str]] = defaultdict(set)
        for e in self.s.edges:
            if e.from_ in self.nodes and e.to in self.nodes:
                suppliers[e.to].add(e.from_)
        sources = {
            n.id
            for n in self.s.nodes
            if n.role in (Role.MINE, Role.RECYCLER) or (n.role is Role.PROCESSOR and not n.recipe)
        }
        shipped: dict[str, set[str]] = defaultdict(set)
        for _, e, material in good:
            shipped[e.to].add(material)
        for i, n in enumerate(self.s.nodes):
            if n.role is not Role.MARKET:
                continue
            path: Path = ("nodes", i)
            if not suppliers.get(n.id):
                self.add(
                    f"market {n.id!r} has no suppliers (no edge has `to: {n.id}`), so nothing "
                    "can serve its demand"
                    + ("" if n.output else " and its material cannot be inferred"),
                    (*path, "id"),
                    value=n.id,
                    hint=f"add an edge {{from: <supplier>, to: {n.id}}}",
                    code="no_supply_path",
                )
                continue
            if n.output is None and len(shipped.get(n.id, ())) > 1:
                self.add(
                    f"market {n.id!r} receives several materials ({_listing(shipped[n.id])}), so "
                    "the material it demands cannot be inferred",
                    (*path, "id"),
                    value=n.id,
                    hint="set `output` to the material demanded",
                    code="market_material",
                )
            upstream = self.upstream(n.id, suppliers)
            if not upstream & sources:
                self.add(
                    f"no supply path to market {n.id!r} from any producing node (a mine, a "
                    "recycler, or a processor without a recipe); upstream of it: "
                    f"{_listing(upstream)}",
                    (*path, "id"),
                    value=n.id,
                    hint="connect it, through edges, to a node that needs no inputs",
                    code="no_supply_path",
                )

    @staticmethod
    def upstream(node: str, suppliers: dict[str, set[str]]) -> set[str]:
        seen: set[str] = set()
        todo = [node]
        while todo:
            for s in suppliers.get(todo.pop(), ()):
                if s not in seen:
                    seen.add(s)
                    todo.append(s)
        return seen

    def cycles(self) -> None:
        G = nx.DiGraph()
        first_edge: dict[tuple[str, str], int] = {}
        for i, e in enumerate(self.s.edges):
            if e.from_ in self.nodes and e.to in self.nodes and e.from_ != e.to:
                G.add_edge(e.from_, e.to)
                first_edge.setdefault((e.from_, e.to), i)
        components = [sorted(c) for c in nx.strongly_connected_components(G) if len(c) > 1]
        for comp in sorted(components):
            cycle = nx.find_cycle(G.subgraph(comp), source=comp[0])
            names = [u for u, _ in cycle] + [cycle[0][0]]
            i = first_edge[(cycle[0][0], cycle[0][1])]
            self.add(
                "the supply edges form a cycle: " + " -> ".join(names),
                ("edges", i),
                hint="supply must flow one way, from mines to markets; remove one of these edges",
                code="cycle",
            )

    def target(self, t: Target, path: Path) -> None:
        self.node_refs(t.node, (*path, "node"))
        for j, mat in enumerate(t.material):
            self.material_ref(mat, (*path, "material", j))
        for j, region in enumerate(t.region):
            if region not in self.s.regions:
                self.unknown("region", region, self.s.regions, (*path, "region", j))
        for j, ref in enumerate(t.edge):
            self.edge_ref(ref, (*path, "edge", j))

    def edge_ref(self, ref: EdgeRef, path: Path) -> None:
        a = self.node_ref(ref.from_, (*path, "from"))
        b = self.node_ref(ref.to, (*path, "to"))
        if ref.material is not None and not self.material_ref(ref.material, (*path, "material")):
            return
        if a is None or b is None:
            return
        for e in self.s.edges:
            if (
                e.from_ == ref.from_
                and e.to == ref.to
                and (ref.material is None or self.edge_material(e) == ref.material)
            ):
                return
        self.add(
            f"there is no edge {ref} in `edges`",
            path,
            hint="a target edge is written 'supplier->buyer' and must exist",
            code="unknown_edge",
        )

    def disruptions(self) -> None:
        for i, d in enumerate(self.s.disruptions):
            self.target(d.target, ("disruptions", i, "target"))

    def policies_(self) -> None:
        for i, p in enumerate(self.s.policies):
            base: Path = ("policies", i)
            if (m := p.msme_entrant) is not None:
                path: Path = (*base, "msme_entrant")
                self.node_refs(m.supplies, (*path, "supplies"))
                self.node_refs(m.suppliers, (*path, "suppliers"))
                self.material_ref(m.output, (*path, "output"))
                for mat in m.recipe:
                    self.material_ref(mat, (*path, "recipe", mat))
                if m.trigger.buyer is not None:
                    self.node_ref(m.trigger.buyer, (*path, "trigger", "buyer"))
            if (r := p.recycling) is not None:
                self.recycling(r, (*base, "recycling"))
            if (sp := p.stockpile) is not None:
                path = (*base, "stockpile")
                at = self.node_ref(sp.at, (*path, "at"))
                if self.material_ref(sp.material, (*path, "material")) and at is not None:
                    uses = self.uses(at)
                    if sp.material not in uses:
                        self.add(
                            f"{sp.at!r} does not use {sp.material!r}; a stockpile there can hold "
                            f"{_listing(uses)}",
                            (*path, "material"),
                            value=sp.material,
                            code="buyer_material",
                        )
            if (dr := p.develop_resource) is not None:
                path = (*base, "develop_resource", "node")
                node = self.node_ref(dr.node, path)
                if node is not None and node.role not in (Role.MINE, Role.RECYCLER):
                    self.add(
                        f"develop_resource applies to a mine or recycler; {dr.node!r} is a "
                        f"{node.role.value}",
                        path,
                        value=dr.node,
                        code="wrong_role",
                    )
            if (dv := p.diversify) is not None:
                path = (*base, "diversify")
                self.node_ref(dv.buyer, (*path, "buyer"))
                self.node_refs(dv.to, (*path, "to"))
                self.material_ref(dv.material, (*path, "material"))

    def uses(self, node: Node) -> set[str]:
        """Materials a node takes from suppliers."""
        if node.role is Role.PROCESSOR and node.recipe:
            return set(node.recipe)
        if node.role is Role.MARKET and node.output is None:
            return {m for e in self.s.edges if e.to == node.id and (m := self.edge_material(e))}
        if node.role in (Role.PROCESSOR, Role.STOCKPILE, Role.MARKET) and node.output:
            return {node.output}
        return set()

    def recycling(self, r: Recycling, path: Path) -> None:
        for j, src in enumerate(r.collects_from):
            self.collect_ref(src, (*path, "collects_from", j))
        self.node_refs(r.supplies, (*path, "supplies"))
        self.material_ref(r.output, (*path, "output"))
        existing = self.nodes.get(r.id)
        if existing is not None:
            if existing.role is not Role.RECYCLER:
                self.add(
                    f"{r.id!r} is an existing {existing.role.value}; recycling adds a new "
                    "recycler or changes an existing recycler",
                    (*path, "id"),
                    value=r.id,
                    hint="use a new id for a new recycler",
                    code="wrong_role",
                )
        else:
            missing = [f for f in ("country", "output", "capacity") if getattr(r, f) is None]
            if missing:
                self.add(
                    f"{r.id!r} is a new recycler (no node has this id), so it needs "
                    + ", ".join(missing),
                    path,
                    hint=(
                        f"did you mean the existing node {close!r}?"
                        if (close := suggest(r.id, self.nodes))
                        else None
                    ),
                    code="missing_key",
                )
            if r.capacity_factor is not None:
                self.add(
                    "capacity_factor scales an existing recycler; for a new one give capacity",
                    (*path, "capacity_factor"),
                    value=r.capacity_factor,
                    code="invalid",
                )

    def compare(self) -> None:
        valid = ["baseline", *sorted(self.policies)]
        seen: dict[str, int] = {}
        for i, entry in enumerate(self.s.experiment.compare):
            path: Path = ("experiment", "compare", i)
            parts = [p.strip() for p in entry.split("+")]
            canonical = "+".join(sorted(parts))
            if canonical in seen:
                self.add(
                    f"{entry!r} is listed twice (also compare[{seen[canonical]}])",
                    path,
                    value=entry,
                    code="duplicate_id",
                )
                continue
            seen[canonical] = i
            if parts == ["baseline"]:
                continue
            if len(set(parts)) != len(parts):
                self.add(
                    f"{entry!r} names a policy twice", path, value=entry, code="invalid_compare"
                )
            for part in parts:
                if not part:
                    self.add(
                        f"empty policy id in {entry!r}; combine policies as 'a+b'",
                        path,
                        value=entry,
                        code="invalid_compare",
                    )
                elif part == "baseline":
                    self.add(
                        f"'baseline' cannot be combined with policies in {entry!r}; it is the "
                        "unchanged scenario",
                        path,
                        value=entry,
                        code="invalid_compare",
                    )
                elif part not in self.policies:
                    close = suggest(part, valid)
                    where = "" if part == entry else f" in {entry!r}"
                    self.add(
                        f"unknown policy {part!r}{where}; an entry is 'baseline' or policy "
                        f"ids joined by '+'; known: {_listing(valid)}",
                        path,
                        value=entry,
                        hint=f"did you mean {close!r}?" if close else None,
                        code="unknown_policy",
                    )


def check_scenario(scenario: Scenario) -> list[Problem]:
    """Run the referential checks on a scenario whose fields are valid.

    Parameters
    ----------
    scenario : Scenario
        A scenario built by :meth:`Scenario.model_validate` (field checks passed).

    Returns
    -------
    list of Problem
        Every problem found, each with a field path in the file's words
        (``edges[1].from``); file, line and column are left for the loader to fill in.
        Empty when the scenario is consistent.

    Examples
    --------
    >>> s = Scenario.model_validate({
    ...     "crmsim": 1, "name": "typo",
    ...     "materials": [{"id": "ore"}],
    ...     "nodes": [
    ...         {"id": "mine", "role": "mine", "country": "AUS", "output": "ore", "capacity": 10},
    ...         {"id": "buyer", "role": "market", "country": "DEU", "demand": {"mean": 8}},
    ...     ],
    ...     "edges": [{"from": "mine", "to": "buyer"}, {"from": "mien", "to": "buyer"}],
    ... })
    >>> for p in check_scenario(s):
    ...     print(p.field_path, "|", p.message, "|", p.hint)
    edges[1].from | unknown node 'mien'; known nodes: buyer, mine | did you mean 'mine'?
    """
    return _Checker(scenario).run()
