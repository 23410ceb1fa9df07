"""The Action API client (lib/wikipedia.py over lib/webclient.py) against the loopback Action API server."""

from __future__ import annotations

import pytest

from lib import PROJECT_NAME, __version__
from lib.limits import TEXT_MAX_ATTEMPTS, WIKI_EXTRACTS_PER_QUERY
from lib.webclient import PermanentTextError, TransientTextError, WebClient
from lib.wikipedia import WIKIS, PageRevision, PageText, Wikipedia, api_url, variant
from tests.wiki_fixture import Page, Scripted
from watchlist_workstation.deploy.template import load_template
from watchlist_workstation.project import TEMPLATE

CONTACT = "https://example.org/watchlist-pipeline"


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
def wiki(wiki_server, fake_time):
    client = WebClient(wiki_server.api_url, CONTACT, sleep=fake_time.sleep, clock=fake_time.clock)
    yield Wikipedia(client)
    client.close()


def test_one_request_gives_the_revisions_of_many_titles(wiki, wiki_server):
    # GIVEN three pages
    for title in ("Netflix", "Intel", "Nokia"):
        wiki_server.add_page(title, f"{title} is a company.")
    # WHEN their revisions are asked for
    answers = wiki.revisions(["Netflix", "Intel", "Nokia"])
    # THEN one request answered all three, each with its page's lastrevid and URL
    assert len(wiki_server.requests) == 1
    assert answers["Intel"] == PageRevision("Intel", wiki_server.revision("Intel"), wiki_server.page_url("Intel"))
    assert len({a.revision for a in answers.values()}) == 3


def test_the_request_is_the_documented_query_with_maxlag_and_a_user_agent(wiki, wiki_server):
    wiki_server.add_page("Netflix", "Netflix streams.")
    wiki.revisions(["Netflix"])
    (request,) = wiki_server.requests
    assert request.path.startswith("/w/api.php?")
    assert dict(request.params) | {"titles": "Netflix"} == {
        "action": "query",
        "format": "json",
        "formatversion": "2",
        "redirects": "1",
        "inprop": "url",
        "ppprop": "disambiguation",
        "maxlag": "5",
        "titles": "Netflix",
        "prop": "info|pageprops",
    }
    assert request.header("User-Agent").startswith(f"{PROJECT_NAME}/{__version__} ({CONTACT}) urllib3/")


def test_normalised_and_redirected_titles_map_back_to_what_was_asked(wiki, wiki_server):
    # GIVEN a page, a lower-case spelling of it and a redirect to it
    wiki_server.add_page("Meta Platforms", "Meta Platforms runs social networks.")
    wiki_server.add_redirect("Facebook, Inc.", "Meta Platforms")
    # WHEN the three spellings are asked for
    answers = wiki.revisions(["meta_Platforms", "Facebook, Inc.", "Meta Platforms"])
    # THEN each requested title is answered with the one page behind it
    assert {answer.title for answer in answers.values()} == {"Meta Platforms"}
    assert set(answers) == {"meta_Platforms", "Facebook, Inc.", "Meta Platforms"}


@pytest.mark.parametrize(
    ("setup", "title", "reason"),
    [
        (lambda s: None, "No Such Company", "not_found"),
        (lambda s: None, "A<b>", "invalid_title"),
        (
            lambda s: s.add_page("Mercury", Page("Mercury may refer to...", "disambiguation")),
            "Mercury",
            "disambiguation",
        ),
    ],
    ids=["missing", "invalid", "disambiguation"],
)
def test_a_title_without_a_usable_page_is_a_permanent_problem(wiki, wiki_server, setup, title, reason):
    setup(wiki_server)
    wiki_server.add_page("Netflix", "Netflix streams.")
    answers = wiki.revisions([title, "Netflix"])
    assert isinstance(answers[title], PermanentTextError) and answers[title].reason == reason
    assert isinstance(answers["Netflix"], PageRevision)


def test_a_title_holding_a_bar_is_sent_with_the_unit_separator_and_found_invalid(wiki, wiki_server):
    wiki_server.add_page("Netflix", "Netflix streams.")
    answers = wiki.revisions(["A|B", "Netflix"])
    assert wiki_server.requests[0].param("titles") == "\x1fA|B\x1fNetflix"
    assert answers["A|B"].reason == "invalid_title" and isinstance(answers["Netflix"], PageRevision)


def test_intros_come_with_the_revision_they_belong_to(wiki, wiki_server):
    wiki_server.add_page("Netflix", "Netflix streams films.")
    answers = wiki.intros(["Netflix"])
    assert answers["Netflix"] == PageText(
        "Netflix", wiki_server.revision("Netflix"), wiki_server.page_url("Netflix"), "Netflix streams films."
    )
    request = wiki_server.requests[0]
    assert request.param("prop") == "info|extracts|pageprops"
    assert (request.param("exintro"), request.param("explaintext"), request.param("exlimit")) == ("1", "1", "max")


def test_intros_of_many_pages_follow_continue_until_every_extract_arrived(wiki, wiki_server, monkeypatch):
    # GIVEN a server that gives at most 3 extracts an answer (as TextExtracts does past its result size)
    from watchlist_workstation.local.textserver import action_api

    monkeypatch.setattr(action_api, "MAX_EXTRACTS", 3)
    titles = [f"Company {n}" for n in range(7)]
    for title in titles:
        wiki_server.add_page(title, f"{title} makes things.")
    # WHEN their intros are asked for
    answers = wiki.intros(titles)
    # THEN every intro arrived, through three requests that sent `continue` back
    assert {title: answer.text for title, answer in answers.items()} == {t: f"{t} makes things." for t in titles}
    requests = wiki_server.requests
    assert [r.param("excontinue") for r in requests] == [None, "3", "6"]
    assert all(r.param("continue") == "-||info|pageprops" for r in requests[1:])


def test_intros_go_twenty_titles_a_request(wiki, wiki_server):
    titles = [f"Company {n}" for n in range(45)]
    for title in titles:
        wiki_server.add_page(title, f"{title} makes things.")
    answers = wiki.intros(titles)
    assert len(answers) == 45 and len(wiki_server.requests) == 3
    assert max(len(r.titles) for r in wiki_server.requests) == WIKI_EXTRACTS_PER_QUERY


def test_a_page_without_an_intro_is_a_permanent_problem(wiki, wiki_server):
    wiki_server.add_page("Stub", Page("", "no-extract"))
    assert wiki.intros(["Stub"])["Stub"].reason == "no_extract"


def test_maxlag_waits_as_long_as_retry_after_says_then_retries(wiki, wiki_server, fake_time):
    # GIVEN a lagged wiki that recovers after the first answer
    wiki_server.add_page("Netflix", "Netflix streams.")
    wiki_server.lag = 12
    original = wiki_server._answer

    def recover(request):
        answer = original(request)
        wiki_server.lag = 0
        return answer

    wiki_server._answer = recover
    # WHEN a revision is asked for
    answers = wiki.revisions(["Netflix"])
    # THEN the client waited the 5 seconds MediaWiki asked for, and the second request succeeded
    assert isinstance(answers["Netflix"], PageRevision)
    assert fake_time.sleeps == [5.0] and len(wiki_server.requests) == 2


def test_a_429_with_retry_after_is_honoured(wiki, wiki_server, fake_time):
    wiki_server.add_page("Netflix", "Netflix streams.")
    wiki_server.script(
        "Netflix", Scripted(429, {"Retry-After": "3", "Content-Type": "text/plain"}, "Too many requests")
    )
    answers = wiki.revisions(["Netflix"])
    assert isinstance(answers["Netflix"], PageRevision) and fake_time.sleeps == [3.0]


def test_a_retry_after_longer_than_the_limit_hands_the_work_back(wiki, wiki_server):
    wiki_server.add_page("Netflix", "Netflix streams.")
    wiki_server.script("Netflix", Scripted(429, {"Retry-After": "60", "Content-Type": "text/plain"}, "slow down"))
    with pytest.raises(TransientTextError) as exc:
        wiki.revisions(["Netflix"])
    assert exc.value.reason == "retry_after_too_long" and len(wiki_server.requests) == 1


def test_a_server_that_keeps_failing_is_transient_after_the_attempts(wiki, wiki_server):
    wiki_server.add_page("Netflix", "Netflix streams.")
    wiki_server.script("Netflix", *[Scripted(503) for _ in range(TEXT_MAX_ATTEMPTS)])
    with pytest.raises(TransientTextError) as exc:
        wiki.revisions(["Netflix"])
    assert exc.value.reason == "http_5xx" and len(wiki_server.requests) == TEXT_MAX_ATTEMPTS


def test_no_request_starts_after_the_deadline(wiki, wiki_server, fake_time):
    wiki_server.add_page("Netflix", "Netflix streams.")
    with pytest.raises(TransientTextError) as exc:
        wiki.revisions(["Netflix"], deadline=fake_time.now - 1)
    assert exc.value.reason == "deadline" and wiki_server.requests == []


def test_a_body_over_the_cap_halves_an_intro_request_until_only_the_long_page_fails(wiki, wiki_server):
    # GIVEN four pages, one with an intro longer than the 1 MiB cap
    for title in ("A", "B", "C"):
        wiki_server.add_page(title, f"{title} is a company.")
    wiki_server.add_page("Huge", "x" * 1_100_000)
    # WHEN their intros are asked for
    answers = wiki.intros(["A", "B", "C", "Huge"])
    # THEN only the long page is refused; the others have their intros
    assert answers["Huge"].reason == "too_large"
    assert {t: a.text for t, a in answers.items() if t != "Huge"} == {t: f"{t} is a company." for t in "ABC"}


TEMPLATE_LANGUAGES = load_template(TEMPLATE)["Parameters"]["LanguageCode"]["AllowedValues"]


def test_the_template_allows_exactly_the_languages_with_a_wiki():
    assert sorted(TEMPLATE_LANGUAGES) == sorted(WIKIS)


@pytest.mark.parametrize("code", TEMPLATE_LANGUAGES)
def test_every_language_the_template_allows_reads_a_wiki_that_exists(code):
    # GIVEN a LanguageCode the template allows / THEN it names a Wikipedia host, zh-TW the zh wiki's zh-tw variant
    host = api_url(code).removeprefix("https://").removesuffix("/w/api.php")
    assert host == f"{code.split('-')[0].lower()}.wikipedia.org"
    assert variant(code) == {"zh": "zh-hans", "zh-TW": "zh-tw"}.get(code)


def test_the_variant_travels_with_every_request(wiki_server):
    wiki_server.add_page("Netflix", "Netflix streams.")
    client = WebClient(wiki_server.api_url, CONTACT)
    Wikipedia(client, "zh-tw").revisions(["Netflix"])
    assert wiki_server.requests[0].param("variant") == "zh-tw"
