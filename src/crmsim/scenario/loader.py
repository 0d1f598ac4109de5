"""Load scenario files in stages: parse → validate fields → referential checks → build.

1. **Parse** the YAML with :class:`MarkedLoader`, a :class:`yaml.SafeLoader` subclass (it
   never constructs Python objects from tags, so loading never runs code from the file)
   that records where every mapping key, mapping value and sequence item starts, and
   reports duplicate keys (plain PyYAML silently keeps the last one). A syntax error
   becomes a located :class:`~crmsim.scenario.errors.Problem`, not a traceback. Where
   PyYAML has libyaml, its C scanner and parser read the file (about eight times faster)
   and the same Python composer builds the nodes; a syntax error is then worded and
   located by PyYAML's own parser, as without libyaml. A file
   received from someone else cannot exhaust time or memory: it may be at most
   :data:`MAX_DOCUMENT_BYTES` long and nested at most :data:`MAX_DEPTH` levels deep, and
   its aliases (``*name``) may repeat at most :data:`MAX_ALIAS_NODES` parts of the
   document in all (a "billion laughs" file of nested aliases expands to billions); each
   limit gives a located problem at the place that crosses it.
2. **Check the shape**: the file must be a mapping that starts with a supported schema
   version (``crmsim: 1``). An unsupported version stops here: the rest of the file was
   written for another schema.
3. **Validate fields** with :meth:`Scenario.model_validate` (defaults are filled in by the
   models). Every pydantic error is translated into plain language ("unknown key
   'capacty'; did you mean 'capacity'?") and located in the file.
4. **Referential checks** (:func:`crmsim.scenario.checks.check_scenario`) run only when
   every field is valid: they need a whole scenario, and on a partial one they would
   report consequences (an edge to a node that failed validation) as extra problems.
   Fix the field problems and ``crmsim validate`` then shows the referential ones.

All problems of a stage (plus any duplicate keys found while parsing) are raised together
as one :class:`~crmsim.scenario.errors.ScenarioError`, sorted by position in the file.
"""

from __future__ import annotations

import datetime as _dt
import difflib
import re
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from crmsim.scenario.checks import check_scenario
from crmsim.scenario.distributions import FAMILIES, Dist
from crmsim.scenario.errors import Problem, ScenarioError, short_repr
from crmsim.scenario.schema import MAX_DAYS, MAX_MONEY, MAX_QUANTITY, SCHEMA_VERSION, Scenario

__all__ = [
    "MAX_ALIASES",
    "MAX_ALIAS_NODES",
    "MAX_DEPTH",
    "MAX_DOCUMENT_BYTES",
    "SUPPORTED_VERSIONS",
    "MarkedLoader",
    "PositionIndex",
    "load_scenario",
    "loads_scenario",
    "parse_yaml",
    "scenario_from_dict",
]

#: Scenario schema versions this crmsim reads.
SUPPORTED_VERSIONS: tuple[int, ...] = (SCHEMA_VERSION,)

#: Largest scenario file read (bytes of UTF-8; 10 MB, far beyond any real network).
MAX_DOCUMENT_BYTES = 10_000_000
#: Deepest nesting of mappings and lists (a scenario needs fewer than 10 levels).
MAX_DEPTH = 64
#: Most aliases (``*name``) in one document.
MAX_ALIASES = 1_000
#: Most parts (values, keys, items) that the aliases of one document may repeat in all.
MAX_ALIAS_NODES = 100_000

Path_ = tuple[Any, ...]
_MERGE_TAG = "tag:yaml.org,2002:merge"
_FATAL_PARSE_CODES = frozenset({"yaml_syntax", "yaml", "too_large", "too_deep", "alias_limit"})


class _LimitExceeded(Exception):
    """Raised while composing a document that crosses a size limit; carries the problem."""

    def __init__(self, problem: Problem):
        super().__init__(problem.message)
        self.problem = problem


# ============================================================================ parsing
@dataclass
class PositionIndex:
    """Where each part of a parsed YAML document starts (1-based line and column).

    Attributes
    ----------
    values : dict
        Path → (line, column) of a mapping value or sequence item; ``()`` is the document.
    keys : dict
        Path → (line, column) of the key that introduces the value at that path.
    """

    values: dict[Path_, tuple[int, int]] = field(default_factory=dict)
    keys: dict[Path_, tuple[int, int]] = field(default_factory=dict)

    def locate(self, path: Sequence[Any], *, key: bool = False) -> tuple[int | None, int | None]:
        """Find the position of ``path``, or of its nearest parent that has one.

        Parameters
        ----------
        path : sequence
            Keys and indices, as in the data.
        key : bool
            Prefer the position of the key over that of the value (for an unknown key, or a
            value that is a block mapping or list starting on the next line).

        Returns
        -------
        (int or None, int or None)
            Line and column; ``(None, None)`` when nothing is known.
        """
        p = tuple(path)
        while True:
            if key and p in self.keys:
                return self.keys[p]
            if p in self.values:
                return self.values[p]
            if not p:
                return None, None
            p = p[:-1]


def _pos(mark: yaml.Mark) -> tuple[int, int]:
    return mark.line + 1, mark.column + 1


class _Marking(yaml.composer.Composer, yaml.constructor.SafeConstructor):
    """Positions, duplicate keys and size limits while composing, for either YAML parser."""

    def _init_limits(self) -> None:
        self._depth = 0
        self._aliases = 0
        self._alias_nodes = 0
        self._sizes: dict[int, int] = {}  # id(node) -> parts under it, aliases expanded

    # Composing: count nesting and alias expansion before anything is built from them.
    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        """Compose one node within :data:`MAX_DEPTH`, :data:`MAX_ALIASES`, :data:`MAX_ALIAS_NODES`.

        A node that crosses a limit raises a located problem (via ``_LimitExceeded``).
        """
        event = self.peek_event()  # type: ignore[attr-defined]
        if isinstance(event, yaml.AliasEvent):
            target = self.anchors.get(event.anchor or "")
            if target is not None:
                self._aliases += 1
                self._alias_nodes += self._size(target)
                if self._aliases > MAX_ALIASES or self._alias_nodes > MAX_ALIAS_NODES:
                    what = (
                        f"more than {MAX_ALIASES:,} aliases"
                        if self._aliases > MAX_ALIASES
                        else f"aliases that repeat more than {MAX_ALIAS_NODES:,} values in all"
                    )
                    raise _LimitExceeded(self._limit_problem(
                        f"the document has {what} (at alias *{event.anchor}); "
                        "it would expand to more than any scenario needs",
                        event.start_mark, "write the repeated parts out, or use fewer aliases",
                        "alias_limit",
                    ))  # fmt: skip
            return typing.cast(yaml.Node, super().compose_node(parent, index))
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise _LimitExceeded(self._limit_problem(
                f"the document is nested more than {MAX_DEPTH} levels deep here; "
                "a scenario needs fewer than 10",
                event.start_mark, None, "too_deep",
            ))  # fmt: skip
        try:
            node = typing.cast(yaml.Node, super().compose_node(parent, index))
        finally:
            self._depth -= 1
        self._sizes[id(node)] = self._size(node)
        return node

    def _size(self, node: yaml.Node) -> int:
        """Parts in ``node`` with aliases expanded.

        A node still being composed (the target of a recursive alias) counts as one.
        """
        known = self._sizes.get(id(node))
        if known is not None:
            return known
        if isinstance(node, yaml.SequenceNode):
            return 1 + sum(self._sizes.get(id(item), 1) for item in node.value)
        if isinstance(node, yaml.MappingNode):
            return 1 + sum(
                self._sizes.get(id(k), 1) + self._sizes.get(id(v), 1) for k, v in node.value
            )
        return 1

    @staticmethod
    def _limit_problem(message: str, mark: Any, hint: str | None, code: str) -> Problem:
        line, col = _pos(mark) if mark is not None else (None, None)
        return Problem(message, line=line, column=col, hint=hint, code=code)

    def index_document(self, node: yaml.Node) -> tuple[PositionIndex, list[Problem]]:
        """Walk the composed node tree: positions of every part, and duplicate keys."""
        index = PositionIndex()
        problems: list[Problem] = []
        seen: set[int] = set()
        index.values[()] = _pos(node.start_mark)
        self._walk(node, (), index, problems, seen)
        return index, problems

    def construct_yaml_int(self, node: yaml.ScalarNode) -> int:
        """A YAML integer; one too long for Python to convert is a located problem."""
        try:
            return int(super().construct_yaml_int(node))
        except ValueError:  # more than sys.get_int_max_str_digits() digits
            raise _LimitExceeded(self._limit_problem(
                "a whole number with thousands of digits; no number in a scenario needs "
                "more than a few", node.start_mark, None, "too_large",
            )) from None  # fmt: skip

    def _key(self, node: yaml.Node) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            return None
        value = self.construct_object(node)
        try:
            hash(value)
        except TypeError:  # pragma: no cover - scalars are hashable
            return None
        return value

    def _walk(
        self,
        node: yaml.Node,
        path: Path_,
        index: PositionIndex,
        problems: list[Problem],
        seen: set[int],
    ) -> None:
        # An alias repeats a node: descend only once (guards against recursive anchors and
        # exponential "billion laughs" documents); paths under a repeat fall back to it.
        if id(node) in seen:
            return
        seen.add(id(node))
        if isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                index.values[(*path, i)] = _pos(item.start_mark)
                self._walk(item, (*path, i), index, problems, seen)
        elif isinstance(node, yaml.MappingNode):
            explicit = [(k, v) for k, v in node.value if k.tag != _MERGE_TAG]
            for k, v in node.value:
                if k.tag == _MERGE_TAG:  # "<<: *defaults": merged keys, overridable
                    merged = v.value if isinstance(v, yaml.SequenceNode) else [v]
                    for m in merged:
                        if isinstance(m, yaml.MappingNode):
                            self._walk_pairs(m.value, path, index, problems, seen, dup=False)
            self._walk_pairs(explicit, path, index, problems, seen, dup=True)

    def _walk_pairs(
        self,
        pairs: list[tuple[yaml.Node, yaml.Node]],
        path: Path_,
        index: PositionIndex,
        problems: list[Problem],
        seen: set[int],
        *,
        dup: bool,
    ) -> None:
        first: dict[Any, yaml.Mark] = {}
        for key_node, value_node in pairs:
            if key_node.tag == _MERGE_TAG:
                continue
            key = self._key(key_node)
            if key is None:
                continue
            child = (*path, key)
            if dup and key in first:
                line, col = _pos(key_node.start_mark)
                problems.append(
                    Problem(
                        f"duplicate key {short_repr(key)} (first at line {first[key].line + 1}); "
                        "YAML keeps only the last value",
                        child,
                        line=line,
                        column=col,
                        hint="remove or rename one of them",
                        code="duplicate_key",
                    )
                )
            first.setdefault(key, key_node.start_mark)
            index.keys[child] = _pos(key_node.start_mark)
            index.values[child] = _pos(value_node.start_mark)
            self._walk(value_node, child, index, problems, seen)


class MarkedLoader(_Marking, yaml.SafeLoader):
    r"""A safe YAML loader that records positions and reports duplicate keys.

    Use :func:`parse_yaml` rather than this class directly.

    Examples
    --------
    >>> data, index, problems = parse_yaml("a: 1\nb:\n  - x\n  - y\na: 2\n", "f.yaml")
    >>> data, index.locate(("b", 1)), index.locate(("b",), key=True)
    ({'a': 2, 'b': ['x', 'y']}, (4, 5), (2, 1))
    >>> print(problems[0].location, problems[0].message)
    f.yaml:5:1 duplicate key 'a' (first at line 1); YAML keeps only the last value
    """

    def __init__(self, stream: str):
        yaml.SafeLoader.__init__(self, stream)
        self._init_limits()


if yaml.__with_libyaml__:
    from yaml._yaml import CParser

    class _FastMarkedLoader(_Marking, CParser, yaml.resolver.Resolver):
        """:class:`MarkedLoader` with libyaml's scanner and parser (about eight times faster).

        Composing (with the limits), the position index and construction stay in Python.
        """

        def __init__(self, stream: str):
            CParser.__init__(self, stream)
            yaml.constructor.SafeConstructor.__init__(self)
            yaml.resolver.Resolver.__init__(self)
            yaml.composer.Composer.__init__(self)
            self._init_limits()

    _LOADERS: tuple[Any, ...] = (_FastMarkedLoader, MarkedLoader)
else:  # pragma: no cover - PyYAML built without libyaml
    _LOADERS = (MarkedLoader,)

# YAML 1.1 (PyYAML) reads 1e19 and 1.0e13 as text: it wants a dot and a signed exponent
# (1.0e+19). Read them as numbers, as YAML 1.2 and every user does.
_FLOAT_12 = re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$")
for _loader in _LOADERS:
    _loader.add_constructor("tag:yaml.org,2002:int", _Marking.construct_yaml_int)
    _loader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT_12, list("-+0123456789."))


def _offset_position(text: str, offset: int) -> tuple[int, int]:
    before = text[:offset]
    line = before.count("\n") + 1
    return line, offset - (before.rfind("\n") + 1) + 1


def parse_yaml(text: str, filename: str | None = None) -> tuple[Any, PositionIndex, list[Problem]]:
    """Parse YAML text safely, recording positions.

    Parameters
    ----------
    text : str
        The YAML document.
    filename : str, optional
        Used in the problems.

    Returns
    -------
    data : Any
        The parsed document (``None`` for an empty one, or when it cannot be parsed).
    index : PositionIndex
        Positions of every key, value and item.
    problems : list of Problem
        Duplicate keys, or the syntax error; ``data`` is ``None`` after a syntax error.
    """
    size = len(text.encode("utf-8", errors="surrogatepass"))
    if size > MAX_DOCUMENT_BYTES:
        return None, PositionIndex(), [_too_large(text, filename)]
    fast = _LOADERS[0]
    try:
        return _parse_with(fast, text, filename)
    except _ParseFailed as failed:
        syntax = failed.problem.code == "yaml_syntax"
        if not syntax or fast is MarkedLoader or size > _REPARSE_BYTES:
            return None, PositionIndex(), [failed.problem]
    except UnicodeEncodeError:  # lone surrogates: not UTF-8 for libyaml; PyYAML reports them
        pass
    # libyaml found a syntax error: read a file of reasonable size again with PyYAML's own
    # parser, whose messages (and positions of bad characters) the hints are written for.
    try:
        return _parse_with(MarkedLoader, text, filename)
    except _ParseFailed as failed:
        return None, PositionIndex(), [failed.problem]


#: Largest file whose syntax error is reported by PyYAML's own parser (see parse_yaml).
_REPARSE_BYTES = 1_000_000


class _ParseFailed(Exception):
    def __init__(self, problem: Problem):
        super().__init__(problem.message)
        self.problem = problem


def _parse_with(
    kind: type[_Marking], text: str, filename: str | None
) -> tuple[Any, PositionIndex, list[Problem]]:
    """Parse with one loader class; a YAML or limit problem raises :class:`_ParseFailed`."""
    loader: Any = None
    try:
        loader = kind(text)  # type: ignore[call-arg]
        node = loader.get_single_node()
        if node is None:
            return None, PositionIndex(), []
        index, problems = loader.index_document(node)
        data = loader.construct_document(node)
        return data, index, [p.located(filename, None, None) for p in problems]
    except _LimitExceeded as exc:
        raise _ParseFailed(exc.problem.located(filename, None, None)) from None
    except yaml.MarkedYAMLError as exc:
        raise _ParseFailed(_yaml_problem(exc, filename)) from None
    except yaml.reader.ReaderError as exc:
        line, col = _offset_position(text, exc.position)
        problem = Problem(
            f"the file contains a character YAML does not allow "
            f"({chr(exc.character) if isinstance(exc.character, int) else exc.character!r}): "
            f"{exc.reason}",
            file=filename,
            line=line,
            column=col,
            code="yaml_syntax",
        )
        raise _ParseFailed(problem) from None
    except yaml.YAMLError as exc:  # pragma: no cover - every PyYAML error above is marked
        raise _ParseFailed(Problem(f"YAML error: {exc}", file=filename, code="yaml")) from None
    except RecursionError:
        raise _ParseFailed(
            Problem("the document is nested too deeply to read", file=filename, code="too_deep")
        ) from None
    finally:
        if loader is not None:
            loader.dispose()


def _too_large(text: str, filename: str | None) -> Problem:
    """The problem for a document over :data:`MAX_DOCUMENT_BYTES`, at the line that crosses it."""
    head = text.encode("utf-8", errors="surrogatepass")[:MAX_DOCUMENT_BYTES]
    line = head.count(b"\n") + 1
    return Problem(
        f"the file is larger than {MAX_DOCUMENT_BYTES // 1_000_000} MB "
        f"({MAX_DOCUMENT_BYTES:,} bytes), the most a scenario file may be; the limit is "
        "crossed on this line",
        file=filename,
        line=line,
        hint="a scenario describes a network, not data: keep large tables out of it",
        code="too_large",
    )


def _yaml_problem(exc: yaml.MarkedYAMLError, filename: str | None) -> Problem:
    mark = exc.problem_mark or exc.context_mark
    line, col = _pos(mark) if mark is not None else (None, None)
    what = exc.problem or "cannot be read"
    message = f"YAML syntax error: {what}"
    if exc.context:
        where = f" (line {exc.context_mark.line + 1})" if exc.context_mark is not None else ""
        if what.startswith("but "):  # "expected a single document..., but found another"
            message = f"YAML syntax error: {exc.context}{where}, {what}"
        else:
            message += f", {exc.context}{where}"
    hint = None
    if "'\\t'" in what or "\\t" in what:
        hint = "indent with spaces, not tabs"
    elif "could not determine a constructor" in what:
        hint = "scenario files hold plain data; tags such as !!python/... are not allowed"
    elif "found unhashable key" in what:
        hint = "keys are plain names"
    elif "mapping values are not allowed" in what:
        hint = "check the indentation, and quote text that contains ': '"
    return Problem(message, file=filename, line=line, column=col, hint=hint, code="yaml_syntax")


# ============================================================================ models along a path
def _candidates(tp: Any) -> list[Any]:
    """List the concrete types an annotation may hold (unwrapping Annotated, unions, None)."""
    origin = get_origin(tp)
    if origin is Annotated:
        return _candidates(get_args(tp)[0])
    if origin in (typing.Union, types.UnionType):
        return [c for a in get_args(tp) if a is not type(None) for c in _candidates(a)]
    return [tp]


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _keys_of(model: type[BaseModel]) -> dict[str, str]:
    """Key as written in a file (alias or name) → field name."""
    return {(f.alias or name): name for name, f in model.model_fields.items()}


def _step(tp: Any, part: Any) -> Any:
    for cand in _candidates(tp):
        origin = get_origin(cand)
        if _is_model(cand) and isinstance(part, str):
            fields = cand.model_fields
            name = _keys_of(cand).get(part, part)
            if name in fields:
                return fields[name].annotation
        elif origin in (tuple, list) and isinstance(part, int):
            return get_args(cand)[0]
        elif origin is dict:
            return get_args(cand)[1]
    return None


def _type_at(path: Sequence[Any]) -> Any:
    tp: Any = Scenario
    for part in path:
        tp = _step(tp, part)
        if tp is None:
            return None
    return tp


def _model_at(path: Sequence[Any]) -> type[BaseModel] | None:
    tp = _type_at(path)
    if tp is None:
        return None
    for cand in _candidates(tp):
        if _is_model(cand):
            return typing.cast(type[BaseModel], cand)
    return None


def _field_info(path: Sequence[Any]) -> Any:
    """Return the FieldInfo of the field at ``path`` (None when not a model field)."""
    if not path:
        return None
    model = _model_at(path[:-1])
    if model is None or not isinstance(path[-1], str):
        return None
    name = _keys_of(model).get(path[-1], path[-1])
    return model.model_fields.get(name)


# ============================================================================ translation
_ID_PATTERN_HINT = (
    "an id uses letters, digits, '_', '.' and '-' (no spaces; '+' and '>' are reserved "
    "for policy combinations and edge references)"
)


def _data_path(loc: tuple[Any, ...], data: Any, etype: str) -> tuple[Path_, bool]:
    """Map a pydantic ``loc`` onto the data: drop union tags and ``[key]`` markers.

    Returns the path and whether the error is about a mapping key (rather than a value).
    """
    out: list[Any] = []
    cur = data
    is_key = False
    for i, part in enumerate(loc):
        last = i == len(loc) - 1
        if part == "[key]":
            is_key = True
            continue
        in_dict = isinstance(cur, dict) and part in cur
        in_list = isinstance(cur, list | tuple) and isinstance(part, int) and 0 <= part < len(cur)
        if in_dict or in_list:
            out.append(part)
            cur = cur[part]
        elif last and etype == "missing" and isinstance(cur, dict):
            out.append(part)
        # anything else is a union member tag ('constrained-float', "literal['x']", ...) or
        # an index into a value the schema turned into a list: not part of the file
    if etype in ("extra_forbidden", "invalid_key"):
        is_key = True
    return tuple(out), is_key


def _choices(expected: str) -> list[str]:
    quoted = re.findall(r"'([^']*)'", expected)
    return quoted or [c.strip() for c in re.split(r",| or ", expected) if c.strip()]


def _num(x: Any) -> str:
    return f"{x:g}".replace("e+", "e") if isinstance(x, float) else str(x)


# Why an upper bound is where it is, said after "must be at most N" (see schema.py); the
# bounds of 1000 (factors, rates, entrants) need no gloss.
_BOUND_REASONS: dict[float, str] = {
    MAX_DAYS: "100 years",
    MAX_QUANTITY: "a trillion units a day",
    MAX_MONEY: "ten times world GDP",
}


def _did_you_mean(value: Any, valid: Sequence[str]) -> str | None:
    if not isinstance(value, str) or len(value) > 200:  # difflib is quadratic in length
        return None
    close = difflib.get_close_matches(value, list(valid), n=1, cutoff=0.6)
    return f"did you mean {close[0]!r}?" if close else None


def _expectation(err: ErrorDetails) -> str | None:
    """Say what was expected, as a noun phrase that can be merged as 'A or B'."""
    etype = err["type"]
    ctx = err.get("ctx") or {}
    if etype in ("float_type", "float_parsing"):
        return "a number"
    if etype in ("int_type", "int_parsing", "int_from_float"):
        return "a whole number"
    if etype in ("literal_error", "enum"):
        choices = [repr(c) for c in _choices(str(ctx.get("expected", "")))]
        return choices[0] if len(choices) == 1 else "one of " + ", ".join(choices)
    if etype == "greater_than_equal":
        return f"a number >= {_num(ctx['ge'])}"
    if etype == "greater_than":
        return f"a number > {_num(ctx['gt'])}"
    if etype == "less_than_equal":
        return f"a number <= {_num(ctx['le'])}"
    if etype == "less_than":
        return f"a number < {_num(ctx['lt'])}"
    if etype == "string_type":
        return "text"
    if etype in ("bool_type", "bool_parsing"):
        return "true or false"
    return None


def _type_hint(value: Any) -> str | None:
    if isinstance(value, bool):
        return "YAML reads yes/no/on/off/true/false as booleans; quote the text, e.g. 'NO'"
    if isinstance(value, _dt.date | _dt.datetime):
        return "YAML reads this as a date; quote it to keep it as text"
    return None


def _translate(err: ErrorDetails, path: Path_, is_key: bool) -> tuple[str, str | None, Any, str]:
    """Message, hint, bad value and problem code for one pydantic error."""
    etype = err["type"]
    ctx = err.get("ctx") or {}
    value = err.get("input", ...)
    name = path[-1] if path else None
    model_here = _model_at(path)

    if etype == "missing":
        info = _field_info(path)
        desc = info.description if info is not None and info.description else None
        return (
            f"missing required key {short_repr(name)}",
            f"{name}: {desc}" if desc else None,
            ...,
            "missing_key",
        )
    if etype == "extra_forbidden":
        parent = _model_at(path[:-1])
        valid = list(_keys_of(parent)) if parent is not None else []
        dym = _did_you_mean(name, valid)
        listing = f"valid keys here: {', '.join(valid)}" if valid else None
        hint = " ".join(h for h in (dym, listing) if h) or None
        return f"unknown key {short_repr(name)}", hint, ..., "unknown_key"
    if etype in ("literal_error", "enum"):
        choices = _choices(str(ctx.get("expected", "")))
        dym = _did_you_mean(value, choices)
        listed = ", ".join(choices)
        shown = short_repr(value)
        if is_key:
            return f"unknown key {shown}; valid keys: {listed}", dym, ..., "unknown_key"
        return f"{shown} is not a valid choice; valid: {listed}", dym, value, "invalid_choice"
    bounds = {
        "greater_than_equal": ("ge", ">="),
        "greater_than": ("gt", ">"),
        "less_than_equal": ("le", "<="),
        "less_than": ("lt", "<"),
    }
    if etype in bounds:
        key, op = bounds[etype]
        bound = ctx[key]
        text = f"must be {op} {_num(bound)}"
        if key == "ge" and bound == 0:
            text = "must not be negative (>= 0)"
        elif key == "gt" and bound == 0:
            text = "must be positive (> 0)"
        elif key == "le" and bound >= 1000:  # the sanity bounds of schema.py
            reason = _BOUND_REASONS.get(bound)
            text = f"must be at most {_num(bound)}" + (f" ({reason})" if reason else "")
        return text, None, value, "out_of_range"
    if etype == "string_too_long":
        n = ctx.get("max_length")
        return (
            f"is too long: {len(value):,} characters, at most {n} allowed",
            None,
            ...,
            "too_long",
        )
    if etype in ("too_short", "string_too_short"):
        if etype == "string_too_short" or isinstance(value, str):
            return "must not be empty", None, value, "too_short"
        n = ctx.get("min_length", 1)
        return f"needs at least {n} item{'s' if n != 1 else ''}", None, ..., "too_short"
    if etype == "string_pattern_mismatch":
        shown = short_repr(value)
        if is_key:
            return f"{shown} is not a valid id", _ID_PATTERN_HINT, ..., "invalid_id"
        return f"{shown} is not a valid id", _ID_PATTERN_HINT, value, "invalid_id"
    if etype in ("value_error", "assertion_error"):
        exc = ctx.get("error")
        text = str(exc) if exc is not None else err["msg"].removeprefix("Value error, ")
        bad = value if not isinstance(value, dict | list) else ...
        return text, None, bad, "invalid"
    if etype in ("model_type", "model_attributes_type", "dict_type"):
        if model_here is Dist:
            return (
                "expected a number or a distribution with one of: " + ", ".join(FAMILIES),
                "e.g. 28, or {uniform: {low: 20, high: 40}}, or {lognormal: {mean: 20, sd: 10}}",
                value,
                "wrong_type",
            )
        if model_here is not None:
            keys = ", ".join(_keys_of(model_here))
            return f"expected a mapping (key: value) with keys: {keys}", None, value, "wrong_type"
        return "expected a mapping (key: value)", None, value, "wrong_type"
    if etype in ("tuple_type", "list_type", "set_type"):
        return "expected a list, e.g. [a, b]", None, value, "wrong_type"
    if etype == "invalid_key":
        return f"a key must be a name (text), not {short_repr(value)}", None, ..., "invalid_key"
    if etype == "finite_number":
        return "must be a finite number (not .inf or .nan)", None, value, "not_finite"
    phrase = _expectation(err)
    if phrase is not None:
        return f"expected {phrase}", _type_hint(value), value, "wrong_type"
    return err["msg"], None, value, "invalid"


def _problems_from_validation(
    exc: ValidationError, data: Any, index: PositionIndex, filename: str | None
) -> list[Problem]:
    errors = [e for e in exc.errors(include_url=False) if e["loc"][:1] != ("crmsim",)]
    # A list that failed item by item is also "too short after validation": noise.
    errors = [
        e
        for e in errors
        if not (
            e["type"] == "too_short"
            and any(o is not e and o["loc"][: len(e["loc"])] == e["loc"] for o in errors)
        )
    ]
    grouped: dict[tuple[Path_, bool], list[ErrorDetails]] = {}
    for e in errors:
        path, is_key = _data_path(tuple(e["loc"]), data, e["type"])
        grouped.setdefault((path, is_key), []).append(e)
    problems: list[Problem] = []
    for (path, is_key), errs in grouped.items():
        translated = [_translate(e, path, is_key) for e in errs]
        phrases = [_expectation(e) for e in errs]
        if len(errs) > 1 and all(phrases):
            # Union branches all failed: say what any of them would have accepted.
            message = "expected " + " or ".join(dict.fromkeys(p for p in phrases if p))
            found = [
                (message, _type_hint(errs[0].get("input")), errs[0].get("input"), "wrong_type")
            ]
        else:
            found = []
            for t in translated:
                if all(t[:2] != f[:2] for f in found):
                    found.append(t)
        for message, hint, value, code in found:
            at_key = (
                is_key or isinstance(_value_at(data, path), dict | list) or code == "missing_key"
            )
            locate_path = path[:-1] if code == "missing_key" else path
            line, col = index.locate(locate_path, key=at_key)
            problems.append(
                Problem(message, path, filename, line, col, value=value, hint=hint, code=code)
            )
    return problems


def _value_at(data: Any, path: Path_) -> Any:
    cur = data
    for part in path:
        try:
            cur = cur[part]
        except (KeyError, IndexError, TypeError):
            return None
    return cur


# ============================================================================ stages
def _sorted(problems: list[Problem]) -> list[Problem]:
    big = 1 << 62
    return sorted(problems, key=lambda p: (p.line or big, p.column or 0))


def _shape_problems(
    data: Any, index: PositionIndex, filename: str | None
) -> tuple[list[Problem], bool]:
    """Problems with the document as a whole; the flag says whether to stop here."""
    if data is None:
        return [
            Problem(
                "the scenario is empty; a scenario file starts with `crmsim: 1` and `name: ...`",
                file=filename,
                line=1,
                column=1,
                code="empty",
            )
        ], True
    if not isinstance(data, dict):
        line, col = index.locate(())
        kind = "a list" if isinstance(data, list) else f"a single value ({type(data).__name__})"
        return [
            Problem(
                f"a scenario file is a mapping of keys (crmsim, name, materials, nodes, ...), "
                f"but this file is {kind}",
                file=filename,
                line=line,
                column=col,
                value=data if not isinstance(data, list) else ...,
                code="wrong_type",
            )
        ], True
    supported = ", ".join(str(v) for v in SUPPORTED_VERSIONS)
    if "crmsim" not in data:
        line, col = index.locate(())
        return [
            Problem(
                "missing required key 'crmsim' (the schema version)",
                ("crmsim",),
                filename,
                line,
                col,
                hint=f"add `crmsim: {SCHEMA_VERSION}` as the first line",
                code="missing_key",
            )
        ], False
    version = data["crmsim"]
    if isinstance(version, int | float) and not isinstance(version, bool):
        if version in SUPPORTED_VERSIONS:
            return [], False
        line, col = index.locate(("crmsim",))
        return [
            Problem(
                f"unsupported schema version {short_repr(version)}; this crmsim reads schema "
                f"version {supported} (`crmsim: {SCHEMA_VERSION}`)",
                ("crmsim",),
                filename,
                line,
                col,
                value=version,
                code="unsupported_version",
            )
        ], True
    line, col = index.locate(("crmsim",))
    return [
        Problem(
            f"the schema version is a number; supported: {supported}",
            ("crmsim",),
            filename,
            line,
            col,
            value=version,
            hint=f"write `crmsim: {SCHEMA_VERSION}`",
            code="unsupported_version",
        )
    ], False


def _build(
    data: Any, index: PositionIndex, filename: str | None, earlier: list[Problem]
) -> Scenario:
    shape, stop = _shape_problems(data, index, filename)
    problems = earlier + shape
    if stop:
        raise ScenarioError(_sorted(problems))
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        problems += _problems_from_validation(exc, data, index, filename)
        raise ScenarioError(_sorted(problems)) from None
    for p in check_scenario(scenario):
        at_key = isinstance(_value_at(data, p.path), dict | list)
        line, col = index.locate(p.path, key=at_key)
        problems.append(p.located(filename, line, col))
    if problems:
        raise ScenarioError(_sorted(problems))
    return scenario


def scenario_from_dict(data: Any, *, filename: str | None = None) -> Scenario:
    """Validate a mapping (as parsed from YAML or JSON) and build the scenario.

    Parameters
    ----------
    data : Any
        The mapping; keys as in a scenario file (``from``, not ``from_``).
    filename : str, optional
        Named in the problems.

    Returns
    -------
    Scenario
        The frozen, validated scenario.

    Raises
    ------
    ScenarioError
        With every problem found (no line numbers: a dict has none).

    Examples
    --------
    >>> try:
    ...     scenario_from_dict({"crmsim": 2, "name": "x"})
    ... except ScenarioError as err:
    ...     print(err.problems[0].message)
    unsupported schema version 2; this crmsim reads schema version 1 (`crmsim: 1`)
    """
    if isinstance(data, Scenario):
        data = data.model_dump(mode="json", by_alias=True, exclude_none=True)
    return _build(data, PositionIndex(), filename, [])


def loads_scenario(text: str, filename: str = "<string>") -> Scenario:
    """Load a scenario from YAML text.

    Parameters
    ----------
    text : str
        The YAML document.
    filename : str
        Named in the problems.

    Returns
    -------
    Scenario
        The frozen, validated scenario.

    Raises
    ------
    ScenarioError
        With every problem found, each with line and column.

    Examples
    --------
    >>> text = '''
    ... crmsim: 1
    ... name: one mine, one market
    ... materials: [{id: ore}]
    ... nodes:
    ...   - {id: mine, role: mine, country: AUS, output: ore, capacty: 10}
    ...   - {id: buyer, role: market, country: DEU, demand: {mean: 8}}
    ... edges: [{from: mine, to: buyer}]
    ... '''
    >>> try:
    ...     loads_scenario(text, "demo.yaml")
    ... except ScenarioError as err:
    ...     for p in err.problems:
    ...         print(p.location, p.field_path, p.message, p.hint.split("?")[0] + "?", sep=" | ")
    demo.yaml:6:55 | nodes[0].capacty | unknown key 'capacty' | did you mean 'capacity'?
    """
    data, index, problems = parse_yaml(text, filename)
    if any(p.code in _FATAL_PARSE_CODES for p in problems):
        raise ScenarioError(problems)
    return _build(data, index, filename, problems)


def load_scenario(path: str | Path) -> Scenario:
    """Load a scenario file.

    Parameters
    ----------
    path : str or pathlib.Path
        The YAML file.

    Returns
    -------
    Scenario
        The frozen, validated scenario.

    Raises
    ------
    ScenarioError
        With every problem in the file (including text that is not UTF-8).
    OSError
        If the file cannot be read (missing, a directory, no permission).
    """
    p = Path(path)
    name = path if isinstance(path, str) else str(path)
    with p.open("rb") as f:  # never read more than the limit (a device or huge file)
        raw = f.read(MAX_DOCUMENT_BYTES + 1)
    if len(raw) > MAX_DOCUMENT_BYTES:
        text = raw.decode("utf-8", errors="replace")
        raise ScenarioError([_too_large(text, name)])
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        before = raw[: exc.start]
        line = before.count(b"\n") + 1
        col = exc.start - (before.rfind(b"\n") + 1) + 1
        raise ScenarioError(
            [
                Problem(
                    f"the file is not UTF-8 text (byte {raw[exc.start]:#04x} cannot be decoded)",
                    file=name,
                    line=line,
                    column=col,
                    hint="save it as UTF-8",
                    code="encoding",
                )
            ]
        ) from None
    return loads_scenario(text, name)
