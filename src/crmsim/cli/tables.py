"""Tables on the console that never cut a name: they fit the terminal and wrap instead.

rich shortens a cell that does not fit its column to ``…`` (or crops it) unless told
otherwise. The command-line tables hold ids and headers a reader must see whole — a
disruption ``india_paracetamol_api_restriction``, a Ukrainian header — so every column of
a table printed through :func:`fit` wraps at spaces and folds a word longer than the
column onto the next line: nothing is lost at 80 columns, a row just takes more lines.

The width is the terminal's when it is known (standard output is a terminal, or
``COLUMNS`` is set); when the output goes to a file or a pipe without ``COLUMNS``, the
tables are laid out ``wide`` characters wide, so a saved table keeps one line per row.
"""

from __future__ import annotations

import os
import textwrap
from typing import Any

from rich.console import Console
from rich.table import Table

__all__ = ["fit", "table_console"]


def table_console(wide: int) -> Console:
    """A console for the command's tables: the terminal's width, else ``wide``.

    Parameters
    ----------
    wide : int
        Width (characters) when the output is not a terminal and ``COLUMNS`` is unset.

    Returns
    -------
    rich.console.Console
    """
    console = Console()
    if console.is_terminal or os.environ.get("COLUMNS", "").strip().isdigit():
        return console
    return Console(width=max(wide, console.width))


def fit(table: Table, console: Console) -> Table:
    r"""Lay ``table`` out to the console's width, wrapping and folding instead of cutting.

    A table that fits keeps its natural widths. One wider than the console gives each
    right-aligned column (figures) the width of its longest figure — a number or an
    interval bound is never split, and ``12 345,7`` keeps its no-break space — then
    widens each column so that its words (and each figure cell) fit whole, and shares
    what room is left in proportion to how much wider each would like to be; when the
    room runs short, the columns get it in proportion to what they lack. Headers and
    left-aligned texts wrap at spaces and fold a word (an id) longer than their column.
    Only if even the figures do not fit is the widest of them folded too. No cell is
    ever shortened to ``…`` or cropped.

    Parameters
    ----------
    table : rich.table.Table
        A table with the default padding (one space each side) and a box.
    console : rich.console.Console
        The console it is printed on (its width is the limit).

    Returns
    -------
    rich.table.Table
        The same table, its columns given fixed widths when it had to shrink.

    Examples
    --------
    >>> t = Table("disruption")
    >>> t.add_column("lost units", justify="right")
    >>> t.add_row("india_paracetamol_api_restriction", "1,234,567")
    >>> console = Console(width=24)
    >>> with console.capture() as cap:
    ...     console.print(fit(t, console))
    >>> lines = cap.get().splitlines()
    >>> max(map(len, lines)), "…" in cap.get()
    (24, False)
    >>> "".join(line.split("│")[1].strip() for line in lines if "│" in line)
    'india_paracetamol_api_restriction'
    >>> "1,234,567" in cap.get()
    True
    >>> t = Table("x")
    >>> t.add_column("interval", justify="right")
    >>> t.add_row("india_paracetamol_api_restriction", "932 [784, 1\xa0081]")
    >>> with console.capture() as cap:
    ...     console.print(fit(t, console))
    >>> "1\xa0081]" in cap.get()
    True
    """
    from rich.measure import Measurement
    from rich.text import Text

    for col in table.columns:
        col.overflow = "fold"
        col.no_wrap = False
    cols = table.columns
    if not cols:
        return table
    options = console.options
    natural, target, keep = [], [], []
    for col in cols:
        cells = list(col.cells)
        head = Measurement.get(console, options, col.header)
        body = [Measurement.get(console, options, c) for c in cells]
        natural.append(max([head.maximum, *(m.maximum for m in body)]))
        # First each header and text wrapped at its spaces, each figure on one line.
        right = col.justify == "right"
        target.append(max([head.minimum, *(m.maximum if right else m.minimum for m in body)]))
        # A figure of a right-aligned column is kept whole ("12 345,7" has no-break
        # spaces); headers and the words of left-aligned columns (ids) may fold.
        words = [w for c in cells if col.justify == "right"
                 for w in (c.plain if isinstance(c, Text) else str(c)).split(" ")]  # fmt: skip
        keep.append(max([1, *(console.measure(w).maximum for w in words if w)]))
    room = console.width - 3 * len(cols) - 1  # a space each side, a border each, one edge
    if sum(natural) <= room:
        return table
    widths = list(keep)
    while sum(widths) > room and max(widths) > 1:  # even the figures do not fit
        widths[widths.index(max(widths))] -= 1
    for goal in (target, natural):  # first whole words and figures, then whole lines
        widths = _share(widths, goal, room)
    for col, w in zip(cols, widths, strict=True):
        col.width = w
        if col.justify == "right":
            # rich wraps at any space, a no-break one too; textwrap only at ASCII
            # whitespace: lines that fit are not wrapped again, so "1 081" stays whole.
            col._cells[:] = [_wrap(c, w) for c in col._cells]
    return table


def _wrap(cell: Any, width: int) -> Any:
    if not isinstance(cell, str) or len(cell) <= width:
        return cell
    return "\n".join(textwrap.wrap(cell, width, break_on_hyphens=False))


def _share(widths: list[int], goal: list[int], room: int) -> list[int]:
    """Widen ``widths`` towards ``goal`` within ``room``, in proportion to what each lacks.

    Examples
    --------
    >>> _share([1, 1, 1], [11, 3, 1], 8)
    [5, 2, 1]
    """
    spare = room - sum(widths)
    want = [max(0, g - w) for g, w in zip(goal, widths, strict=True)]
    if spare <= 0 or not sum(want):
        return widths
    extra = [min(x, spare * x // sum(want)) for x in want]
    total = sum(want)
    for i in sorted(range(len(want)), key=lambda i: -(spare * want[i] % total)):
        if sum(extra) < spare and extra[i] < want[i]:
            extra[i] += 1  # the rounding remainder: largest remainders first
    return [w + e for w, e in zip(widths, extra, strict=True)]
