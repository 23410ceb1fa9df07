"""How `cost` shows an estimate: its bill as a table or JSON, the assumptions it rests on, the comparison with
the prototype, and the price table with its sources. Amounts, quantities and ratios are written here too."""

from __future__ import annotations

from typing import Any

import click

from lib.limits import COMPREHEND_SCORED_CHARS
from watchlist_workstation.cli.context import emit_json, emit_table
from watchlist_workstation.cost.assumptions import Assumptions
from watchlist_workstation.cost.bill import Bill
from watchlist_workstation.cost.estimate import LOCAL_RUN, NOT_MODELLED, Estimate
from watchlist_workstation.cost.month import HOURS_PER_MONTH, schedule_seconds
from watchlist_workstation.cost.prices import FREE_TIERS, PRICES, PRICES_CONFIRMED, REGION, TWELVE_MONTH

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
    "metric-month": "metrics",
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


def times(r: float | None) -> str:
    if r is None:
        return ""
    return f"{r:,.1f}x" if r >= 1 else f"{r:.2g}x"


# ---------------------------------------------------------------------------------------------- JSON


def bill_json(bill: Bill) -> dict[str, Any]:
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


def design_json(estimate: Estimate, bill: Bill) -> dict[str, Any]:
    return {
        "companies": estimate.companies,
        "revision_rate": estimate.revision_rate,
        "change_rate": estimate.change_rate,
        "schedule": estimate.schedule,
        "ticks_per_month": estimate.ticks_per_month,
        "calls_per_tick": dict(sorted(estimate.calls_per_tick.items())),
        "figures": estimate.figures,
        "notes": estimate.notes,
        **bill_json(bill),
    }


# ---------------------------------------------------------------------------------------------- text


def _every(rate: float, period_seconds: int) -> str:
    hours = period_seconds / rate / 3600
    return f"{hours:,.1f} hours" if hours < 72 else f"{hours / 24:,.1f} days"


def rate_rows(estimate: Estimate) -> list[tuple[str, str]]:
    """The two rates an estimate of this design rests on, with what they mean on its schedule."""
    revisions, changes = estimate.revision_rate, estimate.change_rate
    if revisions is None or changes is None:
        return []
    period = schedule_seconds(estimate.schedule)
    rows = [
        (
            "revision rate",
            f"{revisions:g} of the pages get a new revision each tick (--revision-rate): assumed"
            + (f", a page about every {_every(revisions, period)}" if revisions else ", never")
            + "; each new revision costs an intro request and a table write",
        ),
        (
            "change rate",
            f"{changes:g} of the intros change each tick (--change-rate): assumed"
            + (f", an intro about every {_every(changes, period)}" if changes else ", never")
            + (f", one new revision in {revisions / changes:,.3g}" if changes else "")
            + "; each new intro costs Comprehend units and a results row",
        ),
    ]
    return rows


def assumption_rows(a: Assumptions, estimate: Estimate) -> list[tuple[str, str]]:
    """The assumptions an estimate rests on; a local run measured texts, items, rows and logs itself."""
    measured = estimate.design == LOCAL_RUN
    rows = rate_rows(estimate)
    if not measured:
        rows += [
            (
                "text length",
                f"{a.text_chars:,} characters per intro (--text-chars); Comprehend is sent the first "
                f"{COMPREHEND_SCORED_CHARS}",
            ),
            ("table item", f"{a.item_bytes:,} bytes per company with its state (--item-bytes)"),
            ("result row", f"text + {a.result_row_bytes} bytes of JSON Lines per analysed company"),
        ]
    rows += [
        ("results kept", f"the bucket holds {a.results_months} months of results (--results-months)"),
        (
            "function time",
            "the consumer's Wikipedia requests at the pace's interval, plus assumed round trips "
            "(watchlist_workstation/cost/durations.py), see the seconds below (--producer-seconds, "
            "--consumer-seconds, --requests-per-minute)",
        ),
    ]
    if not measured:
        rows += [
            (
                "log volume",
                f"{a.log_bytes_per_invocation} B per invocation, {a.log_bytes_per_results_object} B per results object",
            ),
            ("idle polling", f"{a.idle_pollers} Lambda pollers long-polling {a.idle_poll_seconds} s each, all month"),
        ]
    rows.append(("alarm traffic", f"{a.alarm_notifications} alarm notifications (SNS publish + e-mail) a month"))
    return rows


def echo_fields(rows: list[tuple[str, str]], indent: str = "  ") -> None:
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        click.echo(f"{indent}{key:<{width}}  {value}")


def echo_header(title: str, estimate: Estimate) -> None:
    click.echo(title)
    click.echo(
        f"Schedule: {estimate.schedule} = {estimate.ticks_per_month:,.0f} ticks a month "
        f"({HOURS_PER_MONTH} h). Prices: {REGION} list prices confirmed {PRICES_CONFIRMED} "
        "(--prices lists them with their sources)."
    )


def echo_lines(bill: Bill) -> None:
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
    # Comprehend follows the change rate alone; the rest is what the watchlist's size and the schedule cost.
    rest = [line for line in bill.lines if line.service != "Comprehend"]
    if len(rest) < len(bill.lines):
        rows.append(
            {
                "service": "without Comprehend",
                "list cost": money(sum(line.list_cost for line in rest)),
                "free tier": money(-sum(line.free for line in rest)),
                "after free tier": money(sum(line.net for line in rest)),
            }
        )
    emit_table(rows, ["service", "item", "detail", "quantity/month", "list cost", "free tier", "after free tier"])


def echo_offers(bill: Bill) -> None:
    if bill.offer_total <= 0:
        return
    offers = ", ".join(f.description for f in FREE_TIERS if f.kind == TWELVE_MONTH)
    click.echo(
        f"Not deducted: 12-month offers of accounts created before 2025-07-15, in their first year "
        f"({offers}) would take off {money(bill.offer_total)} more."
    )


def echo_footer(estimate: Estimate, a: Assumptions) -> None:
    click.echo("Free tier: only always-free offers are deducted; the allowance is per account, shared with")
    click.echo("everything else the account runs.")
    click.echo("Assumptions (the code cannot know these):")
    echo_fields(assumption_rows(a, estimate))
    if estimate.figures:
        click.echo("Figures used:")
        echo_fields([(k, f"{v:g}") for k, v in estimate.figures.items()])
    for line in estimate.notes:
        click.echo(f"Note: {line}")
    click.echo(f"Not modelled: {'; '.join(NOT_MODELLED)}.")


def echo_compare(ours: Estimate, ours_bill: Bill, theirs: Estimate, theirs_bill: Bill) -> None:
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
                "prototype/this": times(r),
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
            "prototype/this": times(list_ratio),
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


def echo_prices(as_json: bool) -> None:
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
