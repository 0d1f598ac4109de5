"""The ``crmsim`` command line: a thin layer over the Python API.

Each sub-command lives in its own module and calls the same functions that tests and
notebooks call. User mistakes (a bad scenario file, a missing file, a bad option) end with
a clear message and a non-zero exit, never a Python traceback. Ctrl-C ends any command
with one line, ``crmsim: interrupted``, and exit status 130 (128 + SIGINT, as shells do).
"""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from crmsim.scenario.schema import Scenario

__all__ = [
    "LANG_OPTION",
    "SCHEDULER_OPTION",
    "WORKERS_OPTION",
    "Interrupted",
    "cli",
    "ctrl_c",
    "load_or_exit",
    "main",
]

#: Exit status after Ctrl-C.
EXIT_INTERRUPTED = 130


class Interrupted(BaseException):
    """Ctrl-C under :func:`main`.

    Raised by its SIGINT handler instead of ``KeyboardInterrupt``, which click would
    turn into "Aborted!" with status 1. Like ``KeyboardInterrupt``, it is not an
    ``Exception``, so no ``except Exception`` swallows it.
    """


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="crmsim", prog_name="crmsim")  # (looked up when asked)
def cli() -> None:
    """crmsim: critical-raw-material supply-chain resilience simulator."""


#: The ``-w/--workers`` option of every command that simulates (one definition, one rule).
WORKERS_OPTION = click.option(
    "-w",
    "--workers",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Worker processes (0, the default = one per core; 1 = in this process; more than "
    "the cores are capped). Results do not depend on it.",
)


#: The ``--scheduler`` option of every command that can run on a Dask cluster.
SCHEDULER_OPTION = click.option(
    "--scheduler",
    default=None,
    metavar="tcp://HOST:PORT",
    help="Run the replications on this Dask cluster (pip install 'crmsim[dask]'). "
    "Results are identical to a local run.",
)


#: The ``--lang`` option of every command that prints tables or draws figures.
LANG_OPTION = click.option(
    "--lang",
    type=click.Choice(["en", "uk", "ru"], case_sensitive=False),
    default=None,
    help="Language of tables, figures and reports: en (English), uk (Ukrainian), "
    "ru (Russian); numbers follow it too (default: $CRMSIM_LANG, else en).",
)


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


#: Set by the SIGINT handler of :func:`main` (read by :func:`ctrl_c`).
_SIGINT_SEEN = threading.Event()


def _on_sigint(signum: int, frame: Any) -> None:
    # A second Ctrl-C must not cut short the clean-up the first one started.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _SIGINT_SEEN.set()
    raise Interrupted


def ctrl_c(exc: BaseException) -> bool:
    """Whether ``exc`` is how a Ctrl-C surfaced.

    Either the interrupt itself, or any error raised after Ctrl-C was pressed: code that
    catches every exception turns the interrupt into its own error (pydantic's
    serializer, for one, reports "Error serializing to JSON: Interrupted").

    Parameters
    ----------
    exc : BaseException
        The exception that ended a command.

    Returns
    -------
    bool
        True if the command should end as interrupted (exit status 130).
    """
    if isinstance(exc, (KeyboardInterrupt, Interrupted)):
        return True
    return isinstance(exc, Exception) and _SIGINT_SEEN.is_set()


def main(argv: list[str] | None = None) -> None:
    """Run the command line (the ``crmsim`` console script).

    Ctrl-C at any moment ends it with one line on stderr and exit status 130.
    """
    in_main_thread = threading.current_thread() is threading.main_thread()
    _SIGINT_SEEN.clear()
    previous = signal.signal(signal.SIGINT, _on_sigint) if in_main_thread else None
    try:
        cli.main(args=argv, prog_name="crmsim")
    except BaseException as exc:
        if not ctrl_c(exc):
            raise
        if in_main_thread:
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # also for the exit that follows
        click.echo("crmsim: interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    finally:
        # Put back the caller's handler, unless Ctrl-C came: then keep ignoring it
        # while the process exits.
        if previous is not None and signal.getsignal(signal.SIGINT) is _on_sigint:
            signal.signal(signal.SIGINT, previous)


# The sub-commands register themselves on `cli` when imported.
from crmsim.cli import (  # noqa: E402
    commands_compare,
    commands_network,
    commands_report,
    commands_run,
    commands_scenario,
    commands_stress,
    commands_sweep,
)

__all__ += [
    "commands_compare",
    "commands_network",
    "commands_report",
    "commands_run",
    "commands_scenario",
    "commands_stress",
    "commands_sweep",
]
