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

What the code cannot know is an Assumption, with a default and a reason; the output names them.
The prototype's design (docs/design.md, "The prototype this product replaces") is modelled beside it.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from lib.limits import (
    COMPREHEND_BATCH,
    COMPREHEND_MAX_DOC_BYTES,
    DDB_BATCH_GET,
    FETCH_WORKERS,
    SEND_WORKERS,
    SQS_SEND_BATCH,
    WRITE_WORKERS,
)
from lib.results import COLUMNS
from lib.schedule import ScheduleError, period_seconds
from watchlist_workstation.cost.localrun import LocalRun
from watchlist_workstation.cost.prices import GIB
from watchlist_workstation.cost.units import (
    DDB_STORAGE_OVERHEAD_BYTES,
    comprehend_units,
    get_read_units,
    scan_pages,
    scan_read_units,
    write_units,
)
from watchlist_workstation.limits import SQS_DELETE_BATCH, SQS_RECEIVE_MAX
from watchlist_workstation.project import TEMPLATE

# AWS's pricing pages and calculator count a month as 730 hours.
HOURS_PER_MONTH = 730
SECONDS_PER_MONTH = HOURS_PER_MONTH * 3600
DAYS_PER_MONTH = HOURS_PER_MONTH / 24

# Lambda's defaults for what a template leaves out (Lambda developer guide; SAM's SQS event).
LAMBDA_DEFAULT_MEMORY_MB = 128
LAMBDA_DEFAULT_ARCHITECTURE = "x86_64"
SQS_EVENT_DEFAULT_BATCH_SIZE = 10

# A results object's header row: the dataset's column names, as lib/results.py writes them.
CSV_HEADER_BYTES = len(",".join(COLUMNS)) + 1

# Left out, each too small or too uncertain to count here; the output says so.
NOT_MODELLED = (
    "data transfer out (requests to Wikipedia; 100 GB a month are always free)",
    "KMS requests for the table's AWS managed key",
    "CloudWatch metrics (the services' own are free)",
    "redelivered or dead-lettered messages",
    "the consumer's SNS publishes with NotifyOnLabelChange=true (off by default)",
    "taxes",
)

PIPELINE = "pipeline"
PROTOTYPE = "prototype"
LOCAL_RUN = "local run"


def schedule_seconds(expression: str) -> int:
    """Seconds between ticks of an EventBridge `rate(...)` expression (cron has no fixed period to count)."""
    seconds = period_seconds(expression)
    if seconds is None:
        raise ScheduleError(
            f"cron expressions are not supported ({expression.strip()}); "
            "give the rate(...) with the same average period"
        )
    return seconds


def ticks_per_month(expression: str) -> float:
    return SECONDS_PER_MONTH / schedule_seconds(expression)


# ---------------------------------------------------------------------------------------------- template


@dataclass(frozen=True)
class FunctionSettings:
    logical_id: str
    memory_mb: int
    architecture: str

    @property
    def memory_gb(self) -> float:
        return self.memory_mb / 1024


@dataclass(frozen=True)
class Deployment:
    """What template.yml deploys, with its parameters at their defaults."""

    schedule: str
    producer: FunctionSettings
    consumer: FunctionSettings
    batch_size: int
    log_retention_days: int | None  # None: logs never expire
    alarms: int
    point_in_time_recovery: bool


def _resolved(value: Any, parameters: Mapping[str, Any]) -> Any:
    """A literal, or a `!Ref` to a parameter resolved to its default."""
    if isinstance(value, Mapping) and set(value) == {"Ref"} and value["Ref"] in parameters:
        return parameters[value["Ref"]].get("Default")
    return value


def deployment_from_template(template: Mapping[str, Any] | None = None) -> Deployment:
    if template is None:
        from watchlist_workstation.deploy.template import load_template

        template = load_template(TEMPLATE)
    parameters = template.get("Parameters") or {}
    resources = template.get("Resources") or {}
    function_globals = (template.get("Globals") or {}).get("Function") or {}

    def settings(logical_id: str) -> FunctionSettings:
        props = resources[logical_id].get("Properties") or {}
        memory = _resolved(props.get("MemorySize", function_globals.get("MemorySize")), parameters)
        architectures = props.get("Architectures", function_globals.get("Architectures")) or [
            LAMBDA_DEFAULT_ARCHITECTURE
        ]
        return FunctionSettings(logical_id, int(memory or LAMBDA_DEFAULT_MEMORY_MB), str(architectures[0]))

    producer = consumer = None
    schedule = batch_size = None
    for logical_id, resource in resources.items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        for event in ((resource.get("Properties") or {}).get("Events") or {}).values():
            props = event.get("Properties") or {}
            if event.get("Type") == "Schedule":
                producer, schedule = logical_id, _resolved(props.get("Schedule"), parameters)
            elif event.get("Type") == "SQS":
                consumer = logical_id
                batch_size = _resolved(props.get("BatchSize", SQS_EVENT_DEFAULT_BATCH_SIZE), parameters)
    if producer is None or consumer is None or not schedule:
        raise ValueError("template.yml has no scheduled function or no SQS-fed function")
    retention = [
        _resolved((r.get("Properties") or {}).get("RetentionInDays"), parameters)
        for r in resources.values()
        if r.get("Type") == "AWS::Logs::LogGroup"
    ]
    tables = [r.get("Properties") or {} for r in resources.values() if r.get("Type") == "AWS::DynamoDB::Table"]
    pitr = any((t.get("PointInTimeRecoverySpecification") or {}).get("PointInTimeRecoveryEnabled") for t in tables)
    return Deployment(
        schedule=str(schedule),
        producer=settings(producer),
        consumer=settings(consumer),
        batch_size=int(batch_size),
        log_retention_days=None if not retention or None in retention else max(int(r) for r in retention),
        alarms=sum(1 for r in resources.values() if r.get("Type") == "AWS::CloudWatch::Alarm"),
        point_in_time_recovery=bool(pitr),
    )


# ---------------------------------------------------------------------------------------------- assumptions

# Round trips inside a Lambda function, in seconds (typical same-region AWS latencies and a Wikipedia
# REST summary fetch); they drive the GB-seconds. Override the results with --producer-seconds and
# --consumer-seconds when you have measured durations (the REPORT lines of the functions' logs).
FUNCTION_START_SECONDS = 0.3
SQS_CALL_SECONDS = 0.02
TEXT_FETCH_SECONDS = 0.15
COMPREHEND_CALL_SECONDS = 0.4
S3_PUT_SECONDS = 0.05
DDB_CALL_SECONDS = 0.01
CLIENT_CREATE_SECONDS = 0.05


@dataclass(frozen=True)
class Assumptions:
    """What the code cannot know. Defaults measured on this project's local runs where possible."""

    # A Wikipedia summary extract's length (characters sent to Comprehend per document); the shipped
    # sample texts average about 420, real extracts run longer.
    text_chars: int = 600
    # A company's item once it holds its latest state (lib/state.py's attributes): 479 bytes on average
    # in a local run of the shipped watchlist.
    item_bytes: int = 480
    # A result row beyond its text: name, scores, hash, source URL, times, run id (CSV, lib/results.py).
    result_row_bytes: int = 240
    # Months of results the bucket holds in the month priced: the template never expires results.
    results_months: int = 12
    producer_seconds: float | None = None  # None: from the round trips above
    consumer_seconds: float | None = None
    # Log bytes, measured in local runs: START/END/REPORT plus one summary line per invocation, one
    # line per company ("company analysed" or "text unchanged"), one per results object written.
    log_bytes_per_invocation: int = 550
    log_bytes_per_analysed: int = 315
    log_bytes_per_unchanged: int = 220
    log_bytes_per_results_object: int = 240
    # Lambda's SQS pollers at idle: it long-polls with five pollers (Lambda developer guide, "Using
    # Lambda with Amazon SQS"); 20 s, SQS's longest wait, is assumed for each poll.
    idle_pollers: int = 5
    idle_poll_seconds: int = 20
    # Alarm state changes a month, each one SNS publish and one e-mail (one incident: ALARM, then OK).
    alarm_notifications: int = 2
    # The prototype's items and rows held a name (and a label) only.
    name_chars: int = 20

    def replace(self, **changes: Any) -> Assumptions:
        known = {f.name for f in fields(self)}
        values = {k: v for k, v in changes.items() if k in known and v is not None}
        return Assumptions(**{**{f.name: getattr(self, f.name) for f in fields(self)}, **values})


# ---------------------------------------------------------------------------------------------- usage

Item = tuple[str, str]  # (price key, detail)


@dataclass
class Estimate:
    """A design's usage: per tick (times the ticks of a month) and per month (storage, idle polling)."""

    design: str
    companies: int
    change_rate: float | None
    schedule: str
    ticks_per_month: float
    per_tick: Counter[Item] = field(default_factory=Counter)
    per_month: Counter[Item] = field(default_factory=Counter)
    calls_per_tick: Counter[str] = field(default_factory=Counter)  # service:Operation, as the code calls
    figures: dict[str, float] = field(default_factory=dict)  # durations and sizes the lines were built from
    notes: list[str] = field(default_factory=list)

    def monthly(self) -> dict[Item, float]:
        out: Counter[Item] = Counter()
        for item, quantity in self.per_tick.items():
            out[item] += quantity * self.ticks_per_month
        for item, quantity in self.per_month.items():
            out[item] += quantity
        return dict(out)

    def call(self, operation: str, count: float, item: Item | None = None, quantity: float | None = None) -> None:
        """Count `count` calls of service:Operation per tick, and bill `quantity` (default: count) on `item`."""
        self.calls_per_tick[operation] += count
        if item is not None:
            self.per_tick[item] += count if quantity is None else quantity

    def invoke(self, function: FunctionSettings, count: float, seconds: float) -> None:
        self.per_tick[("lambda.requests", function.logical_id)] += count
        key = f"lambda.duration.{function.architecture}"
        self.per_tick[(key, function.logical_id)] += count * seconds * function.memory_gb
        self.figures[f"{function.logical_id} seconds per invocation"] = round(seconds, 3)


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


def producer_seconds(companies: int, a: Assumptions) -> float:
    if a.producer_seconds is not None:
        return a.producer_seconds
    sends = math.ceil(companies / SQS_SEND_BATCH)
    # The sends run SEND_WORKERS at a time while the scan is read (lib/producer.py).
    return (
        FUNCTION_START_SECONDS
        + scan_pages(companies * a.item_bytes) * DDB_CALL_SECONDS
        + (math.ceil(sends / SEND_WORKERS) * SQS_CALL_SECONDS)
    )


def consumer_seconds(records: float, analysed: float, comprehend_calls: float, puts: float, a: Assumptions) -> float:
    """One consumer invocation of `records`: fetches FETCH_WORKERS at a time, then Comprehend, S3, writes."""
    if a.consumer_seconds is not None:
        return a.consumer_seconds
    return (
        FUNCTION_START_SECONDS
        + math.ceil(records / DDB_BATCH_GET) * DDB_CALL_SECONDS
        + math.ceil(records / FETCH_WORKERS) * TEXT_FETCH_SECONDS
        + comprehend_calls * COMPREHEND_CALL_SECONDS
        + puts * S3_PUT_SECONDS
        + math.ceil(analysed / WRITE_WORKERS) * DDB_CALL_SECONDS
    )


def _log_ingestion(estimate: Estimate, log_bytes: float) -> None:
    estimate.per_tick[("logs.ingestion", "function logs")] += log_bytes / GIB


def _fixed_monthly(estimate: Estimate, deployment: Deployment | None, a: Assumptions, *, idle_polls: bool) -> None:
    """What a month holds whatever the ticks: logs kept, alarms, alarm notifications, idle polling."""
    monthly_log_gb = estimate.per_tick[("logs.ingestion", "function logs")] * estimate.ticks_per_month
    retention = deployment.log_retention_days if deployment else None
    months_kept = a.results_months if retention is None else min(retention / DAYS_PER_MONTH, a.results_months)
    estimate.per_month[("logs.storage", "function logs")] += monthly_log_gb * months_kept
    if idle_polls:
        polls = a.idle_pollers * SECONDS_PER_MONTH / a.idle_poll_seconds
        estimate.per_month[("sqs.requests", "ReceiveMessage, idle long polls")] += polls
    alarms = deployment.alarms if deployment else 0
    if alarms:
        estimate.per_month[("cloudwatch.alarms", "")] += alarms
        estimate.per_month[("sns.publish", "alarm notifications")] += a.alarm_notifications
        estimate.per_month[("sns.email", "alarm notifications")] += a.alarm_notifications


def _results_storage(estimate: Estimate, bytes_per_tick: float, a: Assumptions) -> None:
    monthly_gb = bytes_per_tick * estimate.ticks_per_month / GIB
    estimate.per_month[("s3.storage", f"results, {a.results_months} months held")] += monthly_gb * a.results_months


def _table_storage(estimate: Estimate, items: int, table_bytes: float, pitr: bool) -> None:
    gb = (table_bytes + items * DDB_STORAGE_OVERHEAD_BYTES) / GIB
    estimate.per_month[("dynamodb.storage", "watchlist table")] += gb
    if pitr:
        estimate.per_month[("dynamodb.pitr", "watchlist table")] += gb


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
    _log_ingestion(e, log_bytes)
    _results_storage(e, result_bytes, a)
    _table_storage(e, companies, table_bytes, deployment.point_in_time_recovery)
    _fixed_monthly(e, deployment, a, idle_polls=True)
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
    _log_ingestion(e, log_bytes)
    _results_storage(e, result_bytes, a)
    _table_storage(e, companies, table_bytes, pitr=False)
    # Its log groups had no retention, its template no alarms.
    _fixed_monthly(e, None, a, idle_polls=True)
    e.figures["Comprehend units per document"] = units
    return e


# ---------------------------------------------------------------------------------------------- local runs

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
            # The scan reads the whole table once, whatever the number of pages.
            e.call(key, count, ("dynamodb.read_units", operation), scan_read_units(run.table_bytes))
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

    e.invoke(deployment.producer, 1, producer_seconds(run.companies_queued, a.replace(item_bytes=int(item_size))))
    batches = run.batches
    if batches:
        analysed = comprehend.get("documents", 0)
        calls = sum((comprehend.get("calls") or {}).values())
        seconds = consumer_seconds(
            run.records / batches, analysed / batches, calls / batches, run.results_objects / batches, a
        )
        e.invoke(deployment.consumer, batches, seconds)
    e.per_tick[("events.scheduled", "schedule rule")] += 1
    _log_ingestion(e, run.log_bytes)
    _results_storage(e, run.results_bytes, a)
    _table_storage(e, run.table_items, run.table_bytes, deployment.point_in_time_recovery)
    # The local executor's own polls are in the counts already (its rhythm, not Lambda's).
    _fixed_monthly(e, deployment, a, idle_polls=False)
    e.figures["DynamoDB item bytes (measured)"] = round(item_size, 1)
    if comprehend.get("documents"):
        e.figures["Comprehend units per document (measured)"] = round(
            comprehend.get("billed_units", 0) / max(1, comprehend.get("documents", 0)), 3
        )
    e.notes.append(
        "sqs:ReceiveMessage and sqs:GetQueueAttributes are the local executor's polls and drain checks, "
        "not Lambda's pollers; Lambda's idle long polls are not in a local run"
    )
    return e
