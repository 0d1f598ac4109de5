"""The scenario error type: every problem located and explained, all reported at once."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["Problem", "ScenarioError", "format_path"]

_MAX_VALUE_REPR = 60


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


def _short_repr(value: Any) -> str:
    text = repr(value)
    if len(text) > _MAX_VALUE_REPR:
        text = text[: _MAX_VALUE_REPR - 3] + "..."
    return text


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
            if shown not in self.message:
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
