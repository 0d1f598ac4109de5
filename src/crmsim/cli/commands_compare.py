"""``crmsim compare``: policy options against the baseline, with confidence and cost."""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

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
from crmsim.i18n import _, format_number, language

__all__ = ["compare_command"]


class _RateColumn(ProgressColumn):
    """Replications per second."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("" if speed is None else f"{speed:.1f} rep/s")


@cli.command("compare")
@click.argument("scenario_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "-p",
    "--policies",
    default=None,
    metavar="A,B,A+B",
    help="Options to compare, comma-separated (a combination is a+b). Default: the "
    "scenario's experiment.compare. The baseline is always included.",
)
@click.option(
    "-r",
    "--replications",
    type=click.IntRange(min=1),
    default=None,
    help="Replications per option (default: experiment.replications).",
)
@click.option(
    "-s",
    "--seed",
    type=click.IntRange(min=0),
    default=None,
    help="Root seed, the same for every option (default: experiment.seed).",
)
@WORKERS_OPTION
@click.option(
    "-o",
    "--out",
    "out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="New directory for the tables (Parquet and CSV), data dictionary and manifest.",
)
@click.option("--overwrite", is_flag=True, help="Replace crmsim results already in --out.")
@click.option(
    "--resume",
    is_flag=True,
    help="Finish the interrupted compare in --out: run only the batches not yet on disk "
    "(same scenario, seed, options and settings; a different experiment is refused).",
)
@SCHEDULER_OPTION
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=None,
    help="Replications per batch written to --out/parts as it completes (default 250).",
)
@click.option(
    "--target-halfwidth",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    metavar="W",
    help="Add batches of replications until every paired fill-rate difference's "
    "interval (per market, at experiment.confidence) has half-width at most W "
    "(a fraction: 0.005 = 0.5 pp), or --max-replications is reached.",
)
@click.option(
    "--max-replications",
    type=click.IntRange(min=1),
    default=None,
    help="Cap of replications per option with --target-halfwidth (default 10000).",
)
@click.option(
    "--flow-replications",
    type=click.IntRange(min=1),
    default=50,
    show_default=True,
    help="Replications whose realised flows feed the scorecard and CRMA card.",
)
@click.option(
    "--home",
    default=None,
    metavar="REGION[,COUNTRY...]",
    help="Buyer region of the CRMA card (default: the scenario's home).",
)
@LANG_OPTION
def compare_command(
    scenario_file: Path,
    policies: str | None,
    replications: int | None,
    seed: int | None,
    workers: int,
    out: Path | None,
    overwrite: bool,
    flow_replications: int,
    home: str | None,
    resume: bool = False,
    scheduler: str | None = None,
    batch_size: int | None = None,
    target_halfwidth: float | None = None,
    max_replications: int | None = None,
    lang: str | None = None,
) -> None:
    """Compare the policy options of SCENARIO_FILE with the baseline.

    Every option runs over the same replications (common random numbers). Per market
    (and over all markets only when they share a unit) it prints the paired change in
    fill rate, unmet demand, nadir and resilience loss with a t-based interval at
    experiment.confidence, the share of replications in which the option is better, its
    realised cost in the scenario's currency and the cost per percentage point of fill
    rate gained and per unit of shortage avoided ("–" when the gain is not significant);
    then a ranking by multiple comparisons with the best (MCB), the weighted scorecard
    and the Critical Raw Materials Act benchmark card.

    With --out, the folder is checked before anything is simulated, and each batch of
    replications is written to it as it completes; after Ctrl-C, a killed worker or a
    crash, --resume runs only what is missing and gives the same tables. --scheduler
    runs the same work on a Dask cluster; --target-halfwidth adds replications until
    the intervals are that narrow.
    """
    from crmsim.experiment.io import OutputError, check_output

    if resume and out is None:
        click.echo("--resume needs --out: the folder of the run to finish", err=True)
        raise SystemExit(1)
    if out is not None and not resume:
        try:
            check_output(out, overwrite=overwrite)
        except OutputError as exc:
            click.echo(f"--out {exc}", err=True)
            raise SystemExit(1) from None
    try:
        with language(lang):
            _compare(
                scenario_file, policies, replications, seed, workers, out, overwrite,
                flow_replications, home, resume, scheduler, batch_size, target_halfwidth,
                max_replications,
            )  # fmt: skip
    except BaseException as exc:
        if not ctrl_c(exc):
            raise
        what = ""
        if out is not None:
            n = len(list((out / "parts").glob("variant=*/batch-*"))) if out.is_dir() else 0
            what = (
                f": {n} completed batch{'es' if n != 1 else ''} kept in {out}/parts; "
                f"finish with: crmsim compare {scenario_file} --out {out} --resume "
                "(and the same options)"
            )
        click.echo(f"crmsim compare: interrupted{what}", err=True)
        raise SystemExit(EXIT_INTERRUPTED) from None


def _compare(
    scenario_file: Path,
    policies: str | None,
    replications: int | None,
    seed: int | None,
    workers: int,
    out: Path | None,
    overwrite: bool,
    flow_replications: int,
    home: str | None,
    resume: bool,
    scheduler: str | None,
    batch_size: int | None,
    target_halfwidth: float | None,
    max_replications: int | None,
) -> None:
    from crmsim.experiment.compare import (
        ReplicationError,
        ResumeError,
        write_comparison,
    )
    from crmsim.experiment.io import OutputError
    from crmsim.experiment.pool import WorkerError, make_executor
    from crmsim.policy import PolicyError

    scenario = load_or_exit(scenario_file)
    homes = [h.strip() for h in home.split(",") if h.strip()] if home else None
    if homes:
        from crmsim.scenario.countries import check_country

        for i, h in enumerate(homes):
            if h in scenario.regions:
                continue
            try:
                homes[i] = check_country(h)
            except ValueError as exc:
                regions = ", ".join(sorted(scenario.regions)) or "none defined"
                click.echo(
                    f"--home {home}: {h!r} is not a region of the scenario ({regions}); {exc}",
                    err=True,
                )
                raise SystemExit(1) from None
    try:
        from crmsim.experiment.compare import variants_of

        n_variants = len(variants_of(scenario, policies))
    except PolicyError as exc:
        given = policies or ",".join(scenario.experiment.compare)
        click.echo(f"--policies {given}: {exc}", err=True)
        raise SystemExit(1) from None
    R = replications if replications is not None else scenario.experiment.replications
    total = None if target_halfwidth is not None else n_variants * R
    try:
        executor, capped = make_executor(
            workers=None if workers == 0 else workers, scheduler=scheduler
        )
    except (RuntimeError, ValueError, OSError) as exc:
        click.echo(f"--scheduler {scheduler}: {exc}", err=True)
        raise SystemExit(1) from None
    if capped:
        click.echo(f"warning: --workers {workers}: {capped}", err=True)
    console = Console(stderr=True)
    try:
        cmp = _run(
            scenario, policies, R, seed, executor, flow_replications, homes, out, resume,
            batch_size, target_halfwidth, max_replications, n_variants, total, console,
        )  # fmt: skip
    except ResumeError as exc:
        click.echo(f"--resume: {exc}", err=True)
        raise SystemExit(1) from None
    except (ReplicationError, WorkerError) as exc:
        kept = f"; the completed batches are kept in {out}/parts (--resume)" if out else ""
        click.echo(f"crmsim compare: {exc}{kept}", err=True)
        raise SystemExit(1) from None
    finally:
        executor.close()
    run = cmp.run
    if target_halfwidth is not None:
        reached = run.achieved_halfwidth
        verdict = "reached" if reached is not None and reached <= target_halfwidth else (
            f"NOT reached (cap of {run.max_replications} replications)"
        )
        click.echo(
            f"target half-width {target_halfwidth:g} {verdict}: {run.n_replications} "
            f"replications per option needed (largest half-width {reached:.5f})"
        )
    _print(cmp)
    if out is not None:
        try:
            write_comparison(
                cmp,
                out,
                scenario_file=scenario_file,
                overwrite=True,
                options={
                    "policies": policies,
                    "replications": run.n_replications,
                    "seed": run.seed,
                    "workers": workers,
                    "scheduler": scheduler,
                    "flow_replications": flow_replications,
                    "home": home,
                    "batch_size": run.batch_size,
                    "target_halfwidth": target_halfwidth,
                    "max_replications": max_replications,
                    "resume": resume,
                },
            )
        except (OutputError, OSError) as exc:
            click.echo(f"crmsim compare: {exc}", err=True)
            raise SystemExit(1) from None
        click.echo(f"results written to {out}/ (manifest.json lists the files)")


def _run(
    scenario: Any,
    policies: str | None,
    R: int,
    seed: int | None,
    executor: Any,
    flow_replications: int,
    homes: list[str] | None,
    out: Path | None,
    resume: bool,
    batch_size: int | None,
    target_halfwidth: float | None,
    max_replications: int | None,
    n_variants: int,
    total: int | None,
    console: Console,
) -> Any:
    from crmsim.experiment.compare import compare

    # auto_refresh=False: no refresh thread, so worker processes are forked from a
    # process with no Python threads running.
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        _RateColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        auto_refresh=False,
        disable=not sys.stderr.isatty(),
    ) as bar:
        what = f"{R} replications" if target_halfwidth is None else "replications"
        task = bar.add_task(f"{n_variants} variants × {what}", total=total)
        bar.refresh()

        def advance(n: int) -> None:
            bar.advance(task, n)
            bar.refresh()

        return compare(
            scenario,
            policies,
            R,
            seed,
            flow_replications=flow_replications,
            home=homes,
            progress=advance,
            executor=executor,
            out=out,
            resume=resume,
            batch_size=batch_size,
            target_halfwidth=target_halfwidth,
            max_replications=max_replications,
            overwrite=True,  # (--out was checked, with --overwrite, before this)
        )


# --------------------------------------------------------------------------- formatting


def money(x: float) -> str:
    """A cost for people: thousands separators, no scientific notation, "–" if undefined.

    Examples
    --------
    >>> money(1234567.8), money(12.345), money(float("nan"))
    ('1,234,568', '12.35', '–')
    """
    if x is None or not math.isfinite(x):
        return "–"
    return format_number(x, 0 if abs(x) >= 100 else 2)


def _signed(x: float, scale: float = 1.0, digits: int = 2) -> str:
    if not math.isfinite(x):
        return "–"
    return format_number(x * scale, digits, signed=True)


def _ci(row: Any, scale: float, digits: int) -> str:
    mid = _signed(row["diff_mean"], scale, digits)
    if not (math.isfinite(row["diff_low"]) and math.isfinite(row["diff_high"])):
        return mid
    low = _signed(row["diff_low"], scale, digits)
    high = _signed(row["diff_high"], scale, digits)
    return f"{mid} [{low}, {high}]"


def _share(x: float) -> str:
    return "–" if not math.isfinite(x) else f"{format_number(100 * x, 1)} %"


def _print(cmp: Any) -> None:
    from crmsim.report.html import SCORE_GROUPS, _rule

    run = cmp.run
    console = table_console(200)
    cur = cmp.currency
    level = round(100 * float(cmp.confidence), 6)
    conf = f"{format_number(level, 0 if level.is_integer() else 1)} %"
    console.print(
        f"[bold]{run.scenario.name}[/bold]: "
        + _(
            "{k} option(s) against the baseline, {n} replications, seed {seed}, common random "
            "numbers; intervals at {conf}; costs in {currency} over the {days}-day horizon"
        ).format(
            k=len(run.variants) - 1, n=run.n_replications, seed=run.seed, conf=conf,
            currency=cur, days=run.scenario.horizon_days,
        )
    )  # fmt: skip
    if run.shared_unit is None:
        console.print(
            _(
                "markets are in different units, so there is no all-markets total; each "
                "market is reported on its own"
            )
        )
    t, costs = cmp.table, cmp.costs
    if len(run.variants) == 1:
        console.print(
            _(
                "only the baseline: nothing to compare (name options with --policies or in "
                "experiment.compare); its scorecard and CRMA card follow"
            )
        )
    for market in run.markets if len(run.variants) > 1 else []:
        unit = t.loc[t.market == market, "unit"].iloc[0] if len(t) else ""
        tm = t[t.market == market]
        if len(tm) and bool((tm["p_tie"] == 1.0).all()):
            console.print(
                _(
                    "{market} ({unit}): no option changes anything here (every metric is "
                    "identical to the baseline's in every replication)"
                ).format(market=market, unit=unit)
            )
            continue
        tab = Table(
            title=_("{market} ({unit}) — change against the baseline [{conf} CI]").format(
                market=market, unit=unit, conf=conf
            )
        )
        for i, col in enumerate(
            (
                _("option"),
                _("fill rate Δ pp"),
                _("better / tie"),
                _("unmet Δ {unit}").format(unit=unit),
                _("nadir Δ pp"),
                _("res. loss Δ days"),
                _("cost {currency}").format(currency=cur),
                _("{currency} per pp").format(currency=cur),
                _("{currency} per {unit} avoided").format(currency=cur, unit=unit),
            )
        ):
            tab.add_column(col, justify="left" if i == 0 else "right")
        for option in run.variants[1:]:
            sel = t[(t.market == market) & (t.option == option)].set_index("metric")
            fr = sel.loc["fill_rate"]
            c = costs[(costs.market == market) & (costs.option == option)].iloc[0]
            tab.add_row(
                option,
                _ci(fr, 100, 2),
                f"{_share(fr['p_better'])} / {_share(fr['p_tie'])}",
                _ci(sel.loc["unmet"], 1, 0),
                _ci(sel.loc["nadir"], 100, 1),
                _ci(sel.loc["resilience_loss"], 1, 1),
                money(c["cost_mean"]),
                money(c["cost_per_pp"]),
                money(c["cost_per_unit_avoided"]),
            )
        console.print(fit(tab, console))
    if len(run.variants) > 1:
        console.print(
            _(
                "“–” in a cost ratio: undefined, because the gain's interval includes 0 or "
                "the gain is not positive. The whole cost of an option is set against each "
                "market."
            )
        )
    rk = cmp.ranking
    if len(rk) and len(run.variants) > 1:
        tab = Table(
            title=_(
                "ranking by fill rate — multiple comparisons with the best (Hsu; paired "
                "Bonferroni MCB), joint confidence {conf}"
            ).format(conf=conf)
        )
        for i, col in enumerate(
            (_("market"), _("rank"), _("variant"), _("mean fill rate (0–1)"),
             _("MCB interval (pp)"), _("verdict"), _("best in"))
        ):  # fmt: skip
            tab.add_column(col, justify="right" if i in (1, 3) else "left")
        for market, g in rk.groupby("market", sort=False):
            for _i, row in g.iterrows():
                verdict = (
                    _("clearly best")
                    if row["clearly_best"]
                    else (_("possibly best") if row["possibly_best"] else _("not best"))
                )
                tab.add_row(
                    str(market) if row["rank"] == 1 else "",
                    str(row["rank"]),
                    str(row["variant"]),
                    format_number(row["mean_fill_rate"], 4),
                    f"[{_signed(row['mcb_low'], 100)}, {_signed(row['mcb_high'], 100)}]",
                    verdict,
                    _share(row["share_best"]),
                )
        console.print(fit(tab, console))
    for w in cmp.warnings:
        console.print(f"[yellow]{_('warning')}:[/yellow] {w}")

    rec = cmp.recovery
    if len(rec) and run.shared_unit is not None:
        tab = Table(
            title=_(
                "time to recover (TTR, days, overall performance; Kaplan–Meier over all "
                "events, 0 when not impacted, censored at the horizon)"
            )
        )
        for i, col in enumerate(
            (_("disruption"), _("variant"), _("impacted"), _("recovered"), _("median (days)"),
             _("mean ≤ τ (days)"), _("τ (days)"))
        ):  # fmt: skip
            tab.add_column(col, justify="left" if i < 2 else "right")
        for _i, row in rec.iterrows():
            median = row["median_ttr"]
            tau = format_number(row["restricted_to"], 0)
            tab.add_row(
                str(row["disruption"]),
                str(row["variant"]),
                _("{impacted} of {events}").format(impacted=row["impacted"], events=row["events"]),
                _share(row["recovered_share"]),
                format_number(median, 0) if math.isfinite(median) else f"> {tau}",
                _num1(row["restricted_mean_ttr"]),
                tau,
            )
        console.print(fit(tab, console))
    elif len(rec):
        console.print(
            _(
                "times to recover: in recovery.csv with --out (not printed: they are measured "
                "on overall performance, which adds up markets in different units)"
            )
        )

    sc = cmp.scorecard
    if len(sc):
        tab = Table(
            title=_(
                "scorecard (0–1, 1 = best; weights from scoring.weights; flows of {n} "
                "replications)"
            ).format(n=run.flow_replications)
        )
        tab.add_column(_("variant"))
        groups = [g for g in sc["group"].unique() if g != "total"]
        weights = sc.drop_duplicates("group").set_index("group")["weight"]
        for g in groups:
            name = _(SCORE_GROUPS.get(g, g))
            tab.add_column(
                _("{group} (w {weight})").format(group=name, weight=format_number(weights[g], 2)),
                justify="right",
            )
        tab.add_column(_("weighted total"), justify="right")
        for v, g in sc.groupby("variant", sort=False):
            s = g.set_index("group")["score"]
            tab.add_row(str(v), *[_num(s[x]) for x in groups], _num(s["total"]))
        console.print(fit(tab, console))
        for g in groups:
            rule = sc.loc[sc.group == g, "rule"].iloc[0]
            console.print(f"  {_(SCORE_GROUPS.get(g, g))}: {_rule(rule)}")

    cr = cmp.crma
    if len(cr):
        home = cr["home"].iloc[0]
        for mat, g in cr.groupby("material", sort=False):
            unit = g["unit"].iloc[0]
            if not bool((g["consumption"] > 0).any()):
                console.print(
                    _("CRMA card — {material}: the home ({home}) consumes none of it").format(
                        material=mat, home=home
                    )
                )
                continue
            tab = Table(
                title=_(
                    "CRMA benchmarks (Regulation (EU) 2024/1252) — {material}: share of home "
                    "({home}) consumption, realised flows"
                ).format(material=mat, home=home)
            )
            tab.add_column(_("variant"))
            tab.add_column(_("consumption {unit}").format(unit=unit), justify="right")
            tab.add_column(_("extraction ≥ 10 %"), justify="right")
            tab.add_column(_("processing ≥ 40 %"), justify="right")
            tab.add_column(_("recycling ≥ 25 %"), justify="right")
            tab.add_column(_("one third country ≤ 65 %"), justify="right")
            for v, gv in g.groupby("variant", sort=False):
                s = gv.set_index("indicator")
                cells = []
                for ind in ("extraction", "processing", "recycling", "single_third_country"):
                    share, met = s.loc[ind, "share"], s.loc[ind, "met"]
                    txt = _share(share)
                    if ind == "single_third_country" and isinstance(s.loc[ind, "country"], str):
                        txt += f" {s.loc[ind, 'country']}"
                    if met is not None and not (isinstance(met, float) and math.isnan(met)):
                        txt += " ✓" if met else " ✗"
                    cells.append(txt)
                tab.add_row(str(v), money(float(s["consumption"].iloc[0])), *cells)
            console.print(fit(tab, console))
        console.print(
            _(
                "CRMA card: “–” = undefined (the home consumes none of the material, or no "
                "processor makes it); see docs/compare.md for the definitions."
            )
        )


def _num1(x: float) -> str:
    return "–" if not math.isfinite(x) else format_number(x, 1)


def _num(x: float) -> str:
    return "–" if not math.isfinite(x) else format_number(x, 3)
