"""The consumer's work on one SQS batch: fetch, analyse what changed, store, report failures.

Nothing here deletes a message. The caller hands the returned message ids back to
Lambda as `batchItemFailures`; Lambda deletes the others, and the queue's redrive
policy moves a message that keeps failing to the dead-letter queue.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from lib.clock import iso, utc_now
from lib.concurrency import in_parallel
from lib.config import ConsumerConfig
from lib.limits import FETCH_WORKERS, LOG_MAX_LISTED, NOTIFY_MAX_LISTED, WRITE_WORKERS
from lib.log import correlation, get_logger
from lib.message import BadMessage, WorkMessage
from lib.notify import LabelChange, publish_label_changes
from lib.results import ResultRow, batch_key, object_exists, put_results, text_sha256
from lib.sentiment import Sentiment, detect_sentiments
from lib.state import (
    GONE,
    SUPERSEDED,
    CompanyState,
    forget_text,
    load_states,
    save_analysis,
    save_error,
    save_unchanged,
)
from lib.textsource import NotModified, PermanentTextError, Summary, TextSource, TransientTextError

log = get_logger("consumer")


class BatchFailed(RuntimeError):
    """Every record of the batch failed: raised so Lambda retries the whole batch and counts an error."""


@dataclass(frozen=True)
class Job:
    """One record of the batch: its SQS message id and the work message it carries."""

    message_id: str
    message: WorkMessage

    @property
    def name(self) -> str:
        return self.message.name

    @property
    def run_id(self) -> str:
        return self.message.run_id

    @property
    def requested_at(self) -> str:
        return self.message.requested_at

    @property
    def correlation_id(self) -> str | None:
        return self.message.correlation_id


@dataclass
class BatchOutcome:
    failures: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    # Why each handed-back message failed, as (company, reason): what an operator needs to tell why
    # a message in the dead-letter queue got there, from its message id or its company.
    reasons: dict[str, tuple[str | None, str]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def count(self, key: str, n: int = 1) -> None:
        with self._lock:  # table writes report from several threads
            self.counts[key] = self.counts.get(key, 0) + n

    def fail(self, jobs: Sequence[Job], key: str | None = None, n: int = 1) -> None:
        """Hand the jobs' messages back to the queue, counting the reason under `key`."""
        with self._lock:
            self.failures.extend(j.message_id for j in jobs)
            for job in jobs:
                self.reasons.setdefault(job.message_id, (job.name, key or "failed"))
            if key:
                self.counts[key] = self.counts.get(key, 0) + n


def parse_record(record: dict[str, Any]) -> Job:
    """Turn one SQS record of a Lambda event into a Job, or raise BadMessage."""
    message_id = record.get("messageId")
    if not isinstance(message_id, str) or not message_id:
        raise BadMessage("record has no messageId")
    return Job(message_id, WorkMessage.from_record(record))


def _partition_date(jobs: Sequence[Job]) -> str:
    # The partition follows the messages, not the clock, so a redelivered batch maps to the same key.
    return min(job.requested_at for job in jobs)[:10]


def process_batch(
    records: Sequence[dict[str, Any]],
    config: ConsumerConfig,
    text_source: TextSource,
    *,
    ddb: Any = None,
    s3: Any = None,
    comprehend: Any = None,
    sns: Any = None,
    now: Callable[[], datetime] = utc_now,
    deadline: float | None = None,
) -> BatchOutcome:
    outcome = BatchOutcome()
    jobs_by_name: dict[str, list[Job]] = {}
    bad: list[tuple[dict[str, Any], str]] = []
    for record in records:
        try:
            job = parse_record(record)
        except BadMessage as exc:
            bad.append((record, str(exc)))
            continue
        # The same company queued by two ticks is analysed once; both messages share the outcome.
        jobs_by_name.setdefault(job.name, []).append(job)
    # Batch-level lines carry the batch's correlation id(s); per-company lines carry their own.
    batch_ids = sorted({j.correlation_id for jobs in jobs_by_name.values() for j in jobs if j.correlation_id})
    with correlation(",".join(batch_ids) or None):
        for record, reason in bad:
            log.error("bad message", extra={"message_id": record.get("messageId"), "reason": reason})
            outcome.failures.append(str(record.get("messageId", "")))
            outcome.reasons.setdefault(str(record.get("messageId", "")), (None, f"bad_message: {reason}"))
            outcome.count("bad_message")
        if jobs_by_name:
            clients = {"ddb": ddb, "s3": s3, "comprehend": comprehend, "sns": sns}
            _process_jobs(jobs_by_name, config, text_source, outcome, clients, now, deadline)
        return _finish(outcome, len(records))


def _process_jobs(
    jobs_by_name: dict[str, list[Job]],
    config: ConsumerConfig,
    text_source: TextSource,
    outcome: BatchOutcome,
    clients: dict[str, Any],
    now: Callable[[], datetime],
    deadline: float | None,
) -> None:
    ddb = clients["ddb"]
    states = load_states(config.table_name, jobs_by_name, ddb=ddb)
    work: dict[str, CompanyState] = {}
    for name, jobs in jobs_by_name.items():
        if name in states:
            work[name] = states[name]
        else:
            for job in jobs:
                with correlation(job.correlation_id):
                    log.info("company no longer on the watchlist; skipped", extra={"company": name})
            outcome.count("not_on_watchlist", len(jobs))

    def fetch(name: str) -> Summary | NotModified | Exception:
        state = work[name]
        # A redelivery of the run that recorded this company's analysis asks for the full text (no
        # If-None-Match): should that run's results object be missing, the text is analysed again.
        etag = state.etag if state.text_sha256 and not recorded_by_this_run(state, jobs_by_name[name]) else None
        with correlation(jobs_by_name[name][0].correlation_id):
            try:
                return text_source.fetch_summary(name, etag=etag, deadline=deadline)
            except (PermanentTextError, TransientTextError) as exc:
                return exc

    names = list(work)
    fetched = dict(zip(names, in_parallel(fetch, names, FETCH_WORKERS), strict=True))

    checked_at = iso(now())
    changed: list[tuple[str, Summary]] = []
    for name, answer in fetched.items():
        jobs, state = jobs_by_name[name], work[name]
        with correlation(jobs[0].correlation_id):
            if isinstance(answer, TransientTextError):
                log.warning("text fetch failed; will retry", extra={"company": name, "reason": answer.reason})
                outcome.fail(jobs, "fetch_transient")
            elif isinstance(answer, PermanentTextError):
                log.warning("text unavailable", extra={"company": name, "reason": answer.reason})
                if state.last_error != answer.reason:
                    _store(outcome, jobs, save_error, config.table_name, name, answer.reason, checked_at, ddb)
                outcome.count("permanent_error")
            elif isinstance(answer, NotModified) or text_sha256(answer.text) == state.text_sha256:
                if not isinstance(answer, NotModified) and recorded_by_this_run(state, jobs):
                    present = _results_present(outcome, jobs, config, state, clients["s3"])
                    if present is None:
                        continue  # could not tell: handed back to the queue
                    if not present:
                        log.warning(
                            "this run recorded the analysis but its results object is missing; analysing again",
                            extra={"company": name, "key": state.result_key},
                        )
                        changed.append((name, answer))
                        continue
                etag = answer.etag
                if (etag and etag != state.etag) or state.last_error:
                    _store(outcome, jobs, save_unchanged, config.table_name, name, etag, checked_at, ddb)
                log.info("text unchanged; not analysed again", extra={"company": name})
                outcome.count("unchanged")
            else:
                changed.append((name, answer))

    if changed:
        # The label each company had before this batch: a change of it is what a notification reports.
        previous = {name: work[name].sentiment for name, _ in changed}
        _analyse_and_store(changed, previous, jobs_by_name, config, outcome, clients, now=now)


def recorded_by_this_run(state: CompanyState, jobs: Sequence[Job]) -> bool:
    """Whether the table's latest analysis of the company came from the run these messages belong to."""
    return state.last_run_id is not None and any(job.run_id == state.last_run_id for job in jobs)


def _results_present(
    outcome: BatchOutcome, jobs: Sequence[Job], config: ConsumerConfig, state: CompanyState, s3: Any
) -> bool | None:
    """Whether the results object the state names exists; None (records handed back) when S3 cannot say."""
    if not state.result_key:
        return False
    try:
        return object_exists(config.results_bucket, state.result_key, s3=s3)
    except Exception as exc:
        log.error("results check failed", extra={"company": jobs[0].name, "error": repr(exc)})
        outcome.fail(jobs, "results_check_error")
        return None


def _store(outcome: BatchOutcome, jobs: Sequence[Job], write: Callable[..., str], *args: Any) -> str:
    """Run one table write for a company: what lib.state reports (written, gone, superseded), or "failed"
    when the write raised and the company's messages were handed back."""
    try:
        result = write(*args)
    except Exception as exc:
        log.error("table update failed", extra={"company": jobs[0].name, "error": repr(exc)})
        outcome.fail(jobs, "table_error")
        return "failed"
    if result == GONE:
        log.info("company left the watchlist while in flight; state not written", extra={"company": jobs[0].name})
    elif result == SUPERSEDED:
        # The row still joins the dataset (it is a real analysis); readers rank it below the stored one.
        log.info("table holds a later analysis; state not written", extra={"company": jobs[0].name})
    return result


def _analyse_and_store(
    changed: list[tuple[str, Summary]],
    previous: dict[str, str | None],
    jobs_by_name: dict[str, list[Job]],
    config: ConsumerConfig,
    outcome: BatchOutcome,
    clients: dict[str, Any],
    *,
    now: Callable[[], datetime],
) -> None:
    ddb = clients["ddb"]
    answers = detect_sentiments([summary.text for _, summary in changed], config.language_code, clients["comprehend"])
    analyzed_at = iso(now())
    rows: list[tuple[ResultRow, Summary]] = []
    for (name, summary), answer in zip(changed, answers, strict=True):
        jobs = jobs_by_name[name]
        if not isinstance(answer, Sentiment):
            with correlation(jobs[0].correlation_id):
                log.error("sentiment failed; will retry", extra={"company": name, "error_code": answer.code})
            outcome.fail(jobs, "sentiment_error")
            continue
        first = min(jobs, key=lambda j: j.requested_at)
        row = ResultRow(
            name=name,
            sentiment=answer.label,
            positive=answer.positive,
            negative=answer.negative,
            neutral=answer.neutral,
            mixed=answer.mixed,
            text=summary.text,
            text_sha256=text_sha256(summary.text),
            source_url=summary.source_url,
            analyzed_at=analyzed_at,
            run_id=first.run_id,
        )
        rows.append((row, summary))
    if not rows:
        return

    key = batch_key(
        config.results_prefix,
        [row for row, _ in rows],
        _partition_date([j for row, _ in rows for j in jobs_by_name[row.name]]),
    )

    # Before the table learns the new labels: a failed Publish leaves the changed companies' old labels
    # in the table and hands their messages back, so the retry finds the same change and notifies then.
    # At worst (the table write fails after a Publish) a change is notified twice.
    unnotified = _notify_label_changes(rows, previous, jobs_by_name, config, outcome, key, clients["sns"])
    rows = [(row, summary) for row, summary in rows if row.name not in unnotified]

    # The table first, naming the results object; the object second, holding only the rows whose state
    # was written (or whose company left the watchlist). Whatever fails in between, a redelivered
    # message finds its own run in the table and looks for that object (see recorded_by_this_run):
    # there, nothing is written twice; missing, the text is analysed again. The other order would
    # write a second copy of a row whenever a record was handed back after the object was written.
    def store(pair: tuple[ResultRow, Summary]) -> str:
        row, summary = pair
        with correlation(jobs_by_name[row.name][0].correlation_id):
            return _store(
                outcome, jobs_by_name[row.name], save_analysis, config.table_name, row, summary.etag, key, ddb
            )

    outcomes = list(in_parallel(store, rows, WRITE_WORKERS))
    kept = [row for (row, _), result in zip(rows, outcomes, strict=True) if result != "failed"]
    if not kept:
        return
    try:
        put_results(config.results_bucket, key, kept, s3=clients["s3"])
    except Exception as exc:
        log.error("results write failed", extra={"key": key, "rows": len(kept), "error": repr(exc)})
        outcome.fail([j for row in kept for j in jobs_by_name[row.name]], "results_error", len(kept))
        _forget_texts(config.table_name, [row.name for row in kept], ddb)
        return
    log.info("results written", extra={"key": key, "rows": len(kept)})
    outcome.count("analysed", len(kept))
    for row in kept:
        with correlation(jobs_by_name[row.name][0].correlation_id):
            log.info("company analysed", extra={"company": row.name, "sentiment": row.sentiment, "key": key})


def _forget_texts(table: str, names: Sequence[str], ddb: Any) -> None:
    """After a failed results write, take back the states that named the missing object.

    Best effort: should this fail too (or the process die first), the redelivered messages still find
    their run in the table, see the object missing, and analyse again.
    """
    for name in names:
        try:
            forget_text(table, name, ddb)
        except Exception as exc:  # the messages are already handed back; the redelivery repairs the state
            log.error("could not take back the state of an unwritten row", extra={"company": name, "error": repr(exc)})


def _notify_label_changes(
    rows: list[tuple[ResultRow, Summary]],
    previous: dict[str, str | None],
    jobs_by_name: dict[str, list[Job]],
    config: ConsumerConfig,
    outcome: BatchOutcome,
    key: str,
    sns: Any,
) -> set[str]:
    """Publish the batch's label changes as one message; the names whose change could not be published."""
    if not config.label_change_topic_arn:
        return set()
    changes = [c for row, _ in rows if (c := LabelChange.between(previous.get(row.name), row)) is not None]
    if not changes:
        return set()
    names = sorted(c.name for c in changes)
    listed = names[:NOTIFY_MAX_LISTED]  # log lines stay short however large the batch
    try:
        message_id = publish_label_changes(
            config.label_change_topic_arn,
            changes,
            analyzed_at=rows[0][0].analyzed_at,
            run_ids=[j.run_id for c in changes for j in jobs_by_name[c.name]],
            results_uri=f"s3://{config.results_bucket}/{key}",
            sns=sns,
        )
    except Exception as exc:
        log.error(
            "label change notification failed; changed companies will retry",
            extra={"changes": len(changes), "companies": listed, "error": repr(exc)},
        )
        outcome.fail([j for c in changes for j in jobs_by_name[c.name]], "notify_error", len(changes))
        return set(names)
    log.info("label changes notified", extra={"changes": len(changes), "companies": listed, "message_id": message_id})
    outcome.count("label_changes_notified", len(changes))
    return set()


def _finish(outcome: BatchOutcome, total: int) -> BatchOutcome:
    outcome.failures = list(dict.fromkeys(outcome.failures))
    if outcome.failures:
        # One line for the batch names every handed-back message, its company and why, so a message
        # that ends in the dead-letter queue can be traced from its id (capped: log lines stay short).
        handed_back = [
            {
                "message_id": mid,
                "company": outcome.reasons.get(mid, (None, ""))[0],
                "reason": outcome.reasons.get(mid, (None, "failed"))[1],
            }
            for mid in outcome.failures[:LOG_MAX_LISTED]
        ]
        log.warning(
            "records handed back to the queue",
            extra={"failed": handed_back, "not_listed": max(0, len(outcome.failures) - LOG_MAX_LISTED)},
        )
    log.info(
        "batch done",
        extra={"records": total, "failed": len(outcome.failures), "counts": outcome.counts},
    )
    if total and len(outcome.failures) == total:
        raise BatchFailed(f"all {total} records failed")
    return outcome


def lambda_deadline(context: Any, reserve_seconds: float = 10.0, clock: Callable[[], float] = time.monotonic) -> float:
    """A monotonic-clock deadline leaving `reserve_seconds` of the invocation for writing results."""
    remaining = context.get_remaining_time_in_millis() / 1000.0 if context is not None else 60.0
    return clock() + max(0.0, remaining - reserve_seconds)
