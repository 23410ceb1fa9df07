"""The text source's retries against a loopback Wikipedia summary API: throttling and server errors waited out
within the attempt budget and the deadline, and network failures (timeouts, resets, refusals)."""

from __future__ import annotations

import socket
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from lib.limits import TEXT_MAX_ATTEMPTS, TEXT_MAX_RETRY_AFTER
from lib.textsource import (
    Summary,
    TextSource,
    TransientTextError,
    retry_after_seconds,
)
from tests.textsource_fixture import APPLE, APPLE_TEXT, CONTACT, backoff_bounds
from tests.wiki_fixture import Scripted

# -- throttling and server errors ------------------------------------------------------------


def test_retry_after_seconds_is_waited_then_the_page_is_returned(wiki_server, source, fake_time):
    # GIVEN an API that throttles the first request for 2 seconds
    wiki_server.add_page(APPLE, APPLE_TEXT)
    wiki_server.script(APPLE, Scripted(429, {"Retry-After": "2"}))
    # WHEN the title is fetched
    result = source.fetch_summary(APPLE)
    # THEN exactly the asked-for wait passed before the second, successful request
    assert fake_time.sleeps == [2.0]
    assert len(wiki_server.requests) == 2
    assert isinstance(result, Summary)


def test_retry_after_above_the_limit_gives_up_at_once(wiki_server, source, fake_time):
    # GIVEN an API that asks for a wait longer than a Lambda should idle
    wiki_server.add_page(APPLE, APPLE_TEXT)
    wiki_server.script(APPLE, Scripted(429, {"Retry-After": str(int(TEXT_MAX_RETRY_AFTER) + 1)}))
    # WHEN the title is fetched
    with pytest.raises(TransientTextError) as exc:
        source.fetch_summary(APPLE)
    # THEN the record goes back to the queue after one request and no wait
    assert exc.value.reason == "retry_after_too_long"
    assert exc.value.retry_after == TEXT_MAX_RETRY_AFTER + 1
    assert len(wiki_server.requests) == 1
    assert fake_time.sleeps == []


def test_retry_after_as_a_distant_http_date_gives_up_at_once(wiki_server, source, fake_time):
    # GIVEN a 503 whose Retry-After is an HTTP-date an hour away
    wiki_server.add_page(APPLE, APPLE_TEXT)
    later = format_datetime(datetime.now(UTC) + timedelta(hours=1), usegmt=True)
    wiki_server.script(APPLE, Scripted(503, {"Retry-After": later}))
    # WHEN the title is fetched
    with pytest.raises(TransientTextError) as exc:
        source.fetch_summary(APPLE)
    # THEN it is treated like a too-long wait in seconds
    assert exc.value.reason == "retry_after_too_long"
    assert len(wiki_server.requests) == 1


def test_retry_after_http_date_is_read_as_the_seconds_until_it():
    # GIVEN a fixed wall clock and an HTTP-date 7 seconds after it, and one already past
    now = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC).timestamp()
    # WHEN the header values are read
    # THEN the date becomes the remaining seconds and a past date no wait at all
    assert retry_after_seconds("Sat, 01 Mar 2025 12:00:07 GMT", now=lambda: now) == 7.0
    assert retry_after_seconds("Sat, 01 Mar 2025 11:00:00 GMT", now=lambda: now) == 0.0
    assert retry_after_seconds("soon", now=lambda: now) is None


def test_server_error_is_retried_with_jittered_backoff_then_succeeds(wiki_server, source, fake_time):
    # GIVEN an API that fails once with a 500 and no Retry-After
    wiki_server.add_page(APPLE, APPLE_TEXT)
    wiki_server.script(APPLE, Scripted(500, body="oops"))
    # WHEN the title is fetched
    result = source.fetch_summary(APPLE)
    # THEN one backoff wait within the first step's bounds preceded the successful retry
    assert isinstance(result, Summary)
    (wait,) = fake_time.sleeps
    low, high = backoff_bounds(1)
    assert low <= wait <= high


def test_server_error_on_every_attempt_ends_transient_after_the_attempt_budget(wiki_server, source, fake_time):
    # GIVEN an API that answers 500 every time
    wiki_server.add_page(APPLE, APPLE_TEXT)
    wiki_server.script(APPLE, *[Scripted(500)] * TEXT_MAX_ATTEMPTS)
    # WHEN the title is fetched
    with pytest.raises(TransientTextError) as exc:
        source.fetch_summary(APPLE)
    # THEN exactly the attempt budget was spent, with growing backoff between attempts
    assert exc.value.reason == "http_5xx"
    assert len(wiki_server.requests) == TEXT_MAX_ATTEMPTS
    assert len(fake_time.sleeps) == TEXT_MAX_ATTEMPTS - 1
    for attempt, wait in enumerate(fake_time.sleeps, start=1):
        low, high = backoff_bounds(attempt)
        assert low <= wait <= high


def test_throttling_on_every_attempt_ends_as_http_429(wiki_server, source, fake_time):
    # GIVEN an API that throttles every request with a short Retry-After
    wiki_server.add_page(APPLE, APPLE_TEXT)
    wiki_server.script(APPLE, *[Scripted(429, {"Retry-After": "1"})] * TEXT_MAX_ATTEMPTS)
    # WHEN the title is fetched
    with pytest.raises(TransientTextError) as exc:
        source.fetch_summary(APPLE)
    # THEN every attempt was used, each wait as asked
    assert exc.value.reason == "http_429"
    assert len(wiki_server.requests) == TEXT_MAX_ATTEMPTS
    assert fake_time.sleeps == [1.0] * (TEXT_MAX_ATTEMPTS - 1)


# -- deadline --------------------------------------------------------------------------------


def test_wait_that_would_pass_the_deadline_gives_up_at_once(wiki_server, source, fake_time):
    # GIVEN one second left before the deadline and an API asking for a 5 second wait
    wiki_server.add_page(APPLE, APPLE_TEXT)
    wiki_server.script(APPLE, Scripted(429, {"Retry-After": "5"}))
    # WHEN the title is fetched
    with pytest.raises(TransientTextError) as exc:
        source.fetch_summary(APPLE, deadline=fake_time.now + 1.0)
    # THEN the record is handed back without waiting
    assert exc.value.reason == "deadline"
    assert fake_time.sleeps == []
    assert len(wiki_server.requests) == 1


def test_passed_deadline_sends_no_request(wiki_server, source, fake_time):
    # GIVEN a deadline already behind the clock
    wiki_server.add_page(APPLE, APPLE_TEXT)
    # WHEN the title is fetched
    with pytest.raises(TransientTextError) as exc:
        source.fetch_summary(APPLE, deadline=fake_time.now - 0.5)
    # THEN nothing is sent
    assert exc.value.reason == "deadline"
    assert wiki_server.requests == []


def test_wait_within_the_deadline_is_taken(wiki_server, source, fake_time):
    # GIVEN ten seconds left and an API asking for a 2 second wait
    wiki_server.add_page(APPLE, APPLE_TEXT)
    wiki_server.script(APPLE, Scripted(429, {"Retry-After": "2"}))
    # WHEN the title is fetched
    result = source.fetch_summary(APPLE, deadline=fake_time.now + 10.0)
    # THEN the wait fits and the retry succeeds
    assert isinstance(result, Summary)
    assert fake_time.sleeps == [2.0]


# -- network failures ------------------------------------------------------------------------


def test_answer_slower_than_the_read_timeout_ends_as_timeout(wiki_server, fake_time):
    # GIVEN a short read timeout and an API that stalls on every attempt
    wiki_server.add_page(APPLE, APPLE_TEXT)
    wiki_server.script(APPLE, *[Scripted(200, delay=1.0)] * TEXT_MAX_ATTEMPTS)
    source = TextSource(wiki_server.base_url, CONTACT, sleep=fake_time.sleep, clock=fake_time.clock, read_timeout=0.2)
    # WHEN the title is fetched
    started = time.monotonic()
    with pytest.raises(TransientTextError) as exc:
        source.fetch_summary(APPLE)
    # THEN each attempt was cut at the timeout and the budget spent
    assert exc.value.reason == "timeout"
    assert len(wiki_server.requests) == TEXT_MAX_ATTEMPTS
    assert time.monotonic() - started < TEXT_MAX_ATTEMPTS * 0.2 + 0.6
    source.close()


def test_one_slow_answer_is_retried(wiki_server, fake_time):
    # GIVEN a short read timeout and an API that stalls once
    wiki_server.add_page(APPLE, APPLE_TEXT)
    wiki_server.script(APPLE, Scripted(200, delay=1.0))
    source = TextSource(wiki_server.base_url, CONTACT, sleep=fake_time.sleep, clock=fake_time.clock, read_timeout=0.2)
    # WHEN the title is fetched
    result = source.fetch_summary(APPLE)
    # THEN the second attempt brings the page
    assert isinstance(result, Summary)
    assert len(wiki_server.requests) == 2
    source.close()


def test_reset_connection_on_every_attempt_ends_as_connection(wiki_server, source):
    # GIVEN an API whose connection is reset on every attempt
    wiki_server.add_page(APPLE, APPLE_TEXT)
    wiki_server.script(APPLE, *[Scripted.connection_reset()] * TEXT_MAX_ATTEMPTS)
    # WHEN the title is fetched
    with pytest.raises(TransientTextError) as exc:
        source.fetch_summary(APPLE)
    # THEN the budget was spent and the failure named
    assert exc.value.reason == "connection"
    assert len(wiki_server.requests) == TEXT_MAX_ATTEMPTS


def test_one_reset_connection_is_retried(wiki_server, source):
    # GIVEN an API that resets the first connection
    wiki_server.add_page(APPLE, APPLE_TEXT)
    wiki_server.script(APPLE, Scripted.connection_reset())
    # WHEN the title is fetched
    result = source.fetch_summary(APPLE)
    # THEN the retry brings the page
    assert isinstance(result, Summary)
    assert len(wiki_server.requests) == 2


@pytest.mark.servers  # binds a socket to find a loopback port nobody listens on
def test_refused_connection_ends_as_connection(fake_time):
    # GIVEN a loopback port nobody listens on
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    source = TextSource(f"http://127.0.0.1:{port}/api/rest_v1", CONTACT, sleep=fake_time.sleep, clock=fake_time.clock)
    # WHEN a title is fetched
    with pytest.raises(TransientTextError) as exc:
        source.fetch_summary(APPLE)
    # THEN every attempt was refused and the failure is transient
    assert exc.value.reason == "connection"
    assert len(fake_time.sleeps) == TEXT_MAX_ATTEMPTS - 1
