"""`cost` against a real local run: the estimate for the local stack's own settings agrees with what it counted."""

from __future__ import annotations

import json
import math

import pytest

import ddb_ops
import watchlist_workstation.cli.cost  # noqa: F401 - registers `cost` on the group
from lib.limits import (
    CHUNK_COMPANIES,
    WIKI_EXTRACTS_PER_QUERY,
)
from watchlist_workstation.cli.app import cli
from watchlist_workstation.cost.deployment import deployment_from_template
from watchlist_workstation.cost.localrun import read_run
from watchlist_workstation.local.run_record import RunRecorder
from watchlist_workstation.local.stack import LocalStack
from watchlist_workstation.local.textserver import DEFAULT_DATA, load_pages, title_file_name

DEPLOYMENT = deployment_from_template()


def cost(cli_runner, *args: str):
    return cli_runner.invoke(cli, ["cost", *args])


# ---------------------------------------------------------------------------------------------- a real local run

# A few hundred at most keeps the test short; a multiple of CHUNK_COMPANIES makes every message a full chunk
# (150 are three messages, one batch of the mapping).
COMPANIES = 150
# Counts that differ between the local executor and Lambda by construction, left out of the comparison:
# ReceiveMessage: the executor polls every 50-800 ms and Lambda long-polls, so the empty receives depend on
# timing on both sides (the estimate's busy receives and idle long polls are left out with them);
# GetQueueAttributes: the executor's drain checks, which Lambda's service does not make per tick.
# Lambda's GB-seconds come from the same assumed round trips and the deployed stack's pace on both sides (a
# local duration is this machine's, and local mode's pace its own), so the Lambda line compares the
# invocations and what each one did: its Wikipedia requests, Comprehend calls, writes and objects.
TIMING_DEPENDENT = {
    ("sqs.requests", "ReceiveMessage"),
    ("sqs.requests", "ReceiveMessage, idle long polls"),
    ("sqs.requests", "GetQueueAttributes"),
}
TIMING_DEPENDENT_CALLS = {"sqs:ReceiveMessage", "sqs:GetQueueAttributes"}


@pytest.fixture
def shipped_texts(tmp_path):
    """COMPANIES companies for the local text source, each with one of the shipped extracts (their lengths
    are real summaries'); returns the names and the average text length."""
    extracts = [page.extract for page in load_pages(DEFAULT_DATA).values() if page.type == "standard"]
    folder = tmp_path / "pages"
    folder.mkdir()
    names, lengths = [], []
    for i in range(COMPANIES):
        name, extract = f"Cost Test Company {i:03d}", extracts[i % len(extracts)]
        (folder / title_file_name(name)).write_text(json.dumps({"title": name, "extract": extract}))
        names.append(name)
        lengths.append(len(extract))
    return folder, names, sum(lengths) / len(lengths)


@pytest.fixture
def local_pipeline(tmp_path, shipped_texts, aws_credentials):
    """The stack from template.yml in a local account, with its Lambda service, and the companies on its watchlist."""
    folder, names, _ = shipped_texts
    stack = LocalStack(
        stack_name="cost-test", state_dir=tmp_path / "state", results_dir=tmp_path / "results", data_dir=folder
    ).start()
    try:
        ddb_ops.items_add(stack.outputs["TableName"], names, stack.client("dynamodb"))
        yield stack, stack.lambda_service
    finally:
        stack.stop(save=False)


def run_one_tick(stack, executor, path):
    """Fire the schedule, then let the mapping take the backlog batch by batch, and record the tick.

    Lambda fills a batch until BatchSize or the batching window; `drain` (and so `local run --once`)
    sends a partial batch as soon as the queue looks empty, which makes more, smaller batches than
    Lambda would. Polling the full backlog one batch at a time gives Lambda's batches.
    """
    recorder = RunRecorder.begin(stack)
    tick = executor.fire_schedule()
    assert tick.ok, tick.error_message
    (mapping,) = executor.mappings
    batches = records = 0
    while (report := executor.poll_once(mapping)).received:
        assert report.failed == 0
        batches, records = batches + 1, records + report.received
    recorder.end(queued=tick.payload["queued"], batches=batches, records=records).write(path)
    return read_run(path)


def design(cli_runner, *args: str) -> dict:
    result = cost(cli_runner, *args, "--json")
    assert result.exit_code == 0, result.stderr
    (only,) = json.loads(result.stdout)["designs"].values()
    return only


def by_service(design: dict) -> dict[str, float]:
    out: dict[str, float] = {}
    for line in design["lines"]:
        if (line["price_key"], line["detail"]) not in TIMING_DEPENDENT:
            out[line["service"]] = out.get(line["service"], 0.0) + line["list_cost"]
    return out


def compare(estimated: dict, counted: dict, label: str) -> None:
    # The Wikipedia requests (not billed, but the consumer's duration follows their pace) are counted alike.
    assert estimated["figures"]["Wikipedia requests a tick"] == counted["figures"]["Wikipedia requests a tick"]
    # Every call the code makes per tick is counted alike, timing-dependent polls aside.
    calls = {
        op for op in {*estimated["calls_per_tick"], *counted["calls_per_tick"]} if op not in TIMING_DEPENDENT_CALLS
    }
    print(f"\n{label}: AWS calls per tick")
    for op in sorted(calls):
        print(f"{op:<34}{estimated['calls_per_tick'].get(op, 0):>10g}{counted['calls_per_tick'].get(op, 0):>10g}")
    for op in calls:
        assert estimated["calls_per_tick"].get(op, 0) == counted["calls_per_tick"].get(op, 0), op
    estimate, counted = by_service(estimated), by_service(counted)
    print(f"{label}: monthly list cost by service (timing-dependent SQS polls left out)")
    print(f"{'service':<16}{'estimate':>14}{'local run':>14}{'difference':>12}")
    for service in sorted(set(estimate) | set(counted)):
        a, b = estimate.get(service, 0.0), counted.get(service, 0.0)
        difference = f"{(a - b) / b:+.1%}" if b else ("equal" if a == b else "n/a")
        print(f"{service:<16}{a:>14.6f}{b:>14.6f}{difference:>12}")
    total_a, total_b = sum(estimate.values()), sum(counted.values())
    print(f"{'TOTAL':<16}{total_a:>14.6f}{total_b:>14.6f}{(total_a - total_b) / total_b:>+12.1%}")
    assert set(estimate) == set(counted)
    for service in counted:
        assert estimate[service] == pytest.approx(counted[service], rel=0.10, abs=1e-9), service
    assert total_a == pytest.approx(total_b, rel=0.10)


@pytest.mark.servers  # local_pipeline: a local stack, with its moto server process
def test_the_estimate_is_within_ten_percent_of_a_real_local_run(cli_runner, local_pipeline, shipped_texts, tmp_path):
    stack, executor = local_pipeline
    _, _, average_chars = shipped_texts
    # GIVEN 150 companies on a fresh watchlist WHEN the real pipeline runs one tick (every page and text new)
    first = run_one_tick(stack, executor, tmp_path / "first.json")
    messages = math.ceil(COMPANIES / CHUNK_COMPANIES)
    assert first.companies_queued == COMPANIES and first.records == messages
    assert first.batches == math.ceil(messages / DEPLOYMENT.batch_size)
    assert first.comprehend["documents"] == COMPANIES
    # (a revision request per chunk, an intro request per 20 new pages)
    assert first.text_requests == messages + math.ceil(COMPANIES / WIKI_EXTRACTS_PER_QUERY)
    # The shape of the run: its texts' length and its items' size, which the estimate cannot know.
    shape = ["--text-chars", str(round(average_chars)), "--item-bytes", str(round(first.table_bytes / COMPANIES))]
    # THEN the estimate for 150 companies with every page and text changed makes the same calls, and prices
    # within 10% of what the run counted, service by service
    compare(
        design(cli_runner, "--companies", str(COMPANIES), "--worst-case", *shape),
        design(cli_runner, "--from-local-run", str(tmp_path / "first.json")),
        "first tick, revision and change rate 1.0",
    )

    # WHEN it runs again on the same pages
    second = run_one_tick(stack, executor, tmp_path / "second.json")
    assert second.comprehend["documents"] == 0 and "dynamodb:UpdateItem" not in second.aws_calls
    assert second.text_requests == messages  # revisions only: no page moved
    # THEN the estimate with both rates 0 agrees within 10% too
    compare(
        design(cli_runner, "--companies", str(COMPANIES), "--revision-rate", "0", "--change-rate", "0", *shape),
        design(cli_runner, "--from-local-run", str(tmp_path / "second.json")),
        "second tick, revision and change rate 0.0",
    )
