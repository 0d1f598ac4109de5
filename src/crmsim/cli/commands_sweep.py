"""``crmsim sweep`` and ``crmsim sensitivity``: grids and global sensitivity of scenario fields."""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from crmsim.cli import LANG_OPTION, WORKERS_OPTION, cli, load_or_exit
from crmsim.cli.commands_compare import _RateColumn
from crmsim.cli.tables import fit, table_console
from crmsim.i18n import N_, _, format_number, language, ngettext

__all__ = ["sensitivity_command", "sweep_command"]


@contextmanager
def _progress(label: str) -> Iterator[tuple[Callable[[int], None], Callable[[int], None]]]:
    """(start(total), advance(n)) callbacks drawing a rich bar with replications per second."""
    console = Console(stderr=True)
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        _RateColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        disable=not sys.stderr.isatty(),
    ) as bar:
        task = bar.add_task(label, total=None)
        yield (lambda total: bar.update(task, total=total)), (lambda n: bar.advance(task, n))


def _fail(message: str) -> None:
    click.echo(message, err=True)
    raise SystemExit(1)


def _refuse_existing(out: Path | None, overwrite: bool) -> None:
    if out is not None and out.exists() and not overwrite:
        _fail(f"{out}: already exists; use --overwrite or another --out")


_COMMON = [
    click.option("-r", "--replications", type=click.IntRange(min=1), default=None,
                 help="Replications per point (sweep: default experiment.replications; "
                 "sensitivity: default 10)."),
    click.option("-s", "--seed", type=click.IntRange(min=0), default=None,
                 help="Root seed, the same at every point (default: experiment.seed)."),
    WORKERS_OPTION,
    click.option("--policy", default=None, metavar="ID[+ID]",
                 help="Policy (or combination a+b) applied at every point."),
    click.option("-o", "--out", type=click.Path(file_okay=False, path_type=Path),
                 default=None, help="New directory for the tables (Parquet and CSV), data "
                 "dictionary and manifest."),
    click.option("--overwrite", is_flag=True, help="Write into an existing --out directory."),
    LANG_OPTION,
]  # fmt: skip

#: The metrics of --metric, as the tables name them.
METRIC_LABELS = {
    "fill_rate": N_("fill rate"),
    "unmet": N_("unmet demand"),
    "nadir": N_("nadir"),
    "resilience_loss": N_("resilience loss"),
    "resilience_index": N_("resilience index"),
}


def _common(f: Any) -> Any:
    for opt in reversed(_COMMON):
        f = opt(f)
    return f


# --------------------------------------------------------------------------- sweep


@cli.command("sweep")
@click.argument("scenario_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--set",
    "sets",
    multiple=True,
    required=True,
    metavar="PATH=A,B,C",
    help="A field by dotted path and its values, e.g. "
    "policies.stockpile.stockpile.days_of_cover=30,60,90. Repeat for a grid (the "
    "Cartesian product).",
)
@_common
def sweep_command(
    scenario_file: Path,
    sets: tuple[str, ...],
    replications: int | None,
    seed: int | None,
    workers: int,
    policy: str | None,
    out: Path | None,
    overwrite: bool,
    lang: str | None = None,
) -> None:
    """Run a grid of field values of SCENARIO_FILE with common random numbers.

    Every grid point runs the same replications with the same seed, so the differences
    between points are paired. Per point and market it prints the mean fill rate and
    unmet demand with t-intervals at experiment.confidence and the paired difference
    against the first grid point, or against the baseline at the same point with
    --policy. Paths address list items by id (nodes.<id>.capacity,
    policies.<id>.<lever>.<field>, disruptions.<id>.severity, edges.<from>-><to>.lead_time)
    and plain fields by name (horizon_days). -r defaults to experiment.replications.
    """
    from crmsim.experiment.sweep import (
        SWEEP_DICTIONARY,
        SettingError,
        parse_values,
        run_sweep,
        write_tables,
    )

    _refuse_existing(out, overwrite)
    settings: dict[str, list[Any]] = {}
    for item in sets:
        path, sep, values = item.partition("=")
        parsed = parse_values(values)
        if not sep or not path.strip() or not parsed:
            _fail(f"--set {item}: write PATH=VALUE[,VALUE...], e.g. nodes.mine.capacity=4,8")
        if path.strip() in settings:
            _fail(f"--set {path.strip()}: given twice; list all its values in one --set")
        settings[path.strip()] = parsed
    scenario = load_or_exit(scenario_file)
    R = replications if replications is not None else scenario.experiment.replications
    n_points = math.prod(len(v) for v in settings.values())
    with language(lang):
        label = _("{points} grid points × {n} replications").format(points=n_points, n=R)
    try:
        with _progress(label) as (start, advance):
            run = run_sweep(
                scenario, settings, policy, R, seed,
                workers=None if workers == 0 else workers, progress=advance, start=start,
                source=scenario_file,
            )  # fmt: skip
    except SettingError as exc:
        _fail(str(exc))
    with language(lang):
        _print_sweep(run)
    if out is not None:
        write_tables(
            out,
            {"sweep": run.table, "points": run.points, "replications": run.replications},
            SWEEP_DICTIONARY,
            {
                "command": "sweep",
                "scenario": scenario.name,
                "seed": run.seed,
                "replications": run.n_replications,
                "grid": run.settings,
                "points": len(run.points),
                "policy": run.policy,
                "reference": run.reference,
                "confidence": run.confidence,
                "options": {"workers": workers},
                "seconds": round(run.seconds, 3),
            },
            scenario_file=scenario_file,
            overwrite=overwrite,
        )
        click.echo(f"results written to {out}/ (manifest.json lists the files)")


def _fmt(x: float, digits: int) -> str:
    r"""A figure in the current language's form; ``–`` when undefined.

    Examples
    --------
    >>> _fmt(12345.678, 1), _fmt(float("nan"), 1)
    ('12,345.7', '–')
    >>> with language("uk"):
    ...     _fmt(12345.678, 1)
    '12\xa0345,7'
    """
    return "–" if not math.isfinite(x) else format_number(x, digits)


def _signed(x: float, digits: int) -> str:
    """A signed figure; zero (after rounding) without a sign.

    Examples
    --------
    >>> _signed(-0.001, 0), _signed(2.5, 1), _signed(float("nan"), 1)
    ('0', '+2.5', '–')
    """
    return "–" if not math.isfinite(x) else format_number(x, digits, signed=True)


def _plain(x: float) -> str:
    """A value as written (``0.2``, ``90``), with the language's decimal sign.

    Examples
    --------
    >>> _plain(0.25), _plain(90.0), _plain(1e-7)
    ('0.25', '90', '0.0000001')
    >>> with language("ru"):
    ...     _plain(0.25)
    '0,25'
    """
    from decimal import Decimal

    exponent = Decimal(repr(float(x))).normalize().as_tuple().exponent
    digits = max(0, -exponent) if isinstance(exponent, int) else 0
    return format_number(x, digits)


def _ci(mean: float, low: float, high: float, digits: int, signed: bool = False) -> str:
    def f(v: float) -> str:
        return _signed(v, digits) if signed else _fmt(v, digits)

    if not (math.isfinite(low) and math.isfinite(high)):
        return f(mean)
    return f"{f(mean)} [{f(low)}, {f(high)}]"


def _conf(level: float) -> str:
    return f"{_plain(round(100 * float(level), 6))} %"


def _print_sweep(run: Any) -> None:
    console = table_console(160)
    k, R = len(run.points), run.n_replications
    what = (_("with {policy} applied").format(policy=run.policy) if run.policy
            else _("on the baseline"))  # fmt: skip
    against = (_("differences against the baseline at the same point") if run.policy
               else _("differences against the first grid point"))  # fmt: skip
    console.print(
        f"[bold]{run.scenario.name}[/bold]: "
        + ngettext("{k} grid point", "{k} grid points", k).format(k=k)
        + f", {what}, "
        + ngettext(
            "{n} replication each, seed {seed}", "{n} replications each, seed {seed}", R
        ).format(n=R, seed=run.seed)
        + "; "
        + _("common random numbers; intervals at {conf}; {against}").format(
            conf=_conf(run.confidence), against=against
        )
    )
    names = list(run.settings)
    t = run.table
    for market, g in t.groupby("market", sort=False):
        unit = g["unit"].iloc[0]
        tab = Table(title=f"{market} ({unit})")
        for n in names:
            tab.add_column(n, justify="right")
        for col in (
            _("fill rate %"),
            _("fill rate Δ pp"),
            _("unmet {unit}").format(unit=unit),
            _("unmet Δ {unit}").format(unit=unit),
        ):
            tab.add_column(col, justify="right")
        for _point, gp in g.groupby("point", sort=True):
            s = gp.set_index("metric")
            fr, un = s.loc["fill_rate"], s.loc["unmet"]
            tab.add_row(
                *[_value(gp[n].iloc[0]) for n in names],
                _ci(100 * fr["mean"], 100 * fr["low"], 100 * fr["high"], 2),
                _ci(
                    100 * fr["diff_mean"],
                    100 * fr["diff_low"],
                    100 * fr["diff_high"],
                    2,
                    signed=True,
                ),
                _ci(un["mean"], un["low"], un["high"], 0),
                _ci(un["diff_mean"], un["diff_low"], un["diff_high"], 0, signed=True),
            )
        console.print(fit(tab, console))


def _value(v: Any) -> str:
    """A grid value: a number in the language's form, anything else as written."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return str(v)
    return _plain(float(v)) if math.isfinite(v) else str(v)


# --------------------------------------------------------------------------- sensitivity


@cli.command("sensitivity")
@click.argument("scenario_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--vary",
    "varies",
    multiple=True,
    required=True,
    metavar="PATH=LO:HI",
    help="An uncertain input by dotted path and its range, e.g. "
    "policies.msme.msme_entrant.finance_probability=0.2:0.8. Repeat for each input.",
)
@click.option(
    "--metric",
    type=click.Choice(["fill_rate", "unmet", "nadir", "resilience_loss", "resilience_index"]),
    default="fill_rate",
    show_default=True,
    help="Metric Y (mean over the replications of a point).",
)
@click.option("--market", default=None, help="Market of the metric (default: all markets "
              "when they share a unit, else required).")  # fmt: skip
@click.option("--method", type=click.Choice(["morris", "sobol"]), default="morris",
              show_default=True, help="Morris screening or Sobol' indices (SALib).")  # fmt: skip
@click.option("-n", "--samples", "n", type=click.IntRange(min=2), default=None,
              help="Base sample size: Morris trajectories (default 10) or Sobol' N, a "
              "power of two (default 32).")  # fmt: skip
@_common
def sensitivity_command(
    scenario_file: Path,
    varies: tuple[str, ...],
    metric: str,
    market: str | None,
    method: str,
    n: int | None,
    replications: int | None,
    seed: int | None,
    workers: int,
    policy: str | None,
    out: Path | None,
    overwrite: bool,
    lang: str | None = None,
) -> None:
    """Rank uncertain inputs of SCENARIO_FILE by their influence on a metric.

    Each sample point (SALib's Morris trajectories or Saltelli's Sobol' sample) is one
    scenario variant, simulated over -r replications (default 10) with the same seed at
    every point (common random numbers). Prints the inputs ranked (Morris: mu_star,
    sigma; Sobol': S1, ST with confidence half-widths), the sample size and how settled
    the ranking is. Paths as for crmsim sweep; vary a policy's fields with --policy.
    """
    from crmsim.experiment.sensitivity import (
        METHODS,
        SENSITIVITY_DICTIONARY,
        parse_bounds,
        run_sensitivity,
    )
    from crmsim.experiment.sweep import SettingError, write_tables

    _refuse_existing(out, overwrite)
    bounds: dict[str, tuple[float, float]] = {}
    for item in varies:
        path, sep, rng = item.partition("=")
        if not sep or not path.strip():
            _fail(f"--vary {item}: write PATH=LO:HI, e.g. nodes.mine.capacity=4:8")
        try:
            bounds[path.strip()] = parse_bounds(rng)
        except ValueError as exc:
            _fail(f"--vary {item}: {exc}")
    scenario = load_or_exit(scenario_file)
    k = len(bounds)
    base = n if n is not None else METHODS[method]
    points = base * (k + 1 if method == "morris" else k + 2)
    R = replications if replications is not None else 10
    with language(lang):
        label = _("{method}: {points} points × {n} replications").format(
            method=method, points=points, n=R
        )
    try:
        with _progress(label) as (start, advance):
            res = run_sensitivity(
                scenario, bounds, metric, market, method, n, R, seed, policy=policy,
                workers=None if workers == 0 else workers, progress=advance, start=start,
                source=scenario_file,
            )  # fmt: skip
    except (SettingError, ValueError) as exc:
        _fail(str(exc))
    with language(lang):
        _print_sensitivity(res, scenario.name)
    if out is not None:
        write_tables(
            out,
            {"sensitivity": res.table, "samples": res.samples},
            SENSITIVITY_DICTIONARY,
            {
                "command": "sensitivity",
                "scenario": scenario.name,
                "method": res.method,
                "metric": res.metric,
                "market": res.market,
                "bounds": {k_: list(v) for k_, v in bounds.items()},
                "policy": policy,
                "n": res.n,
                "levels": res.levels,
                "points": res.n_points,
                "points_simulated": res.n_simulated,
                "replications": res.replications,
                "seed": res.seed,
                "confidence": res.confidence,
                "convergence": res.convergence,
                "library": "SALib",
                "options": {"workers": workers},
                "seconds": round(res.seconds, 3),
            },
            scenario_file=scenario_file,
            overwrite=overwrite,
        )
        click.echo(f"results written to {out}/ (manifest.json lists the files)")


def _print_sensitivity(res: Any, name: str) -> None:
    console = table_console(160)
    if res.method == "morris":
        design = _(
            "Morris screening, {n} trajectories × {k} points on {levels} levels = {points} "
            "points ({distinct} distinct)"
        ).format(n=res.n, k=len(res.table) + 1, levels=res.levels, points=res.n_points,
                 distinct=res.n_simulated)  # fmt: skip
    else:
        design = _("Sobol' indices, Saltelli sample N = {n} × {k} = {points} points").format(
            n=res.n, k=len(res.table) + 2, points=res.n_points
        )
    metric = _(METRIC_LABELS.get(res.metric, res.metric))
    console.print(
        f"[bold]{name}[/bold]: "
        + _("{metric} at {market}").format(metric=metric, market=res.market)
        + f"; {design}; "
        + ngettext(
            "{n} replication per point, seed {seed}, common random numbers (SALib)",
            "{n} replications per point, seed {seed}, common random numbers (SALib)",
            res.replications,
        ).format(n=res.replications, seed=res.seed)
    )
    tab = Table(
        title=_("inputs ranked by influence on {metric} ({market})").format(
            metric=metric, market=_("all markets") if res.market == "(all)" else res.market
        )
    )
    tab.add_column(_("rank"), justify="right")
    tab.add_column(_("input"))
    tab.add_column(_("range"), justify="right")
    cols = (["mu_star", "mu_star_conf", "mu", "sigma"] if res.method == "morris"
            else ["S1", "S1_conf", "ST", "ST_conf"])  # fmt: skip
    for c in cols:
        tab.add_column(c.replace("_conf", " ±"), justify="right")  # symbols, not words
    for _i, row in res.table.iterrows():
        tab.add_row(
            str(row["rank"]),
            str(row["input"]),
            f"{_plain(row['low'])}–{_plain(row['high'])}",
            *[_fmt(float(row[c]), 4) for c in cols],
        )
    console.print(fit(tab, console))
    if res.method == "morris":
        console.print(_("mu_star: mean absolute change of the metric when the input alone "
                        "moves across its whole range; sigma: spread of those changes "
                        "(interactions or non-linearity)"))  # fmt: skip
    else:
        console.print(_("S1: share of the metric's variance due to the input alone; ST: with "
                        "all its interactions; ± = bootstrap half-width"))  # fmt: skip
    console.print(_("convergence: {verdict}").format(verdict=res.convergence))
