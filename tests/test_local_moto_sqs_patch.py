"""The SQS patch local mode applies to moto (watchlist_workstation/local/moto_server/sqs_patch.py): fast on a
deep queue, thread-safe, and SQS as moto served it. Every test talks boto3 to a real moto server on 127.0.0.1
with the patch on.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlparse

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from watchlist_workstation.local.moto_server import sqs_patch
from watchlist_workstation.local.moto_server.version import UnsupportedMotoVersion

REGION = "us-east-1"
LONG = 600  # a visibility timeout no test outlives: a received message stays hidden for the whole test


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    sqs_patch.apply()
    werkzeug = logging.getLogger("werkzeug")
    level = werkzeug.level
    werkzeug.setLevel(logging.ERROR)  # one access-log line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()
    werkzeug.setLevel(level)


@pytest.fixture(scope="module")
def new_client(endpoint: str) -> Callable[[], Any]:
    session = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)
    lock = threading.Lock()  # a boto3 session is not thread-safe; each thread gets its own client

    def make() -> Any:
        with lock:
            return session.client("sqs", endpoint_url=endpoint, config=Config(retries={"max_attempts": 1}))

    return make


@pytest.fixture(scope="module")
def sqs(new_client: Callable[[], Any]) -> Any:
    return new_client()


@pytest.fixture
def new_queue(sqs: Any) -> Callable[..., str]:
    def create(suffix: str = "", **attributes: Any) -> str:
        name = f"q-{uuid.uuid4().hex[:12]}{suffix}"
        return sqs.create_queue(QueueName=name, Attributes={k: str(v) for k, v in attributes.items()})["QueueUrl"]

    return create


def send(sqs: Any, url: str, bodies: list[str], **entry: Any) -> None:
    for start in range(0, len(bodies), 10):
        chunk = bodies[start : start + 10]
        response = sqs.send_message_batch(
            QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": body, **entry} for i, body in enumerate(chunk)]
        )
        assert len(response["Successful"]) == len(chunk)


def receive(sqs: Any, url: str, count: int = 10, visibility: int = LONG, **kwargs: Any) -> list[dict]:
    response = sqs.receive_message(
        QueueUrl=url,
        MaxNumberOfMessages=count,
        VisibilityTimeout=visibility,
        MessageSystemAttributeNames=["All"],
        **kwargs,
    )
    return response.get("Messages", [])


def counts(sqs: Any, url: str) -> tuple[int, int, int]:
    """(visible, in flight, delayed)"""
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return (
        int(attributes["ApproximateNumberOfMessages"]),
        int(attributes["ApproximateNumberOfMessagesNotVisible"]),
        int(attributes["ApproximateNumberOfMessagesDelayed"]),
    )


def moto_queue(url: str) -> Any:
    from moto.sqs.models import sqs_backends

    _, account, name = urlparse(url).path.split("/")
    return sqs_backends[account][REGION].get_queue(name)


# --- the patch itself ---------------------------------------------------------------------------


def test_apply_refuses_a_moto_version_it_was_not_written_for(monkeypatch: pytest.MonkeyPatch) -> None:
    import moto

    monkeypatch.setattr(moto, "__version__", "5.3.0")
    with pytest.raises(UnsupportedMotoVersion, match=r"moto 5\.2\.5.*moto 5\.3\.0 is installed"):
        sqs_patch.apply()


def test_apply_twice_patches_once(endpoint: str) -> None:
    from moto.sqs.models import Queue, SQSBackend

    receive_message, add_message = SQSBackend.receive_message, Queue.add_message
    sqs_patch.apply()
    assert (SQSBackend.receive_message, Queue.add_message) == (receive_message, add_message)


# --- SQS as moto serves it ----------------------------------------------------------------------


def test_a_received_message_stays_hidden_until_its_visibility_timeout_ends(sqs: Any, new_queue: Callable) -> None:
    url = new_queue()
    send(sqs, url, ["a"])
    first = receive(sqs, url, visibility=1)
    assert receive(sqs, url) == []
    time.sleep(1.3)
    again = receive(sqs, url)
    assert [m["MessageId"] for m in again] == [first[0]["MessageId"]]


def test_each_receive_counts_in_approximate_receive_count(sqs: Any, new_queue: Callable) -> None:
    url = new_queue()
    send(sqs, url, ["a"])
    seen = [receive(sqs, url, visibility=0)[0]["Attributes"]["ApproximateReceiveCount"] for _ in range(3)]
    assert seen == ["1", "2", "3"]


def test_the_receive_that_finds_max_receive_count_moves_the_message_to_the_dead_letter_queue(
    sqs: Any, new_queue: Callable
) -> None:
    dlq = new_queue()
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    url = new_queue(RedrivePolicy=f'{{"deadLetterTargetArn": "{dlq_arn}", "maxReceiveCount": "2"}}')
    send(sqs, url, ["poison"])
    assert len(receive(sqs, url, visibility=0)) == 1
    assert len(receive(sqs, url, visibility=0)) == 1

    assert receive(sqs, url, visibility=0) == []  # the third receive finds 2 receives: redrive

    assert counts(sqs, url) == (0, 0, 0)
    moved = receive(sqs, dlq)
    assert [m["Body"] for m in moved] == ["poison"]
    assert moved[0]["Attributes"]["ApproximateReceiveCount"] == "3"  # moto keeps the count


def test_an_old_receipt_handle_still_deletes_the_message(sqs: Any, new_queue: Callable) -> None:
    url = new_queue()
    send(sqs, url, ["a"])
    old = receive(sqs, url, visibility=0)[0]["ReceiptHandle"]
    receive(sqs, url, visibility=0)

    sqs.delete_message(QueueUrl=url, ReceiptHandle=old)

    assert counts(sqs, url) == (0, 0, 0)
    assert receive(sqs, url) == []


def test_deleting_an_already_deleted_message_succeeds(sqs: Any, new_queue: Callable) -> None:
    url = new_queue()
    send(sqs, url, ["a"])
    handle = receive(sqs, url)[0]["ReceiptHandle"]
    sqs.delete_message(QueueUrl=url, ReceiptHandle=handle)

    sqs.delete_message(QueueUrl=url, ReceiptHandle=handle)

    assert counts(sqs, url) == (0, 0, 0)


def test_an_unknown_receipt_handle_is_invalid(sqs: Any, new_queue: Callable) -> None:
    url = new_queue()
    send(sqs, url, ["a"])
    with pytest.raises(ClientError) as exc:
        sqs.delete_message(QueueUrl=url, ReceiptHandle="not-a-handle")
    assert exc.value.response["Error"]["Code"] == "ReceiptHandleIsInvalid"
    assert counts(sqs, url) == (1, 0, 0)


def test_delete_batch_reports_the_invalid_handles_and_deletes_the_rest(sqs: Any, new_queue: Callable) -> None:
    url = new_queue()
    send(sqs, url, ["a", "b", "c"])
    handles = [m["ReceiptHandle"] for m in receive(sqs, url, count=2)]

    response = sqs.delete_message_batch(
        QueueUrl=url,
        Entries=[
            {"Id": "first", "ReceiptHandle": handles[0]},
            {"Id": "bogus", "ReceiptHandle": "not-a-handle"},
            {"Id": "second", "ReceiptHandle": handles[1]},
        ],
    )

    assert sorted(entry["Id"] for entry in response["Successful"]) == ["first", "second"]
    assert [(f["Id"], f["Code"], f["SenderFault"]) for f in response["Failed"]] == [
        ("bogus", "ReceiptHandleIsInvalid", True)
    ]
    assert counts(sqs, url) == (1, 0, 0)


def test_queue_attributes_count_visible_in_flight_and_delayed_messages(sqs: Any, new_queue: Callable) -> None:
    url = new_queue()
    send(sqs, url, ["visible-1", "visible-2", "visible-3"])
    send(sqs, url, ["delayed-1", "delayed-2"], DelaySeconds=600)

    receive(sqs, url, count=1)

    assert counts(sqs, url) == (2, 1, 2)


def test_a_delayed_message_reaches_a_poll_that_waits_for_its_delay(sqs: Any, new_queue: Callable) -> None:
    url = new_queue()
    send(sqs, url, ["later"], DelaySeconds=1)
    assert receive(sqs, url) == []

    # No send wakes this poll: it must wake itself when the delay ends.
    assert [m["Body"] for m in receive(sqs, url, WaitTimeSeconds=10)] == ["later"]


def test_a_message_past_the_retention_period_is_not_delivered(sqs: Any, new_queue: Callable) -> None:
    url = new_queue(MessageRetentionPeriod=1)
    send(sqs, url, ["stale"])
    time.sleep(1.3)
    send(sqs, url, ["fresh"])

    assert [m["Body"] for m in receive(sqs, url)] == ["fresh"]
    assert counts(sqs, url) == (0, 1, 0)


def test_a_long_poll_returns_a_message_sent_while_it_waits(
    sqs: Any, new_client: Callable[[], Any], new_queue: Callable
) -> None:
    url = new_queue()
    poller = new_client()
    with ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(receive, poller, url, 10, LONG, WaitTimeSeconds=15)
        time.sleep(0.5)
        assert not waiting.done()
        send(sqs, url, ["while-waiting"])
        assert [m["Body"] for m in waiting.result(timeout=20)] == ["while-waiting"]


def test_receive_returns_only_the_message_attributes_asked_for(sqs: Any, new_queue: Callable) -> None:
    url = new_queue()
    sqs.send_message(
        QueueUrl=url,
        MessageBody="a",
        MessageAttributes={
            "trace.id": {"DataType": "String", "StringValue": "t-1"},
            "other": {"DataType": "String", "StringValue": "o"},
        },
    )
    filtered = receive(sqs, url, visibility=0, MessageAttributeNames=["trace.*"])[0]
    assert set(filtered["MessageAttributes"]) == {"trace.id"}

    everything = receive(sqs, url, MessageAttributeNames=["All"])[0]
    assert set(everything["MessageAttributes"]) == {"trace.id", "other"}  # the filter did not change the message


def test_changing_visibility_to_zero_makes_a_message_receivable_again(sqs: Any, new_queue: Callable) -> None:
    url = new_queue()
    send(sqs, url, ["a"])
    handle = receive(sqs, url)[0]["ReceiptHandle"]
    assert counts(sqs, url) == (0, 1, 0)

    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=handle, VisibilityTimeout=0)

    again = receive(sqs, url)
    assert again[0]["Attributes"]["ApproximateReceiveCount"] == "2"


def test_visibility_cannot_reach_past_twelve_hours_from_the_send(sqs: Any, new_queue: Callable) -> None:
    url = new_queue()
    send(sqs, url, ["a"])
    handle = receive(sqs, url)[0]["ReceiptHandle"]
    with pytest.raises(ClientError) as exc:
        sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=handle, VisibilityTimeout=43200)
    assert exc.value.response["Error"]["Code"] == "InvalidParameterValue"


def test_changing_visibility_with_an_unknown_handle_is_invalid(sqs: Any, new_queue: Callable) -> None:
    url = new_queue()
    with pytest.raises(ClientError) as exc:
        sqs.change_message_visibility(QueueUrl=url, ReceiptHandle="not-a-handle", VisibilityTimeout=0)
    assert exc.value.response["Error"]["Code"] == "ReceiptHandleIsInvalid"


def test_purge_empties_the_queue_and_it_keeps_working(sqs: Any, new_queue: Callable) -> None:
    url = new_queue()
    send(sqs, url, ["a", "b", "c"])
    handle = receive(sqs, url, count=1)[0]["ReceiptHandle"]

    sqs.purge_queue(QueueUrl=url)

    assert counts(sqs, url) == (0, 0, 0)
    with pytest.raises(ClientError) as exc:  # moto forgets the purged messages' handles
        sqs.delete_message(QueueUrl=url, ReceiptHandle=handle)
    assert exc.value.response["Error"]["Code"] == "ReceiptHandleIsInvalid"
    send(sqs, url, ["after"])
    assert [m["Body"] for m in receive(sqs, url)] == ["after"]


def test_a_fifo_queue_holds_back_a_group_while_its_message_is_in_flight(sqs: Any, new_queue: Callable) -> None:
    url = new_queue(".fifo", FifoQueue="true", ContentBasedDeduplication="true")
    send(sqs, url, ["first", "second"], MessageGroupId="g")

    first = receive(sqs, url, count=1)
    assert [m["Body"] for m in first] == ["first"]
    assert receive(sqs, url) == []
    sqs.delete_message(QueueUrl=url, ReceiptHandle=first[0]["ReceiptHandle"])
    assert [m["Body"] for m in receive(sqs, url)] == ["second"]


# --- threads and depth --------------------------------------------------------------------------


def test_concurrent_receivers_and_a_sender_deliver_every_message_exactly_once(
    sqs: Any, new_client: Callable[[], Any], new_queue: Callable
) -> None:
    # GIVEN 2,000 messages, 8 threads receiving and deleting, and a thread sending 1,000 more meanwhile
    url = new_queue()
    early, late = [f"early-{i}" for i in range(2000)], [f"late-{i}" for i in range(1000)]
    send(sqs, url, early)
    sending_done = threading.Event()
    delivered: list[tuple[str, str]] = []
    failed_deletes: list[dict] = []

    def sender(client: Any) -> None:
        try:
            send(client, url, late)
        finally:
            sending_done.set()

    def consumer(client: Any) -> None:
        empty = 0
        while empty < 3:  # three empty receives after the sender finished: the queue is drained
            messages = receive(client, url)
            if not messages:
                empty += sending_done.is_set()
                continue
            empty = 0
            delivered.extend((m["MessageId"], m["Body"]) for m in messages)
            response = client.delete_message_batch(
                QueueUrl=url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
            )
            failed_deletes.extend(response.get("Failed", []))

    # WHEN they all run at once, one request per server thread
    clients = [new_client() for _ in range(9)]
    with ThreadPoolExecutor(9) as pool:
        futures = [pool.submit(sender, clients[0])] + [pool.submit(consumer, client) for client in clients[1:]]
        for future in futures:
            future.result(timeout=240)

    # THEN each message was handed out once (the visibility timeout outlives the test) and deleted
    ids = [message_id for message_id, _ in delivered]
    assert len(ids) == len(set(ids)), "a message was delivered twice while its visibility timeout held"
    assert sorted(body for _, body in delivered) == sorted(early + late)
    assert failed_deletes == []
    assert counts(sqs, url) == (0, 0, 0)


def test_on_a_queue_10000_deep_each_call_touches_only_the_messages_it_handles(
    sqs: Any, new_queue: Callable, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Complexity, not wall time: count the Message objects whose attributes a call reads.

    Unpatched moto reads every message of the queue, many times, in each of these calls. (Removing a
    deleted message from the queue's list is a C-level identity scan; it reads no attribute.)"""
    from moto.sqs import models

    touched: set[int] = set()
    watching = threading.Event()

    class WatchedMessage(models.Message):
        def __getattribute__(self, name: str) -> Any:
            if watching.is_set():
                touched.add(id(self))
            return super().__getattribute__(name)

    monkeypatch.setattr(models, "Message", WatchedMessage)  # what SQSBackend.send_message builds
    url = new_queue()
    queue = moto_queue(url)
    backend = models.sqs_backends[queue.account_id][REGION]
    for i in range(10_000):  # in-process: 10,000 sends through HTTP would only slow the test
        backend.send_message(queue.name, f"m-{i}")

    def touches(call: Callable[[], Any]) -> int:
        touched.clear()
        watching.set()
        try:
            call()
        finally:
            watching.clear()
        return len(touched)

    assert touches(lambda: queue.messages) >= 10_000  # the instrument sees a scan of the queue
    received: list[dict] = []
    assert touches(lambda: received.extend(receive(sqs, url))) <= 20  # 10 messages and the 10 copies returned
    assert len(received) == 10
    entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(received)]
    assert touches(lambda: sqs.delete_message_batch(QueueUrl=url, Entries=entries)) <= 10
    assert touches(lambda: send(sqs, url, [f"n-{i}" for i in range(10)])) <= 10
    assert touches(lambda: counts(sqs, url)) == 0
    assert counts(sqs, url) == (10_000, 0, 0)
