"""The work message: what the producer queues for each company and the consumer reads back.

One dataclass builds the body and the message attribute (producer), and parses them back out of a
Lambda SQS event record (consumer), so the two sides cannot drift apart. The body is JSON:
{"name", "run_id", "requested_at"}; the run's correlation id travels as the `correlation_id`
String message attribute, which Lambda's SQS event carries as messageAttributes.<name>.stringValue
(Lambda developer guide, "Using Lambda with Amazon SQS", the example event).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from lib.clock import parse_iso
from lib.names import InvalidName, validate_name

CORRELATION_ATTRIBUTE = "correlation_id"


class BadMessage(ValueError):
    """A record whose body is not the message the producer sends; the message says what is wrong."""


@dataclass(frozen=True)
class WorkMessage:
    name: str
    run_id: str
    requested_at: str  # the tick's time, ISO-8601 UTC
    correlation_id: str | None = None  # defaults to run_id when read back

    def body(self) -> str:
        return json.dumps(
            {"name": self.name, "run_id": self.run_id, "requested_at": self.requested_at}, ensure_ascii=False
        )

    def message_attributes(self) -> dict[str, Any]:
        """SendMessage(Batch)'s MessageAttributes for this message."""
        return {CORRELATION_ATTRIBUTE: {"DataType": "String", "StringValue": self.correlation_id or self.run_id}}

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> WorkMessage:
        """The message in one record of a Lambda SQS event; BadMessage when it is not one the producer sends."""
        try:
            body = json.loads(record.get("body") or "")
        except (TypeError, ValueError) as exc:
            raise BadMessage("body is not JSON") from exc
        if not isinstance(body, dict):
            raise BadMessage("body is not a JSON object")
        try:
            name = validate_name(body.get("name"))
        except InvalidName as exc:
            raise BadMessage(f"invalid name: {exc}") from exc
        run_id, requested_at = body.get("run_id"), body.get("requested_at")
        if not isinstance(run_id, str) or not run_id or not isinstance(requested_at, str):
            raise BadMessage("body lacks run_id or requested_at")
        try:
            parse_iso(requested_at)
        except ValueError as exc:
            raise BadMessage("requested_at is not an ISO-8601 time") from exc
        attribute = (record.get("messageAttributes") or {}).get(CORRELATION_ATTRIBUTE) or {}
        return cls(name, run_id, requested_at, attribute.get("stringValue") or run_id)
