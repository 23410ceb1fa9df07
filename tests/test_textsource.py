"""The text source against a loopback Wikipedia summary API: what each answer becomes.

Retries, waits, the deadline and network failures are in tests/test_textsource_retries.py.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import urllib3

from lib import PROJECT_NAME, __version__, textsource
from lib.limits import TEXT_MAX_BODY_BYTES, TEXT_MAX_REDIRECTS
from lib.textsource import (
    NotModified,
    PermanentTextError,
    Summary,
    TextSource,
    TransientTextError,
    summary_url,
    user_agent,
)
from tests.textsource_fixture import APPLE, APPLE_TEXT, CONTACT
from tests.wiki_fixture import SUMMARY_PREFIX, Scripted

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
