"""Local mode's CloudWatch Logs metric extraction (watchlist_workstation/local/log_metrics.py): embedded-metric-format
lines in the functions' log files become metrics in the emulated CloudWatch, other lines and invalid documents none."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from lib.log import EMF_METADATA_KEY
from lib.metrics import MetricsTarget, emf_fields
from watchlist_workstation.local.log_metrics import LogMetrics, NotMetricDocument, metric_data

NOW_MS = 1_795_780_800_000  # 2026-11-27T12:00:00Z


def document(**values) -> dict:
    """A metric document as the consumer logs it (lib/log.py names the metadata _aws)."""
    fields = emf_fields(MetricsTarget("WatchlistSentiment", "demo"), values, clock=lambda: NOW_MS / 1000)
    return {"_aws": fields.pop(EMF_METADATA_KEY), "message": "batch done", **fields}


def summed(cloudwatch, metric: str) -> float:
    at = datetime.fromtimestamp(NOW_MS / 1000, UTC)
    answer = cloudwatch.get_metric_statistics(
        Namespace="WatchlistSentiment",
        MetricName=metric,
        Dimensions=[{"Name": "Stack", "Value": "demo"}],
        StartTime=at - timedelta(minutes=5),
        EndTime=at + timedelta(minutes=5),
        Period=600,
        Statistics=["Sum"],
    )
    return sum(point["Sum"] for point in answer["Datapoints"])


def test_the_consumers_document_defines_one_datum_per_metric_with_its_stack_and_time():
    pairs = metric_data(document(Analysed=3, NewPermanentErrors=0))
    assert [(namespace, d["MetricName"], d["Value"]) for namespace, d in pairs] == [
        ("WatchlistSentiment", "Analysed", 3.0),
        ("WatchlistSentiment", "NewPermanentErrors", 0.0),
    ]
    assert all(d["Dimensions"] == [{"Name": "Stack", "Value": "demo"}] and d["Unit"] == "Count" for _, d in pairs)
    assert {d["Timestamp"] for _, d in pairs} == {datetime(2026, 11, 27, 12, tzinfo=UTC)}


@pytest.mark.parametrize(
    ("change", "rule"),
    [
        (lambda d: d["_aws"].pop("Timestamp"), "Timestamp"),
        (lambda d: d.pop("Stack"), "dimension key"),
        (lambda d: d.update(Analysed="three"), "'Analysed'"),
        (lambda d: d["_aws"]["CloudWatchMetrics"][0]["Dimensions"].append([f"D{i}" for i in range(31)]), "30"),
    ],
    ids=["no timestamp", "dimension without member", "metric not a number", "31 dimensions"],
)
def test_a_document_breaking_the_specification_defines_no_metric(change, rule):
    broken = document(Analysed=3)
    change(broken)
    with pytest.raises(NotMetricDocument, match=rule):
        metric_data(broken)


def test_ingest_puts_the_new_lines_metrics_and_skips_the_rest(aws, tmp_path):
    # GIVEN a function log that already held a metric line when local mode started
    log_file = tmp_path / "consumer.log"
    log_file.write_text(json.dumps(document(Analysed=100)) + "\n")
    cloudwatch = boto3.client("cloudwatch")
    metrics = LogMetrics(cloudwatch, tmp_path)
    # WHEN the function then writes platform lines, a valid document, a broken one and half a line
    broken = document(Analysed=7)
    broken.pop("Stack")
    with log_file.open("a") as out:
        out.write("START RequestId: r-1 Version: $LATEST\n")
        out.write(json.dumps(document(Analysed=2, NewPermanentErrors=1)) + "\n")
        out.write(json.dumps(broken) + "\n")
        out.write(json.dumps(document(Analysed=5))[:40])
    # THEN one round puts the valid document's two datapoints only
    assert metrics.ingest() == 2
    assert (summed(cloudwatch, "Analysed"), summed(cloudwatch, "NewPermanentErrors")) == (2, 1)
    # AND the half line is read once it is whole, and nothing twice
    with log_file.open("a") as out:
        out.write(json.dumps(document(Analysed=5))[40:] + "\n")
    assert metrics.ingest() == 1 and metrics.ingest() == 0
    assert summed(cloudwatch, "Analysed") == 7
