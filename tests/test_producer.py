"""The producer: paginated scan, batched sends, retried failures, correlation ids."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber

from lib.config import ConfigError, ProducerConfig
from lib.producer import NothingQueued, queue_companies, scan_names
from tests.conftest import load_event, put_companies

ROOT = Path(__file__).resolve().parents[1]


def load_handler(folder: str):
    """Import a function's lambda_function.py under a unique name (both functions use the same file name)."""
    spec = importlib.util.spec_from_file_location(f"{folder}_handler", ROOT / folder / "lambda_function.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def drain(queue_url: str) -> list[dict]:
    sqs = boto3.client("sqs")
    messages = []
    while True:
        batch = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], WaitTimeSeconds=0
        ).get("Messages", [])
        if not batch:
            return messages
        messages.extend(batch)
        sqs.delete_message_batch(
            QueueUrl=queue_url,
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)],
        )


def count_calls(client, operation: str) -> list:
    seen: list = []
    # Copy: the caller may reuse the list it passed once the call returns.
    client.meta.events.register(
        f"before-parameter-build.*.{operation}", lambda **kw: seen.append(json.loads(json.dumps(kw["params"])))
    )
    return seen


def test_every_company_is_queued_once_in_batches_of_ten(resources):
    # GIVEN 23 companies on the watchlist
    names = [f"Company {i:02d}" for i in range(23)]
    put_companies(resources.table, names)
    sqs = boto3.client("sqs")
    sends = count_calls(sqs, "SendMessageBatch")
    # WHEN the producer runs
    summary = queue_companies(
        ProducerConfig(resources.table, resources.queue_url), "run-1", "2026-11-27T12:00:00Z", sqs=sqs
    )
    # THEN 23 messages were queued in three SendMessageBatch calls
    assert summary == {"run_id": "run-1", "queued": 23, "failed": 0, "batches": 3}
    assert sorted((len(call["Entries"]) for call in sends), reverse=True) == [10, 10, 3]  # sent in parallel
    bodies = [json.loads(m["Body"]) for m in drain(resources.queue_url)]
    assert sorted(b["name"] for b in bodies) == names


def test_a_long_watchlist_is_sent_in_parallel_each_company_once(resources):
    # GIVEN 251 companies, and SendMessageBatch calls that take a while
    import threading
    import time

    import lib.limits

    names = [f"Company {i:03d}" for i in range(251)]
    put_companies(resources.table, names)
    sqs = boto3.client("sqs")
    lock, running, peak = threading.Lock(), [0], [0]

    def before(**_):
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.01)

    def after(**_):
        with lock:
            running[0] -= 1

    sqs.meta.events.register("before-call.sqs.SendMessageBatch", before)
    sqs.meta.events.register("after-call.sqs.SendMessageBatch", after)
    # WHEN the producer runs
    summary = queue_companies(
        ProducerConfig(resources.table, resources.queue_url), "r", "2026-11-27T12:00:00Z", sqs=sqs
    )
    # THEN every company is queued exactly once, by calls that overlapped but never more than the cap
    assert summary == {"run_id": "r", "queued": 251, "failed": 0, "batches": 26}
    assert 1 < peak[0] <= lib.limits.SEND_WORKERS
    bodies = [json.loads(m["Body"]) for m in drain(resources.queue_url)]
    assert sorted(b["name"] for b in bodies) == names


def test_message_carries_run_id_and_correlation_attribute(resources):
    # GIVEN one company
    put_companies(resources.table, ["Netflix"])
    # WHEN the producer runs for run "run-7"
    queue_companies(ProducerConfig(resources.table, resources.queue_url), "run-7", "2026-11-27T12:00:00Z")
    # THEN the body and the message attribute both name the run
    (message,) = drain(resources.queue_url)
    assert json.loads(message["Body"]) == {"name": "Netflix", "run_id": "run-7", "requested_at": "2026-11-27T12:00:00Z"}
    assert message["MessageAttributes"]["correlation_id"]["StringValue"] == "run-7"


def test_scan_follows_every_page():
    # GIVEN a table whose scan answers in two pages
    ddb = boto3.client("dynamodb", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    stub = Stubber(ddb)
    stub.add_response("scan", {"Items": [{"name": {"S": "A"}}], "LastEvaluatedKey": {"name": {"S": "A"}}})
    stub.add_response("scan", {"Items": [{"name": {"S": "B"}}]})
    # WHEN the names are scanned
    with stub:
        names = list(scan_names("t", ddb))
    # THEN both pages were read
    assert names == ["A", "B"]
    stub.assert_no_pending_responses()


def _one_page_of(names):
    ddb = boto3.client("dynamodb", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    stub = Stubber(ddb)
    stub.add_response("scan", {"Items": [{"name": {"S": n}} for n in names]})
    return ddb, stub


def _sqs_stub():
    sqs = boto3.client("sqs", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    return sqs, Stubber(sqs)


def test_failed_entry_is_retried_alone():
    # GIVEN SQS refuses one entry once
    ddb, ddb_stub = _one_page_of(["A", "B", "C"])
    sqs, sqs_stub = _sqs_stub()
    failed = {"Id": "1", "SenderFault": False, "Code": "InternalError"}
    sqs_stub.add_response("send_message_batch", {"Successful": [], "Failed": [failed]})
    sqs_stub.add_response("send_message_batch", {"Successful": [], "Failed": []})
    config = ProducerConfig("t", "https://sqs.us-east-1.amazonaws.com/123456789012/q")
    sent: list = []
    sqs.meta.events.register(
        "before-parameter-build.sqs.SendMessageBatch", lambda **kw: sent.append(list(kw["params"]["Entries"]))
    )
    # WHEN the producer runs
    with ddb_stub, sqs_stub:
        summary = queue_companies(config, "r", "2026-11-27T12:00:00Z", ddb=ddb, sqs=sqs, sleep=lambda s: None)
    # THEN the second call carried only the refused entry, and all three count as queued
    assert [e["Id"] for e in sent[1]] == ["1"]
    assert summary["queued"] == 3 and summary["failed"] == 0


def test_persistent_failure_is_counted_not_hidden():
    # GIVEN SQS refuses one entry on every attempt
    ddb, ddb_stub = _one_page_of(["A", "B"])
    sqs, sqs_stub = _sqs_stub()
    failed = {"Id": "0", "SenderFault": False, "Code": "InternalError"}
    for _ in range(3):
        sqs_stub.add_response("send_message_batch", {"Successful": [], "Failed": [failed]})
    config = ProducerConfig("t", "https://sqs.us-east-1.amazonaws.com/123456789012/q")
    # WHEN the producer runs
    with ddb_stub, sqs_stub:
        summary = queue_companies(config, "r", "2026-11-27T12:00:00Z", ddb=ddb, sqs=sqs, sleep=lambda s: None)
    # THEN one company is reported as not queued
    assert summary["queued"] == 1 and summary["failed"] == 1


def test_nothing_queued_raises_so_the_tick_counts_as_an_error():
    # GIVEN SQS refuses every entry on every attempt
    ddb, ddb_stub = _one_page_of(["A"])
    sqs, sqs_stub = _sqs_stub()
    for _ in range(3):
        sqs_stub.add_client_error("send_message_batch", service_error_code="ServiceUnavailable", http_status_code=503)
    config = ProducerConfig("t", "https://sqs.us-east-1.amazonaws.com/123456789012/q")
    # WHEN the producer runs THEN it raises
    with ddb_stub, sqs_stub, pytest.raises(NothingQueued):
        queue_companies(config, "r", "2026-11-27T12:00:00Z", ddb=ddb, sqs=sqs, sleep=lambda s: None)


def test_handler_uses_the_schedule_event_id_as_run_id(resources, monkeypatch):
    # GIVEN the template's environment and a schedule event
    monkeypatch.setenv("TABLE_NAME", resources.table)
    monkeypatch.setenv("QUEUE_URL", resources.queue_url)
    put_companies(resources.table, ["Amazon", "Google"])
    event = load_event("schedule.json")
    # WHEN the producer handler runs
    result = load_handler("ServerlessProducer").lambda_handler(event, None)
    # THEN both companies are queued under the event's id
    assert result["queued"] == 2 and result["run_id"] == event["id"]
    assert {json.loads(m["Body"])["run_id"] for m in drain(resources.queue_url)} == {event["id"]}


def test_empty_watchlist_queues_nothing(resources):
    # GIVEN an empty watchlist WHEN the producer runs THEN nothing is queued and nothing fails
    summary = queue_companies(ProducerConfig(resources.table, resources.queue_url), "r", "2026-11-27T12:00:00Z")
    assert summary == {"run_id": "r", "queued": 0, "failed": 0, "batches": 0}


def test_missing_environment_variable_is_named(monkeypatch):
    # GIVEN QUEUE_URL is not set
    monkeypatch.setenv("TABLE_NAME", "t")
    monkeypatch.delenv("QUEUE_URL", raising=False)
    # WHEN the config is read THEN the error names the variable
    with pytest.raises(ConfigError, match="QUEUE_URL"):
        ProducerConfig.from_env()
