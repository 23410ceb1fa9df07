"""The events local mode's Lambda service hands a function, shaped as AWS delivers them.

- A schedule tick: the event EventBridge sends a rule's target (EventBridge user guide, "Creating an
  Amazon EventBridge rule that runs on a schedule"; the event structure of "Amazon EventBridge events").
  tests/events/schedule.json is a sample.
- An SQS record: one entry of the `Records` of Lambda's SQS event (Lambda developer guide, "Using Lambda
  with Amazon SQS", example standard queue message event). tests/events/sqs_batch.json is a sample.
"""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime
from typing import Any

from watchlist_workstation.local.lambda_service.specs import ScheduleSpec


def schedule_event(rule: ScheduleSpec, now: datetime | None = None) -> dict[str, Any]:
    """The event EventBridge sends a target when a scheduled rule fires."""
    _, _, _, region, account, _ = rule.rule_arn.split(":", 5)
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": account,
        "time": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [rule.rule_arn],
        "detail": {},
    }


def sqs_record(message: dict[str, Any], queue_arn: str) -> dict[str, Any]:
    """One record of Lambda's SQS event, from a ReceiveMessage message (as boto3 returns it)."""
    attributes = {}
    for name, value in (message.get("MessageAttributes") or {}).items():
        attribute: dict[str, Any] = {}
        if "StringValue" in value:
            attribute["stringValue"] = value["StringValue"]
        if "BinaryValue" in value:
            attribute["binaryValue"] = base64.b64encode(value["BinaryValue"]).decode("ascii")
        attribute["stringListValues"] = list(value.get("StringListValues") or [])
        attribute["binaryListValues"] = [
            base64.b64encode(v).decode("ascii") for v in value.get("BinaryListValues") or []
        ]
        attribute["dataType"] = value["DataType"]
        attributes[name] = attribute
    record = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": dict(message.get("Attributes") or {}),
        "messageAttributes": attributes,
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": queue_arn.split(":")[3],
    }
    if message.get("MD5OfMessageAttributes"):
        # Lambda adds it when the message has attributes (the SQS event schemas mark it optional).
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    return record
