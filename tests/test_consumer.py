"""The consumer on chunks: one revision request per 50 pages, intros only for pages that moved, Comprehend only for
intros that changed, writes only when something changed, and exactly the failed messages handed back."""

from __future__ import annotations

import json

import boto3
import pytest

from lib.batch import BatchFailed
from lib.dataset_layout import COLUMNS
from lib.limits import COMPREHEND_SCORED_CHARS
from lib.message import Company
from tests.conftest import load_event, put_companies
from tests.consumer_fixture import chunk, sqs_record
from tests.dataset_checks import assert_written_columns
from tests.test_producer import load_handler
from tests.wiki_fixture import Page, Scripted


def test_a_chunk_of_fifty_costs_one_revision_request_three_intro_requests_and_two_comprehend_calls(pipeline):
    # GIVEN 50 companies never checked before
    pages = {f"Company {i:02d}": f"Company {i:02d} posted record growth." for i in range(50)}
    pipeline.watch(pages)
    # WHEN their chunk is processed
    outcome = pipeline.run([chunk(pages)])
    # THEN one request asked for 50 revisions, three for 20 + 20 + 10 intros, and Comprehend was called twice
    assert outcome.failures == [] and outcome.counts["analysed"] == 50
    assert [len(r.titles) for r in pipeline.wiki.requests] == [50, 20, 20, 10]
    assert pipeline.comprehend.operations() == ["BatchDetectSentiment", "BatchDetectSentiment"]
    # AND one results object holds the 50 rows, each with its page revision
    assert len(pipeline.objects()) == 1
    rows = pipeline.rows()
    assert sorted(r["name"] for r in rows) == sorted(pages)
    assert all(int(r["revision"]) == pipeline.wiki.revision(r["name"]) for r in rows)


def test_the_results_row_has_every_column_and_the_table_the_latest_state(pipeline):
    pipeline.watch({"Netflix": "Netflix is a popular and innovative streaming service."})
    pipeline.run([chunk(["Netflix"], run_id="run-9")])
    (row,) = pipeline.rows()
    assert tuple(row) == COLUMNS
    # the object as written: JSON Lines whose every line has exactly the schema's columns, schema_version 2
    (key,) = pipeline.objects()
    assert key.endswith(".jsonl")
    assert_written_columns(key, boto3.client("s3").get_object(Bucket=pipeline.res.bucket, Key=key)["Body"].read())
    assert (row["sentiment"], row["run_id"], row["source_url"]) == (
        "POSITIVE",
        "run-9",
        pipeline.wiki.page_url("Netflix"),
    )
    item = pipeline.item("Netflix")
    assert item["revision"] == {"N": str(pipeline.wiki.revision("Netflix"))} and item["page"] == {"S": "Netflix"}
    assert item["text_sha256"]["S"] == row["text_sha256"] and item["last_run_id"] == {"S": "run-9"}


def test_an_unchanged_revision_costs_no_intro_request_no_comprehend_call_and_no_write(pipeline):
    # GIVEN a company analysed once, and its chunk queued again with the table's state
    pipeline.watch({"Netflix": "Netflix is a popular streaming service."})
    pipeline.run([chunk(["Netflix"])])
    before = pipeline.item("Netflix")
    pipeline.wiki.reset_counts()
    ddb = boto3.client("dynamodb")
    writes: list = []
    ddb.meta.events.register("before-call.dynamodb.UpdateItem", lambda **kw: writes.append(1))
    # WHEN the next tick's chunk is processed
    outcome = pipeline.run([chunk(pipeline.snapshot(["Netflix"]), run_id="run-2")], ddb=ddb)
    # THEN one revision request was the only cost
    assert outcome.counts == {"unchanged": 1}
    assert len(pipeline.wiki.requests) == 1 and pipeline.intro_requests() == 0
    assert pipeline.comprehend.operations() == ["BatchDetectSentiment"] and writes == []
    assert pipeline.item("Netflix") == before


def test_a_new_revision_with_the_same_intro_is_recorded_without_comprehend(pipeline):
    # GIVEN an analysed company whose page was edited below its intro
    pipeline.watch({"Intel": "Intel makes chips."})
    pipeline.run([chunk(["Intel"])])
    pipeline.wiki.touch_page("Intel")
    # WHEN the next chunk is processed
    outcome = pipeline.run([chunk(pipeline.snapshot(["Intel"]), run_id="run-2")])
    # THEN the intro was read, hashed the same, and only the revision was written
    assert outcome.counts == {"unchanged": 0, "new_revision": 1}
    assert pipeline.comprehend.operations() == ["BatchDetectSentiment"]
    assert pipeline.item("Intel")["revision"] == {"N": str(pipeline.wiki.revision("Intel"))}
    assert len(pipeline.rows()) == 1


def test_a_rewritten_intro_is_analysed_again(pipeline):
    pipeline.watch({"Nokia": "Nokia posted record growth."})
    pipeline.run([chunk(["Nokia"])])
    pipeline.wiki.add_page("Nokia", "Nokia faced a lawsuit and layoffs.")
    outcome = pipeline.run([chunk(pipeline.snapshot(["Nokia"]), run_id="run-2")])
    assert outcome.counts["analysed"] == 1
    assert [r["sentiment"] for r in sorted(pipeline.rows(), key=lambda r: r["run_id"])] == ["POSITIVE", "NEGATIVE"]


def test_only_the_first_500_characters_go_to_comprehend_and_the_whole_intro_to_the_dataset(pipeline):
    text = "Tesla posted record growth. " + "x" * 2_000
    pipeline.watch({"Tesla": text})
    pipeline.run([chunk(["Tesla"])])
    (sent,) = pipeline.comprehend.calls[0]["request"]["TextList"]
    assert sent == text[:COMPREHEND_SCORED_CHARS]
    assert pipeline.rows()[0]["text"] == text


def test_a_company_may_name_its_page(pipeline):
    # GIVEN "Amazon" on the watchlist naming the page "Amazon (company)", while "Amazon" is a disambiguation page
    put_companies(pipeline.res.table, ["Amazon"], title="Amazon (company)")
    pipeline.wiki.add_page("Amazon", Page("Amazon may refer to a river or a company.", "disambiguation"))
    pipeline.wiki.add_page("Amazon (company)", "Amazon is a popular online retailer.")
    # WHEN its chunk (as the producer builds it) is processed
    outcome = pipeline.run([chunk(pipeline.snapshot(["Amazon"]))])
    # THEN the named page was read and the row is the company's
    assert outcome.counts["analysed"] == 1
    (row,) = pipeline.rows()
    assert row["name"] == "Amazon" and row["source_url"] == pipeline.wiki.page_url("Amazon (company)")


@pytest.mark.parametrize(
    ("setup", "reason"),
    [
        (lambda wiki: None, "not_found"),
        (lambda wiki: wiki.add_page("Ghost Co", Page("Ghost Co may refer to...", "disambiguation")), "disambiguation"),
        (lambda wiki: wiki.add_page("Ghost Co", Page("", "no-extract")), "no_extract"),
    ],
    ids=["missing", "disambiguation", "no intro"],
)
def test_a_page_without_usable_text_is_recorded_once_and_not_retried(pipeline, setup, reason):
    # GIVEN a company whose title has no usable page
    put_companies(pipeline.res.table, ["Ghost Co"])
    setup(pipeline.wiki)
    # WHEN its chunk is processed twice (the second time with the state the first recorded)
    first = pipeline.run([chunk(["Ghost Co"])])
    ddb = boto3.client("dynamodb")
    writes: list = []
    ddb.meta.events.register("before-call.dynamodb.UpdateItem", lambda **kw: writes.append(1))
    second = pipeline.run([chunk(pipeline.snapshot(["Ghost Co"]), run_id="run-2")], ddb=ddb)
    # THEN the error is on the company, the messages are done, and the second time wrote nothing
    assert first.failures == second.failures == []
    assert pipeline.item("Ghost Co")["last_error"] == {"S": reason}
    assert writes == []


def test_the_error_clears_once_the_page_appears(pipeline):
    put_companies(pipeline.res.table, ["Late Co"])
    pipeline.run([chunk(["Late Co"])])
    pipeline.wiki.add_page("Late Co", "Late Co posted record growth.")
    pipeline.run([chunk(pipeline.snapshot(["Late Co"]), run_id="run-2")])
    assert "last_error" not in pipeline.item("Late Co") and pipeline.item("Late Co")["sentiment"] == {"S": "POSITIVE"}


def test_a_redirect_is_followed_and_recorded_as_the_page_it_reached(pipeline):
    put_companies(pipeline.res.table, ["Facebook"])
    pipeline.wiki.add_page("Meta Platforms", "Meta Platforms reported strong growth.")
    pipeline.wiki.add_redirect("Facebook", "Meta Platforms")
    pipeline.run([chunk(["Facebook"])])
    (row,) = pipeline.rows()
    assert row["name"] == "Facebook" and row["source_url"] == pipeline.wiki.page_url("Meta Platforms")
    assert pipeline.item("Facebook")["page"] == {"S": "Meta Platforms"}


def test_a_failed_revision_request_hands_back_only_its_chunk(pipeline):
    # GIVEN two chunks, and a text source that keeps failing the first chunk's request
    first = {f"A{i}": f"A{i} grew." for i in range(3)}
    second = {f"B{i}": f"B{i} grew." for i in range(3)}
    pipeline.watch({**first, **second})
    pipeline.wiki.script("A0", *[Scripted(500, {"Retry-After": "0"})] * 10)
    records = [chunk(first), chunk(second)]
    # WHEN the batch is processed
    outcome = pipeline.run(records)
    # THEN only the first chunk's message comes back; the second chunk is analysed
    assert outcome.failures == [records[0]["messageId"]]
    assert sorted(r["name"] for r in pipeline.rows()) == sorted(second)


def test_one_company_failing_in_a_chunk_keeps_the_others_progress(pipeline):
    # GIVEN a chunk of three, one of which Comprehend cannot score
    pipeline.watch({"Good Co": "Good Co is the best.", "Fine Co": "Fine Co grew.", "Odd Co": "odd text"})
    pipeline.comprehend.document_errors["odd text"] = "INTERNAL_SERVER_ERROR"
    record = chunk(["Good Co", "Fine Co", "Odd Co"])
    # WHEN it is processed
    outcome = pipeline.run([record])
    # THEN the message comes back, while the two others are recorded with their rows
    assert outcome.failures == [record["messageId"]] and outcome.reasons[record["messageId"]] == (
        "Odd Co",
        "sentiment_error",
    )
    assert sorted(r["name"] for r in pipeline.rows()) == ["Fine Co", "Good Co"]
    assert "sentiment" not in pipeline.item("Odd Co")


@pytest.mark.parametrize(
    "body",
    [
        "{not json",
        '["a list"]',
        '{"run_id": "r", "requested_at": "2026-11-27T12:00:00Z"}',
        '{"v": 2, "run_id": "r", "requested_at": "yesterday", "companies": [{"name": "A"}]}',
        '{"v": 2, "run_id": "r", "requested_at": "2026-11-27T12:00:00Z", "companies": []}',
    ],
    ids=["not json", "not an object", "no companies or name", "bad time", "empty chunk"],
)
def test_a_body_that_is_not_a_work_message_fails_that_record_with_its_reason(pipeline, body):
    pipeline.watch({"Apple": "Apple makes popular phones."})
    broken = sqs_record(body)
    outcome = pipeline.run([chunk(["Apple"]), broken])
    assert outcome.failures == [broken["messageId"]]
    assert outcome.reasons[broken["messageId"]][1].startswith("bad_message: ")
    assert len(pipeline.rows()) == 1


def test_an_unreadable_entry_sends_its_chunk_to_the_dead_letter_path_after_the_others_are_done(pipeline):
    # GIVEN a chunk whose second entry's name holds a control character
    pipeline.watch({"Apple": "Apple makes popular phones."})
    body = json.dumps(
        {
            "v": 2,
            "run_id": "r",
            "requested_at": "2026-11-27T12:00:00Z",
            "companies": [{"name": "Apple"}, {"name": "A\u0007B"}],
        }
    )
    record = sqs_record(body)
    # WHEN it is processed
    outcome = pipeline.run([record])
    # THEN Apple is analysed, and the message comes back naming the bad entry
    assert [r["name"] for r in pipeline.rows()] == ["Apple"]
    assert outcome.failures == [record["messageId"]]
    assert "company 2: invalid name" in outcome.reasons[record["messageId"]][1]


def test_every_record_failing_raises_so_lambda_retries_the_batch(pipeline):
    with pytest.raises(BatchFailed):
        pipeline.run([sqs_record("nope"), sqs_record("")])


def test_a_company_removed_in_flight_is_not_recreated(pipeline):
    pipeline.wiki.add_page("Gone Inc", "Gone Inc had record growth.")
    outcome = pipeline.run([chunk(["Gone Inc"])])
    assert outcome.failures == [] and pipeline.item("Gone Inc") is None


def test_the_same_company_in_two_chunks_of_a_batch_is_checked_once(pipeline):
    pipeline.watch({"Tesla": "Tesla posted record growth."})
    outcome = pipeline.run([chunk(["Tesla"], run_id="r1"), chunk(["Tesla"], run_id="r2")])
    assert outcome.failures == [] and len(pipeline.rows()) == 1
    assert len(pipeline.wiki.requests_for("Tesla")) == 2  # one revision request, one intro request


def test_a_batch_logs_two_lines_and_none_per_company(pipeline, capsys):
    pages = {f"Firm {i}": f"Firm {i} grew." for i in range(30)}
    pipeline.watch(pages)
    pipeline.run([chunk(pages, run_id="run-A")])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert [line["message"] for line in lines] == ["results written", "batch done"]
    assert all(line["correlation_id"] == "run-A" for line in lines)


def test_the_handler_reads_the_sample_event_and_returns_no_failures(pipeline):
    pipeline.watch({"Netflix": "Netflix is a popular streaming service."})
    handler = load_handler("ProducerAI")
    handler._setup.cache_clear()
    assert handler.lambda_handler(load_event("sqs_batch.json"), None) == {"batchItemFailures": []}
    assert pipeline.rows()[0]["run_id"] == "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa"


def test_the_handler_lists_the_failed_message_ids(pipeline):
    pipeline.watch({"Flaky": "Flaky grew.", "Steady": "Steady grew."})
    pipeline.wiki.script("Flaky", *[Scripted(503, {"Retry-After": "0"})] * 10)
    event = {"Records": [chunk([Company("Flaky")], message_id="m-1"), chunk(["Steady"], message_id="m-2")]}
    handler = load_handler("ProducerAI")
    handler._setup.cache_clear()
    assert handler.lambda_handler(event, None) == {"batchItemFailures": [{"itemIdentifier": "m-1"}]}
