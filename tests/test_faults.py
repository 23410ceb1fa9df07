"""Fault injection: the real producer and consumer handlers, a queue with its dead-letter queue, and one fault each.

The world: ten companies on a moto watchlist, the loopback text server and the loopback Comprehend,
the producer queueing them, and tests/lambda_harness.py playing the event source mapping. Faults
come from the test only: scripted answers of the fixture servers, botocore event hooks on the
pipeline's own clients, or messages sent straight to the queue.

After every scenario the same invariants are checked (`assert_invariants`):
- every queued message was either deleted after its outcome was stored (a result row for its run,
  a permanent error on the company, or the company gone from the watchlist) or is in the
  dead-letter queue, with a reason in the consumer's log;
- no result row appears twice for the same company, text and run;
- every object in the results bucket is under the results prefix;
- each analysed company's table state holds its newest row's label and run.
Each scenario also pins its outcome counts: analysed, errors recorded, dead-lettered.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from lib import clients
from tests.conftest import put_companies
from tests.lambda_harness import Delivery, EventSourceMapping
from tests.test_producer import load_handler
from tests.wiki_fixture import Scripted

NAMES = [
    f"Faultline {word}"
    for word in ("Alpha", "Bravo", "Charlie", "Delta", "Echo", "Foxtrot", "Golf", "Hotel", "India", "Juliet")
]
VICTIM = NAMES[3]
RESULTS_PREFIX = "results"


class ProcessKilled(BaseException):
    """The consumer's process dying: nothing after this point runs, and Lambda deletes nothing."""


def page_text(name: str) -> str:
    return f"{name} is a company with strong growth and a popular, innovative product line."


@dataclass
class Outcome:
    analysed: int
    errors_recorded: int
    dead_lettered: int


class World:
    def __init__(self, resources, wiki, comprehend, capsys) -> None:
        self.res, self.wiki, self.comprehend, self.capsys = resources, wiki, comprehend, capsys
        self.producer = load_handler("ServerlessProducer")
        self.consumer = load_handler("ProducerAI")
        self.run_id = str(uuid.uuid4())
        self.queued: dict[str, str] = {}  # message id -> company, as sent
        self.log_lines: list[dict[str, Any]] = []
        self.deliveries: list[Delivery] = []
        for name in NAMES:
            wiki.add_page(name, page_text(name))
        put_companies(resources.table, NAMES)

    # -- driving -----------------------------------------------------------------------
    def tick(self) -> dict[str, Any]:
        event = {"id": self.run_id, "time": "2026-11-28T12:00:00Z", "source": "aws.events"}
        return self.producer.lambda_handler(event, None)

    def send_raw(self, body: str) -> str:
        """A message straight onto the queue, not through the producer."""
        return boto3.client("sqs").send_message(QueueUrl=self.res.queue_url, MessageBody=body)["MessageId"]

    def drain(self) -> Delivery:
        mapping = EventSourceMapping(self.res.queue_url, self.consumer.lambda_handler, before_delete=self.check_delete)
        delivery = mapping.drain()
        self.deliveries.append(delivery)
        self._collect_logs()
        return delivery

    def pipeline_client(self, service: str):
        """The client the handlers use (lib.clients), where a test hangs its fault."""
        return clients.client(service)

    # -- reading the world -------------------------------------------------------------------
    def rows(self) -> list[dict[str, str]]:
        s3 = boto3.client("s3")
        out = []
        for key in self.keys():
            body = s3.get_object(Bucket=self.res.bucket, Key=key)["Body"].read().decode()
            out.extend(csv.DictReader(io.StringIO(body)))
        return out

    def keys(self) -> list[str]:
        listing = boto3.client("s3").list_objects_v2(Bucket=self.res.bucket)
        return [entry["Key"] for entry in listing.get("Contents", [])]

    def item(self, name: str) -> dict[str, Any] | None:
        key = {"name": {"S": name}}
        return boto3.client("dynamodb").get_item(TableName=self.res.table, Key=key).get("Item")

    def dead_letters(self) -> list[dict[str, Any]]:
        """Every message on the dead-letter queue, left there (visible again) for the next look."""
        sqs, found = boto3.client("sqs"), []
        while batch := sqs.receive_message(QueueUrl=self.res.dlq_url, MaxNumberOfMessages=10, VisibilityTimeout=60).get(
            "Messages", []
        ):
            found.extend(batch)
        for entry in found:
            sqs.change_message_visibility(
                QueueUrl=self.res.dlq_url, ReceiptHandle=entry["ReceiptHandle"], VisibilityTimeout=0
            )
        return found

    def _collect_logs(self) -> None:
        for line in self.capsys.readouterr().out.splitlines():
            if line.startswith("{"):
                self.log_lines.append(json.loads(line))

    def reasons_for(self, message_id: str) -> list[str]:
        """Why the consumer handed this message back, each time it did, from its log."""
        return [
            entry["reason"]
            for line in self.log_lines
            if line.get("message") == "records handed back to the queue"
            for entry in line["failed"]
            if entry["message_id"] == message_id
        ]

    # -- the invariants ----------------------------------------------------------------------
    def check_delete(self, record: dict[str, Any]) -> None:
        """Called by the harness before each delete: the message's outcome must already be stored."""
        try:
            body = json.loads(record["body"])
            name = body["name"]
        except (ValueError, KeyError, TypeError):
            raise AssertionError(
                f"a message the consumer could not read was deleted: {record['body'][:80]!r}"
            ) from None
        item = self.item(name)
        if item is None:
            return  # not on the watchlist: nothing to store
        if "last_error" in item:
            return  # a permanent error, recorded on the company
        # Otherwise the company's stored state must be backed by a row of the dataset.
        assert "text_sha256" in item, f"{name}: message deleted before its outcome was stored"
        backed = any(r["name"] == name and r["text_sha256"] == item["text_sha256"]["S"] for r in self.rows())
        assert backed, f"{name}: message deleted while the table's state has no row in the results"

    def outcome(self) -> Outcome:
        rows = self.rows()
        errors = sum(1 for name in NAMES if (item := self.item(name)) and "last_error" in item)
        return Outcome(len({r["name"] for r in rows}), errors, len(self.dead_letters()))

    def assert_invariants(self) -> None:
        self._collect_logs()
        rows = self.rows()
        identities = Counter((r["name"], r["text_sha256"], r["run_id"]) for r in rows)
        twice = [identity for identity, n in identities.items() if n > 1]
        assert not twice, f"rows written twice: {twice}"
        assert all(key.startswith(f"{RESULTS_PREFIX}/dt=") for key in self.keys()), self.keys()
        dead = {m["MessageId"]: m for m in self.dead_letters()}
        deleted = {mid for delivery in self.deliveries for mid in delivery.deleted}
        for message_id in self.all_message_ids():
            in_dlq = message_id in dead
            assert (message_id in deleted) != in_dlq, f"message {message_id}: deleted={not in_dlq} dead={in_dlq}"
            if in_dlq:
                shown = (self.name_in(dead[message_id]["Body"]) or message_id)[:60]
                assert self.reasons_for(message_id), f"dead-lettered {shown!r} with no reason logged"
        for name in NAMES:
            item = self.item(name)
            if item and "text_sha256" in item:  # a state that claims a text must be backed by its row
                assert any(r["name"] == name and r["text_sha256"] == item["text_sha256"]["S"] for r in rows), name
        newest: dict[str, dict[str, str]] = {}
        for row in rows:
            if row["name"] not in newest or row["analyzed_at"] > newest[row["name"]]["analyzed_at"]:
                newest[row["name"]] = row
        for name, row in newest.items():
            item = self.item(name)
            if item is None:
                continue  # left the watchlist while in flight: its row stays, its state is not recreated
            assert item["sentiment"]["S"] == row["sentiment"] and item["last_run_id"]["S"] == row["run_id"], name

    def all_message_ids(self) -> set[str]:
        return {mid for delivery in self.deliveries for mid in delivery.receives}

    @staticmethod
    def name_in(body: str) -> str | None:
        try:
            return json.loads(body)["name"]
        except (ValueError, KeyError, TypeError):
            return None


@pytest.fixture
def world(resources, wiki_server, comprehend_server, monkeypatch, capsys) -> World:
    env = {
        "TABLE_NAME": resources.table,
        "QUEUE_URL": resources.queue_url,
        "RESULTS_BUCKET": resources.bucket,
        "RESULTS_PREFIX": RESULTS_PREFIX,
        "LANGUAGE_CODE": "en",
        "TEXT_SOURCE_URL": wiki_server.base_url,
        "USER_AGENT_CONTACT": "https://example.org/contact",
        "LABEL_CHANGE_TOPIC_ARN": "",
        "LOG_LEVEL": "INFO",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    clients.reset()  # the Comprehend endpoint was set after any earlier client was built
    return World(resources, wiki_server, comprehend_server, capsys)


def run(world: World) -> Outcome:
    summary = world.tick()
    assert summary["queued"] == len(NAMES) and summary["failed"] == 0
    world.drain()
    world.assert_invariants()
    return world.outcome()


def hook(world: World, service: str, operation: str, fault) -> None:
    """Run `fault(params)` with the API parameters before each `operation` call of the pipeline's `service` client.

    What `fault` raises is what the pipeline's call raises, as if the service had answered so.
    """

    def before_parameter_build(params, **_):
        fault(params)

    events = world.pipeline_client(service).meta.events
    events.register(f"before-parameter-build.{service}.{operation}", before_parameter_build)


def client_error(code: str, operation: str, status: int = 400) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": "injected"}, "ResponseMetadata": {"HTTPStatusCode": status}}, operation
    )


# ---------------------------------------------------------------- no fault
def test_without_faults_every_company_is_analysed_once(world):
    assert run(world) == Outcome(analysed=10, errors_recorded=0, dead_lettered=0)


# ---------------------------------------------------------------- the text source
def test_text_404_is_recorded_on_the_company_and_not_retried(world):
    world.wiki.remove_page(VICTIM)
    assert run(world) == Outcome(analysed=9, errors_recorded=1, dead_lettered=0)
    assert len(world.wiki.requests_for(VICTIM)) == 1


def test_text_disambiguation_is_recorded_on_the_company(world):
    world.wiki.add_page(VICTIM, f"{VICTIM} may refer to several companies.", type="disambiguation")
    assert run(world) == Outcome(analysed=9, errors_recorded=1, dead_lettered=0)


def test_text_429_with_retry_after_is_waited_out(world):
    world.wiki.script(VICTIM, Scripted(429, {"Retry-After": "1"}))
    assert run(world) == Outcome(analysed=10, errors_recorded=0, dead_lettered=0)
    assert len(world.wiki.requests_for(VICTIM)) == 2


def test_text_500_once_is_retried_by_the_client(world):
    world.wiki.script(VICTIM, Scripted(500))
    assert run(world) == Outcome(analysed=10, errors_recorded=0, dead_lettered=0)


def test_text_500_every_time_ends_in_the_dead_letter_queue(world):
    world.wiki.script(VICTIM, *[Scripted(500)] * 100)
    assert run(world) == Outcome(analysed=9, errors_recorded=0, dead_lettered=1)
    (delivery,) = world.deliveries
    assert max(delivery.receives.values()) == 5  # the queue's maxReceiveCount, then redrive


def test_text_timeout_is_retried(world, monkeypatch):
    # A read timeout of 0.5 s (the shipped one is 10 s) and an answer that takes 1 s, once.
    original = world.consumer.TextSource
    monkeypatch.setattr(world.consumer, "TextSource", lambda *a, **kw: original(*a, **kw, read_timeout=0.5))
    world.consumer._setup.cache_clear()
    world.wiki.script(VICTIM, Scripted(200, body=b"{}", delay=1.0))
    assert run(world) == Outcome(analysed=10, errors_recorded=0, dead_lettered=0)
    world.consumer._setup.cache_clear()


def test_text_malformed_json_is_retried(world):
    world.wiki.script(VICTIM, Scripted(200, {"Content-Type": "application/json"}, body=b'{"extract": "cut sh'))
    assert run(world) == Outcome(analysed=10, errors_recorded=0, dead_lettered=0)


def test_text_of_one_megabyte_is_refused_and_recorded_on_the_company(world):
    world.wiki.add_page(VICTIM, "growth " * 150_000)  # 1,050,000 characters
    assert run(world) == Outcome(analysed=9, errors_recorded=1, dead_lettered=0)
    assert world.item(VICTIM)["last_error"]["S"] == "too_large"


def test_text_connection_reset_is_retried(world):
    world.wiki.script(VICTIM, Scripted.connection_reset())
    assert run(world) == Outcome(analysed=10, errors_recorded=0, dead_lettered=0)


# ---------------------------------------------------------------- Comprehend
def test_comprehend_throttling_is_retried_with_backoff(world):
    world.comprehend.faults.extend([(400, "ThrottlingException")] * 3)
    assert run(world) == Outcome(analysed=10, errors_recorded=0, dead_lettered=0)
    assert world.comprehend.operations().count("BatchDetectSentiment") == 4


def test_comprehend_document_error_every_time_dead_letters_that_company_only(world):
    world.comprehend.document_errors[page_text(VICTIM)] = "INTERNAL_SERVER_ERROR"
    assert run(world) == Outcome(analysed=9, errors_recorded=0, dead_lettered=1)


def test_comprehend_text_too_large_never_happens_the_text_is_cut(world):
    world.wiki.add_page(VICTIM, "é" * 4000)  # 8,000 UTF-8 bytes
    assert run(world) == Outcome(analysed=10, errors_recorded=0, dead_lettered=0)


def test_comprehend_internal_errors_past_the_retries_fail_the_batch_which_is_redelivered(world):
    # lib.clients gives Comprehend 8 retries: 9 attempts in all fail, so the whole batch fails once.
    world.comprehend.faults.extend([(500, "InternalServerException")] * 9)
    assert run(world) == Outcome(analysed=10, errors_recorded=0, dead_lettered=0)
    (delivery,) = world.deliveries
    assert delivery.handler_errors and max(delivery.receives.values()) == 2


# ---------------------------------------------------------------- S3
def test_s3_put_denied_dead_letters_the_batch_and_writes_no_state(world):
    def deny(params):
        raise client_error("AccessDenied", "PutObject", 403)

    hook(world, "s3", "PutObject", deny)
    assert run(world) == Outcome(analysed=0, errors_recorded=0, dead_lettered=10)
    # No state claims a text whose row is missing, so the next tick analyses every text again.
    assert all("text_sha256" not in world.item(name) for name in NAMES)


def test_s3_put_failing_once_is_redelivered(world):
    failures = [client_error("InternalError", "PutObject", 500)]

    def fail_once(params):
        if failures:
            raise failures.pop()

    hook(world, "s3", "PutObject", fail_once)
    assert run(world) == Outcome(analysed=10, errors_recorded=0, dead_lettered=0)


# ---------------------------------------------------------------- DynamoDB
def test_company_removed_during_its_table_write_is_not_recreated(world):
    def remove_victim_first(params):
        if params.get("Key") == {"name": {"S": VICTIM}}:
            boto3.client("dynamodb").delete_item(TableName=world.res.table, Key=params["Key"])

    hook(world, "dynamodb", "UpdateItem", remove_victim_first)
    assert run(world) == Outcome(analysed=10, errors_recorded=0, dead_lettered=0)
    assert world.item(VICTIM) is None


def test_throughput_exceeded_on_one_table_write_fails_that_record_alone(world):
    failures = [client_error("ProvisionedThroughputExceededException", "UpdateItem")]

    def throttle_victim_once(params):
        if params.get("Key") == {"name": {"S": VICTIM}} and failures:
            raise failures.pop()

    hook(world, "dynamodb", "UpdateItem", throttle_victim_once)
    assert run(world) == Outcome(analysed=10, errors_recorded=0, dead_lettered=0)


# ---------------------------------------------------------------- the consumer itself
# The consumer writes each company's table state first and the batch's results object second, so
# the windows a dying process can leave are: before any write, between the two, and after both.
def kill_once(where: str):
    kills = [ProcessKilled(f"killed {where}")]

    def die(*_, **__):
        if kills:
            raise kills.pop()

    return die


def test_consumer_killed_before_any_write_is_redelivered(world):
    hook(world, "dynamodb", "UpdateItem", kill_once("before the table update"))
    assert run(world) == Outcome(analysed=10, errors_recorded=0, dead_lettered=0)
    (delivery,) = world.deliveries
    assert delivery.handler_errors == ["ProcessKilled: killed before the table update"]


def test_consumer_killed_between_the_table_update_and_the_results_write(world):
    # GIVEN a consumer that dies when it is about to write the results object (the table already updated)
    hook(world, "s3", "PutObject", kill_once("before PutObject"))
    # THEN the redelivered messages find their run's object missing and analyse again: one row each
    assert run(world) == Outcome(analysed=10, errors_recorded=0, dead_lettered=0)
    (delivery,) = world.deliveries
    assert delivery.handler_errors == ["ProcessKilled: killed before PutObject"]
    assert world.comprehend.operations().count("BatchDetectSentiment") == 2


def test_consumer_killed_after_the_results_write_before_returning(world):
    # GIVEN a consumer that dies right after the results object was written (nothing deleted)
    world.pipeline_client("s3").meta.events.register("after-call.s3.PutObject", kill_once("after PutObject"))
    # THEN the redelivered messages find their run's object and write nothing again
    assert run(world) == Outcome(analysed=10, errors_recorded=0, dead_lettered=0)
    (delivery,) = world.deliveries
    assert delivery.handler_errors == ["ProcessKilled: killed after PutObject"]
    assert world.comprehend.operations().count("BatchDetectSentiment") == 1 and len(world.keys()) == 1


def test_the_same_message_delivered_twice_writes_one_row(world):
    summary = world.tick()
    assert summary["queued"] == len(NAMES)
    body = json.dumps({"name": VICTIM, "run_id": world.run_id, "requested_at": "2026-11-28T12:00:00Z"})
    world.send_raw(body)  # SQS's at-least-once delivery: a second copy of the same message
    world.drain()
    world.assert_invariants()
    assert world.outcome() == Outcome(analysed=10, errors_recorded=0, dead_lettered=0)


# ---------------------------------------------------------------- bodies and names sent straight to the queue
def raw_run(world: World, *bodies: str) -> tuple[Outcome, list[str]]:
    ids = [world.send_raw(body) for body in bodies]
    world.tick()
    world.drain()
    world.assert_invariants()
    return world.outcome(), ids


def message(name: str, run_id: str = "raw-run") -> str:
    return json.dumps({"name": name, "run_id": run_id, "requested_at": "2026-11-28T12:00:00Z"})


def test_a_body_that_is_not_json_is_dead_lettered_with_its_reason(world):
    outcome, (bad,) = raw_run(world, "this is not json")
    assert outcome == Outcome(analysed=10, errors_recorded=0, dead_lettered=1)
    assert world.reasons_for(bad) == ["bad_message: body is not JSON"] * 5


def test_a_name_crafted_as_a_path_is_analysed_inside_the_results_prefix(world):
    crafted = "../../x"
    put_companies(world.res.table, [crafted])
    world.wiki.add_page(crafted, "A company whose name looks like a path, with strong growth.")
    outcome, _ = raw_run(world, message(crafted))
    assert outcome.dead_lettered == 0
    assert crafted in {row["name"] for row in world.rows()}
    paths = [request.path for request in world.wiki.requests]
    assert all(path.startswith("/api/rest_v1/page/summary/") and "/../" not in path for path in paths)


def test_a_name_of_300_kb_is_dead_lettered_with_its_reason(world):
    # Real SQS refuses a body over 256 KiB at SendMessage; moto accepts it, so the consumer's own
    # check is what this exercises: the name is longer than the watchlist allows.
    outcome, (huge,) = raw_run(world, message("y" * 300_000))
    assert outcome == Outcome(analysed=10, errors_recorded=0, dead_lettered=1)
    (reason,) = set(world.reasons_for(huge))
    assert reason.startswith("bad_message: ") and "255" in reason


def test_a_name_with_control_characters_is_dead_lettered_with_its_reason(world):
    outcome, (bad,) = raw_run(world, message("Acme\x07\x1b[2J Corp"))
    assert outcome == Outcome(analysed=10, errors_recorded=0, dead_lettered=1)
    (reason,) = set(world.reasons_for(bad))
    assert reason == "bad_message: invalid name: name holds a control character (U+0007)"
