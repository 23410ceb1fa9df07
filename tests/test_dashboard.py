"""The results dashboard (watchlist_workstation.dashboard, `./cfcli.py serve`): pages, chart, JSON API and errors,
over moto: the main page from the watchlist table, a company's page from its S3 day partitions."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime

import boto3
import pytest

import cfcli  # noqa: F401 - registers every command on the group
from lib import dataset_layout as layout
from lib.results import ResultRow
from tests.conftest import put_companies, result_row
from tests.history_fixture import S3Calls, compact, put_jsonl, record
from watchlist_workstation.cli.app import cli
from watchlist_workstation.cli.context import aws_error_message
from watchlist_workstation.dashboard.app import create_app, safe_link
from watchlist_workstation.dashboard.data import ResultsData

TODAY = date(2026, 11, 28)
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)  # every day before TODAY is finished
ADDED = "2026-11-20T08:00:00.000000Z"


@pytest.fixture
def watch(resources):
    """A results bucket and a watchlist table."""
    return resources


def data_for(watch, s3=None, **kwargs) -> ResultsData:
    return ResultsData(
        s3 or boto3.client("s3"),
        watch.bucket,
        "results",
        ddb=boto3.client("dynamodb"),
        table=watch.table,
        now=lambda: NOW,
        **kwargs,
    )


def client_for(watch, s3=None, **kwargs):
    return create_app(data_for(watch, s3, **kwargs), explain=aws_error_message).test_client()


def analysed(watch, rows: list[ResultRow], day: str) -> str:
    """`rows` as the consumer leaves them: one batch object, and each company's state in the table."""
    put_companies(watch.table, sorted({row.name for row in rows} - set(watch_names(watch))), added_at=ADDED)
    key = put_jsonl(watch.bucket, rows, day)
    for row in rows:
        record(watch.table, row, key)
    return key


def watch_names(watch) -> list[str]:
    items = boto3.client("dynamodb").scan(
        TableName=watch.table, ProjectionExpression="#n", ExpressionAttributeNames={"#n": "name"}
    )
    return [item["name"]["S"] for item in items["Items"]]


def row_cells(html: str, row_class: str) -> list[str]:
    return re.findall(rf'<tr class="{row_class}">(.*?)</tr>', html, flags=re.S)


def test_index_shows_each_companys_latest_row_with_label_scores_time_and_source(watch):
    # GIVEN Netflix analysed twice (a newer text the second time) and Meta once
    analysed(watch, [result_row("Netflix", "2026-11-26T10:00:00Z", positive=0.2)], "2026-11-26")
    analysed(
        watch,
        [
            result_row("Netflix", "2026-11-27T10:00:00Z", run_id="run-2", text="Netflix grew.", positive=0.8),
            result_row("Meta", "2026-11-27T10:00:01Z", run_id="run-2"),
        ],
        "2026-11-27",
    )
    # AND a company on the watchlist not analysed yet
    put_companies(watch.table, ["Initech"], added_at=ADDED)
    s3 = boto3.client("s3")
    seen = S3Calls(s3)
    # WHEN the page is loaded
    response = client_for(watch, s3).get("/")
    # THEN there is one row per company, sorted by name, showing the newest analysis
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    rows = row_cells(html, "result")
    assert len(rows) == 2
    assert ">Meta</a>" in rows[0] and ">Netflix</a>" in rows[1]
    assert "POSITIVE" in rows[1] and "0.800" in rows[1] and "2026-11-27T10:00:00.000000Z" in rows[1]
    assert 'href="/companies/Netflix"' in rows[1]
    assert 'href="https://en.wikipedia.org/wiki/Netflix"' in rows[1]
    assert "2 companies, 1 more not analysed yet." in " ".join(html.split())
    # AND it read the table only: no S3 request, and the header says so
    assert seen.sent == 0 and response.headers["X-S3-Requests"] == "list=0, get=0"


def test_empty_dataset_says_so_and_how_to_fill_it(watch):
    response = client_for(watch).get("/")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'id="empty"' in html and "No results yet" in html and "./cfcli.py run" in html
    assert '<table id="latest"' not in html


def test_company_page_draws_every_analysis_of_every_score(watch):
    # GIVEN three analyses of Netflix with different texts
    for day, positive in ((25, 0.1), (26, 0.5), (27, 0.9)):
        text = f"Netflix text {day}"
        analysed(
            watch, [result_row("Netflix", f"2026-11-{day}T08:00:00Z", f"run-{day}", text, positive)], f"2026-11-{day}"
        )
    # WHEN its page is loaded (the name in another case)
    response = client_for(watch).get("/companies/netflix")
    # THEN the chart has four series of three points each, rising for `positive`
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    chart = re.search(r'<svg[^>]*id="history-chart".*?</svg>', html, flags=re.S).group(0)
    assert 'data-analyses="3"' in chart
    series = dict(re.findall(r'<g class="series" data-score="(\w+)" data-points="(\d+)">', chart))
    assert series == {"positive": "3", "negative": "3", "neutral": "3", "mixed": "3"}
    positive = re.search(r'data-score="positive".*?<polyline[^>]* points="([^"]+)"', chart, flags=re.S).group(1)
    ys = [float(point.split(",")[1]) for point in positive.split()]
    assert ys[0] > ys[1] > ys[2]  # SVG y grows downwards: a rising score climbs the chart
    # AND the history table lists the analyses newest first
    times = re.findall(r'<td class="time">([^<]+)</td>', html)
    assert times == ["2026-11-27T08:00:00.000000Z", "2026-11-26T08:00:00.000000Z", "2026-11-25T08:00:00.000000Z"]


def test_a_single_analysis_is_a_dot_not_a_line(watch):
    analysed(watch, [result_row("Meta", "2026-11-27T08:00:00Z")], "2026-11-27")
    html = client_for(watch).get("/companies/Meta").get_data(as_text=True)
    assert "<polyline" not in html
    assert html.count("<circle") == 4


def test_api_results_is_pretty_printed_json_of_the_latest_rows(watch):
    analysed(watch, [result_row("Netflix", "2026-11-27T10:00:00Z", positive=0.75)], "2026-11-27")
    response = client_for(watch).get("/api/results")
    assert response.status_code == 200 and response.mimetype == "application/json"
    body = response.get_data(as_text=True)
    assert body.startswith('{\n  "location": ')  # indented, one key per line
    data = json.loads(body)
    assert data["location"] == f"s3://{watch.bucket}/results/" and data["companies"] == 1
    assert data["table"] == watch.table and data["s3_requests"] == {"list": 0, "get": 0}
    (only,) = data["results"]
    assert only["name"] == "Netflix" and only["sentiment"] == "POSITIVE"
    assert only["scores"]["positive"] == 0.75 and only["analyzed_at"] == "2026-11-27T10:00:00.000000Z"
    assert "text" not in only


def test_api_company_returns_its_history_with_texts(watch):
    analysed(watch, [result_row("Netflix", "2026-11-26T10:00:00Z", "run-1", "old text")], "2026-11-26")
    analysed(watch, [result_row("Netflix", "2026-11-27T10:00:00Z", "run-2", "new text")], "2026-11-27")
    data = json.loads(client_for(watch).get("/api/companies/Netflix").get_data(as_text=True))
    assert [row["text"] for row in data["history"]] == ["old text", "new text"]
    assert data["latest"]["text"] == "new text" and data["name"] == "Netflix"


def test_a_redelivered_batch_is_shown_once(watch):
    row = result_row("Netflix", "2026-11-27T10:00:00Z")
    analysed(watch, [row], "2026-11-27")
    analysed(watch, [row, result_row("Meta", "2026-11-27T10:00:00Z")], "2026-11-27")  # same row in a second object
    data = json.loads(client_for(watch).get("/api/companies/Netflix").get_data(as_text=True))
    assert len(data["history"]) == 1


def test_unknown_company_is_a_404_with_a_readable_message(watch):
    analysed(watch, [result_row("Netflix", "2026-11-27T10:00:00Z")], "2026-11-27")
    client = client_for(watch)
    page = client.get("/companies/Nobody")
    assert page.status_code == 404 and "no results for &#39;Nobody&#39;" in page.get_data(as_text=True)
    api = client.get("/api/companies/Nobody")
    assert api.status_code == 404 and json.loads(api.get_data(as_text=True))["error"].startswith("no results for")


def test_an_aws_error_is_a_readable_page_not_a_traceback(watch):
    # GIVEN a dashboard over a table and a bucket that do not exist
    data = ResultsData(
        boto3.client("s3"), "no-such-results-bucket", ddb=boto3.client("dynamodb"), table="no-such-table"
    )
    client = create_app(data, explain=aws_error_message).test_client()
    # WHEN the main page, its API and a company page are asked for
    page, api, company = client.get("/"), client.get("/api/results"), client.get("/companies/Netflix")
    # THEN each says which read failed and why, with status 502, and shows no traceback
    html = page.get_data(as_text=True)
    assert page.status_code == 502
    assert "could not read the watchlist table no-such-table" in html and "ResourceNotFoundException" in html
    assert "Traceback" not in html
    assert api.status_code == 502 and "ResourceNotFound" in json.loads(api.get_data(as_text=True))["error"]
    # (a company page reads the table first, for the company's name and added date)
    assert company.status_code == 502 and "could not read the watchlist table no-such-table" in company.text


def test_a_company_page_over_a_missing_bucket_is_a_502(watch):
    analysed(watch, [result_row("Netflix", "2026-11-27T10:00:00Z")], "2026-11-27")
    data = ResultsData(boto3.client("s3"), "no-such-results-bucket", ddb=boto3.client("dynamodb"), table=watch.table)
    response = create_app(data, explain=aws_error_message).test_client().get("/api/companies/Netflix")
    error = json.loads(response.get_data(as_text=True))["error"]
    assert response.status_code == 502
    assert (
        error.startswith("could not read the results at s3://no-such-results-bucket/results/")
        and "NoSuchBucket" in error
    )


def test_an_unexpected_error_is_a_short_500_and_the_traceback_stays_in_the_log(watch, monkeypatch, capsys):
    client = client_for(watch)

    def broken(self):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(ResultsData, "snapshot", broken)
    response = client.get("/")
    assert response.status_code == 500
    html = response.get_data(as_text=True)
    assert "internal error" in html and "ZeroDivisionError" not in html and "Traceback" not in html
    assert "ZeroDivisionError" in capsys.readouterr().out  # the pipeline's JSON log line, with the traceback


def test_malformed_objects_are_left_out_of_a_company_page_and_listed(watch):
    analysed(watch, [result_row("Netflix", "2026-11-27T10:00:00Z")], "2026-11-27")
    bad = "results/dt=2026-11-27/part-" + "b" * 32 + ".csv"
    boto3.client("s3").put_object(Bucket=watch.bucket, Key=bad, Body=b"not,the,header\n")
    # The table names the broken object among Netflix's recent results, so its page reads it.
    boto3.client("dynamodb").update_item(
        TableName=watch.table,
        Key={"name": {"S": "Netflix"}},
        UpdateExpression="ADD recent_results :k",
        ExpressionAttributeValues={":k": {"SS": [bad]}},
    )
    html = client_for(watch).get("/companies/Netflix").get_data(as_text=True)
    assert len(row_cells(html, "analysis")) == 1
    assert bad in html and "the header is not the dataset" in html


def test_only_web_links_become_links():
    assert safe_link("https://en.wikipedia.org/wiki/Netflix") == "https://en.wikipedia.org/wiki/Netflix"
    for bad in ("javascript:alert(1)", "data:text/html,x", "/relative", "", "https://"):
        assert safe_link(bad) is None


def test_names_are_escaped_and_a_script_source_is_not_linked(watch):
    row = result_row('<script>alert("x")</script>', "2026-11-27T10:00:00Z")
    row = ResultRow(**{**row.__dict__, "source_url": "javascript:alert(1)"})
    analysed(watch, [row], "2026-11-27")
    html = client_for(watch).get("/").get_data(as_text=True)
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "javascript:" not in html


def test_pages_forbid_scripts_and_outside_resources(watch):
    response = client_for(watch).get("/")
    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "script-src" not in policy
    assert response.headers["Referrer-Policy"] == "no-referrer"
    css = client_for(watch).get("/static/dashboard.css")
    assert css.status_code == 200 and b"http" not in css.data  # nothing fetched from elsewhere


def test_the_dashboard_is_read_only(watch):
    client = client_for(watch)
    for method in (client.post, client.put, client.delete):
        assert method("/api/results").status_code == 405


def test_a_snapshot_is_reused_until_it_is_max_age_old(watch):
    # GIVEN a dashboard whose clock the test moves
    now = [0.0]
    data = data_for(watch, max_age=30, clock=lambda: now[0])
    client = create_app(data, explain=aws_error_message).test_client()
    assert json.loads(client.get("/api/results").data)["companies"] == 0
    analysed(watch, [result_row("Netflix", "2026-11-27T10:00:00Z")], "2026-11-27")
    # WHEN a result lands, THEN it shows only once the snapshot is max_age old
    now[0] = 29.0
    assert json.loads(client.get("/api/results").data)["companies"] == 0
    now[0] = 30.0
    assert json.loads(client.get("/api/results").data)["companies"] == 1


def test_a_company_page_reads_only_its_days_and_says_how_many_requests(watch):
    # GIVEN Netflix added on the 20th; a day before that, a compacted day 26 and a batch day 27
    analysed(
        watch, [result_row("Netflix", "2026-11-26T10:00:00Z"), result_row("Meta", "2026-11-26T10:00:00Z")], "2026-11-26"
    )
    manifest = compact(watch.bucket, "2026-11-26", 4)
    later = analysed(watch, [result_row("Netflix", "2026-11-27T10:00:00Z", "run-2", "new text")], "2026-11-27")
    put_jsonl(watch.bucket, [result_row("Old", "2026-11-10T10:00:00Z")], "2026-11-10")
    s3 = boto3.client("s3")
    seen = S3Calls(s3)
    client = client_for(watch, s3)
    # WHEN its page and its JSON are asked for
    page = client.get("/companies/Netflix")
    seen_by_page = list(seen.calls)
    api = json.loads(client.get("/api/companies/Netflix").get_data(as_text=True))
    # THEN the page read the manifest of each finished day since the 20th, Netflix's compacted object and the batch
    # object its table item names, nothing of the 10th and nothing of today (no recent result of Netflix's is today's)
    gets = sorted(key for name, key in seen_by_page if name == "GetObject")
    finished_days = [f"2026-11-{day}" for day in range(20, 28)]
    assert gets == sorted([*manifest.current("Netflix"), later, *map(layout.manifest_key, finished_days)])
    # AND it listed only the days its recent results cannot vouch for (before the 24th: three days before its latest
    # analysis) that have no manifest
    lists = sorted(key for name, key in seen_by_page if name == "ListObjectsV2")
    assert lists == [layout.day_prefix("results", f"2026-11-{day}") for day in range(20, 24)]
    # AND the header and the JSON say so
    assert page.headers["X-S3-Requests"] == f"list=4, get={len(gets)}" == "list=4, get=10"
    assert api["s3_requests"] == {"list": 4, "get": 10} and api["first_day"] == "2026-11-20"
    assert [row["text"] for row in api["history"]] == ["Netflix is a company.", "new text"]


def test_the_company_pages_latest_is_the_main_pages(watch):
    # GIVEN Netflix analysed three times over three days, the middle day compacted
    for day in (25, 26, 27):
        row = result_row("Netflix", f"2026-11-{day}T08:00:00Z", f"run-{day}", f"text {day}", 0.1 * (day - 20))
        analysed(watch, [row], f"2026-11-{day}")
    compact(watch.bucket, "2026-11-26", 2)
    client = client_for(watch)
    # WHEN the latest view and the company's history are asked for
    (listed,) = json.loads(client.get("/api/results").get_data(as_text=True))["results"]
    company = json.loads(client.get("/api/companies/Netflix").get_data(as_text=True))
    # THEN both name the same analysis as the latest
    assert {k: v for k, v in company["latest"].items() if k != "text"} == listed
    assert len(company["history"]) == 3


def test_days_widens_a_company_page_and_bad_days_are_a_400(watch):
    # GIVEN a row of Netflix from before it was (re-)added
    analysed(watch, [result_row("Netflix", "2026-11-27T10:00:00Z")], "2026-11-27")
    put_jsonl(watch.bucket, [result_row("Netflix", "2026-11-10T10:00:00Z", "run-0", "older")], "2026-11-10")
    client = client_for(watch)
    # WHEN its history is asked by default, for 30 days, and for a nonsense number of days
    default = json.loads(client.get("/api/companies/Netflix").get_data(as_text=True))
    wide = json.loads(client.get("/api/companies/Netflix?days=30").get_data(as_text=True))
    bad = client.get("/api/companies/Netflix?days=-1")
    # THEN only the wider range holds the older row, and the nonsense is refused in one line
    assert (len(default["history"]), len(wide["history"])) == (1, 2)
    assert bad.status_code == 400 and "days must be a whole number" in json.loads(bad.data)["error"]


def test_serve_without_a_stack_is_one_line_and_exit_1(aws, cli_runner, monkeypatch):
    monkeypatch.setenv("CFCLI_STACK_NAME", "no-such-stack")
    result = cli_runner.invoke(cli, ["serve"])
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1 and "stack no-such-stack does not exist" in result.stderr


def test_serve_refuses_a_bad_port_as_a_usage_error(cli_runner):
    result = cli_runner.invoke(cli, ["serve", "--port", "70000"])
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
