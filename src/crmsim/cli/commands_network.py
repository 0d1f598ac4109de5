"""``crmsim show``: a readable summary of a scenario's supply network, and a drawing of it."""

from __future__ import annotations

from pathlib import Path

import click

from crmsim.cli import LANG_OPTION, cli, load_or_exit
from crmsim.i18n import language

__all__ = ["show"]


@cli.command("show")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--plot",
    "plot_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also draw the network to this PNG file.",
)
@click.option(
    "--material",
    default=None,
    help="Only summarise this material (id from the scenario's materials).",
)
@LANG_OPTION
def show(file: Path, plot_path: Path | None, material: str | None, lang: str | None = None) -> None:
    """Summarise the supply network of scenario FILE.

    Shows, per material, supply shares by country (capacity and planned sourcing), the
    Herfindahl–Hirschman index and its band, the largest country share, single-sourced
    dependencies, the MSME share of capacity and the supply-risk indicator with its inputs.
    The scenario's warnings (as ``crmsim validate`` prints them) follow on standard error.
    """
    from crmsim.network.analysis import analyse
    from crmsim.network.graph import build_graph

    scenario = load_or_exit(file)

    G = build_graph(scenario)
    report = analyse(G)
    if material is not None and material not in report.materials:
        raise click.BadParameter(
            f"{material!r} is not a material of this scenario; choose from: "
            + ", ".join(report.materials),
            param_hint="--material",
        )
    with language(lang):
        click.echo(report.to_text(material=material), nl=False)
    from crmsim.experiment.producer import producer_options_text
    from crmsim.network.resources import resource_table_text

    click.echo(resource_table_text(scenario) + producer_options_text(scenario), nl=False)
    text = file.read_bytes().decode("utf-8-sig")
    from crmsim.scenario.warnings import check_warnings, locate_warnings

    for problem in locate_warnings(check_warnings(scenario), text, str(file)):
        click.echo(str(problem), err=True)

    if plot_path is not None:
        from crmsim.network.plot import plot_network

        fig = plot_network(G)
        try:
            fig.savefig(plot_path, dpi=150)
        except OSError as exc:
            click.echo(f"{plot_path}: cannot write the plot: {exc.strerror or exc}", err=True)
            raise SystemExit(1) from None
        click.echo(f"Network plot written to {plot_path}")
