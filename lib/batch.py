"""The consumer's view of one SQS batch: which messages carry which companies, and what goes back to the queue.

Nothing here deletes a message. The caller hands the failed message ids back to Lambda as
`batchItemFailures`; Lambda deletes the others, and the queue's redrive policy moves a message that keeps
failing to the dead-letter queue (docs/design.md rule 5). A message carries a chunk of companies: it goes
back when any of its companies failed, and the others' progress is kept by their conditional table writes.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from lib.limits import LOG_MAX_LISTED
from lib.log import get_logger
from lib.message import BadMessage, Company, WorkMessage
from lib.metrics import PROGRESS, MetricsTarget, emf_fields, outcome_values

log = get_logger("consumer")


class BatchFailed(RuntimeError):
    """Every record of the batch failed and no company made progress: raised so Lambda retries the whole batch
    and counts an error (the consumer-errors alarm watches those)."""


@dataclass(frozen=True)
class Delivery:
    """One record of the batch: its SQS message id, the message, and whether SQS delivered it before."""

    message_id: str
    message: WorkMessage
    redelivered: bool


@dataclass
class Job:
    """One company of the batch, with every delivery that carries it (two ticks may both have queued it)."""

    company: Company
    deliveries: list[Delivery]

    @property
    def name(self) -> str:
        return self.company.name

    @property
    def first(self) -> WorkMessage:
        """The earliest tick's message: its run names the row, its date the row's partition."""
        return min((d.message for d in self.deliveries), key=lambda m: m.requested_at)

    @property
    def correlation_id(self) -> str | None:
        return self.first.correlation_id

    @property
    def run_ids(self) -> set[str]:
        return {d.message.run_id for d in self.deliveries}


def parse_record(record: dict[str, Any]) -> Delivery:
    """Turn one SQS record of a Lambda event into a Delivery, or raise BadMessage."""
    message_id = record.get("messageId")
    if not isinstance(message_id, str) or not message_id:
        raise BadMessage("record has no messageId")
    receives = str((record.get("attributes") or {}).get("ApproximateReceiveCount") or "1")
    return Delivery(message_id, WorkMessage.from_record(record), receives.isdigit() and int(receives) > 1)


def jobs_of(deliveries: Iterable[Delivery]) -> dict[str, Job]:
    """The batch's companies by name; the first snapshot of a company wins (they are the same scan's)."""
    jobs: dict[str, Job] = {}
    for delivery in deliveries:
        for company in delivery.message.companies:
            if company.name in jobs:
                jobs[company.name].deliveries.append(delivery)
            else:
                jobs[company.name] = Job(company, [delivery])
    return jobs


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

    def fail_message(self, message_id: str, company: str | None, reason: str) -> None:
        with self._lock:
            self.failures.append(message_id)
            self.reasons.setdefault(message_id, (company, reason))

    def fail(self, jobs: Sequence[Job], key: str) -> None:
        """Hand the jobs' messages back to the queue, counting each company under `key`."""
        for job in jobs:
            for delivery in job.deliveries:
                self.fail_message(delivery.message_id, job.name, key)
        self.count(key, len(jobs))

    def finish(self, total: int, metrics: MetricsTarget | None = None) -> BatchOutcome:
        """Log the batch in two lines at most, and raise BatchFailed when every record failed without any company
        of the batch making progress (one company failing in a batch of one chunk only hands that chunk back).

        With `metrics`, the "batch done" line is also the batch's metric document (lib/metrics.py)."""
        self.failures = list(dict.fromkeys(self.failures))
        if self.failures:
            # One line names every handed-back message, its company and why, so a message that ends in the
            # dead-letter queue can be traced from its id (capped: log lines stay short).
            handed_back = [
                {"message_id": mid, "company": self.reasons[mid][0], "reason": self.reasons[mid][1]}
                for mid in self.failures[:LOG_MAX_LISTED]
            ]
            log.warning(
                "records handed back to the queue",
                extra={"failed": handed_back, "not_listed": max(0, len(self.failures) - LOG_MAX_LISTED)},
            )
        fields = emf_fields(metrics, outcome_values(self.counts)) if metrics is not None else {}
        log.info("batch done", extra={"records": total, "failed": len(self.failures), "counts": self.counts, **fields})
        if total and len(self.failures) == total and not any(self.counts.get(k) for k in PROGRESS):
            raise BatchFailed(f"all {total} records failed")
        return self
