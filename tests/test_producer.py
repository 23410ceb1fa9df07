"""The producer: a parallel scan, the tick's part of the watchlist within the budget, chunks of companies with
their snapshot, batched and retried sends, correlation ids, the invocation's deadline."""

from __future__ import annotations

import importlib.util
import json
import threading
import time
from pathlib import Path

import boto3
import pytest
from botocore.stub import ANY, Stubber

import lib.limits
from lib.clock import Deadline
from lib.config import ConfigError, ProducerConfig
from lib.limits import CHUNK_COMPANIES, SCAN_SEGMENTS
from lib.message import Company, WorkMessage
from lib.plan import Budget, part_of, tick_number
from lib.producer import NothingQueued, queue_tick, scan_watchlist
from tests.conftest import load_event, put_companies

ROOT = Path(__file__).resolve().parents[1]
TICK_TIME = "2026-11-27T12:00:00Z"
QUEUE = "https://sqs.us-east-1.amazonaws.com/123456789012/q"


def config(resources=None, *, budget: int = 100, period: int = 300) -> ProducerConfig:
    table, queue = (resources.table, resources.queue_url) if resources else ("t", QUEUE)
    return ProducerConfig(table, queue, budget, period)


def load_handler(folder: str, module_name: str = "lambda_function"):
    """Import a function's handler module under a unique name (two functions use the same file name)."""
    spec = importlib.util.spec_from_file_location(f"{folder}_{module_name}", ROOT / folder / f"{module_name}.py")
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


def queued_companies(queue_url: str) -> list[Company]:
    records = [{"body": m["Body"], "messageAttributes": {}} for m in drain(queue_url)]
    return [company for record in records for company in WorkMessage.from_record(record).companies]


def count_calls(client, operation: str) -> list:
    seen: list = []
    # Copy: the caller may reuse the list it passed once the call returns.
    client.meta.events.register(
        f"before-parameter-build.*.{operation}", lambda **kw: seen.append(json.loads(json.dumps(kw["params"])))
    )
    return seen


def test_a_tick_queues_the_whole_small_watchlist_in_chunks_of_fifty_ten_to_a_call(resources):
    # GIVEN 1,001 companies, fewer than a tick can check
    names = [f"Company {i:04d}" for i in range(1_001)]
    put_companies(resources.table, names)
    sqs = boto3.client("sqs")
    sends = count_calls(sqs, "SendMessageBatch")
    # WHEN the producer runs
    summary = queue_tick(config(resources), "run-1", TICK_TIME, sqs=sqs)
    # THEN 21 chunks went out in 3 calls, and every company is queued once
    assert (summary["planned"], summary["queued"], summary["chunks"], summary["batches"]) == (1_001, 1_001, 21, 3)
    assert sorted(len(call["Entries"]) for call in sends) == [1, 10, 10]
    companies = queued_companies(resources.queue_url)
    assert sorted(c.name for c in companies) == names
    assert (
        max(len(json.loads(m)["companies"]) for call in sends for m in (e["MessageBody"] for e in call["Entries"]))
        == CHUNK_COMPANIES
    )


def test_a_chunk_carries_each_companys_stored_state(resources):
    # GIVEN a company the consumer already checked, one with a page title, and a new one
    put_companies(resources.table, ["Netflix"], text_sha256="ab" * 32, page="Netflix", last_error="not_found")
    boto3.client("dynamodb").update_item(
        TableName=resources.table,
        Key={"name": {"S": "Netflix"}},
        UpdateExpression="SET revision = :r, sentiment = :s",
        ExpressionAttributeValues={":r": {"N": "123"}, ":s": {"S": "POSITIVE"}},
    )
    put_companies(resources.table, ["Amazon"], title="Amazon (company)")
    put_companies(resources.table, ["Nokia"])
    # WHEN the producer runs
    queue_tick(config(resources), "run-7", TICK_TIME)
    # THEN the chunk holds what the table held, and the message names the run
    (message,) = drain(resources.queue_url)
    companies = {c["name"]: c for c in json.loads(message["Body"])["companies"]}
    assert companies == {
        "Netflix": {
            "name": "Netflix",
            "rev": 123,
            "page": "Netflix",
            "sha": "ab" * 32,
            "err": "not_found",
            "label": "POSITIVE",
        },
        "Amazon": {"name": "Amazon", "title": "Amazon (company)"},
        "Nokia": {"name": "Nokia"},
    }
    body = json.loads(message["Body"])
    assert (body["v"], body["run_id"], body["requested_at"]) == (2, "run-7", TICK_TIME)
    assert message["MessageAttributes"]["correlation_id"]["StringValue"] == "run-7"


def put_checked(table: str, names: list[str]) -> None:
    """Companies whose page was read before (they have a revision): each costs a share of a revision request only."""
    ddb = boto3.client("dynamodb")
    for name in names:
        ddb.put_item(TableName=table, Item={"name": {"S": name}, "revision": {"N": "1000"}, "page": {"S": name}})


def test_a_watchlist_longer_than_a_tick_can_check_is_queued_one_part_a_tick(resources):
    # GIVEN 120 companies read before, and a budget of 2 revision requests (100 companies) a tick
    names = [f"Company {i:03d}" for i in range(120)]
    put_checked(resources.table, names)
    small = config(resources, budget=3, period=60)  # 3 requests a tick, 4/5 of them planned: 2 requests
    assert Budget(3, 60).companies_per_tick == 100
    # WHEN two consecutive ticks run
    first_tick = tick_number(TICK_TIME, 60)
    seen = []
    for offset in range(2):
        summary = queue_tick(small, f"run-{offset}", f"2026-11-27T12:0{offset}:00Z")
        assert summary["windows"] == 2 and summary["tick"] == first_tick + offset
        seen.append({c.name for c in queued_companies(resources.queue_url)})
    # THEN each tick queued its own part, and the two together are the whole watchlist, each company once
    assert seen[0].isdisjoint(seen[1]) and seen[0] | seen[1] == set(names)
    assert seen[0] == {n for n in names if part_of(n, 2) == first_tick % 2}


def test_companies_never_read_count_their_intro_requests_in_the_plan(resources):
    # GIVEN 100 companies read before and 100 never read, and a budget of 8 requests a tick
    put_checked(resources.table, [f"Old {i:03d}" for i in range(100)])
    put_companies(resources.table, [f"New {i:03d}" for i in range(100)])
    # WHEN a tick runs THEN the plan counts 2 + 2 revision requests and 5 intro requests: 9 / 8, two parts
    assert queue_tick(config(resources, budget=10, period=60), "r", TICK_TIME)["windows"] == 2


def test_a_long_watchlist_is_sent_in_parallel_each_company_once(resources):
    # GIVEN 2,600 companies (52 chunks), and SendMessageBatch calls that take a while
    names = [f"Company {i:04d}" for i in range(2_600)]
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
    summary = queue_tick(config(resources), "r", TICK_TIME, sqs=sqs)
    # THEN every company is queued exactly once, by calls that overlapped but never more than the cap
    assert (summary["queued"], summary["batches"]) == (2_600, 6)
    assert 1 < peak[0] <= lib.limits.SEND_WORKERS
    assert sorted(c.name for c in queued_companies(resources.queue_url)) == names


class SegmentedTable:
    """Answers Scan as DynamoDB documents a parallel scan: each segment paged by LastEvaluatedKey."""

    def __init__(self, pages: dict[int, list[dict]]):
        self.pages, self.calls, self.lock = pages, [], threading.Lock()

    def scan(self, **params):
        with self.lock:
            self.calls.append((params["Segment"], params["TotalSegments"], params.get("ExclusiveStartKey")))
            segment = params["Segment"]
            default = [{"Items": [{"name": {"S": f"S{segment}"}}]}]
            return self.pages.setdefault(segment, default).pop(0)


def test_the_scan_reads_every_segment_page_by_page():
    # GIVEN a table whose segment 0 answers in two pages
    first = {"Items": [{"name": {"S": "A"}}], "LastEvaluatedKey": {"name": {"S": "A"}}}
    table = SegmentedTable({0: [first, {"Items": [{"name": {"S": "B"}}]}]})
    # WHEN the watchlist is scanned
    companies, complete = scan_watchlist("t", table)
    # THEN every segment was read to its end, segment 0 in two pages
    assert complete
    assert sorted(c.name for c in companies) == sorted(["A", "B", *[f"S{n}" for n in range(1, SCAN_SEGMENTS)]])
    expected = [(0, SCAN_SEGMENTS, None), (0, SCAN_SEGMENTS, {"name": {"S": "A"}})]
    expected += [(n, SCAN_SEGMENTS, None) for n in range(1, SCAN_SEGMENTS)]
    assert sorted(table.calls, key=repr) == sorted(expected, key=repr)


def test_a_scan_out_of_time_plans_from_what_it_read_and_says_so(resources):
    # GIVEN companies on the watchlist and a deadline already passed
    put_companies(resources.table, ["A", "B"])
    # WHEN the producer runs THEN it read nothing, queued nothing, and reports the scan unfinished
    summary = queue_tick(config(resources), "r", TICK_TIME, deadline=Deadline.after(-1))
    assert (summary["scan_complete"], summary["companies"], summary["queued"]) == (False, 0, 0)


def _sqs_stub():
    sqs = boto3.client("sqs", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    return sqs, Stubber(sqs)


def test_a_refused_entry_is_retried_alone(resources):
    # GIVEN 120 companies (3 chunks) and SQS refusing one entry once
    put_companies(resources.table, [f"C{i:03d}" for i in range(120)])
    sqs, stub = _sqs_stub()
    failed = {"Id": "1", "SenderFault": False, "Code": "InternalError"}
    stub.add_response("send_message_batch", {"Successful": [], "Failed": [failed]}, {"QueueUrl": QUEUE, "Entries": ANY})
    stub.add_response("send_message_batch", {"Successful": [], "Failed": []}, {"QueueUrl": QUEUE, "Entries": ANY})
    sent: list = []
    sqs.meta.events.register(
        "before-parameter-build.sqs.SendMessageBatch",
        lambda **kw: sent.append([e["Id"] for e in kw["params"]["Entries"]]),
    )
    # WHEN the producer runs
    with stub:
        summary = queue_tick(
            ProducerConfig(resources.table, QUEUE, 100, 300), "r", TICK_TIME, sqs=sqs, sleep=lambda s: None
        )
    # THEN the second call carried only the refused entry, and all 120 companies count as queued
    assert sent == [["0", "1", "2"], ["1"]]
    assert (summary["queued"], summary["failed"]) == (120, 0)


def test_a_chunk_refused_on_every_attempt_is_counted_by_its_companies(resources):
    put_companies(resources.table, [f"C{i:03d}" for i in range(60)])
    sqs, stub = _sqs_stub()
    failed = {"Id": "0", "SenderFault": False, "Code": "InternalError"}
    for _ in range(3):
        stub.add_response("send_message_batch", {"Successful": [], "Failed": [failed]})
    with stub:
        summary = queue_tick(
            ProducerConfig(resources.table, QUEUE, 100, 300), "r", TICK_TIME, sqs=sqs, sleep=lambda s: None
        )
    assert (summary["queued"], summary["failed"]) == (10, 50)


def test_nothing_queued_raises_so_the_tick_counts_as_an_error(resources):
    put_companies(resources.table, ["A"])
    sqs, stub = _sqs_stub()
    for _ in range(3):
        stub.add_client_error("send_message_batch", service_error_code="ServiceUnavailable", http_status_code=503)
    with stub, pytest.raises(NothingQueued):
        queue_tick(ProducerConfig(resources.table, QUEUE, 100, 300), "r", TICK_TIME, sqs=sqs, sleep=lambda s: None)


def test_the_handler_uses_the_schedule_event_id_and_time(resources, monkeypatch):
    # GIVEN the template's environment and a schedule event
    for key, value in {
        "TABLE_NAME": resources.table,
        "QUEUE_URL": resources.queue_url,
        "WIKI_REQUESTS_PER_MINUTE": "100",
        "SCHEDULE_EXPRESSION": "rate(5 minutes)",
    }.items():
        monkeypatch.setenv(key, value)
    put_companies(resources.table, ["Amazon", "Google"])
    event = load_event("schedule.json")
    # WHEN the producer handler runs
    result = load_handler("ServerlessProducer").lambda_handler(event, None)
    # THEN both companies are queued under the event's id, for the tick of the event's time
    assert result["queued"] == 2 and result["run_id"] == event["id"]
    assert result["tick"] == tick_number(event["time"], 300)
    assert {json.loads(m["Body"])["run_id"] for m in drain(resources.queue_url)} == {event["id"]}


def test_an_empty_watchlist_queues_nothing(resources):
    summary = queue_tick(config(resources), "r", TICK_TIME)
    assert (summary["companies"], summary["queued"], summary["failed"], summary["chunks"]) == (0, 0, 0, 0)


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("QUEUE_URL", None, "QUEUE_URL"),
        ("WIKI_REQUESTS_PER_MINUTE", "many", "positive whole number"),
        ("SCHEDULE_EXPRESSION", "cron(0/5 * * * ? *)", "cron schedule has no period"),
        ("SCHEDULE_EXPRESSION", "rate(5 minute)", "EventBridge wants rate(5 minutes)"),
    ],
)
def test_a_missing_or_wrong_environment_variable_is_named(monkeypatch, variable, value, message):
    env = {
        "TABLE_NAME": "t",
        "QUEUE_URL": QUEUE,
        "WIKI_REQUESTS_PER_MINUTE": "100",
        "SCHEDULE_EXPRESSION": "rate(5 minutes)",
    }
    if value is None:
        env.pop(variable)
    else:
        env[variable] = value
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        ProducerConfig.from_env(env)
