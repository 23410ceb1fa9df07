"""The invocation's deadline (docs/design.md rule 11): its arithmetic, and the hooks that hold every attempt of
the pipeline's AWS clients to it."""

from __future__ import annotations

import json
import math
import socket
import time
from types import SimpleNamespace

import pytest
from botocore.exceptions import ClientError

from lib import clients
from lib.batch import BatchFailed
from lib.clients import DeadlineReached, bounded_by, longest_backoff
from lib.clock import NO_CONTEXT_SECONDS, Deadline
from lib.concurrency import in_parallel
from lib.config import ProducerConfig
from lib.limits import (
    AWS_CONNECT_TIMEOUT,
    AWS_MIN_ATTEMPT_SECONDS,
    AWS_READ_TIMEOUT,
    DEADLINE_MARGIN_SECONDS,
    SEND_RESERVE_SECONDS,
)
from lib.producer import queue_tick
from tests.conftest import put_companies
from tests.consumer_fixture import chunk
from tests.test_producer import drain, load_handler

TICK_TIME = "2026-11-27T12:00:00Z"


class FakeClock:
    """A monotonic clock that moves only when a test says so (a slow service moves it by its answer time)."""

    def __init__(self, now: float = 500.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def context(millis: int) -> SimpleNamespace:
    """The one method of Lambda's context object the handlers read."""
    return SimpleNamespace(get_remaining_time_in_millis=lambda: millis)


@pytest.fixture
def fresh_clients():
    clients.reset()
    yield clients
    clients.reset()


# -- arithmetic -------------------------------------------------------------------------------------


def test_the_invocation_deadline_is_the_remaining_time_less_the_margin():
    clock = FakeClock(100.0)
    deadline = Deadline.of_invocation(context(30_000), clock=clock)
    assert deadline.at == 100.0 + 30.0 - DEADLINE_MARGIN_SECONDS
    assert deadline.left() == 30.0 - DEADLINE_MARGIN_SECONDS
    clock.now += 10.0
    assert deadline.left() == 20.0 - DEADLINE_MARGIN_SECONDS


def test_without_a_context_the_invocation_has_the_assumed_minute():
    clock = FakeClock(0.0)
    assert Deadline.of_invocation(None, clock=clock).at == NO_CONTEXT_SECONDS - DEADLINE_MARGIN_SECONDS


def test_an_invocation_shorter_than_the_margin_has_no_time_at_all():
    clock = FakeClock(0.0)
    deadline = Deadline.of_invocation(context(200), clock=clock)
    assert deadline.left() == 0.0 and not deadline.allows(0.001)


def test_an_earlier_phase_leaves_its_reserve_and_keeps_the_clock():
    clock = FakeClock(0.0)
    phase = Deadline(50.0, clock).earlier(20.0)
    assert phase.at == 30.0 and phase.allows(30.0) and not phase.allows(30.001)
    clock.now = 31.0
    assert phase.left() == -1.0


def test_no_deadline_allows_anything():
    assert Deadline.never().left() == math.inf and Deadline.never().earlier(1e9).allows(1e12)


@pytest.mark.parametrize(
    ("attempt", "retry_after", "wait"), [(1, False, 1.0), (2, False, 2.0), (5, False, 16.0), (6, False, 20.0),
                                         (9, False, 20.0), (1, True, 6.0)]
)  # fmt: skip
def test_the_longest_backoff_follows_botocores_standard_mode(attempt, retry_after, wait):
    assert longest_backoff(attempt, retry_after) == wait


# -- the clients' hooks ------------------------------------------------------------------------------


def comprehend_call():
    return clients.client("comprehend").batch_detect_sentiment(TextList=["record growth"], LanguageCode="en")


def test_an_attempt_without_time_to_connect_and_read_is_never_sent(aws_credentials, comprehend_server, fresh_clients):
    # GIVEN less time than a connect timeout and the shortest read
    deadline = Deadline.after(AWS_MIN_ATTEMPT_SECONDS - 0.5)
    # WHEN the pipeline's client is called THEN it refuses, and Comprehend saw nothing
    with bounded_by(deadline), pytest.raises(DeadlineReached):
        comprehend_call()
    assert comprehend_server.calls == []


def test_a_call_with_time_for_its_attempt_is_made(aws_credentials, comprehend_server, fresh_clients):
    clock = FakeClock()  # standing still: a loaded machine's slowness does not eat the half second
    with bounded_by(Deadline(clock.now + AWS_MIN_ATTEMPT_SECONDS + 0.5, clock)):
        assert comprehend_call()["ResultList"][0]["Sentiment"] == "POSITIVE"
    assert comprehend_server.operations() == ["BatchDetectSentiment"]


@pytest.mark.parametrize(
    ("left", "read_timeout"), [(100.0, AWS_READ_TIMEOUT), (AWS_CONNECT_TIMEOUT + 4.0, 4.0)]
)  # fmt: skip
def test_each_attempt_reads_for_at_most_the_time_left_after_connecting(
    aws_credentials, comprehend_server, fresh_clients, left, read_timeout
):
    # GIVEN a hook after the guard's that sees each attempt's request as botocore sends it
    seen = []
    clients.client("comprehend").meta.events.register("before-send", lambda request, **_: seen.append(request.context))
    clock = FakeClock()
    # WHEN a call is made with `left` seconds to the deadline
    with bounded_by(Deadline(clock.now + left, clock)):
        comprehend_call()
    # THEN its read timeout, which botocore takes from the request's context, is the configured one or what is left
    assert [context["read_timeout"] for context in seen] == [read_timeout]


@pytest.mark.parametrize(
    ("setting", "read_timeout"), [("30", 30.0), ("", AWS_READ_TIMEOUT), ("soon", AWS_READ_TIMEOUT)]
)
def test_local_modes_longer_read_timeout_applies_to_each_attempt_and_the_deadline_still_cuts_it(
    aws_credentials, comprehend_server, fresh_clients, monkeypatch, setting, read_timeout
):
    # GIVEN the read timeout local mode sets for its functions (or none, or a value that is not a number)
    monkeypatch.setenv(clients.READ_TIMEOUT_VARIABLE, setting)
    seen = []
    clients.client("comprehend").meta.events.register("before-send", lambda request, **_: seen.append(request.context))
    clock = FakeClock()
    # WHEN a call is made with plenty of time left, then one with 4 s to read
    for left in (100.0, AWS_CONNECT_TIMEOUT + 4.0):
        with bounded_by(Deadline(clock.now + left, clock)):
            comprehend_call()
    # THEN the first reads for the setting (the limit when the setting is unusable), the second for the time left
    assert [context["read_timeout"] for context in seen] == [read_timeout, 4.0]


@pytest.mark.servers  # a loopback socket that never answers
def test_a_stalled_service_is_given_up_on_by_the_deadline_not_after_its_timeouts_and_retries(
    aws_credentials, monkeypatch, fresh_clients
):
    # GIVEN an endpoint that takes connections and never answers (10 s read timeouts and 8 retries: minutes)
    with socket.socket() as stalled:
        stalled.bind(("127.0.0.1", 0))
        stalled.listen(16)
        monkeypatch.setenv("AWS_ENDPOINT_URL_COMPREHEND", f"http://127.0.0.1:{stalled.getsockname()[1]}")
        clients.client("comprehend")  # made before the clock starts
        started = time.monotonic()
        # WHEN the pipeline's client calls it with 4 s to the deadline
        with bounded_by(Deadline.after(4.0)), pytest.raises(DeadlineReached):
            comprehend_call()
        # THEN the call gave up before the deadline: one read cut to the 2 s left after connecting, no retry
        assert time.monotonic() - started < 4.0


# With the clock standing still, retry k goes ahead while its longest backoff fits in the time spare beyond one
# attempt: 1 s after the first attempt, 2 s after the second, then 4, 8, 16.
@pytest.mark.parametrize(
    ("spare", "attempts"), [(0.5, 1), (longest_backoff(1) + 0.5, 2), (longest_backoff(4) + 0.5, 5)]
)
def test_retries_stop_when_the_backoff_and_the_next_attempt_would_outlast_the_deadline(
    aws_credentials, comprehend_server, fresh_clients, spare, attempts
):
    # GIVEN a Comprehend failing every call with a retryable 500, and a clock that stands still
    comprehend_server.faults.extend([(500, "InternalServerException")] * 9)
    clock = FakeClock()
    deadline = Deadline(clock.now + AWS_MIN_ATTEMPT_SECONDS + spare, clock)
    # WHEN the pipeline's client is called THEN it makes only the attempts whose backoff and timeouts fit
    with bounded_by(deadline), pytest.raises(DeadlineReached):
        comprehend_call()
    assert len(comprehend_server.calls) == attempts


def test_an_error_botocore_does_not_retry_is_raised_as_it_is(aws_credentials, comprehend_server, fresh_clients):
    comprehend_server.faults.append((400, "InvalidRequestException"))
    clock = FakeClock()
    with bounded_by(Deadline(clock.now + AWS_MIN_ATTEMPT_SECONDS + 0.5, clock)), pytest.raises(ClientError) as caught:
        comprehend_call()
    assert caught.value.response["Error"]["Code"] == "InvalidRequestException"


def test_outside_any_bound_the_clients_call_as_before(aws_credentials, comprehend_server, fresh_clients):
    assert comprehend_call()["ResultList"]


def test_the_bound_follows_the_work_onto_the_pipelines_threads(aws_credentials, comprehend_server, fresh_clients):
    # GIVEN a bound with no time left, set in this thread
    with bounded_by(Deadline.after(0.0)):
        # WHEN calls run on lib.concurrency's worker threads THEN they are refused there too
        with pytest.raises(DeadlineReached):
            list(in_parallel(lambda _: comprehend_call(), range(4), 2))
    assert comprehend_server.calls == []


# -- the producer ------------------------------------------------------------------------------------


def test_sends_that_no_longer_fit_leave_their_companies_unqueued_and_counted(resources, fresh_clients):
    # GIVEN 2,500 companies (five SendMessageBatch calls, one more than the producer has in flight) and an SQS
    # whose every answer takes 30 s
    names = [f"C{i:04d}" for i in range(2500)]
    put_companies(resources.table, names)
    clock = FakeClock()

    def slow_answer(**_):
        clock.now += 30.0

    fresh_clients.client("sqs").meta.events.register("after-call.sqs.SendMessageBatch", slow_answer)
    config = ProducerConfig(resources.table, resources.queue_url, 100_000, 300)
    # WHEN the tick has time to scan and for sends to start, but not after a slow answer
    deadline = Deadline(clock.now + SEND_RESERVE_SECONDS + AWS_MIN_ATTEMPT_SECONDS + 1.0, clock)
    summary = queue_tick(config, "r", TICK_TIME, deadline=deadline)
    # THEN the scan finished, some sends were refused, and every planned company is either queued or counted failed
    assert summary["scan_complete"] and summary["planned"] == 2500
    assert summary["failed"] >= 500 and summary["queued"] + summary["failed"] == 2500
    queued = [entry for message in drain(resources.queue_url) for entry in json.loads(message["Body"])["companies"]]
    assert len(queued) == summary["queued"] == len({json.dumps(entry) for entry in queued})


def test_the_consumer_handler_takes_its_deadline_from_lambdas_context(pipeline):
    pipeline.watch({"Quick": "Quick posted record growth."})
    consumer = load_handler("ProducerAI")
    consumer._setup.cache_clear()  # built from this test's environment
    record = chunk(["Quick"])
    # an invocation with 0.4 s left: nothing fits, the record goes back
    with pytest.raises(BatchFailed):
        consumer.lambda_handler({"Records": [record]}, context(400))
    # one with two minutes: it is analysed
    assert consumer.lambda_handler({"Records": [record]}, context(120_000)) == {"batchItemFailures": []}
    consumer._setup.cache_clear()
