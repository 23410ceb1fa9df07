"""The SQS event source mapping, played as Lambda plays it (watchlist_workstation/local/lambda_service/poller.py):
batch size and window, the records' shape, what is deleted and what stays, visibility and redrive."""

from __future__ import annotations

import hashlib
import json
import threading
import time

import pytest

from tests.local_lambda.support import (
    EVENTS,
    REGION,
    add_companies,
    counts,
    send_jobs,
    send_raw,
)
from watchlist_workstation.local.lambda_service.poller import batch_item_failures


def test_batches_hold_the_deployed_batch_size(account, stack, lam):
    # GIVEN 7 messages and a mapping deployed with BatchSize 3
    send_jobs(account, stack.QueueUrl, [f"Unlisted {i}" for i in range(7)])
    # WHEN the executor polls until the queue is empty
    sizes = [lam.poll_once(lam.mappings[0]).received for _ in range(4)]
    # THEN the batches hold 3, 3 and 1 records
    assert sizes == [3, 3, 1, 0]


def test_the_batching_window_gathers_records_sent_while_it_is_open(account, stack, lam, change):
    # GIVEN the deployed mapping changed to BatchSize 5 with a 2-second batching window
    change.mapping(lam.mappings[0].uuid, BatchSize=5, MaximumBatchingWindowInSeconds=2)
    send_jobs(account, stack.QueueUrl, ["Early 1", "Early 2"])
    later = threading.Timer(0.5, send_jobs, (account, stack.QueueUrl, ["Late 1", "Late 2", "Late 3"]))
    # WHEN one batch is polled while more records arrive within the window
    later.start()
    report = lam.poll_once(lam.mappings[0])
    later.join()
    # THEN the batch waited for them and went as soon as it was full, before the window closed
    assert report.received == 5
    assert 0.4 < report.gather_seconds < 1.5


def test_in_drain_mode_a_partial_batch_goes_as_soon_as_the_queue_is_empty(account, stack, lam, change):
    # GIVEN the deployed mapping with BatchSize 5 and a 3-second batching window, and 2 records queued
    change.mapping(lam.mappings[0].uuid, BatchSize=5, MaximumBatchingWindowInSeconds=3)
    send_jobs(account, stack.QueueUrl, ["Early 1", "Early 2"])
    # WHEN one batch is polled the way drain polls (nothing else is sending)
    report = lam.poll_once(lam.mappings[0], flush_when_empty=True)
    # THEN the two went without waiting for the window to close
    assert report.received == 2
    assert report.gather_seconds < 1.0


def test_records_are_shaped_like_lambdas_sqs_event(account, stack, lam):
    # GIVEN a message as the producer sends it, with a correlation_id attribute
    sample = json.loads((EVENTS / "sqs_batch.json").read_text())["Records"][0]
    (message_id,) = send_jobs(account, stack.QueueUrl, ["Unlisted Co"], run_id="run-42")
    # WHEN the executor delivers it
    (record,) = lam.poll_once(lam.mappings[0]).records
    # THEN the record has Lambda's keys and values (md5OfMessageAttributes: Lambda adds it when there are attributes)
    assert set(record) == set(sample) | {"md5OfMessageAttributes"}
    assert set(record["attributes"]) == set(sample["attributes"])
    assert record["messageAttributes"] == {
        "correlation_id": {
            "stringValue": "run-42",
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": "String",
        }
    }
    assert record["messageId"] == message_id
    assert record["md5OfBody"] == hashlib.md5(record["body"].encode()).hexdigest()  # noqa: S324 (SQS's checksum)
    assert (record["eventSource"], record["eventSourceARN"], record["awsRegion"]) == (
        "aws:sqs",
        lam.mappings[0].queue_arn,
        REGION,
    )


def test_success_deletes_the_batch(account, stack, lam):
    # GIVEN three well-formed messages for companies no longer on the watchlist (skipped: a success)
    send_jobs(account, stack.QueueUrl, ["Gone 1", "Gone 2", "Gone 3"])
    # WHEN the batch is processed
    report = lam.poll_once(lam.mappings[0])
    # THEN the function succeeded without failures and all three were deleted
    assert report.result.ok and report.result.payload == {"batchItemFailures": []}
    assert (report.received, report.deleted) == (3, 3)
    assert counts(account, stack.QueueUrl) == {"visible": 0, "in_flight": 0}


def test_batch_item_failures_delete_only_the_other_records(account, stack, lam):
    # GIVEN a company whose page the text source lacks (a permanent error, recorded: a success)
    # and a body that is not JSON (a failed record)
    add_companies(account, stack, ["Nonexistent Company Ltd"])
    (good,) = send_jobs(account, stack.QueueUrl, ["Nonexistent Company Ltd"])
    bad = send_raw(account, stack.QueueUrl, "not json")
    # WHEN they are processed in one batch
    report = lam.poll_once(lam.mappings[0])
    # THEN only the listed record stays on the queue, in flight until its visibility timeout
    assert report.result.payload == {"batchItemFailures": [{"itemIdentifier": bad}]}
    assert (report.received, report.deleted, report.failed) == (2, 1, 1)
    assert counts(account, stack.QueueUrl) == {"visible": 0, "in_flight": 1}
    item = account.client("dynamodb").get_item(
        TableName=stack.TableName, Key={"name": {"S": "Nonexistent Company Ltd"}}
    )
    assert item["Item"]["last_error"]["S"] == "not_found"
    assert good not in {r["itemIdentifier"] for r in report.result.payload["batchItemFailures"]}


def test_an_exception_deletes_no_record(account, stack, lam):
    # GIVEN a batch whose every record is bad, so the consumer raises BatchFailed
    send_raw(account, stack.QueueUrl, "not json")
    send_raw(account, stack.QueueUrl, "{also not json")
    # WHEN it is processed
    report = lam.poll_once(lam.mappings[0])
    # THEN the invocation failed with the handler's exception and both records stay on the queue
    assert not report.result.ok and report.result.error_type == "BatchFailed"
    assert (report.received, report.deleted) == (2, 0)
    assert counts(account, stack.QueueUrl) == {"visible": 0, "in_flight": 2}


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (None, set()),
        ({}, set()),
        ({"batchItemFailures": None}, set()),
        ({"batchItemFailures": []}, set()),
        ({"batchItemFailures": [{"itemIdentifier": "a"}]}, {"a"}),
        ({"batchItemFailures": [{"itemIdentifier": "zz"}]}, None),  # an id not in the batch
        ({"batchItemFailures": [{"itemIdentifier": ""}]}, None),
        ({"batchItemFailures": [{"itemIdentifier": None}]}, None),
        ({"batchItemFailures": [{"id": "a"}]}, None),  # a bad key name
        ({"batchItemFailures": "a"}, None),
        ("ok", None),  # not an object
    ],
)
def test_a_partial_batch_response_is_read_as_lambda_reads_it(payload, expected):
    # GIVEN a batch of records "a" and "b" WHEN the function returns `payload`
    # THEN the records kept are the listed ones, or the whole batch (None) when Lambda calls it a failure
    assert batch_item_failures(payload, ["a", "b"]) == expected


def test_a_failed_record_is_not_received_again_before_the_visibility_timeout(account, stack, lam, change):
    # GIVEN the queue's own visibility timeout set to 2 s, and a record that fails
    change.queue(stack.QueueUrl, VisibilityTimeout="2")
    send_raw(account, stack.QueueUrl, "not json")
    first = lam.poll_once(lam.mappings[0])
    # WHEN the queue is polled again at once, and again after the timeout
    at_once = lam.poll_once(lam.mappings[0])
    time.sleep(2.3)
    later = lam.poll_once(lam.mappings[0])
    # THEN the record is held back until the timeout ends, then delivered again
    assert (first.failed, at_once.received, later.received) == (1, 0, 1)
    assert later.records[0]["attributes"]["ApproximateReceiveCount"] == "2"


def test_the_redrive_policy_moves_a_poison_message_to_the_dead_letter_queue(account, stack, lam, change):
    # GIVEN maxReceiveCount 2 and no visibility timeout (each failure is retried at once)
    dlq_arn = lam.mappings[0].dlq_arn
    change.queue(
        stack.QueueUrl,
        VisibilityTimeout="0",
        RedrivePolicy=json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2}),
    )
    send_raw(account, stack.QueueUrl, "poison")
    # WHEN the executor drains the queue
    report = lam.drain(timeout=30)
    # THEN the message was tried twice and then moved, by the queue, to the dead-letter queue
    assert (report.batches, report.deleted, report.dead_lettered, report.timed_out) == (2, 0, 1, False)
    moved = account.client("sqs").receive_message(QueueUrl=stack.DeadLetterQueueUrl)["Messages"]
    assert [m["Body"] for m in moved] == ["poison"]
