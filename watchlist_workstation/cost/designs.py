"""What a month of the pipeline uses: the calls each tick makes, as the code makes them, and what stays.

Counts follow the code and the template, never copies of their numbers:
- the producer scans the whole table page by page (lib/producer.py) and sends SendMessageBatch calls
  of SQS_SEND_BATCH; every company is due on every tick (the producer has no notion of due-ness);
- the consumer mapping delivers batches of the template's ConsumerBatchSize; the mapping receives
  them in ReceiveMessage calls of up to SQS_RECEIVE_MAX and deletes them with DeleteMessageBatch
  calls of up to SQS_DELETE_BATCH (both billed to the account);
- per batch the consumer reads the state with BatchGetItem (DDB_BATCH_GET keys each), sends only
  the changed texts to BatchDetectSentiment (COMPREHEND_BATCH per call), writes one results object
  for the batch if anything was analysed, and one UpdateItem per analysed company. An unchanged
  text (same hash, or 304 Not Modified with the same ETag) writes nothing (lib/consumer.py).

What the code cannot know is an Assumption (watchlist_workstation/cost/assumptions.py), with a default and a
reason; the output names them. The prototype's design (docs/design.md, "The prototype this product replaces")
is modelled beside it.
"""

from __future__ import annotations

import math

from lib.limits import COMPREHEND_BATCH, COMPREHEND_MAX_DOC_BYTES, DDB_BATCH_GET, SQS_SEND_BATCH
from lib.results import COLUMNS
from watchlist_workstation.cost.assumptions import Assumptions
from watchlist_workstation.cost.deployment import (
    LAMBDA_DEFAULT_ARCHITECTURE,
    LAMBDA_DEFAULT_MEMORY_MB,
    SQS_EVENT_DEFAULT_BATCH_SIZE,
    Deployment,
    FunctionSettings,
)
from watchlist_workstation.cost.durations import (
    CLIENT_CREATE_SECONDS,
    COMPREHEND_CALL_SECONDS,
    FUNCTION_START_SECONDS,
    S3_PUT_SECONDS,
    SQS_CALL_SECONDS,
    TEXT_FETCH_SECONDS,
    consumer_seconds,
    producer_seconds,
)
from watchlist_workstation.cost.estimate import PIPELINE, PROTOTYPE, Estimate
from watchlist_workstation.cost.month import schedule_seconds, ticks_per_month
from watchlist_workstation.cost.units import comprehend_units, get_read_units, scan_pages, scan_read_units, write_units
from watchlist_workstation.limits import SQS_DELETE_BATCH, SQS_RECEIVE_MAX

# A results object's header row: the dataset's column names, as lib/results.py writes them.
CSV_HEADER_BYTES = len(",".join(COLUMNS)) + 1


def batches(records: int, batch_size: int) -> list[tuple[int, int]]:
    """The batches a backlog of `records` reaches the consumer in, as (size, how many): full ones, then the rest.

    Lambda fills a batch until BatchSize or the batching window ends; the producer queues a tick's
    messages in about a second, well inside the template's 5 s window, so batches arrive full.
    """
    full, rest = divmod(records, batch_size)
    return [(size, count) for size, count in ((batch_size, full), (rest, 1)) if size and count]


def expected_chunks(size: int, p: float, chunk: int) -> float:
    """E[ceil(X / chunk)] for X ~ Binomial(size, p): calls for the changed texts of a batch."""
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


def _text_units(a: Assumptions) -> int:
    # The consumer cuts a text at COMPREHEND_MAX_DOC_BYTES (lib/sentiment.py), so no document bills more.
    return comprehend_units(min(a.text_chars, COMPREHEND_MAX_DOC_BYTES))


def pipeline(
    companies: int, change_rate: float, deployment: Deployment, a: Assumptions, schedule: str | None = None
) -> Estimate:
    """This design: every company queued each tick; only changed texts go to Comprehend."""
    schedule = schedule or deployment.schedule
    e = Estimate(PIPELINE, companies, change_rate, schedule, ticks_per_month(schedule))
    p = change_rate
    table_bytes = companies * a.item_bytes

    # Producer: a paginated, eventually consistent scan, then SendMessageBatch calls of 10.
    e.call("dynamodb:Scan", scan_pages(table_bytes), ("dynamodb.read_units", "Scan"), scan_read_units(table_bytes))
    sends = math.ceil(companies / SQS_SEND_BATCH)
    e.call("sqs:SendMessageBatch", sends, ("sqs.requests", "SendMessageBatch"))
    e.invoke(deployment.producer, 1, producer_seconds(companies, a))
    e.per_tick[("events.scheduled", "schedule rule")] += 1
    log_bytes = a.log_bytes_per_invocation
    result_bytes = 0.0

    units = _text_units(a)
    for size, count in batches(companies, deployment.batch_size):
        e.call("sqs:ReceiveMessage", count * math.ceil(size / SQS_RECEIVE_MAX), ("sqs.requests", "ReceiveMessage"))
        deletes = count * math.ceil(size / SQS_DELETE_BATCH)
        e.call("sqs:DeleteMessageBatch", deletes, ("sqs.requests", "DeleteMessageBatch"))
        e.call(
            "dynamodb:BatchGetItem",
            count * math.ceil(size / DDB_BATCH_GET),
            ("dynamodb.read_units", "BatchGetItem"),
            count * size * get_read_units(a.item_bytes),
        )
        analysed = size * p
        calls = expected_chunks(size, p, COMPREHEND_BATCH)
        e.call(
            "comprehend:BatchDetectSentiment",
            count * calls,
            ("comprehend.units", "BatchDetectSentiment"),
            count * analysed * units,
        )
        puts = 1 - (1 - p) ** size  # one object per batch that analysed anything
        e.call("s3:PutObject", count * puts, ("s3.put_requests", "PutObject"))
        e.call(
            "dynamodb:UpdateItem",
            count * analysed,
            ("dynamodb.write_units", "UpdateItem"),
            count * analysed * write_units(a.item_bytes),
        )
        e.invoke(deployment.consumer, count, consumer_seconds(size, analysed, calls, puts, a))
        result_bytes += count * (puts * CSV_HEADER_BYTES + analysed * (a.text_chars + a.result_row_bytes))
        log_bytes += count * (
            a.log_bytes_per_invocation
            + analysed * a.log_bytes_per_analysed
            + (size - analysed) * a.log_bytes_per_unchanged
            + puts * a.log_bytes_per_results_object
        )
    if companies:
        # Several batches of one tick each record their own duration; report the mean instead.
        consumer_key = f"{deployment.consumer.logical_id} seconds per invocation"
        seconds = e.per_tick[(f"lambda.duration.{deployment.consumer.architecture}", deployment.consumer.logical_id)]
        invocations = e.per_tick[("lambda.requests", deployment.consumer.logical_id)]
        e.figures[consumer_key] = round(seconds / deployment.consumer.memory_gb / invocations, 3)
    e.add_log_ingestion(log_bytes)
    e.add_results_storage(result_bytes, a)
    e.add_table_storage(companies, table_bytes, deployment.point_in_time_recovery)
    e.add_fixed_monthly(deployment, a, idle_polls=True)
    e.figures["Comprehend units per document"] = units
    if p > 0:
        hours = schedule_seconds(schedule) / p / 3600
        e.notes.append(
            f"change rate {p:g}: a text changes about every {hours:,.1f} hours on average; a company's first "
            "tick always analyses it (a tick right after adding companies is, for them, change rate 1)"
        )
    return e


# The prototype's Lambda settings were never recorded: SAM's defaults stand in (no MemorySize, no
# Architectures, no BatchSize in its template). Its consumer worked record by record.
PROTOTYPE_PRODUCER = FunctionSettings("prototype producer", LAMBDA_DEFAULT_MEMORY_MB, LAMBDA_DEFAULT_ARCHITECTURE)
PROTOTYPE_CONSUMER = FunctionSettings("prototype consumer", LAMBDA_DEFAULT_MEMORY_MB, LAMBDA_DEFAULT_ARCHITECTURE)


def prototype(companies: int, deployment: Deployment, a: Assumptions, schedule: str | None = None) -> Estimate:
    """The prototype's design on the same schedule: every company re-analysed on every tick."""
    schedule = schedule or deployment.schedule
    e = Estimate(PROTOTYPE, companies, None, schedule, ticks_per_month(schedule))
    item = a.name_chars + len("name")
    table_bytes = companies * item
    # One Scan without pagination: it reads (and so queues) only the first page, 1 MB of items.
    read = min(table_bytes, 1024 * 1024)
    e.call("dynamodb:Scan", 1, ("dynamodb.read_units", "Scan"), scan_read_units(read))
    if table_bytes > read:
        e.notes.append(
            f"the prototype's unpaginated scan reads the first 1 MB only: about {int(read // item):,} of "
            f"{companies:,} companies would ever be queued; it is priced as if all were"
        )
    e.call("sqs:GetQueueUrl", companies, ("sqs.requests", "GetQueueUrl"))
    e.call("sqs:SendMessage", companies, ("sqs.requests", "SendMessage"))
    e.invoke(PROTOTYPE_PRODUCER, 1, FUNCTION_START_SECONDS + companies * 2 * SQS_CALL_SECONDS)
    e.per_tick[("events.scheduled", "schedule rule")] += 1
    log_bytes = a.log_bytes_per_invocation
    result_bytes = 0.0
    units = _text_units(a)
    per_record = CLIENT_CREATE_SECONDS + TEXT_FETCH_SECONDS + COMPREHEND_CALL_SECONDS / 2 + SQS_CALL_SECONDS
    for size, count in batches(companies, SQS_EVENT_DEFAULT_BATCH_SIZE):
        e.call("sqs:ReceiveMessage", count * math.ceil(size / SQS_RECEIVE_MAX), ("sqs.requests", "ReceiveMessage"))
        # The function returned success, so the mapping deleted the batch as well.
        deletes = count * math.ceil(size / SQS_DELETE_BATCH)
        e.call("sqs:DeleteMessageBatch", deletes, ("sqs.requests", "DeleteMessageBatch"))
        e.call("sqs:DeleteMessage", count * size, ("sqs.requests", "DeleteMessage"))
        e.call(
            "comprehend:DetectSentiment", count * size, ("comprehend.units", "DetectSentiment"), count * size * units
        )
        e.call("s3:PutObject", count, ("s3.put_requests", "PutObject"))
        e.invoke(PROTOTYPE_CONSUMER, count, FUNCTION_START_SECONDS + size * per_record + S3_PUT_SECONDS)
        # A row held the company and its label only.
        result_bytes += count * size * (a.name_chars + len("NEUTRAL") + 2)
        log_bytes += count * (a.log_bytes_per_invocation + size * a.log_bytes_per_analysed)
    if companies:
        seconds = e.per_tick[(f"lambda.duration.{PROTOTYPE_CONSUMER.architecture}", PROTOTYPE_CONSUMER.logical_id)]
        invocations = e.per_tick[("lambda.requests", PROTOTYPE_CONSUMER.logical_id)]
        e.figures[f"{PROTOTYPE_CONSUMER.logical_id} seconds per invocation"] = round(
            seconds / PROTOTYPE_CONSUMER.memory_gb / invocations, 3
        )
    e.add_log_ingestion(log_bytes)
    e.add_results_storage(result_bytes, a)
    e.add_table_storage(companies, table_bytes, pitr=False)
    # Its log groups had no retention, its template no alarms.
    e.add_fixed_monthly(None, a, idle_polls=True)
    e.figures["Comprehend units per document"] = units
    return e
