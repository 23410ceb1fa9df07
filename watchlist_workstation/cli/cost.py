"""`cost`: the monthly cost of ownership on AWS, by service, from the same counts the code makes.

A calculator: it needs no AWS credentials and no stack. `--from-local-run` prices what a local run
counted instead (`./cfcli.py local run --once` saves it); `--compare-prototype` puts the design this
product replaced beside it; `--prices` shows the dated price table with its sources.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from lib.schedule import ScheduleError
from watchlist_workstation.cli.app import OneLineUsageError, cli
from watchlist_workstation.cli.context import CliError, emit_json, emit_table
from watchlist_workstation.cli.cost_report import (
    design_json,
    echo_compare,
    echo_footer,
    echo_header,
    echo_lines,
    echo_offers,
    echo_prices,
    money,
    ratio,
)
from watchlist_workstation.cost.assumptions import DEFAULT_CHANGE_RATE, DEFAULT_REVISION_RATE, Assumptions
from watchlist_workstation.cost.bill import price
from watchlist_workstation.cost.deployment import Deployment, deployment_from_template
from watchlist_workstation.cost.designs import pipeline, prototype
from watchlist_workstation.cost.estimate import NOT_MODELLED
from watchlist_workstation.cost.from_run import from_local_run
from watchlist_workstation.cost.localrun import RECORD_NAME, LocalRunError, read_run
from watchlist_workstation.cost.month import HOURS_PER_MONTH, schedule_seconds
from watchlist_workstation.cost.prices import PRICES_CONFIRMED, REGION


def _schedule(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    try:
        schedule_seconds(value)
    except ScheduleError as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from None
    return value.strip()


# ---------------------------------------------------------------------------------------------- command


@cli.command("cost")
@click.option("--companies", type=click.IntRange(min=0), help="Companies on the watchlist.")
@click.option(
    "--schedule",
    callback=_schedule,
    help="rate(N minute|minutes|hour|hours|day|days); default: the template's (cron is not supported).",
)
@click.option(
    "--revision-rate",
    type=click.FloatRange(0, 1),
    help=f"Share of the pages that get a new revision each tick (default {DEFAULT_REVISION_RATE}).",
)
@click.option(
    "--change-rate",
    type=click.FloatRange(0, 1),
    help=f"Share of the intro texts that change each tick, at most the revision rate (default {DEFAULT_CHANGE_RATE}).",
)
@click.option(
    "--worst-case",
    is_flag=True,
    help="Every check finds a new revision and a new intro (revision and change rate 1).",
)
@click.option(
    "--requests-per-minute",
    type=click.IntRange(min=10),
    help="Wikipedia requests a minute the stack may send (default: the template's WikipediaRequestsPerMinute).",
)
@click.option("--compare-prototype", is_flag=True, help="Put the prototype's design beside this one.")
@click.option(
    "--from-local-run",
    "run_path",
    is_flag=False,
    flag_value="",
    default=None,
    metavar="[PATH]",
    help=f"Price what './cfcli.py local run --once' counted (default: the local state dir's {RECORD_NAME}).",
)
@click.option("--text-chars", type=click.IntRange(min=1), help="Average characters of a text sent to Comprehend.")
@click.option("--item-bytes", type=click.IntRange(min=1), help="Average size of a company's table item.")
@click.option("--results-months", type=click.IntRange(min=1), help="Months of results the bucket holds.")
@click.option("--producer-seconds", type=click.FloatRange(min=0), help="Producer duration per invocation.")
@click.option("--consumer-seconds", type=click.FloatRange(min=0), help="Consumer duration per invocation.")
@click.option("--prices", "show_prices", is_flag=True, help="Show the price table and its sources, then exit.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable JSON on stdout.")
def cost(
    companies: int | None,
    schedule: str | None,
    revision_rate: float | None,
    change_rate: float | None,
    worst_case: bool,
    requests_per_minute: int | None,
    compare_prototype: bool,
    run_path: str | None,
    text_chars: int | None,
    item_bytes: int | None,
    results_months: int | None,
    producer_seconds: float | None,
    consumer_seconds: float | None,
    show_prices: bool,
    as_json: bool,
) -> None:
    """Estimate the monthly cost of ownership on AWS, by service, free tier shown apart.

    Counts come from the code's batch sizes and the template's settings; what the code cannot
    know (text length, durations, log volume) is an assumption the output names. Example:
    './cfcli.py cost --companies 1000 --compare-prototype'.
    """
    if show_prices:
        echo_prices(as_json)
        return
    if run_path is not None and companies is not None:
        raise OneLineUsageError(
            "--companies and --from-local-run exclude each other (a run has its own count)", click.get_current_context()
        )
    ctx = click.get_current_context()
    if run_path is not None and (revision_rate is not None or change_rate is not None or worst_case):
        raise OneLineUsageError(
            "--revision-rate, --change-rate and --worst-case do not apply to --from-local-run (the run counted "
            "what changed)",
            ctx,
        )
    if run_path is None and companies is None:
        raise OneLineUsageError("give --companies N, or --from-local-run to price a local run", ctx)
    if worst_case and (revision_rate is not None or change_rate is not None):
        raise OneLineUsageError("--worst-case sets both rates to 1; leave out --revision-rate and --change-rate", ctx)
    revisions = 1.0 if worst_case else DEFAULT_REVISION_RATE if revision_rate is None else revision_rate
    changes = 1.0 if worst_case else DEFAULT_CHANGE_RATE if change_rate is None else change_rate
    if changes > revisions:
        raise OneLineUsageError(
            f"--change-rate ({changes:g}) exceeds --revision-rate ({revisions:g}): an intro changes only with a "
            "new revision",
            ctx,
        )
    assumptions = Assumptions().replace(
        text_chars=text_chars,
        item_bytes=item_bytes,
        results_months=results_months,
        producer_seconds=producer_seconds,
        consumer_seconds=consumer_seconds,
    )
    deployment = deployment_from_template()
    if requests_per_minute is not None:
        if requests_per_minute <= deployment.max_concurrency:
            raise OneLineUsageError(
                f"--requests-per-minute must exceed the consumer's {deployment.max_concurrency} instances", ctx
            )
        deployment = replace(deployment, requests_per_minute=requests_per_minute)

    if run_path is not None:
        _cost_of_local_run(run_path, deployment, assumptions, schedule, compare_prototype, as_json)
        return

    ours = pipeline(companies, deployment, assumptions, revision_rate=revisions, change_rate=changes, schedule=schedule)
    ours_bill = price(ours.monthly())
    theirs = prototype(companies, deployment, assumptions, schedule) if compare_prototype else None
    theirs_bill = price(theirs.monthly()) if theirs else None
    if as_json:
        designs = {"pipeline": design_json(ours, ours_bill)}
        out: dict[str, Any] = {
            "prices": {"region": REGION, "confirmed": PRICES_CONFIRMED},
            "hours_per_month": HOURS_PER_MONTH,
            "not_modelled": list(NOT_MODELLED),
            "assumptions": dict(vars(assumptions)),
            "designs": designs,
        }
        if theirs:
            designs["prototype"] = design_json(theirs, theirs_bill)
            out["ratio"] = {
                "list": ratio(theirs_bill.list_total, ours_bill.list_total),
                "after_free_tier": ratio(theirs_bill.net_total, ours_bill.net_total),
            }
        emit_json(out)
        return
    rates = (
        "worst case: every check finds a new revision and a new intro"
        if worst_case
        else f"revision rate {revisions:g} and change rate {changes:g} per tick"
    )
    echo_header(f"Monthly cost of ownership on AWS: {companies:,} companies, {rates}.", ours)
    click.echo("")
    echo_lines(ours_bill)
    echo_offers(ours_bill)
    if theirs:
        echo_compare(ours, ours_bill, theirs, theirs_bill)
        for line in theirs.notes:
            click.echo(f"Note (prototype): {line}")
    click.echo("")
    echo_footer(ours, assumptions)


def _cost_of_local_run(
    run_path: str,
    deployment: Deployment,
    assumptions: Assumptions,
    schedule: str | None,
    compare_prototype: bool,
    as_json: bool,
) -> None:
    if run_path:
        path = Path(run_path)
    else:
        from watchlist_workstation.local.stack import default_state_dir

        path = default_state_dir() / RECORD_NAME
    try:
        run = read_run(path)
    except LocalRunError as exc:
        raise CliError(str(exc)) from None
    try:
        estimate = from_local_run(run, deployment, assumptions, schedule)
    except ScheduleError as exc:
        raise CliError(f"{path}: {exc}") from None
    bill = price(estimate.monthly())
    one_tick = price(dict(estimate.per_tick)).list_total
    theirs = prototype(run.companies_queued, deployment, assumptions, estimate.schedule) if compare_prototype else None
    theirs_bill = price(theirs.monthly()) if theirs else None
    if as_json:
        out: dict[str, Any] = {
            "prices": {"region": REGION, "confirmed": PRICES_CONFIRMED},
            "hours_per_month": HOURS_PER_MONTH,
            "not_modelled": list(NOT_MODELLED),
            "run": {"path": str(path), **vars(run)},
            "assumptions": dict(vars(assumptions)),
            "designs": {"local_run": {**design_json(estimate, bill), "per_tick_list_cost": one_tick}},
        }
        if theirs:
            out["designs"]["prototype"] = design_json(theirs, theirs_bill)
            out["ratio"] = {
                "list": ratio(theirs_bill.list_total, bill.list_total),
                "after_free_tier": ratio(theirs_bill.net_total, bill.net_total),
            }
        emit_json(out)
        return
    documents = run.comprehend.get("documents", 0)
    echo_header(
        f"Local run of {run.recorded_at} ({path}): {run.companies_queued:,} companies queued, {run.batches} "
        f"batches, {documents:,} documents to Comprehend ({run.comprehend.get('billed_units', 0):,} units), "
        "priced as if every tick of the month did the same.",
        estimate,
    )
    click.echo("")
    click.echo("AWS calls the run counted (one tick):")
    emit_table(
        [{"operation": op, "calls": f"{n:,.0f}"} for op, n in sorted(estimate.calls_per_tick.items())],
        ["operation", "calls"],
    )
    click.echo(f"One tick at list prices: {money(one_tick)} (monthly storage, alarms and free tier aside).")
    click.echo("")
    echo_lines(bill)
    echo_offers(bill)
    if theirs:
        echo_compare(estimate, bill, theirs, theirs_bill)
    click.echo("")
    echo_footer(estimate, assumptions)
