"""Helpers for tests of the command line: simulate in this process unless told otherwise."""

from __future__ import annotations

from typing import Any

from click.testing import CliRunner

#: Commands that simulate and take ``-w/--workers`` (default: one worker per core).
SIMULATING = frozenset({"run", "compare", "sweep", "sensitivity", "report"})


def one_worker(args: list[str]) -> list[str]:
    """CLI arguments that run a simulating command in this process (``-w 1``).

    The command line's default is a worker per core; a test that is not about the pool
    says ``-w 1`` so that it does not start worker processes (their start-up would
    dominate a small run on a shared machine). Arguments that already name the workers
    or a scheduler are left alone.
    """
    if not args or args[0] not in SIMULATING:
        return list(args)
    named = any(a in ("-w", "--workers", "--scheduler") or a.startswith("--workers=") for a in args)
    return list(args) if named else [*args, "-w", "1"]


class SerialCliRunner(CliRunner):
    """A click test runner that adds ``-w 1`` to simulating commands (:func:`one_worker`)."""

    def invoke(self, cli: Any, args: Any = None, *rest: Any, **kwargs: Any) -> Any:
        return super().invoke(cli, one_worker(list(args or [])), *rest, **kwargs)
