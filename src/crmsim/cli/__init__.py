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


def _register() -> None:
    from crmsim.cli import commands_scenario  # noqa: F401  (validate, schema)

    for name in ("commands_network", "commands_run"):
        try:
            __import__(f"crmsim.cli.{name}")
        except ModuleNotFoundError as exc:  # pragma: no cover - during development only
            if exc.name != f"crmsim.cli.{name}":
                raise


def main(argv: list[str] | None = None) -> None:
    """Run the command line (the ``crmsim`` console script)."""
    _register()
    cli.main(args=argv, prog_name="crmsim")
