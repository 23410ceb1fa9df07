"""The consumer's outcome counts as CloudWatch metrics (lib/metrics.py): one embedded-metric-format document per
batch, in its "batch done" log line, and NewPermanentErrors counting a permanent error only when the company's
recorded state changes into it, so a bad name standing on the watchlist raises the alarm once, not forever."""

from __future__ import annotations

import json
import time

import boto3
import pytest

from lib import state
from lib.metrics import METRIC_NAMES, STACK_DIMENSION, MetricsTarget, emf_fields, outcome_values
from tests.conftest import put_companies
from tests.consumer_fixture import chunk
from tests.wiki_fixture import Scripted


def metric_documents(capsys) -> list[dict]:
    """The log lines printed so far that carry an embedded metric directive."""
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    return [line for line in lines if "_aws" in line]


def tick(pipeline, names, run_id, capsys) -> dict:
    """One check of `names` with the state the table holds now (as the producer's scan would carry it); its
    metric document."""
    pipeline.run([chunk(pipeline.snapshot(names), run_id=run_id)])
    (document,) = metric_documents(capsys)
    return document


# ----------------------------------------------------------------------------------------------- the document


def test_a_batch_logs_one_line_that_is_an_embedded_metric_document(pipeline, capsys):
    # GIVEN two companies, one with a page and one without
    pipeline.watch({"Tesla": "Tesla posted record growth."})
    put_companies(pipeline.res.table, ["Ghost Co"])
    before = time.time() * 1000
    # WHEN their chunk is processed
    pipeline.run([chunk(["Tesla", "Ghost Co"])])
    # THEN exactly one line is a metric document, the "batch done" line
    (document,) = metric_documents(capsys)
    assert document["message"] == "batch done"
    # AND it follows the specification: a millisecond timestamp, one directive in the stack's namespace with the
    # stack as its one dimension, and every named dimension and metric a root member of the right type
    metadata = document["_aws"]
    assert before <= metadata["Timestamp"] <= time.time() * 1000 and isinstance(metadata["Timestamp"], int)
    (directive,) = metadata["CloudWatchMetrics"]
    assert directive["Namespace"] == "WatchlistSentiment" and directive["Dimensions"] == [[STACK_DIMENSION]]
    assert [m["Name"] for m in directive["Metrics"]] == list(METRIC_NAMES)
    assert {m["Unit"] for m in directive["Metrics"]} == {"Count"}
    assert document[STACK_DIMENSION] == "tests"
    # AND the values are the batch's outcomes, zeros included
    assert {name: document[name] for name in METRIC_NAMES} == {
        "Analysed": 1,
        "Unchanged": 0,
        "NewRevisions": 0,
        "PermanentErrors": 1,
        "NewPermanentErrors": 1,
        "BadMessages": 0,
        "HandedBack": 0,
    }


def test_handed_back_counts_every_company_whose_message_went_back(pipeline, capsys):
    # GIVEN a company whose text source keeps failing, and one that answers
    pipeline.watch({"Flaky": "Flaky grew.", "Steady": "Steady grew."})
    pipeline.wiki.script("Flaky", *[Scripted(503, {"Retry-After": "0"})] * 10)
    # WHEN they come in two chunks
    outcome = pipeline.run([chunk(["Flaky"]), chunk(["Steady"])])
    # THEN the metric counts the one handed back
    (document,) = metric_documents(capsys)
    assert len(outcome.failures) == 1 and (document["HandedBack"], document["Analysed"]) == (1, 1)


def test_outcome_values_sum_failure_counts_into_handed_back_and_leave_outcomes_out():
    counts = {"analysed": 3, "fetch_timeout": 2, "table_error": 1, "already_recorded": 4, "errors_cleared": 1}
    values = outcome_values(counts)
    assert values["HandedBack"] == 3 and values["Analysed"] == 3 and values["Unchanged"] == 0


def test_more_metrics_than_one_directive_holds_are_refused():
    too_many = {f"M{i}": 0 for i in range(101)}
    with pytest.raises(ValueError, match="100"):
        emf_fields(MetricsTarget("WatchlistSentiment", "s"), too_many)


# ------------------------------------------------------------------------------------- new permanent errors


def test_a_standing_bad_name_is_a_new_permanent_error_on_its_first_check_only(pipeline, capsys):
    # GIVEN a name with no page on the watchlist
    put_companies(pipeline.res.table, ["Ghost Co"])
    # WHEN it is checked on three ticks, each carrying the state the table holds
    documents = [tick(pipeline, ["Ghost Co"], f"run-{n}", capsys) for n in (1, 2, 3)]
    # THEN it is a permanent error every time, and a new one only the first time
    assert [d["PermanentErrors"] for d in documents] == [1, 1, 1]
    assert [d["NewPermanentErrors"] for d in documents] == [1, 0, 0]


def test_a_name_that_recovers_and_fails_again_is_new_again(pipeline, capsys):
    # GIVEN a name whose page is missing, then appears, then is gone again
    put_companies(pipeline.res.table, ["Late Co"])
    first = tick(pipeline, ["Late Co"], "run-1", capsys)
    pipeline.wiki.add_page("Late Co", "Late Co posted record growth.")
    recovered = tick(pipeline, ["Late Co"], "run-2", capsys)
    pipeline.wiki.remove_page("Late Co")
    again = tick(pipeline, ["Late Co"], "run-3", capsys)
    # THEN the failure after the recovery counts as new again
    assert (first["NewPermanentErrors"], recovered["Analysed"], again["NewPermanentErrors"]) == (1, 1, 1)


def test_another_error_than_the_recorded_one_is_new(pipeline, capsys):
    # GIVEN a name recorded as missing whose page becomes a disambiguation page
    put_companies(pipeline.res.table, ["Mercury"])
    tick(pipeline, ["Mercury"], "run-1", capsys)
    pipeline.wiki.add_page("Mercury", "Mercury may refer to...", type="disambiguation")
    # WHEN checked again  THEN that error is new, and recorded
    assert tick(pipeline, ["Mercury"], "run-2", capsys)["NewPermanentErrors"] == 1
    assert pipeline.item("Mercury")["last_error"] == {"S": "disambiguation"}


def test_an_error_already_recorded_is_not_new_when_the_snapshot_is_stale(pipeline, capsys):
    # GIVEN a bad name whose error the table holds, but two chunks queued before it was recorded (no snapshot
    # of the error), delivered to two batches
    put_companies(pipeline.res.table, ["Ghost Co"])
    stale = pipeline.snapshot(["Ghost Co"])
    pipeline.run([chunk(stale, run_id="run-1")])
    first = metric_documents(capsys)[0]
    pipeline.run([chunk(stale, run_id="run-2")])
    second = metric_documents(capsys)[0]
    # THEN only the batch whose write recorded the error counts it new
    assert (first["NewPermanentErrors"], second["NewPermanentErrors"]) == (1, 0)


def test_a_page_answering_again_at_the_recorded_revision_clears_the_error(pipeline, capsys):
    # GIVEN a company analysed at its page's revision, then recorded as missing (the page was deleted, and is
    # restored at the same revision: the Action API answers the revision the table holds)
    pipeline.watch({"Phoenix": "Phoenix rose again."})
    tick(pipeline, ["Phoenix"], "run-1", capsys)
    ddb = boto3.client("dynamodb")
    assert state.save_error(pipeline.res.table, "Phoenix", "not_found", "2026-11-27T12:05:00Z", ddb) == state.WRITTEN
    # WHEN the next check finds the page unchanged
    unchanged = tick(pipeline, ["Phoenix"], "run-2", capsys)
    # THEN the error is gone from the table
    assert unchanged["Unchanged"] == 1 and "last_error" not in pipeline.item("Phoenix")
    # AND when the page goes missing once more, that failure is new again
    pipeline.wiki.remove_page("Phoenix")
    assert tick(pipeline, ["Phoenix"], "run-3", capsys)["NewPermanentErrors"] == 1
