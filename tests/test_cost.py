"""`cost`: counts follow the code's batch sizes, prices follow the dated table, and a real local run agrees."""

from __future__ import annotations

import ast
import json
import math

import pytest

import ddb_ops
import watchlist_workstation.cli.cost  # noqa: F401 - registers `cost` on the group
from lib.limits import COMPREHEND_BATCH, DDB_BATCH_GET, SQS_SEND_BATCH
from lib.schedule import ScheduleError
from tests.stack_fixture import ROOT
from watchlist_workstation.cli.app import cli
from watchlist_workstation.cli.cost_report import money
from watchlist_workstation.cost.assumptions import Assumptions
from watchlist_workstation.cost.bill import price
from watchlist_workstation.cost.deployment import deployment_from_template
from watchlist_workstation.cost.designs import pipeline, prototype
from watchlist_workstation.cost.localrun import RECORD_NAME, read_run
from watchlist_workstation.cost.month import schedule_seconds, ticks_per_month
from watchlist_workstation.cost.prices import ALWAYS, FREE_TIERS, PRICES
from watchlist_workstation.cost.units import comprehend_units, item_bytes, scan_read_units
from watchlist_workstation.deploy.template import load_template
from watchlist_workstation.limits import COMPREHEND_MIN_UNITS, SQS_DELETE_BATCH, SQS_RECEIVE_MAX
from watchlist_workstation.local.run_record import RunRecorder
from watchlist_workstation.local.stack import LocalStack
from watchlist_workstation.local.textserver import DEFAULT_DATA, load_pages, title_file_name

DEPLOYMENT = deployment_from_template()
DEFAULTS = Assumptions()


def cost(cli_runner, *args: str):
    return cli_runner.invoke(cli, ["cost", *args])


# ---------------------------------------------------------------------------------------------- layering


def test_the_cost_model_never_imports_local_mode():
    # GIVEN every module of the cost package (local mode may import it: the run record, the billing units)
    imported = set()
    for path in (ROOT / "watchlist_workstation" / "cost").glob("*.py"):
        # WHEN its imports are read, lazy ones inside functions included
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                imported.add((path.name, node.module))
            elif isinstance(node, ast.Import):
                imported.update((path.name, alias.name) for alias in node.names)
    # THEN none of them is local mode's: the dependency runs one way
    assert [(name, module) for name, module in imported if module.startswith("watchlist_workstation.local")] == []


# ---------------------------------------------------------------------------------------------- counts


def test_the_deployment_is_read_from_the_template_defaults():
    # GIVEN template.yml WHEN the estimate reads it THEN it sees the parameters' defaults and the functions' settings
    template = load_template(ROOT / "template.yml")
    parameters = template["Parameters"]
    assert DEPLOYMENT.batch_size == int(parameters["ConsumerBatchSize"]["Default"])
    assert DEPLOYMENT.schedule == parameters["ScheduleExpression"]["Default"]
    assert DEPLOYMENT.log_retention_days == int(parameters["LogRetentionDays"]["Default"])
    assert DEPLOYMENT.producer.memory_mb == template["Resources"]["ServerlessProducer"]["Properties"]["MemorySize"]
    assert DEPLOYMENT.consumer.architecture == template["Globals"]["Function"]["Architectures"][0]
    assert DEPLOYMENT.alarms == 2 and DEPLOYMENT.point_in_time_recovery


def test_producer_sends_one_message_batch_per_ten_companies():
    # GIVEN 1,001 companies WHEN a tick is counted THEN SendMessageBatch calls are ceil(N / SQS_SEND_BATCH)
    estimate = pipeline(1001, 0.0, DEPLOYMENT, DEFAULTS)
    assert estimate.calls_per_tick["sqs:SendMessageBatch"] == math.ceil(1001 / SQS_SEND_BATCH) == 101
    # AND the whole table is scanned, page by page, as eventually consistent reads
    assert estimate.per_tick[("dynamodb.read_units", "Scan")] == scan_read_units(1001 * DEFAULTS.item_bytes)


def test_consumer_calls_follow_the_mapping_batch_size_and_the_limits():
    # GIVEN 1,001 companies, every text changed WHEN a tick is counted
    estimate = pipeline(1001, 1.0, DEPLOYMENT, DEFAULTS)
    batch = DEPLOYMENT.batch_size
    sizes = [batch] * (1001 // batch) + [1001 % batch]
    calls = estimate.calls_per_tick
    # THEN one consumer invocation per batch of the template's BatchSize, plus the producer's
    assert estimate.per_tick[("lambda.requests", DEPLOYMENT.consumer.logical_id)] == len(sizes) == 41
    # AND the mapping receives and deletes in tens, the consumer reads state per DDB_BATCH_GET keys
    assert calls["sqs:ReceiveMessage"] == sum(math.ceil(s / SQS_RECEIVE_MAX) for s in sizes)
    assert calls["sqs:DeleteMessageBatch"] == sum(math.ceil(s / SQS_DELETE_BATCH) for s in sizes)
    assert calls["dynamodb:BatchGetItem"] == sum(math.ceil(s / DDB_BATCH_GET) for s in sizes)
    # AND Comprehend gets one BatchDetectSentiment per COMPREHEND_BATCH changed texts of a batch
    assert calls["comprehend:BatchDetectSentiment"] == sum(math.ceil(s / COMPREHEND_BATCH) for s in sizes)
    # AND every analysed company is one UpdateItem, every batch one results object
    assert calls["dynamodb:UpdateItem"] == 1001 and calls["s3:PutObject"] == len(sizes)


def test_short_texts_bill_comprehends_three_unit_minimum():
    # GIVEN texts of 120 characters (two units of text) WHEN a month is counted
    short = pipeline(100, 1.0, DEPLOYMENT, DEFAULTS.replace(text_chars=120))
    # THEN each document bills the 3-unit minimum
    ticks = short.ticks_per_month
    assert short.monthly()[("comprehend.units", "BatchDetectSentiment")] == pytest.approx(100 * ticks * 3)
    assert COMPREHEND_MIN_UNITS == 3 and comprehend_units(120) == 3 and comprehend_units(301) == 4


def test_change_rate_zero_sends_nothing_to_comprehend_and_writes_nothing():
    # GIVEN texts that never change WHEN a month is counted
    estimate = pipeline(1000, 0.0, DEPLOYMENT, DEFAULTS)
    bill = price(estimate.monthly())
    # THEN no Comprehend call, unit or cost; no table write and no results object
    assert estimate.calls_per_tick["comprehend:BatchDetectSentiment"] == 0
    assert bill.services()["Comprehend"]["list"] == 0
    assert estimate.calls_per_tick["dynamodb:UpdateItem"] == 0 and estimate.calls_per_tick["s3:PutObject"] == 0
    # AND the producer still queues every company (every company is due on every tick)
    assert estimate.calls_per_tick["sqs:SendMessageBatch"] == 100


def test_a_partial_change_rate_calls_comprehend_per_batch_that_changed():
    # GIVEN 1% of the texts changed WHEN a tick is counted THEN calls are the expected batches with a change
    estimate = pipeline(1000, 0.01, DEPLOYMENT, DEFAULTS)
    batches = 1000 / DEPLOYMENT.batch_size
    expected = batches * (1 - 0.99**DEPLOYMENT.batch_size)
    assert estimate.calls_per_tick["comprehend:BatchDetectSentiment"] == pytest.approx(expected)
    assert estimate.calls_per_tick["dynamodb:UpdateItem"] == pytest.approx(10)


def test_prototype_calls_per_company_and_reanalyses_everything():
    # GIVEN the prototype's design with 1,000 companies WHEN a tick is counted
    estimate = prototype(1000, DEPLOYMENT, DEFAULTS.replace(text_chars=250))
    calls = estimate.calls_per_tick
    # THEN one GetQueueUrl + SendMessage per company, one DetectSentiment and one DeleteMessage per record
    for operation in ("sqs:GetQueueUrl", "sqs:SendMessage", "comprehend:DetectSentiment", "sqs:DeleteMessage"):
        assert calls[operation] == 1000, operation
    # AND one unpaginated Scan, one results object per batch (SAM's default batch of 10), every tick
    assert calls["dynamodb:Scan"] == 1 and calls["s3:PutObject"] == 100
    # AND every document bills at least the 3-unit minimum, changed or not
    assert estimate.per_tick[("comprehend.units", "DetectSentiment")] == 1000 * 3


def test_comprehend_tiers_apply_to_the_monthly_total():
    # GIVEN 60M units in a month WHEN priced THEN 10M at the first tier, 40M at the second, 10M at the third
    assert PRICES["comprehend.units"].cost(60e6) == pytest.approx(10e6 * 0.0001 + 40e6 * 0.00005 + 10e6 * 0.000025)


def test_free_tier_is_kept_apart_and_only_always_free_is_deducted():
    # GIVEN an idle watchlist (no companies) WHEN its month is priced
    bill = price(pipeline(0, 0.0, DEPLOYMENT, DEFAULTS).monthly())
    # THEN every line keeps its list cost; the free tier is a separate amount and net = list - free
    assert bill.list_total > 0
    assert bill.net_total == pytest.approx(bill.list_total - bill.free_total)
    for line in bill.lines:
        assert line.net == pytest.approx(line.list_cost - line.free)
        # AND only prices with an always-free offer have anything deducted
        always = {key for tier in FREE_TIERS if tier.kind == ALWAYS for key in tier.keys}
        assert line.free == 0 or line.key in always
    # AND the idle polling of Lambda's pollers fits SQS's always-free million requests
    sqs = bill.services()["SQS"]
    assert sqs["list"] > 0 and sqs["net"] == pytest.approx(0)


def test_twelve_month_offers_are_shown_but_never_deducted():
    # GIVEN a month whose Comprehend units a 12-month offer would partly cover
    bill = price(pipeline(100, 1.0, DEPLOYMENT, DEFAULTS).monthly())
    comprehend = [line for line in bill.lines if line.key == "comprehend.units"]
    # THEN the offer is reported, and the cost after the free tier still includes it
    assert sum(line.offer for line in comprehend) > 0
    assert sum(line.net for line in comprehend) == pytest.approx(sum(line.list_cost for line in comprehend))


def test_schedules_are_counted_from_rate_expressions():
    # GIVEN rate expressions WHEN their ticks are counted THEN a month is 730 hours
    assert ticks_per_month("rate(1 hour)") == 730
    assert ticks_per_month("rate(5 minutes)") == 730 * 12
    assert ticks_per_month("rate(2 days)") == pytest.approx(730 / 48)
    # AND what EventBridge would refuse, or what cannot be counted here, is refused with a reason
    for bad, reason in (
        ("cron(0/5 * * * ? *)", "cron expressions are not supported"),
        ("rate(5 minute)", "rate(5 minutes)"),
        ("rate(1 hours)", "rate(1 hour)"),
        ("rate(0 minutes)", "at least 1"),
        ("every 5 minutes", "not a rate expression"),
    ):
        with pytest.raises(ScheduleError, match=reason.replace("(", r"\(").replace(")", r"\)")):
            schedule_seconds(bad)


def test_item_sizes_follow_dynamodbs_rules():
    # GIVEN an item with a string and a number WHEN sized THEN names + UTF-8 bytes + (digits/2 + 1)
    assert item_bytes({"name": {"S": "Nestlé"}, "score_positive": {"N": "0.9123"}}) == 4 + 7 + 14 + 3


# ---------------------------------------------------------------------------------------------- CLI


def test_done_when_1000_companies_compared_with_the_prototype(cli_runner):
    # WHEN the example runs
    result = cost(cli_runner, "--companies", "1000", "--compare-prototype")
    # THEN both monthly totals and their ratio are printed, with the price table's date
    assert result.exit_code == 0, result.stderr
    ours = price(pipeline(1000, 0.01, DEPLOYMENT, DEFAULTS).monthly()).list_total
    theirs = price(prototype(1000, DEPLOYMENT, DEFAULTS).monthly()).list_total
    summary = [line for line in result.stdout.splitlines() if line.startswith("Monthly total:")]
    assert len(summary) == 1
    assert f"this design {money(ours)}" in summary[0]
    assert f"the prototype {money(theirs)}" in summary[0]
    assert f"costs {theirs / ours:,.1f}x as much" in summary[0]
    assert "confirmed 2026-11-28" in result.stdout


def test_json_has_both_designs_totals_and_the_ratio(cli_runner):
    result = cost(cli_runner, "--companies", "250", "--change-rate", "0.1", "--compare-prototype", "--json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert set(data["designs"]) == {"pipeline", "prototype"}
    ours = data["designs"]["pipeline"]
    assert ours["companies"] == 250 and ours["change_rate"] == 0.1
    assert set(ours["totals"]) == {"list", "free_tier", "after_free_tier", "new_account_offers"}
    assert ours["totals"]["list"] == pytest.approx(sum(line["list_cost"] for line in ours["lines"]))
    assert data["ratio"]["list"] == pytest.approx(
        data["designs"]["prototype"]["totals"]["list"] / ours["totals"]["list"]
    )
    assert data["prices"] == {"region": "us-east-1", "confirmed": "2026-11-28"}


def test_the_price_table_lists_every_price_with_its_source(cli_runner):
    result = cost(cli_runner, "--prices", "--json")
    assert result.exit_code == 0, result.stderr
    prices = json.loads(result.stdout)["prices"]
    assert {p["key"] for p in prices} == set(PRICES)
    assert all(p["source"].startswith("https://aws.amazon.com/") for p in prices)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--companies", "-1"], "Invalid value for '--companies': -1 is not in the range x>=0"),
        (["--companies", "10", "--change-rate", "1.5"], "Invalid value for '--change-rate'"),
        (["--companies", "10", "--schedule", "cron(0 * * * ? *)"], "cron expressions are not supported"),
        (["--companies", "10", "--schedule", "rate(5 fortnights)"], "not a rate expression"),
        ([], "give --companies N, or --from-local-run"),
        (["--companies", "10", "--from-local-run"], "exclude each other"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(cli_runner, args, message):
    result = cost(cli_runner, *args)
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1 and message in result.stderr
    assert result.stdout == ""


def test_a_missing_local_run_says_how_to_make_one(cli_runner, tmp_path):
    result = cost(cli_runner, "--from-local-run", str(tmp_path / RECORD_NAME))
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        f"Error: no local run recorded at {tmp_path / RECORD_NAME}: run './cfcli.py local run --once' first"
    )


def test_cost_needs_no_credentials(cli_runner, monkeypatch):
    # GIVEN no AWS credentials, region or profile at all WHEN cost runs THEN it answers (a calculator)
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    assert cost(cli_runner, "--companies", "5").exit_code == 0


# ---------------------------------------------------------------------------------------------- a real local run

# A few hundred at most keeps the test short; a multiple of the batch size makes every batch full.
COMPANIES = 150
# Counts that differ between the local executor and Lambda by construction, left out of the comparison:
# ReceiveMessage: the executor polls every 50-800 ms and Lambda long-polls, so the empty receives depend on
# timing on both sides (the estimate's busy receives and idle long polls are left out with them);
# GetQueueAttributes: the executor's drain checks, which Lambda's service does not make per tick.
# Lambda's GB-seconds come from the same assumed round trips on both sides (a local duration is this
# machine's, not Lambda's), so the Lambda line compares the invocations and what each one did.
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
    # GIVEN 150 companies on a fresh watchlist WHEN the real pipeline runs one tick (every text new)
    first = run_one_tick(stack, executor, tmp_path / "first.json")
    assert first.companies_queued == first.records == COMPANIES
    assert first.batches == COMPANIES // DEPLOYMENT.batch_size
    assert first.comprehend["documents"] == COMPANIES
    # The shape of the run: its texts' length and its items' size, which the estimate cannot know.
    shape = ["--text-chars", str(round(average_chars)), "--item-bytes", str(round(first.table_bytes / COMPANIES))]
    # THEN the estimate for 150 companies with every text changed makes the same calls, and prices within 10%
    # of what the run counted, service by service
    compare(
        design(cli_runner, "--companies", str(COMPANIES), "--change-rate", "1", *shape),
        design(cli_runner, "--from-local-run", str(tmp_path / "first.json")),
        "first tick, change rate 1.0",
    )

    # WHEN it runs again on the same texts
    second = run_one_tick(stack, executor, tmp_path / "second.json")
    assert second.comprehend["documents"] == 0 and "dynamodb:UpdateItem" not in second.aws_calls
    # THEN the estimate with change rate 0 agrees within 10% too
    compare(
        design(cli_runner, "--companies", str(COMPANIES), "--change-rate", "0", *shape),
        design(cli_runner, "--from-local-run", str(tmp_path / "second.json")),
        "second tick, change rate 0.0",
    )
