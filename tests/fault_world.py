"""The fault-injection world: the real producer and consumer handlers, a queue with its dead-letter queue.

Ten companies on a moto watchlist, the loopback Action API and the loopback Comprehend, the producer
queueing them (as one chunk), and tests/lambda_harness.py playing the event source mapping. Faults come
from the test only: scripted answers of the fixture servers, botocore event hooks on the pipeline's own
clients, or messages sent straight to the queue.

After every scenario the same invariants are checked (`assert_invariants`):
- every queued message was either deleted after the outcome of each of its companies was stored (a
  result row for its text, a permanent error on the company, or the company gone from the watchlist)
  or is in the dead-letter queue, with a reason in the consumer's log;
- no result row appears twice for the same company, text and run;
- every object in the results bucket is under the results prefix;
- each analysed company's table state holds its newest row's label and run;
- then the Compactor's handler (as its role) compacts every day, its clock two days ahead so that they count as
  finished: every row is still read once, each day holds only its manifest's objects, at most 24
  (tests/dataset_checks.py), and the invariants above still hold. Later ticks of a scenario thus run against a
  compacted dataset, and a redelivery's recovery check finds compacted rows through the day's manifest.

IAM is enforced (tests/iam_gate.py): the producer's calls are judged as template.yml's
ServerlessProducerRole, the consumer's and the event source mapping's (its polls and deletes) as its
ProducerAIRole, as local mode judges them.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from lib import clients
from tests.conftest import dataset_rows, object_keys, put_companies, table_item
from tests.dataset_checks import assert_compacted, assert_dataset_invariants, identity, place_of, rows_by_day
from tests.iam_gate import RoleGate
from tests.lambda_harness import Delivery, EventSourceMapping
from tests.test_producer import load_handler

NAMES = [
    f"Faultline {word}"
    for word in ("Alpha", "Bravo", "Charlie", "Delta", "Echo", "Foxtrot", "Golf", "Hotel", "India", "Juliet")
]
VICTIM = NAMES[3]
RESULTS_PREFIX = "results"
TICK_TIME = "2026-11-28T12:00:00Z"
# The services the handlers call through lib.clients, each judged as the running function's role.
PIPELINE_SERVICES = ("dynamodb", "sqs", "s3", "comprehend", "sns")


class LongContext:
    """Lambda's context for the compactor: its whole 15 minutes ahead."""

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 900_000


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
    def __init__(self, resources, wiki, comprehend, capsys, gate: RoleGate) -> None:
        self.res, self.wiki, self.comprehend, self.capsys = resources, wiki, comprehend, capsys
        self.gate = gate
        self.producer = load_handler("ServerlessProducer")
        self.consumer = load_handler("ProducerAI")
        self.compactor = load_handler("ProducerAI", "compact_function")
        self.compactor.utc_now = lambda: datetime.now(UTC) + timedelta(days=2)
        self.run_id = str(uuid.uuid4())
        self.queued: dict[str, str] = {}  # message id -> company, as sent
        self.log_lines: list[dict[str, Any]] = []
        self.deliveries: list[Delivery] = []
        for name in NAMES:
            wiki.add_page(name, page_text(name))
        put_companies(resources.table, NAMES)

    # -- driving -----------------------------------------------------------------------
    def tick(self, run_id: str | None = None, time: str = TICK_TIME) -> dict[str, Any]:
        event = {"id": run_id or self.run_id, "time": time, "source": "aws.events"}
        with self.gate.acting("ServerlessProducerRole"):
            return self.producer.lambda_handler(event, None)

    def send_raw(self, body: str) -> str:
        """A message straight onto the queue, not through the producer."""
        return boto3.client("sqs").send_message(QueueUrl=self.res.queue_url, MessageBody=body)["MessageId"]

    def drain(self) -> Delivery:
        mapping = EventSourceMapping(self.res.queue_url, self.consumer.lambda_handler, before_delete=self.check_delete)
        # The event source mapping polls and deletes with the consumer's role, as Lambda's pollers do.
        self.gate.install(mapping.sqs)
        with self.gate.acting("ProducerAIRole"):
            delivery = mapping.drain()
        self.deliveries.append(delivery)
        self._collect_logs()
        return delivery

    def pipeline_client(self, service: str):
        """The client the handlers use (lib.clients), where a test hangs its fault."""
        return clients.client(service)

    # -- reading the world -------------------------------------------------------------------
    def rows(self) -> list[dict[str, str]]:
        return dataset_rows(self.res.bucket)

    def keys(self) -> list[str]:
        """The data objects (the manifests, outside the dataset's prefix, are not counted)."""
        return [key for key in object_keys(self.res.bucket) if key.startswith(f"{RESULTS_PREFIX}/")]

    def item(self, name: str) -> dict[str, Any] | None:
        return table_item(self.res.table, name)

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
        """Called by the harness before each delete: the outcome of every company of the chunk must be stored."""
        names = self.names_in(record["body"])
        if names is None:
            raise AssertionError(f"a message the consumer could not read was deleted: {record['body'][:80]!r}")
        rows = self.rows()
        for name in names:
            item = self.item(name)
            if item is None:
                continue  # not on the watchlist: nothing to store
            if "last_error" in item:
                continue  # a permanent error, recorded on the company
            # Otherwise the company's stored state must be backed by a row of the dataset.
            assert "text_sha256" in item, f"{name}: message deleted before its outcome was stored"
            backed = any(r["name"] == name and r["text_sha256"] == item["text_sha256"]["S"] for r in rows)
            assert backed, f"{name}: message deleted while the table's state has no row in the results"

    def outcome(self) -> Outcome:
        rows = self.rows()
        errors = sum(1 for name in NAMES if (item := self.item(name)) and "last_error" in item)
        return Outcome(len({r["name"] for r in rows}), errors, len(self.dead_letters()))

    def assert_invariants(self) -> None:
        self._check_pipeline()
        self.compact()
        self._check_pipeline()

    def compact(self) -> None:
        """Compact every finished day as the Compactor function does, and check the dataset kept its rows."""
        place = place_of(self.res.bucket, RESULTS_PREFIX)
        before = rows_by_day(place)
        with self.gate.acting("CompactorRole"):
            answer = self.compactor.lambda_handler({"all_finished": True}, LongContext())
        assert answer["remaining"] == [] and all(d["rows_after"] == d["rows_before"] for d in answer["days"])
        assert_compacted(place, sorted(before))
        after = rows_by_day(place)
        assert {day: sorted(map(identity, rows)) for day, rows in after.items()} == {
            day: sorted(map(identity, rows)) for day, rows in before.items()
        }

    def _check_pipeline(self) -> None:
        self._collect_logs()
        rows = assert_dataset_invariants(place_of(self.res.bucket, RESULTS_PREFIX))
        dead = {m["MessageId"]: m for m in self.dead_letters()}
        deleted = {mid for delivery in self.deliveries for mid in delivery.deleted}
        for message_id in self.all_message_ids():
            in_dlq = message_id in dead
            assert (message_id in deleted) != in_dlq, f"message {message_id}: deleted={not in_dlq} dead={in_dlq}"
            if in_dlq:
                shown = str(self.names_in(dead[message_id]["Body"]) or message_id)[:60]
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
    def names_in(body: str) -> list[str] | None:
        """The companies a message carries (a chunk, or the earlier one-company shape); None if unreadable."""
        try:
            message = json.loads(body)
            if "companies" in message:
                return [entry["name"] for entry in message["companies"]]
            return [message["name"]]
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
        "TEXT_SOURCE_URL": wiki_server.api_url,
        "USER_AGENT_CONTACT": "https://example.org/contact",
        "WIKI_REQUESTS_PER_MINUTE": "100000",
        "CONSUMER_MAX_CONCURRENCY": "2",
        "METRICS_NAMESPACE": "WatchlistSentiment",
        "STACK_NAME": "tests",
        "SCHEDULE_EXPRESSION": "rate(5 minutes)",
        "LABEL_CHANGE_TOPIC_ARN": "",
        "MANIFESTS_PREFIX": "manifests",
        "LOG_LEVEL": "INFO",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    clients.reset()  # the Comprehend endpoint was set after any earlier client was built
    gate = RoleGate.from_template(resources)
    gate.install(*(clients.client(service) for service in PIPELINE_SERVICES))
    world = World(resources, wiki_server, comprehend_server, capsys, gate)
    world.consumer._setup.cache_clear()
    yield world
    world.consumer._setup.cache_clear()


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
