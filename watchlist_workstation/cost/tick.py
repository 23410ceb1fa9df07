"""One tick of the pipeline as the code plans and works it (docs/design.md, "How it behaves" and "Reading
Wikipedia politely"): the part of the watchlist the tick checks (lib/plan.py), the chunks and message
batches that part travels in (lib/producer.py, then the event source mapping), and what the consumer's
invocations ask of Wikipedia, Comprehend, the table and the bucket (lib/checking.py, lib/recording.py),
in expectation over the pages that changed since each company was last checked.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace

from lib.limits import (
    CHUNK_COMPANIES,
    COMPREHEND_BATCH,
    COMPREHEND_SCORED_CHARS,
    SQS_SEND_BATCH,
    WIKI_EXTRACTS_PER_QUERY,
    WIKI_TITLES_PER_QUERY,
)
from lib.message import CORRELATION_ATTRIBUTE, Company, WorkMessage
from lib.pace import interval_for
from lib.plan import Budget
from watchlist_workstation.cost.assumptions import Assumptions
from watchlist_workstation.cost.deployment import Deployment
from watchlist_workstation.cost.durations import consumer_seconds
from watchlist_workstation.cost.units import comprehend_units, sqs_requests
from watchlist_workstation.limits import SQS_DELETE_BATCH, SQS_RECEIVE_MAX

# What a message carries of each company (lib/message.py): its name, the page its last revision was of, a
# revision id (ten digits on the large Wikipedias), the intro's SHA-256 and the label last recorded.
_REVISION_ID = 1_300_000_000
_LABEL = "POSITIVE"
# The schedule event's id (a UUID, the run id and correlation id) and time, as the producer copies them.
_RUN_ID = "00000000-0000-0000-0000-000000000000"
_REQUESTED_AT = "2026-11-28T00:00:00Z"


@dataclass(frozen=True)
class Group:
    """`count` groups of `messages` consecutive messages, holding `companies` companies each group."""

    messages: int
    companies: int
    count: int


def groups(companies: int, per_group: int, per_message: int = CHUNK_COMPANIES) -> list[Group]:
    """The messages of `companies` (`per_message` each, the last one partial) in groups of `per_group` messages:
    the producer's SendMessageBatch calls, or the batches the mapping hands the consumer (full ones, then the
    rest: the producer queues a tick's messages well inside the batching window, so batches arrive full)."""
    full_messages, rest = divmod(companies, per_message)
    full_groups, left = divmod(full_messages, per_group)
    out = [Group(per_group, per_group * per_message, full_groups)] if full_groups else []
    if left or rest:
        out.append(Group(left + (1 if rest else 0), left * per_message + rest, 1))
    return out


def message_bytes(companies: int, a: Assumptions) -> int:
    """The bytes SQS counts for one message of `companies` companies with their snapshot: body and attribute."""
    name = "x" * a.name_chars
    company = Company(name, revision=_REVISION_ID, page=name, text_sha256="0" * 64, label=_LABEL)
    message = WorkMessage(_RUN_ID, _REQUESTED_AT, (company,) * companies)
    (attribute,) = message.message_attributes().values()
    attribute_bytes = len(CORRELATION_ATTRIBUTE) + len(attribute["DataType"]) + len(attribute["StringValue"])
    return len(message.body().encode("utf-8")) + attribute_bytes


def group_bytes(group: Group, a: Assumptions) -> int:
    full, rest = divmod(group.companies, CHUNK_COMPANIES)
    return full * message_bytes(CHUNK_COMPANIES, a) + (message_bytes(rest, a) if rest else 0)


def changed_since_check(rate_per_tick: float, windows: int) -> float:
    """The chance that a company checked every `windows` ticks changed since its last check."""
    return 1 - (1 - rate_per_tick) ** windows


def expected_chunks(size: float, p: float, chunk: int) -> float:
    """E[ceil(X / chunk)] for X ~ Binomial(size, p): requests or calls for the changed pages of a batch."""
    size = round(size)
    if size <= 0 or p <= 0:
        return 0.0
    if p >= 1:
        return float(math.ceil(size / chunk))
    log_p, log_q = math.log(p), math.log1p(-p)
    total = 0.0
    for x in range(1, size + 1):
        log_pmf = math.lgamma(size + 1) - math.lgamma(x + 1) - math.lgamma(size - x + 1) + x * log_p
        total += math.exp(log_pmf + (size - x) * log_q) * math.ceil(x / chunk)
    return total


@dataclass(frozen=True)
class TickPlan:
    """What one tick checks, at a steady state in which every company was read before."""

    windows: int  # parts of the watchlist, one part a tick (lib/plan.py)
    checked: int  # companies a tick checks (a part: equal parts on average)
    sends: tuple[Group, ...]  # SendMessageBatch calls
    batches: tuple[Group, ...]  # consumer invocations
    interval: float  # seconds between one instance's Wikipedia requests (lib/pace.py)
    revised: float  # share of a tick's companies whose page has a new revision since its last check
    changed: float  # share whose intro text changed since its last check
    send_requests: int  # requests SQS bills for the SendMessageBatch calls (one per 64 KB of payload)


def plan_tick(
    companies: int,
    deployment: Deployment,
    period_seconds: int,
    revision_rate: float,
    change_rate: float,
    a: Assumptions,
) -> TickPlan:
    budget = Budget(deployment.requests_per_minute, period_seconds)
    windows = budget.windows(companies)
    checked = math.ceil(companies / windows)
    sends = groups(checked, SQS_SEND_BATCH)
    return TickPlan(
        windows=windows,
        checked=checked,
        sends=tuple(sends),
        batches=tuple(groups(checked, deployment.batch_size)),
        interval=interval_for(deployment.requests_per_minute, deployment.max_concurrency),
        revised=changed_since_check(revision_rate, windows),
        changed=changed_since_check(change_rate, windows),
        send_requests=sum(g.count * sqs_requests(group_bytes(g, a)) for g in sends),
    )


@dataclass(frozen=True)
class ConsumerWork:
    """What the consumer's invocations do in one tick, in expectation."""

    invocations: float = 0.0
    receives: float = 0.0
    receive_requests: float = 0.0  # billed: 64 KB of messages each
    deletes: float = 0.0
    revision_requests: float = 0.0
    intro_requests: float = 0.0
    updates: float = 0.0  # one UpdateItem per new revision (the revision, or the new analysis)
    comprehend_calls: float = 0.0
    comprehend_units: float = 0.0
    puts: float = 0.0
    result_bytes: float = 0.0
    log_bytes: float = 0.0
    seconds: float = 0.0

    def __add__(self, other: ConsumerWork) -> ConsumerWork:
        return ConsumerWork(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))

    def scaled(self, share: float) -> ConsumerWork:
        return replace(self, **{f.name: getattr(self, f.name) * share for f in fields(self)})


def document_units(a: Assumptions) -> int:
    """Comprehend units of one intro: only its first COMPREHEND_SCORED_CHARS characters are sent (lib/sentiment.py)."""
    return comprehend_units(min(a.text_chars, COMPREHEND_SCORED_CHARS))


def batch_work(plan: TickPlan, batch: Group, a: Assumptions) -> ConsumerWork:
    """`batch.count` invocations of `batch.messages` chunks: a revision request per chunk (lib/checking.py asks
    by chunk, WIKI_TITLES_PER_QUERY titles a request), intros for the new revisions, Comprehend for the new texts."""
    full, rest = divmod(batch.companies, CHUNK_COMPANIES)
    revision_requests = full * math.ceil(CHUNK_COMPANIES / WIKI_TITLES_PER_QUERY) + math.ceil(
        rest / WIKI_TITLES_PER_QUERY
    )
    intro_requests = expected_chunks(batch.companies, plan.revised, WIKI_EXTRACTS_PER_QUERY)
    revised, analysed = batch.companies * plan.revised, batch.companies * plan.changed
    calls = expected_chunks(batch.companies, plan.changed, COMPREHEND_BATCH)
    puts = 1 - (1 - plan.changed) ** batch.companies  # one results object per batch that analysed anything
    receives = math.ceil(batch.messages / SQS_RECEIVE_MAX)
    received_bytes = group_bytes(batch, a) / receives
    seconds = consumer_seconds(revision_requests + intro_requests, plan.interval, calls, puts, revised, a)
    one = ConsumerWork(
        invocations=1,
        receives=receives,
        receive_requests=receives * sqs_requests(received_bytes),
        deletes=math.ceil(batch.messages / SQS_DELETE_BATCH),
        revision_requests=revision_requests,
        intro_requests=intro_requests,
        updates=revised,
        comprehend_calls=calls,
        comprehend_units=analysed * document_units(a),
        puts=puts,
        result_bytes=analysed * (a.text_chars + a.result_row_bytes),
        log_bytes=a.log_bytes_per_invocation + puts * a.log_bytes_per_results_object,
        seconds=seconds,
    )
    return one.scaled(batch.count)


def consumer_work(plan: TickPlan, a: Assumptions) -> ConsumerWork:
    total = ConsumerWork()
    for batch in plan.batches:
        total = total + batch_work(plan, batch, a)
    return total
