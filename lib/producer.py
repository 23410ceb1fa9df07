"""The producer's work on one schedule tick: queue one message per company on the watchlist."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from itertools import islice
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from lib.clients import client
from lib.concurrency import in_parallel
from lib.config import ProducerConfig
from lib.limits import SEND_WORKERS, SQS_SEND_ATTEMPTS, SQS_SEND_BATCH
from lib.log import get_logger
from lib.message import WorkMessage

log = get_logger("producer")


class NothingQueued(RuntimeError):
    """The watchlist had companies but none could be queued: raised so the tick counts as an error."""


def scan_names(table: str, ddb: Any = None) -> Iterator[str]:
    """Every company name on the watchlist, page by page (only the key is read)."""
    ddb = ddb or client("dynamodb")
    paginator = ddb.get_paginator("scan")
    pages = paginator.paginate(
        TableName=table, ProjectionExpression="#n", ExpressionAttributeNames={"#n": "name"}, ConsistentRead=False
    )
    for page in pages:
        for item in page.get("Items", []):
            yield item["name"]["S"]


def _send_chunk(sqs: Any, queue_url: str, entries: list[dict[str, Any]], sleep) -> int:
    """Send up to 10 entries, retrying the ones that fail; returns how many never made it."""
    pending = entries
    for attempt in range(SQS_SEND_ATTEMPTS):
        try:
            response = sqs.send_message_batch(QueueUrl=queue_url, Entries=pending)
        except (ClientError, BotoCoreError) as exc:
            log.warning("SendMessageBatch call failed", extra={"attempt": attempt + 1, "error": repr(exc)})
            failed_ids = {e["Id"] for e in pending}
        else:
            failed_ids = {f["Id"] for f in response.get("Failed", [])}
            for failure in response.get("Failed", []):
                log.warning(
                    "message not queued",
                    extra={
                        "attempt": attempt + 1,
                        "code": failure.get("Code"),
                        "sender_fault": failure.get("SenderFault"),
                    },
                )
        pending = [e for e in pending if e["Id"] in failed_ids]
        if not pending:
            return 0
        if attempt + 1 < SQS_SEND_ATTEMPTS:
            sleep(0.2 * 2**attempt)
    for entry in pending:
        log.error("message lost after retries", extra={"company": json.loads(entry["MessageBody"])["name"]})
    return len(pending)


def queue_companies(
    config: ProducerConfig, run_id: str, requested_at: str, *, ddb: Any = None, sqs: Any = None, sleep=time.sleep
) -> dict[str, Any]:
    """Queue every company for this run; returns a summary of what happened."""
    sqs = sqs or client("sqs")
    queued = failed = batches = 0

    def send(names: list[str]) -> tuple[int, int]:
        messages = [WorkMessage(name, run_id, requested_at) for name in names]
        entries = [
            {"Id": str(i), "MessageBody": m.body(), "MessageAttributes": m.message_attributes()}
            for i, m in enumerate(messages)
        ]
        return len(entries), _send_chunk(sqs, config.queue_url, entries, sleep)

    names = scan_names(config.table_name, ddb)
    chunks = iter(lambda: list(islice(names, SQS_SEND_BATCH)), [])  # lists of 10 until the scan ends
    for size, lost in in_parallel(send, chunks, SEND_WORKERS):
        batches += 1
        failed += lost
        queued += size - lost
    summary = {"run_id": run_id, "queued": queued, "failed": failed, "batches": batches}
    log.info("run queued", extra=summary)
    if failed and not queued:
        raise NothingQueued(f"none of {failed} companies could be queued")
    return summary
