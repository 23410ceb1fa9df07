"""The consumer's outcome counts as CloudWatch metrics, written into its log line in the embedded metric format.

CloudWatch Logs extracts metrics from any log event of a Lambda function that follows the embedded metric
format (CloudWatch user guide, "Using the embedded metric format with Lambda"), so the metrics cost no API call
and no permission beyond the log group's. The format (same guide, "Specification: Embedded metric format"):

    {"_aws": {"Timestamp": <ms since the epoch>,
              "CloudWatchMetrics": [{"Namespace": "...", "Dimensions": [["Stack"]],
                                     "Metrics": [{"Name": "Analysed", "Unit": "Count"}, ...]}]},
     "Stack": "<stack name>", "Analysed": 3, ...}

The log event must be the JSON object and nothing else; other root members are allowed and kept as they are.
The pipeline's logger writes each line as one JSON object straight to stdout (lib/log.py), which Lambda passes
on unchanged in the Text log format the template sets for the consumer (Lambda developer guide, "Log and
monitor Python Lambda functions": what a function prints outside the runtime's logging handler reaches
CloudWatch Logs as plain text, i.e. as written). So the consumer's "batch done" line is itself the metric
document: `emf_fields` gives the extra keys it logs.

One dimension, the stack, so a metric is one time series per stack: each dimension value multiplies the
custom metrics CloudWatch bills (docs/cost.md).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from lib.limits import EMF_MAX_METRICS
from lib.log import EMF_METADATA_KEY

STACK_DIMENSION = "Stack"
COUNT = "Count"

# Each metric and the outcome counts (lib/batch.py BatchOutcome.counts keys) it sums; HANDED_BACK sums every
# failure key instead (a company whose message went back to the queue, whatever the reason).
OUTCOME_METRICS: dict[str, tuple[str, ...]] = {
    "Analysed": ("analysed",),
    "Unchanged": ("unchanged",),
    "NewRevisions": ("new_revision",),
    "PermanentErrors": ("permanent_error",),
    # A permanent error the company's recorded state changed into: a bad name standing on the watchlist
    # counts once, on the check that first records its error (lib/recording.py).
    "NewPermanentErrors": ("new_permanent_error",),
    "BadMessages": ("bad_message",),
}
HANDED_BACK = "HandedBack"
# Counts of companies that reached an outcome: their work is done, whatever happens to their messages
# (lib/batch.py raises BatchFailed for a batch in which none did).
PROGRESS = ("unchanged", "new_revision", "permanent_error", "analysed", "already_recorded", "not_on_watchlist")
# Counts that are outcomes, not failures; everything else a batch counts handed its companies back.
NOT_FAILURES = frozenset({*PROGRESS, "new_permanent_error", "label_changes_notified", "bad_message", "errors_cleared"})
METRIC_NAMES: tuple[str, ...] = (*OUTCOME_METRICS, HANDED_BACK)


@dataclass(frozen=True)
class MetricsTarget:
    """Where the metrics go: a namespace, and the stack they are counted for (the one dimension)."""

    namespace: str
    stack: str


def outcome_values(counts: Mapping[str, int]) -> dict[str, int]:
    """Every metric's value for one batch, zeros included (a zero is a datapoint: the alarm sees the batch)."""
    values = {name: sum(counts.get(key, 0) for key in keys) for name, keys in OUTCOME_METRICS.items()}
    values[HANDED_BACK] = sum(n for key, n in counts.items() if key not in NOT_FAILURES)
    return values


def emf_fields(
    target: MetricsTarget, values: Mapping[str, int | float], clock: Callable[[], float] = time.time
) -> dict[str, Any]:
    """The `extra=` keys that make a pipeline log line an embedded-metric-format document of `values` (all Count);
    lib/log.py writes the metadata as the root member "_aws"."""
    if len(values) > EMF_MAX_METRICS:
        raise ValueError(f"{len(values)} metrics in one directive; the format allows {EMF_MAX_METRICS}")
    directive = {
        "Namespace": target.namespace,
        "Dimensions": [[STACK_DIMENSION]],
        "Metrics": [{"Name": name, "Unit": COUNT} for name in values],
    }
    return {
        EMF_METADATA_KEY: {"Timestamp": int(clock() * 1000), "CloudWatchMetrics": [directive]},
        STACK_DIMENSION: target.stack,
        **values,
    }
