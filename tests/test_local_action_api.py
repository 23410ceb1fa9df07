"""The loopback Action API's answers have the shapes MediaWiki documents (action_api.py names the pages),
read raw over HTTP, without the project's client, so a shape the client merely tolerates cannot pass."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from urllib.parse import urlencode

import pytest

from tests.wiki_fixture import Page

BASE = {"action": "query", "format": "json", "formatversion": "2"}


def get(server, **params):
    """(status, headers, JSON body) of one raw GET."""
    url = f"{server.api_url}?{urlencode({**BASE, **params})}"
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - loopback only
        return response.status, dict(response.headers), json.loads(response.read())


def test_pages_come_by_page_id_with_missing_and_invalid_ones_first(wiki_server):
    # GIVEN two pages, created in this order
    wiki_server.add_page("Zeta", "Zeta is a company.")
    wiki_server.add_page("Alpha", "Alpha is a company.")
    # WHEN they are asked for with a missing and an invalid title, in another order
    _, _, body = get(wiki_server, titles="Alpha|Nothing Here|A<b|Zeta", prop="info")
    # THEN the missing and invalid titles come first, then the pages by page id
    pages = body["query"]["pages"]
    assert pages[0] == {"ns": 0, "title": "Nothing Here", "missing": True}
    assert pages[1]["invalid"] is True and pages[1]["title"] == "A<b" and "invalidreason" in pages[1]
    assert [p["title"] for p in pages[2:]] == ["Zeta", "Alpha"]
    assert body["batchcomplete"] is True


def test_titles_are_normalised_and_redirects_reported(wiki_server):
    wiki_server.add_page("Meta Platforms", "Meta Platforms runs social networks.")
    wiki_server.add_redirect("Facebook", "Meta Platforms")
    _, _, body = get(wiki_server, titles="meta_Platforms|facebook", redirects="1", prop="info")
    assert body["query"]["normalized"] == [
        {"fromencoded": False, "from": "meta_Platforms", "to": "Meta Platforms"},
        {"fromencoded": False, "from": "facebook", "to": "Facebook"},
    ]
    assert body["query"]["redirects"] == [{"from": "Facebook", "to": "Meta Platforms"}]
    assert [p["title"] for p in body["query"]["pages"]] == ["Meta Platforms"]


def test_info_gives_lastrevid_and_urls_and_a_rewrite_gives_a_larger_revision(wiki_server):
    wiki_server.add_page("Netflix", "Netflix streams.")
    _, _, before = get(wiki_server, titles="Netflix", prop="info", inprop="url")
    page = before["query"]["pages"][0]
    assert set(page) >= {"pageid", "ns", "title", "contentmodel", "touched", "lastrevid", "length", "fullurl"}
    assert page["fullurl"] == "https://en.wikipedia.org/wiki/Netflix"
    wiki_server.add_page("Netflix", "Netflix streams films.")
    wiki_server.touch_page("Netflix")
    _, _, after = get(wiki_server, titles="Netflix", prop="info")
    assert after["query"]["pages"][0]["lastrevid"] == page["lastrevid"] + 2
    assert after["query"]["pages"][0]["pageid"] == page["pageid"]


def test_the_same_text_again_is_no_new_revision(wiki_server):
    first = wiki_server.add_page("Netflix", "Netflix streams.")
    assert wiki_server.add_page("Netflix", "Netflix streams.").revision == first.revision


def test_a_disambiguation_page_has_the_disambiguation_page_prop(wiki_server):
    wiki_server.add_page("Mercury", Page("Mercury may refer to a planet or an element.", "disambiguation"))
    _, _, body = get(wiki_server, titles="Mercury", prop="info|pageprops", ppprop="disambiguation")
    assert body["query"]["pages"][0]["pageprops"] == {"disambiguation": ""}


def test_extracts_stop_at_twenty_and_continue_where_they_stopped(wiki_server):
    titles = [f"Company {n:02d}" for n in range(25)]
    for title in titles:
        wiki_server.add_page(title, f"{title} makes things.")
    params = {"titles": "|".join(titles), "prop": "info|extracts", "exintro": "1", "explaintext": "1", "exlimit": "max"}
    _, _, first = get(wiki_server, **params)
    assert sum("extract" in p for p in first["query"]["pages"]) == 20
    assert first["continue"] == {"excontinue": 20, "continue": "-||info|pageprops"}
    _, _, second = get(wiki_server, **params, **first["continue"])
    with_extract = [p for p in second["query"]["pages"] if "extract" in p]
    assert len(with_extract) == 5 and "continue" not in second
    assert all("lastrevid" not in p for p in second["query"]["pages"])  # info finished in the first answer


def test_more_than_fifty_titles_is_an_error(wiki_server):
    _, headers, body = get(wiki_server, titles="|".join(f"T{n}" for n in range(51)), prop="info")
    assert body["error"]["code"] == "toomanyvalues" and headers["MediaWiki-API-Error"] == "toomanyvalues"


def test_a_lagged_wiki_answers_maxlag_with_200_retry_after_and_the_lag(wiki_server):
    wiki_server.add_page("Netflix", "Netflix streams.")
    wiki_server.lag = 9
    status, headers, body = get(wiki_server, titles="Netflix", prop="info", maxlag="5")
    assert status == 200
    assert (headers["Retry-After"], headers["X-Database-Lag"], headers["MediaWiki-API-Error"]) == ("5", "9", "maxlag")
    assert body["error"]["code"] == "maxlag" and body["error"]["lag"] == 9 and body["error"]["type"] == "db"
    # A request without maxlag, or with a larger one, is answered.
    assert "query" in get(wiki_server, titles="Netflix", prop="info", maxlag="10")[2]


def test_the_server_counts_requests_and_the_most_in_flight(wiki_server):
    # GIVEN four clients asking at once while the server holds each answer a moment
    wiki_server.add_page("Netflix", "Netflix streams.")
    original, release = wiki_server._answer, threading.Event()

    def slow(request):
        release.wait(5)
        return original(request)

    wiki_server._answer = slow
    threads = [threading.Thread(target=get, args=(wiki_server,), kwargs={"titles": "Netflix"}) for _ in range(4)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 10
    while wiki_server.in_flight < 4 and time.monotonic() < deadline:
        threading.Event().wait(0.01)
    release.set()
    for thread in threads:
        thread.join()
    # THEN it served four and saw four in flight at once
    assert (wiki_server.requests_served, wiki_server.peak_in_flight) == (4, 4)


@pytest.mark.parametrize("params", [{"format": "xml"}, {"formatversion": "1"}, {"action": "parse"}])
def test_anything_but_a_json_v2_query_is_refused(wiki_server, params):
    assert get(wiki_server, titles="Netflix", **params)[2]["error"]["code"] == "badvalue"
