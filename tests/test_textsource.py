"""The text source against a loopback Wikipedia summary API: what each answer becomes."""

from __future__ import annotations

import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
import urllib3

from lib import PROJECT_NAME, __version__, textsource
from lib.limits import TEXT_MAX_ATTEMPTS, TEXT_MAX_BODY_BYTES, TEXT_MAX_REDIRECTS, TEXT_MAX_RETRY_AFTER
from lib.textsource import (
    NotModified,
    PermanentTextError,
    Summary,
    TextSource,
    TransientTextError,
    retry_after_seconds,
    summary_url,
    user_agent,
)
from tests.wiki_fixture import SUMMARY_PREFIX, Scripted

CONTACT = "https://example.org/watchlist-pipeline; ops@example.org"
APPLE = "Apple Inc."
APPLE_TEXT = "Apple Inc. is an American multinational technology company headquartered in Cupertino, California."


class FakeTime:
    """A clock that only moves when the code under test sleeps, so no test waits for real."""

    def __init__(self, start: float = 1_000.0):
        self.now = start
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def source(wiki_server, fake_time):
    text_source = TextSource(wiki_server.base_url, CONTACT, sleep=fake_time.sleep, clock=fake_time.clock)
    yield text_source
    text_source.close()


def _backoff_bounds(attempt: int) -> tuple[float, float]:
    step = 0.5 * 2 ** (attempt - 1)
    return step / 2, step


# -- fresh answers ---------------------------------------------------------------------------


def test_existing_page_returns_its_summary(wiki_server, source):
    # GIVEN a page the API knows
    wiki_server.add_page(APPLE, APPLE_TEXT)
    # WHEN its summary is fetched
    result = source.fetch_summary(APPLE)
    # THEN the title, text, ETag and desktop page URL come from the answer
    assert result == Summary(
        title=APPLE,
        text=APPLE_TEXT,
        etag=wiki_server.etag_for(APPLE),
        source_url="https://en.wikipedia.org/wiki/Apple_Inc.",
    )


def test_request_asks_for_json_without_a_condition_when_no_etag_is_stored(wiki_server, source):
    # GIVEN a page and no stored ETag
    wiki_server.add_page(APPLE, APPLE_TEXT)
    # WHEN its summary is fetched
    source.fetch_summary(APPLE)
    # THEN the request accepts JSON and is unconditional
    (request,) = wiki_server.requests
    assert request.header("Accept") == "application/json"
    assert request.header("If-None-Match") is None


def test_redirect_is_followed_and_the_summary_names_the_target(wiki_server, source):
    # GIVEN a title that redirects to the article
    wiki_server.add_page(APPLE, APPLE_TEXT)
    wiki_server.add_redirect("Apple Computer", APPLE)
    # WHEN the redirecting title is fetched
    result = source.fetch_summary("Apple Computer")
    # THEN the relative Location was followed and the summary carries the target's title
    assert isinstance(result, Summary)
    assert result.title == APPLE
    assert result.text == APPLE_TEXT
    assert [r.path for r in wiki_server.requests] == [SUMMARY_PREFIX + "Apple_Computer", SUMMARY_PREFIX + "Apple_Inc."]


def test_redirect_loop_stops_after_the_redirect_limit(wiki_server, source):
    # GIVEN two titles redirecting to each other
    wiki_server.add_redirect("Ping", "Pong")
    wiki_server.add_redirect("Pong", "Ping")
    # WHEN one of them is fetched
    with pytest.raises(PermanentTextError) as exc:
        source.fetch_summary("Ping")
    # THEN the loop is cut after the allowed number of redirects
    assert exc.value.reason == "too_many_redirects"
    assert len(wiki_server.requests) == TEXT_MAX_REDIRECTS + 1


# -- permanent answers -----------------------------------------------------------------------


def test_unknown_title_is_not_found(wiki_server, source):
    # GIVEN an API that does not know the title
    # WHEN it is fetched
    with pytest.raises(PermanentTextError) as exc:
        source.fetch_summary("No Such Company Ltd")
    # THEN the failure is permanent and says why, after a single request
    assert exc.value.reason == "not_found"
    assert exc.value.status == 404
    assert len(wiki_server.requests) == 1


def test_disambiguation_page_is_refused(wiki_server, source):
    # GIVEN a title that names a disambiguation page
    wiki_server.add_page("Mercury", "Mercury may refer to:", type="disambiguation")
    # WHEN it is fetched
    with pytest.raises(PermanentTextError) as exc:
        source.fetch_summary("Mercury")
    # THEN its "may refer to" text is not passed off as the company's description
    assert exc.value.reason == "disambiguation"


def test_page_without_extract_is_refused(wiki_server, source):
    # GIVEN a page whose summary has no text
    wiki_server.add_page("Empty Corp", "", type="no-extract")
    # WHEN it is fetched
    with pytest.raises(PermanentTextError) as exc:
        source.fetch_summary("Empty Corp")
    # THEN there is nothing to analyse
    assert exc.value.reason == "no_extract"


def test_other_client_error_is_permanent_with_its_status_in_the_reason(wiki_server, source):
    # GIVEN an API that forbids the request
    wiki_server.script(APPLE, Scripted(403, {"Content-Type": "text/plain"}, "forbidden"))
    # WHEN the title is fetched
    with pytest.raises(PermanentTextError) as exc:
        source.fetch_summary(APPLE)
    # THEN the failure is permanent, named after the status, and not retried
    assert exc.value.reason == "http_403"
    assert len(wiki_server.requests) == 1


@pytest.mark.parametrize("title", ["", "   "])
def test_empty_title_is_refused_without_a_request(wiki_server, source, title):
    # GIVEN an empty title
    # WHEN it is fetched
    with pytest.raises(PermanentTextError) as exc:
        source.fetch_summary(title)
    # THEN nothing is sent
    assert exc.value.reason == "bad_title"
    assert wiki_server.requests == []


# -- conditional requests --------------------------------------------------------------------


def test_stored_etag_is_sent_and_an_unchanged_page_is_not_modified(wiki_server, source):
    # GIVEN a page fetched once, its ETag stored
    wiki_server.add_page(APPLE, APPLE_TEXT)
    first = source.fetch_summary(APPLE)
    # WHEN it is fetched again with that ETag
    second = source.fetch_summary(APPLE, etag=first.etag)
    # THEN the request was conditional and the answer says the stored text is current
    assert second == NotModified(etag=first.etag)
    assert wiki_server.requests[-1].header("If-None-Match") == first.etag


def test_stored_etag_of_a_changed_page_returns_the_new_text(wiki_server, source):
    # GIVEN a page fetched once, then edited
    wiki_server.add_page(APPLE, APPLE_TEXT)
    old = source.fetch_summary(APPLE)
    wiki_server.add_page(APPLE, APPLE_TEXT + " It was founded in 1976.")
    # WHEN it is fetched with the old ETag
    new = source.fetch_summary(APPLE, etag=old.etag)
    # THEN the new text and its new ETag come back
    assert isinstance(new, Summary)
    assert new.text.endswith("It was founded in 1976.")
    assert new.etag == wiki_server.etag_for(APPLE) != old.etag


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
    low, high = _backoff_bounds(1)
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
        low, high = _backoff_bounds(attempt)
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


# -- bad bodies ------------------------------------------------------------------------------


@pytest.mark.parametrize("body", ["{not json", "[1, 2, 3]", "\xff\xfe not utf-8"])
def test_unreadable_summary_is_malformed_and_not_retried_here(wiki_server, source, body):
    # GIVEN an API answering 200 with something that is not a JSON object
    raw = body.encode("latin-1")
    wiki_server.script(APPLE, Scripted(200, {"Content-Type": "application/json"}, raw))
    # WHEN the title is fetched
    with pytest.raises(TransientTextError) as exc:
        source.fetch_summary(APPLE)
    # THEN the failure is transient (the queue retries) after a single request
    assert exc.value.reason == "malformed"
    assert len(wiki_server.requests) == 1


def test_body_declared_over_the_cap_is_refused(wiki_server, source):
    # GIVEN a page whose summary is bigger than the body cap
    wiki_server.add_page("Huge Corp", "x" * (TEXT_MAX_BODY_BYTES + 1))
    # WHEN it is fetched
    with pytest.raises(PermanentTextError) as exc:
        source.fetch_summary("Huge Corp")
    # THEN it is refused as too large
    assert exc.value.reason == "too_large"


def test_streamed_body_over_the_cap_is_refused(wiki_server, source):
    # GIVEN a chunked answer, with no Content-Length, that runs past the cap
    body = b'{"extract": "' + b"x" * (TEXT_MAX_BODY_BYTES + 1) + b'"}'
    wiki_server.script(APPLE, Scripted(200, {"Content-Type": "application/json"}, body, chunked=True))
    # WHEN the title is fetched
    with pytest.raises(PermanentTextError) as exc:
        source.fetch_summary(APPLE)
    # THEN reading stops at the cap
    assert exc.value.reason == "too_large"


def test_streamed_body_under_the_cap_is_read(wiki_server, source):
    # GIVEN a chunked answer within the cap
    body = '{"type": "standard", "title": "Apple Inc.", "extract": "Chunked text."}'
    wiki_server.script(APPLE, Scripted(200, {"Content-Type": "application/json"}, body, chunked=True))
    # WHEN the title is fetched
    result = source.fetch_summary(APPLE)
    # THEN the text arrives and, with no content_urls, the fetched URL stands in as the source
    assert result == Summary(APPLE, "Chunked text.", None, summary_url(wiki_server.base_url, APPLE))


# -- titles and identity ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("title", "encoded"),
    [
        ("AT&T", "AT%26T"),
        ("Procter & Gamble", "Procter_%26_Gamble"),
        ("Nestlé", "Nestl%C3%A9"),
        ("a/b?c#d", "a%2Fb%3Fc%23d"),
        ("100% Juice", "100%25_Juice"),
        ("Yahoo!: Japan", "Yahoo%21%3A_Japan"),
    ],
)
def test_title_reaches_the_server_fully_percent_encoded(wiki_server, source, title, encoded):
    # GIVEN a page whose title holds reserved or non-ASCII characters
    wiki_server.add_page(title, f"{title} is a company.")
    # WHEN it is fetched
    result = source.fetch_summary(title)
    # THEN the path carries the encoded title and the server found the page by it
    assert [r.path for r in wiki_server.requests] == [SUMMARY_PREFIX + encoded]
    assert result.title == title


def test_summary_url_joins_base_and_encoded_title():
    # GIVEN a base URL with a trailing slash
    # WHEN a title's URL is built
    url = summary_url("https://en.wikipedia.org/api/rest_v1/", "AT&T")
    # THEN the slash is not doubled and the title is encoded
    assert url == "https://en.wikipedia.org/api/rest_v1/page/summary/AT%26T"


def test_user_agent_names_project_version_and_contact(wiki_server, source):
    # GIVEN a page
    wiki_server.add_page(APPLE, APPLE_TEXT)
    # WHEN it is fetched
    source.fetch_summary(APPLE)
    # THEN the User-Agent follows Wikimedia's policy: tool/version, contact, library
    agent = wiki_server.requests[0].header("User-Agent")
    assert agent == f"{PROJECT_NAME}/{__version__} ({CONTACT}) urllib3/{urllib3.__version__}"
    assert agent == user_agent(CONTACT)


@pytest.mark.parametrize("contact", ["", "  ", "ops@example.org\r\nX-Evil: 1"])
def test_user_agent_refuses_a_missing_or_unsafe_contact(contact):
    # GIVEN a contact that is empty or would split the header
    # WHEN a User-Agent is built
    # THEN it is refused
    with pytest.raises(ValueError):
        user_agent(contact)


# -- sharing ---------------------------------------------------------------------------------


def test_one_lazily_created_pool_serves_concurrent_fetches(wiki_server, fake_time, monkeypatch):
    # GIVEN a source with no pool yet, and a count of pools created
    created = []
    real_pool_manager = urllib3.PoolManager

    def counting_pool_manager(*args, **kwargs):
        created.append(threading.get_ident())
        return real_pool_manager(*args, **kwargs)

    monkeypatch.setattr(textsource.urllib3, "PoolManager", counting_pool_manager)
    titles = [f"Company {n}" for n in range(16)]
    for title in titles:
        wiki_server.add_page(title, f"{title} makes things.")
    source = TextSource(wiki_server.base_url, CONTACT, sleep=fake_time.sleep, clock=fake_time.clock)
    assert created == []
    # WHEN eight threads fetch at once
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(source.fetch_summary, titles))
    # THEN every fetch succeeded through a single pool
    assert [r.title for r in results] == titles
    assert len(created) == 1
    source.close()
