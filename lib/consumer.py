"""The consumer's work on one SQS batch of chunks: check the companies' pages, analyse what changed, record it,
and report the messages that must come back (lib/batch.py).

Each message's snapshot (lib/message.py) says what the table held when the producer scanned, so the
normal path reads nothing per company from the table. A message SQS delivered before, or one of the
earlier one-company shape, may carry a stale or no snapshot: its companies are read from the table first,
and a company whose latest analysis was recorded by that very run has its results object looked for
(a crash between the table write and the object write leaves it missing; it is then analysed again).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from lib.batch import BatchOutcome, Delivery, Job, jobs_of, parse_record
from lib.checking import Failed, NewRevision, NewText, Problem, Unchanged, check
from lib.clients import DeadlineReached, bounded_by
from lib.clock import Deadline, iso, utc_now
from lib.config import ConsumerConfig
from lib.limits import TEXT_RESERVE_SECONDS
from lib.log import correlation, get_logger
from lib.message import BadMessage
from lib.recording import analyse, record_problems, record_revisions, record_unchanged
from lib.results import row_recorded
from lib.state import load_states
from lib.wikipedia import Wikipedia

log = get_logger("consumer")


def process_batch(
    records: Sequence[dict[str, Any]],
    config: ConsumerConfig,
    wiki: Wikipedia,
    *,
    ddb: Any = None,
    s3: Any = None,
    comprehend: Any = None,
    sns: Any = None,
    now: Callable[[], datetime] = utc_now,
    deadline: Deadline | None = None,
) -> BatchOutcome:
    """Work on the batch's records; every outbound call ends by `deadline` (docs/design.md rule 11), and what
    could not be finished by then is handed back. The text source's client must keep the deadline's clock."""
    outcome = BatchOutcome()
    deliveries: list[Delivery] = []
    for record in records:
        try:
            deliveries.append(parse_record(record))
        except BadMessage as exc:
            message_id = str(record.get("messageId", ""))
            log.error("bad message", extra={"message_id": message_id, "reason": str(exc)})
            outcome.fail_message(message_id, None, f"bad_message: {exc}")
            outcome.count("bad_message")
    # Batch-level lines carry the batch's correlation id(s).
    batch_ids = sorted({d.message.correlation_id for d in deliveries if d.message.correlation_id})
    with correlation(",".join(batch_ids) or None):
        jobs = jobs_of(deliveries)
        if jobs:
            clients = {"ddb": ddb, "s3": s3, "comprehend": comprehend, "sns": sns}
            with bounded_by(deadline):
                _process(jobs, config, wiki, outcome, clients, now, deadline or Deadline.never())
        for delivery in deliveries:
            # Entries of a chunk that could not be read: the rest were worked on; the message itself comes back,
            # and after its last receive it lands in the dead-letter queue with this reason.
            if delivery.message.rejected:
                reason = "bad_message: " + "; ".join(delivery.message.rejected)[:500]
                log.error("bad entries in a message", extra={"message_id": delivery.message_id, "reason": reason})
                outcome.fail_message(delivery.message_id, None, reason)
                outcome.count("bad_message")
        return outcome.finish(len(records), config.metrics)


def _process(
    jobs: dict[str, Job],
    config: ConsumerConfig,
    wiki: Wikipedia,
    outcome: BatchOutcome,
    clients: dict[str, Any],
    now: Callable[[], datetime],
    deadline: Deadline,
) -> None:
    # The table reads and the text source stop early enough for Comprehend and the records to follow.
    reading = deadline.earlier(TEXT_RESERVE_SECONDS)
    with bounded_by(reading):
        force = _refresh_snapshots(jobs, config, outcome, clients)
    if not jobs:
        return
    companies = {name: job.company for name, job in jobs.items()}
    chunks = _chunks_of(jobs)
    verdicts = check(companies, wiki, groups=chunks, deadline=reading.at, force=force)
    checked_at = iso(now())
    by_kind: dict[type, list[tuple[Job, Any]]] = {}
    for name, verdict in verdicts.items():
        by_kind.setdefault(type(verdict), []).append((jobs[name], verdict))
    record_unchanged(by_kind.get(Unchanged, []), config.table_name, checked_at, outcome, clients["ddb"])
    failed = by_kind.get(Failed, [])
    for job, verdict in failed:
        outcome.fail([job], f"fetch_{verdict.reason}")
    if failed:
        log.warning("text source requests failed; those companies will retry", extra={"companies": len(failed)})
    record_problems(by_kind.get(Problem, []), config.table_name, checked_at, outcome, clients["ddb"])
    record_revisions(by_kind.get(NewRevision, []), config.table_name, checked_at, outcome, clients["ddb"])
    if by_kind.get(NewText):
        analyse(by_kind[NewText], config, outcome, clients, now, deadline)


def _chunks_of(jobs: dict[str, Job]) -> list[list[str]]:
    """The companies of each delivered chunk, each company in the first chunk that carries it."""
    chunks: dict[str, list[str]] = {}
    for name, job in jobs.items():
        chunks.setdefault(job.deliveries[0].message_id, []).append(name)
    return list(chunks.values())


def _refresh_snapshots(
    jobs: dict[str, Job], config: ConsumerConfig, outcome: BatchOutcome, clients: dict[str, Any]
) -> set[str]:
    """Read the table for companies whose message was delivered before or carries no snapshot; drop those no
    longer on the watchlist. Returns the names whose recorded results object is missing (to analyse again)."""
    stale = [name for name, job in jobs.items() if any(d.redelivered or not d.message.snapshot for d in job.deliveries)]
    if not stale:
        return set()
    try:
        states = load_states(config.table_name, stale, clients["ddb"])
    except DeadlineReached:
        # No time left to read their state: these records go back whole, the others carry on.
        outcome.fail([jobs.pop(name) for name in stale], "deadline")
        return set()
    force: set[str] = set()
    for name in stale:
        job = jobs[name]
        stored = states.get(name)
        if stored is None:
            outcome.count("not_on_watchlist")
            del jobs[name]
            continue
        job.company = stored.company
        if stored.last_run_id in job.run_ids and stored.result_key:
            present = _results_present(job, config, stored.result_key, outcome, clients["s3"])
            if present is None:
                del jobs[name]  # handed back: S3 could not say
            elif not present:
                log.warning(
                    "this run recorded the analysis but its results object is missing; analysing again",
                    extra={"company": name, "key": stored.result_key},
                )
                force.add(name)
    return force


def _results_present(job: Job, config: ConsumerConfig, key: str, outcome: BatchOutcome, s3: Any) -> bool | None:
    """Whether the row's results object exists, or its rows were compacted into its day's objects (the day's
    manifest names it); None (messages handed back) when S3 cannot say."""
    try:
        return row_recorded(config.results_bucket, key, s3=s3, manifests=config.manifests_prefix)
    except Exception as exc:
        log.error("results check failed", extra={"company": job.name, "error": repr(exc)})
        outcome.fail([job], "results_check_error")
        return None
