"""The consumer against the invocation's deadline (docs/design.md rule 11): what cannot be finished in time goes
back to the queue, what was finished stays done, nothing is half-written, and a redelivery with time finishes
the rest."""

from __future__ import annotations

import time

import pytest

from lib import clients
from lib.batch import BatchFailed
from lib.clock import Deadline
from lib.consumer import process_batch
from lib.limits import AWS_MIN_ATTEMPT_SECONDS, RECORD_RESERVE_SECONDS, TEXT_RESERVE_SECONDS
from lib.webclient import WebClient
from lib.wikipedia import Wikipedia
from tests.consumer_fixture import chunk, redelivered
from tests.test_deadline import FakeClock
from tests.wiki_fixture import Scripted


def pages(prefix: str, count: int) -> dict[str, str]:
    return {f"{prefix} {i:02d}": f"{prefix} {i:02d} posted record growth." for i in range(count)}


def test_a_batch_with_no_time_left_hands_every_record_back_at_once_and_writes_nothing(pipeline):
    # GIVEN two chunks of companies never checked, and an invocation with half a second left
    first, second = pages("Early", 3), pages("Late", 3)
    pipeline.watch({**first, **second})
    records = [chunk(first), chunk(second)]
    started = time.monotonic()
    # WHEN the batch is processed
    with pytest.raises(BatchFailed):  # no company made progress: Lambda retries the whole batch
        pipeline.run(records, deadline=Deadline.after(0.5))
    # THEN it gave up within its time, asked nobody anything and wrote nothing
    assert time.monotonic() - started < 0.5
    assert pipeline.wiki.requests == [] and pipeline.comprehend.calls == []
    assert pipeline.objects() == [] and all("revision" not in pipeline.item(n) for n in {**first, **second})
    # AND the same records, delivered again with time, are all analysed: nothing was lost
    outcome = pipeline.run([redelivered(r) for r in records])
    assert outcome.failures == [] and outcome.counts["analysed"] == 6


def test_redelivered_records_with_no_time_to_read_their_state_go_back_instead_of_failing_the_invocation(pipeline):
    # GIVEN a chunk delivered before (so the consumer must read each company's state first), and one not yet
    seen, fresh = pages("Seen", 2), pages("Fresh", 2)
    pipeline.watch({**seen, **fresh})
    records = [redelivered(chunk(seen)), chunk(fresh)]
    # WHEN the batch is processed with no time left for the table read
    # THEN it ends as a batch whose records all went back (BatchFailed), not with the table read's DeadlineReached
    with pytest.raises(BatchFailed):
        pipeline.run(records, deadline=Deadline.after(0.5))
    assert pipeline.wiki.requests == [] and pipeline.objects() == []
    # AND nothing was lost: delivered again with time, every company is analysed
    again = pipeline.run([redelivered(r, receives=3) for r in records])
    assert again.failures == [] and again.counts["analysed"] == 4


def test_a_slow_text_source_costs_only_the_chunks_it_did_not_answer(pipeline):
    # GIVEN a chunk whose companies were analysed before and did not change since
    done = pages("Steady", 3)
    pipeline.watch(done)
    pipeline.run([chunk(done)])
    steady = chunk(pipeline.snapshot(done))
    # AND a chunk of new companies whose revision request the text source answers only after 8 s
    slow = pages("Slow", 3)
    pipeline.watch(slow)
    pipeline.wiki.script("Slow 00", Scripted(503, delay=8.0))
    late = chunk(slow)
    # WHEN both are processed with 3 s left for the text source
    started = time.monotonic()
    outcome = pipeline.run([steady, late], deadline=Deadline.after(TEXT_RESERVE_SECONDS + 3.0))
    elapsed = time.monotonic() - started
    # THEN the slow request was cut at the deadline, not at its 10 s read timeout, and only its chunk went back
    assert elapsed < 6.0
    assert outcome.failures == [late["messageId"]] and outcome.counts["unchanged"] == 3
    assert all("revision" not in pipeline.item(n) for n in slow)
    # AND its redelivery with time analyses it
    again = pipeline.run([redelivered(late)])
    assert again.failures == [] and again.counts["analysed"] == 3


def test_a_slow_comprehend_hands_back_the_chunks_it_could_not_score_and_records_the_others(pipeline):
    # GIVEN two chunks of 25 new companies (one BatchDetectSentiment call each), and a Comprehend that takes 30 s
    # to answer, on a clock the whole invocation reads
    clock = FakeClock()

    def slow_answer(**_):
        clock.now += 30.0

    # the pipeline fixture made the clients anew and hung the IAM gate on them; the test adds its clock
    clients.client("comprehend").meta.events.register("after-call.comprehend.BatchDetectSentiment", slow_answer)
    first, second = pages("First", 25), pages("Second", 25)
    pipeline.watch({**first, **second})
    source = Wikipedia(WebClient(pipeline.wiki.api_url, pipeline.config.user_agent_contact, clock=clock))
    records = [chunk(first), chunk(second)]
    # WHEN they are processed with time for the text source, one Comprehend call and the records, but once that
    # call took its 30 s, not for a second one
    left = RECORD_RESERVE_SECONDS + 30.0 + 1.0
    assert left > TEXT_RESERVE_SECONDS and left - RECORD_RESERVE_SECONDS - 30.0 < AWS_MIN_ATTEMPT_SECONDS
    outcome = process_batch(records, pipeline.config, source, deadline=Deadline(clock.now + left, clock))
    # THEN Comprehend was asked once; the second chunk goes back untouched, the first is recorded whole
    assert pipeline.comprehend.operations() == ["BatchDetectSentiment"]
    assert outcome.failures == [records[1]["messageId"]] and outcome.counts["analysed"] == 25
    assert sorted(r["name"] for r in pipeline.rows()) == sorted(first)
    assert all("revision" not in pipeline.item(n) for n in second)
    # AND the second chunk, delivered again with time, is analysed: every company has exactly one row
    again = process_batch([redelivered(records[1])], pipeline.config, source)
    assert again.failures == [] and again.counts["analysed"] == 25
    assert sorted(r["name"] for r in pipeline.rows()) == sorted({**first, **second})
