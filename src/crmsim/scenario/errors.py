"""The scenario error type: every problem located and explained, all reported at once."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Problem", "ScenarioError"]


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
    """

    message: str
    path: tuple[str | int, ...] = ()
    file: str | None = None
    line: int | None = None
    column: int | None = None
    value: Any = field(default=..., compare=False)
    hint: str | None = None

    @property
    def field_path(self) -> str:
        """The path as written in a file, e.g. ``edges[2].share``."""
        out = ""
        for part in self.path:
            out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
        return out or "(top level)"

    def __str__(self) -> str:
        where = self.file or "<scenario>"
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        text = f"{where}: {self.field_path}: {self.message}"
        if self.value is not ... and repr(self.value) not in self.message:
            text += f" (got {self.value!r})"
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
