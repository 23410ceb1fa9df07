"""A chunk delivered again never writes a row twice, whatever its stale snapshot says; the crash and failure paths
repair themselves; a stack updated from the one-company messages keeps working on what the old code left."""

from __future__ import annotations

import json

import boto3
import pytest

from lib.batch import BatchFailed
from lib.compaction import Place, compact_day
from lib.dataset_layout import day_of
from lib.message import Company
from lib.results import text_sha256
from tests.conftest import put_companies
from tests.consumer_fixture import REQUESTED_AT, chunk, redelivered, sqs_record


def analysed_names(pipeline) -> list[str]:
    return sorted(row["name"] for row in pipeline.rows())


def test_a_chunk_redelivered_after_partial_success_writes_no_row_twice(pipeline):
    # GIVEN a chunk of three, one of which Comprehend fails the first time
    pipeline.watch({"Good Co": "Good Co is the best.", "Fine Co": "Fine Co grew.", "Odd Co": "odd text"})
    pipeline.comprehend.document_errors["odd text"] = "INTERNAL_SERVER_ERROR"
    record = chunk(["Good Co", "Fine Co", "Odd Co"])
    assert pipeline.run([record]).failures == [record["messageId"]]
    del pipeline.comprehend.document_errors["odd text"]
    # WHEN SQS delivers the same message (same stale snapshot) a second time
    again = redelivered(record)
    outcome = pipeline.run([again])
    # THEN only the failed company was analysed; every company has exactly one row
    assert outcome.failures == [] and outcome.counts["analysed"] == 1 and outcome.counts["unchanged"] == 2
    assert analysed_names(pipeline) == ["Fine Co", "Good Co", "Odd Co"]


def test_two_deliveries_of_one_chunk_at_once_write_each_row_once(pipeline):
    # GIVEN one chunk delivered twice as a first delivery (SQS's at-least-once), the second after the first finished
    pipeline.watch({"Uber": "Uber grew.", "Lyft": "Lyft grew."})
    record = chunk(["Uber", "Lyft"])
    pipeline.run([record])
    # WHEN the duplicate is processed with its stale snapshot (no table read: it looks like a first delivery)
    duplicate = dict(record, messageId="another-id")
    outcome = pipeline.run([duplicate])
    # THEN the revision check refused both table writes, so no row was written twice
    assert outcome.failures == [] and outcome.counts.get("already_recorded") == 2
    assert analysed_names(pipeline) == ["Lyft", "Uber"] and len(pipeline.objects()) == 1


def test_a_crash_between_the_table_and_the_object_is_repaired_by_the_redelivery(pipeline):
    # GIVEN a chunk whose table update happened but whose object was never written (a crash in between)
    pipeline.watch({"Uber": "Uber grew.", "Lyft": "Lyft grew."})
    record = chunk(["Uber", "Lyft"])
    pipeline.run([record])
    (key,) = pipeline.objects()
    boto3.client("s3").delete_object(Bucket=pipeline.res.bucket, Key=key)
    # WHEN the message is delivered again
    outcome = pipeline.run([redelivered(record)])
    # THEN both are analysed again and written once, and the table names the new object
    assert outcome.failures == [] and outcome.counts["analysed"] == 2
    assert analysed_names(pipeline) == ["Lyft", "Uber"]
    assert pipeline.item("Uber")["result_key"]["S"] == pipeline.objects()[0]


def test_a_redelivery_whose_object_exists_writes_nothing(pipeline):
    pipeline.watch({"Uber": "Uber grew."})
    record = chunk(["Uber"])
    pipeline.run([record])
    outcome = pipeline.run([redelivered(record, 3)])
    assert outcome.failures == [] and outcome.counts == {"unchanged": 1}
    assert len(pipeline.rows()) == 1


def test_a_later_run_does_not_look_for_an_earlier_runs_object(pipeline):
    pipeline.watch({"Uber": "Uber grew."})
    pipeline.run([chunk(["Uber"])])
    s3 = boto3.client("s3")
    heads: list = []
    s3.meta.events.register("before-parameter-build.s3.HeadObject", lambda **kw: heads.append(kw["params"]["Key"]))
    stale = chunk(pipeline.snapshot(["Uber"]), run_id="run-2", receives=2)
    outcome = pipeline.run([stale], s3=s3)
    assert outcome.failures == [] and heads == [] and len(pipeline.rows()) == 1


def test_a_failed_results_write_takes_the_states_back_and_the_retry_analyses_again(pipeline):
    # GIVEN the results bucket does not exist
    pipeline.watch({"A Co": "A Co grew.", "B Co": "B Co fell."})
    broken = type(pipeline.config)(**{**pipeline.config.__dict__, "results_bucket": "no-such-bucket-here"})
    record = chunk(["A Co", "B Co"])
    # WHEN the chunk is processed THEN the whole batch fails (nothing made progress), and no state claims the rows
    with pytest.raises(BatchFailed):
        pipeline.run([record], config=broken)
    assert "revision" not in pipeline.item("A Co") and "text_sha256" not in pipeline.item("A Co")
    # WHEN Lambda delivers it again and the bucket is back
    outcome = pipeline.run([redelivered(record)])
    # THEN both are analysed and written, once
    assert outcome.failures == [] and outcome.counts["analysed"] == 2
    assert analysed_names(pipeline) == ["A Co", "B Co"]


def test_a_revision_saved_between_the_two_requests_is_recorded_with_its_intro(pipeline):
    # GIVEN a page edited after the revision request and before the intro request
    pipeline.watch({"Volatile": "Volatile grew."})
    original = pipeline.wiki._answer

    def edit_before_intros(request):
        if request.asks_intros and pipeline.wiki.store.get("Volatile").page.extract == "Volatile grew.":
            pipeline.wiki.add_page("Volatile", "Volatile had a scandal.")
        return original(request)

    pipeline.wiki._answer = edit_before_intros
    # WHEN its chunk is processed
    pipeline.run([chunk(["Volatile"])])
    # THEN the row and the table hold the new intro with its own revision
    (row,) = pipeline.rows()
    assert row["text"] == "Volatile had a scandal." and int(row["revision"]) == pipeline.wiki.revision("Volatile")
    assert pipeline.item("Volatile")["revision"] == {"N": str(row["revision"])}


def test_a_message_of_the_one_company_shape_still_in_the_queue_is_worked_on(pipeline):
    # GIVEN a message the previous version queued, and the company's item as that version left it
    pipeline.watch({"Netflix": "Netflix is a popular streaming service."}, text_sha256="0" * 64, etag='"old-etag"')
    body = json.dumps({"name": "Netflix", "run_id": "old-run", "requested_at": REQUESTED_AT})
    record = sqs_record(body, run_id="old-run")
    reads: list = []
    ddb = boto3.client("dynamodb")
    ddb.meta.events.register("before-call.dynamodb.BatchGetItem", lambda **kw: reads.append(1))
    # WHEN it is processed
    outcome = pipeline.run([record], ddb=ddb)
    # THEN the company's state was read from the table, its intro analysed, and the old ETag dropped
    assert outcome.failures == [] and outcome.counts["analysed"] == 1 and reads == [1]
    item = pipeline.item("Netflix")
    assert "etag" not in item and item["revision"] == {"N": str(pipeline.wiki.revision("Netflix"))}


def test_an_item_written_by_the_previous_version_is_checked_like_any_other(pipeline):
    # GIVEN an item analysed by the previous version (a summary's hash, no revision, no page)
    text = "Intel makes chips."
    put_companies(pipeline.res.table, ["Intel"], text_sha256=text_sha256("Intel summary text."), sentiment="NEUTRAL")
    pipeline.wiki.add_page("Intel", text)
    # WHEN the producer's chunk of it is processed
    outcome = pipeline.run([chunk(pipeline.snapshot(["Intel"]))])
    # THEN the intro is analysed once and the item gains its revision; the next tick finds it unchanged
    assert outcome.counts["analysed"] == 1
    assert pipeline.run([chunk(pipeline.snapshot(["Intel"]), run_id="run-2")]).counts == {"unchanged": 1}


def test_a_redelivered_company_that_left_the_watchlist_is_skipped(pipeline):
    pipeline.wiki.add_page("Gone Inc", "Gone Inc grew.")
    outcome = pipeline.run([chunk([Company("Gone Inc")], receives=2)])
    assert outcome.failures == [] and outcome.counts == {"not_on_watchlist": 1}
    assert pipeline.wiki.requests == []


def test_a_redelivery_after_its_day_was_compacted_finds_its_row_through_the_manifest(pipeline):
    # GIVEN a run recorded in the table, and its day compacted: the batch object the table names is gone
    pipeline.watch({"Uber": "Uber grew.", "Lyft": "Lyft grew."})
    record = chunk(["Uber", "Lyft"])
    pipeline.run([record])
    (key,) = pipeline.objects()
    s3 = boto3.client("s3")
    compact_day(s3, Place(pipeline.res.bucket, "results", "manifests"), day_of(key))
    assert key not in pipeline.objects() and pipeline.item("Uber")["result_key"]["S"] == key
    # WHEN the message is delivered again
    outcome = pipeline.run([redelivered(record)])
    # THEN the recovery check finds the key in the day's manifest: nothing is analysed or written again
    assert outcome.failures == [] and outcome.counts == {"unchanged": 2}
    assert (
        analysed_names(pipeline) == ["Lyft", "Uber"]
        and pipeline.comprehend.operations().count("BatchDetectSentiment") == 1
    )
