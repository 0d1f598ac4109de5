"""``crmsim run``: simulate a scenario's disruptions over many replications."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
from rich.table import Table

from crmsim.cli import (
    EXIT_INTERRUPTED,
    LANG_OPTION,
    SCHEDULER_OPTION,
    WORKERS_OPTION,
    cli,
    ctrl_c,
    load_or_exit,
)
from crmsim.cli.tables import fit, table_console
from crmsim.i18n import _, format_money, format_number, language, ngettext

__all__ = ["policies_command", "run_command"]


MARGINAL_HELP = (
    "Also measure each disruption's marginal effect: every event is simulated again "
    "without it (same random numbers) and the lost units attributable are tabled."
)


@cli.command("run")
@click.argument("scenario_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "-r",
    "--replications",
    type=click.IntRange(min=1),
    default=None,
    help="Replications (default: the scenario's experiment.replications).",
)
@click.option(
    "-s",
    "--seed",
    type=click.IntRange(min=0),
    default=None,
    help="Root seed (default: the scenario's experiment.seed).",
)
@click.option(
    "-o",
    "--out",
    "out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Directory for Parquet/CSV results and manifest.json.",
)
@WORKERS_OPTION
@SCHEDULER_OPTION
@click.option("--overwrite", is_flag=True, help="Replace results already in --out.")
@click.option("--no-daily", is_flag=True, help="Do not keep replication 0's full daily record.")
@click.option(
    "-p",
    "--policy",
    "policy",
    default="baseline",
    show_default=True,
    metavar="ID[+ID...]",
    help="Policy (or combination a+b, applied in that order) from the scenario's "
    "policies; `crmsim policies FILE` lists them.",
)
@click.option("--marginal", is_flag=True, help=MARGINAL_HELP)
@click.option(
    "--band-market",
    "band_market",
    multiple=True,
    metavar="ID",
    help="A market to keep daily performance bands for (repeat for more; default: every "
    "market, or on networks of more than 50 markets the 50 of largest mean demand).",
)
@LANG_OPTION
def run_command(
    scenario_file: Path,
    replications: int | None,
    seed: int | None,
    out: Path | None,
    workers: int,
    overwrite: bool,
    no_daily: bool,
    policy: str,
    marginal: bool = False,
    lang: str | None = None,
    scheduler: str | None = None,
    band_market: tuple[str, ...] = (),
) -> None:
    """Simulate SCENARIO_FILE and report what was lost, how deep and for how long.

    Prints fill rate, unmet units, nadir and resilience loss (mean and t-based interval
    at the scenario's experiment.confidence), and per disruption how often it was
    impacted, overlapped another's impact or recovered, with its Kaplan–Meier time to
    recover (--marginal adds the lost units each disruption caused); with --out, writes
    summary.parquet/csv, market_summary, disruptions, daily performance bands,
    replication 0's daily record and manifest.json (crmsim version, scenario hash, seed,
    options).

    --out is checked before anything is simulated; the results are written to it
    atomically (a failure or Ctrl-C leaves the earlier results or the complete new
    ones). A NaN or infinite result is reported with where it arose, and exits 1.
    """
    from crmsim.experiment.io import OutputError, check_output

    if out is not None:
        try:
            check_output(out, overwrite=overwrite)
        except OutputError as exc:
            click.echo(f"--out {exc}", err=True)
            raise SystemExit(1) from None
    before = _manifest_stamp(out)
    try:
        with language(lang):
            _run(
                scenario_file, replications, seed, out, workers, no_daily, policy, marginal,
                scheduler, band_market,
            )
    except BaseException as exc:
        if not ctrl_c(exc):
            raise
        if out is None:
            what = ""
        elif _manifest_stamp(out) != before:
            what = f" after the results were written to {out}/"
        elif before is not None:
            what = f": no results written; the earlier results in {out}/ are kept"
        else:
            what = ": no results written"
        click.echo(f"crmsim run: interrupted{what}", err=True)
        raise SystemExit(EXIT_INTERRUPTED) from None


def _manifest_stamp(out: Path | None) -> tuple[int, int, int] | None:
    """Identifies the manifest in ``out`` (a new results folder brings a new file)."""
    try:
        st = (out / "manifest.json").stat() if out is not None else None
    except OSError:
        return None
    return None if st is None else (st.st_dev, st.st_ino, st.st_mtime_ns)


def _run(
    scenario_file: Path,
    replications: int | None,
    seed: int | None,
    out: Path | None,
    workers: int,
    no_daily: bool,
    policy: str,
    marginal: bool,
    scheduler: str | None = None,
    band_market: tuple[str, ...] = (),
) -> None:
    from crmsim.experiment import run_replications
    from crmsim.experiment.io import OutputError, find_non_finite, write_run
    from crmsim.experiment.pool import WorkerError, resolve_workers

    scenario = load_or_exit(scenario_file)
    application = _apply(scenario, policy)
    _print_policy(application)
    scenario = application.scenario
    bands_for = list(band_market) if band_market else None
    if bands_for is not None:
        from crmsim.experiment.runner import _prepare, band_series

        try:  # checked before anything is simulated
            band_series(_prepare(scenario)[1], bands_for)
        except ValueError as exc:
            why = str(exc).removeprefix("band_markets: ")
            click.echo(f"crmsim run: --band-market in {scenario_file}: {why}", err=True)
            raise SystemExit(1) from None
    R = replications if replications is not None else scenario.experiment.replications
    s = seed if seed is not None else scenario.experiment.seed
    n_workers, capped = resolve_workers(None if workers == 0 else workers)
    if capped and scheduler is None:
        click.echo(f"warning: --workers {workers}: {capped}", err=True)
    dask = None
    if scheduler is not None:
        from crmsim.experiment.pool import DaskExecutor

        try:  # connect now: a wrong address is one line, before anything is simulated
            dask = DaskExecutor(scheduler)
        except (RuntimeError, ValueError, OSError) as exc:
            click.echo(f"--scheduler {scheduler}: {exc}", err=True)
            raise SystemExit(1) from None
    console = Console(stderr=True)
    try:
        # auto_refresh=False: no refresh thread, so worker processes are forked from a
        # process with no Python threads running.
        with Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
            auto_refresh=False,
            disable=R == 1 or not sys.stderr.isatty(),
        ) as bar:
            task = bar.add_task(f"{scenario.name}", total=R)
            bar.refresh()

            def advance(n: int) -> None:
                bar.advance(task, n)
                bar.refresh()

            run = run_replications(
                scenario,
                R,
                s,
                workers=n_workers,
                keep_first_daily=not no_daily,
                application=application,
                progress=advance,
                marginal=marginal,
                scheduler=dask.client if dask is not None else None,
                band_markets=bands_for,
            )
    except WorkerError as exc:
        click.echo(f"crmsim run: {exc}; no results written", err=True)
        raise SystemExit(1) from None
    finally:
        if dask is not None:
            dask.close()
    non_finite = find_non_finite(run, daily=out is not None)  # (the daily table: if written)
    if non_finite:
        for problem in non_finite:
            click.echo(f"crmsim run: not a finite number: {problem}", err=True)
    else:
        _print_summary(run, scenario.currency)
    if out is not None:
        try:
            write_run(
                run,
                out,
                scenario_file=scenario_file,
                options={
                    "replications": R,
                    "seed": s,
                    "workers": workers,
                    "scheduler": scheduler,
                    "daily": not no_daily,
                    "policy": application.combination,
                    "policy_label": application.label,
                    "policy_static_cost": application.total_cost.as_dict(),
                },
                non_finite=non_finite,
                currency=scenario.currency,
                units={m.id: m.unit for m in scenario.materials},
            )
        except OutputError as exc:
            click.echo(f"crmsim run: {exc}", err=True)
            raise SystemExit(1) from None
        if non_finite:
            click.echo(
                f"crmsim run: the results were written to {out}/ for inspection; "
                'manifest.json says status "non-finite values" and lists them',
                err=True,
            )
        else:
            click.echo(f"results written to {out}/ (manifest.json lists the files)")
    elif non_finite:
        click.echo("crmsim run: no results written (no --out)", err=True)
    if non_finite:
        raise SystemExit(1)


def _apply(scenario, policy: str):
    from crmsim.policy import PolicyError, apply_policies

    try:
        return apply_policies(scenario, policy)
    except PolicyError as exc:
        click.echo(f"--policy {policy}: {exc}", err=True)
        raise SystemExit(1) from None


def _money(x: float) -> str:
    return format_number(x, 0)


def _print_policy(application) -> None:
    c = application.total_cost
    cur = application.scenario.currency
    text = _("policy: {id} — {label}").format(id=application.combination, label=application.label)
    if application.policies:
        parts = [
            _("capex {amount} {currency}").format(amount=_money(c.capex), currency=cur),
            _("opex {amount} {currency}/day").format(amount=_money(c.opex_per_day), currency=cur),
        ]
        if c.holding_per_day:
            parts.append(
                _("holding {amount} {currency}/day at the initial stock").format(
                    amount=_money(c.holding_per_day), currency=cur
                )
            )
        text += " (" + _("static cost: {parts}").format(parts=", ".join(parts)) + ")"
    click.echo(text)


@cli.command("policies")
@click.argument("scenario_file", type=click.Path(dir_okay=False, path_type=Path))
@LANG_OPTION
def policies_command(scenario_file: Path, lang: str | None = None) -> None:
    """List the policies of SCENARIO_FILE: id, label, levers and static costs.

    Costs are as written in the file, in its currency: capex in total (all entrants),
    opex per day with everything operating, and the stockpile holding cost per day at its
    initial stock.
    """
    from crmsim.policy import static_cost
    from crmsim.scenario.schema import LEVERS

    scenario = load_or_exit(scenario_file)
    with language(lang):
        if not scenario.policies:
            click.echo(_("{file}: no policies (only the baseline)").format(file=scenario_file))
            return
        cur = scenario.currency
        t = Table(title=_("{scenario} — policies").format(scenario=scenario.name))
        t.add_column("id")
        t.add_column(_("label"))
        t.add_column(_("levers"))
        for head in (
            _("capex ({currency})"),
            _("opex ({currency}/day)"),
            _("holding ({currency}/day)"),
        ):
            t.add_column(head.format(currency=cur), justify="right")
        for p in scenario.policies:
            c = static_cost(scenario, p)
            levers = ", ".join(lv for lv in LEVERS if getattr(p, lv) is not None)
            t.add_row(
                p.id,
                p.label or "",
                levers,
                _money(c.capex),
                _money(c.opex_per_day),
                _money(c.holding_per_day) if c.holding_cost_per_unit_day else "—",
            )
        console = table_console(120)
        console.print(fit(t, console))
        click.echo(
            _("compared by default (experiment.compare): {variants}").format(
                variants=", ".join(scenario.experiment.compare)
            )
        )


def _pct(level: float) -> str:
    v = round(level * 100, 6)
    return f"{format_number(v, 0 if v.is_integer() else 1)}%"


def _g(x: float, digits: int = 4) -> str:
    """A number to ``digits`` significant digits, in the current language's form."""
    if not math.isfinite(x):
        return "—"
    if x == 0:
        return "0"
    mag = math.floor(math.log10(abs(x)))
    decimals = max(0, digits - 1 - mag)
    text = format_number(float(x), decimals)
    if decimals and ("." in text or "," in text):
        text = text.rstrip("0").rstrip(".,")
    return text


def _print_summary(run, currency: str = "") -> None:
    console = table_console(150)
    d = run.describe()
    level = float(d["confidence"].iloc[0]) if len(d) else run.confidence
    R = run.replications
    t = Table(
        title=f"{run.scenario_name} — "
        + ngettext("{n} replication, seed {seed}", "{n} replications, seed {seed}", R).format(
            n=R, seed=run.seed
        )
    )
    t.add_column(_("metric"))
    t.add_column(_("mean"), justify="right")
    t.add_column(_("{level} CI of mean (t)").format(level=_pct(level)), justify="right")
    labels = {
        "fill_rate": _("fill rate (overall, 0–1)"),
        "unmet": _("unmet demand (units)"),
        "nadir": _("nadir of daily performance (0–1)"),
        "resilience_loss": _("resilience loss (lost days)"),
        "resilience_index": _("resilience index (0–1)"),
        "cost_total": _("realised policy cost over the horizon ({currency})").format(
            currency=currency or "?"
        ),
    }
    for key, label in labels.items():
        if key not in d.index:
            continue
        row = d.loc[key]
        fmt = (lambda x: format_money(x)) if key == "cost_total" else _g
        ci = "—" if R < 2 else f"{fmt(row['ci_low'])} … {fmt(row['ci_high'])}"
        t.add_row(label, fmt(row["mean"]), ci)
    console.print(fit(t, console))

    ms = run.market_summary
    if len(ms):
        t2 = Table(title=_("per market (mean over replications)"))
        heads = (
            _("market"),
            _("fill rate (0–1)"),
            _("unmet (market's unit)"),
            _("nadir (0–1)"),
            _("resilience loss (days)"),
        )
        for i, c in enumerate(heads):
            t2.add_column(c, justify="left" if i == 0 else "right")
        for market, g in ms.groupby("market", sort=True):
            t2.add_row(
                str(market),
                format_number(g["fill_rate"].mean(), 4),
                _g(g["unmet"].mean()),
                format_number(g["nadir"].mean(), 3),
                _g(g["resilience_loss"].mean(), 3),
            )
        console.print(fit(t2, console))

    table = run.describe_disruptions()
    if len(table):
        _print_disruptions(console, table, run.horizon_days)
    if run.marginal is not None:
        _print_marginal(console, run.describe_marginal(), level)
    from crmsim.experiment.producer import print_producer_view

    print_producer_view(run, click.echo)


def _print_disruptions(console: Console, table, horizon: int | None) -> None:
    from crmsim.report.html import DISRUPTION_KINDS

    t3 = Table(
        title=_(
            "disruptions — impact on the markets each can reach. Only events that overlap "
            "no other's impact are attributed; TTR (days) is Kaplan–Meier over them, censored "
            "at the horizon ({horizon} days), never averaged as if observed"
        ).format(horizon=horizon),
        caption=_(
            "reps: replications with the disruption in force; no effect: events of "
            "severity 0 or factor 1; overlap: events whose impact cannot be told apart from "
            "another's (their exact effect: --marginal); impacted: of the other events; "
            "recovered: of the impacted, by the horizon; mean TTR ≤ τ: the mean restricted to "
            "τ days, the longest TTR observed (a lower bound when any is censored)"
        ),
    )
    heads = (
        _("disruption"),
        _("kind"),
        _("reps"),
        _("events"),
        _("no effect"),
        _("overlap"),
        _("impacted"),
        _("recovered"),
        _("median TTR (days)"),
        _("mean TTR ≤ τ (days)"),
    )
    for i, c in enumerate(heads):
        left = i < 2
        t3.add_column(c, justify="left" if left else "right")
    for _i, r in table.iterrows():
        attributed = int(r["attributed"])
        impacted = f"{int(r['impacted'])}/{attributed}" if attributed else "—"
        if int(r["impacted"]):
            recovered = f"{format_number(100 * r['recovered_share'], 0)}%"
            median = str(r["ttr_median_text"])
            mean = f"{format_number(r['ttr_restricted_mean'], 1)}, τ={_g(r['ttr_tau'], 6)}"
        else:
            recovered = median = mean = "—"
        t3.add_row(
            str(r["disruption"]),
            _(DISRUPTION_KINDS.get(str(r["kind"]), str(r["kind"]))),
            str(int(r["replications"])),
            str(int(r["events"])),
            str(int(r["no_effect"])),
            str(int(r["overlapping"])),
            impacted,
            recovered,
            median,
            mean,
        )
    console.print(fit(t3, console))


def _print_marginal(console: Console, table, level: float) -> None:
    t4 = Table(
        title=_(
            "marginal effect of each disruption: lost units attributable = unmet with − "
            "unmet without its events, same random numbers (mean per replication, t-based "
            "{level} CI)"
        ).format(level=_pct(level)),
        caption=_(
            "elsewhere: lost at markets the disruption cannot reach (competition for "
            "shared suppliers); TTR of the difference: days until the performance difference "
            "is back within 0.05 for 7 days (Kaplan–Meier median)"
        ),
    )
    heads = (
        _("disruption"),
        _("events"),
        _("lost units"),
        _("{level} CI").format(level=_pct(level)),
        _("elsewhere (units)"),
        _("median TTR (days)"),
    )
    for i, c in enumerate(heads):
        t4.add_column(c, justify="left" if i == 0 else "right")
    for _i, r in table.iterrows():
        ci = "—" if math.isnan(r["ci_low"]) else f"{_g(r['ci_low'])} … {_g(r['ci_high'])}"
        t4.add_row(
            str(r["disruption"]),
            str(int(r["events"])),
            _g(r["lost_units"]),
            ci,
            _g(r["lost_units_elsewhere"]),
            str(r["ttr_median_text"]) if int(r["impacted"]) else "—",
        )
    console.print(fit(t4, console))
