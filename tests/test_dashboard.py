"""The results dashboard (watchlist_workstation.dashboard, `./cfcli.py serve`): pages, chart, JSON API and errors,
over moto S3."""

from __future__ import annotations

import json
import re

import boto3

import cfcli  # noqa: F401 - registers every command on the group
from lib.results import ResultRow
from tests.conftest import put_batch, result_row
from watchlist_workstation.cli.app import cli
from watchlist_workstation.cli.context import aws_error_message
from watchlist_workstation.dashboard.app import create_app, safe_link
from watchlist_workstation.dashboard.data import ResultsData


def client_for(bucket: str, **kwargs):
    data = ResultsData(boto3.client("s3"), bucket, "results", **kwargs)
    return create_app(data, explain=aws_error_message).test_client()


def row_cells(html: str, row_class: str) -> list[str]:
    return re.findall(rf'<tr class="{row_class}">(.*?)</tr>', html, flags=re.S)


def test_index_shows_each_companys_latest_row_with_label_scores_time_and_source(bucket):
    # GIVEN Netflix analysed twice (a newer text the second time) and Meta once
    put_batch(bucket, [result_row("Netflix", "2026-11-26T10:00:00Z", positive=0.2)], "2026-11-26")
    put_batch(
        bucket,
        [
            result_row("Netflix", "2026-11-27T10:00:00Z", run_id="run-2", text="Netflix grew.", positive=0.8),
            result_row("Meta", "2026-11-27T10:00:01Z", run_id="run-2"),
        ],
        "2026-11-27",
    )
    # WHEN the page is loaded
    response = client_for(bucket).get("/")
    # THEN there is one row per company, sorted by name, showing the newest analysis
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    rows = row_cells(html, "result")
    assert len(rows) == 2
    assert ">Meta</a>" in rows[0] and ">Netflix</a>" in rows[1]
    assert "POSITIVE" in rows[1] and "0.800" in rows[1] and "2026-11-27T10:00:00.000000Z" in rows[1]
    assert 'href="/companies/Netflix"' in rows[1]
    assert 'href="https://en.wikipedia.org/wiki/Netflix"' in rows[1]
    assert "2 companies, 3 analyses" in " ".join(html.split())


def test_empty_dataset_says_so_and_how_to_fill_it(bucket):
    response = client_for(bucket).get("/")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'id="empty"' in html and "No results yet" in html and "./cfcli.py run" in html
    assert '<table id="latest"' not in html


def test_company_page_draws_every_analysis_of_every_score(bucket):
    # GIVEN three analyses of Netflix with different texts
    for day, positive in ((25, 0.1), (26, 0.5), (27, 0.9)):
        text = f"Netflix text {day}"
        put_batch(
            bucket, [result_row("Netflix", f"2026-11-{day}T08:00:00Z", f"run-{day}", text, positive)], f"2026-11-{day}"
        )
    # WHEN its page is loaded (the name in another case)
    response = client_for(bucket).get("/companies/netflix")
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


def test_a_single_analysis_is_a_dot_not_a_line(bucket):
    put_batch(bucket, [result_row("Meta", "2026-11-27T08:00:00Z")], "2026-11-27")
    html = client_for(bucket).get("/companies/Meta").get_data(as_text=True)
    assert "<polyline" not in html
    assert html.count("<circle") == 4


def test_api_results_is_pretty_printed_json_of_the_latest_rows(bucket):
    put_batch(bucket, [result_row("Netflix", "2026-11-27T10:00:00Z", positive=0.75)], "2026-11-27")
    response = client_for(bucket).get("/api/results")
    assert response.status_code == 200 and response.mimetype == "application/json"
    body = response.get_data(as_text=True)
    assert body.startswith('{\n  "location": ')  # indented, one key per line
    data = json.loads(body)
    assert data["location"] == f"s3://{bucket}/results/" and data["companies"] == 1
    (only,) = data["results"]
    assert only["name"] == "Netflix" and only["sentiment"] == "POSITIVE"
    assert only["scores"]["positive"] == 0.75 and only["analyzed_at"] == "2026-11-27T10:00:00.000000Z"
    assert "text" not in only


def test_api_company_returns_its_history_with_texts(bucket):
    put_batch(bucket, [result_row("Netflix", "2026-11-26T10:00:00Z", "run-1", "old text")], "2026-11-26")
    put_batch(bucket, [result_row("Netflix", "2026-11-27T10:00:00Z", "run-2", "new text")], "2026-11-27")
    data = json.loads(client_for(bucket).get("/api/companies/Netflix").get_data(as_text=True))
    assert [row["text"] for row in data["history"]] == ["old text", "new text"]
    assert data["latest"]["text"] == "new text" and data["name"] == "Netflix"


def test_a_redelivered_batch_is_shown_once(bucket):
    row = result_row("Netflix", "2026-11-27T10:00:00Z")
    put_batch(bucket, [row], "2026-11-27")
    put_batch(bucket, [row, result_row("Meta", "2026-11-27T10:00:00Z")], "2026-11-27")  # same row in a second object
    data = json.loads(client_for(bucket).get("/api/companies/Netflix").get_data(as_text=True))
    assert len(data["history"]) == 1


def test_unknown_company_is_a_404_with_a_readable_message(bucket):
    put_batch(bucket, [result_row("Netflix", "2026-11-27T10:00:00Z")], "2026-11-27")
    client = client_for(bucket)
    page = client.get("/companies/Nobody")
    assert page.status_code == 404 and "no results for &#39;Nobody&#39;" in page.get_data(as_text=True)
    api = client.get("/api/companies/Nobody")
    assert api.status_code == 404 and json.loads(api.get_data(as_text=True))["error"].startswith("no results for")


def test_an_aws_error_is_a_readable_page_not_a_traceback(aws):
    # GIVEN a dashboard over a bucket that does not exist
    client = client_for("no-such-results-bucket")
    # WHEN the page and the API are asked for
    page, api = client.get("/"), client.get("/api/results")
    # THEN both say which read failed and why, with status 502, and show no traceback
    html = page.get_data(as_text=True)
    assert page.status_code == 502
    assert "could not read the results at s3://no-such-results-bucket/results/" in html and "NoSuchBucket" in html
    assert "Traceback" not in html
    assert api.status_code == 502 and "NoSuchBucket" in json.loads(api.get_data(as_text=True))["error"]


def test_an_unexpected_error_is_a_short_500_and_the_traceback_stays_in_the_log(bucket, monkeypatch, capsys):
    client = client_for(bucket)

    def broken(self):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(ResultsData, "snapshot", broken)
    response = client.get("/")
    assert response.status_code == 500
    html = response.get_data(as_text=True)
    assert "internal error" in html and "ZeroDivisionError" not in html and "Traceback" not in html
    assert "ZeroDivisionError" in capsys.readouterr().out  # the pipeline's JSON log line, with the traceback


def test_malformed_objects_are_left_out_and_listed(bucket):
    put_batch(bucket, [result_row("Netflix", "2026-11-27T10:00:00Z")], "2026-11-27")
    boto3.client("s3").put_object(Bucket=bucket, Key="results/dt=2026-11-27/part-bad.csv", Body=b"not,the,header\n")
    html = client_for(bucket).get("/").get_data(as_text=True)
    assert len(row_cells(html, "result")) == 1
    assert "results/dt=2026-11-27/part-bad.csv" in html and "header is not the dataset" in html


def test_only_web_links_become_links():
    assert safe_link("https://en.wikipedia.org/wiki/Netflix") == "https://en.wikipedia.org/wiki/Netflix"
    for bad in ("javascript:alert(1)", "data:text/html,x", "/relative", "", "https://"):
        assert safe_link(bad) is None


def test_names_are_escaped_and_a_script_source_is_not_linked(bucket):
    row = result_row('<script>alert("x")</script>', "2026-11-27T10:00:00Z")
    row = ResultRow(**{**row.__dict__, "source_url": "javascript:alert(1)"})
    put_batch(bucket, [row], "2026-11-27")
    html = client_for(bucket).get("/").get_data(as_text=True)
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "javascript:" not in html


def test_pages_forbid_scripts_and_outside_resources(bucket):
    response = client_for(bucket).get("/")
    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "script-src" not in policy
    assert response.headers["Referrer-Policy"] == "no-referrer"
    css = client_for(bucket).get("/static/dashboard.css")
    assert css.status_code == 200 and b"http" not in css.data  # nothing fetched from elsewhere


def test_the_dashboard_is_read_only(bucket):
    client = client_for(bucket)
    for method in (client.post, client.put, client.delete):
        assert method("/api/results").status_code == 405


def test_a_snapshot_is_reused_until_it_is_max_age_old(bucket):
    # GIVEN a dashboard whose clock the test moves
    now = [0.0]
    data = ResultsData(boto3.client("s3"), bucket, "results", max_age=30, clock=lambda: now[0])
    client = create_app(data, explain=aws_error_message).test_client()
    assert json.loads(client.get("/api/results").data)["companies"] == 0
    put_batch(bucket, [result_row("Netflix", "2026-11-27T10:00:00Z")], "2026-11-27")
    # WHEN a result lands, THEN it shows only once the snapshot is max_age old
    now[0] = 29.0
    assert json.loads(client.get("/api/results").data)["companies"] == 0
    now[0] = 30.0
    assert json.loads(client.get("/api/results").data)["companies"] == 1


def test_serve_without_a_stack_is_one_line_and_exit_1(aws, cli_runner, monkeypatch):
    monkeypatch.setenv("CFCLI_STACK_NAME", "no-such-stack")
    result = cli_runner.invoke(cli, ["serve"])
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1 and "stack no-such-stack does not exist" in result.stderr


def test_serve_refuses_a_bad_port_as_a_usage_error(cli_runner):
    result = cli_runner.invoke(cli, ["serve", "--port", "70000"])
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
