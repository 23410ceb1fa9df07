"""The whole pipeline through the Lambda service: every company analysed or its error recorded, none lost."""

from __future__ import annotations

from tests.dataset_checks import place_of, readable_rows
from tests.local_lambda.support import (
    WATCHLIST,
    add_companies,
    counts,
)


def test_every_company_ends_in_the_results_or_with_its_error(account, stack, lam):
    # GIVEN the shipped watchlist plus companies the text source has no page for: 30 in all
    missing = ["Missing Company One", "Missing Company Two"]
    names = WATCHLIST + missing
    assert len(names) == 30
    add_companies(account, stack, names)
    s3 = account.client("s3")
    # WHEN the schedule fires once and the queue is drained
    tick = lam.fire_schedule()
    report = lam.drain(timeout=120)
    # THEN every company was analysed (a row) or has its error recorded; none is lost or dead-lettered
    assert tick.ok and tick.payload["queued"] == 30 and tick.payload["chunks"] == 1
    assert (report.records, report.deleted, report.failed, report.dead_lettered) == (1, 1, 0, 0)
    # Only the shipped watchlist's companies are ever analysed in the shared stack, by this module's tests.
    rows = readable_rows(place_of(stack.ResultsBucketName), s3)
    analysed = {row["name"] for row in rows}
    items = account.client("dynamodb").scan(TableName=stack.TableName)["Items"]
    errors = {item["name"]["S"]: item["last_error"]["S"] for item in items if "last_error" in item}
    assert analysed == set(WATCHLIST)
    assert errors == dict.fromkeys(missing, "not_found")
    assert counts(account, stack.DeadLetterQueueUrl) == {"visible": 0, "in_flight": 0}


def test_fire_and_drain_ticks_once_and_drains_everything_it_queued(account, stack, lam):
    # GIVEN the shipped watchlist on the table
    add_companies(account, stack, WATCHLIST)
    # WHEN one tick fires with the pollers already running, and the queue drains
    tick, report = lam.fire_and_drain(timeout=120)
    # THEN the drain did not stop before the tick's messages were handled: every one was delivered
    # and deleted, none failed, and the queue is empty
    assert tick.ok and report.ticks == 1
    assert tick.payload["queued"] == len(WATCHLIST) and report.records == tick.payload["chunks"] == 1
    assert (report.deleted, report.failed, report.dead_lettered) == (1, 0, 0)
    assert counts(account, stack.QueueUrl) == {"visible": 0, "in_flight": 0}
