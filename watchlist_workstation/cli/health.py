"""What `status --check` judges: the stack's alarms, the producer's last tick, and the problems found.

Every alarm of the stack counts, whatever it watches: the alarms are the stack's resources of type
AWS::CloudWatch::Alarm (and CompositeAlarm), read with DescribeAlarms, so an alarm added to the
template is checked without a change here. The last tick is the producer's latest invocation, read
from the metrics Lambda publishes for every function (AWS/Lambda `Invocations` and `Errors`, one
datapoint a minute): the latest minute with an invocation failed if it also counted an error. A
failed scheduled invocation is retried by Lambda (asynchronous invocation), so a retry that
succeeded makes the last tick good again. docs/cli.md, "status --check", describes the output.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from lib.clock import iso

ALARM_TYPES = ("AWS::CloudWatch::Alarm", "AWS::CloudWatch::CompositeAlarm")
# DescribeAlarms takes at most 100 names a call (CloudWatch API reference, DescribeAlarms).
DESCRIBE_ALARMS_NAMES = 100
# How far back the last tick is looked for: two schedule periods, at least an hour; Lambda's one-minute
# datapoints are kept 15 days (CloudWatch user guide, "Metrics retention").
TICK_LOOKBACK_MIN = timedelta(hours=1)
TICK_LOOKBACK_MAX = timedelta(days=14)
METRIC_PERIOD_SECONDS = 60


def stack_alarms(cloudformation: Any, cloudwatch: Any, stack_name: str) -> list[dict[str, Any]]:
    """Every alarm the stack created, as DescribeAlarms answers: name, state, reason, since when."""
    names: list[str] = []
    for page in cloudformation.get_paginator("list_stack_resources").paginate(StackName=stack_name):
        names += [
            r["PhysicalResourceId"]
            for r in page["StackResourceSummaries"]
            if r["ResourceType"] in ALARM_TYPES and r.get("PhysicalResourceId")
        ]
    alarms = []
    for start in range(0, len(names), DESCRIBE_ALARMS_NAMES):
        answer = cloudwatch.describe_alarms(
            AlarmNames=names[start : start + DESCRIBE_ALARMS_NAMES], AlarmTypes=["MetricAlarm", "CompositeAlarm"]
        )
        for alarm in answer.get("MetricAlarms", []) + answer.get("CompositeAlarms", []):
            since = alarm.get("StateUpdatedTimestamp")
            alarms.append(
                {
                    "name": alarm["AlarmName"],
                    "state": alarm.get("StateValue"),
                    "reason": alarm.get("StateReason"),
                    "since": iso(since) if isinstance(since, datetime) else None,
                }
            )
    return sorted(alarms, key=lambda a: a["name"])


def tick_lookback(period_seconds: int | None) -> timedelta:
    wanted = timedelta(seconds=2 * period_seconds) if period_seconds else TICK_LOOKBACK_MIN
    return min(max(wanted, TICK_LOOKBACK_MIN), TICK_LOOKBACK_MAX)


def last_tick(
    cloudwatch: Any, function: str, lookback: timedelta, *, now: datetime | None = None
) -> dict[str, Any] | None:
    """The producer's latest minute with an invocation within `lookback`, and whether it failed; None if none."""
    end = (now or datetime.now(UTC)).replace(second=0, microsecond=0) + timedelta(minutes=1)
    start = end - lookback

    def query(query_id: str, metric: str) -> dict[str, Any]:
        return {
            "Id": query_id,
            "MetricStat": {
                "Metric": {
                    "Namespace": "AWS/Lambda",
                    "MetricName": metric,
                    "Dimensions": [{"Name": "FunctionName", "Value": function}],
                },
                "Period": METRIC_PERIOD_SECONDS,
                "Stat": "Sum",
            },
        }

    series: dict[str, dict[datetime, float]] = {"invocations": {}, "errors": {}}
    kwargs: dict[str, Any] = {
        "MetricDataQueries": [query("invocations", "Invocations"), query("errors", "Errors")],
        "StartTime": start,
        "EndTime": end,
    }
    while True:
        answer = cloudwatch.get_metric_data(**kwargs)
        for result in answer.get("MetricDataResults", []):
            values = series.setdefault(result["Id"], {})
            for at, value in zip(result.get("Timestamps", []), result.get("Values", []), strict=False):
                values[at] = values.get(at, 0.0) + float(value)
        if not answer.get("NextToken"):
            break
        kwargs["NextToken"] = answer["NextToken"]
    invoked = [at for at, count in series["invocations"].items() if count > 0]
    if not invoked:
        return None
    at = max(invoked)
    errors = int(series["errors"].get(at, 0))
    return {
        "function": function,
        "at": iso(at),
        "invocations": int(series["invocations"][at]),
        "errors": errors,
        "failed": errors > 0,
    }


def problems(report: dict[str, Any]) -> list[str]:
    """One readable line for each thing wrong in a status report; a part that could not be read counts too."""
    found = []
    dlq = report.get("dead_letter_queue")
    if dlq is None:
        found.append("dead-letter queue: cannot be checked (the stack has no output DeadLetterQueueUrl)")
    else:
        held = dlq["waiting"] + dlq["in_flight"] + dlq["delayed"]
        if held:
            found.append(
                f"dead-letter queue: holds {held} message{'' if held == 1 else 's'} "
                "(find why in the consumer's log, then './cfcli.py redrive')"
            )
    for part, message in (report.get("unreadable") or {}).items():
        found.append(f"{part}: cannot be checked ({message})")
    for alarm in report.get("alarms") or []:
        if alarm["state"] == "ALARM":
            since = f" since {alarm['since']}" if alarm.get("since") else ""
            reason = f": {alarm['reason']}" if alarm.get("reason") else ""
            found.append(f"alarm {alarm['name']} is in ALARM{since}{reason}")
    tick = report.get("last_tick")
    if tick and tick["failed"]:
        found.append(
            f"last tick: the producer's invocation at {tick['at']} failed "
            f"({tick['errors']} error{'' if tick['errors'] == 1 else 's'} in {tick['invocations']} "
            f"invocation{'' if tick['invocations'] == 1 else 's'}; see its log)"
        )
    return found
