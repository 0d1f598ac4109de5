"""``crmsim validate`` and ``crmsim schema``: check scenario files, export their schema.

Both are thin layers over :func:`crmsim.scenario.load_with_warnings` and
:mod:`crmsim.scenario.reference`. A user mistake (a bad or missing file, an unwritable
output) ends with a message and a non-zero exit, never a traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from crmsim.cli import cli

if TYPE_CHECKING:  # (imported when a command runs: `crmsim --help` stays light)
    from crmsim.scenario.errors import Problem
    from crmsim.scenario.schema import Scenario

__all__ = ["schema", "summary_line", "validate", "validate_file"]


def summary_line(path: str, scenario: Scenario) -> str:
    """Return the ``OK`` line for a valid file.

    Parameters
    ----------
    path : str
        The file as given on the command line.
    scenario : Scenario
        The loaded scenario.

    Returns
    -------
    str
        ``OK <file>: <name> (N materials, N nodes, N edges, N disruptions, N policies)``.
    """

    def n(count: int, word: str) -> str:
        plural = "policies" if word == "policy" else word + "s"
        return f"{count} {word if count == 1 else plural}"

    return (
        f"OK {path}: {scenario.name} ("
        + ", ".join(
            [
                n(len(scenario.materials), "material"),
                n(len(scenario.nodes), "node"),
                n(len(scenario.edges), "edge"),
                n(len(scenario.disruptions), "disruption"),
                n(len(scenario.policies), "policy"),
            ]
        )
        + ")"
    )


def validate_file(path: str) -> tuple[Scenario | None, list[Problem]]:
    """Load one file, turning every user mistake into problems.

    Parameters
    ----------
    path : str
        The scenario file.

    Returns
    -------
    scenario : Scenario or None
        The scenario when the file is valid.
    problems : list of Problem
        When valid, its warnings (``severity="warning"``, located; often none);
        otherwise every error, located.
    """
    from crmsim.scenario.errors import Problem, ScenarioError
    from crmsim.scenario.warnings import load_with_warnings

    p = Path(path)
    try:
        return load_with_warnings(p)
    except ScenarioError as exc:
        return None, list(exc.problems)
    except IsADirectoryError:
        return None, [Problem("is a directory, not a scenario file", file=path, code="io")]
    except FileNotFoundError:
        return None, [Problem("no such file", file=path, code="io")]
    except OSError as exc:
        reason = exc.strerror or str(exc)
        return None, [Problem(f"cannot read the file: {reason}", file=path, code="io")]


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' if n != 1 else ''}"


@cli.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=True))
@click.option(
    "--strict",
    is_flag=True,
    help="Treat warnings as problems: a file with warnings fails (exit 1). Useful in CI.",
)
def validate(files: tuple[str, ...], strict: bool) -> None:
    """Check scenario FILES; report every problem with file, line and column.

    Prints ``OK`` and a summary for each valid file; for an invalid one, every problem
    (``file:line:col: field: message``) on standard error. A valid file may also have
    warnings (``file:line:col: warning: field: ...``, on standard error after its ``OK``
    line): it loads and runs, but probably does not mean what was intended. Silence one on
    purpose with the file's ``silence_warnings`` list. Exits with 0 when all files are
    valid (warnings or not; with --strict, only when there are no warnings either), 1
    otherwise.
    """
    bad = 0
    for path in files:
        scenario, problems = validate_file(path)
        if scenario is not None:
            if strict and problems:
                bad += 1
                for problem in problems:
                    click.echo(str(problem), err=True)
                click.echo(
                    f"FAILED {path}: {_plural(len(problems), 'warning')} (--strict)", err=True
                )
                continue
            click.echo(summary_line(path, scenario))
            for problem in problems:
                click.echo(str(problem), err=True)
            if problems:
                click.echo(f"{path}: {_plural(len(problems), 'warning')}", err=True)
            continue
        bad += 1
        for problem in problems:
            click.echo(str(problem.located(path, None, None)), err=True)
        n = len(problems)
        click.echo(f"FAILED {path}: {n} problem{'s' if n != 1 else ''}", err=True)
    if bad:
        click.get_current_context().exit(1)


@cli.command()
@click.option(
    "--out",
    "out",
    type=click.Path(dir_okay=False, writable=True),
    default=None,
    help="Write to this file instead of standard output.",
)
@click.option(
    "--markdown",
    is_flag=True,
    help="The Markdown scenario reference (docs/scenario-reference.md) instead of JSON Schema.",
)
def schema(out: str | None, markdown: bool) -> None:
    """Print the JSON Schema of scenario files (for editors), or the Markdown reference."""
    from crmsim.scenario.reference import scenario_json_schema_text, scenario_reference_markdown

    text = scenario_reference_markdown() if markdown else scenario_json_schema_text()
    if out is None:
        click.echo(text, nl=False)
        return
    try:
        Path(out).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise click.ClickException(f"cannot write {out}: {exc.strerror or exc}") from None
    click.echo(f"wrote {out}", err=True)
