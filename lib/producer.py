"""The producer's work on one schedule tick: scan the watchlist, plan the tick's part of it within the request
budget (lib/plan.py), and queue that part in chunks of companies.

The scan reads the whole table in parallel segments, each paginated, and stops early when the invocation's
time runs short (the plan is then made from what was read, and the summary says so). Each message
carries CHUNK_COMPANIES companies with their stored revision, text hash and error (lib/message.py);
SendMessageBatch sends ten messages a call, retrying refused entries.

Every call ends by the invocation's deadline (docs/design.md rule 11): the scan stops SEND_RESERVE_SECONDS
before it, and a send that no longer fits leaves its companies unqueued (counted as failed; the next tick
plans them again).
"""

from __future__ import annotations

import time
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from lib import table as watchlist
from lib.clients import DeadlineReached, bounded_by, client
from lib.clock import Deadline
from lib.concurrency import in_parallel
from lib.config import ProducerConfig
from lib.limits import (
    CHUNK_COMPANIES,
    SCAN_SEGMENTS,
    SEND_RESERVE_SECONDS,
    SEND_WORKERS,
    SQS_SEND_ATTEMPTS,
    SQS_SEND_BATCH,
)
from lib.log import get_logger
from lib.message import Company, WorkMessage
from lib.plan import Budget, tick_number, window

log = get_logger("producer")

# What the scan reads of each item: the watch entry and the state the consumer compares against.
SCANNED = (
    watchlist.KEY,
    watchlist.TITLE,
    watchlist.REVISION,
    watchlist.PAGE,
    watchlist.TEXT_SHA256,
    watchlist.LAST_ERROR,
    watchlist.SENTIMENT,
)


class NothingQueued(RuntimeError):
    """The tick planned companies but none could be queued: raised so the tick counts as an error."""


def scan_watchlist(table: str, ddb: Any = None, *, deadline: Deadline | None = None) -> tuple[list[Company], bool]:
    """Every company on the watchlist, and whether the scan finished before `deadline`."""
    ddb = ddb or client("dynamodb")
    deadline = deadline or Deadline.never()

    def segment(number: int) -> tuple[list[Company], bool]:
        found: list[Company] = []
        request: dict[str, Any] = {
            "TableName": table,
            **watchlist.projection(SCANNED),
            "Segment": number,
            "TotalSegments": SCAN_SEGMENTS,
        }
        while True:
            if deadline.left() <= 0:
                return found, False
            try:
                page = ddb.scan(**request)
            except DeadlineReached:
                return found, False
            found.extend(watchlist.company_of(item) for item in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return found, True
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    companies: list[Company] = []
    complete = True
    with bounded_by(deadline):
        for found, finished in in_parallel(segment, range(SCAN_SEGMENTS), SCAN_SEGMENTS):
            companies.extend(found)
            complete = complete and finished
    return companies, complete


def _send_batch(sqs: Any, queue_url: str, entries: list[dict[str, Any]], sleep) -> list[dict[str, Any]]:
    """Send up to 10 entries, retrying the ones that fail; returns the entries that never made it."""
    pending = entries
    for attempt in range(SQS_SEND_ATTEMPTS):
        try:
            response = sqs.send_message_batch(QueueUrl=queue_url, Entries=pending)
        except DeadlineReached as exc:
            log.warning("no time left to send", extra={"attempt": attempt + 1, "error": str(exc)})
            return pending
        except (ClientError, BotoCoreError) as exc:
            log.warning("SendMessageBatch call failed", extra={"attempt": attempt + 1, "error": repr(exc)})
            failed_ids = {e["Id"] for e in pending}
        else:
            failed_ids = {f["Id"] for f in response.get("Failed", [])}
            for failure in response.get("Failed", []):
                details = {"code": failure.get("Code"), "sender_fault": failure.get("SenderFault")}
                log.warning("message not queued", extra={"attempt": attempt + 1, **details})
        pending = [e for e in pending if e["Id"] in failed_ids]
        if not pending:
            return []
        if attempt + 1 < SQS_SEND_ATTEMPTS:
            sleep(0.2 * 2**attempt)
    return pending


def queue_tick(
    config: ProducerConfig,
    run_id: str,
    requested_at: str,
    *,
    ddb: Any = None,
    sqs: Any = None,
    deadline: Deadline | None = None,
    sleep=time.sleep,
) -> dict[str, Any]:
    """Queue this tick's part of the watchlist; returns a summary of what happened."""
    sqs = sqs or client("sqs")
    deadline = deadline or Deadline.never()
    companies, complete = scan_watchlist(config.table_name, ddb, deadline=deadline.earlier(SEND_RESERVE_SECONDS))
    budget = Budget(config.requests_per_minute, config.period_seconds)
    windows = budget.windows(len(companies), sum(c.revision is None for c in companies))
    tick = tick_number(requested_at, config.period_seconds)
    planned = window(companies, [c.name for c in companies], tick, windows)
    chunks = [tuple(planned[i : i + CHUNK_COMPANIES]) for i in range(0, len(planned), CHUNK_COMPANIES)]

    def send(batch: list[tuple[Company, ...]]) -> tuple[int, list[str]]:
        messages = [WorkMessage(run_id, requested_at, chunk) for chunk in batch]
        entries = [
            {"Id": str(i), "MessageBody": m.body(), "MessageAttributes": m.message_attributes()}
            for i, m in enumerate(messages)
        ]
        lost = _send_batch(sqs, config.queue_url, entries, sleep)
        lost_names = [c.name for entry in lost for c in messages[int(entry["Id"])].companies]
        return sum(len(chunk) for chunk in batch), lost_names

    queued = batches_sent = 0
    lost: list[str] = []
    batches = [chunks[i : i + SQS_SEND_BATCH] for i in range(0, len(chunks), SQS_SEND_BATCH)]
    with bounded_by(deadline):
        for size, lost_names in in_parallel(send, batches, SEND_WORKERS):
            batches_sent += 1
            queued += size - len(lost_names)
            lost.extend(lost_names)
    summary = {
        "run_id": run_id,
        "companies": len(companies),
        "scan_complete": complete,
        "tick": tick,
        "windows": windows,
        "planned": len(planned),
        "queued": queued,
        "failed": len(lost),
        "chunks": len(chunks),
        "batches": batches_sent,
    }
    if lost:
        log.error("companies not queued after retries", extra={"failed": len(lost), "companies": lost[:100]})
    if not complete:
        log.error("the scan did not finish in the time left; this tick planned from what it read", extra=summary)
    log.info("tick queued", extra=summary)
    if lost and not queued:
        raise NothingQueued(f"none of {len(lost)} planned companies could be queued")
    return summary
