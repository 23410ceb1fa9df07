"""The embedded AWS process: it serves, counts calls by operation, reports a failed start, and stops."""

from __future__ import annotations

import json
import socket
import urllib.request

import boto3
import pytest

from watchlist_workstation.local.moto_server.counting import operation_key
from watchlist_workstation.local.moto_server.process import MotoProcess, MotoServerError


def client(service: str, url: str):
    return boto3.client(
        service, endpoint_url=url, region_name="us-east-1", aws_access_key_id="local", aws_secret_access_key="local"
    )


def create_table(ddb, name: str) -> None:
    ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "name", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "name", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )


@pytest.fixture(scope="module")
def moto(tmp_path_factory):
    server = MotoProcess(log_path=tmp_path_factory.mktemp("moto") / "moto.log").start()
    yield server
    server.stop()


def test_it_serves_aws_apis_and_counts_each_call_by_operation(moto):
    # GIVEN a fresh count
    before = moto.calls()
    # WHEN a table gets three items and a queue one message
    ddb, sqs = client("dynamodb", moto.url), client("sqs", moto.url)
    create_table(ddb, "counted")
    for name in ("a", "b", "c"):
        ddb.put_item(TableName="counted", Item={"name": {"S": name}})
    url = sqs.create_queue(QueueName="counted")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="hello")
    # THEN the data is there, and the counter saw exactly those calls
    assert ddb.scan(TableName="counted")["Count"] == 3
    assert sqs.receive_message(QueueUrl=url)["Messages"][0]["Body"] == "hello"
    after = moto.calls()
    delta = {key: after[key] - before[key] for key in after if after[key] != before[key]}
    assert delta == {
        "dynamodb:CreateTable": 1,
        "dynamodb:PutItem": 3,
        "dynamodb:Scan": 1,
        "sqs:CreateQueue": 1,
        "sqs:SendMessage": 1,
        "sqs:ReceiveMessage": 1,
    }


def test_the_operation_key_names_json_services_by_target_and_others_by_method():
    assert operation_key({"HTTP_X_AMZ_TARGET": "DynamoDB_20120810.UpdateItem"}) == "dynamodb:UpdateItem"
    assert operation_key({"HTTP_X_AMZ_TARGET": "AmazonSQS.DeleteMessageBatch"}) == "sqs:DeleteMessageBatch"
    assert operation_key({"REQUEST_METHOD": "PUT", "PATH_INFO": "/bucket/key"}) == "http:PUT"


def test_a_port_in_use_fails_the_start_with_the_servers_reason(tmp_path):
    # GIVEN a port someone else listens on
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        # WHEN a moto server is started on it
        with pytest.raises(MotoServerError) as failed:
            MotoProcess(port=port, log_path=tmp_path / "moto.log").start(timeout=60)
    # THEN the error says it exited and why
    assert "exited with status" in str(failed.value)
    assert "in use" in str(failed.value).lower()


def test_stop_ends_the_process_and_a_second_stop_is_harmless(tmp_path):
    server = MotoProcess(log_path=tmp_path / "moto.log").start()
    server.stop()
    assert server.process.returncode is not None
    server.stop()
    with pytest.raises(OSError):
        server.calls()


def test_the_module_list_is_read_from_disk_once_and_stays_the_same():
    from moto import backends

    from watchlist_workstation.local.moto_server.lookup_caches import cache_module_list

    original = backends.list_of_moto_modules
    listed = list(original())
    try:
        cache_module_list()
        cache_module_list()  # a second call keeps the first cache
        assert list(backends.list_of_moto_modules()) == listed
        assert backends.list_of_moto_modules is not original
        assert "dynamodb" in backends.list_of_moto_modules()
    finally:
        backends.list_of_moto_modules = original


def test_method_names_are_listed_once_per_class_and_stay_the_same():
    from moto.core import responses
    from moto.dynamodb.responses import DynamoHandler
    from moto.sqs.responses import SQSResponse

    from watchlist_workstation.local.moto_server.lookup_caches import cache_method_names

    original = responses.method_names_from_class
    try:
        cache_method_names()
        cache_method_names()  # a second call keeps the first cache
        assert responses.method_names_from_class is not original
        for handler in (DynamoHandler, SQSResponse):
            assert responses.method_names_from_class(handler) == original(handler)
            assert responses.method_names_from_class(handler) is responses.method_names_from_class(handler)
        assert "update_item" in responses.method_names_from_class(DynamoHandler)
    finally:
        responses.method_names_from_class = original


def test_the_copies_moto_answers_with_are_not_kept_after_the_answer(moto):
    # GIVEN a table of three items
    ddb = client("dynamodb", moto.url)
    create_table(ddb, "scanned")
    for name in ("a", "b", "c"):
        ddb.put_item(TableName="scanned", Item={"name": {"S": name}})
    # WHEN it is scanned five times (moto answers each with deep copies of the items)
    for _ in range(5):
        assert ddb.scan(TableName="scanned")["Count"] == 3
    # THEN moto's class-wide list of model objects (what its /moto-api/data.json shows) holds none of them: the
    # copies end with the answer, as the table's own items are held by the table alone
    # (watchlist_workstation/local/moto_server/untracked_models.py)
    with urllib.request.urlopen(f"{moto.url}/moto-api/data.json", timeout=30) as answer:  # noqa: S310 - loopback http
        listed = json.load(answer)
    assert listed["dynamodb"].get("Item", []) == []
    assert ddb.scan(TableName="scanned")["Count"] == 3
