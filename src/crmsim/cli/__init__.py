"""The ``crmsim`` command line: a thin layer over the Python API.

Each sub-command lives in its own module and calls the same functions that tests and
notebooks call. User mistakes (a bad scenario file, a missing file, a bad option) end with
a clear message and a non-zero exit, never a Python traceback.
"""

from __future__ import annotations

import click

from crmsim import __version__

__all__ = ["cli", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="crmsim")
def cli() -> None:
    """crmsim: critical-raw-material supply-chain resilience simulator."""


def main(argv: list[str] | None = None) -> None:
    """Run the command line (the ``crmsim`` console script)."""
    cli.main(args=argv, prog_name="crmsim")


# The sub-commands register themselves on `cli` when imported.
from crmsim.cli import commands_network, commands_run, commands_scenario  # noqa: E402

__all__ += ["commands_network", "commands_run", "commands_scenario"]
