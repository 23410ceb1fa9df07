"""What a month of the pipeline uses: the calls each tick makes, as the code makes them, and what stays.

Counts follow the code and the template, never copies of their numbers (docs/design.md, "How it behaves"):
- the producer scans the whole table every tick, SCAN_SEGMENTS segments page by page, eventually
  consistent (lib/producer.py); it queues the tick's part of the watchlist (lib/plan.py's Budget.windows,
  at the template's WikipediaRequestsPerMinute) in chunks of CHUNK_COMPANIES, SQS_SEND_BATCH messages to a
  SendMessageBatch call, each call billed per 64 KB of its messages;
- the mapping delivers batches of the template's ConsumerBatchSize messages, receiving them in calls of up
  to SQS_RECEIVE_MAX and deleting them in DeleteMessageBatch calls of up to SQS_DELETE_BATCH (both billed
  to the account);
- per batch the consumer asks Wikipedia for each chunk's revisions, for the intros of the pages with a new
  revision (WIKI_EXTRACTS_PER_QUERY a request), sends the new intros (their first COMPREHEND_SCORED_CHARS
  characters) to BatchDetectSentiment, COMPREHEND_BATCH a call, writes one UpdateItem per new revision and
  one results object per batch that analysed anything; an unchanged page costs nothing more
  (lib/checking.py, lib/recording.py). Its invocations last as long as the pace of its Wikipedia requests
  (lib/pace.py), at most ConsumerMaxConcurrency at once (watchlist_workstation/cost/tick.py);
- once a day the Compactor reads the day's results objects and writes them again as a few
  (watchlist_workstation/cost/compaction.py).

What the code cannot know is an Assumption (watchlist_workstation/cost/assumptions.py), with a default and a
reason; the output names them. The prototype's design (docs/design.md, "The prototype this product replaces")
is modelled beside it.
"""

from __future__ import annotations

import math

from lib.limits import CHUNK_COMPANIES, COMPREHEND_MAX_DOC_BYTES, SCAN_SEGMENTS
from watchlist_workstation.cost.assumptions import Assumptions
from watchlist_workstation.cost.compaction import add_compaction
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
    producer_seconds,
)
from watchlist_workstation.cost.estimate import PIPELINE, PROTOTYPE, Estimate
from watchlist_workstation.cost.month import schedule_seconds, ticks_per_month
from watchlist_workstation.cost.tick import consumer_work, document_units, groups, message_bytes, plan_tick
from watchlist_workstation.cost.units import comprehend_units, scan_pages, scan_read_units, write_units
from watchlist_workstation.limits import SQS_DELETE_BATCH, SQS_RECEIVE_MAX


def pipeline(
    companies: int,
    deployment: Deployment,
    a: Assumptions,
    *,
    revision_rate: float,
    change_rate: float,
    schedule: str | None = None,
) -> Estimate:
    """This design: each tick checks its part of the watchlist within the request budget; a new revision costs
    an intro request and a table write, a new intro text Comprehend units and a results row."""
    if not 0 <= change_rate <= revision_rate <= 1:
        raise ValueError(f"need 0 <= change rate ({change_rate:g}) <= revision rate ({revision_rate:g}) <= 1")
    schedule = schedule or deployment.schedule
    period = schedule_seconds(schedule)
    e = Estimate(PIPELINE, companies, change_rate, schedule, ticks_per_month(schedule), revision_rate=revision_rate)
    plan = plan_tick(companies, deployment, period, revision_rate, change_rate, a)
    table_bytes = companies * a.item_bytes

    # Producer: a parallel, paginated, eventually consistent scan, then SendMessageBatch calls of 10 chunks.
    pages, read_units = scan_pages(table_bytes, SCAN_SEGMENTS), scan_read_units(table_bytes, SCAN_SEGMENTS)
    e.call("dynamodb:Scan", pages, ("dynamodb.read_units", "Scan"), read_units)
    sends = sum(group.count for group in plan.sends)
    e.call("sqs:SendMessageBatch", sends, ("sqs.requests", "SendMessageBatch"), plan.send_requests)
    e.invoke(deployment.producer, 1, producer_seconds(table_bytes, sends, a))
    e.per_tick[("events.scheduled", "schedule rule")] += 1

    # Consumer: what the tick's batches ask, done within what the paced instances can do in a period.
    work = consumer_work(plan, a)
    capacity = deployment.max_concurrency * period
    share = min(1.0, capacity / work.seconds) if work.seconds else 1.0
    done = work.scaled(share)
    e.call("sqs:ReceiveMessage", done.receives, ("sqs.requests", "ReceiveMessage"), done.receive_requests)
    e.call("sqs:DeleteMessageBatch", done.deletes, ("sqs.requests", "DeleteMessageBatch"))
    units = ("comprehend.units", "BatchDetectSentiment")
    e.call("comprehend:BatchDetectSentiment", done.comprehend_calls, units, done.comprehend_units)
    e.call(
        "dynamodb:UpdateItem",
        done.updates,
        ("dynamodb.write_units", "UpdateItem"),
        done.updates * write_units(a.item_bytes),
    )
    e.call("s3:PutObject", done.puts, ("s3.put_requests", "PutObject"))
    if done.invocations:
        e.invoke(deployment.consumer, done.invocations, done.seconds / done.invocations)
    e.add_log_ingestion(a.log_bytes_per_producer_invocation + done.log_bytes)
    e.add_metrics(deployment, done.invocations, measured_logs=False)
    e.add_results_storage(done.result_bytes, a)
    add_compaction(e, deployment.compactor, done.puts, done.result_bytes, a)
    e.add_table_storage(companies, table_bytes, deployment.point_in_time_recovery)
    e.add_fixed_monthly(deployment, a, idle_polls=True)

    requests = done.revision_requests + done.intro_requests
    e.figures.update(
        {
            "watchlist parts (one checked a tick)": plan.windows,
            "companies checked a tick": plan.checked,
            "each company checked every (minutes)": plan.windows * period / 60,
            "Wikipedia requests a tick": round(requests, 2),
            "Wikipedia revision requests a tick": round(done.revision_requests, 2),
            "Wikipedia intro requests a tick": round(done.intro_requests, 2),
            f"Wikipedia requests a minute (budget {deployment.requests_per_minute})": round(requests * 60 / period, 2),
            "pace: seconds between an instance's requests": round(plan.interval, 3),
            f"consumer busy share ({deployment.max_concurrency} instances all month)": round(
                work.seconds / capacity, 3
            ),
            "work message bytes (a chunk of 50)": message_bytes(CHUNK_COMPANIES, a),
            "Comprehend units per document": document_units(a),
        }
    )
    e.notes.append(
        "a company's first check also asks for its intro and analyses it: a tick right after adding companies "
        "is, for them, revision and change rate 1, and their first round is cut into more parts (lib/plan.py)"
    )
    if share < 1:
        e.notes.append(
            f"the consumers can pace only {share:.0%} of a tick's planned work ({work.seconds:,.0f} s of "
            f"{capacity:,} s a tick): the queue grows, and what is priced is {deployment.max_concurrency} "
            "instances busy all month"
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
    # The prototype sent whole texts, up to Comprehend's document limit.
    units = comprehend_units(min(a.text_chars, COMPREHEND_MAX_DOC_BYTES))
    per_record = CLIENT_CREATE_SECONDS + TEXT_FETCH_SECONDS + COMPREHEND_CALL_SECONDS / 2 + SQS_CALL_SECONDS
    # One company a message (the prototype's producer sent one SendMessage each).
    for size, count in ((g.messages, g.count) for g in groups(companies, SQS_EVENT_DEFAULT_BATCH_SIZE, 1)):
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
