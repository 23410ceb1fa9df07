"""Local mode's Lambda service (watchlist_workstation/local/lambda_service/), one rule of Lambda's behaviour per test.

Everything runs for real on loopback: a moto server holding a stack created from template.yml,
the Comprehend-compatible endpoint, the text server with the shipped company pages, and the
handlers in worker processes. The stack and the executor are shared by the module (creating a
stack takes seconds); each test starts from empty queues and an empty watchlist, and a test that
changes the deployment puts it back through the `change` fixture.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import logging
import os
import re
import shutil
import socket
import subprocess
import threading
import time
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from botocore.config import Config

from watchlist_workstation.deploy.offline import deploy_offline
from watchlist_workstation.local.comprehend import ComprehendServer
from watchlist_workstation.local.lambda_service.discovery import PLAYED_TAG
from watchlist_workstation.local.lambda_service.events import schedule_event
from watchlist_workstation.local.lambda_service.poller import batch_item_failures
from watchlist_workstation.local.lambda_service.service import LocalLambda
from watchlist_workstation.local.moto_server import sqs_patch
from watchlist_workstation.local.textserver import DEFAULT_DATA, Scripted, TextServer
from watchlist_workstation.schedule import ScheduleError, period_seconds

ROOT = Path(__file__).resolve().parents[1]
EVENTS = ROOT / "tests" / "events"
REGION = "us-east-1"
WATCHLIST = [
    line.strip()
    for line in (ROOT / "data" / "watchlist.txt").read_text(encoding="utf-8").splitlines()
    if line.strip() and not line.startswith("#")
]
# The shared stack's mapping settings: small, so batching and the concurrency cap show with few messages.
BATCH_SIZE, MAX_CONCURRENCY = 3, 2
ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")

# moto re-reads the stack's template whenever its resources are listed (each discover) and warns, from
# its server thread, about the resource types it does not model (alarms, bucket and queue policies).
pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse AWS.*not supported by moto:UserWarning")


@dataclass
class Account:
    """The emulated account and its helpers, all on 127.0.0.1."""

    url: str
    session: boto3.Session
    comprehend: ComprehendServer
    text: TextServer

    def client(self, service: str) -> Any:
        return self.session.client(service, endpoint_url=self.url, config=Config(retries={"max_attempts": 2}))

    def function_env(self) -> dict[str, str]:
        return {
            "AWS_ENDPOINT_URL": self.url,
            "AWS_ENDPOINT_URL_COMPREHEND": self.comprehend.url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
        }

    def deploy(self, name: str, parameters: dict[str, str], template: Path = ROOT / "template.yml") -> dict[str, str]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # moto skips a few resource types it does not model
            return deploy_offline(
                name,
                {"TextSourceUrl": self.text.base_url, **parameters},
                region=REGION,
                artifact_bucket="executor-test-artifacts",
                cloudformation=self.client("cloudformation"),
                s3=self.client("s3"),
                template_path=template,
            )


@pytest.fixture(scope="module")
def account() -> Iterator[Account]:
    from moto.server import ThreadedMotoServer

    # Tests empty the queues between tests with PurgeQueue, which SQS (and moto, by default) allows once
    # a minute per queue; the in-process server reads this setting on each call.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MOTO_SQS_ENFORCE_STRICT_QUEUE_PURGE_BEHAVIOUR", "false")
        yield from _account(ThreadedMotoServer)


def _account(server_class) -> Iterator[Account]:
    quiet = {name: logging.getLogger(name).level for name in ("werkzeug", "moto")}
    for name in quiet:
        logging.getLogger(name).setLevel(logging.ERROR)  # one access-log line per request otherwise
    # The SQS local mode ships: fast on deep queues and thread-safe
    # (watchlist_workstation/local/moto_server/sqs_patch.py).
    sqs_patch.apply()
    moto = server_class(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    session = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)
    with ComprehendServer() as comprehend, TextServer.from_folder(DEFAULT_DATA) as text:
        yield Account(f"http://{host}:{port}", session, comprehend, text)
    moto.stop()
    for name, level in quiet.items():
        logging.getLogger(name).setLevel(level)


@pytest.fixture(scope="module")
def stack(account: Account) -> SimpleNamespace:
    name = f"executor-{uuid.uuid4().hex[:8]}"
    outputs = account.deploy(
        name,
        {
            "ConsumerBatchSize": str(BATCH_SIZE),
            "ConsumerBatchingWindowSeconds": "0",
            "ConsumerMaxConcurrency": str(MAX_CONCURRENCY),
        },
    )
    return SimpleNamespace(name=name, **outputs)


@pytest.fixture(scope="module")
def lam(account: Account, stack: SimpleNamespace, tmp_path_factory) -> Iterator[LocalLambda]:
    work = tmp_path_factory.mktemp("executor")
    executor = LocalLambda(
        account.session, account.url, stack.name, extra_env=account.function_env(), work_dir=work / "work"
    )
    executor.discover()
    yield executor
    executor.close()


@pytest.fixture(autouse=True)
def empty_stack(request) -> Iterator[None]:
    """Each test starts with empty queues and an empty watchlist (tests without the stack skip this)."""
    yield
    if "stack" not in request.fixturenames:
        return
    account, stack = request.getfixturevalue("account"), request.getfixturevalue("stack")
    sqs, ddb = account.client("sqs"), account.client("dynamodb")
    for url in (stack.QueueUrl, stack.DeadLetterQueueUrl):
        sqs.purge_queue(QueueUrl=url)
    for page in ddb.get_paginator("scan").paginate(
        TableName=stack.TableName, ProjectionExpression="#n", ExpressionAttributeNames={"#n": "name"}
    ):
        for item in page["Items"]:
            ddb.delete_item(TableName=stack.TableName, Key={"name": item["name"]})


@pytest.fixture
def change(account: Account, lam: LocalLambda) -> Iterator[SimpleNamespace]:
    """Change the deployed stack for one test, then rediscover; everything is put back afterwards."""
    lambda_, sqs = account.client("lambda"), account.client("sqs")
    undo = []

    def function(name: str, **config: Any) -> None:
        before = lambda_.get_function_configuration(FunctionName=name)
        undo.append(
            lambda: lambda_.update_function_configuration(
                FunctionName=name, Timeout=before["Timeout"], Environment=before["Environment"]
            )
        )
        lambda_.update_function_configuration(FunctionName=name, **config)
        lam.discover()

    def queue(url: str, **attributes: str) -> None:
        before = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=list(attributes))["Attributes"]
        undo.append(lambda: sqs.set_queue_attributes(QueueUrl=url, Attributes=before))
        sqs.set_queue_attributes(QueueUrl=url, Attributes=attributes)
        lam.discover()

    def mapping(uuid_: str, **settings: Any) -> None:
        before = lambda_.get_event_source_mapping(UUID=uuid_)
        undo.append(lambda: lambda_.update_event_source_mapping(UUID=uuid_, **{k: before[k] for k in settings}))
        lambda_.update_event_source_mapping(UUID=uuid_, **settings)
        lam.discover()

    yield SimpleNamespace(function=function, queue=queue, mapping=mapping)
    for step in reversed(undo):
        step()
    if undo:
        lam.discover()


# --- helpers ------------------------------------------------------------------------------------


def add_companies(account: Account, stack: SimpleNamespace, names: list[str]) -> None:
    ddb = account.client("dynamodb")
    for name in names:
        ddb.put_item(TableName=stack.TableName, Item={"name": {"S": name}})


def send_jobs(account: Account, queue_url: str, names: list[str], run_id: str = "run-1") -> list[str]:
    """Queue the producer's message for each name; returns the message ids."""
    sqs, ids = account.client("sqs"), []
    for name in names:
        body = json.dumps({"name": name, "run_id": run_id, "requested_at": "2026-11-27T12:00:00Z"})
        attributes = {"correlation_id": {"DataType": "String", "StringValue": run_id}}
        ids.append(sqs.send_message(QueueUrl=queue_url, MessageBody=body, MessageAttributes=attributes)["MessageId"])
    return ids


def send_raw(account: Account, queue_url: str, body: str) -> str:
    return account.client("sqs").send_message(QueueUrl=queue_url, MessageBody=body)["MessageId"]


def counts(account: Account, queue_url: str) -> dict[str, int]:
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    got = account.client("sqs").get_queue_attributes(QueueUrl=queue_url, AttributeNames=names)["Attributes"]
    return {"visible": int(got[names[0]]), "in_flight": int(got[names[1]])}


def consumer(lam: LocalLambda) -> str:
    return lam.mappings[0].function


def producer(lam: LocalLambda) -> str:
    return lam.schedules[0].function


def last_error(account: Account, stack: SimpleNamespace, name: str) -> str | None:
    item = account.client("dynamodb").get_item(TableName=stack.TableName, Key={"name": {"S": name}}).get("Item", {})
    return item.get("last_error", {}).get("S")


def log_lines(lam: LocalLambda, function: str, since: int = 0) -> list[str]:
    path = lam.log_dir / f"{function}.log"
    return path.read_bytes()[since:].decode("utf-8").splitlines() if path.exists() else []


def log_size(lam: LocalLambda, function: str) -> int:
    path = lam.log_dir / f"{function}.log"
    return path.stat().st_size if path.exists() else 0


@contextlib.contextmanager
def stalled_endpoint() -> Iterator[str]:
    """A loopback port that accepts connections and never answers: a dependency that hangs."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)  # the kernel completes the handshakes; nobody ever reads the requests
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        listener.close()


def is_alive(pid: int | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def worker_processes(function: str) -> int:
    """Live runtime processes serving `function`, counted by ps, independently of the executor."""
    ps = shutil.which("ps") or "/bin/ps"
    listing = subprocess.run([ps, "-eo", "args="], capture_output=True, text=True, check=True).stdout
    return sum(
        1
        for line in listing.splitlines()
        if "watchlist_workstation.local.lambda_service.runtime" in line and f"--function {function} " in line
    )


# --- discovery ----------------------------------------------------------------------------------


def test_mapping_settings_are_read_from_the_deployed_mapping_and_its_queue(account, stack, lam):
    # GIVEN a stack created with ConsumerBatchSize=3, no batching window and MaximumConcurrency=2
    deployed = account.client("lambda").get_event_source_mapping(UUID=lam.mappings[0].uuid)
    dlq_arn = account.client("sqs").get_queue_attributes(QueueUrl=stack.DeadLetterQueueUrl, AttributeNames=["QueueArn"])
    # WHEN the executor discovered it
    (mapping,) = lam.mappings
    # THEN every setting is the deployed one, the queue's included
    assert (mapping.batch_size, mapping.batching_window, mapping.maximum_concurrency) == (BATCH_SIZE, 0, 2)
    assert mapping.report_batch_item_failures is True
    assert mapping.queue_arn == deployed["EventSourceArn"]
    assert (mapping.visibility_timeout, mapping.max_receive_count) == (360, 5)
    assert mapping.dlq_arn == dlq_arn["Attributes"]["QueueArn"]


def test_function_settings_are_read_from_the_deployed_function(account, stack, lam):
    # GIVEN the consumer as deployed
    deployed = account.client("lambda").get_function_configuration(FunctionName=stack.ConsumerFunctionName)
    # WHEN the executor discovered it
    spec = lam.functions[stack.ConsumerFunctionName]
    # THEN handler, timeout, memory and environment are the deployed ones, and its code is unzipped
    assert (spec.handler, spec.timeout, spec.memory_mb) == (deployed["Handler"], 60, 256)
    assert spec.environment == deployed["Environment"]["Variables"]
    assert (spec.code_dir / "lambda_function.py").is_file()


def test_discover_takes_each_mapping_over_from_moto(account, stack, lam):
    # GIVEN the executor discovered the stack (moto would otherwise try to run the function in Docker
    # for every message sent, bumping receive counts until messages are dead-lettered)
    lambda_ = account.client("lambda")
    deployed = lambda_.get_event_source_mapping(UUID=lam.mappings[0].uuid)
    # WHEN a message is sent to the mapped queue
    send_jobs(account, stack.QueueUrl, ["Nobody Inc"])
    # THEN moto left it alone: the mapping is disabled and tagged as played, and our first receive is its first
    assert deployed["State"] == "Disabled"
    assert PLAYED_TAG in lambda_.list_tags(Resource=deployed["EventSourceMappingArn"])["Tags"]
    report = lam.poll_once(lam.mappings[0])
    assert report.records[0]["attributes"]["ApproximateReceiveCount"] == "1"


def test_a_restarted_executor_still_plays_the_mappings_it_disabled(account, stack, lam, tmp_path):
    # GIVEN a mapping this executor disabled in moto
    # WHEN a new executor (a restart) discovers the same stack
    with LocalLambda(
        account.session, account.url, stack.name, extra_env=account.function_env(), work_dir=tmp_path
    ) as again:
        again.discover()
        # THEN it recognises the mapping as its own instead of skipping it as disabled by the user
        assert [m.uuid for m in again.mappings] == [m.uuid for m in lam.mappings]


# --- SQS batches --------------------------------------------------------------------------------


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


# --- schedules ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "seconds"),
    [
        ("rate(1 minute)", 60),
        ("rate(5 minutes)", 300),
        ("rate(2 hours)", 7200),
        ("rate(1 day)", 86400),
        ("cron(0/5 * * * ? *)", None),
    ],
)
def test_schedule_expressions_give_the_tick_period(expression, seconds):
    # GIVEN a rule's expression WHEN parsed THEN rate() gives its period and cron() none (not ticked locally)
    assert period_seconds(expression) == seconds


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ("rate(0 minutes)", "at least 1"),
        ("rate(5 fortnights)", "not a rate expression"),
        ("every 5 minutes", "not a rate expression"),
        ("rate(5 minute)", "EventBridge wants rate(5 minutes)"),
        ("rate(30 seconds)", "not a rate expression"),  # EventBridge has no seconds unit
    ],
)
def test_a_malformed_schedule_expression_is_refused(expression, reason):
    with pytest.raises(ScheduleError, match=re.escape(reason)):
        period_seconds(expression)


def test_the_schedule_event_is_shaped_like_eventbridges(lam):
    # GIVEN the stack's schedule rule
    sample = json.loads((EVENTS / "schedule.json").read_text())
    rule = lam.schedules[0]
    # WHEN its event is built
    event = schedule_event(rule)
    # THEN it has EventBridge's keys and values
    assert set(event) == set(sample)
    assert (event["version"], event["detail-type"], event["source"], event["detail"]) == (
        "0",
        "Scheduled Event",
        "aws.events",
        {},
    )
    assert event["resources"] == [rule.rule_arn]
    assert (event["region"], event["account"]) == (REGION, rule.rule_arn.split(":")[4])
    assert ISO_Z.match(event["time"]) and uuid.UUID(event["id"])


def test_a_schedule_tick_queues_every_company_under_the_events_id(account, stack, lam):
    # GIVEN five companies on the watchlist
    names = [f"Ticked {i}" for i in range(5)]
    add_companies(account, stack, names)
    since = log_size(lam, producer(lam))
    # WHEN the schedule fires once
    result = lam.fire_schedule()
    # THEN the producer got an EventBridge event and queued one message per company under its id
    assert result.ok and result.payload["queued"] == 5
    run_id = result.payload["run_id"]
    ticks = [json.loads(line) for line in log_lines(lam, producer(lam), since) if '"tick"' in line]
    assert [(t["source"], t["correlation_id"]) for t in ticks] == [("aws.events", run_id)]
    assert ISO_Z.match(ticks[0]["requested_at"])
    sqs = account.client("sqs")
    bodies = []
    while got := sqs.receive_message(QueueUrl=stack.QueueUrl, MaxNumberOfMessages=10).get("Messages"):
        bodies.extend(json.loads(m["Body"]) for m in got)
    assert sorted(b["name"] for b in bodies) == names
    assert {b["run_id"] for b in bodies} == {run_id}


def test_run_fires_the_schedule_at_the_given_rate_and_consumes_what_it_queues(account, stack, lam):
    # GIVEN two companies the text source has no page for, and a one-second rate
    names = ["Run One Ltd", "Run Two Ltd"]
    add_companies(account, stack, names)
    stop, reports = threading.Event(), []
    runner = threading.Thread(target=lambda: reports.append(lam.run(stop, rate_seconds=1.0)))
    # WHEN the executor runs until both companies were processed (their errors recorded)
    started = time.monotonic()
    runner.start()
    try:
        while time.monotonic() - started < 20 and not all(last_error(account, stack, n) for n in names):
            time.sleep(0.1)
        processed_after = time.monotonic() - started
    finally:
        stop.set()
        runner.join(timeout=30)
    # THEN the first tick came one period after the start, and the pollers consumed what it queued
    (report,) = reports
    assert all(last_error(account, stack, n) == "not_found" for n in names)
    assert processed_after >= 1.0
    assert report.ticks >= 1 and report.records >= 2 and report.deleted == report.records


# --- execution environment ----------------------------------------------------------------------


def test_concurrency_is_capped_by_maximum_concurrency(account, stack, lam):
    # GIVEN 12 companies whose text takes 0.4 s each (4 batches of 3) and MaximumConcurrency 2
    names = [f"Slow Company {i}" for i in range(12)]
    add_companies(account, stack, names)
    for name in names:
        account.text.script(name, Scripted(404, delay=0.4))
    send_jobs(account, stack.QueueUrl, names)
    since = log_size(lam, consumer(lam))
    lam.peak_concurrency.clear()
    seen: list[int] = []
    done = threading.Event()

    def watch() -> None:
        while not done.wait(0.05):
            seen.append(worker_processes(consumer(lam)))

    watcher = threading.Thread(target=watch)
    watcher.start()
    # WHEN the queue is drained
    try:
        report = lam.drain(timeout=60)
    finally:
        done.set()
        watcher.join()
    # THEN two invocations ran at once and never more: as counted by the executor, by the
    # workers' own START/END log lines, and by the number of worker processes alive
    assert (report.batches, report.deleted) == (4, 12)
    assert lam.peak_concurrency[consumer(lam)] == MAX_CONCURRENCY
    open_now = peak = 0
    for line in log_lines(lam, consumer(lam), since):
        open_now += line.startswith("START ") - line.startswith("END ")
        peak = max(peak, open_now)
    assert peak == MAX_CONCURRENCY
    assert max(seen) <= MAX_CONCURRENCY


def test_the_function_timeout_is_enforced(account, stack, lam, change):
    # GIVEN the deployed consumer's timeout lowered to 1 s and its DynamoDB calls pointed at a
    # dependency that never answers (a slow text source would not do: the consumer bounds its
    # fetches by the remaining time itself, and reports them failed instead of timing out)
    with stalled_endpoint() as hung:
        env = dict(lam.functions[stack.ConsumerFunctionName].environment, AWS_ENDPOINT_URL_DYNAMODB=hung)
        change.function(stack.ConsumerFunctionName, Timeout=1, Environment={"Variables": env})
        send_jobs(account, stack.QueueUrl, ["Hanging Co"])
        since = log_size(lam, consumer(lam))
        # WHEN the batch is processed
        report = lam.poll_once(lam.mappings[0])
    # THEN the invocation was stopped at the timeout, its worker killed, and the batch kept
    assert report.result.timed_out and report.result.error_type == "Sandbox.Timedout"
    assert 1.0 <= report.result.duration_s < 3
    assert (report.deleted, report.failed) == (0, 1)
    assert counts(account, stack.QueueUrl) == {"visible": 0, "in_flight": 1}
    assert any("Task timed out after 1.00 seconds" in line for line in log_lines(lam, consumer(lam), since))
    assert not is_alive(report.result.worker_pid)


def test_the_invocation_after_a_timeout_gets_a_fresh_worker(account, stack, lam, change):
    # GIVEN the producer (timeout lowered to 1 s) timed out hanging on SQS, with one company to queue
    with stalled_endpoint() as hung:
        env = dict(lam.functions[stack.ProducerFunctionName].environment, AWS_ENDPOINT_URL_SQS=hung)
        change.function(stack.ProducerFunctionName, Timeout=1, Environment={"Variables": env})
        add_companies(account, stack, ["Any Co"])
        first = lam.fire_schedule()
        # WHEN it is invoked again with nothing to queue (so it never calls SQS)
        account.client("dynamodb").delete_item(TableName=stack.TableName, Key={"name": {"S": "Any Co"}})
        second = lam.fire_schedule()
    # THEN a new worker ran it to success; the one that timed out is gone
    assert first.timed_out and second.ok and second.payload["queued"] == 0
    assert second.worker_pid != first.worker_pid
    assert not is_alive(first.worker_pid)


def test_the_environment_comes_from_the_deployed_function(account, stack, lam, change):
    # GIVEN the deployed producer's QUEUE_URL changed to another queue
    other = account.client("sqs").create_queue(QueueName=f"env-check-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    env = dict(lam.functions[stack.ProducerFunctionName].environment, QUEUE_URL=other)
    change.function(stack.ProducerFunctionName, Environment={"Variables": env})
    add_companies(account, stack, ["Env One", "Env Two"])
    # WHEN the schedule fires
    result = lam.fire_schedule()
    # THEN the producer sent to the queue its deployed environment names, not the stack's work queue
    assert result.ok and result.payload["queued"] == 2
    assert counts(account, other)["visible"] == 2
    assert counts(account, stack.QueueUrl)["visible"] == 0


@pytest.fixture(scope="module")
def layered(account: Account, tmp_path_factory) -> Iterator[SimpleNamespace]:
    """A stack from template.yml with its two layers' ContentUri pointing at folders made here, as a
    build would (the shared layer: lib's runtime modules; deps: python-json-logger), each with a
    marker module, so the test does not depend on whether `make build` ran."""
    import pythonjsonlogger

    base = tmp_path_factory.mktemp("layers")
    shared, deps = base / "shared", base / "deps"
    (shared / "python" / "lib").mkdir(parents=True)
    for module in (ROOT / "lib").glob("*.py"):
        shutil.copy(module, shared / "python" / "lib" / module.name)
    shutil.copytree(Path(pythonjsonlogger.__file__).parent, deps / "python" / "pythonjsonlogger")
    (shared / "python" / "marker_shared_layer.py").write_text("")
    (deps / "python" / "marker_deps_layer.py").write_text("")
    text = (ROOT / "template.yml").read_text(encoding="utf-8")
    for name, folder in (("shared", shared), ("deps", deps)):
        needle = f"ContentUri: build/layers/{name}/"
        assert needle in text
        text = text.replace(needle, f"ContentUri: {folder}/")
    template = base / "template.yml"
    template.write_text(text, encoding="utf-8")
    name = f"layered-{uuid.uuid4().hex[:8]}"
    outputs = account.deploy(name, {}, template)
    with LocalLambda(
        account.session, account.url, name, extra_env=account.function_env(), work_dir=base / "work"
    ) as executor:
        executor.discover()
        yield SimpleNamespace(lam=executor, consumer=outputs["ConsumerFunctionName"])


def test_layers_are_on_the_import_path(layered):
    # GIVEN a consumer with the shared and deps layers
    spec = layered.lam.functions[layered.consumer]
    shared, deps = spec.layer_dirs
    # WHEN its worker is asked where it imports from (after an invocation, so the handler is loaded)
    assert layered.lam.invoke(layered.consumer, {"Records": []}).ok
    found = layered.lam.inspect(
        layered.consumer, ["lib", "pythonjsonlogger", "marker_shared_layer", "marker_deps_layer"]
    )
    # THEN the code comes first, then the layers (later layers first, as Lambda overlays them), the project root last
    path = found["sys_path"]
    assert path[:3] == [str(spec.code_dir), str(deps), str(shared)]
    assert path[-1] == str(ROOT)
    assert found["cwd"] == str(spec.code_dir)
    # AND the handler's lib and its logging library come from the layers, not from this checkout
    assert found["modules"]["lib"].startswith(str(shared))
    assert found["modules"]["marker_shared_layer"].startswith(str(shared))
    assert found["modules"]["pythonjsonlogger"].startswith(str(deps))
    assert found["modules"]["marker_deps_layer"].startswith(str(deps))


# --- end to end ---------------------------------------------------------------------------------


def test_every_company_ends_in_the_results_or_with_its_error(account, stack, lam):
    # GIVEN the shipped watchlist plus companies the text source has no page for: 30 in all
    missing = ["Missing Company One", "Missing Company Two"]
    names = WATCHLIST + missing
    assert len(names) == 30
    add_companies(account, stack, names)
    s3 = account.client("s3")
    # WHEN the schedule fires once and the queue is drained
    tick = lam.fire_schedule()
    report = lam.drain(timeout=120)
    # THEN every company was analysed (a CSV row) or has its error recorded; none is lost or dead-lettered
    assert tick.ok and tick.payload["queued"] == 30
    assert (report.records, report.deleted, report.failed, report.dead_lettered) == (30, 30, 0, 0)
    rows = []
    # Only this test writes results in this module.
    for obj in s3.list_objects_v2(Bucket=stack.ResultsBucketName).get("Contents", []):
        body = s3.get_object(Bucket=stack.ResultsBucketName, Key=obj["Key"])["Body"].read().decode("utf-8")
        rows.extend(csv.DictReader(io.StringIO(body)))
    analysed = {row["name"] for row in rows}
    items = account.client("dynamodb").scan(TableName=stack.TableName)["Items"]
    errors = {item["name"]["S"]: item["last_error"]["S"] for item in items if "last_error" in item}
    assert analysed == set(WATCHLIST)
    assert errors == dict.fromkeys(missing, "not_found")
    assert counts(account, stack.DeadLetterQueueUrl) == {"visible": 0, "in_flight": 0}


def test_fire_and_drain_ticks_once_and_drains_everything_it_queued(account, stack, lam):
    # GIVEN the shipped watchlist on the table
    add_companies(account, stack, WATCHLIST)
    # WHEN one tick fires with the pollers already running, and the queue drains
    tick, report = lam.fire_and_drain(timeout=120)
    # THEN the drain did not stop before the tick's messages were handled: every one was delivered
    # and deleted, none failed, and the queue is empty
    assert tick.ok and report.ticks == 1
    assert report.records == tick.payload["queued"] == len(WATCHLIST)
    assert (report.deleted, report.failed, report.dead_lettered) == (len(WATCHLIST), 0, 0)
    assert counts(account, stack.QueueUrl) == {"visible": 0, "in_flight": 0}


def test_prewarmed_workers_serve_the_first_invocations(account, stack, tmp_path):
    # GIVEN a fresh executor for the stack, asked to prewarm two workers per mapped function
    with LocalLambda(
        account.session, account.url, stack.name, extra_env=account.function_env(), work_dir=tmp_path / "work"
    ) as executor:
        executor.discover()
        for thread in executor.prewarm(2):
            thread.join()
        producer = executor.workers(stack.ProducerFunctionName)
        warm = producer.idle_pids()
        # WHEN the producer is invoked (an empty watchlist: nothing to queue)
        result = executor.fire_schedule()
        # THEN the prewarmed worker ran it and no new one was started: the scheduled producer got
        # one, the consumer its two
        assert len(warm) == 1 and producer.started == 1
        assert result.ok and result.worker_pid in warm
        assert producer.started == 1
        assert executor.workers(stack.ConsumerFunctionName).started == min(2, MAX_CONCURRENCY)
