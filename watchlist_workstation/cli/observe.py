"""Look at a deployed stack and nudge it: `status`, `run` (`results` is watchlist_workstation/cli/results.py)."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import timedelta
from typing import Any

import click
from botocore.config import Config
from botocore.exceptions import ClientError

from lib.clock import iso
from lib.dataset_layout import RESULTS_PREFIX
from lib.limits import SQS_SEND_ATTEMPTS
from lib.plan import Budget
from lib.schedule import period_seconds
from watchlist_workstation.cli import health
from watchlist_workstation.cli.app import cli
from watchlist_workstation.cli.context import AppContext, CliError, aws_error_message, emit_json, note
from watchlist_workstation.limits import LAMBDA_MAX_TIMEOUT_SECONDS

# A synchronous Invoke answers when the function ends, so the read timeout must outlast any function timeout.
# No retries: a read timeout retried by the SDK would start the producer a second time.
_INVOKE_CONFIG = Config(
    retries={"total_max_attempts": 1}, connect_timeout=5, read_timeout=LAMBDA_MAX_TIMEOUT_SECONDS + 30
)

# status --check found a problem: not 1 (could not look) nor 2 (usage), so a monitor can tell them apart.
CHECK_FAILED_EXIT = 3

json_option = click.option("--json", "as_json", is_flag=True, help="Machine-readable JSON on stdout.")


def emit_fields(fields: list[tuple[str, str]]) -> None:
    """Aligned 'key: value' lines on stdout."""
    width = max(len(key) for key, _ in fields) + 1
    for key, value in fields:
        click.echo(f"{key + ':':<{width}} {value}".rstrip())


def human_bytes(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    value = float(size)
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        value /= 1024
        if value < 1024 or unit == "TiB":
            break
    return f"{value:.1f} {unit}"


# ---------------------------------------------------------------- status
def queue_depth(sqs: Any, queue_url: str) -> dict[str, Any]:
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=[
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        ],
    )["Attributes"]
    return {
        "url": queue_url,
        "waiting": int(attributes.get("ApproximateNumberOfMessages", 0)),
        "in_flight": int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0)),
        "delayed": int(attributes.get("ApproximateNumberOfMessagesDelayed", 0)),
    }


def schedule_state(events: Any, rule_name: str) -> dict[str, Any]:
    rule = events.describe_rule(Name=rule_name)
    return {"rule": rule_name, "state": rule.get("State"), "expression": rule.get("ScheduleExpression")}


def count_companies(ddb: Any, table: str) -> dict[str, Any]:
    # An exact count from a paginated COUNT scan; DescribeTable's ItemCount is cheaper but up to ~6 hours old.
    total = 0
    for page in ddb.get_paginator("scan").paginate(TableName=table, Select="COUNT"):
        total += page["Count"]
    return {"table": table, "companies": total}


def refresh_plan(stack: dict[str, Any], companies: int) -> dict[str, Any] | None:
    """How often each company is checked, from the stack's request budget and schedule (lib/plan.py); None
    when the stack has no such parameters (a stack deployed before the budget existed)."""
    parameters = {p["ParameterKey"]: p.get("ParameterValue") for p in stack.get("Parameters") or []}
    try:
        rate = int(parameters["WikipediaRequestsPerMinute"])
        period = period_seconds(parameters["ScheduleExpression"])
    except (KeyError, TypeError, ValueError):
        return None
    if period is None:
        return None
    budget = Budget(rate, period)
    return {
        "requests_per_minute": rate,
        "period_seconds": period,
        "companies_per_tick": budget.companies_per_tick,
        "windows": budget.windows(companies),
        "interval_seconds": budget.refresh_seconds(companies),
    }


def human_duration(seconds: int) -> str:
    for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute")):
        if seconds >= size and seconds % size == 0:
            value = seconds // size
            return f"{value} {unit}{'' if value == 1 else 's'}"
    return f"{seconds} s"


def results_summary(s3: Any, bucket: str, prefix: str = RESULTS_PREFIX) -> dict[str, Any]:
    objects = size = 0
    newest: dict[str, Any] | None = None
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{prefix}/"):
        for entry in page.get("Contents", []):
            objects += 1
            size += entry["Size"]
            # LastModified has whole seconds; the key breaks ties so the answer does not depend on listing order.
            if newest is None or (entry["LastModified"], entry["Key"]) > (newest["LastModified"], newest["Key"]):
                newest = entry
    latest = None
    if newest is not None:
        latest = {"key": newest["Key"], "size": newest["Size"], "last_modified": iso(newest["LastModified"])}
    return {"bucket": bucket, "prefix": f"{prefix}/", "objects": objects, "bytes": size, "newest": latest}


@cli.command()
@json_option
@click.option(
    "--check",
    is_flag=True,
    help=f"Exit {CHECK_FAILED_EXIT} (one line each on stderr) when the dead-letter queue holds messages, an alarm "
    "of the stack is in ALARM, or the last tick failed.",
)
@click.pass_obj
def status(app: AppContext, as_json: bool, check: bool) -> None:
    """Show the stack, the queues, the schedule, the alarms, the last tick, the watchlist and the newest results."""
    outputs = app.outputs()  # one clear line when the stack does not exist
    stack = app.describe_stack() or {}
    report: dict[str, Any] = {
        "stack": {
            "name": app.stack_name,
            "status": stack.get("StackStatus"),
            "region": app.session().region_name,
        }
    }

    missing: list[str] = []

    def section(name: str, output_key: str, read) -> None:
        # A stack that failed or is rolling back has no outputs: show what can be shown, say what cannot.
        if output_key not in outputs:
            missing.append(output_key)
            report[name] = None
            return
        report[name] = read(outputs[output_key])

    section("schedule", "ScheduleRuleName", lambda rule: schedule_state(app.client("events"), rule))
    section("queue", "QueueUrl", lambda url: queue_depth(app.client("sqs"), url))
    section("dead_letter_queue", "DeadLetterQueueUrl", lambda url: queue_depth(app.client("sqs"), url))
    section("watchlist", "TableName", lambda _: count_companies(app.client("dynamodb"), app.table_name()))
    section("results", "ResultsBucketName", lambda bucket: results_summary(app.client("s3"), bucket))
    report["refresh"] = refresh_plan(stack, report["watchlist"]["companies"]) if report["watchlist"] else None
    unreadable: dict[str, str] = {}

    def readable(name: str, read):
        # Alarms and metrics need read permissions (cloudwatch:DescribeAlarms, GetMetricData) the other parts do
        # not: without them status still shows the rest, and --check counts the part as not checked.
        try:
            return read()
        except ClientError as exc:
            unreadable[name] = aws_error_message(exc) or str(exc)
            return None

    report["alarms"] = readable(
        "alarms", lambda: health.stack_alarms(app.client("cloudformation"), app.client("cloudwatch"), app.stack_name)
    )
    lookback = health.tick_lookback(_schedule_period(stack))
    section(
        "last_tick",
        "ProducerFunctionName",
        lambda name: readable("last tick", lambda: health.last_tick(app.client("cloudwatch"), name, lookback)),
    )
    if unreadable:
        report["unreadable"] = unreadable
        for name, message in unreadable.items():
            note(f"cannot read the {name}: {message}")
    if missing:
        note(f"stack {app.stack_name} has no output {', '.join(missing)}: those parts are unavailable")
    found = health.problems(report) if check else []
    if check:
        report["check"] = {"ok": not found, "problems": found}

    if as_json:
        emit_json(report)
    else:
        emit_fields(_status_lines(report, lookback, missing))
    if found:
        for line in found:
            note(f"check failed: {line}")
        raise click.exceptions.Exit(CHECK_FAILED_EXIT)
    if check:
        note("check passed: the dead-letter queue is empty, no alarm is in ALARM, the last tick did not fail")


def _schedule_period(stack: dict[str, Any]) -> int | None:
    parameters = {p["ParameterKey"]: p.get("ParameterValue") for p in stack.get("Parameters") or []}
    try:
        return period_seconds(parameters["ScheduleExpression"])
    except (KeyError, TypeError, ValueError):
        return None


def _status_lines(report: dict[str, Any], lookback: timedelta, missing: list[str]) -> list[tuple[str, str]]:
    stack, schedule, queue, dlq = report["stack"], report["schedule"], report["queue"], report["dead_letter_queue"]
    watchlist, results = report["watchlist"], report["results"]
    unavailable = "unavailable"
    lines = [("stack", f"{stack['name']} ({stack['status']})"), ("region", stack["region"])]
    lines.append(("schedule", f"{schedule['state']}, {schedule['expression']}" if schedule else unavailable))
    if queue:
        depth = f"{queue['waiting']} waiting, {queue['in_flight']} in flight"
        if queue["delayed"]:
            depth += f", {queue['delayed']} delayed"
        lines.append(("work queue", depth))
    else:
        lines.append(("work queue", unavailable))
    if dlq:
        dead = dlq["waiting"] + dlq["in_flight"] + dlq["delayed"]
        lines.append(("dead-letter queue", f"{dead} message{'' if dead == 1 else 's'}"))
    else:
        lines.append(("dead-letter queue", unavailable))
    alarms = report["alarms"]
    if alarms is None:
        lines.append(("alarms", unavailable))
    else:
        raised = [a["name"] for a in alarms if a["state"] == "ALARM"]
        in_alarm = f"in ALARM: {', '.join(raised)}" if raised else "none in ALARM"
        lines.append(("alarms", f"{len(alarms)}, {in_alarm}" if alarms else "none"))
    tick = report["last_tick"]
    if tick:
        lines.append(("last tick", f"{tick['at']}, {'failed' if tick['failed'] else 'ok'}"))
    else:
        none = f"none in the last {human_duration(int(lookback.total_seconds()))}"
        cannot = "ProducerFunctionName" in missing or "last tick" in report.get("unreadable", {})
        lines.append(("last tick", unavailable if cannot else none))
    if watchlist:
        count = watchlist["companies"]
        lines.append(("watchlist", f"{count} compan{'y' if count == 1 else 'ies'}"))
    else:
        lines.append(("watchlist", unavailable))
    refresh = report.get("refresh")
    if refresh:
        ticks = refresh["windows"]
        lines.append(
            (
                "refresh",
                f"each company every {human_duration(refresh['interval_seconds'])} "
                f"({ticks} tick{'' if ticks == 1 else 's'} of at most {refresh['companies_per_tick']:,} companies, "
                f"{refresh['requests_per_minute']} Wikipedia requests a minute)",
            )
        )
    else:
        lines.append(("refresh", unavailable))
    if results:
        objects = results["objects"]
        lines.append(("results", f"{objects} object{'' if objects == 1 else 's'}, {human_bytes(results['bytes'])}"))
        newest = results["newest"]
        if newest:
            lines.append(
                ("newest result", f"{newest['key']} ({human_bytes(newest['size'])}, {newest['last_modified']})")
            )
        else:
            lines.append(("newest result", "none yet"))
    else:
        lines.append(("results", unavailable))
    return lines


# ---------------------------------------------------------------- run
def invoke_client(app: AppContext) -> Any:
    """A Lambda client for one synchronous Invoke: no retries, and a read timeout longer than any function's."""
    kwargs: dict[str, Any] = {"config": _INVOKE_CONFIG}
    endpoint = app.endpoint_for("lambda")  # with --local, the local stack's Lambda API, where Invoke runs code
    if endpoint:
        kwargs["endpoint_url"] = endpoint
    return app.session().client("lambda", **kwargs)


def schedule_event(region: str | None) -> dict[str, Any]:
    """An event shaped like the schedule rule's, so the producer treats a manual run like a scheduled one.

    `id` becomes the run id (and every message's correlation id); `source` tells the logs it was manual.
    """
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "cfcli.run",
        "time": iso(),
        "region": region,
        "resources": [],
        "detail": {},
    }


@cli.command()
@json_option
@click.pass_obj
def run(app: AppContext, as_json: bool) -> None:
    """Run the producer now: queue every company on the watchlist, as the schedule would."""
    function = app.output("ProducerFunctionName")
    event = schedule_event(app.session().region_name)
    kwargs: dict[str, Any] = {}
    if app.verbose:
        kwargs["LogType"] = "Tail"  # the last 4 KB of the function's log, shown on stderr
    response = invoke_client(app).invoke(
        FunctionName=function,
        InvocationType="RequestResponse",
        Payload=json.dumps(event).encode("utf-8"),
        **kwargs,
    )
    body = response["Payload"].read().decode("utf-8", errors="replace")
    if response.get("LogResult"):
        note(base64.b64decode(response["LogResult"]).decode("utf-8", errors="replace").rstrip())
    try:
        payload = json.loads(body) if body else None
    except ValueError:
        payload = None
    if response.get("FunctionError"):
        raise CliError(f"producer {function} failed (run {event['id']}): {_error_text(payload, body)}")
    if not isinstance(payload, dict):
        raise CliError(f"producer {function} answered with something that is not a summary: {body[:200]!r}")

    if as_json:
        emit_json(payload)
    else:
        emit_fields([(key, str(payload.get(key))) for key in ("run_id", "queued", "failed", "batches")])
    if payload.get("failed"):
        # The summary is printed (it is the run's data); the exit status says the run was not whole.
        failed, planned = payload["failed"], payload.get("planned")
        of = f" of {planned}" if planned is not None else ""
        raise CliError(
            f"{failed}{of} compan{'y' if failed == 1 else 'ies'} could not be queued (run {payload.get('run_id')}): "
            f"SQS refused their messages {SQS_SEND_ATTEMPTS} times; the producer's log line "
            "'companies not queued after retries' names them"
        )


def _error_text(payload: Any, body: str) -> str:
    if isinstance(payload, dict) and ("errorMessage" in payload or "errorType" in payload):
        kind, message = payload.get("errorType"), payload.get("errorMessage", "")
        text = f"{kind}: {message}" if kind else str(message)
    else:
        text = body or "no error message"
    # One line, however many lines the error had.
    return " ".join(text.split())[:500]
