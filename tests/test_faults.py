"""Fault injection at the text source: the MediaWiki Action API failing, throttling, lagging, or its pages changing
under the pipeline. The world and its invariants are tests/fault_world.py's; each scenario pins its outcome
(companies analysed, errors recorded on companies, messages dead-lettered)."""

from __future__ import annotations

from tests.fault_world import NAMES, VICTIM, Outcome, run
from tests.wiki_fixture import Scripted

LATER = "2026-11-28T12:05:00Z"


def revision_requests(world) -> int:
    return sum(1 for r in world.wiki.requests_for(VICTIM) if not r.asks_intros)


def second_tick(world) -> Outcome:
    """The next tick, after a first one analysed everything."""
    summary = world.tick(run_id="second-run", time=LATER)
    assert summary["queued"] == len(NAMES)
    world.drain()
    world.assert_invariants()
    return world.outcome()


# ---------------------------------------------------------------- no fault
def test_without_faults_every_company_is_analysed_once(world):
    assert run(world) == Outcome(analysed=10, errors_recorded=0, dead_lettered=0)
    assert len(world.wiki.requests) == 2  # one revision request, one intro request, for the chunk of ten


def test_a_second_tick_with_nothing_changed_sends_one_request_and_writes_nothing(world):
    run(world)
    world.wiki.reset_counts()
    assert second_tick(world) == Outcome(analysed=10, errors_recorded=0, dead_lettered=0)
    assert len(world.wiki.requests) == 1 and world.comprehend.operations() == ["BatchDetectSentiment"]


# ---------------------------------------------------------------- answers about pages
def test_a_missing_page_is_recorded_on_the_company_and_not_retried(world):
    world.wiki.remove_page(VICTIM)
    assert run(world) == Outcome(analysed=9, errors_recorded=1, dead_lettered=0)
    assert world.item(VICTIM)["last_error"]["S"] == "not_found" and revision_requests(world) == 1


def test_a_disambiguation_page_is_recorded_on_the_company(world):
    world.wiki.add_page(VICTIM, f"{VICTIM} may refer to several companies.", type="disambiguation")
    assert run(world) == Outcome(analysed=9, errors_recorded=1, dead_lettered=0)


def test_a_page_deleted_after_its_analysis_is_recorded_at_the_next_tick(world):
    run(world)
    world.wiki.remove_page(VICTIM)
    assert second_tick(world) == Outcome(analysed=10, errors_recorded=1, dead_lettered=0)
    assert world.item(VICTIM)["last_error"]["S"] == "not_found"


def test_a_page_moved_to_a_new_title_is_followed_and_analysed_there(world):
    # GIVEN the victim analysed, then its page moved: the old title now redirects to the new one, with a new intro
    run(world)
    world.wiki.add_page(f"{VICTIM} (company)", f"{VICTIM} faces a lawsuit and a scandal.")
    world.wiki.add_redirect(VICTIM, f"{VICTIM} (company)")
    # WHEN the next tick runs THEN the victim is analysed again on its new page
    assert second_tick(world) == Outcome(analysed=10, errors_recorded=0, dead_lettered=0)
    assert world.item(VICTIM)["page"] == {"S": f"{VICTIM} (company)"}
    assert sorted(r["sentiment"] for r in world.rows() if r["name"] == VICTIM) == ["NEGATIVE", "POSITIVE"]


def test_a_page_turned_into_a_disambiguation_page_is_recorded_at_the_next_tick(world):
    run(world)
    world.wiki.add_page(VICTIM, f"{VICTIM} may refer to several companies.", type="disambiguation")
    assert second_tick(world) == Outcome(analysed=10, errors_recorded=1, dead_lettered=0)
    assert world.item(VICTIM)["last_error"]["S"] == "disambiguation"


def test_a_revision_saved_between_the_two_requests_is_recorded_with_its_intro(world):
    original = world.wiki._answer

    def edit_before_intros(request):
        if request.asks_intros and "scandal" not in world.wiki.store.get(VICTIM).page.extract:
            world.wiki.add_page(VICTIM, f"{VICTIM} is caught in a scandal.")
        return original(request)

    world.wiki._answer = edit_before_intros
    assert run(world) == Outcome(analysed=10, errors_recorded=0, dead_lettered=0)
    (row,) = [r for r in world.rows() if r["name"] == VICTIM]
    assert "scandal" in row["text"] and int(row["revision"]) == world.wiki.revision(VICTIM)


def test_an_intro_of_one_megabyte_is_refused_and_recorded_on_the_company(world):
    world.wiki.add_page(VICTIM, "growth " * 150_000)  # 1,050,000 characters
    assert run(world) == Outcome(analysed=9, errors_recorded=1, dead_lettered=0)
    assert world.item(VICTIM)["last_error"]["S"] == "too_large"


# ---------------------------------------------------------------- the API failing or pushing back
def test_maxlag_is_waited_out_for_as_long_as_retry_after_says(world):
    # GIVEN a wiki whose replicas lag 9 s for the first request
    world.wiki.lag = 9
    original = world.wiki._answer

    def recover(request):
        answer = original(request)
        world.wiki.lag = 0
        return answer

    world.wiki._answer = recover
    # THEN the consumer waited and asked again: nothing lost, nothing handed back
    assert run(world) == Outcome(analysed=10, errors_recorded=0, dead_lettered=0)
    assert revision_requests(world) == 2 and all(r.param("maxlag") == "5" for r in world.wiki.requests)


def test_a_429_with_retry_after_is_waited_out(world):
    world.wiki.script(VICTIM, Scripted(429, {"Retry-After": "1", "Content-Type": "text/plain"}, "Too many requests"))
    assert run(world) == Outcome(analysed=10, errors_recorded=0, dead_lettered=0)
    assert revision_requests(world) == 2


def test_a_500_once_is_retried_by_the_client(world):
    world.wiki.script(VICTIM, Scripted(500, {"Retry-After": "0"}))
    assert run(world) == Outcome(analysed=10, errors_recorded=0, dead_lettered=0)


def test_a_request_failing_every_time_dead_letters_its_chunk(world):
    world.wiki.script(VICTIM, *[Scripted(500, {"Retry-After": "0"})] * 100)
    assert run(world) == Outcome(analysed=0, errors_recorded=0, dead_lettered=1)
    (delivery,) = world.deliveries
    assert max(delivery.receives.values()) == 5  # the queue's maxReceiveCount, then redrive


def test_a_read_timeout_is_retried(world, monkeypatch):
    # A read timeout of 0.5 s (the shipped one is 10 s) and an answer that takes 1 s, once.
    original = world.consumer.WebClient
    monkeypatch.setattr(world.consumer, "WebClient", lambda *a, **kw: original(*a, **kw, read_timeout=0.5))
    world.consumer._setup.cache_clear()
    world.wiki.script(VICTIM, Scripted(200, body=b"{}", delay=1.0))
    assert run(world) == Outcome(analysed=10, errors_recorded=0, dead_lettered=0)


def test_malformed_json_is_retried(world):
    world.wiki.script(VICTIM, Scripted(200, {"Content-Type": "application/json"}, body=b'{"query": {"pages": [{"tit'))
    assert run(world) == Outcome(analysed=10, errors_recorded=0, dead_lettered=0)


def test_a_connection_reset_is_retried(world):
    world.wiki.script(VICTIM, Scripted.connection_reset())
    assert run(world) == Outcome(analysed=10, errors_recorded=0, dead_lettered=0)
