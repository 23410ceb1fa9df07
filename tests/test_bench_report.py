"""bench/report.py: one table from the JSON `make bench` writes, with every failure shown as a FAIL row."""

from __future__ import annotations

import datetime
import json
import os
from pathlib import Path

import pytest

from bench import report

GiB = 1024**3


@pytest.fixture(autouse=True)
def known_commit(monkeypatch):
    """The report names the commit measured by asking git, a process of its own; a fixed answer keeps these
    unit tests (no process started) and the table the same in any checkout."""
    monkeypatch.setattr(report, "commit", lambda: "commit 0123abc")


def sample_inputs() -> dict[str, dict]:
    """The files `make bench` writes, in the shapes the benches, the build and `cost --json` produce,
    with figures that meet every target."""
    pipeline_calls = {
        "comprehend:BatchDetectSentiment": 0.041,
        "dynamodb:BatchGetItem": 0.041,
        "dynamodb:Scan": 0.001,
        "dynamodb:UpdateItem": 1.0,
        "http:PUT": 0.041,
        "sqs:DeleteMessageBatch": 0.12,
        "sqs:ReceiveMessage": 0.163,
        "sqs:SendMessageBatch": 0.1,
        "text:GET": 1.0,
    }
    prototype_calls = {
        "comprehend:DetectSentiment": 1.0,
        "http:PUT": 0.1,
        "sqs:DeleteMessage": 1.0,
        "sqs:GetQueueUrl": 1.001,
        "sqs:ReceiveMessage": 0.105,
        "sqs:SendMessage": 1.0,
        "text:GET": 1.0,
    }
    run = {"unaccounted": 0, "duplicate_rows": 0, "timed_out": False}
    return {
        "local_e2e": {
            "small": {"companies": 1000, "rate": 75.9, **run},
            "large": {"companies": 10000, "rate": 106.1, **run},
            "prototype": {"companies": 1000, "rate": 28.1},
            "peak_rss_bytes": GiB // 2,
            "per_company": {"pipeline": pipeline_calls, "prototype": prototype_calls},
            "aws_calls_per_company": {"pipeline": 1.507, "prototype": 4.206},
            "targets": {"rate_at_large": 100.0, "peak_rss_bytes": GiB},
            "passed": True,
        },
        "api_calls": {
            "companies": 1000,
            "batch_size": 10,
            "per_company": {
                "tick1": {
                    "wikipedia": 0.07,
                    "sqs": 0.011,
                    "dynamodb_read_units": 0.0005,
                    "comprehend": 0.04,
                    "aws": 1.1,
                },
                "tick2": {
                    "wikipedia": 0.02,
                    "sqs": 0.011,
                    "dynamodb_read_units": 0.0125,
                    "comprehend": 0.0,
                    "aws": 0.02,
                },
            },
            "targets_per_company": {"wikipedia": 0.03, "sqs": 0.02, "dynamodb_read_units": 0.1},
            "checks": {"tick 2: 0 intro requests and 0 Comprehend calls": True},
            "passed": True,
        },
        "polite_scale": {
            "scale": {
                "companies": 60000,
                "first": {"seconds": 400.0, "text_requests": 4200, "intro_requests": 3000, "peak_in_flight": 2},
                "second": {
                    "seconds": 120.0,
                    "text_requests": 1200,
                    "intro_requests": 0,
                    "documents_scored": 0,
                    "peak_in_flight": 2,
                },
                "peak_rss_bytes": GiB // 2,
            },
            "plan": {
                "companies": 60000,
                "budget": 100,
                "period_seconds": 300,
                "windows": 3,
                "interval_seconds": 900,
                "ticks": [{"queued": 20000, "chunks": 400, "as_planned": True}] * 3,
                "every_company_once": True,
                "revision_requests_per_tick_max": 400,
                "revision_requests_per_tick_planned": 400,
                "revision_requests_per_tick_allowed": 500,
            },
            "small": {
                "companies": 1000,
                "budget": 20,
                "schedule": "rate(1 minute)",
                "windows": 2,
                "interval_seconds": 120,
                "seconds": 95.0,
                "ticks": [{"seconds": 48.0}, {"seconds": 47.0}],
                "every_company_checked": True,
                "each_tick_within_its_period": True,
                "peak_in_flight": 2,
                "busiest_minute": 19,
            },
            "checks": {"<= 3 requests in flight": True},
            "passed": True,
        },
        "import_time": {
            "budget_ms": 100.0,
            "cases": {
                "import boto3": {"median_ms": 470.0, "samples": 7, "over_boto3_ms": 0.0, "ratio_to_boto3": 1.0},
                "ProducerAI (consumer)": {
                    "median_ms": 540.0,
                    "samples": 7,
                    "over_boto3_ms": 70.0,
                    "ratio_to_boto3": 1.149,
                },
            },
            "within_budget": True,
        },
        "build": {
            "limit_bytes": 262_144_000,
            "functions": {
                "ServerlessProducer": {"code_bytes": 964, "unzipped_bytes": 110_062, "zipped_bytes": 43_474},
                "ProducerAI": {"code_bytes": 1_022, "unzipped_bytes": 110_120, "zipped_bytes": 43_508},
            },
        },
        "cost": {
            "designs": {
                "pipeline": {
                    "companies": 1000,
                    "schedule": "rate(5 minutes)",
                    "change_rate": 0.01,
                    "totals": {"list": 57.61, "after_free_tier": 54.69},
                },
                "prototype": {"companies": 1000, "totals": {"list": 3091.74, "after_free_tier": 3082.93}},
            },
            "prices": {"region": "us-east-1", "confirmed": "2026-11-28"},
            "ratio": {"list": 53.67, "after_free_tier": 56.37},
        },
        "sqs_depth": {
            "depths": {
                "10000": {
                    "patched": {"ReceiveMessage(10)": 9.5, "ListQueues (floor)": 8.0},
                    "shipped": {"ReceiveMessage(10)": 3400.0, "ListQueues (floor)": 8.4},
                }
            },
            "target_ms": 20.0,
            "passed": True,
        },
        "producer_scale": {
            "companies": 100000,
            "timeout_seconds": 60,
            "runs": [
                {"budget": 100, "seconds": 38.4, "queued": 20092, "scan_complete": True},
                {"budget": 100000, "seconds": 35.1, "queued": 100000, "scan_complete": True},
            ],
            "passed": True,
        },
        "ddb_update": {
            "threads": 4,
            "figures": {"local mode": {"server_cpu_ms": 4.47}, "shipped": {"server_cpu_ms": 19.23}},
            "cpu_ratio": 4.3,
            "target_cpu_ratio": 2.0,
            "passed": True,
        },
        "dataset": {
            "seed": {"objects": 246000, "rows": 258000},
            "baseline": {"finished": False, "seconds": 120.0, "extrapolated_seconds": 3000.0},
            "results_latest": {"median": 0.6, "s3": {}},
            "dashboard_main": {"median": 0.75, "s3": {}},
            "company_page": {"median": 1.5, "header": "list=0, get=180", "s3": {"GetObject": 180}},
            "compaction": {
                "days": 89,
                "objects_before": 240000,
                "objects_after": 89,
                "max_objects_after_per_day": 1,
                "rows_before": 250000,
                "rows_after": 250000,
            },
            "checks": {
                "latest_no_gets": True,
                "latest_within_1s": True,
                "company_within_2s": True,
                "objects_per_day": True,
                "rows_kept": True,
            },
            "passed": True,
        },
    }


def write(folder: Path, inputs: dict[str, dict]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in inputs.items():
        (folder / f"{name}.json").write_text(json.dumps(data))
    return folder


def row(text: str, starting: str) -> list[str]:
    """The cells of the one table row whose first cell starts with `starting`."""
    found = [line for line in text.splitlines() if line.startswith(f"| {starting}")]
    assert len(found) == 1, f"expected one row starting {starting!r}, found {found}"
    return [cell.strip() for cell in found[0].strip("|").split("|")]


def test_every_figure_meeting_its_target_makes_one_passing_table(tmp_path, capsys):
    # GIVEN every input in the shape make bench writes, each meeting its target
    folder = write(tmp_path / "bench", sample_inputs())
    # WHEN the report is made
    status = report.main(["--dir", str(folder), "--markdown-out", str(tmp_path / "report.md")])
    out = capsys.readouterr().out
    # THEN it passes, with one table headed by the date and the machine, also written to the file
    assert status == 0
    assert out == (tmp_path / "report.md").read_text()
    assert "| what | this pipeline | the prototype's pattern / baseline | ratio | target | result |" in out
    assert out.count("| what |") == 1
    assert "logical CPUs" in out and "Python" in out
    assert "| FAIL |" not in out
    # AND the figures are the inputs', set beside the prototype's
    assert row(out, "AWS API calls per company, 1,000")[1:4] == ["1.507", "4.206", "2.8x fewer"]
    assert row(out, "· Comprehend calls per company |")[1:3] == ["0.041", "1.000"]
    assert row(out, "· SQS calls")[1:3] == ["0.383", "3.106"]
    assert row(out, "Companies per second end to end, 1,000")[1:4] == ["75.9", "28.1", "2.7x faster"]
    assert row(out, "Monthly cost, 1,000 companies")[3] == "53.7x cheaper (56.4x)"
    # AND the requests per company per tick are the api_calls and polite_scale benches', beside the prototype's
    # one intro request per company every tick, with each bench's own target
    assert row(out, "Wikipedia requests per company, a tick with nothing changed (1,000")[1:] == [
        "0.0200",
        "1.000 (an intro request per company, every tick)",
        "50.0x fewer",
        "<= 0.03 (bench/api_calls.py)",
        "PASS",
    ]
    assert row(out, "· Comprehend calls per company that tick")[1:] == [
        "0.0000",
        "1.000 (it analyses every tick)",
        "—",
        "0 (bench/api_calls.py)",
        "PASS",
    ]
    assert row(out, "Wikipedia requests per company, a tick with nothing changed, 60,000")[1:4] == [
        "0.0200",
        "1.000 (an intro request per company, every tick)",
        "50.0x fewer",
    ]
    assert row(out, "· the first tick, every page new")[1:4] == ["0.0700", "1.000", "14.3x fewer"]
    assert row(out, "Most Wikipedia requests in flight")[1:] == ["2", "—", "—", "<= 3", "PASS"]
    assert row(out, "Peak memory of local mode, 60,000")[1] == "512 MiB"
    assert row(out, "Wall time of a tick, 60,000")[1] == (
        "400.0 s every page new (150/s), 120.0 s nothing changed (500/s)"
    )
    # AND the dataset's latest view, beside the code before on the same bucket
    assert row(out, "`results`, latest view, 258,000 rows")[1:] == [
        "0.60 s, 0 GETs",
        "3,000 s (extrapolated), 246,000 GETs",
        "5,000x faster",
        "0 GETs, <= 1 s",
        "PASS",
    ]
    assert row(out, "Compaction of 89 finished days")[1] == (
        "240,000 -> 89 objects (at most 1 a day); rows 250,000 -> 250,000"
    )
    # AND the one figure quoted rather than measured says where it comes from
    assert "docs/design.md, not measured" in row(out, "Code + layers")[2]


def test_a_bench_that_missed_its_target_is_a_fail_row_and_exit_1(tmp_path, capsys):
    # GIVEN the UpdateItem bench measured too little a gain and failed
    inputs = sample_inputs()
    inputs["ddb_update"].update(cpu_ratio=1.4, passed=False)
    folder = write(tmp_path / "bench", inputs)
    # WHEN the report is made
    status = report.main(["--dir", str(folder)])
    captured = capsys.readouterr()
    # THEN its row and its verdict say FAIL, the other rows still show, and the exit status is 1
    assert status == 1
    assert row(captured.out, "Server CPU per consumer UpdateItem")[-1] == "FAIL"
    assert "bench/ddb_update.py FAIL" in captured.out
    assert row(captured.out, "Monthly cost")[-1] == "PASS"
    assert "bench/ddb_update.py" in captured.err


def test_a_pipeline_slower_than_the_prototype_fails_even_without_a_bench_target(tmp_path, capsys):
    # GIVEN a local run at 1,000 companies slower than the prototype's pattern (local_e2e has no target there)
    inputs = sample_inputs()
    inputs["local_e2e"]["small"]["rate"] = 20.0
    folder = write(tmp_path / "bench", inputs)
    # WHEN the report is made
    status = report.main(["--dir", str(folder)])
    # THEN that comparison fails
    out = capsys.readouterr().out
    assert status == 1
    assert row(out, "Companies per second end to end, 1,000")[3:] == [
        "1.4x slower",
        "faster than the prototype's",
        "FAIL",
    ]


@pytest.mark.parametrize("broken", ["missing", "not JSON", "another shape"])
def test_an_input_missing_or_unreadable_is_a_fail_row_not_a_gap(tmp_path, capsys, broken):
    # GIVEN the local end-to-end bench left no usable file (it died, or its output changed shape)
    inputs = sample_inputs()
    folder = write(tmp_path / "bench", inputs)
    path = folder / "local_e2e.json"
    if broken == "missing":
        path.unlink()
    elif broken == "not JSON":
        path.write_text("Traceback (most recent call last):")
    else:
        path.write_text(json.dumps({"small": {}}))
    # WHEN the report is made
    status = report.main(["--dir", str(folder)])
    out = capsys.readouterr().out
    # THEN it says so in a FAIL row, keeps every other row, and exits 1
    assert status == 1
    cells = row(out, "Local mode end to end")
    assert cells[1].startswith(("not measured", "unreadable local_e2e.json")) and cells[-1] == "FAIL"
    assert row(out, "Cold import of the consumer's handler")[-1] == "PASS"


def test_the_date_is_when_the_benches_wrote_their_figures_not_when_the_report_ran(tmp_path, capsys):
    # GIVEN inputs written between 03:04 and 03:09 UTC on 2 January 2026
    folder = write(tmp_path / "bench", sample_inputs())
    start = datetime.datetime(2026, 1, 2, 3, 4, tzinfo=datetime.UTC).timestamp()
    for i, path in enumerate(sorted(folder.glob("*.json"))):
        os.utime(path, (start + 34 * i, start + 34 * i))  # ten files: the last at 03:09:06
    # WHEN the report is made, today
    report.main(["--dir", str(folder)])
    # THEN it dates the measurement by the inputs
    assert capsys.readouterr().out.startswith("`make bench`, measured 2026-01-02 03:04 to 03:09 UTC on ")


def test_more_than_three_requests_in_flight_fails_the_polite_rows(tmp_path, capsys):
    # GIVEN a polite_scale run whose small-budget phase had 4 requests in flight at once and over-spent a minute
    inputs = sample_inputs()
    inputs["polite_scale"]["small"].update(peak_in_flight=4, busiest_minute=21)
    inputs["polite_scale"]["passed"] = False
    folder = write(tmp_path / "bench", inputs)
    # WHEN the report is made
    status = report.main(["--dir", str(folder)])
    out = capsys.readouterr().out
    # THEN both rows fail, the others about the same run still pass, and so does the exit status
    assert status == 1
    assert row(out, "Most Wikipedia requests in flight")[1::4] == ["4", "FAIL"]
    assert row(out, "Small budget in real time")[-1] == "FAIL"
    assert row(out, "Wikipedia requests per company, a tick with nothing changed, 60,000")[-1] == "PASS"
    assert "bench/polite_scale.py FAIL" in out


def test_an_api_calls_file_of_the_earlier_shape_is_a_fail_row(tmp_path, capsys):
    # GIVEN an api_calls.json left by the bench before it counted requests per tick
    inputs = sample_inputs()
    inputs["api_calls"] = {"companies": 100, "per_company": {"comprehend:* (run 2)": 0.0}, "passed": True}
    folder = write(tmp_path / "bench", inputs)
    # WHEN the report is made
    status = report.main(["--dir", str(folder)])
    out = capsys.readouterr().out
    # THEN its row says which file could not be read, and the report fails
    assert status == 1
    assert row(out, "Requests per company with nothing changed")[1].startswith("unreadable api_calls.json")
