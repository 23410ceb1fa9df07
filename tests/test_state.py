"""Each company's state (lib/state.py): written only for a newer revision, or another page, and never twice."""

from __future__ import annotations

import boto3
import pytest

from lib import state
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


def test_a_write_for_a_company_that_left_the_watchlist_creates_nothing(stack):
    ddb = boto3.client("dynamodb")
    assert state.save_revision(stack.table, "Gone", page(1, "Gone"), "2026-11-27T11:00:00Z", ddb) == state.GONE
    assert stack.items() == {}


def test_forgetting_a_text_drops_its_revision_so_the_next_check_reads_it_again(netflix):
    state.forget_text(netflix.table, "Netflix", boto3.client("dynamodb"))
    item = netflix.items()["Netflix"]
    assert not {"revision", "page", "text_sha256"} & set(item) and item["sentiment"] == {"S": "POSITIVE"}
