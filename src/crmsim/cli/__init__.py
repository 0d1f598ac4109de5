"""The ``crmsim`` command line: a thin layer over the Python API.

Each sub-command lives in its own module and calls the same functions that tests and
notebooks call. User mistakes (a bad scenario file, a missing file, a bad option) end with
a clear message and a non-zero exit, never a Python traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from crmsim import __version__

if TYPE_CHECKING:
    from crmsim.scenario.schema import Scenario

__all__ = ["cli", "load_or_exit", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="crmsim")
def cli() -> None:
    """crmsim: critical-raw-material supply-chain resilience simulator."""


def load_or_exit(path: str | Path) -> Scenario:
    """Load a scenario file for a command; on a user mistake, say what and exit 1.

    Every problem of an invalid file is printed (file, line, column, field); a missing or
    unreadable file is one line. Never a traceback.
    """
    from crmsim import ScenarioError, load_scenario

    try:
        return load_scenario(path)
    except ScenarioError as exc:
        click.echo(str(exc), err=True)
    except OSError as exc:
        click.echo(f"{path}: cannot read the file: {exc.strerror or exc}", err=True)
    raise SystemExit(1)


def main(argv: list[str] | None = None) -> None:
    """Run the command line (the ``crmsim`` console script)."""
    cli.main(args=argv, prog_name="crmsim")


# The sub-commands register themselves on `cli` when imported.
from crmsim.cli import (  # noqa: E402
    commands_compare,
    commands_network,
    commands_run,
    commands_scenario,
    commands_sweep,
)

__all__ += [
    "commands_compare",
    "commands_network",
    "commands_run",
    "commands_scenario",
    "commands_sweep",
]
