"""Shared fixtures: fake AWS credentials, moto, and the resources the handlers expect."""

from __future__ import annotations

import ipaddress
import itertools
import json
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from lib import clients, log
from lib.results import ResultRow, batch_key, text_sha256, to_csv

pytest_plugins = [
    "tests.comprehend_fixture",
    "tests.wiki_fixture",
    "tests.stack_fixture",
    "tests.infra_fixture",
    "tests.template_fixture",
    "tests.textsource_fixture",
    "tests.consumer_fixture",
]

EVENTS = Path(__file__).parent / "events"
_unique = itertools.count(1)


@pytest.fixture(scope="session", autouse=True)
def _loopback_only() -> Iterator[None]:
    """Refuse any in-process connection that does not stay on this machine: tests never reach AWS or Wikipedia."""
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex

    def check(sock: socket.socket, address: Any) -> None:
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            host = address[0]
            try:
                local = ipaddress.ip_address(host).is_loopback
            except ValueError:
                local = host == "localhost"
            if not local:
                raise OSError(f"test tried to reach {host}; only loopback is allowed")

    def connect(sock: socket.socket, address: Any) -> None:
        check(sock, address)
        return real_connect(sock, address)

    def connect_ex(sock: socket.socket, address: Any) -> int:
        check(sock, address)
        return real_connect_ex(sock, address)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket.socket, "connect", connect)
        patch.setattr(socket.socket, "connect_ex", connect_ex)
        yield


@pytest.fixture(autouse=True)
def _pipeline_logging_restored() -> Iterator[None]:
    """The CLI points the pipeline's logs at stderr, at its own level, for the whole process
    (watchlist_workstation.cli.logs); undo that after each test, so later tests find the Lambda setup."""
    logger = log.get_logger()
    level, handlers = logger.level, list(logger.handlers)
    yield
    logger.setLevel(level)
    logger.handlers = handlers


def load_event(name: str) -> dict:
    return json.loads((EVENTS / name).read_text())


@pytest.fixture
def aws_credentials(monkeypatch):
    """Fake credentials and a region, so nothing can reach a real account."""
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SECURITY_TOKEN": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)
    for key in list(os.environ):
        if key.startswith("AWS_ENDPOINT_URL") or key == "AWS_PROFILE":
            monkeypatch.delenv(key)
    clients.reset()
    yield
    clients.reset()


@pytest.fixture
def aws(aws_credentials):
    with mock_aws():
        yield


@dataclass(frozen=True)
class Resources:
    table: str
    queue_url: str
    dlq_url: str
    bucket: str


@pytest.fixture
def resources(aws) -> Resources:
    """A watchlist table, a work queue with its dead-letter queue, and a results bucket, uniquely named."""
    n = next(_unique)
    ddb, sqs, s3 = boto3.client("dynamodb"), boto3.client("sqs"), boto3.client("s3")
    table = f"watchlist-{n}"
    ddb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "name", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "name", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    dlq_url = sqs.create_queue(QueueName=f"work-dlq-{n}")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    queue_url = sqs.create_queue(
        QueueName=f"work-{n}",
        Attributes={
            "VisibilityTimeout": "360",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "5"}),
        },
    )["QueueUrl"]
    bucket = f"results-bucket-{n}"
    s3.create_bucket(Bucket=bucket)
    return Resources(table=table, queue_url=queue_url, dlq_url=dlq_url, bucket=bucket)


def put_companies(table: str, names, **attributes) -> None:
    ddb = boto3.client("dynamodb")
    for name in names:
        item = {"name": {"S": name}, **{k: {"S": v} for k, v in attributes.items()}}
        ddb.put_item(TableName=table, Item=item)


def result_row(
    name: str, analyzed_at: str, run_id: str = "run-1", text: str | None = None, positive: float = 0.9
) -> ResultRow:
    """A results row with plausible values; the default text is '<name> is a company.'"""
    text = text if text is not None else f"{name} is a company."
    rest = round((1 - positive) / 3, 6)
    return ResultRow(
        name=name,
        sentiment="POSITIVE" if positive >= 0.5 else "NEGATIVE",
        positive=positive,
        negative=rest,
        neutral=rest,
        mixed=rest,
        text=text,
        text_sha256=text_sha256(text),
        source_url=f"https://en.wikipedia.org/wiki/{name.replace(' ', '_')}",
        analyzed_at=analyzed_at,
        run_id=run_id,
    )


@pytest.fixture
def bucket(aws) -> str:
    """An empty, uniquely named bucket in moto, for tests that write results objects themselves."""
    name = f"results-objects-{next(_unique)}"
    boto3.client("s3").create_bucket(Bucket=name)
    return name


def put_batch(bucket: str, rows: list[ResultRow], partition: str, prefix: str = "results") -> str:
    """Write `rows` as one results object, where and how the consumer would; returns its key."""
    key = batch_key(prefix, rows, partition)
    boto3.client("s3").put_object(Bucket=bucket, Key=key, Body=to_csv(rows))
    return key
