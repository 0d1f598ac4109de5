"""Mutation testing of the engine: plant one change at a time, run the tests, count the kills.

A small, dependency-free mutation tester (``ast`` + ``tokenize`` + ``subprocess``), written
for crmsim's engine but usable on any module of the repository. See README.md beside this
file for what it mutates, how mutants are sampled and how to read the report.

Usage (from the repository root)::

    .venv/bin/python tests/mutation/run_mutants.py --sample 60 --out tests/mutation/AFTER

Every mutant is applied to a private copy of the repository in a temporary directory (one
copy per parallel job, with ``PYTHONPATH`` pointing at the copy's ``src``); the working tree
is never written to, so an interrupted run leaves nothing behind but the temporary copies,
which are removed on exit.
"""

from __future__ import annotations

import argparse
import ast
import bisect
import concurrent.futures as cf
import contextlib
import datetime as dt
import hashlib
import io
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import tokenize
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
DEFAULT_TARGETS = ("src/crmsim/engine/stages.py", "src/crmsim/engine/levers.py")
DEFAULT_TESTS = (
    "tests/test_engine_analytic.py",
    "tests/test_engine_levers.py",
    "tests/test_engine_properties.py",
)
OPTIONAL_TESTS = (
    "tests/test_engine_*.py",
    "tests/test_consistency.py",
    "tests/test_msme_realism.py",
    "tests/test_demand_growth.py",
    "tests/test_lever_plans.py",
)
PLUGIN = "crmsim_mutation_hypothesis"
PYTEST_FLAGS = ("-x", "-q", "-p", "no:cacheprovider", "-p", PLUGIN, "--hypothesis-seed=0")
#: A pytest plugin written next to the copies: hypothesis reports the first failing example
#: without shrinking it (shrinking a killed mutant's example can take minutes and would pass
#: for a timeout) and keeps no example database (nothing replayed from one mutant to the next).
PLUGIN_SOURCE = '''"""Hypothesis settings for mutation runs (written by run_mutants.py)."""

from hypothesis import Phase, settings

settings.register_profile(
    "mutation", database=None, phases=[Phase.explicit, Phase.generate], print_blob=False
)
settings.load_profile("mutation")
'''
COPY_IGNORE = shutil.ignore_patterns(
    ".git",
    ".venv",
    "__pycache__",
    ".hypothesis",
    ".pytest_cache",
    ".mypy_cache",
    ".ruff_cache",
    "results",
    "*.parquet",
    "*.egg-info",
)

# ----------------------------------------------------------------------------- mutants

_BINOP = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.BitAnd: "&", ast.BitOr: "|"}
_BINOP_SWAP = {"+": "-", "-": "+", "*": "/", "/": "*", "&": "|", "|": "&"}
_CMP = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!="}
_CMP_SWAP = {"<": "<=", "<=": "<", ">": ">=", ">=": ">", "==": "!=", "!=": "=="}
_AUG_SWAP = {"+": ("-=", "="), "-": ("+=", "="), "*": ("/=", "="), "/": ("*=", "=")}
_AUG_SWAP |= {"&": ("|=", "="), "|": ("&=", "=")}
_FUNC_SWAP = {"minimum": "maximum", "maximum": "minimum", "min": "max", "max": "min"}
_LOGGERS = {"log", "logger", "logging", "warnings", "_log", "LOG"}
_ATOMS = (ast.Name, ast.Attribute, ast.Constant, ast.Call, ast.Subscript)


@dataclass(frozen=True)
class Mutant:
    """One planted change: replace ``source[start:end]`` of ``file`` by ``replacement``.

    ``id`` is a hash of the file, enclosing scope, kind, original text and replacement (plus
    an occurrence number among identical ones), so it survives edits elsewhere in the file.
    """

    id: str
    file: str
    line: int
    scope: str
    kind: str
    original: str
    replacement: str
    original_line: str
    mutated_line: str
    start: int = field(repr=False)
    end: int = field(repr=False)
    name: str = ""  # planted (named) mutants only
    description: str = ""

    def apply(self, source: str) -> str:
        """The mutated source text."""
        return source[: self.start] + self.replacement + source[self.end :]

    def public(self) -> dict[str, Any]:
        """The fields written to the JSON report."""
        d = asdict(self)
        del d["start"], d["end"]
        return d


class _Source:
    """A module's text with AST-to-text position helpers (AST columns are UTF-8 bytes)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.lines = text.splitlines(keepends=True)
        self.line_start = [0]
        for ln in self.lines:
            self.line_start.append(self.line_start[-1] + len(ln))
        toks = tokenize.generate_tokens(io.StringIO(text).readline)
        self.tokens = [
            (self.offset(*t.start), self.offset(*t.end), t.string)
            for t in toks
            if t.type in (tokenize.OP, tokenize.NAME)
        ]
        self.token_starts = [t[0] for t in self.tokens]

    def offset(self, row: int, col_char: int) -> int:
        return self.line_start[row - 1] + col_char

    def node_offset(self, row: int, col_byte: int) -> int:
        line = self.lines[row - 1]
        return self.line_start[row - 1] + len(line.encode()[:col_byte].decode())

    def span(self, node: ast.AST) -> tuple[int, int]:
        return (
            self.node_offset(node.lineno, node.col_offset),  # type: ignore[attr-defined]
            self.node_offset(node.end_lineno, node.end_col_offset),  # type: ignore[attr-defined]
        )

    def token_between(self, string: str, lo: int, hi: int) -> tuple[int, int] | None:
        """The first token ``string`` starting in ``[lo, hi)`` (an operator between operands)."""
        k = bisect.bisect_left(self.token_starts, lo)
        while k < len(self.tokens) and self.tokens[k][0] < hi:
            s, e, text = self.tokens[k]
            if text == string:
                return s, e
            k += 1
        return None

    def line_of(self, offset: int) -> int:
        return bisect.bisect_right(self.line_start, offset)


def _is_docstring_or_log(stmt: ast.stmt) -> bool:
    if not isinstance(stmt, ast.Expr):
        return False
    v = stmt.value
    if isinstance(v, ast.Constant) and isinstance(v.value, str):
        return True
    if isinstance(v, ast.Call):
        f = v.func
        if isinstance(f, ast.Name) and f.id == "print":
            return True
        while isinstance(f, ast.Attribute):
            f = f.value
        if isinstance(f, ast.Name) and f.id in _LOGGERS:
            return True
    return False


def _name_leaves(target: ast.expr) -> Iterator[ast.expr]:
    if isinstance(target, ast.Tuple | ast.List):
        for elt in target.elts:
            yield from _name_leaves(elt)
    elif isinstance(target, ast.Starred):
        yield from _name_leaves(target.value)
    else:
        yield target


class _Finder(ast.NodeVisitor):
    """Collects (node, kind, start, end, original, replacement, description) candidates."""

    def __init__(self, src: _Source) -> None:
        self.src = src
        self.scope: list[str] = []
        self.bound: list[dict[str, int]] = [{}]  # first binding line of each name, per scope
        self.found: list[tuple[str, str, int, int, str, str]] = []

    # -- helpers
    def _add(self, kind: str, start: int, end: int, replacement: str, what: str) -> None:
        original = self.src.text[start:end]
        if original != replacement:
            self.found.append(
                (".".join(self.scope) or "<module>", kind, start, end, replacement, what)
            )

    def _swap_token(self, kind: str, old: str, new: str, lo: int, hi: int) -> None:
        pos = self.src.token_between(old, lo, hi)
        if pos is not None:
            self._add(kind, pos[0], pos[1], new, f"{old} → {new}")

    def _bind(self, name: str, line: int) -> None:
        self.bound[-1].setdefault(name, line)

    def _bound_before(self, name: str, line: int) -> bool:
        first = self.bound[-1].get(name)
        return first is not None and first < line

    # -- scopes
    def _visit_function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self.scope.append(node.name)
        self.bound.append({})
        a = node.args
        for arg in [*a.posonlyargs, *a.args, *a.kwonlyargs, a.vararg, a.kwarg]:
            if arg is not None:
                self._bind(arg.arg, node.lineno)
        for d in [*a.defaults, *(x for x in a.kw_defaults if x is not None)]:
            self.visit(d)
        # Prescan stores so that "re-binding" is known before the statement is reached.
        for sub in ast.walk(node):
            if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store):
                self._bind(sub.id, sub.lineno)
        self._visit_body(node.body)
        self.bound.pop()
        self.scope.pop()

    visit_FunctionDef = _visit_function
    visit_AsyncFunctionDef = _visit_function

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self.scope.append(node.name)
        self._visit_body(node.body)
        self.scope.pop()

    def visit_Module(self, node: ast.Module) -> None:
        self._visit_body(node.body)

    def _visit_body(self, body: Sequence[ast.stmt]) -> None:
        for stmt in body:
            if not _is_docstring_or_log(stmt):
                self.visit(stmt)

    # -- statements
    def generic_visit(self, node: ast.AST) -> None:
        for name, value in ast.iter_fields(node):
            if name in ("body", "orelse", "finalbody") and isinstance(value, list):
                self._visit_body([v for v in value if isinstance(v, ast.stmt)])
            elif isinstance(value, list):
                for v in value:
                    if isinstance(v, ast.AST):
                        self.visit(v)
            elif isinstance(value, ast.AST):
                self.visit(value)

    def _drop(self, node: ast.stmt, what: str) -> None:
        s, e = self.src.span(node)
        self._add("drop", s, e, "pass", what)

    def visit_Assert(self, node: ast.Assert) -> None:
        return  # checks, not behaviour

    def visit_Raise(self, node: ast.Raise) -> None:
        return  # error messages

    def visit_Import(self, node: ast.Import) -> None:
        return

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        return

    def visit_Assign(self, node: ast.Assign) -> None:
        if any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            return
        leaves = [leaf for t in node.targets for leaf in _name_leaves(t)]
        if self.scope and all(
            not isinstance(leaf, ast.Name) or self._bound_before(leaf.id, node.lineno)
            for leaf in leaves
        ):
            self._drop(node, "statement dropped")
        self.generic_visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if node.value is None:
            return
        if isinstance(node.target, ast.Attribute | ast.Subscript):
            self._drop(node, "statement dropped")
        self.visit(node.target)
        self.visit(node.value)  # not the annotation

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self._drop(node, "statement dropped")
        op = _BINOP.get(type(node.op))
        if op in _AUG_SWAP:
            lo = self.src.span(node.target)[1]
            hi = self.src.span(node.value)[0]
            for new in _AUG_SWAP[op]:
                self._swap_token("augassign", op + "=", new, lo, hi)
        self.generic_visit(node)

    def visit_Expr(self, node: ast.Expr) -> None:
        if isinstance(node.value, ast.Call):
            self._drop(node, "call dropped")
        self.generic_visit(node)

    def _negate(self, test: ast.expr) -> None:
        if isinstance(test, ast.Name) and test.id == "TYPE_CHECKING":
            return
        s, e = self.src.span(test)
        text = self.src.text[s:e]
        self._add("negate", s, e, f"not ({text})", "condition negated")

    def visit_If(self, node: ast.If) -> None:
        self._negate(node.test)
        self.generic_visit(node)

    def visit_While(self, node: ast.While) -> None:
        self._negate(node.test)
        self.generic_visit(node)

    def visit_IfExp(self, node: ast.IfExp) -> None:
        self._negate(node.test)
        self.generic_visit(node)

    def visit_comprehension(self, node: ast.comprehension) -> None:
        for cond in node.ifs:
            self._negate(cond)
        self.generic_visit(node)

    # -- expressions
    def visit_JoinedStr(self, node: ast.JoinedStr) -> None:
        return  # f-strings: messages

    def visit_BinOp(self, node: ast.BinOp) -> None:
        op = _BINOP.get(type(node.op))
        if op is not None:
            lo, hi = self.src.span(node.left)[1], self.src.span(node.right)[0]
            self._swap_token("binop", op, _BINOP_SWAP[op], lo, hi)
        self.generic_visit(node)

    def visit_Compare(self, node: ast.Compare) -> None:
        operands = [node.left, *node.comparators]
        for k, cmp in enumerate(node.ops):
            op = _CMP.get(type(cmp))
            if op is not None:
                lo = self.src.span(operands[k])[1]
                hi = self.src.span(operands[k + 1])[0]
                self._swap_token("compare", op, _CMP_SWAP[op], lo, hi)
        self.generic_visit(node)

    def visit_BoolOp(self, node: ast.BoolOp) -> None:
        old, new = ("and", "or") if isinstance(node.op, ast.And) else ("or", "and")
        s, e = self.src.span(node)
        pieces, cursor = [], s
        for a, b in zip(node.values, node.values[1:], strict=False):
            pos = self.src.token_between(old, self.src.span(a)[1], self.src.span(b)[0])
            if pos is None:
                break
            pieces += [self.src.text[cursor : pos[0]], new]
            cursor = pos[1]
        else:
            self._add("boolop", s, e, "".join(pieces) + self.src.text[cursor:e], f"{old} → {new}")
        self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, ast.Load) and node.id in ("min", "max"):
            s, e = self.src.span(node)
            self._add("call", s, e, _FUNC_SWAP[node.id], f"{node.id} → {_FUNC_SWAP[node.id]}")

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if node.attr in _FUNC_SWAP:
            e = self.src.span(node)[1]
            new = _FUNC_SWAP[node.attr]
            self._add("call", e - len(node.attr), e, new, f"{node.attr} → {new}")
        self.generic_visit(node)

    def visit_keyword(self, node: ast.keyword) -> None:
        if isinstance(node.value, ast.Constant) and isinstance(node.value.value, bool):
            return  # strict=True, frozen=True, ...: options, not behaviour worth counting
        self.visit(node.value)

    def visit_Constant(self, node: ast.Constant) -> None:
        v = node.value
        if isinstance(v, bool):
            new = repr(not v)
        elif isinstance(v, int | float):
            new = repr(type(v)(1) if v == 0 else type(v)(0) if v == 1 else v + 1)
        else:
            return
        s, e = self.src.span(node)
        self._add("constant", s, e, new, f"{self.src.text[s:e]} → {new}")

    def visit_Slice(self, node: ast.Slice) -> None:
        for bound, delta in ((node.lower, "+ 1"), (node.upper, "- 1")):
            if bound is None:
                continue
            s, e = self.src.span(bound)
            text = self.src.text[s:e]
            new = f"{text} {delta}" if isinstance(bound, _ATOMS) else f"({text}) {delta}"
            self._add("slice", s, e, new, f"slice bound {delta}")
        self.generic_visit(node)


def _line_text(text: str, start: int, end: int) -> str:
    """The whole source line(s) holding ``text[start:end]``, whitespace-collapsed."""
    lo = text.rfind("\n", 0, start) + 1
    hi = text.find("\n", end)
    return " ".join(text[lo : len(text) if hi < 0 else hi].split())


def _hash(*parts: object) -> str:
    return hashlib.sha256("\x1f".join(map(str, parts)).encode()).hexdigest()


def generate(path: Path, rel: str) -> list[Mutant]:
    """Every mutant of one file, in source order (duplicates and syntax errors removed).

    Parameters
    ----------
    path : Path
        The file to read.
    rel : str
        Its path relative to the repository root (as reported and hashed).

    Returns
    -------
    list of Mutant
    """
    text = path.read_text(encoding="utf-8")
    src = _Source(text)
    finder = _Finder(src)
    finder.visit(ast.parse(text, filename=rel))
    seen_text: set[str] = set()
    occurrences: dict[str, int] = {}
    out = []
    for scope, kind, start, end, repl, what in sorted(finder.found, key=lambda f: (f[2], f[3])):
        original = text[start:end]
        mutated = text[:start] + repl + text[end:]
        if mutated in seen_text:
            continue
        try:
            compile(mutated, rel, "exec")
        except SyntaxError:
            continue
        seen_text.add(mutated)
        site = _hash(rel, scope, kind, " ".join(original.split()), repl)
        n = occurrences.get(site, 0)
        occurrences[site] = n + 1
        new_end = start + len(repl)
        out.append(
            Mutant(
                id=_hash(site, n)[:10],
                file=rel,
                line=src.line_of(start),
                scope=scope,
                kind=kind,
                original=original,
                replacement=repl,
                original_line=_line_text(text, start, end),
                mutated_line=_line_text(mutated, start, new_end),
                start=start,
                end=end,
                description=what,
            )
        )
    return out


def sample(mutants: Sequence[Mutant], n: int, seed: int) -> list[Mutant]:
    """A seeded sample of ``n`` mutants, stable under edits elsewhere in the file.

    Each mutant gets the key ``sha256(seed, id)``; the ``n`` smallest keys are kept (bottom-k
    sampling), then put back in source order. A mutant whose site is unchanged keeps its key,
    so editing one function changes the sample only where that function's mutants enter or
    leave it.
    """
    keyed = sorted(mutants, key=lambda m: _hash(seed, m.id))[:n]
    return sorted(keyed, key=lambda m: (m.file, m.start, m.end, m.replacement))


# ----------------------------------------------------------------------- planted mutants


def _find_snippet(text: str, snippet: str) -> list[tuple[int, int, str]]:
    """Occurrences of a dedented multi-line snippet, ignoring each line's indentation.

    Returns ``(start, end, indent)`` with the text span of the matched lines (without the
    final newline) and the indentation of the first matched line.
    """
    want = [ln.strip() for ln in textwrap.dedent(snippet).strip("\n").splitlines()]
    lines = text.splitlines(keepends=True)
    starts = [0]
    for ln in lines:
        starts.append(starts[-1] + len(ln))
    hits = []
    for k in range(len(lines) - len(want) + 1):
        if all(want[j] in lines[k + j] for j in range(len(want))) and all(
            lines[k + j].strip() == want[j] for j in range(1, len(want) - 1)
        ):
            first, last = lines[k], lines[k + len(want) - 1]
            if len(want) == 1:
                s = starts[k] + first.index(want[0])
                hits.append((s, s + len(want[0]), ""))
                continue
            s = starts[k] + first.index(want[0])
            e = starts[k + len(want) - 1] + last.index(want[-1]) + len(want[-1])
            hits.append((s, e, first[: len(first) - len(first.lstrip())]))
    return hits


def planted(specs: Iterable[dict[str, str]], repo: Path) -> list[Mutant | dict[str, str]]:
    """Named mutants from snippet specs; a spec that does not apply is returned as a dict.

    A spec has ``name``, ``file``, ``original`` and ``replacement`` (both may span several
    lines; indentation is matched loosely and re-applied), and optionally ``description``.
    The original must occur exactly once in the file, else the mutant is "not applicable".
    """
    out: list[Mutant | dict[str, str]] = []
    for spec in specs:
        path = repo / spec["file"]
        why = ""
        hits: list[tuple[int, int, str]] = []
        if not path.is_file():
            why = "file not found"
        else:
            text = path.read_text(encoding="utf-8")
            hits = _find_snippet(text, spec["original"])
            if len(hits) != 1:
                why = f"original snippet found {len(hits)} times (must be exactly once)"
        if why:
            out.append({**spec, "status": "not applicable", "reason": why})
            continue
        start, end, indent = hits[0]
        repl_lines = textwrap.dedent(spec["replacement"]).strip("\n").splitlines()
        repl = "\n".join([repl_lines[0]] + [indent + ln if ln else ln for ln in repl_lines[1:]])
        mutated = text[:start] + repl + text[end:]
        try:
            compile(mutated, spec["file"], "exec")
        except SyntaxError as exc:
            out.append({**spec, "status": "not applicable", "reason": f"syntax error: {exc}"})
            continue
        out.append(
            Mutant(
                id="planted:" + spec["name"],
                file=spec["file"],
                line=text.count("\n", 0, start) + 1,
                scope="",
                kind="planted",
                original=text[start:end],
                replacement=repl,
                original_line=_line_text(text, start, end),
                mutated_line=_line_text(mutated, start, start + len(repl)),
                start=start,
                end=end,
                name=spec["name"],
                description=spec.get("description", ""),
            )
        )
    return out


# ------------------------------------------------------------------------------ running


@dataclass
class Outcome:
    """What running the tests against one mutant gave."""

    status: str  # killed, timeout, survived, error
    seconds: float
    returncode: int | None
    killed_by: str = ""


class Runner:
    """Private repository copies (one per job) on which mutants are applied one at a time."""

    def __init__(self, repo: Path, tests: Sequence[str], jobs: int, keep: bool) -> None:
        self.repo = repo
        self.tests = list(tests)
        self.tmp = Path(tempfile.mkdtemp(prefix="crmsim-mutants-"))
        (self.tmp / "plugin").mkdir()
        (self.tmp / "plugin" / f"{PLUGIN}.py").write_text(PLUGIN_SOURCE, encoding="utf-8")
        self.keep = keep
        self.copies: queue.Queue[Path] = queue.Queue()
        for k in range(jobs):
            dst = self.tmp / f"w{k}"
            shutil.copytree(repo, dst, ignore=COPY_IGNORE, symlinks=True)
            self.copies.put(dst)
        self.running: set[subprocess.Popen[str]] = set()
        self.lock = threading.Lock()
        self.timeout = 0.0

    def stop(self) -> None:
        """Kill the test runs in progress (their outcomes are then discarded)."""
        with self.lock:
            for p in list(self.running):
                _kill(p)

    def close(self) -> None:
        """Stop, and remove the temporary copies (unless kept)."""
        self.stop()
        if not self.keep:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def _env(self, copy: Path) -> dict[str, str]:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            [str(copy / "src"), str(self.tmp / "plugin"), *filter(None, [env.get("PYTHONPATH")])]
        )
        env["PYTHONDONTWRITEBYTECODE"] = "1"  # a same-size mutant must never meet a stale .pyc
        env["PYTHONHASHSEED"] = env.get("PYTHONHASHSEED", "0")
        return env

    def check_isolation(self) -> None:
        """Fail unless ``import crmsim`` in a copy resolves to that copy."""
        copy = self.copies.get()
        try:
            got = subprocess.run(
                [sys.executable, "-c", "import crmsim; print(crmsim.__file__)"],
                cwd=copy,
                env=self._env(copy),
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
        finally:
            self.copies.put(copy)
        if not Path(got).resolve().is_relative_to(copy.resolve()):
            raise SystemExit(f"isolation failed: crmsim imports from {got}, not from {copy}")

    def run(self, mutant: Mutant | None, timeout: float | None) -> Outcome:
        """Run the tests on a copy with ``mutant`` applied (None: the unmutated baseline)."""
        copy = self.copies.get()
        target = copy / mutant.file if mutant else None
        pristine = target.read_text(encoding="utf-8") if target else ""
        try:
            if target is not None and mutant is not None:
                _atomic_write(target, mutant.apply(pristine))
            shutil.rmtree(copy / ".hypothesis", ignore_errors=True)  # no replay across mutants
            return self._pytest(copy, timeout)
        finally:
            if target is not None:
                _atomic_write(target, pristine)
            self.copies.put(copy)

    def _pytest(self, copy: Path, timeout: float | None) -> Outcome:
        cmd = [sys.executable, "-m", "pytest", *self.tests, *PYTEST_FLAGS]
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            cmd,
            cwd=copy,
            env=self._env(copy),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        with self.lock:
            self.running.add(proc)
        try:
            out, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill(proc)
            proc.communicate()
            return Outcome("timeout", time.perf_counter() - t0, None)
        finally:
            with self.lock:
                self.running.discard(proc)
        secs = time.perf_counter() - t0
        if proc.returncode == 0:
            return Outcome("survived", secs, 0)
        failed = re.findall(r"^(?:FAILED|ERROR) (\S+)", out, flags=re.M)
        status = "killed" if proc.returncode in (1, 2) else "error"
        why = failed[0] if failed else out.strip().splitlines()[-1:][0] if out.strip() else ""
        return Outcome(status, secs, proc.returncode, why)


def _kill(proc: subprocess.Popen[str]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".mutant-tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def run_order(mutants: Sequence[Mutant]) -> list[Mutant]:
    """Planted mutants first, then the files' mutants in turn (a partial run covers all)."""
    named = [m for m in mutants if m.kind == "planted"]
    per_file: dict[str, list[Mutant]] = {}
    for m in mutants:
        if m.kind != "planted":
            per_file.setdefault(m.file, []).append(m)
    queues = list(per_file.values())
    out = list(named)
    for k in range(max(map(len, queues), default=0)):
        out += [q[k] for q in queues if k < len(q)]
    return out


def default_tests(repo: Path) -> list[str]:
    """The engine tests: the three named files plus any ``test_engine_*`` / consistency file."""
    tests = [t for t in DEFAULT_TESTS if (repo / t).is_file()]
    for pattern in OPTIONAL_TESTS:
        for p in sorted(repo.glob(pattern)):
            rel = p.relative_to(repo).as_posix()
            if rel not in tests:
                tests.append(rel)
    return tests


# ------------------------------------------------------------------------------- report


def _summary(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    count = {s: sum(r["status"] == s for r in rows) for s in ("killed", "timeout", "survived")}
    count["error"] = sum(r["status"] == "error" for r in rows)
    count["not applicable"] = sum(r["status"] == "not applicable" for r in rows)
    scored = count["killed"] + count["timeout"] + count["survived"] + count["error"]
    dead = count["killed"] + count["timeout"] + count["error"]
    return {"total": scored, **count, "score": round(dead / scored, 4) if scored else None}


def _cell(s: str) -> str:
    return " ".join(s.split()).replace("|", "\\|")


def _code(s: str) -> str:
    s = " ".join(s.split()).replace("|", "\\|")
    return f"`{s}`" if s else ""


def write_report(prefix: Path, meta: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    """Write ``prefix.json`` (everything) and ``prefix.md`` (summary, survivors, planted)."""
    auto = [r for r in rows if r["kind"] != "planted"]
    named = [r for r in rows if r["kind"] == "planted"]
    files = sorted({r["file"] for r in auto})
    summary = {f: _summary([r for r in auto if r["file"] == f]) for f in files}
    summary["all generated"] = _summary(auto)
    if named:
        summary["planted (named)"] = _summary(named)
    prefix.parent.mkdir(parents=True, exist_ok=True)
    data = {"meta": meta, "summary": summary, "mutants": rows}
    prefix.with_suffix(".json").write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")

    md = [f"# Mutation testing report: {prefix.name}", ""]
    md += [f"- date (UTC): {meta['date']}", f"- commit: `{meta['commit']}`"]
    if meta.get("src_commit"):
        md += [f"- last commit that changed src/: `{meta['src_commit']}`"]
    md += [f"- command: `{meta['command']}`", f"- tests: {', '.join(meta['tests'])}"]
    md += [f"- pytest flags: `{' '.join(PYTEST_FLAGS)}`"]
    md += [f"- baseline test time: {meta['baseline_seconds']:.1f} s; per-mutant timeout "]
    md[-1] += f"{meta['timeout_seconds']:.0f} s; wall time {meta['wall_seconds'] / 60:.1f} min"
    generated = ", ".join(f"{Path(f).name} {n}" for f, n in meta["generated"].items())
    md += [f"- mutants generated: {generated}; run: {meta['selection']}", ""]
    md += ["## Score", "", "score = (killed + timeout + error) / total; 'error' = pytest exit "]
    md[-1] += "code other than 0, 1 or 2 (counted as killed); timeouts counted as killed."
    md += ["", "| target | total | killed | timeout | error | survived | score |"]
    md += ["| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for name, s in summary.items():
        score = "–" if s["score"] is None else f"{s['score']:.1%}"
        md += [
            f"| {name} | {s['total']} | {s['killed']} | {s['timeout']} | {s['error']} | "
            f"{s['survived']} | {score} |"
        ]
    by_kind: dict[str, list[int]] = {}
    for r in auto:
        k = by_kind.setdefault(r["kind"], [0, 0])
        k[0] += 1
        k[1] += r["status"] == "survived"
    md += [
        "",
        "Survived / run, by kind: " + ", ".join(f"{k} {v[1]}/{v[0]}" for k, v in by_kind.items()),
    ]
    surv = [r for r in auto if r["status"] == "survived"]
    md += ["", f"## Survivors ({len(surv)})", ""]
    if surv:
        md += ["| id | file:line | scope | mutation | original line | mutated line |"]
        md += ["| --- | --- | --- | --- | --- | --- |"]
        for r in surv:
            md += [
                f"| {r['id']} | {Path(r['file']).name}:{r['line']} | {r['scope']} | "
                f"{_cell(r['description'])} | {_code(r['original_line'])} | "
                f"{_code(r['mutated_line'])} |"
            ]
    tmo = [r for r in auto if r["status"] in ("timeout", "error")]
    if tmo:
        md += ["", "## Timeouts and errors (counted as killed)", ""]
        md += ["| id | file:line | status | mutated line |", "| --- | --- | --- | --- |"]
        for r in tmo:
            md += [
                f"| {r['id']} | {Path(r['file']).name}:{r['line']} | {r['status']} | "
                f"{_code(r['mutated_line'])} |"
            ]
    if named:
        md += ["", "## Planted (named) mutants", ""]
        md += ["| name | status | file:line | killed by / reason |", "| --- | --- | --- | --- |"]
        for r in named:
            where = f"{Path(r['file']).name}:{r['line']}" if r.get("line") else r["file"]
            md += [
                f"| {r['name']} | {r['status']} | {where} | "
                f"{_code(r.get('killed_by') or r.get('reason', ''))} |"
            ]
    if meta.get("notes"):
        md += ["", "## Notes", ""] + [f"- {n}" for n in meta["notes"]]
    prefix.with_suffix(".md").write_text("\n".join(md) + "\n")


# ---------------------------------------------------------------------------- self-test

_SELF_TEST_SOURCE = '''"""Module docstring 1 + 1."""
import numpy as np

__all__ = ["f"]


def f(x: int = 0, b: float = 2.0) -> float:
    """Docstring: 0 < 1."""
    assert x >= 0, "x must be ≥ 0"
    label = "×" + str(b)  # a 2-byte character before the operator
    total = 0.0
    total += x * b
    total = np.minimum.reduceat(np.ones(3), [0])[0] if 0 <= x < 5 else total
    v = np.arange(4)[x + 1 : 3]
    if x and b:
        total = max(total, v.sum())
    return total + len(label)


def g(y):
    return y - 1
'''


def self_test() -> None:
    """Check the generator on a small module (``--self-test``); raises AssertionError."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m.py"
        path.write_text(_SELF_TEST_SOURCE, encoding="utf-8")
        ms = generate(path, "m.py")
        got = {(m.line, m.original_line, m.mutated_line) for m in ms}

        def has(line: int, before: str, after: str) -> bool:
            return (line, before, after) in got

        lab = 'label = "×" + str(b) # a 2-byte character before the operator'
        assert has(10, lab, lab.replace("+", "-", 1)), "byte/char column mix-up"
        assert not any(m.line in (1, 4, 8, 9) for m in ms), "docstring/__all__/assert mutated"
        line7 = sorted(m.mutated_line for m in ms if m.line == 7)  # defaults, not annotations
        assert line7 == [
            "def f(x: int = 0, b: float = 3.0) -> float:",
            "def f(x: int = 1, b: float = 2.0) -> float:",
        ], line7
        assert not any(m.kind == "drop" and m.line in (10, 11) for m in ms), "first binding"
        assert has(12, "total += x * b", "total -= x * b")
        assert has(12, "total += x * b", "total = x * b")
        assert has(12, "total += x * b", "pass")
        assert has(12, "total += x * b", "total += x / b")
        line13 = [m for m in ms if m.line == 13]
        assert {m.kind for m in line13} >= {"call", "compare", "negate", "constant", "drop"}
        assert sum(m.kind == "compare" for m in line13) == 2  # both links of 0 <= x < 5
        assert any("np.maximum.reduceat" in m.mutated_line for m in line13)
        assert has(14, "v = np.arange(4)[x + 1 : 3]", "v = np.arange(4)[(x + 1) + 1 : 3]")
        assert has(14, "v = np.arange(4)[x + 1 : 3]", "v = np.arange(4)[x + 1 : 3 - 1]")
        assert has(15, "if x and b:", "if x or b:")
        assert has(15, "if x and b:", "if not (x and b):")
        assert has(16, "total = max(total, v.sum())", "total = min(total, v.sum())")
        for m in ms:
            compile(m.apply(_SELF_TEST_SOURCE), "m.py", "exec")
        # Identity does not depend on line numbers or on other functions' code.
        edited = _SELF_TEST_SOURCE.replace("    return y - 1", "    z = y * 3\n    return z - 1")
        path.write_text("# a new first line\n" + edited, encoding="utf-8")
        ms2 = generate(path, "m.py")
        f_ids = {m.id for m in ms if m.scope == "f"}
        assert f_ids == {m.id for m in ms2 if m.scope == "f"}, "ids moved with the edit"
        keep = {m.id for m in sample(ms, 10, 0) if m.scope == "f"}
        assert keep <= {m.id for m in sample(ms2, 10, 0)} | (f_ids - keep)
        assert sample(ms, 10, 0) == sample(ms, 10, 0)
        res = planted(
            [{"name": "x", "file": "m.py", "original": "nope", "replacement": "1"}], path.parent
        )
        assert isinstance(res[0], dict)
        assert res[0]["status"] == "not applicable"
        res = planted(
            [{"name": "y", "file": "m.py", "original": "total += x * b", "replacement": "pass"}],
            path.parent,
        )
        assert isinstance(res[0], Mutant)
        assert res[0].mutated_line == "pass"
    print(f"self-test passed ({len(ms)} mutants of the test module)")


# --------------------------------------------------------------------------------- main


def _git_commit(repo: Path, path: str = "") -> str:
    """The short commit of HEAD (or the last one that changed ``path``), marked if modified."""
    cmd = ["git", "log", "-1", "--format=%h", *(["--", path] if path else [])]
    try:
        out = subprocess.run(cmd, cwd=repo, capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "src"], cwd=repo, capture_output=True, text=True
        ).stdout.strip()
    except OSError:
        return "unknown"
    return out + (" (src modified)" if dirty else "")


def _load_planted(path: Path) -> list[dict[str, str]]:
    ns: dict[str, Any] = {}
    exec(compile(path.read_text(encoding="utf-8"), str(path), "exec"), ns)
    return list(ns["PLANTED"])


def _site(r: dict[str, Any]) -> tuple[str, ...]:
    return (r["file"], r["scope"], r["kind"], " ".join(r["original"].split()), r["replacement"])


def _select(args: argparse.Namespace, repo: Path) -> tuple[list[Mutant], list[dict[str, Any]], str]:
    """The mutants to run, the rows of planted mutants that do not apply, and a description."""
    generated = {rel: generate(repo / rel, rel) for rel in args.targets}
    na: list[dict[str, Any]] = []
    named: list[Mutant] = []
    if args.planted:
        for p in planted(_load_planted(Path(args.planted_file)), repo):
            if isinstance(p, Mutant):
                named.append(p)
            else:
                na.append({**p, "kind": "planted", "id": "planted:" + p["name"], "line": 0})
    if args.mutants_from:
        old = json.loads(Path(args.mutants_from).read_text())
        want = [r for r in old["mutants"] if r["status"] in args.rerun_status]
        by_id = {m.id: m for ms in generated.values() for m in ms}
        by_id |= {m.id: m for m in named}
        by_site = {_site(m.public()): m for ms in generated.values() for m in ms}
        chosen, missing = [], []
        for r in want:
            m = by_id.get(r["id"]) or by_site.get(_site(r))
            if m is None:
                missing.append({**r, "status": "not applicable", "reason": "no longer applies"})
            else:
                chosen.append(m)
        text = f"rerun of the {'/'.join(args.rerun_status)} mutants of {args.mutants_from}"
        return chosen, missing, text
    chosen = []
    for ms in generated.values():
        chosen += ms if args.all else sample(ms, args.sample, args.seed)
    text = (
        "all mutants" if args.all else f"seeded sample of {args.sample} per file (seed {args.seed})"
    )
    return chosen + named, na, text


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point (see ``--help``)."""
    here = Path(__file__).resolve().parent
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "targets",
        nargs="*",
        default=list(DEFAULT_TARGETS),
        help="files to mutate, relative to the repository root (default: %(default)s)",
    )
    ap.add_argument(
        "--repo", type=Path, default=REPO, help="repository root (default: %(default)s)"
    )
    ap.add_argument(
        "--tests",
        nargs="+",
        metavar="PYTEST_ARG",
        help="pytest selection (default: the engine tests, see README)",
    )
    ap.add_argument("--sample", type=int, default=60, help="mutants per file (default: 60)")
    ap.add_argument("--all", action="store_true", help="run every generated mutant")
    ap.add_argument("--seed", type=int, default=0, help="sampling seed (default: 0)")
    ap.add_argument("--jobs", type=int, default=1, help="parallel test runs (default: 1)")
    ap.add_argument(
        "--timeout-factor",
        type=float,
        default=3.0,
        help="timeout as a multiple of the baseline test time (default: 3)",
    )
    ap.add_argument(
        "--min-timeout",
        type=float,
        default=60.0,
        help="lower bound of the timeout in seconds (default: 60)",
    )
    ap.add_argument(
        "--no-planted", dest="planted", action="store_false", help="skip the named planted mutants"
    )
    ap.add_argument(
        "--planted-file",
        default=str(here / "planted.py"),
        help="python file defining PLANTED (default: planted.py beside this script)",
    )
    ap.add_argument(
        "--mutants-from",
        metavar="REPORT.json",
        help="rerun exactly the survivors of an earlier report",
    )
    ap.add_argument(
        "--rerun-status",
        nargs="+",
        default=["survived"],
        help="statuses rerun by --mutants-from (default: survived)",
    )
    ap.add_argument("--list", action="store_true", help="list the selected mutants and stop")
    ap.add_argument(
        "--out",
        type=Path,
        default=here / "report",
        help="report prefix: writes PREFIX.md and PREFIX.json (default: %(default)s)",
    )
    ap.add_argument("--keep-temp", action="store_true", help="keep the temporary copies")
    ap.add_argument(
        "--render",
        metavar="REPORT.json",
        help="rewrite REPORT.md from REPORT.json (no run) and stop",
    )
    ap.add_argument("--self-test", action="store_true", help="check the generator and stop")
    args = ap.parse_args(argv)
    if args.self_test:
        self_test()
        return 0
    if args.render:
        data = json.loads(Path(args.render).read_text())
        write_report(Path(args.render).with_suffix(""), data["meta"], data["mutants"])
        return 0
    repo: Path = args.repo.resolve()
    for rel in args.targets:
        if not (repo / rel).is_file():
            ap.error(f"target {rel!r} is not a file under {repo}")
    tests = args.tests or default_tests(repo)
    mutants, na, selection = _select(args, repo)
    if args.list:
        for m in mutants:
            print(f"{m.id}  {m.file}:{m.line}  {m.kind:9s} {m.original_line}  →  {m.mutated_line}")
        for r in na:
            print(f"{r['id']}  not applicable: {r.get('reason')}")
        return 0

    signal.signal(signal.SIGTERM, _interrupt)  # a plain kill also cleans up
    t_start = time.perf_counter()
    runner = Runner(repo, tests, max(1, args.jobs), args.keep_temp)
    rows: list[dict[str, Any]] = []
    meta: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M"),
        "commit": _git_commit(repo),
        "src_commit": _git_commit(repo, "src"),
        "command": " ".join(["python", "tests/mutation/run_mutants.py", *(argv or sys.argv[1:])]),
        "targets": list(args.targets),
        "tests": tests,
        "seed": args.seed,
        "selection": selection,
        "generated": {rel: len(generate(repo / rel, rel)) for rel in args.targets},
    }
    try:
        runner.check_isolation()
        base = runner.run(None, None)
        if base.status != "survived":
            print(f"baseline tests fail on the unmutated code ({base.killed_by}); stopping")
            return 2
        timeout = max(args.timeout_factor * base.seconds, args.min_timeout)
        meta |= {"baseline_seconds": base.seconds, "timeout_seconds": timeout}
        print(
            f"baseline {base.seconds:.1f} s, timeout {timeout:.0f} s, {len(mutants)} mutants",
            file=sys.stderr,
        )
        results: dict[str, Outcome] = {}
        with cf.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            futures = {pool.submit(runner.run, m, timeout): m for m in run_order(mutants)}
            try:
                for k, fut in enumerate(cf.as_completed(futures), 1):
                    m, res = futures[fut], fut.result()
                    results[m.id] = res
                    print(
                        f"[{k}/{len(mutants)}] {res.status:8s} {res.seconds:5.1f}s "
                        f"{m.file}:{m.line} {m.description}",
                        file=sys.stderr,
                    )
            except KeyboardInterrupt:
                pool.shutdown(wait=False, cancel_futures=True)
                runner.stop()
                print("interrupted: writing a partial report", file=sys.stderr)
        for m in mutants:
            if m.id in results:
                rows.append({**m.public(), **asdict(results[m.id])})
        rows += [{**r, "status": "not applicable"} for r in na]
    finally:
        runner.close()
    meta["wall_seconds"] = time.perf_counter() - t_start
    write_report(args.out, meta, rows)
    for name, s in json.loads(args.out.with_suffix(".json").read_text())["summary"].items():
        score = "–" if s["score"] is None else f"{s['score']:.1%}"
        print(
            f"{name}: {s['total']} mutants, {s['killed']} killed, {s['timeout']} timeout, "
            f"{s['survived']} survived, score {score}"
        )
    print(f"report: {args.out.with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
