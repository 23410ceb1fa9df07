"""Price what a local run counted (`./cfcli.py local run --once` saves it): its AWS calls, Comprehend units,
table and results sizes and log bytes, as if every tick of the month did the same."""

from __future__ import annotations

import math

from lib.limits import SCAN_SEGMENTS, WIKI_EXTRACTS_PER_QUERY
from lib.pace import interval_for
from watchlist_workstation.cost.assumptions import Assumptions
from watchlist_workstation.cost.compaction import add_compaction
from watchlist_workstation.cost.deployment import Deployment
from watchlist_workstation.cost.durations import consumer_seconds, producer_seconds
from watchlist_workstation.cost.estimate import LOCAL_RUN, Estimate
from watchlist_workstation.cost.localrun import LocalRun
from watchlist_workstation.cost.month import schedule_seconds, ticks_per_month
from watchlist_workstation.cost.units import get_read_units, scan_read_units, write_units

_DDB_READS = {"GetItem", "Query", "Scan", "BatchGetItem"}
_DDB_WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem"}


def from_local_run(run: LocalRun, deployment: Deployment, a: Assumptions, schedule: str | None = None) -> Estimate:
    """Price what a local run counted, as if every tick of the month did the same."""
    schedule = schedule or run.schedule or deployment.schedule
    e = Estimate(LOCAL_RUN, run.companies_queued, None, schedule, ticks_per_month(schedule))
    items = max(1, run.table_items)
    item_size = run.table_bytes / items
    unpriced = []
    for key, count in sorted(run.aws_calls.items()):
        service, _, operation = key.partition(":")
        if service == "sqs":
            e.call(key, count, ("sqs.requests", operation))
        elif service == "dynamodb" and operation == "Scan":
            # The scan reads the whole table once, in SCAN_SEGMENTS segments, whatever the number of pages.
            e.call(key, count, ("dynamodb.read_units", operation), scan_read_units(run.table_bytes, SCAN_SEGMENTS))
        elif service == "dynamodb" and operation == "BatchGetItem":
            e.call(key, count, ("dynamodb.read_units", operation), run.records * get_read_units(item_size))
        elif service == "dynamodb" and operation in _DDB_READS:
            e.call(key, count, ("dynamodb.read_units", operation), count * get_read_units(item_size))
        elif service == "dynamodb" and operation in _DDB_WRITES:
            e.call(key, count, ("dynamodb.write_units", operation), count * write_units(item_size))
        elif key == "http:PUT":
            # The moto process counts S3 (a REST API) by HTTP method; during a tick only the consumer's
            # PutObject uses S3 with PUT.
            e.call("s3:PutObject", count, ("s3.put_requests", "PutObject"))
        elif key in ("http:GET", "http:HEAD"):
            e.call(key, count, ("s3.get_requests", key))
        else:
            e.calls_per_tick[key] += count
            unpriced.append(f"{key} x{count}")
    if unpriced:
        e.notes.append("counted but not priced (no price in the table): " + ", ".join(unpriced))
    comprehend = run.comprehend
    for operation, count in sorted((comprehend.get("calls") or {}).items()):
        e.calls_per_tick[f"comprehend:{operation}"] += count
    operations = "+".join(sorted(comprehend.get("calls") or {})) or "BatchDetectSentiment"
    e.per_tick[("comprehend.units", operations)] += comprehend.get("billed_units", 0)

    sends = run.aws_calls.get("sqs:SendMessageBatch", 0)
    e.invoke(deployment.producer, 1, producer_seconds(run.table_bytes, sends, a))
    batches = run.batches
    # The run's Wikipedia requests, spaced as the deployed stack's pace would space them (a local run's own
    # pace and durations are this machine's, not Lambda's).
    if run.text_requests is not None:
        wiki_requests = run.text_requests
    else:
        wiki_requests = run.records + math.ceil(comprehend.get("documents", 0) / WIKI_EXTRACTS_PER_QUERY)
        e.notes.append("the run did not count its Wikipedia requests: one per message and one per 20 analysed assumed")
    if batches:
        calls = sum((comprehend.get("calls") or {}).values())
        updates = run.aws_calls.get("dynamodb:UpdateItem", 0)
        interval = interval_for(deployment.requests_per_minute, deployment.max_concurrency)
        seconds = consumer_seconds(
            wiki_requests / batches, interval, calls / batches, run.results_objects / batches, updates / batches, a
        )
        e.invoke(deployment.consumer, batches, seconds)
    period = schedule_seconds(schedule)
    e.figures["Wikipedia requests a tick"] = wiki_requests
    e.figures[f"Wikipedia requests a minute (budget {deployment.requests_per_minute})"] = round(
        wiki_requests * 60 / period, 2
    )
    e.per_tick[("events.scheduled", "schedule rule")] += 1
    e.add_log_ingestion(run.log_bytes)
    # The run's log bytes hold the metric members already.
    e.add_metrics(deployment, batches, measured_logs=True)
    e.add_results_storage(run.results_bytes, a)
    # The Compactor's daily run over what such ticks write (a local run does not compact; its schedule is daily).
    add_compaction(e, deployment.compactor, run.results_objects, run.results_bytes, a)
    e.add_table_storage(run.table_items, run.table_bytes, deployment.point_in_time_recovery)
    # The local executor's own polls are in the counts already (its rhythm, not Lambda's).
    e.add_fixed_monthly(deployment, a, idle_polls=False)
    e.figures["DynamoDB item bytes (measured)"] = round(item_size, 1)
    if comprehend.get("documents"):
        e.figures["Comprehend units per document (measured)"] = round(
            comprehend.get("billed_units", 0) / max(1, comprehend.get("documents", 0)), 3
        )
    e.notes.append(
        "sqs:ReceiveMessage and sqs:GetQueueAttributes are the local executor's polls and drain checks, "
        "not Lambda's pollers; Lambda's idle long polls are not in a local run"
    )
    e.notes.append("each SQS call is priced as one request: the run does not record payload sizes (64 KB each)")
    return e
