"""`compact`: run the stack's Compactor function now (docs/dataset.md, "Compaction"), on AWS or with --local.

The function does the work; this command only asks it, and asks again for the days a run had no time for
(it returns them as `remaining`), so a large backlog is compacted in several invocations of at most 15 min.
"""

from __future__ import annotations

import json
from typing import Any

import click

from lib.compaction import check_day
from watchlist_workstation.cli.app import cli
from watchlist_workstation.cli.context import AppContext, CliError, emit_json, emit_table
from watchlist_workstation.cli.observe import invoke_client, json_option
from watchlist_workstation.cli.progress import Progress, stage

COMPACTOR_OUTPUT = "CompactorFunctionName"
TABLE_COLUMNS = ["day", "objects", "rows", "outcome"]
# Invocations at most: each compacts days until its time runs short, so this bounds a backlog of days that
# keeps failing rather than any healthy one.
MAX_INVOCATIONS = 50


def _day(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> list[str]:
    try:
        return sorted({check_day(value) for value in values})
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def invoke(app: AppContext, function: str, event: dict[str, Any]) -> dict[str, Any]:
    """One synchronous invocation of the compactor; its answer, or CliError in one line."""
    response = invoke_client(app).invoke(
        FunctionName=function, InvocationType="RequestResponse", Payload=json.dumps(event).encode("utf-8")
    )
    body = response["Payload"].read().decode("utf-8", errors="replace")
    try:
        payload = json.loads(body) if body else None
    except ValueError:
        payload = None
    if response.get("FunctionError"):
        if isinstance(payload, dict) and payload.get("errorMessage"):
            detail = f"{payload.get('errorType', 'Error')}: {payload['errorMessage']}"
        else:
            detail = body[:200] or "no error message"
        raise CliError(f"compactor {function} failed: {' '.join(detail.split())}")
    if not isinstance(payload, dict) or not isinstance(payload.get("days"), list):
        raise CliError(f"compactor {function} answered with something that is not a summary: {body[:200]!r}")
    return payload


@cli.command()
@click.option(
    "--day",
    "days",
    multiple=True,
    callback=_day,
    metavar="YYYY-MM-DD",
    help="Compact this day (repeatable), finished or not.",
)
@click.option("--all-finished", is_flag=True, help="Compact every finished day with something to fold.")
@json_option
@click.pass_obj
def compact(app: AppContext, days: list[str], all_finished: bool, as_json: bool) -> None:
    """Compact the results dataset's days into at most 24 objects each (default: as the daily schedule does).

    Prints, per day, objects before -> after and rows before -> after.
    """
    if days and all_finished:
        raise click.UsageError("give --day or --all-finished, not both")
    function = app.output(COMPACTOR_OUTPUT)
    event: dict[str, Any] = {"days": days} if days else {"all_finished": True} if all_finished else {}
    stage(f"compacting with {function}")
    reports: list[dict[str, Any]] = []
    with Progress("days compacted", total=len(days) or None) as progress:
        for _ in range(MAX_INVOCATIONS):
            payload = invoke(app, function, event)
            reports.extend(payload["days"])
            progress.update(len(reports))
            remaining = payload.get("remaining") or []
            if not remaining:
                break
            event = {"days": remaining}
        else:
            raise CliError(f"days still left after {MAX_INVOCATIONS} invocations: {', '.join(remaining)}")
    if as_json:
        emit_json(reports)
        return
    if not reports:
        stage("no day needed compacting")
        return
    emit_table(
        [
            {
                "day": r["day"],
                "objects": f"{r['objects_before']} -> {r['objects_after']}",
                "rows": f"{r['rows_before']} -> {r['rows_after']}",
                "outcome": r["outcome"],
            }
            for r in reports
        ],
        TABLE_COLUMNS,
    )
