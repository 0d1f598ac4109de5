"""The scenario error type: every problem located and explained, all reported at once."""

from __future__ import annotations

import dataclasses
import re
import reprlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["Problem", "ScenarioError", "format_path", "short_repr"]

_MAX_VALUE_REPR = 60

# A bounded repr: a few items of each list or mapping, a few levels deep, long text cut. It
# never looks at more than a handful of items, so a value that a YAML alias bomb expanded to
# billions of parts (or a recursive one) is shown as quickly as a number.
_REPR = reprlib.Repr()
_REPR.maxlevel = 3
_REPR.maxlist = _REPR.maxtuple = _REPR.maxset = _REPR.maxfrozenset = 4
_REPR.maxdict = 3
_REPR.maxstring = _REPR.maxother = _REPR.maxlong = _MAX_VALUE_REPR


def format_path(path: Sequence[str | int]) -> str:
    """Write a field path as in a scenario file.

    Parameters
    ----------
    path : sequence of str or int
        Keys and list indices, e.g. ``("edges", 2, "share")``.

    Returns
    -------
    str
        ``edges[2].share``; ``(top level)`` for the empty path.

    Examples
    --------
    >>> format_path(("edges", 2, "share"))
    'edges[2].share'
    >>> format_path(())
    '(top level)'
    """
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def short_repr(value: Any, limit: int = _MAX_VALUE_REPR) -> str:
    """The repr of a value, cut to ``limit`` characters without building the whole repr.

    Parameters
    ----------
    value : Any
        Any value from a scenario file (text, number, list, mapping; maybe huge or recursive).
    limit : int
        Longest result.

    Returns
    -------
    str
        At most ``limit`` characters; ``...`` marks what was left out.

    Examples
    --------
    >>> short_repr(-5.0), short_repr("x" * 100, 12)
    ('-5.0', "'xxxxxxx...")
    >>> loop = []; loop.append(loop)
    >>> short_repr([list(range(9))] * 10**6, 90)
    '[[0, 1, 2, 3, ...], [0, 1, 2, 3, ...], [0, 1, 2, 3, ...], [0, 1, 2, 3, ...], ...]'
    >>> short_repr(loop)
    '[[[[...]]]]'
    >>> short_repr(16**5000)
    '<a whole number of about 6,020 digits>'
    """
    if isinstance(value, str) and len(value) > limit:
        value = value[: limit + 1]  # repr of a long str would copy all of it
    if isinstance(value, int) and value.bit_length() > 3 * limit:  # never convert it whole
        return f"<a whole number of about {int(value.bit_length() * 0.30103):,} digits>"
    try:
        text = _REPR.repr(value)
    except Exception:  # a repr that fails must not hide the problem it illustrates
        text = f"<{type(value).__name__}>"
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return text


_short_repr = short_repr


@dataclass(frozen=True)
class Problem:
    """One problem in a scenario file.

    Attributes
    ----------
    message : str
        What is wrong and what would be valid.
    path : tuple of str or int
        Field path, e.g. ``("edges", 2, "share")``.
    file : str or None
        File name.
    line, column : int or None
        1-based position in the file, where known.
    value : Any
        The offending value (``...`` when not applicable).
    hint : str or None
        A suggestion, e.g. ``"did you mean 'api_cn'?"``.
    code : str
        A short, stable name for the kind of problem (``"unknown_key"``,
        ``"unknown_node"``, ``"shares_sum"``, ...), for programs and tests.
    severity : {"error", "warning"}
        An error stops loading; a warning (:func:`crmsim.scenario.check_warnings`) is a
        file that loads but whose meaning is probably not what was intended.

    Examples
    --------
    >>> p = Problem("must be >= 0", ("nodes", 0, "capacity"), "a.yaml", 7, 15, value=-5.0)
    >>> print(p)
    a.yaml:7:15: nodes[0].capacity: must be >= 0 (got -5.0)
    >>> print(Problem("ignored", ("nodes", 1, "demand", "cv"), "a.yaml", 9, severity="warning"))
    a.yaml:9: warning: nodes[1].demand.cv: ignored
    """

    message: str
    path: tuple[str | int, ...] = ()
    file: str | None = None
    line: int | None = None
    column: int | None = None
    value: Any = field(default=..., compare=False)
    hint: str | None = None
    code: str = field(default="invalid", compare=False)
    severity: Literal["error", "warning"] = field(default="error", compare=False)

    @property
    def field_path(self) -> str:
        """The path as written in a file, e.g. ``edges[2].share``."""
        return format_path(self.path)

    @property
    def location(self) -> str:
        """``file:line:column`` as far as known (``<scenario>`` when there is no file)."""
        where = self.file or "<scenario>"
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        return where

    def located(self, file: str | None, line: int | None, column: int | None) -> Problem:
        """Return a copy with the file and position filled in.

        Parameters
        ----------
        file : str or None
            File name (kept when ``None``).
        line, column : int or None
            1-based position (kept when ``None``).

        Returns
        -------
        Problem
            The same problem, located.
        """
        return dataclasses.replace(
            self,
            file=self.file if file is None else file,
            line=self.line if line is None else line,
            column=self.column if column is None else column,
        )

    def __str__(self) -> str:
        field_path = f"{self.field_path}: " if self.path else ""
        level = "warning: " if self.severity == "warning" else ""
        text = f"{self.location}: {level}{field_path}{self.message}"
        if self.value is not ...:
            shown = _short_repr(self.value)
            # Not when the message already quotes it (as a word: "inf" is not in ".inf").
            if not re.search(rf"(?<![\w.]){re.escape(shown)}(?!\w)", self.message):
                text += f" (got {shown})"
        if self.hint:
            text += f"; {self.hint}"
        return text


class ScenarioError(ValueError):
    """A scenario file (or dict) that cannot be loaded, with every problem found.

    Parameters
    ----------
    problems : sequence of Problem
        All problems, in file order.
    """

    def __init__(self, problems: Sequence[Problem]):
        self.problems: tuple[Problem, ...] = tuple(problems)
        super().__init__(self._text())

    def _text(self) -> str:
        n = len(self.problems)
        head = f"{n} problem{'s' if n != 1 else ''} in scenario"
        return head + ":\n" + "\n".join(f"  {p}" for p in self.problems)
