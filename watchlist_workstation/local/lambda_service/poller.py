"""The SQS event source mappings, played as Lambda plays them: receive a batch, invoke, delete what succeeded.

What follows Lambda, and where each rule comes from (Lambda developer guide, "Using Lambda with
Amazon SQS" and "Handling errors for an SQS event source in Lambda"):

- A batch is up to BatchSize records, gathered with ReceiveMessage calls of at most 10 for up to
  MaximumBatchingWindowInSeconds. Records are shaped like Lambda's SQS event (events.py).
- Success deletes the batch. With ReportBatchItemFailures, the records the function lists in
  `batchItemFailures` stay and the others are deleted; a response that cannot be read as a
  partial batch response (not an object, a list entry without a valid `itemIdentifier`, an id
  not in the batch) fails the whole batch. An exception, a crash or a timeout deletes nothing.
- Visibility is never changed here: a record that is not deleted comes back when the queue's
  own visibility timeout ends, and the queue's redrive policy moves it to the dead-letter queue
  after maxReceiveCount receives. moto implements that move itself (on the receive that finds
  the count reached, as SQS does), so the poller does not.
- At most ScalingConfig.MaximumConcurrency batches of one mapping are in flight; without it, 5,
  the number of concurrent batches Lambda starts an SQS mapping with.

The pollers call SQS several at once, so they need the SQS local mode's moto server runs:
watchlist_workstation/local/moto_server/sqs_patch.py patches moto 5.2.5's (which scans the whole
queue several times per call and can hand out a message twice, undo a delete or lose a message sent
during a delete under concurrent calls) so that each call is cheap and holds its queue's lock. The
pollers still back off while idle, and drain checks queue depth less often when the check is slow.

A mapping receives and deletes with its function's execution role (`role_sqs`), as Lambda's pollers
do; drain's own depth checks are local mode's bookkeeping and use the account's administrator client.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from lib.log import get_logger
from watchlist_workstation.limits import SQS_DELETE_BATCH, SQS_RECEIVE_MAX
from watchlist_workstation.local.lambda_service.events import sqs_record
from watchlist_workstation.local.lambda_service.invoker import InvokeResult
from watchlist_workstation.local.lambda_service.specs import MappingSpec

log = get_logger("local.lambda_service")

# How soon an idle poller asks an empty queue again (doubling up to the maximum while it stays empty),
# and how often drain checks the queues: short enough that drain ends promptly, long enough not to
# keep moto busy (moto scans the whole queue for every ReceiveMessage and GetQueueAttributes).
IDLE_POLL_SECONDS = 0.05
IDLE_POLL_MAX_SECONDS = 0.8
DRAIN_CHECK_SECONDS = 0.2
# ... and how often while a queue still holds a few full rounds of batches: its end is no nearer
# than that, and each check is one more call for moto to serve among the pipeline's own.
DRAIN_BUSY_CHECK_SECONDS = 1.0
DRAIN_BUSY_ROUNDS = 4


@dataclass
class PollReport:
    mapping: str  # the mapping's UUID
    received: int = 0
    deleted: int = 0
    failed: int = 0  # records left on the queue (their visibility timeout decides what comes next)
    result: InvokeResult | None = None  # None when nothing was received
    malformed_response: bool = False
    gather_seconds: float = 0.0  # from the first record to the invocation: time spent filling the batch
    records: list[dict[str, Any]] = field(default_factory=list)  # the event's records, as delivered
    delete_errors: list[str] = field(default_factory=list)


@dataclass
class DrainReport:
    batches: int = 0
    records: int = 0
    deleted: int = 0
    failed: int = 0
    dead_lettered: int = 0  # growth of the mapped queues' dead-letter queues
    invoke_errors: int = 0
    timeouts: int = 0
    ticks: int = 0  # schedule ticks fired (run and fire_and_drain)
    seconds: float = 0.0
    timed_out: bool = False
    remaining: dict[str, dict[str, int]] = field(default_factory=dict)  # queue URL -> its counts at the end

    def add(self, report: PollReport) -> None:
        if not report.received:
            return
        self.batches += 1
        self.records += report.received
        self.deleted += report.deleted
        self.failed += report.failed
        if report.result is not None and not report.result.ok:
            self.invoke_errors += 1
            self.timeouts += int(report.result.timed_out)


def batch_item_failures(payload: Any, message_ids: Iterable[str]) -> set[str] | None:
    """The message ids a partial batch response names; None when Lambda would fail the whole batch.

    Success: no response, an empty object, or a null or empty `batchItemFailures`. Whole-batch
    failure: anything else that is not an object holding a list of {"itemIdentifier": <id of a
    record of this batch>}.
    """
    if payload is None:
        return set()
    if not isinstance(payload, dict):
        return None
    failures = payload.get("batchItemFailures")
    if failures is None:
        return set()
    if not isinstance(failures, list):
        return None
    known = set(message_ids)
    named: set[str] = set()
    for item in failures:
        identifier = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not isinstance(identifier, str) or identifier not in known:
            return None
        named.add(identifier)
    return named


class SqsPoller:
    """Polls the mappings `mappings()` returns (the deployment as last read), invoking through `invoke`."""

    def __init__(
        self,
        sqs: Any,
        invoke: Callable[[str, Any], InvokeResult],
        mappings: Callable[[], list[MappingSpec]],
        role_sqs: Callable[[MappingSpec], Any] | None = None,
    ) -> None:
        self._sqs, self._invoke, self._mappings = sqs, invoke, mappings
        self._role_sqs = role_sqs or (lambda mapping: sqs)
        self._lock = threading.Lock()
        self._watchers: list[Callable[[PollReport], None]] = []

    def watch(self, callback: Callable[[PollReport], None]) -> None:
        """Hand every poll's report to `callback` (on the polling thread, so it must be quick and thread-safe)."""
        self._watchers.append(callback)

    def poll_once(
        self, mapping: MappingSpec, *, wait_seconds: float = 0.0, flush_when_empty: bool = False
    ) -> PollReport:
        """One batch of `mapping`: gather, invoke, delete what succeeded. Empty report if the queue had nothing.

        `wait_seconds`: how long to wait for a first record (Lambda's pollers long-poll; 0 asks once).
        `flush_when_empty`: send a partial batch as soon as the queue has nothing visible instead of
        waiting out the batching window (drain's mode: at most one tick is still sending, so the
        wait would mostly add time; batches may then be smaller than Lambda's, the rules are the same).
        """
        report = self._poll(mapping, wait_seconds, flush_when_empty)
        for watcher in self._watchers:
            watcher(report)
        return report

    def _poll(self, mapping: MappingSpec, wait_seconds: float, flush_when_empty: bool) -> PollReport:
        report = PollReport(mapping=mapping.uuid)
        messages = self._receive(mapping, min(SQS_RECEIVE_MAX, mapping.batch_size), wait_seconds)
        if not messages:
            return report
        # The batching window runs from the first record; the batch goes when it is full or the window ends.
        first_record_at = time.monotonic()
        window_end = first_record_at + mapping.batching_window
        last_full = len(messages) == min(SQS_RECEIVE_MAX, mapping.batch_size)
        while len(messages) < mapping.batch_size:
            want = min(SQS_RECEIVE_MAX, mapping.batch_size - len(messages))
            if mapping.batching_window <= 0:
                # No window: keep receiving only while the queue hands out full answers.
                if not last_full:
                    break
                more = self._receive(mapping, want)
                if not more:
                    break
                last_full = len(more) == want
            else:
                remaining = window_end - time.monotonic()
                if remaining <= 0:
                    break
                more = self._receive(mapping, want, 0.0 if flush_when_empty else remaining)
                if not more and flush_when_empty:
                    break
            messages.extend(more)

        report.gather_seconds = time.monotonic() - first_record_at
        records = [sqs_record(m, mapping.queue_arn) for m in messages]
        report.records, report.received = records, len(records)
        result = self._invoke(mapping.function, {"Records": records})
        report.result = result
        if not result.ok:
            keep = {r["messageId"] for r in records}  # exception, crash or timeout: the whole batch stays
        elif not mapping.report_batch_item_failures:
            keep = set()
        else:
            named = batch_item_failures(result.payload, (r["messageId"] for r in records))
            report.malformed_response = named is None
            keep = {r["messageId"] for r in records} if named is None else named
        if report.malformed_response:
            log.warning("response is not a valid partial batch response; batch kept", extra={"mapping": mapping.uuid})
        to_delete = [r for r in records if r["messageId"] not in keep]
        report.deleted, report.delete_errors = self._delete(mapping, to_delete)
        report.failed = report.received - report.deleted
        return report

    def _receive(self, mapping: MappingSpec, count: int, wait_seconds: float = 0.0) -> list[dict[str, Any]]:
        """Up to `count` messages, waiting up to `wait_seconds` for the first (short polls with a
        backoff, so that a poller never blocks a request thread of moto's server)."""
        deadline = time.monotonic() + wait_seconds
        pause = IDLE_POLL_SECONDS
        while True:
            response = self._role_sqs(mapping).receive_message(
                QueueUrl=mapping.queue_url,
                MaxNumberOfMessages=count,
                WaitTimeSeconds=0,
                MessageSystemAttributeNames=["All"],
                MessageAttributeNames=["All"],
            )
            messages = response.get("Messages", [])
            remaining = deadline - time.monotonic()
            if messages or remaining <= 0:
                return messages
            time.sleep(min(pause, remaining))
            pause = min(IDLE_POLL_MAX_SECONDS, pause * 2)

    def _delete(self, mapping: MappingSpec, records: list[dict[str, Any]]) -> tuple[int, list[str]]:
        deleted, errors = 0, []
        for start in range(0, len(records), SQS_DELETE_BATCH):
            chunk = records[start : start + SQS_DELETE_BATCH]
            entries = [{"Id": str(i), "ReceiptHandle": r["receiptHandle"]} for i, r in enumerate(chunk)]
            try:
                response = self._role_sqs(mapping).delete_message_batch(QueueUrl=mapping.queue_url, Entries=entries)
            except (ClientError, BotoCoreError) as exc:
                # Not deleted means delivered again later: a duplicate, never a loss.
                errors.extend(f"{r['messageId']}: {exc}" for r in chunk)
                continue
            deleted += len(response.get("Successful", []))
            errors.extend(f"{chunk[int(f['Id'])]['messageId']}: {f.get('Code')}" for f in response.get("Failed", []))
        if errors:
            log.warning("some records were not deleted", extra={"mapping": mapping.uuid, "count": len(errors)})
        return deleted, errors

    def queue_counts(self, url: str) -> dict[str, int]:
        """The queue's visible, in-flight and delayed messages (its approximate counts)."""
        names = [
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        ]
        attributes = self._sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
        return {
            "visible": int(attributes.get(names[0], 0)),
            "in_flight": int(attributes.get(names[1], 0)),
            "delayed": int(attributes.get(names[2], 0)),
        }

    def _dead_letter_depth(self) -> int:
        urls = {m.dlq_url for m in self._mappings() if m.dlq_url}
        return sum(sum(self.queue_counts(url).values()) for url in urls)

    # -- pollers ----------------------------------------------------------------------------------

    def start(self, stop: threading.Event, report: DrainReport, flush_when_empty: bool = False) -> ThreadPoolExecutor:
        """Poll every mapping until `stop` is set, adding each batch to `report`; shut the pool down to wait."""
        mappings = list(self._mappings())
        pool = ThreadPoolExecutor(max_workers=max(1, sum(m.concurrency for m in mappings)), thread_name_prefix="poller")
        for mapping in mappings:
            # One poller per batch allowed in flight: MaximumConcurrency caps the mapping exactly.
            for _ in range(mapping.concurrency):
                pool.submit(self._poll_loop, mapping, stop, report, flush_when_empty)
        return pool

    def _poll_loop(self, mapping: MappingSpec, stop: threading.Event, report: DrainReport, flush: bool) -> None:
        idle_wait = IDLE_POLL_SECONDS
        while not stop.is_set():
            try:
                polled = self.poll_once(mapping, flush_when_empty=flush)
            except Exception as exc:
                # A poller that died would leave drain waiting for its timeout; its records are not lost
                # (whatever it received comes back after the visibility timeout), so log and go on.
                log.warning("poll failed; retrying", extra={"mapping": mapping.uuid, "error": repr(exc)})
                stop.wait(1.0)
                continue
            if polled.received:
                idle_wait = IDLE_POLL_SECONDS
                with self._lock:
                    report.add(polled)
            else:
                # Back off while the queue has nothing visible: each ReceiveMessage makes moto scan every
                # message of the queue, in flight included, so eager idle pollers would slow the busy ones.
                stop.wait(idle_wait)
                idle_wait = min(IDLE_POLL_MAX_SECONDS, idle_wait * 2)

    def drain(self, timeout: float, idle_rounds: int, first: Callable[[], object] | None = None) -> DrainReport:
        """Poll every mapping until each queue shows nothing visible, in flight or delayed on `idle_rounds`
        checks in a row, or `timeout` seconds pass; `first` runs once the pollers are up, before the
        first check (a schedule tick, so a queue still empty at the start does not end the drain).

        A record that failed stays in flight until the queue's visibility timeout ends, so drain
        waits for its retries (and its move to the dead-letter queue) like Lambda would. Drain
        expects nothing but `first` to be sending, so a batch goes as soon as the queue has nothing
        visible, without waiting out the batching window (see poll_once).
        """
        started = time.monotonic()
        report = DrainReport()
        dead_before = self._dead_letter_depth()
        stop = threading.Event()
        pool = self.start(stop, report, flush_when_empty=True)
        idle = 0
        try:
            if first is not None:
                first()
            while True:
                checked = time.monotonic()
                mappings = self._mappings()
                counts = {m.queue_url: self.queue_counts(m.queue_url) for m in mappings}
                idle = idle + 1 if all(not any(c.values()) for c in counts.values()) else 0
                if idle >= idle_rounds:
                    break
                if time.monotonic() - started > timeout:
                    report.timed_out = True
                    break
                # Check less often while the queues hold several rounds of full batches, and when
                # the check itself is slow (never more than a fifth of the time on checking).
                busy = bool(mappings) and all(
                    counts[m.queue_url]["visible"] >= DRAIN_BUSY_ROUNDS * m.concurrency * m.batch_size for m in mappings
                )
                pause = DRAIN_BUSY_CHECK_SECONDS if busy else DRAIN_CHECK_SECONDS
                time.sleep(max(pause, 4 * (time.monotonic() - checked)))
        finally:
            stop.set()
            pool.shutdown(wait=True)
        report.remaining = {m.queue_url: self.queue_counts(m.queue_url) for m in self._mappings()}
        report.dead_lettered = self._dead_letter_depth() - dead_before
        report.seconds = time.monotonic() - started
        log.info("drained", extra={"batches": report.batches, "records": report.records, "timed_out": report.timed_out})
        return report
