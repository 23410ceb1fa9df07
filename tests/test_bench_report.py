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
            "companies": 100,
            "per_company": {"sqs:SendMessageBatch": 0.1, "comprehend:*": 0.04, "comprehend:* (run 2)": 0.0},
            "targets_per_company": {"sqs:SendMessageBatch": 0.1, "comprehend:*": 0.1},
            "checks": {"second run: 0 Comprehend calls": True},
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
        "ddb_update": {
            "threads": 4,
            "figures": {"local mode": {"server_cpu_ms": 4.47}, "shipped": {"server_cpu_ms": 19.23}},
            "cpu_ratio": 4.3,
            "target_cpu_ratio": 2.0,
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
    assert row(out, "· Comprehend calls")[1:3] == ["0.041", "1.000"]
    assert row(out, "· SQS calls")[1:3] == ["0.383", "3.106"]
    assert row(out, "Companies per second end to end, 1,000")[1:4] == ["75.9", "28.1", "2.7x faster"]
    assert row(out, "Monthly cost, 1,000 companies")[3] == "53.7x cheaper (56.4x)"
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
        os.utime(path, (start + 50 * i, start + 50 * i))
    # WHEN the report is made, today
    report.main(["--dir", str(folder)])
    # THEN it dates the measurement by the inputs
    assert capsys.readouterr().out.startswith("`make bench`, measured 2026-01-02 03:04 to 03:09 UTC on ")
