"""``crmsim plot`` and ``crmsim report``: figures, a one-file HTML report, a workbook."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from crmsim.cli import LANG_OPTION, WORKERS_OPTION, cli
from crmsim.i18n import language

if TYPE_CHECKING:
    from crmsim.report.data import ReportData

__all__ = ["plot_command", "report_command"]


def _folder_or_exit(folder: Path) -> ReportData:
    from crmsim.report.data import ResultsFolderError, from_folder

    try:
        return from_folder(folder)
    except ResultsFolderError as exc:
        click.echo(str(exc), err=True)
    except (OSError, ValueError) as exc:
        click.echo(f"{folder}: cannot read the results: {exc}", err=True)
    raise SystemExit(1)


@cli.command("plot")
@click.argument("results_dir", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option(
    "--format",
    "formats",
    default="png,svg",
    show_default=True,
    metavar="png,svg",
    help="Comma-separated file formats of every figure.",
)
@LANG_OPTION
def plot_command(results_dir: Path, formats: str, lang: str | None = None) -> None:
    """Draw every figure of RESULTS_DIR into RESULTS_DIR/figures/.

    RESULTS_DIR is the --out folder of `crmsim run` (daily performance bands, the
    disruptions, the resilience triangle, secondary supply) or of `crmsim compare` (the
    network, the forest plot of paired differences, cost against resilience, supply by
    country, the CRMA card). A stress.parquet or stress.csv in the folder adds the stress
    test figure.
    """
    from crmsim.report.plots import draw_all, save_all

    fmts = tuple(f.strip().lower() for f in formats.split(",") if f.strip())
    bad = [f for f in fmts if f not in ("png", "svg", "pdf")]
    if bad or not fmts:
        click.echo(f"--format {formats}: unknown format {bad}; use png, svg or pdf", err=True)
        raise SystemExit(1)
    data = _folder_or_exit(results_dir)
    with language(lang):
        drawn = draw_all(data)
    files = save_all(drawn, results_dir / "figures", fmts)
    for d in drawn:
        click.echo(f"{d.name}: {d.title}")
    click.echo(f"{len(files)} files written to {results_dir / 'figures'}/")


@cli.command("report")
@click.argument("source", type=click.Path(exists=True, path_type=Path))
@click.option(
    "-o",
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("report.html"),
    show_default=True,
    help="The report file.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["html", "xlsx"]),
    default=None,
    help="html (one self-contained file) or xlsx (the tables as sheets). Default: from "
    "the --out suffix, else html.",
)
@click.option(
    "-p",
    "--policies",
    default=None,
    metavar="A,B,A+B",
    help="Options to compare (scenario file only; default: experiment.compare).",
)
@click.option(
    "-r",
    "--replications",
    type=click.IntRange(min=2),
    default=10,
    show_default=True,
    help="Replications per option (scenario file only).",
)
@click.option(
    "-s",
    "--seed",
    type=click.IntRange(min=0),
    default=None,
    help="Root seed (scenario file only; default: experiment.seed).",
)
@WORKERS_OPTION
@click.option(
    "--flow-replications",
    type=click.IntRange(min=1),
    default=None,
    help="Replications whose realised flows feed the scorecard and CRMA card "
    "(scenario file only; default: all).",
)
@click.option("--overwrite", is_flag=True, help="Replace an existing --out file.")
@LANG_OPTION
def report_command(
    source: Path,
    out: Path,
    fmt: str | None,
    policies: str | None,
    replications: int,
    seed: int | None,
    workers: int,
    flow_replications: int | None,
    overwrite: bool,
    lang: str | None = None,
) -> None:
    """Write a report of SOURCE: a scenario file or a `crmsim compare --out` folder.

    For a scenario file, a small comparison of its options is run first (-r
    replications per option, common random numbers). The HTML report is one file that
    opens offline: a plain-language summary (which option buys the most resilience per
    unit of cost, how sure we are, what it costs), then the scenario and its sources, the
    network, disruptions, the comparison, ranking, scorecard, CRMA card, UNFC resources,
    assumptions, a glossary and how to reproduce the numbers.
    """
    from crmsim.report.html import write_html
    from crmsim.report.xlsx import write_xlsx

    fmt = fmt or ("xlsx" if out.suffix.lower() == ".xlsx" else "html")
    if out.exists() and not overwrite:
        click.echo(f"{out}: already exists; use --overwrite or another --out", err=True)
        raise SystemExit(1)
    if source.is_dir():
        data = _folder_or_exit(source)
    else:
        from crmsim import ScenarioError
        from crmsim.policy import PolicyError
        from crmsim.report.data import from_scenario

        try:
            data = from_scenario(
                source,
                policies=policies,
                replications=replications,
                seed=seed,
                workers=None if workers == 0 else workers,
                flow_replications=flow_replications,
            )
        except ScenarioError as exc:
            click.echo(str(exc), err=True)
            raise SystemExit(1) from None
        except PolicyError as exc:
            click.echo(f"--policies {policies}: {exc}", err=True)
            raise SystemExit(1) from None
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "xlsx":
        write_xlsx(data, out, lang=lang)
    else:
        write_html(data, out, lang=lang)
    click.echo(f"report written to {out}")
