"""Shared fixtures: fake AWS credentials, moto, and the resources the handlers expect; and the `servers` marker,
which sets the tests that start a server or another process apart from the unit tests `make check` runs."""

from __future__ import annotations

import contextlib
import ipaddress
import itertools
import json
import os
import socket
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import botocore.session
import pytest
from moto import mock_aws

from lib import clients, log
from lib.results import ResultRow, batch_key, put_results, text_sha256
from lib.wikipedia import PageRevision
from tests.dataset_checks import place_of, readable_rows

pytest_plugins = [
    "tests.comprehend_fixture",
    "tests.wiki_fixture",
    "tests.template_fixture",
    "tests.stack_fixture",
    "tests.infra_fixture",
    "tests.consumer_fixture",
    "tests.fault_world",
]

EVENTS = Path(__file__).parent / "events"
_unique = itertools.count(1)

# ---------------------------------------------------------------------------------------------- servers marker

# A test that binds or listens on a socket, or starts another process, is not a unit test: it carries the
# `servers` marker, which `make check` deselects. The marker comes from the fixtures below when a test uses
# one, and from `pytestmark` or `@pytest.mark.servers` when the test starts the server itself. moto's
# in-process mock_aws opens no socket, so tests on it stay unit tests.
SERVER_FIXTURES = frozenset({"wiki_server", "comprehend_server"})
# Test modules that start servers in fixtures and tests of their own and do not carry the marker yet; every
# test in them is marked here until the module says it itself (pytestmark = pytest.mark.servers).
SERVER_MODULES_UNMARKED = frozenset(
    {
        "test_dashboard_browser.py",
        "test_local_comprehend.py",
        "test_local_e2e.py",
        "test_local_invoke_api.py",
        "test_local_loopback.py",
        "test_local_moto_server.py",
        "test_local_moto_sqs_patch.py",
        "test_local_notifications.py",
        "test_local_run.py",
        "test_local_textserver.py",
    }
)
# Test packages whose every test starts the local Lambda service on a running stack.
SERVER_PACKAGES = frozenset({"local_lambda"})


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # tryfirst: the marker must be on the items before `-m "not servers"` deselects by it.
    for item in items:
        if (
            SERVER_FIXTURES.intersection(getattr(item, "fixturenames", ()))
            or item.path.name in SERVER_MODULES_UNMARKED
            or item.path.parent.name in SERVER_PACKAGES
        ):
            item.add_marker(pytest.mark.servers)


@contextlib.contextmanager
def unit_test_guard(item: pytest.Item) -> Iterator[list[str]]:
    """While a test without the `servers` marker sets up and runs, binding or listening on a socket and
    starting a process fail it, naming the marker. Yields what was refused, so an attempt made in a thread
    (where the failure cannot reach the test) still fails it afterwards."""
    refused: list[str] = []
    if item.get_closest_marker("servers") is not None:
        yield refused
        return

    def refuse(what: str) -> None:
        message = (
            f"{item.nodeid} {what}, which only tests marked `servers` may do: add @pytest.mark.servers "
            "(or pytestmark in its module), or keep it in-process (moto's mock_aws opens no socket)"
        )
        refused.append(message)
        pytest.fail(message, pytrace=False)

    def refusing(what: Callable[..., str]) -> Callable[..., Any]:
        return lambda *args, **kwargs: refuse(what(*args, **kwargs))

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket.socket, "bind", refusing(lambda sock, address: f"binds a socket to {address!r}"))
        patch.setattr(socket.socket, "listen", refusing(lambda sock, *backlog: "listens on a socket"))
        # Every subprocess.run, check_output and Popen comes through Popen.__init__; fork covers multiprocessing.
        patch.setattr(
            subprocess.Popen, "__init__", refusing(lambda popen, args, *rest, **kwargs: f"starts a process {args!r}")
        )
        patch.setattr(os, "fork", refusing(lambda: "forks a process"))
        yield refused


def _guarded(item: pytest.Item) -> Iterator[None]:
    """Runs one phase of a test (the hook's yield) under the guard, and fails it for what the guard refused."""
    with unit_test_guard(item) as refused:
        result = yield
    if refused:
        pytest.fail(refused[0], pytrace=False)
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    # Setup too: a module- or session-scoped fixture starts its server while the first test using it sets up.
    return (yield from _guarded(item))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    return (yield from _guarded(item))


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


# botocore's loaders, one per data path, shared by the unit tests of this process (see below).
_BOTOCORE_LOADERS: dict[str | None, Any] = {}


@pytest.fixture(autouse=True)
def _one_botocore_loader(request: pytest.FixtureRequest) -> Iterator[None]:
    """botocore reads each service's model files (JSON, megabytes for some) once per session, and every CLI
    command makes a session of its own: hundreds of unit tests read the same files hundreds of times. During a
    unit test one loader serves every session, so each file is read once per test process; what botocore does
    with the models is unchanged. Tests with the `servers` marker keep botocore as it is: they run programs
    and servers whose timing they assert, and the loader buys them little."""
    if request.node.get_closest_marker("servers") is not None:
        yield
        return
    real_create_loader = botocore.session.create_loader

    def create_loader(search_path_string: str | None = None) -> Any:
        if search_path_string not in _BOTOCORE_LOADERS:
            _BOTOCORE_LOADERS[search_path_string] = real_create_loader(search_path_string)
        return _BOTOCORE_LOADERS[search_path_string]

    cached_clients = clients.client.cache_info().currsize
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(botocore.session, "create_loader", create_loader)
        # A session made during the test (boto3's default one, the pipeline's cached clients) goes with it,
        # so no later test, unit or not, meets the shared loader.
        patch.setattr(boto3, "DEFAULT_SESSION", boto3.DEFAULT_SESSION)
        yield
    if clients.client.cache_info().currsize > cached_clients:
        clients.reset()


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


def object_keys(bucket: str) -> list[str]:
    """The keys in a (moto) bucket, one page of them: the tests' buckets hold far fewer than 1,000."""
    return [entry["Key"] for entry in boto3.client("s3").list_objects_v2(Bucket=bucket).get("Contents", [])]


def dataset_rows(bucket: str) -> list[dict[str, Any]]:
    """Every row of the results dataset in `bucket`, read as a reader reads it (tests/dataset_checks.py)."""
    return readable_rows(place_of(bucket))


def table_item(table: str, name: str) -> dict | None:
    """A company's item as the table holds it, or None."""
    return boto3.client("dynamodb").get_item(TableName=table, Key={"name": {"S": name}}).get("Item")


def page_revision(title: str, revision: int) -> PageRevision:
    """A page revision of `title` at its English Wikipedia URL."""
    return PageRevision(title, revision, f"https://en.wikipedia.org/wiki/{title}")


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
    put_results(bucket, key, rows, s3=boto3.client("s3"))
    return key
