"""The scenario reference and JSON Schema, generated from the pydantic models.

The schema in :mod:`crmsim.scenario.schema` is the single source: this module walks its
models and writes

* a Markdown reference, one table per model (key, type, default, required, description,
  constraints): :func:`scenario_reference_markdown`, committed as
  ``docs/scenario-reference.md`` and regenerated with::

      python -m crmsim.scenario.reference > docs/scenario-reference.md

* the JSON Schema that editors use to check and complete scenario files:
  :func:`scenario_json_schema` (``crmsim schema``). It also accepts the shorthands the
  loader accepts (a number for a distribution, ``"a->b"`` for an edge reference, a single
  value for a list).
"""

from __future__ import annotations

import enum
import json
import types
import typing
from typing import Annotated, Any, Literal, get_args, get_origin

import annotated_types as at
from pydantic import BaseModel, StringConstraints
from pydantic.fields import FieldInfo
from pydantic.functional_validators import AfterValidator
from pydantic_core import PydanticUndefined

from crmsim.scenario.distributions import Dist
from crmsim.scenario.schema import MIN_QUANTITY, SCHEMA_VERSION, EdgeRef, Scenario

__all__ = ["JSON_SCHEMA_DIALECT", "scenario_json_schema", "scenario_reference_markdown"]

#: The JSON Schema dialect of :func:`scenario_json_schema` (what pydantic emits).
JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"

_ID_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$"


# ============================================================================ model walking
def _models() -> list[type[BaseModel]]:
    """Every model reachable from Scenario, in breadth-first field order."""
    order: list[type[BaseModel]] = []
    todo: list[type[BaseModel]] = [Scenario]
    while todo:
        model = todo.pop(0)
        if model in order:
            continue
        order.append(model)
        for f in model.model_fields.values():
            todo.extend(m for m in _nested_models(f.annotation) if m not in order)
    return order


def _nested_models(tp: Any) -> list[type[BaseModel]]:
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return [tp]
    return [m for a in get_args(tp) for m in _nested_models(a)]


def _listified(model: type[BaseModel]) -> set[str]:
    """Fields whose 'before' validator turns a single value into a list."""
    out: set[str] = set()
    for dec in model.__pydantic_decorators__.field_validators.values():
        if dec.info.mode == "before" and dec.cls_var_name.startswith("_listify"):
            out.update(dec.info.fields)
    return out


def _key(name: str, info: FieldInfo) -> str:
    return info.alias or name


# ============================================================================ types as text
def _constraint_texts(metadata: list[Any]) -> tuple[list[str], str | None]:
    """Constraints from pydantic metadata, and a better noun for the type if implied."""
    texts: list[str] = []
    noun: str | None = None
    for m in metadata:
        if isinstance(m, FieldInfo):
            more, n = _constraint_texts(list(m.metadata))
            texts += more
            noun = noun or n
        elif isinstance(m, at.Ge):
            texts.append(f"≥ {m.ge:g}")
        elif isinstance(m, at.Gt):
            texts.append(f"> {m.gt:g}")
        elif isinstance(m, at.Le):
            texts.append(f"≤ {m.le:g}")
        elif isinstance(m, at.Lt):
            texts.append(f"< {m.lt:g}")
        elif isinstance(m, at.MinLen):
            texts.append(f"at least {m.min_length} item{'s' if m.min_length != 1 else ''}")
        elif isinstance(m, StringConstraints):
            if m.pattern == _ID_PATTERN:
                noun = "id"
            elif m.pattern:
                texts.append(f"matches `{m.pattern}`")
            if m.max_length is not None and m.pattern != _ID_PATTERN:
                texts.append(f"at most {m.max_length} characters")
        elif isinstance(m, AfterValidator) and getattr(m.func, "__name__", "") == "_country":
            noun = "country code"
        elif isinstance(m, AfterValidator) and hasattr(m.func, "minimum"):
            texts.append(f"≥ {m.func.minimum:g}")
        elif isinstance(m, AfterValidator) and getattr(m.func, "__name__", "") == (
            "_zero_or_measurable"
        ):
            texts.append(f"0 or ≥ {MIN_QUANTITY:g}")
    return texts, noun


def _render(tp: Any) -> tuple[str, list[str]]:
    """Return a readable type name and its constraints."""
    origin = get_origin(tp)
    if origin is Annotated:
        base, *meta = get_args(tp)
        text, cons = _render(base)
        more, noun = _constraint_texts(meta)
        return (noun or text), cons + more
    if origin in (typing.Union, types.UnionType):
        parts = [_render(a) for a in get_args(tp) if a is not type(None)]
        return " or ".join(t for t, _ in parts), [c for _, cs in parts for c in cs]
    if origin is Literal:
        return " or ".join(f"`{a}`" for a in get_args(tp)), []
    if origin in (tuple, list):
        text, cons = _render(get_args(tp)[0])
        return f"list of {text}", [f"each {c}" for c in cons]
    if origin is dict:
        k, v = get_args(tp)
        kt, kc = _render(k)
        vt, vc = _render(v)
        return f"mapping {kt} → {vt}", [f"keys {c}" for c in kc] + [f"values {c}" for c in vc]
    if isinstance(tp, type):
        if issubclass(tp, BaseModel):
            return f"[{tp.__name__}](#{tp.__name__.lower()})", []
        if issubclass(tp, enum.Enum):
            return " or ".join(f"`{m.value}`" for m in tp), []
        simple = {str: "text", float: "number", int: "integer", bool: "true/false"}
        if tp in simple:
            return simple[tp], []
    return str(tp), []  # pragma: no cover - every schema type is handled above


def _default(info: FieldInfo) -> str:
    if info.is_required():
        return ""
    factory = info.default_factory
    value = factory() if factory is not None else info.default  # type: ignore[call-arg]
    if value is None or value is PydanticUndefined:
        return "—"
    return f"`{_show(value)}`"


def _show(value: Any) -> str:
    if isinstance(value, Dist):
        return str(value)
    if isinstance(value, BaseModel):
        return "(defaults)"
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_show(v)}" for k, v in value.items()) + "}"
    return str(value)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


# ============================================================================ markdown
_INTRO = f"""\
# Scenario file reference (`crmsim: {SCHEMA_VERSION}`)

<!-- Generated from the pydantic models in src/crmsim/scenario/schema.py by
     `python -m crmsim.scenario.reference > docs/scenario-reference.md`. Do not edit by hand:
     tests/test_loader.py checks that this file matches the models. -->

A scenario file is YAML. Check one with `crmsim validate FILE`; every problem is reported
with file, line, column, field path, the bad value and what would be valid. Editors can
check and complete files with the JSON Schema from `crmsim schema --out crmsim.schema.json`.

Conventions used below:

- **id**: letters, digits, `_`, `.` and `-` (no spaces; `+` joins policies in
  `experiment.compare`, `->` writes an edge as `supplier->buyer`).
- **country code**: ISO 3166-1 alpha-3, e.g. `DEU`, `CHN`, `TJK` (checked against `pycountry`).
- **list of …**: a single value may be written instead of a one-item list.
- **[Dist](#dist)**: a plain number is a fixed value (`lead_time: 28`); otherwise a mapping
  with exactly one family, e.g. `{{uniform: {{low: 20, high: 40}}}}`.
- **[EdgeRef](#edgeref)**: `"supplier->buyer"` or a mapping `{{from: ..., to: ...}}`.
- Every mapping rejects unknown keys, so a misspelt key is an error, not a silent default.
- Every number must be finite (`.inf` and `.nan` are rejected) and has an upper bound,
  chosen far beyond any real supply chain so that a slip or a hostile file is an error,
  never an overflow: 36 500 days (100 years) for every number of days and every
  distribution parameter, 1e12 units a day for capacities and demand, 1000 for factors.
  A positive quantity below 1e-9 (below the precision of shares and ratios) is rejected.
  `1e6` and `2.5E-3` are numbers (plain YAML 1.1 would read them as text).
- Ids have at most 100 characters, names and labels at most 500, free text (descriptions,
  sources, assumptions) at most 5 000. A file may be at most 10 MB, nested at most 64
  levels deep, and its YAML aliases may repeat at most 100 000 values in all.

Checks across fields (ids that must exist, shares that sum to 1 per buyer and material,
recipe inputs with a supplier, a supply path to every market, no cycles, `compare` entries)
are listed in `crmsim.scenario.checks`.
"""


def _model_section(model: type[BaseModel]) -> str:
    doc = (model.__doc__ or "").strip().splitlines()
    lines = [f"## {model.__name__}", ""]
    if doc:
        lines += [doc[0], ""]
    lines += [
        "| key | type | default | required | description | constraints |",
        "|---|---|---|---|---|---|",
    ]
    listified = _listified(model)
    for name, info in model.model_fields.items():
        tp_text, cons = _render(info.annotation)
        more, noun = _constraint_texts(list(info.metadata))
        if noun is not None:
            tp_text = noun if not tp_text.startswith("list of") else f"list of {noun}"
        cons += more
        if name in listified:
            cons.append("a single value is accepted")
        required = "yes" if info.is_required() else ""
        row = [
            f"`{_key(name, info)}`",
            tp_text,
            _default(info),
            required,
            info.description or "",
            "; ".join(cons),
        ]
        lines.append("| " + " | ".join(_cell(c) for c in row) + " |")
    return "\n".join(lines) + "\n"


def scenario_reference_markdown() -> str:
    """Generate the scenario reference in Markdown from the schema models.

    Returns
    -------
    str
        One section per model, from :class:`~crmsim.scenario.schema.Scenario` down, each
        with a table of key, type, default, required, description and constraints.

    Examples
    --------
    >>> text = scenario_reference_markdown()
    >>> text.splitlines()[0]
    '# Scenario file reference (`crmsim: 1`)'
    >>> "| `from` | id |" in text and "## UnfcCode" not in text
    True
    """
    models = _models()
    toc = "\n".join(f"- [{m.__name__}](#{m.__name__.lower()})" for m in models)
    sections = "\n".join(_model_section(m) for m in models)
    return f"{_INTRO}\n## Contents\n\n{toc}\n\n{sections}"


# ============================================================================ JSON Schema
def _accept_single(prop: dict[str, Any]) -> dict[str, Any]:
    if prop.get("type") != "array" or "items" not in prop:
        return prop
    outer = {k: v for k, v in prop.items() if k in ("title", "description", "default")}
    inner = {k: v for k, v in prop.items() if k not in outer}
    return {**outer, "anyOf": [prop["items"], inner]}


def scenario_json_schema() -> dict[str, Any]:
    """Generate the JSON Schema of a scenario file (keys as in files: ``from``, not ``from_``).

    Returns
    -------
    dict
        A JSON Schema (draft 2020-12) with ``$schema`` and ``title``, that also accepts the
        loader's shorthands: a number for a distribution, ``"a->b"`` for an edge reference
        and a single value where a list is expected.

    Examples
    --------
    >>> schema = scenario_json_schema()
    >>> schema["$schema"], "from" in schema["$defs"]["Edge"]["properties"]
    ('https://json-schema.org/draft/2020-12/schema', True)
    """
    schema = Scenario.model_json_schema(by_alias=True, mode="validation")
    defs: dict[str, Any] = schema.setdefault("$defs", {})
    for model in _models():
        target = schema if model is Scenario else defs.get(model.__name__)
        if target is None:  # pragma: no cover - every model appears in $defs
            continue
        props = target.get("properties", {})
        for name in _listified(model):
            key = _key(name, model.model_fields[name])
            if key in props:
                props[key] = _accept_single(props[key])
    if "Dist" in defs:
        d = defs["Dist"]
        outer = {k: d.pop(k) for k in ("title", "description") if k in d}
        defs["Dist"] = {**outer, "anyOf": [{"type": "number", "minimum": 0}, d]}
    if EdgeRef.__name__ in defs:
        d = defs[EdgeRef.__name__]
        outer = {k: d.pop(k) for k in ("title", "description") if k in d}
        arrow = {"type": "string", "pattern": "^.+->.+$"}
        defs[EdgeRef.__name__] = {**outer, "anyOf": [arrow, d]}
    head = {
        "$schema": JSON_SCHEMA_DIALECT,
        "title": f"crmsim scenario (schema version {SCHEMA_VERSION})",
    }
    schema.pop("title", None)
    return {**head, **schema}


def scenario_json_schema_text() -> str:
    """:func:`scenario_json_schema` as indented JSON text (ending in a newline)."""
    return json.dumps(scenario_json_schema(), indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":  # pragma: no cover - exercised by the docs test via the function
    import sys

    sys.stdout.write(scenario_reference_markdown())
