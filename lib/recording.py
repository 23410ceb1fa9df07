"""Recording what changed: permanent problems and new revisions in the table, new intros through Comprehend
into the table and the results dataset, and label changes to the notification topic.

Order for new intros (docs/design.md rule 6): notify, then the table, naming the batch's results object,
then the object, holding only the rows whose state was written (or whose company left the watchlist).
A write refused because the table already holds the revision (a redelivered chunk) drops its row, so
no row is written twice. When the object cannot be written, the states that named it are taken back.

Time (docs/design.md rule 11): Comprehend must be done RECORD_RESERVE_SECONDS before the invocation's deadline;
when less than that is left once it answered, nothing of the batch's analyses is written and their messages
go back; a write the deadline refuses hands its company back like any failed write.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from lib.batch import BatchOutcome, Job
from lib.checking import NewRevision, NewText, Problem
from lib.clients import DeadlineReached, bounded_by
from lib.clock import Deadline, iso
from lib.concurrency import in_parallel
from lib.config import ConsumerConfig
from lib.limits import NOTIFY_MAX_LISTED, RECORD_RESERVE_SECONDS, WRITE_WORKERS
from lib.log import correlation, get_logger
from lib.notify import LabelChange, publish_label_changes
from lib.results import ResultRow, batch_key, put_results, text_sha256
from lib.sentiment import Sentiment, detect_sentiments
from lib.state import GONE, SUPERSEDED, WRITTEN, clear_error, forget_text, save_analysis, save_error, save_revision

log = get_logger("consumer")


def store(outcome: BatchOutcome, job: Job, write: Callable[..., str], *args: Any, **kwargs: Any) -> str:
    """Run one table write for a company: what lib.state reports (written, gone, superseded), or "failed"
    when the write raised and the company's messages were handed back."""
    try:
        return write(*args, **kwargs)
    except Exception as exc:
        with correlation(job.correlation_id):
            log.error("table update failed", extra={"company": job.name, "error": repr(exc)})
        outcome.fail([job], _reason(exc, "table_error"))
        return "failed"


def _reason(exc: Exception, otherwise: str) -> str:
    """Why a call failed, for the handed-back message: the deadline, or `otherwise`."""
    return "deadline" if isinstance(exc, DeadlineReached) else otherwise


def record_problems(pairs: Sequence[tuple[Job, Problem]], table: str, at: str, outcome: BatchOutcome, ddb: Any) -> None:
    """A permanent problem is written once: only when it differs from the error the table already holds. The
    write that records it is the one that counts it new; a bad name standing on the watchlist, whose snapshot
    (or, on a race, whose conditional write) finds the same error recorded, is not new again."""
    for job, problem in pairs:
        if job.company.last_error != problem.reason:
            if store(outcome, job, save_error, table, job.name, problem.reason, at, ddb) == WRITTEN:
                outcome.count("new_permanent_error")
        outcome.count("permanent_error")


def record_unchanged(pairs: Sequence[tuple[Job, Any]], table: str, at: str, outcome: BatchOutcome, ddb: Any) -> None:
    """Unchanged pages cost no write, except one whose company still carries a permanent error: the page answers
    again at the recorded revision, so the error is cleared (and a later failure counts as new again)."""
    for job, _ in pairs:
        if job.company.last_error is not None:
            if store(outcome, job, clear_error, table, job.name, at, ddb) == WRITTEN:
                outcome.count("errors_cleared")
    outcome.count("unchanged", len(pairs))


def record_revisions(
    pairs: Sequence[tuple[Job, NewRevision]], table: str, at: str, outcome: BatchOutcome, ddb: Any
) -> None:
    def write(pair: tuple[Job, NewRevision]) -> None:
        job, verdict = pair
        if store(outcome, job, save_revision, table, job.name, verdict.page, at, ddb) != "failed":
            outcome.count("new_revision")

    for _ in in_parallel(write, pairs, WRITE_WORKERS):
        pass


def analyse(
    pairs: Sequence[tuple[Job, NewText]],
    config: ConsumerConfig,
    outcome: BatchOutcome,
    clients: dict[str, Any],
    now: Callable[[], datetime],
    deadline: Deadline,
) -> list[ResultRow]:
    """Score the new intros, record them and write their rows; returns the rows written."""
    with bounded_by(deadline.earlier(RECORD_RESERVE_SECONDS)):
        answers = detect_sentiments(
            [verdict.page.text for _, verdict in pairs], config.language_code, clients["comprehend"]
        )
    analyzed_at = iso(now())
    rows: list[tuple[ResultRow, Job, NewText]] = []
    for (job, verdict), answer in zip(pairs, answers, strict=True):
        if not isinstance(answer, Sentiment):
            with correlation(job.correlation_id):
                log.error("sentiment failed; will retry", extra={"company": job.name, "error_code": answer.code})
            outcome.fail([job], "deadline" if answer.code == DeadlineReached.__name__ else "sentiment_error")
            continue
        page = verdict.page
        row = ResultRow(
            name=job.name,
            sentiment=answer.label,
            positive=answer.positive,
            negative=answer.negative,
            neutral=answer.neutral,
            mixed=answer.mixed,
            text=page.text,
            text_sha256=text_sha256(page.text),
            source_url=page.url,
            analyzed_at=analyzed_at,
            run_id=job.first.run_id,
            revision=page.revision,
        )
        rows.append((row, job, verdict))
    if not rows:
        return []
    if not deadline.allows(RECORD_RESERVE_SECONDS):
        log.warning("no time left to record the analyses; their messages go back", extra={"companies": len(rows)})
        outcome.fail([job for _, job, _ in rows], "deadline")
        return []
    # The partition is the day of the analysis (docs/dataset.md, "When a day is finished"): only an invocation
    # running that day writes into it, so a day is finished soon after it ends, whatever waits on the queues.
    key = batch_key(config.results_prefix, [row for row, _, _ in rows], analyzed_at[:10])

    # Before the table learns the new labels: a failed Publish leaves the old labels in the table and hands
    # the messages back, so the retry finds the same change and notifies then.
    unnotified = _notify(rows, config, outcome, key, clients["sns"])
    rows = [entry for entry in rows if entry[0].name not in unnotified]

    def write(entry: tuple[ResultRow, Job, NewText]) -> str:
        row, job, verdict = entry
        return store(
            outcome,
            job,
            save_analysis,
            config.table_name,
            row,
            verdict.page,
            key,
            clients["ddb"],
            repair=verdict.repair,
        )

    results = list(in_parallel(write, rows, WRITE_WORKERS))
    kept = [entry for entry, result in zip(rows, results, strict=True) if result in (WRITTEN, GONE)]
    superseded = sum(result == SUPERSEDED for result in results)
    if superseded:
        outcome.count("already_recorded", superseded)
    if not kept:
        return []
    try:
        put_results(config.results_bucket, key, [row for row, _, _ in kept], s3=clients["s3"])
    except Exception as exc:
        log.error("results write failed", extra={"key": key, "rows": len(kept), "error": repr(exc)})
        outcome.fail([job for _, job, _ in kept], _reason(exc, "results_error"))
        _take_back(config.table_name, [job.name for _, job, _ in kept], clients["ddb"])
        return []
    log.info("results written", extra={"key": key, "rows": len(kept)})
    outcome.count("analysed", len(kept))
    return [row for row, _, _ in kept]


def _take_back(table: str, names: Sequence[str], ddb: Any) -> None:
    """After a failed results write, take back the states that named the missing object.

    Best effort: should this fail too (or the process die first), the redelivered messages read the table,
    find their run recorded, see the object missing, and analyse again.
    """
    for name in names:
        try:
            forget_text(table, name, ddb)
        except Exception as exc:  # the messages are already handed back; the redelivery repairs the state
            log.error("could not take back the state of an unwritten row", extra={"company": name, "error": repr(exc)})


def _notify(
    rows: list[tuple[ResultRow, Job, NewText]], config: ConsumerConfig, outcome: BatchOutcome, key: str, sns: Any
) -> set[str]:
    """Publish the batch's label changes as one message; the names whose change could not be published."""
    if not config.label_change_topic_arn:
        return set()
    jobs = {row.name: job for row, job, _ in rows}
    changes = [c for row, job, _ in rows if (c := LabelChange.between(job.company.label, row)) is not None]
    if not changes:
        return set()
    names = sorted(c.name for c in changes)
    listed = names[:NOTIFY_MAX_LISTED]  # log lines stay short however large the batch
    try:
        message_id = publish_label_changes(
            config.label_change_topic_arn,
            changes,
            analyzed_at=rows[0][0].analyzed_at,
            run_ids=sorted({run for c in changes for run in jobs[c.name].run_ids}),
            results_uri=f"s3://{config.results_bucket}/{key}",
            sns=sns,
        )
    except Exception as exc:
        log.error(
            "label change notification failed; changed companies will retry",
            extra={"changes": len(changes), "companies": listed, "error": repr(exc)},
        )
        outcome.fail([jobs[c.name] for c in changes], "notify_error")
        return set(names)
    log.info("label changes notified", extra={"changes": len(changes), "companies": listed, "message_id": message_id})
    outcome.count("label_changes_notified", len(changes))
    return set()
