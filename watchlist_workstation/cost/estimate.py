"""A design's usage in a month, line by line as the price table bills it: what each tick uses (times the
ticks of a month) and what a month holds whatever the ticks (storage, alarms, idle polling)."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field

from lib.log import EMF_METADATA_KEY
from lib.metrics import METRIC_NAMES, MetricsTarget, emf_fields, outcome_values
from watchlist_workstation.cost.assumptions import Assumptions
from watchlist_workstation.cost.deployment import Deployment, FunctionSettings
from watchlist_workstation.cost.month import DAYS_PER_MONTH, SECONDS_PER_MONTH
from watchlist_workstation.cost.prices import GIB
from watchlist_workstation.cost.units import DDB_STORAGE_OVERHEAD_BYTES

# Left out, each too small or too uncertain to count here; the output says so.
NOT_MODELLED = (
    "data transfer out (requests to Wikipedia; 100 GB a month are always free)",
    "KMS requests for the table's AWS managed key",
    "CloudWatch metrics the services publish themselves (free)",
    "redelivered or dead-lettered messages (and the table reads and HeadObject calls a redelivery makes)",
    "permanent errors (a missing or disambiguation page is written once)",
    "the consumer's SNS publishes with NotifyOnLabelChange=true (off by default)",
    "taxes",
)

PIPELINE = "pipeline"
PROTOTYPE = "prototype"
LOCAL_RUN = "local run"

Item = tuple[str, str]  # (price key, detail)
FUNCTION_LOGS = "function logs"
METRIC_MEMBERS = "metric members of the consumer's log lines (EMF)"
# The stack name the metric documents are sized with: the default one (README.md, "Deploying to AWS").
DEFAULT_STACK_NAME = "watchlist-sentiment"


def emf_bytes(namespace: str) -> int:
    """What the metric members add to one consumer "batch done" line (lib/metrics.py), with one-digit counts."""
    fields = emf_fields(MetricsTarget(namespace, DEFAULT_STACK_NAME), outcome_values({}), clock=lambda: 1.8e9)
    # ', "key": value' per member, as python-json-logger writes it, the metadata under its output name "_aws".
    names = {EMF_METADATA_KEY: "_aws"}
    return sum(len(f', "{names.get(key, key)}": ') + len(json.dumps(value)) for key, value in fields.items())


@dataclass
class Estimate:
    """A design's usage: per tick (times the ticks of a month) and per month (storage, idle polling)."""

    design: str
    companies: int
    change_rate: float | None  # share of the companies whose intro text changes a tick
    schedule: str
    ticks_per_month: float
    revision_rate: float | None = None  # share whose page gets a new revision a tick
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

    def add_log_ingestion(self, log_bytes: float, detail: str = FUNCTION_LOGS) -> None:
        """`log_bytes` of function logs written per tick."""
        self.per_tick[("logs.ingestion", detail)] += log_bytes / GIB

    def add_metrics(self, deployment: Deployment, consumer_invocations: float, *, measured_logs: bool) -> None:
        """The consumer's outcome metrics (lib/metrics.py): each a custom metric for the month, one time series a
        stack (its one dimension), billed in the hours a batch sends it (a tick's batches come every period, so
        every hour when the period is at most an hour); and, unless the log bytes were measured with them, the
        bytes their members add to each batch's log line."""
        if not deployment.metrics_namespace or not consumer_invocations:
            return
        self.per_month[("cloudwatch.metrics", "consumer outcome counts, 1 stack")] += len(METRIC_NAMES)
        if not measured_logs:
            size = emf_bytes(deployment.metrics_namespace)
            self.add_log_ingestion(consumer_invocations * size, METRIC_MEMBERS)
            self.figures["metric member bytes per consumer invocation (EMF)"] = size

    def add_results_storage(self, bytes_per_tick: float, a: Assumptions) -> None:
        """Results objects of `bytes_per_tick` a tick, held for the assumed months."""
        monthly_gb = bytes_per_tick * self.ticks_per_month / GIB
        self.per_month[("s3.storage", f"results, {a.results_months} months held")] += monthly_gb * a.results_months

    def add_table_storage(self, items: int, table_bytes: float, pitr: bool) -> None:
        gb = (table_bytes + items * DDB_STORAGE_OVERHEAD_BYTES) / GIB
        self.per_month[("dynamodb.storage", "watchlist table")] += gb
        if pitr:
            self.per_month[("dynamodb.pitr", "watchlist table")] += gb

    def add_fixed_monthly(self, deployment: Deployment | None, a: Assumptions, *, idle_polls: bool) -> None:
        """What a month holds whatever the ticks: logs kept, alarms, alarm notifications, idle polling."""
        logs = sum(q for (key, _), q in self.per_tick.items() if key == "logs.ingestion")
        monthly_log_gb = logs * self.ticks_per_month
        retention = deployment.log_retention_days if deployment else None
        months_kept = a.results_months if retention is None else min(retention / DAYS_PER_MONTH, a.results_months)
        self.per_month[("logs.storage", "function logs")] += monthly_log_gb * months_kept
        if idle_polls:
            polls = a.idle_pollers * SECONDS_PER_MONTH / a.idle_poll_seconds
            self.per_month[("sqs.requests", "ReceiveMessage, idle long polls")] += polls
        alarms = deployment.alarms if deployment else 0
        if alarms:
            self.per_month[("cloudwatch.alarms", "")] += alarms
            self.per_month[("sns.publish", "alarm notifications")] += a.alarm_notifications
            self.per_month[("sns.email", "alarm notifications")] += a.alarm_notifications
