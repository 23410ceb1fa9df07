"""Local mode's CloudWatch alarms: evaluates the stack's alarms and sends their notifications.

moto stores alarms (the stack's, created by CloudFormation through watchlist_workstation/local/moto_server/fixes.py)
but never evaluates them, and its queues and the executor's invocations emit no metrics. This module plays that
part the way watchlist_workstation/local/lambda_service/ plays Lambda's, reading every setting from the deployed alarms
(DescribeAlarms), never from the template's text:

    alarms = LocalAlarms(lambda service: local_client(service, endpoint), stack_name, region="us-east-1",
                         lambda_errors=executor.errors)
    changes = alarms.evaluate()   # [AlarmChange(...)] for each alarm whose state changed

Each evaluation computes the metric's latest datapoint for every alarm of the stack, compares it with
the alarm's threshold, and on a change of state (OK -> ALARM, ALARM -> OK) records it with
SetAlarmState and publishes a message shaped like CloudWatch's to each SNS topic among the new state's
actions (AlarmActions or OKActions), if the alarm's actions are enabled.

The metrics played are the ones template.yml's alarms watch:

- AWS/SQS ApproximateNumberOfMessagesVisible (and ...NotVisible, ...Delayed) for a QueueName: the
  queue's attribute as it is now (one datapoint, whatever the statistic: a depth has one value).
- AWS/Lambda Errors for a FunctionName: the failed invocations of the last Period seconds, counted by
  the executor (`lambda_errors(function name, seconds)`), as a Sum.
- Any metric outside the AWS/ namespaces (the consumer's own, which log_metrics.py extracts from its log
  lines into the emulated CloudWatch): the alarm's Statistic over the last Period seconds, read with
  GetMetricStatistics. A period without datapoints is missing data, treated as the alarm's
  TreatMissingData says (CloudWatch user guide, "Configuring how CloudWatch alarms treat missing data"):
  notBreaching as within the threshold, breaching as beyond it; ignore and missing keep the state.

Known differences from CloudWatch: only the latest period is evaluated (EvaluationPeriods and
DatapointsToAlarm above 1 act like 1), and it ends now rather than on a period boundary; an alarm on
another AWS/ metric is left alone (logged once); alarms start in moto's OK state instead of
INSUFFICIENT_DATA, so no OK notification follows their creation.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from lib.limits import SNS_SUBJECT_MAX_CHARS
from lib.log import get_logger

log = get_logger("local.alarms")

# The SQS metrics this module plays, by the queue attribute that holds each.
_QUEUE_METRICS = {
    "ApproximateNumberOfMessagesVisible": "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible": "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed": "ApproximateNumberOfMessagesDelayed",
}
_COMPARISONS: dict[str, tuple[Callable[[float, float], bool], str]] = {
    "GreaterThanThreshold": (operator.gt, "greater than"),
    "GreaterThanOrEqualToThreshold": (operator.ge, "greater than or equal to"),
    "LessThanThreshold": (operator.lt, "less than"),
    "LessThanOrEqualToThreshold": (operator.le, "less than or equal to"),
}
# CloudWatch names the region in its alarm messages and subjects.
_REGION_NAMES = {"us-east-1": "US East (N. Virginia)"}
# A metric with no datapoint in the period evaluated, and one this module does not play.
MISSING, NOT_PLAYED = "missing", "not played"
# How TreatMissingData turns missing data into a state; absent from the map: the state is kept.
_MISSING_AS = {"notBreaching": ("OK", "NonBreaching"), "breaching": ("ALARM", "Breaching")}


@dataclass(frozen=True)
class AlarmChange:
    name: str
    old_state: str
    new_state: str
    reason: str
    value: float | None  # None: the period had no datapoint
    published: tuple[str, ...]  # the topics notified


def _dimension(alarm: dict[str, Any], name: str) -> str | None:
    return next((d["Value"] for d in alarm.get("Dimensions", []) if d["Name"] == name), None)


class LocalAlarms:
    """Evaluates one stack's alarms in a moto server and publishes their state changes."""

    def __init__(
        self,
        client: Callable[[str], Any],
        stack_name: str,
        *,
        region: str,
        lambda_errors: Callable[[str, float], int],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        """`client(service)` makes a client for the account (local mode: local.stack.local_client)."""
        self.stack_name, self.region = stack_name, region
        self._lambda_errors = lambda_errors
        self.clock = clock  # when "now" is: the period evaluated ends here
        self._clients = {service: client(service) for service in ("cloudformation", "cloudwatch", "sqs", "sns")}
        self._unplayed: set[str] = set()  # alarms already logged as not evaluated

    def alarms(self) -> list[dict[str, Any]]:
        """The stack's metric alarms as deployed (none when there is no stack)."""
        names = []
        try:
            pages = (
                self._clients["cloudformation"]
                .get_paginator("list_stack_resources")
                .paginate(StackName=self.stack_name)
            )
            for page in pages:
                names += [
                    r["PhysicalResourceId"]
                    for r in page["StackResourceSummaries"]
                    if r["ResourceType"] == "AWS::CloudWatch::Alarm" and r.get("PhysicalResourceId")
                ]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ValidationError":  # no such stack
                return []
            raise
        if not names:
            return []
        return self._clients["cloudwatch"].describe_alarms(AlarmNames=names)["MetricAlarms"]

    def evaluate(self) -> list[AlarmChange]:
        """Evaluate every alarm of the stack once; the state changes, each notified to its actions."""
        changes = []
        for alarm in self.alarms():
            value = self._datapoint(alarm)
            if value == NOT_PLAYED:
                continue
            if value == MISSING:
                treated = _MISSING_AS.get(alarm.get("TreatMissingData", "missing"))
                if treated is None or treated[0] == alarm["StateValue"]:
                    continue
                reason = (
                    "Threshold Crossed: no datapoints were received for 1 period and 1 missing datapoint was "
                    f"treated as [{treated[1]}]."
                )
                changes.append(self._change_state(alarm, treated[0], reason, None))
                continue
            compare, words = _COMPARISONS[alarm["ComparisonOperator"]]
            threshold = float(alarm["Threshold"])
            breaching = compare(value, threshold)
            new_state = "ALARM" if breaching else "OK"
            if new_state == alarm["StateValue"]:
                continue
            reason = (
                f"Threshold Crossed: 1 datapoint [{value:g}] was {'' if breaching else 'not '}{words} "
                f"the threshold ({threshold:g})."
            )
            changes.append(self._change_state(alarm, new_state, reason, value))
        return changes

    def _datapoint(self, alarm: dict[str, Any]) -> float | str:
        """The latest period's value of the alarm's metric, MISSING without datapoints, NOT_PLAYED when unknown."""
        namespace, metric = alarm.get("Namespace"), alarm.get("MetricName")
        if namespace == "AWS/SQS" and metric in _QUEUE_METRICS and _dimension(alarm, "QueueName"):
            sqs = self._clients["sqs"]
            try:
                url = sqs.get_queue_url(QueueName=_dimension(alarm, "QueueName"))["QueueUrl"]
                attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[_QUEUE_METRICS[metric]])
            except ClientError:
                return NOT_PLAYED  # the queue is gone with its stack: no data
            return float(attributes["Attributes"][_QUEUE_METRICS[metric]])
        if namespace == "AWS/Lambda" and metric == "Errors" and _dimension(alarm, "FunctionName"):
            return float(self._lambda_errors(_dimension(alarm, "FunctionName"), float(alarm["Period"])))
        if namespace and metric and not namespace.startswith("AWS/") and alarm.get("Statistic"):
            return self._custom_datapoint(alarm)
        if alarm["AlarmName"] not in self._unplayed:
            self._unplayed.add(alarm["AlarmName"])
            log.warning("alarm's metric is not played locally", extra={"alarm": alarm["AlarmName"], "metric": metric})
        return NOT_PLAYED

    def _custom_datapoint(self, alarm: dict[str, Any]) -> float | str:
        """A metric of the account's own, as the emulated CloudWatch holds it, over the last Period seconds."""
        end = self.clock()
        statistic = alarm["Statistic"]
        answer = self._clients["cloudwatch"].get_metric_statistics(
            Namespace=alarm["Namespace"],
            MetricName=alarm["MetricName"],
            Dimensions=alarm.get("Dimensions", []),
            StartTime=end - timedelta(seconds=int(alarm["Period"])),
            # The emulator cuts times to whole seconds: the current second is asked for whole.
            EndTime=end + timedelta(seconds=1),
            Period=int(alarm["Period"]),
            Statistics=sorted({statistic, "Sum", "SampleCount"}),
        )
        points = answer["Datapoints"]
        if not points:
            return MISSING
        # The window may straddle two of the emulator's buckets: combine them into the period's one value.
        total, count = sum(p["Sum"] for p in points), sum(p["SampleCount"] for p in points)
        combined = {
            "Sum": total,
            "SampleCount": count,
            "Average": total / count if count else 0.0,
            "Maximum": max(p.get("Maximum", float("-inf")) for p in points),
            "Minimum": min(p.get("Minimum", float("inf")) for p in points),
        }
        return float(combined[statistic])

    def _change_state(self, alarm: dict[str, Any], new_state: str, reason: str, value: float | None) -> AlarmChange:
        now = self.clock()
        data = {
            "version": "1.0",
            "queryDate": _cloudwatch_time(now),
            "recentDatapoints": [] if value is None else [value],
        }
        self._clients["cloudwatch"].set_alarm_state(
            AlarmName=alarm["AlarmName"], StateValue=new_state, StateReason=reason, StateReasonData=json.dumps(data)
        )
        actions = alarm.get("AlarmActions" if new_state == "ALARM" else "OKActions", [])
        topics = [arn for arn in actions if arn.startswith("arn:aws:sns:")] if alarm.get("ActionsEnabled", True) else []
        subject, body = alarm_message(alarm, alarm["StateValue"], new_state, reason, now, self.region)
        published = []
        for topic in topics:
            try:
                self._clients["sns"].publish(TopicArn=topic, Subject=subject, Message=body)
                published.append(topic)
            except (ClientError, BotoCoreError) as exc:
                # CloudWatch retries and then gives up on an action; here the failure is logged.
                log.error(
                    "alarm action failed", extra={"alarm": alarm["AlarmName"], "topic": topic, "error": repr(exc)}
                )
        log.info(
            "alarm state changed",
            extra={"alarm": alarm["AlarmName"], "old": alarm["StateValue"], "new": new_state, "value": value},
        )
        return AlarmChange(alarm["AlarmName"], alarm["StateValue"], new_state, reason, value, tuple(published))


def _cloudwatch_time(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}+0000"


def alarm_message(
    alarm: dict[str, Any], old_state: str, new_state: str, reason: str, at: datetime, region: str
) -> tuple[str, str]:
    """Subject and JSON body of the notification CloudWatch sends to an alarm's SNS actions."""
    region_name = _REGION_NAMES.get(region, region)
    subject = f'{new_state}: "{alarm["AlarmName"]}" in {region_name}'
    if len(subject) > SNS_SUBJECT_MAX_CHARS:
        subject = subject[: SNS_SUBJECT_MAX_CHARS - 3] + "..."
    updated = alarm.get("AlarmConfigurationUpdatedTimestamp")
    body = {
        "AlarmName": alarm["AlarmName"],
        "AlarmDescription": alarm.get("AlarmDescription"),
        "AWSAccountId": alarm["AlarmArn"].split(":")[4],
        "AlarmConfigurationUpdatedTimestamp": _cloudwatch_time(updated) if isinstance(updated, datetime) else None,
        "NewStateValue": new_state,
        "NewStateReason": reason,
        "StateChangeTime": _cloudwatch_time(at),
        "Region": region_name,
        "AlarmArn": alarm["AlarmArn"],
        "OldStateValue": old_state,
        "OKActions": alarm.get("OKActions", []),
        "AlarmActions": alarm.get("AlarmActions", []),
        "InsufficientDataActions": alarm.get("InsufficientDataActions", []),
        "Trigger": {
            "MetricName": alarm.get("MetricName"),
            "Namespace": alarm.get("Namespace"),
            "StatisticType": "Statistic",
            "Statistic": str(alarm.get("Statistic", "")).upper(),
            "Unit": alarm.get("Unit"),
            "Dimensions": [{"value": d["Value"], "name": d["Name"]} for d in alarm.get("Dimensions", [])],
            "Period": alarm.get("Period"),
            "EvaluationPeriods": alarm.get("EvaluationPeriods"),
            "ComparisonOperator": alarm.get("ComparisonOperator"),
            "Threshold": alarm.get("Threshold"),
            "TreatMissingData": alarm.get("TreatMissingData", ""),
            "EvaluateLowSampleCountPercentile": alarm.get("EvaluateLowSampleCountPercentile", ""),
        },
    }
    return subject, json.dumps(body)
