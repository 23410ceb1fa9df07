"""cfcli results against a stack created from template.yml in moto: the latest view from the watchlist table (no S3
request), the history (`--all`, `--since`) from the day partitions in range."""

from __future__ import annotations

import csv
import io
import json
from datetime import date

import boto3
import pytest

import cfcli  # noqa: F401  (registers every command on the group)
from lib import dataset_layout as layout
from lib.results import text_sha256
from tests.conftest import put_companies, result_row
from tests.history_fixture import S3Calls, compact, put_jsonl, record, with_revision
from watchlist_workstation.analysis import latest
from watchlist_workstation.analysis.dataset import COLUMNS
from watchlist_workstation.cli import results as results_module
from watchlist_workstation.cli.app import cli
from watchlist_workstation.cli.context import AppContext

TODAY = date(2026, 11, 28)
NETFLIX_1 = with_revision(result_row("Netflix", "2026-11-26T10:00:00Z", positive=0.2), 10)
META = with_revision(result_row("Meta", "2026-11-26T10:00:00Z"), 20)
NETFLIX_2 = with_revision(
    result_row("Netflix", "2026-11-27T10:00:00Z", run_id="run-2", text="Netflix streams.", positive=0.8), 11
)


def invoke(runner, *args: str):
    return runner.invoke(cli, list(args), catch_exceptions=False)


@pytest.fixture
def s3_seen(monkeypatch) -> list[S3Calls]:
    """What every S3 client the CLI makes is asked (one S3Calls per client)."""
    seen: list[S3Calls] = []
    original = AppContext.client

    def client(self, service):
        new = service not in self._clients
        made = original(self, service)
        if service == "s3" and new:
            seen.append(S3Calls(made))
        return made

    monkeypatch.setattr(AppContext, "client", client)
    monkeypatch.setattr(results_module, "today", lambda: TODAY)
    return seen


@pytest.fixture
def two_days(stack, s3_seen):
    """Two objects on two days; Netflix's first row is in both (a redelivered batch), and it changed on day two.
    The table holds what the consumer recorded, and a third company that was never analysed."""
    put_companies(stack.table, ["Netflix", "Meta"], added_at="2026-11-20T08:00:00.000000Z")
    put_companies(stack.table, ["Initech"], added_at="2026-11-27T08:00:00.000000Z")
    put_jsonl(stack.bucket, [NETFLIX_1, META], "2026-11-26")
    put_jsonl(stack.bucket, [NETFLIX_1, NETFLIX_2], "2026-11-27")
    for row in (NETFLIX_1, META, NETFLIX_2):
        record(stack.table, row, row.revision)
    return stack


def requests(seen: list[S3Calls]) -> int:
    return sum(calls.sent for calls in seen)


# ---------------------------------------------------------------- the latest view: the table
def test_results_show_each_companys_latest_row_from_the_table_without_s3(two_days, cli_runner, s3_seen):
    # GIVEN two days of results, Netflix analysed on both, and a company never analysed
    # WHEN results are asked
    result = invoke(cli_runner, "results")
    # THEN one table row per analysed company, Netflix's from the 27th, scores to 3 places, no text
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == [
        "name     sentiment  positive  negative  neutral  mixed  analyzed_at",
        "Meta     POSITIVE   0.900     0.033     0.033    0.033  2026-11-26T10:00:00.000000Z",
        "Netflix  POSITIVE   0.800     0.067     0.067    0.067  2026-11-27T10:00:00.000000Z",
    ]
    assert result.stderr == ""
    # AND not one S3 request was made
    assert requests(s3_seen) == 0


def test_the_latest_view_scans_only_the_attributes_it_shows(two_days, cli_runner, monkeypatch):
    # GIVEN a record of every Scan the CLI sends
    scans = []
    original = AppContext.client

    def client(self, service):
        made = original(self, service)
        if service == "dynamodb" and not getattr(made, "_watched", False):
            made._watched = True
            made.meta.events.register("before-call.dynamodb.Scan", lambda params, **_: scans.append(params))
        return made

    monkeypatch.setattr(AppContext, "client", client)
    # WHEN results are asked
    invoke(cli_runner, "results")
    # THEN one Scan page, projected onto the view's attributes (no text, nothing the producer alone needs)
    (scan,) = scans
    body = json.loads(scan["body"])
    assert sorted(body["ExpressionAttributeNames"].values()) == sorted(latest.PROJECTION)
    assert "text" not in body["ExpressionAttributeNames"].values()


def test_the_latest_view_agrees_with_the_historys_latest(two_days, cli_runner):
    # WHEN the latest view and each company's history are asked as JSON
    table_view = json.loads(invoke(cli_runner, "results", "--json").stdout)
    history = json.loads(invoke(cli_runner, "results", "--all", "--json").stdout)
    # THEN each company's latest row in the table is its history's last row, column for column (but the text)
    last = {row["name"]: row for row in history}
    assert [row["name"] for row in table_view] == ["Meta", "Netflix"]
    for row in table_view:
        assert row == {column: last[row["name"]][column] for column in latest.COLUMNS}
    assert table_view[1]["revision"] == 11 and table_view[1]["run_id"] == "run-2"


def test_results_name_filter_ignores_case_and_spacing(two_days, cli_runner):
    result = invoke(cli_runner, "results", "--name", "  netflix ", "--json")
    assert [r["name"] for r in json.loads(result.stdout)] == ["Netflix"]


def test_results_name_without_rows_is_noted_on_stderr(two_days, cli_runner):
    # WHEN results for Meta, a company never analysed, and one not on the watchlist are asked
    result = invoke(cli_runner, "results", "--name", "Meta", "--name", "Initech", "--name", "Umbrella")
    # THEN Meta is shown, and stderr names the companies with no results
    assert result.exit_code == 0
    assert [line.split()[0] for line in result.stdout.splitlines()[1:]] == ["Meta"]
    assert result.stderr == "no results for: Initech, Umbrella\n"


def test_results_csv_has_every_column_but_the_text(two_days, cli_runner):
    # WHEN the latest view is asked as CSV
    result = invoke(cli_runner, "results", "--format", "csv")
    # THEN the CSV has the dataset's columns but `text` (the table holds none), each company's latest values
    assert result.exit_code == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert tuple(rows[0].keys()) == latest.COLUMNS == tuple(c for c in COLUMNS if c != "text")
    assert [(r["name"], float(r["positive"]), r["revision"]) for r in rows] == [
        ("Meta", 0.9, "20"),
        ("Netflix", 0.8, "11"),
    ]
    assert rows[1]["run_id"] == "run-2" and rows[1]["analyzed_at"] == "2026-11-27T10:00:00.000000Z"


def test_results_format_json_is_the_same_as_json(two_days, cli_runner):
    long_form = invoke(cli_runner, "results", "--format", "json")
    alias = invoke(cli_runner, "results", "--json")
    rows = json.loads(long_form.stdout)
    assert alias.stdout == long_form.stdout
    assert [sorted(r) for r in rows] == [sorted(latest.COLUMNS)] * 2
    assert rows[1]["positive"] == 0.8 and rows[1]["text_sha256"] == text_sha256("Netflix streams.")


def test_results_of_an_empty_watchlist_say_so_on_stderr(stack, cli_runner):
    result = invoke(cli_runner, "results")
    assert (result.exit_code, result.stdout, result.stderr) == (0, "", "no results yet\n")
    assert json.loads(invoke(cli_runner, "results", "--json").stdout) == []


# ---------------------------------------------------------------- the history: the day partitions
def test_results_all_shows_the_history_without_the_duplicate_row(two_days, cli_runner):
    # WHEN the whole history is asked
    result = invoke(cli_runner, "results", "--all", "--json")
    # THEN Netflix has two rows (not three), oldest first, with their texts
    rows = json.loads(result.stdout)
    assert [(r["name"], r["analyzed_at"]) for r in rows] == [
        ("Meta", "2026-11-26T10:00:00.000000Z"),
        ("Netflix", "2026-11-26T10:00:00.000000Z"),
        ("Netflix", "2026-11-27T10:00:00.000000Z"),
    ]
    assert rows[2]["text"] == "Netflix streams." and [sorted(r) for r in rows] == [sorted(COLUMNS)] * 3


def test_a_companys_history_reads_from_the_day_it_was_added(two_days, cli_runner, s3_seen):
    # GIVEN a day before Netflix was added (another company's) and a compacted day 27
    put_jsonl(two_days.bucket, [result_row("Old", "2026-11-10T10:00:00Z")], "2026-11-10")
    manifest = compact(two_days.bucket, "2026-11-27", 4)
    # WHEN Netflix's history is asked
    result = invoke(cli_runner, "results", "--name", "netflix", "--all", "--json")
    # THEN its two rows come back, and only the days since the 20th were read: one compacted object on the 27th
    assert [r["analyzed_at"][:10] for r in json.loads(result.stdout)] == ["2026-11-26", "2026-11-27"]
    (seen,) = s3_seen
    gets = seen.keys("GetObject")
    assert [key for key in gets if "2026-11-27" in key] == sorted(
        [*manifest.current("Netflix"), layout.manifest_key("2026-11-27")]
    )
    assert not any("2026-11-10" in key for key in gets + seen.keys("ListObjectsV2"))


def test_days_widens_a_companys_history(two_days, cli_runner):
    # GIVEN a row of Netflix older than the day it was added (it was on the watchlist before, and removed)
    put_jsonl(two_days.bucket, [result_row("Netflix", "2026-11-10T10:00:00Z", run_id="run-0", text="x")], "2026-11-10")
    # WHEN its history is asked by default, and for the last 30 days
    default = json.loads(invoke(cli_runner, "results", "--name", "Netflix", "--all", "--json").stdout)
    wide = json.loads(invoke(cli_runner, "results", "--name", "Netflix", "--all", "--days", "30", "--json").stdout)
    # THEN only the wider range holds the old row
    assert (len(default), len(wide)) == (2, 3)


def test_results_since_keeps_rows_analysed_from_that_date(two_days, cli_runner):
    result = invoke(cli_runner, "results", "--since", "2026-11-27", "--all", "--json")
    assert [(r["name"], r["analyzed_at"]) for r in json.loads(result.stdout)] == [
        ("Netflix", "2026-11-27T10:00:00.000000Z")
    ]


def test_results_since_reads_from_the_lookback_day_on(two_days, cli_runner, s3_seen):
    # GIVEN a partition older than the lookback (4 days before the 27th is the 23rd)
    put_jsonl(two_days.bucket, [result_row("Old", "2026-11-22T10:00:00Z")], "2026-11-22")
    # WHEN results since the 27th are asked
    invoke(cli_runner, "results", "--since", "2026-11-27", "--all")
    # THEN the 22nd was neither listed nor read, and the 26th was
    (seen,) = s3_seen
    touched = seen.keys("GetObject") + seen.keys("ListObjectsV2")
    assert not any("2026-11-22" in key for key in touched) and any("2026-11-26" in key for key in touched)


def test_results_since_accepts_an_iso_time(two_days, cli_runner):
    result = invoke(cli_runner, "results", "--since", "2026-11-27T09:00:00+02:00", "--json")
    assert [r["analyzed_at"] for r in json.loads(result.stdout)] == ["2026-11-27T10:00:00.000000Z"]


def test_results_since_nothing_new_says_so(two_days, cli_runner):
    result = invoke(cli_runner, "results", "--since", "2026-11-28")
    assert (result.exit_code, result.stdout, result.stderr) == (0, "", "no results since 2026-11-28T00:00:00.000000Z\n")


def test_results_skip_a_malformed_object_with_a_note(two_days, cli_runner):
    # GIVEN a broken object among the good ones
    broken = "results/dt=2026-11-27/part-" + "0" * 32 + ".csv"
    boto3.client("s3").put_object(Bucket=two_days.bucket, Key=broken, Body=b"name,score\nNetflix,lots\n")
    # WHEN the history is asked
    result = invoke(cli_runner, "results", "--all", "--json")
    # THEN the good rows are shown and stderr names the broken key
    assert result.exit_code == 0
    assert [r["name"] for r in json.loads(result.stdout)] == ["Meta", "Netflix", "Netflix"]
    reason = "not rows of the dataset (ValueError: the header is not the dataset's)"
    assert result.stderr == f"skipped s3://{two_days.bucket}/{broken}: {reason}\n"


# ---------------------------------------------------------------- usage
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--json", "--format", "csv"], "--json contradicts --format csv"),
        (["--all", "--days", "3", "--since", "2026-11-27"], "--days contradicts --since"),
        (["--days", "3"], "--days needs --all"),
    ],
)
def test_contradicting_options_are_a_one_line_usage_error(aws, cli_runner, args, message):
    result = invoke(cli_runner, "results", *args)
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and message in result.stderr


def test_results_since_refuses_text_that_is_not_a_date(aws, cli_runner):
    result = invoke(cli_runner, "results", "--since", "yesterday")
    assert result.exit_code == 2
    assert "--since" in result.stderr and "neither a date" in result.stderr


def test_results_of_a_missing_stack_is_one_line_and_exit_1(aws, cli_runner):
    result = invoke(cli_runner, "--stack-name", "absent", "results")
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "stack absent does not exist" in result.stderr
