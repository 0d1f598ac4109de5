"""``crmsim stress``: time to survive against time to recover, per node."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.table import Table

from crmsim.cli import LANG_OPTION, cli, load_or_exit
from crmsim.cli.tables import fit, table_console
from crmsim.i18n import _, format_number, language

if TYPE_CHECKING:  # (pandas is imported when a command runs: `crmsim --help` stays light)
    import pandas as pd

__all__ = ["parse_ttr", "stress_command"]


def parse_ttr(text: str | None, nodes: list[str]) -> dict[str, float] | None:
    """Parse ``--ttr``: ``DAYS`` for every node, ``NODE=DAYS,...``, or both (``30,a=10``).

    Raises
    ------
    click.BadParameter
        On a malformed value or an unknown node.
    """
    if text is None:
        return None
    default: float | None = None
    per: dict[str, float] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        name, sep, value = part.rpartition("=")
        try:
            days = float(value)
        except ValueError:
            raise click.BadParameter(
                f"{part!r}: expected DAYS or NODE=DAYS (e.g. 30 or mine_aus=45)",
                param_hint="--ttr",
            ) from None
        if not math.isfinite(days) or days < 0:
            raise click.BadParameter(f"{part!r}: days must be a number ≥ 0", param_hint="--ttr")
        if not sep:
            default = days
        elif name.strip() not in nodes:
            raise click.BadParameter(
                f"{name.strip()!r} is not a node of this scenario; nodes: " + ", ".join(nodes),
                param_hint="--ttr",
            )
        else:
            per[name.strip()] = days
    out = {n: default for n in nodes if default is not None}
    out.update(per)
    return out


def _fmt(value: object, digits: int = 0) -> str:
    import pandas as pd

    if value is None or value is pd.NA:
        return "—"
    value = float(value)  # type: ignore[arg-type]
    if math.isnan(value):
        return "—"
    if math.isinf(value):
        return "∞"
    return format_number(value, digits)


@cli.command("stress")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--nodes",
    default=None,
    metavar="ID[,ID...]",
    help="Only these nodes (default: every node).",
)
@click.option(
    "--ttr",
    default=None,
    metavar="DAYS|ID=DAYS[,...]",
    help="Time to recover (days) for nodes without an outage of their own in the "
    "scenario: one number for all, NODE=DAYS per node, or both (30,mine_aus=45).",
)
@click.option(
    "-o",
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write the table to this CSV file.",
)
@LANG_OPTION
def stress_command(
    file: Path, nodes: str | None, ttr: str | None, out: Path | None, lang: str | None = None
) -> None:
    """Time to survive (TTS) and time to recover (TTR) of every node of FILE.

    TTS is the longest full outage of a node, starting on scored day 0, after which no
    market loses demand; it is computed by a linear program and by the simulator (both in
    whole days; they agree), beside the paper's upper bound. Nodes with TTS < TTR are
    flagged; exposure is the demand lost after an outage of length TTR (market-days) and
    ranks the nodes. Conventions: docs/stress.md.
    """
    from crmsim.experiment.stress import stress

    scenario = load_or_exit(file)
    all_nodes = sorted(n.id for n in scenario.nodes)
    chosen = None
    if nodes is not None:
        chosen = [n.strip() for n in nodes.split(",") if n.strip()]
        unknown = [n for n in chosen if n not in all_nodes]
        if unknown or not chosen:
            raise click.BadParameter(
                f"{', '.join(unknown) or '(none given)'}: not a node of this scenario; "
                "nodes: " + ", ".join(all_nodes),
                param_hint="--nodes",
            )
    ttr_map = parse_ttr(ttr, chosen or all_nodes)
    try:
        table = stress(scenario, nodes=chosen, ttr=ttr_map)
    except ValueError as exc:
        click.echo(f"{file}: {exc}", err=True)
        raise SystemExit(1) from None

    with language(lang):
        _print(scenario.name, table)
    if out is not None:
        try:
            table.to_csv(out, index=False)
        except OSError as exc:
            click.echo(f"{out}: cannot write the table: {exc.strerror or exc}", err=True)
            raise SystemExit(1) from None
        click.echo(f"Table written to {out}")


def _print(name: str, table: pd.DataFrame) -> None:
    from crmsim.report.html import ROLES

    view = Table(
        title=_("Stress test: {scenario} (days; exposure in market-days)").format(scenario=name)
    )
    for i, col in enumerate(
        (
            _("node"),
            _("role"),
            _("country"),
            _("TTS LP (days)"),
            _("TTS sim (days)"),
            _("TTS paper (upper bound, days)"),
            _("TTR (days)"),
            _("TTS < TTR"),
            _("exposure (market-days)"),
            _("rank"),
        )
    ):
        view.add_column(col, justify="left" if i < 3 else "right")
    for row in table.sort_values(["rank", "node"], na_position="last").itertuples():
        view.add_row(
            str(row.node),
            _(ROLES.get(str(row.role), str(row.role))),
            str(row.country),
            _fmt(row.tts_lp),
            _fmt(row.tts_sim),
            _fmt(row.tts_upper_bound_paper, 1),
            _fmt(row.ttr),
            _("yes") if row.flagged else "",
            _fmt(row.exposure, 2),
            _fmt(row.rank),
        )
    console = table_console(140)
    console.print(fit(view, console))
    click.echo(
        _(
            "TTS: longest full outage from scored day 0 with no lost demand at any market "
            "(∞: survives the whole horizon). Demand at its mean, other disruptions removed."
        )
    )
