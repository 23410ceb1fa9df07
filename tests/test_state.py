"""Each company's state (lib/state.py): written only for a newer revision, or another page, and never twice."""

from __future__ import annotations

import boto3
import pytest

from lib import state
from lib import table as watchlist
from lib.wikipedia import PageRevision
from tests.conftest import put_companies, result_row


def page(revision: int, title: str = "Netflix") -> PageRevision:
    return PageRevision(title, revision, f"https://en.wikipedia.org/wiki/{title}")


@pytest.fixture
def netflix(stack):
    put_companies(stack.table, ["Netflix"])
    state.save_analysis(
        stack.table, result_row("Netflix", "2026-11-27T10:00:00Z"), page(200), "k/1", boto3.client("dynamodb")
    )
    return stack


@pytest.mark.parametrize(
    ("new", "expected"),
    [
        (page(201), state.WRITTEN),
        (page(200), state.SUPERSEDED),
        (page(150), state.SUPERSEDED),
        (page(150, "Netflix, Inc."), state.WRITTEN),
    ],
    ids=["newer revision", "same revision", "older revision", "another page"],
)
def test_an_analysis_is_written_only_for_a_newer_revision_or_another_page(netflix, new, expected):
    row = result_row("Netflix", "2026-11-27T11:00:00Z", run_id="run-2", text="A newer text.")
    assert state.save_analysis(netflix.table, row, new, "k/2", boto3.client("dynamodb")) == expected
    stored = netflix.items()["Netflix"]
    assert stored["revision"]["N"] == str(new.revision if expected == state.WRITTEN else 200)


def test_a_new_revision_of_the_same_text_is_written_once(netflix):
    ddb = boto3.client("dynamodb")
    assert state.save_revision(netflix.table, "Netflix", page(201), "2026-11-27T11:00:00Z", ddb) == state.WRITTEN
    assert state.save_revision(netflix.table, "Netflix", page(201), "2026-11-27T11:05:00Z", ddb) == state.SUPERSEDED
    assert netflix.items()["Netflix"]["checked_at"] == {"S": "2026-11-27T11:00:00Z"}


def test_the_analysed_revision_stays_with_the_analysis_when_a_later_revision_keeps_the_text(netflix):
    # GIVEN Netflix analysed at revision 200 WHEN revision 201 keeps the same intro
    state.save_revision(netflix.table, "Netflix", page(201), "2026-11-27T11:00:00Z", boto3.client("dynamodb"))
    # THEN the revision last checked moves on, and the analysis's own revision (the latest view's) does not
    item = netflix.items()["Netflix"]
    assert (item["revision"], item["analysis_revision"]) == ({"N": "201"}, {"N": "200"})
    # AND it is analysis state, which a rename drops
    assert "analysis_revision" in watchlist.ANALYSIS_ATTRIBUTES


def test_a_write_for_a_company_that_left_the_watchlist_creates_nothing(stack):
    ddb = boto3.client("dynamodb")
    assert state.save_revision(stack.table, "Gone", page(1, "Gone"), "2026-11-27T11:00:00Z", ddb) == state.GONE
    assert stack.items() == {}


def test_forgetting_a_text_drops_its_revision_so_the_next_check_reads_it_again(netflix):
    state.forget_text(netflix.table, "Netflix", boto3.client("dynamodb"))
    item = netflix.items()["Netflix"]
    assert not {"revision", "page", "text_sha256"} & set(item) and item["sentiment"] == {"S": "POSITIVE"}


def test_an_error_is_written_only_when_the_table_holds_another_or_none(stack):
    # GIVEN a company  WHEN the same permanent error is saved twice, then another
    put_companies(stack.table, ["Ghost Co"])
    ddb = boto3.client("dynamodb")
    results = [
        state.save_error(stack.table, "Ghost Co", reason, f"2026-11-27T12:0{n}:00Z", ddb)
        for n, reason in enumerate(["not_found", "not_found", "disambiguation"])
    ]
    # THEN the repeat changed nothing (so it is not a new error) and the other error was written
    assert results == [state.WRITTEN, state.SUPERSEDED, state.WRITTEN]


def test_clearing_an_error_reports_whether_there_was_one(stack):
    put_companies(stack.table, ["Ghost Co"])
    ddb = boto3.client("dynamodb")
    assert state.clear_error(stack.table, "Ghost Co", "2026-11-27T12:00:00Z", ddb) == state.SUPERSEDED
    state.save_error(stack.table, "Ghost Co", "not_found", "2026-11-27T12:00:00Z", ddb)
    assert state.clear_error(stack.table, "Ghost Co", "2026-11-27T12:05:00Z", ddb) == state.WRITTEN
    assert state.clear_error(stack.table, "Gone Co", "2026-11-27T12:05:00Z", ddb) == state.GONE


def test_an_analysis_adds_its_object_to_the_recent_results_and_days_past_the_horizon_leave(stack):
    ddb = boto3.client("dynamodb")
    put_companies(stack.table, ["Netflix"])
    keys = [f"results/dt=2026-11-{day:02d}/part-{day:032x}.jsonl" for day in (20, 21, 24, 25)]
    for revision, key in enumerate(keys, start=1):
        row = result_row("Netflix", f"{key[11:21]}T10:00:00Z", run_id=f"run-{revision}", text=f"Text {revision}.")
        assert state.save_analysis(stack.table, row, page(revision), key, ddb) == state.WRITTEN
    # On the 25th, the 21st is more than RECENT_RESULTS_DAYS (3) back: both November 20 and 21 left.
    assert sorted(stack.items()["Netflix"]["recent_results"]["SS"]) == keys[2:]


def test_a_company_removed_between_the_two_writes_is_not_written_back(stack):
    # GIVEN a company with a recent key past the horizon, removed right after its analysis is recorded
    put_companies(stack.table, ["Netflix"])
    ddb = boto3.client("dynamodb")
    old = "results/dt=2026-11-20/part-" + "0" * 32 + ".jsonl"
    state.save_analysis(stack.table, result_row("Netflix", "2026-11-20T10:00:00Z"), page(1), old, ddb)

    class RemovedMeanwhile:
        """The table as another writer leaves it: the company removed after the analysis' write."""

        def update_item(self, **request):
            answer = ddb.update_item(**request)
            if "ADD" in request["UpdateExpression"]:
                ddb.delete_item(TableName=stack.table, Key=watchlist.key("Netflix"))
            return answer

    # WHEN a later analysis is recorded, and its stale key would leave in a second write
    row = result_row("Netflix", "2026-11-25T10:00:00Z", run_id="run-2", text="Later.")
    later = "results/dt=2026-11-25/part-" + "1" * 32 + ".jsonl"
    assert state.save_analysis(stack.table, row, page(2), later, RemovedMeanwhile()) == state.WRITTEN
    # THEN the removed company stays removed
    assert "Netflix" not in stack.items()


def test_a_superseded_analysis_adds_nothing_to_the_recent_results(netflix):
    ddb = boto3.client("dynamodb")
    row = result_row("Netflix", "2026-11-27T11:00:00Z", run_id="run-2", text="A newer text.")
    assert state.save_analysis(netflix.table, row, page(150), "results/dt=2026-11-27/part-x.jsonl", ddb) == "superseded"
    assert netflix.items()["Netflix"]["recent_results"] == {"SS": ["k/1"]}


def test_stale_recent_keeps_keys_it_cannot_date():
    keys = [
        "k/1",
        "results/dt=2026-11-01/part-" + "a" * 32 + ".jsonl",
        "results/dt=2026-11-09/part-" + "b" * 32 + ".csv",
    ]
    assert state.stale_recent(keys, "2026-11-10") == [keys[1]]
