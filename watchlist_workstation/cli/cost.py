"""`cost`: the monthly cost of ownership on AWS, by service, from the same counts the code makes.

A calculator: it needs no AWS credentials and no stack. `--from-local-run` prices what a local run
counted instead (`./cfcli.py local run --once` saves it); `--compare-prototype` puts the design this
product replaced beside it; `--prices` shows the dated price table with its sources.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from watchlist_workstation.cli.app import OneLineUsageError, cli
from watchlist_workstation.cli.context import CliError, emit_json, emit_table
from watchlist_workstation.cost import model
from watchlist_workstation.cost.bill import Bill, price
from watchlist_workstation.cost.localrun import RECORD_NAME, LocalRunError, read_run
from watchlist_workstation.cost.prices import FREE_TIERS, PRICES, PRICES_CONFIRMED, REGION, TWELVE_MONTH

DEFAULT_CHANGE_RATE = 0.01
_UNIT_LABELS = {
    "request": "req",
    "GB-second": "GB-s",
    "GB-month": "GB-mo",
    "read request unit": "RRU",
    "write request unit": "WRU",
    "unit (100 characters)": "units",
    "event": "events",
    "GB": "GB",
    "alarm-month": "alarms",
    "notification": "e-mails",
}


def money(value: float) -> str:
    sign = "-" if value < 0 else ""
    value = abs(value)
    if value == 0:
        return "$0.00"
    if value < 0.0001:
        return "<$0.0001"
    if value < 0.995:
        return f"{sign}${value:.4f}"
    return f"{sign}${value:,.2f}"


def quantity(value: float, unit: str) -> str:
    label = _UNIT_LABELS.get(unit, unit)
    if value == 0:
        text = "0"
    elif value >= 100 or value == int(value):
        text = f"{value:,.0f}"
    elif value >= 1:
        text = f"{value:,.1f}"
    else:
        text = f"{value:.3g}"
    return f"{text} {label}"


def ratio(a: float, b: float) -> float | None:
    return a / b if b else None


def _times(r: float | None) -> str:
    if r is None:
        return ""
    return f"{r:,.1f}x" if r >= 1 else f"{r:.2g}x"


def _schedule(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    try:
        model.schedule_seconds(value)
    except model.ScheduleError as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from None
    return value.strip()


# ---------------------------------------------------------------------------------------------- output


def _bill_json(bill: Bill) -> dict[str, Any]:
    return {
        "lines": [
            {
                "service": line.service,
                "item": line.item,
                "detail": line.detail,
                "price_key": line.key,
                "unit": line.unit,
                "quantity": line.quantity,
                "list_cost": line.list_cost,
                "free_tier": line.free,
                "after_free_tier": line.net,
                "new_account_offer": line.offer,
            }
            for line in bill.lines
        ],
        "services": bill.services(),
        "totals": {
            "list": bill.list_total,
            "free_tier": bill.free_total,
            "after_free_tier": bill.net_total,
            "new_account_offers": bill.offer_total,
        },
    }


def _design_json(estimate: model.Estimate, bill: Bill) -> dict[str, Any]:
    return {
        "companies": estimate.companies,
        "change_rate": estimate.change_rate,
        "schedule": estimate.schedule,
        "ticks_per_month": estimate.ticks_per_month,
        "calls_per_tick": dict(sorted(estimate.calls_per_tick.items())),
        "figures": estimate.figures,
        "notes": estimate.notes,
        **_bill_json(bill),
    }


def _assumption_rows(a: model.Assumptions, change_rate: float | None, *, measured: bool) -> list[tuple[str, str]]:
    """The assumptions an estimate rests on; `measured`: a local run measured texts, items, rows and logs."""
    rows = []
    if change_rate is not None:
        rows.append(("change rate", f"{change_rate:g} of the texts new each tick (--change-rate)"))
    if not measured:
        rows += [
            ("text length", f"{a.text_chars:,} characters per document (--text-chars)"),
            ("table item", f"{a.item_bytes:,} bytes per company with its state (--item-bytes)"),
            ("result row", f"text + {a.result_row_bytes} bytes of CSV per analysed company"),
        ]
    rows += [
        ("results kept", f"the bucket holds {a.results_months} months of results (--results-months)"),
        (
            "function time",
            "from assumed round trips (watchlist_workstation/cost/model.py), see the seconds below "
            "(--producer-seconds, "
            "--consumer-seconds)",
        ),
    ]
    if not measured:
        rows += [
            (
                "log volume",
                f"{a.log_bytes_per_invocation} B per invocation, {a.log_bytes_per_analysed} B per analysed and "
                f"{a.log_bytes_per_unchanged} B per unchanged company, {a.log_bytes_per_results_object} B per "
                "results object",
            ),
            ("idle polling", f"{a.idle_pollers} Lambda pollers long-polling {a.idle_poll_seconds} s each, all month"),
        ]
    rows.append(("alarm traffic", f"{a.alarm_notifications} alarm notifications (SNS publish + e-mail) a month"))
    return rows


def _echo_fields(rows: list[tuple[str, str]], indent: str = "  ") -> None:
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        click.echo(f"{indent}{key:<{width}}  {value}")


def _echo_header(title: str, estimate: model.Estimate) -> None:
    click.echo(title)
    click.echo(
        f"Schedule: {estimate.schedule} = {estimate.ticks_per_month:,.0f} ticks a month "
        f"({model.HOURS_PER_MONTH} h). Prices: {REGION} list prices confirmed {PRICES_CONFIRMED} "
        "(--prices lists them with their sources)."
    )


def _echo_lines(bill: Bill) -> None:
    rows = [
        {
            "service": line.service,
            "item": line.item,
            "detail": line.detail,
            "quantity/month": quantity(line.quantity, line.unit),
            "list cost": money(line.list_cost),
            "free tier": money(-line.free) if line.free else "",
            "after free tier": money(line.net),
        }
        for line in bill.lines
    ]
    rows.append(
        {
            "service": "TOTAL",
            "list cost": money(bill.list_total),
            "free tier": money(-bill.free_total),
            "after free tier": money(bill.net_total),
        }
    )
    emit_table(rows, ["service", "item", "detail", "quantity/month", "list cost", "free tier", "after free tier"])


def _echo_offers(bill: Bill) -> None:
    if bill.offer_total <= 0:
        return
    offers = ", ".join(f.description for f in FREE_TIERS if f.kind == TWELVE_MONTH)
    click.echo(
        f"Not deducted: 12-month offers of accounts created before 2025-07-15, in their first year "
        f"({offers}) would take off {money(bill.offer_total)} more."
    )


def _echo_footer(estimate: model.Estimate, a: model.Assumptions, change_rate: float | None) -> None:
    click.echo("Free tier: only always-free offers are deducted; the allowance is per account, shared with")
    click.echo("everything else the account runs.")
    click.echo("Assumptions (the code cannot know these):")
    _echo_fields(_assumption_rows(a, change_rate, measured=estimate.design == model.LOCAL_RUN))
    if estimate.figures:
        click.echo("Figures used:")
        _echo_fields([(k, f"{v:g}") for k, v in estimate.figures.items()])
    for line in estimate.notes:
        click.echo(f"Note: {line}")
    click.echo(f"Not modelled: {'; '.join(model.NOT_MODELLED)}.")


def _echo_compare(ours: model.Estimate, ours_bill: Bill, theirs: model.Estimate, theirs_bill: Bill) -> None:
    calls = sorted(set(ours.calls_per_tick) | set(theirs.calls_per_tick))
    click.echo("")
    click.echo("AWS calls per tick:")
    emit_table(
        [
            {
                "operation": op,
                "this design": f"{ours.calls_per_tick.get(op, 0):,.1f}",
                "prototype": f"{theirs.calls_per_tick.get(op, 0):,.1f}",
            }
            for op in calls
        ],
        ["operation", "this design", "prototype"],
    )
    click.echo("")
    click.echo("Monthly cost by service:")
    ours_services, theirs_services = ours_bill.services(), theirs_bill.services()
    rows = []
    for service in dict.fromkeys([*ours_services, *theirs_services]):
        a = ours_services.get(service, {"list": 0.0, "net": 0.0})
        b = theirs_services.get(service, {"list": 0.0, "net": 0.0})
        r = ratio(b["list"], a["list"])
        rows.append(
            {
                "service": service,
                "this design": money(a["list"]),
                "after free tier": money(a["net"]),
                "prototype": money(b["list"]),
                "prototype after free tier": money(b["net"]),
                "prototype/this": _times(r),
            }
        )
    list_ratio = ratio(theirs_bill.list_total, ours_bill.list_total)
    net_ratio = ratio(theirs_bill.net_total, ours_bill.net_total)
    rows.append(
        {
            "service": "TOTAL",
            "this design": money(ours_bill.list_total),
            "after free tier": money(ours_bill.net_total),
            "prototype": money(theirs_bill.list_total),
            "prototype after free tier": money(theirs_bill.net_total),
            "prototype/this": _times(list_ratio),
        }
    )
    emit_table(
        rows,
        ["service", "this design", "after free tier", "prototype", "prototype after free tier", "prototype/this"],
    )
    click.echo("")
    click.echo(
        f"Monthly total: this design {money(ours_bill.list_total)} ({money(ours_bill.net_total)} after the "
        f"always-free tier), the prototype {money(theirs_bill.list_total)} ({money(theirs_bill.net_total)}): "
        + (f"the prototype costs {list_ratio:,.1f}x as much" if list_ratio else "no ratio (this design costs $0)")
        + (f" ({net_ratio:,.1f}x after the free tier)." if net_ratio else ".")
    )


def _echo_prices(as_json: bool) -> None:
    free = {key: f for f in FREE_TIERS for key in f.keys}
    if as_json:
        emit_json(
            {
                "region": REGION,
                "confirmed": PRICES_CONFIRMED,
                "prices": [
                    {
                        "key": p.key,
                        "service": p.service,
                        "item": p.item,
                        "unit": p.unit,
                        "tiers": [{"up_to": t.up_to, "price": t.price} for t in p.tiers],
                        "source": p.source,
                        "checked": p.checked,
                        "free_tier": (
                            {
                                "allowance": free[p.key].allowance,
                                "kind": free[p.key].kind,
                                "shared_by": free[p.key].keys,
                            }
                            if p.key in free
                            else None
                        ),
                    }
                    for p in PRICES.values()
                ],
            }
        )
        return
    click.echo(f"Prices: {REGION}, USD, confirmed {PRICES_CONFIRMED}")
    emit_table(
        [
            {
                "service": p.service,
                "item": p.item,
                "price": p.display(),
                "free tier": f"{free[p.key].description} ({free[p.key].kind})" if p.key in free else "",
                "source": p.source,
            }
            for p in PRICES.values()
        ],
        ["service", "item", "price", "free tier", "source"],
    )


# ---------------------------------------------------------------------------------------------- command


@cli.command("cost")
@click.option("--companies", type=click.IntRange(min=0), help="Companies on the watchlist.")
@click.option(
    "--schedule",
    callback=_schedule,
    help="rate(N minute|minutes|hour|hours|day|days); default: the template's (cron is not supported).",
)
@click.option(
    "--change-rate",
    type=click.FloatRange(0, 1),
    help=f"Fraction of the texts that changed since the previous tick (default {DEFAULT_CHANGE_RATE}).",
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
    change_rate: float | None,
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
        _echo_prices(as_json)
        return
    if run_path is not None and companies is not None:
        raise OneLineUsageError(
            "--companies and --from-local-run exclude each other (a run has its own count)", click.get_current_context()
        )
    if run_path is not None and change_rate is not None:
        raise OneLineUsageError(
            "--change-rate does not apply to --from-local-run (the run counted what changed)",
            click.get_current_context(),
        )
    if run_path is None and companies is None:
        raise OneLineUsageError(
            "give --companies N, or --from-local-run to price a local run", click.get_current_context()
        )
    assumptions = model.Assumptions().replace(
        text_chars=text_chars,
        item_bytes=item_bytes,
        results_months=results_months,
        producer_seconds=producer_seconds,
        consumer_seconds=consumer_seconds,
    )
    deployment = model.deployment_from_template()

    if run_path is not None:
        _cost_of_local_run(run_path, deployment, assumptions, schedule, compare_prototype, as_json)
        return

    rate = DEFAULT_CHANGE_RATE if change_rate is None else change_rate
    ours = model.pipeline(companies, rate, deployment, assumptions, schedule)
    ours_bill = price(ours.monthly())
    theirs = model.prototype(companies, deployment, assumptions, schedule) if compare_prototype else None
    theirs_bill = price(theirs.monthly()) if theirs else None
    if as_json:
        designs = {"pipeline": _design_json(ours, ours_bill)}
        out: dict[str, Any] = {
            "prices": {"region": REGION, "confirmed": PRICES_CONFIRMED},
            "hours_per_month": model.HOURS_PER_MONTH,
            "not_modelled": list(model.NOT_MODELLED),
            "assumptions": dict(vars(assumptions)),
            "designs": designs,
        }
        if theirs:
            designs["prototype"] = _design_json(theirs, theirs_bill)
            out["ratio"] = {
                "list": ratio(theirs_bill.list_total, ours_bill.list_total),
                "after_free_tier": ratio(theirs_bill.net_total, ours_bill.net_total),
            }
        emit_json(out)
        return
    _echo_header(f"Monthly cost of ownership on AWS: {companies:,} companies, change rate {rate:g} per tick.", ours)
    click.echo("")
    _echo_lines(ours_bill)
    _echo_offers(ours_bill)
    if theirs:
        _echo_compare(ours, ours_bill, theirs, theirs_bill)
        for line in theirs.notes:
            click.echo(f"Note (prototype): {line}")
    click.echo("")
    _echo_footer(ours, assumptions, rate)


def _cost_of_local_run(
    run_path: str,
    deployment: model.Deployment,
    assumptions: model.Assumptions,
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
        estimate = model.from_local_run(run, deployment, assumptions, schedule)
    except model.ScheduleError as exc:
        raise CliError(f"{path}: {exc}") from None
    bill = price(estimate.monthly())
    one_tick = price(dict(estimate.per_tick)).list_total
    theirs = (
        model.prototype(run.companies_queued, deployment, assumptions, estimate.schedule) if compare_prototype else None
    )
    theirs_bill = price(theirs.monthly()) if theirs else None
    if as_json:
        out: dict[str, Any] = {
            "prices": {"region": REGION, "confirmed": PRICES_CONFIRMED},
            "hours_per_month": model.HOURS_PER_MONTH,
            "not_modelled": list(model.NOT_MODELLED),
            "run": {"path": str(path), **vars(run)},
            "assumptions": dict(vars(assumptions)),
            "designs": {"local_run": {**_design_json(estimate, bill), "per_tick_list_cost": one_tick}},
        }
        if theirs:
            out["designs"]["prototype"] = _design_json(theirs, theirs_bill)
            out["ratio"] = {
                "list": ratio(theirs_bill.list_total, bill.list_total),
                "after_free_tier": ratio(theirs_bill.net_total, bill.net_total),
            }
        emit_json(out)
        return
    documents = run.comprehend.get("documents", 0)
    _echo_header(
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
    _echo_lines(bill)
    _echo_offers(bill)
    if theirs:
        _echo_compare(estimate, bill, theirs, theirs_bill)
    click.echo("")
    _echo_footer(estimate, assumptions, None)
