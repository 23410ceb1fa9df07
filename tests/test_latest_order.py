"""Which analysis is a company's latest: one key (lib.results.order_key) for the dataset's readers,
the dashboard, `results` and the table, so a tie on analyzed_at is decided the same way everywhere.

Rows written before the clock had fractional seconds carry whole seconds, so two analyses of one
company can share analyzed_at; the tests below use such rows, in both read orders.
"""

from __future__ import annotations

import json

import boto3
import pandas as pd
import pytest

import cfcli  # noqa: F401 - registers every command on the group
from lib import dataset_layout as layout
from lib import state
from lib.clock import iso, normalize_iso, parse_iso
from lib.results import order_key
from lib.wikipedia import PageRevision
from tests.conftest import put_companies, result_row
from tests.history_fixture import as_dict
from watchlist_workstation.analysis.dataset import history, latest_per_company, load_results, order_keys
from watchlist_workstation.cli.app import cli
from watchlist_workstation.dashboard.app import create_app
from watchlist_workstation.dashboard.data import ResultsData

SECOND = "2026-11-27T10:00:00Z"
# Two analyses of Netflix in the same second, by two runs, of two texts. run-b's key is the greater.
EARLIER = result_row("Netflix", SECOND, run_id="run-a", text="Netflix had a dreadful, failing year.", positive=0.1)
LATER = result_row("Netflix", SECOND, run_id="run-b", text="Netflix had a wonderful, winning year.", positive=0.9)
# Object keys sort in listing (and so read) order: "part-0…" is read before "part-f…".
FIRST_KEY = "results/dt=2026-11-27/part-" + "0" * 32 + ".jsonl"
SECOND_KEY = "results/dt=2026-11-27/part-" + "f" * 32 + ".jsonl"
PAGE = PageRevision("Netflix", 100, "https://en.wikipedia.org/wiki/Netflix")


def put_rows(bucket: str, key: str, rows) -> None:
    boto3.client("s3").put_object(Bucket=bucket, Key=key, Body=layout.encode_rows([as_dict(r) for r in rows]))


@pytest.fixture(params=["later row read last", "later row read first"])
def tied(request, stack) -> object:
    """The two tied rows, each in its own object, placed so the later one is read last or first; the table holds
    what the consumer recorded of both (the latest view reads it)."""
    s3 = boto3.client("s3")
    read_first, read_last = (EARLIER, LATER) if request.param == "later row read last" else (LATER, EARLIER)
    put_rows(stack.bucket, FIRST_KEY, [read_first])
    put_rows(stack.bucket, SECOND_KEY, [read_last])
    loaded = load_results(s3, stack.bucket)
    assert list(loaded["run_id"]) == [read_first.run_id, read_last.run_id]  # the read order is the one meant
    put_companies(stack.table, ["Netflix"])
    ddb = boto3.client("dynamodb")
    for row, key in ((read_first, FIRST_KEY), (read_last, SECOND_KEY)):
        state.save_analysis(stack.table, row, PAGE, key, ddb=ddb, repair=True)
    # Both objects hold a row, so a company's history must find both: the table names both among its recent
    # results (the write of the earlier row, when it came second, was refused and named nothing).
    ddb.update_item(
        TableName=stack.table,
        Key={"name": {"S": "Netflix"}},
        UpdateExpression="ADD recent_results :k",
        ExpressionAttributeValues={":k": {"SS": [FIRST_KEY, SECOND_KEY]}},
    )
    return stack


def test_the_order_key_cannot_tie_for_two_different_rows():
    # GIVEN two different rows of one company with the same whole-second analyzed_at
    # THEN their keys differ, and the key reads the old spelling as the fixed-width one
    assert EARLIER.order_key != LATER.order_key
    assert EARLIER.order_key < LATER.order_key
    assert EARLIER.order_key.startswith("2026-11-27T10:00:00.000000Z run-a ")


def test_the_clock_writes_fixed_width_fractions_that_sort_as_strings():
    # GIVEN two moments 1 microsecond apart, and a whole second
    a, b = parse_iso("2026-11-27T10:00:00.999999Z"), parse_iso("2026-11-27T10:00:01Z")
    # THEN the pipeline's spelling keeps their order as plain strings, with the same width
    assert iso(a) < iso(b) and len(iso(a)) == len(iso(b)) == len("2026-11-27T10:00:01.000000Z")
    assert normalize_iso("2026-11-27T10:00:01Z") == iso(b) == "2026-11-27T10:00:01.000000Z"


def test_the_column_wise_key_equals_the_rows_key(tied):
    # GIVEN the loaded rows / THEN the readers' vectorised key is lib.results.order_key for every row
    frame = load_results(boto3.client("s3"), tied.bucket)
    expected = [
        order_key(normalize_iso(str(t.isoformat())), r, h)
        for t, r, h in frame[["analyzed_at", "run_id", "text_sha256"]].itertuples(index=False)
    ]
    assert list(order_keys(frame)) == expected


def test_the_dataset_reader_picks_the_same_latest_in_either_read_order(tied):
    # WHEN the latest row per company and the company's history are taken
    frame = load_results(boto3.client("s3"), tied.bucket)
    # THEN run-b's row is the latest, and the history ends with it
    assert latest_per_company(frame)["run_id"].tolist() == ["run-b"]
    assert history(frame, "Netflix")["run_id"].tolist() == ["run-a", "run-b"]


def test_the_dashboard_shows_the_same_latest_in_either_read_order(tied):
    # WHEN the dashboard's page and JSON are read (the list from the table, the company from its history)
    data = ResultsData(boto3.client("s3"), tied.bucket, "results", ddb=boto3.client("dynamodb"), table=tied.table)
    app = create_app(data, explain=str).test_client()
    listing = json.loads(app.get("/api/results").get_data(as_text=True))
    company = json.loads(app.get("/api/companies/Netflix").get_data(as_text=True))
    page = app.get("/companies/Netflix").get_data(as_text=True)
    # THEN every view names run-b's analysis as the latest
    assert [r["run_id"] for r in listing["results"]] == ["run-b"]
    assert company["latest"]["run_id"] == "run-b" and company["history"][-1] == company["latest"]
    # The page lists the history newest first: the later text above the earlier one.
    assert page.index(LATER.text) < page.index(EARLIER.text)


@pytest.mark.parametrize("view", [[], ["--since", "2026-11-27"]], ids=["from the table", "from the history"])
def test_results_shows_the_same_latest_in_either_read_order(tied, cli_runner, view):
    # WHEN `results --json` is run
    result = cli_runner.invoke(cli, ["results", "--json", *view], catch_exceptions=False)
    # THEN it shows run-b's analysis
    assert result.exit_code == 0, result.stderr
    assert [(r["name"], r["run_id"]) for r in json.loads(result.stdout)] == [("Netflix", "run-b")]


@pytest.mark.parametrize(
    "writes", [(EARLIER, LATER), (LATER, EARLIER)], ids=["later written last", "later written first"]
)
def test_the_table_keeps_the_same_latest_in_either_write_order(stack, writes):
    # GIVEN Netflix on the watchlist
    put_companies(stack.table, ["Netflix"])
    ddb = boto3.client("dynamodb")
    # WHEN both analyses of one revision are recorded, in either order (a repair may write a revision again,
    # so only the order key decides)
    first = state.save_analysis(stack.table, writes[0], PAGE, "results/a.csv", ddb=ddb, repair=True)
    second = state.save_analysis(stack.table, writes[1], PAGE, "results/b.csv", ddb=ddb, repair=True)
    # THEN the table holds run-b's analysis, and the earlier one was refused only when it came second
    item = stack.items()["Netflix"]
    assert item["last_run_id"] == {"S": "run-b"} and item["analysis_key"] == {"S": LATER.order_key}
    assert (first, second) == (
        (state.WRITTEN, state.WRITTEN) if writes[0] is EARLIER else (state.WRITTEN, state.SUPERSEDED)
    )


def test_an_item_written_before_keys_existed_takes_the_next_analysis(stack):
    # GIVEN an item with an analysis but no analysis_key (written by an older consumer)
    put_companies(stack.table, ["Netflix"], sentiment="NEGATIVE", analyzed_at="2026-11-27T11:00:00Z", last_run_id="old")
    # WHEN a new analysis is recorded
    result = state.save_analysis(stack.table, LATER, PAGE, "results/b.csv", ddb=boto3.client("dynamodb"))
    # THEN it is written
    assert result == state.WRITTEN and stack.items()["Netflix"]["last_run_id"] == {"S": "run-b"}


def test_the_readers_rank_a_whole_second_row_before_a_fractional_one_of_that_second(stack):
    # GIVEN an old whole-second row and a new row 0.5 s into the same second (another run)
    new = result_row("Netflix", "2026-11-27T10:00:00.500000Z", run_id="run-0", text="Netflix, new text.")
    put_rows(stack.bucket, FIRST_KEY, [new])
    put_rows(stack.bucket, SECOND_KEY, [LATER])
    # WHEN the latest row is taken / THEN the fractional row wins, though its run sorts first
    frame = load_results(boto3.client("s3"), stack.bucket)
    assert latest_per_company(frame)["analyzed_at"].tolist() == [pd.Timestamp("2026-11-27T10:00:00.5Z")]
