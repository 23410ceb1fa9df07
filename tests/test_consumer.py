"""The consumer: fetch, analyse only what changed, store, and report exactly the records that failed.

Label-change notifications are in tests/test_consumer_notify.py.
"""

from __future__ import annotations

import json

import boto3
import pytest

from lib.config import ConsumerConfig
from lib.consumer import BatchFailed, process_batch
from lib.results import COLUMNS
from tests.conftest import load_event, put_companies
from tests.consumer_fixture import sqs_record, watch
from tests.test_producer import load_handler
from tests.wiki_fixture import Page, Scripted


def test_one_bad_company_in_ten_fails_alone(pipeline):
    # GIVEN ten companies, one of which the text source keeps answering 500 for
    pages = {f"Company {i}": f"Company {i} posted record growth." for i in range(10)}
    watch(pipeline, pages)
    pipeline.wiki.script("Company 3", *[Scripted(status=500)] * 10)
    records = [sqs_record(name) for name in pages]
    # WHEN the batch is processed
    outcome = pipeline.run(records)
    # THEN exactly that company's message is reported as failed
    assert outcome.failures == [records[3]["messageId"]]
    # AND the other nine are in one results object and in the table
    assert len(pipeline.objects()) == 1
    assert sorted(r["name"] for r in pipeline.rows()) == sorted(n for n in pages if n != "Company 3")
    for name in pages:
        item = pipeline.item(name)
        assert ("sentiment" in item) == (name != "Company 3")


def test_results_row_has_every_column(pipeline):
    watch(pipeline, {"Netflix": "Netflix is a popular and innovative streaming service."})
    pipeline.run([sqs_record("Netflix", run_id="run-9")])
    (row,) = pipeline.rows()
    assert tuple(row) == COLUMNS
    assert row["sentiment"] == "POSITIVE" and row["run_id"] == "run-9"
    assert row["source_url"] == pipeline.wiki.page_url("Netflix")
    assert len(row["text_sha256"]) == 64 and row["analyzed_at"].endswith("Z")
    assert pipeline.objects()[0].startswith("results/dt=2026-11-27/part-")


def test_table_keeps_the_latest_state(pipeline):
    watch(pipeline, {"Enron": "Enron collapsed after fraud and a scandal."})
    pipeline.run([sqs_record("Enron")])
    item = pipeline.item("Enron")
    assert item["sentiment"]["S"] == "NEGATIVE"
    assert {"score_positive", "score_negative", "score_neutral", "score_mixed"} <= set(item)
    assert item["etag"]["S"] == pipeline.wiki.etag_for("Enron")
    assert item["source_url"]["S"] == pipeline.wiki.page_url("Enron")
    assert item["result_key"]["S"] == pipeline.objects()[0]
    assert "last_error" not in item


def test_unchanged_text_is_not_analysed_again(pipeline):
    # GIVEN a company analysed once
    watch(pipeline, {"Google": "Google is a leading search company."})
    pipeline.run([sqs_record("Google", run_id="run-1")])
    calls, objects = len(pipeline.comprehend.calls), pipeline.objects()
    # WHEN the next run finds the same text
    outcome = pipeline.run([sqs_record("Google", run_id="run-2")])
    # THEN Comprehend is not called, no result object is added, and the ETag was offered
    assert outcome.failures == [] and outcome.counts.get("unchanged") == 1
    assert len(pipeline.comprehend.calls) == calls and pipeline.objects() == objects
    assert pipeline.wiki.requests_for("Google")[-1].header("If-None-Match") == pipeline.wiki.etag_for("Google")


def test_changed_text_is_analysed_again(pipeline):
    watch(pipeline, {"Amazon": "Amazon is a popular retailer."})
    pipeline.run([sqs_record("Amazon", run_id="run-1")])
    pipeline.wiki.add_page("Amazon", "Amazon faces a lawsuit and layoffs.")
    pipeline.run([sqs_record("Amazon", run_id="run-2")])
    assert [r["sentiment"] for r in sorted(pipeline.rows(), key=lambda r: r["run_id"])] == ["POSITIVE", "NEGATIVE"]
    assert pipeline.item("Amazon")["sentiment"]["S"] == "NEGATIVE"


def test_missing_page_is_recorded_on_the_company_not_retried(pipeline):
    # GIVEN a company with no Wikipedia page
    put_companies(pipeline.res.table, ["Nonexistent Co"])
    # WHEN its message is processed
    outcome = pipeline.run([sqs_record("Nonexistent Co"), sqs_record("Nonexistent Co")])
    # THEN the message succeeds (no endless retry), the table says why, and Comprehend was not asked
    assert outcome.failures == []
    assert pipeline.item("Nonexistent Co")["last_error"]["S"] == "not_found"
    assert pipeline.comprehend.calls == []


def test_disambiguation_page_is_a_permanent_error(pipeline):
    put_companies(pipeline.res.table, ["Mercury"])
    pipeline.wiki.add_page("Mercury", Page("Mercury may refer to:", "disambiguation"))
    outcome = pipeline.run([sqs_record("Mercury")])
    assert outcome.failures == [] and pipeline.item("Mercury")["last_error"]["S"] == "disambiguation"


def test_error_clears_once_the_page_appears(pipeline):
    put_companies(pipeline.res.table, ["Newco"])
    pipeline.run([sqs_record("Newco")])
    pipeline.wiki.add_page("Newco", "Newco won an award.")
    pipeline.run([sqs_record("Newco")])
    item = pipeline.item("Newco")
    assert "last_error" not in item and item["sentiment"]["S"] == "POSITIVE"


def test_redirect_is_followed(pipeline):
    put_companies(pipeline.res.table, ["Facebook"])
    pipeline.wiki.add_page("Meta Platforms", "Meta Platforms reported strong growth.")
    pipeline.wiki.add_redirect("Facebook", "Meta Platforms")
    pipeline.run([sqs_record("Facebook")])
    (row,) = pipeline.rows()
    assert row["name"] == "Facebook" and row["source_url"] == pipeline.wiki.page_url("Meta Platforms")


def test_body_that_is_not_json_fails_that_record_only(pipeline):
    watch(pipeline, {"Apple": "Apple makes popular phones."})
    good, broken = sqs_record("Apple"), sqs_record("x", body="{not json")
    outcome = pipeline.run([good, broken])
    assert outcome.failures == [broken["messageId"]] and len(pipeline.rows()) == 1


@pytest.mark.parametrize(
    "body",
    [
        '["a list"]',
        '{"run_id": "r", "requested_at": "2026-11-27T12:00:00Z"}',
        '{"name": "A\\u0000B", "run_id": "r", "requested_at": "2026-11-27T12:00:00Z"}',
        '{"name": "A", "run_id": "r", "requested_at": "yesterday"}',
    ],
)
def test_body_that_is_not_the_expected_message_fails(pipeline, body):
    watch(pipeline, {"Apple": "Apple makes popular phones."})
    broken = sqs_record("x", body=body)
    outcome = pipeline.run([sqs_record("Apple"), broken])
    assert outcome.failures == [broken["messageId"]]


def test_whole_batch_failure_raises(pipeline):
    # GIVEN every record is unreadable WHEN processed THEN the consumer raises so Lambda retries them all
    with pytest.raises(BatchFailed):
        pipeline.run([sqs_record("x", body="nope"), sqs_record("y", body="")])


def test_company_removed_in_flight_is_skipped_not_recreated(pipeline):
    pipeline.wiki.add_page("Gone Inc", "Gone Inc had record growth.")
    outcome = pipeline.run([sqs_record("Gone Inc")])
    assert outcome.failures == [] and pipeline.item("Gone Inc") is None and pipeline.wiki.requests == []


def test_table_writes_run_in_parallel_and_a_failed_one_fails_its_record_alone(pipeline):
    # GIVEN ten companies, and a table that refuses the write of two of them
    import threading

    pages = {f"Company {i}": f"Company {i} posted record growth." for i in range(10)}
    watch(pipeline, pages)
    ddb = boto3.client("dynamodb")
    writers: list[str] = []

    def refuse(params, **_):
        writers.append(threading.current_thread().name)
        if params["Key"]["name"]["S"] in ("Company 2", "Company 7"):
            raise RuntimeError("the table is unavailable")

    ddb.meta.events.register("before-parameter-build.dynamodb.UpdateItem", refuse)
    records = [sqs_record(name) for name in pages]
    # WHEN the batch is processed
    outcome = pipeline.run(records, ddb=ddb)
    # THEN the two records come back as failures and the eight others have their state and their row
    assert sorted(outcome.failures) == sorted([records[2]["messageId"], records[7]["messageId"]])
    assert outcome.counts["table_error"] == 2 and outcome.counts["analysed"] == 8
    for name in pages:
        assert ("sentiment" in pipeline.item(name)) == (name not in ("Company 2", "Company 7"))
    # AND the two refused ones have no row yet: their retry writes it, once
    assert sorted(r["name"] for r in pipeline.rows()) == sorted(set(pages) - {"Company 2", "Company 7"})
    # AND the ten writes were spread over more than one thread
    assert len(writers) == 10 and len(set(writers)) > 1


def test_results_write_failure_returns_the_analysed_records_and_their_retry_analyses_again(pipeline):
    # GIVEN the results bucket does not exist
    watch(pipeline, {"A Co": "A Co grew.", "B Co": "B Co fell."})
    broken = ConsumerConfig(**{**pipeline.config.__dict__, "results_bucket": "no-such-bucket-here"})
    records = [sqs_record("A Co"), sqs_record("B Co")]
    # WHEN the batch is processed THEN every record fails (raised as a whole)
    with pytest.raises(BatchFailed):
        process_batch(records, broken, pipeline.source)
    # (the table already names the object the rows were meant for)
    assert pipeline.item("A Co")["last_run_id"]["S"] == "run-1"
    # WHEN Lambda retries the messages and the bucket is back
    outcome = pipeline.run(records)
    # THEN the run's object is found missing, the texts are analysed again and written, once
    assert outcome.failures == [] and outcome.counts["analysed"] == 2
    assert sorted(r["name"] for r in pipeline.rows()) == ["A Co", "B Co"]
    assert pipeline.comprehend.operations().count("BatchDetectSentiment") == 2


def test_sentiment_document_error_fails_that_record(pipeline):
    watch(pipeline, {"Good Co": "Good Co is the best.", "Odd Co": "odd text"})
    pipeline.comprehend.document_errors["odd text"] = "INTERNAL_SERVER_ERROR"
    records = [sqs_record("Good Co"), sqs_record("Odd Co")]
    outcome = pipeline.run(records)
    assert outcome.failures == [records[1]["messageId"]]
    assert [r["name"] for r in pipeline.rows()] == ["Good Co"]


def test_same_company_twice_in_a_batch_is_analysed_once(pipeline):
    watch(pipeline, {"Tesla": "Tesla posted record growth."})
    outcome = pipeline.run([sqs_record("Tesla", run_id="r1"), sqs_record("Tesla", run_id="r2")])
    assert outcome.failures == [] and len(pipeline.rows()) == 1
    assert len(pipeline.wiki.requests_for("Tesla")) == 1


def test_a_message_redelivered_after_its_results_were_written_writes_nothing_again(pipeline):
    # GIVEN a batch fully stored (state and object), whose messages Lambda never got to delete
    watch(pipeline, {"Uber": "Uber grew.", "Lyft": "Lyft grew."})
    records = [sqs_record("Uber"), sqs_record("Lyft")]
    pipeline.run(records)
    # WHEN one of them comes back in a batch of its own, beside a new company
    watch(pipeline, {"Bolt": "Bolt grew."})
    outcome = pipeline.run([records[0], sqs_record("Bolt")])
    # THEN Uber's run finds its object and writes no second row; only Bolt is analysed
    assert outcome.failures == [] and outcome.counts["analysed"] == 1
    names = [r["name"] for r in pipeline.rows()]
    assert sorted(names) == ["Bolt", "Lyft", "Uber"]
    # AND the check asked for Uber's full text, not a 304, so it could have analysed it again
    assert pipeline.wiki.requests_for("Uber")[-1].header("If-None-Match") is None


def test_a_crash_between_the_table_and_the_object_is_repaired_by_the_redelivery(pipeline):
    # GIVEN a batch whose table update happened but whose object was never written (a crash in between)
    watch(pipeline, {"Uber": "Uber grew.", "Lyft": "Lyft grew."})
    records = [sqs_record("Uber"), sqs_record("Lyft")]
    pipeline.run(records)
    s3 = boto3.client("s3")
    (key,) = pipeline.objects()
    s3.delete_object(Bucket=pipeline.res.bucket, Key=key)
    # WHEN only Uber's message is delivered again
    outcome = pipeline.run([records[0]])
    # THEN Uber is analysed again and its row written; nothing else is
    assert outcome.failures == [] and outcome.counts["analysed"] == 1
    assert [r["name"] for r in pipeline.rows()] == ["Uber"]
    assert pipeline.item("Uber")["result_key"]["S"] == pipeline.objects()[0]


def test_a_later_run_does_not_look_for_an_earlier_runs_object(pipeline):
    # GIVEN Uber analysed by run-1
    watch(pipeline, {"Uber": "Uber grew."})
    pipeline.run([sqs_record("Uber")])
    s3 = boto3.client("s3")
    heads: list = []
    s3.meta.events.register("before-parameter-build.s3.HeadObject", lambda **kw: heads.append(kw["params"]["Key"]))
    # WHEN run-2 finds the text unchanged THEN it neither checks S3 nor writes anything
    outcome = pipeline.run([sqs_record("Uber", run_id="run-2")], s3=s3)
    assert outcome.failures == [] and heads == [] and len(pipeline.rows()) == 1


def test_batch_of_thirty_uses_two_comprehend_calls_and_one_put(pipeline):
    pages = {f"Firm {i}": f"Firm {i} reported record growth." for i in range(30)}
    watch(pipeline, pages)
    s3 = boto3.client("s3")
    puts: list = []
    s3.meta.events.register("before-parameter-build.s3.PutObject", lambda **kw: puts.append(kw["params"]["Key"]))
    pipeline.run([sqs_record(n) for n in pages], s3=s3)
    assert pipeline.comprehend.operations() == ["BatchDetectSentiment", "BatchDetectSentiment"]
    assert len(puts) == 1


def test_every_consumer_log_line_carries_a_correlation_id(pipeline, capsys):
    watch(pipeline, {"IBM": "IBM is a leading company."})
    put_companies(pipeline.res.table, ["Missing Co"])
    pipeline.run([sqs_record("IBM", run_id="run-A"), sqs_record("Missing Co", run_id="run-B")])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert lines and all(line["correlation_id"] for line in lines)
    assert {line["correlation_id"] for line in lines if line.get("company") == "IBM"} == {"run-A"}


def test_handler_returns_batch_item_failures_for_the_sample_event(pipeline):
    # GIVEN the sample SQS event and Netflix on the watchlist
    watch(pipeline, {"Netflix": "Netflix is a popular streaming service."})
    handler = load_handler("ProducerAI")
    handler._setup.cache_clear()
    # WHEN the handler runs THEN nothing failed and the row carries the event's run id
    assert handler.lambda_handler(load_event("sqs_batch.json"), None) == {"batchItemFailures": []}
    assert pipeline.rows()[0]["run_id"] == "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa"


def test_handler_lists_failed_message_ids(pipeline):
    put_companies(pipeline.res.table, ["Flaky"])
    pipeline.wiki.add_page("Flaky", "Flaky grew.")
    pipeline.wiki.add_page("Steady", "Steady grew.")
    put_companies(pipeline.res.table, ["Steady"])
    pipeline.wiki.script("Flaky", *[Scripted(status=503)] * 10)
    event = {"Records": [sqs_record("Flaky", message_id="m-1"), sqs_record("Steady", message_id="m-2")]}
    handler = load_handler("ProducerAI")
    handler._setup.cache_clear()
    # Retry-After-less 503s back off for real inside the handler; keep that short.
    assert handler.lambda_handler(event, None) == {"batchItemFailures": [{"itemIdentifier": "m-1"}]}
