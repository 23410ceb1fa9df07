"""The Lambda service's SQS event source mapping, played in this process against moto, for the fault tests.

Faults are injected with botocore event hooks on the pipeline's own clients, which only works
when the handler runs in the test's process; the local executor runs it in worker processes.
This harness does what the mapping does and nothing else: receive a batch, hand it to the real
handler as Lambda's SQS event, delete the records the handler did not report as failed (all of
them kept when it raised), and let the queue's own redrive policy move a message that was
received too often to the dead-letter queue. Time is the harness's to play: a record handed
back becomes visible again at once instead of after the visibility timeout.

Every delete is checked as it happens by `before_delete`, so a test can prove that no message
was deleted before its result was written.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import boto3

from watchlist_workstation.local.lambda_service.events import sqs_record

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


@dataclass
class Delivery:
    """What happened to the queue's messages while draining, by message id."""

    receives: dict[str, int] = field(default_factory=dict)
    deleted: dict[str, str] = field(default_factory=dict)  # message id -> body
    handler_errors: list[str] = field(default_factory=list)
    batches: int = 0


class EventSourceMapping:
    def __init__(
        self,
        queue_url: str,
        handler: Handler,
        *,
        batch_size: int = 10,
        before_delete: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.queue_url, self.handler, self.batch_size = queue_url, handler, batch_size
        self.before_delete = before_delete
        # The harness's own client: the pipeline's clients carry the faults, this one must not.
        self.sqs = boto3.client("sqs")
        self.queue_arn = self.sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]

    def drain(self, max_batches: int = 200) -> Delivery:
        delivery = Delivery()
        for _ in range(max_batches):
            messages = self.sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=min(10, self.batch_size),
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            if not messages:
                return delivery
            delivery.batches += 1
            records = [sqs_record(message, self.queue_arn) for message in messages]
            for record in records:
                delivery.receives[record["messageId"]] = delivery.receives.get(record["messageId"], 0) + 1
            try:
                answer = self.handler({"Records": records}, None)
                failed = {item["itemIdentifier"] for item in answer.get("batchItemFailures", [])}
            except BaseException as exc:  # a raise, or the process dying: Lambda deletes nothing
                delivery.handler_errors.append(f"{type(exc).__name__}: {exc}")
                failed = {record["messageId"] for record in records}
            for record in records:
                if record["messageId"] in failed:
                    self.sqs.change_message_visibility(
                        QueueUrl=self.queue_url, ReceiptHandle=record["receiptHandle"], VisibilityTimeout=0
                    )
                    continue
                if self.before_delete:
                    self.before_delete(record)
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=record["receiptHandle"])
                delivery.deleted[record["messageId"]] = record["body"]
        raise AssertionError(f"the queue did not drain within {max_batches} batches")
