"""`cost`: counts follow the code's batch sizes, prices follow the dated table, and a real local run agrees."""

from __future__ import annotations

import ast
import json
import math
from dataclasses import replace

import pytest

import watchlist_workstation.cli.cost  # noqa: F401 - registers `cost` on the group
from lib.limits import (
    CHUNK_COMPANIES,
    COMPREHEND_BATCH,
    COMPREHEND_SCORED_CHARS,
    SCAN_SEGMENTS,
    SQS_SEND_BATCH,
    WIKI_EXTRACTS_PER_QUERY,
)
from lib.log import get_logger
from lib.metrics import METRIC_NAMES, MetricsTarget, emf_fields, outcome_values
from lib.pace import interval_for
from lib.plan import Budget
from lib.schedule import ScheduleError
from tests.stack_fixture import ROOT
from watchlist_workstation.cli.app import cli
from watchlist_workstation.cli.cost_report import money
from watchlist_workstation.cost.assumptions import DEFAULT_CHANGE_RATE, DEFAULT_REVISION_RATE, Assumptions
from watchlist_workstation.cost.bill import price
from watchlist_workstation.cost.deployment import deployment_from_template
from watchlist_workstation.cost.designs import pipeline, prototype
from watchlist_workstation.cost.estimate import METRIC_MEMBERS, emf_bytes
from watchlist_workstation.cost.localrun import RECORD_NAME
from watchlist_workstation.cost.month import SECONDS_PER_MONTH, schedule_seconds, ticks_per_month
from watchlist_workstation.cost.prices import ALWAYS, FREE_TIERS, GIB, PRICES
from watchlist_workstation.cost.tick import message_bytes
from watchlist_workstation.cost.units import comprehend_units, item_bytes, scan_pages, scan_read_units, sqs_requests
from watchlist_workstation.deploy.template import load_template
from watchlist_workstation.limits import COMPREHEND_MIN_UNITS, SQS_DELETE_BATCH, SQS_RECEIVE_MAX

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
    assert DEPLOYMENT.requests_per_minute == int(parameters["WikipediaRequestsPerMinute"]["Default"])
    assert DEPLOYMENT.max_concurrency == int(parameters["ConsumerMaxConcurrency"]["Default"])
    assert DEPLOYMENT.producer.memory_mb == template["Resources"]["ServerlessProducer"]["Properties"]["MemorySize"]
    assert DEPLOYMENT.consumer.memory_mb == template["Resources"]["ProducerAI"]["Properties"]["MemorySize"]
    assert DEPLOYMENT.consumer.architecture == template["Globals"]["Function"]["Architectures"][0]
    assert DEPLOYMENT.alarms == 4 and DEPLOYMENT.point_in_time_recovery
    assert DEPLOYMENT.metrics_namespace == template["Resources"]["NewPermanentErrorsAlarm"]["Properties"]["Namespace"]


def estimate_of(companies: int, revision_rate: float, change_rate: float, a: Assumptions = DEFAULTS, **kwargs):
    return pipeline(companies, DEPLOYMENT, a, revision_rate=revision_rate, change_rate=change_rate, **kwargs)


def test_producer_scans_the_whole_table_and_queues_the_ticks_part_in_chunks():
    # GIVEN a watchlist longer than a tick's share of the request budget
    companies = 60_000
    budget = Budget(DEPLOYMENT.requests_per_minute, schedule_seconds(DEPLOYMENT.schedule))
    windows = budget.windows(companies)
    assert windows > 1
    # WHEN a tick is counted
    estimate = estimate_of(companies, 0.0, 0.0)
    # THEN the whole table is scanned in SCAN_SEGMENTS segments, page by page, as eventually consistent reads
    table_bytes = companies * DEFAULTS.item_bytes
    assert estimate.per_tick[("dynamodb.read_units", "Scan")] == scan_read_units(table_bytes, SCAN_SEGMENTS)
    assert estimate.calls_per_tick["dynamodb:Scan"] == scan_pages(table_bytes, SCAN_SEGMENTS)
    # AND only the tick's part is queued, CHUNK_COMPANIES to a message, SQS_SEND_BATCH messages to a call
    chunks = math.ceil(math.ceil(companies / windows) / CHUNK_COMPANIES)
    assert estimate.figures["companies checked a tick"] == math.ceil(companies / windows)
    assert estimate.calls_per_tick["sqs:SendMessageBatch"] == math.ceil(chunks / SQS_SEND_BATCH)
    # AND each call bills a request per 64 KB of its messages
    billed = sqs_requests(SQS_SEND_BATCH * message_bytes(CHUNK_COMPANIES, DEFAULTS))
    assert estimate.per_tick[("sqs.requests", "SendMessageBatch")] == math.ceil(chunks / SQS_SEND_BATCH) * billed
    # AND every company is checked once a round of `windows` ticks
    assert estimate.figures["each company checked every (minutes)"] == windows * budget.period_seconds / 60


def test_consumer_calls_follow_the_mapping_batch_size_and_the_limits():
    # GIVEN 1,001 companies (one tick checks them all), every page and every intro changed WHEN a tick is counted
    companies = 1001
    estimate = estimate_of(companies, 1.0, 1.0)
    chunk_sizes = [CHUNK_COMPANIES] * (companies // CHUNK_COMPANIES) + [companies % CHUNK_COMPANIES]
    batch = DEPLOYMENT.batch_size
    batches = [chunk_sizes[i : i + batch] for i in range(0, len(chunk_sizes), batch)]
    calls = estimate.calls_per_tick
    # THEN one consumer invocation per batch of the template's BatchSize messages
    assert estimate.per_tick[("lambda.requests", DEPLOYMENT.consumer.logical_id)] == len(batches) == 3
    # AND the mapping receives and deletes each batch in tens; nothing reads the table (messages carry the snapshot)
    assert calls["sqs:ReceiveMessage"] == sum(math.ceil(len(b) / SQS_RECEIVE_MAX) for b in batches)
    assert calls["sqs:DeleteMessageBatch"] == sum(math.ceil(len(b) / SQS_DELETE_BATCH) for b in batches)
    assert "dynamodb:BatchGetItem" not in calls and "dynamodb:GetItem" not in calls
    # AND Wikipedia is asked a revision request per chunk, an intro request per 20 new revisions of a batch
    assert estimate.figures["Wikipedia revision requests a tick"] == len(chunk_sizes)
    intros = sum(math.ceil(sum(b) / WIKI_EXTRACTS_PER_QUERY) for b in batches)
    assert estimate.figures["Wikipedia intro requests a tick"] == intros
    # AND Comprehend gets one BatchDetectSentiment per COMPREHEND_BATCH new intros of a batch
    assert calls["comprehend:BatchDetectSentiment"] == sum(math.ceil(sum(b) / COMPREHEND_BATCH) for b in batches)
    # AND every new revision is one UpdateItem, every batch that analysed anything one results object
    assert calls["dynamodb:UpdateItem"] == companies and calls["s3:PutObject"] == len(batches)


def test_comprehend_is_sent_at_most_the_characters_it_scores_and_bills_its_minimum():
    # GIVEN intros of 120 characters (two units of text) and of 5,000 WHEN a month is counted
    short = estimate_of(100, 1.0, 1.0, DEFAULTS.replace(text_chars=120))
    long = estimate_of(100, 1.0, 1.0, DEFAULTS.replace(text_chars=5000))
    units = ("comprehend.units", "BatchDetectSentiment")
    # THEN a short one bills the 3-unit minimum, a long one only its first COMPREHEND_SCORED_CHARS characters
    assert short.per_tick[units] == 100 * 3 and long.per_tick[units] == 100 * comprehend_units(COMPREHEND_SCORED_CHARS)
    assert COMPREHEND_MIN_UNITS == 3 and comprehend_units(120) == 3 and comprehend_units(301) == 4


def test_an_unchanged_page_costs_its_share_of_a_revision_request_and_nothing_else():
    # GIVEN pages that never change, and pages that get new revisions whose intros stay the same
    unchanged, revised = estimate_of(1000, 0.0, 0.0), estimate_of(1000, 0.01, 0.0)
    # THEN an unchanged page costs no intro request, no Comprehend, no table write and no results object
    chunks = math.ceil(1000 / CHUNK_COMPANIES)
    assert unchanged.figures["Wikipedia revision requests a tick"] == chunks
    assert unchanged.figures["Wikipedia intro requests a tick"] == 0
    assert price(unchanged.monthly()).services()["Comprehend"]["list"] == 0
    for operation in ("comprehend:BatchDetectSentiment", "dynamodb:UpdateItem", "s3:PutObject"):
        assert unchanged.calls_per_tick[operation] == 0, operation
    # AND a new revision with the same intro costs its share of an intro request and one UpdateItem, no more
    assert revised.figures["Wikipedia intro requests a tick"] > 0
    assert revised.calls_per_tick["dynamodb:UpdateItem"] == pytest.approx(1000 * 0.01)
    assert revised.calls_per_tick["comprehend:BatchDetectSentiment"] == revised.calls_per_tick["s3:PutObject"] == 0
    # AND the producer still queues every chunk the tick checks
    assert unchanged.calls_per_tick["sqs:SendMessageBatch"] == math.ceil(chunks / SQS_SEND_BATCH)


def test_rates_apply_to_the_ticks_since_a_company_was_last_checked():
    # GIVEN 60,000 companies, each checked every `windows` ticks, at the default rates WHEN a tick is counted
    revision_rate, change_rate = DEFAULT_REVISION_RATE, DEFAULT_CHANGE_RATE
    windows = Budget(DEPLOYMENT.requests_per_minute, schedule_seconds(DEPLOYMENT.schedule)).windows(60_000)
    estimate = estimate_of(60_000, revision_rate, change_rate)
    checked = math.ceil(60_000 / windows)
    # THEN a checked company has a new revision (and a new intro) if any tick since its last check brought one
    revised, changed = 1 - (1 - revision_rate) ** windows, 1 - (1 - change_rate) ** windows
    assert estimate.calls_per_tick["dynamodb:UpdateItem"] == pytest.approx(checked * revised)
    units = estimate.per_tick[("comprehend.units", "BatchDetectSentiment")]
    assert units == pytest.approx(checked * changed * comprehend_units(COMPREHEND_SCORED_CHARS))
    # AND a results object per batch with at least one new intro
    per_batch = DEPLOYMENT.batch_size * CHUNK_COMPANIES
    batches = checked / per_batch
    assert estimate.calls_per_tick["s3:PutObject"] == pytest.approx(batches * (1 - (1 - changed) ** per_batch))
    # AND a change rate above the revision rate is refused: an intro changes only with a new revision
    with pytest.raises(ValueError, match="change rate"):
        estimate_of(100, 0.001, 0.01)


def test_the_consumer_is_billed_for_the_pace_of_its_wikipedia_requests():
    # GIVEN the template's budget and concurrency WHEN a tick of 1,000 companies is counted
    interval = interval_for(DEPLOYMENT.requests_per_minute, DEPLOYMENT.max_concurrency)
    estimate, seconds = estimate_of(1000, 0.0, 0.0), f"{DEPLOYMENT.consumer.logical_id} seconds per invocation"
    invocations = estimate.per_tick[("lambda.requests", DEPLOYMENT.consumer.logical_id)]
    # THEN each invocation lasts at least its Wikipedia requests at the pace's interval
    assert estimate.figures[seconds] >= estimate.figures["Wikipedia requests a tick"] / invocations * interval
    # AND a larger budget shortens it
    faster = pipeline(1000, replace(DEPLOYMENT, requests_per_minute=1000), DEFAULTS, revision_rate=0, change_rate=0)
    assert faster.figures[seconds] < estimate.figures[seconds]


def test_consumers_busy_all_month_bound_the_duration_and_the_work():
    # GIVEN every page and intro changed on every check of 60,000 companies: more requests than the pace allows
    estimate = estimate_of(60_000, 1.0, 1.0)
    consumer = DEPLOYMENT.consumer
    # THEN the consumer's compute is its instances busy all month, no more
    gb_seconds = estimate.monthly()[(f"lambda.duration.{consumer.architecture}", consumer.logical_id)]
    assert gb_seconds == pytest.approx(DEPLOYMENT.max_concurrency * SECONDS_PER_MONTH * consumer.memory_gb)
    assert estimate.figures[f"consumer busy share ({DEPLOYMENT.max_concurrency} instances all month)"] > 1
    # AND only the work they get through is priced, and the output says the queue grows
    assert estimate.calls_per_tick["dynamodb:UpdateItem"] < estimate.figures["companies checked a tick"]
    assert any("the queue grows" in note for note in estimate.notes)


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
    bill = price(estimate_of(0, 0.0, 0.0).monthly())
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


def test_the_consumers_metrics_are_priced_as_custom_metrics_and_their_log_bytes():
    # GIVEN a watchlist whose tick runs consumer batches WHEN its month is counted
    estimate = estimate_of(1000, DEFAULT_REVISION_RATE, DEFAULT_CHANGE_RATE)
    monthly = estimate.monthly()
    invocations = estimate.per_tick[("lambda.requests", DEPLOYMENT.consumer.logical_id)]
    # THEN each outcome metric is one custom metric for the month (one dimension: the stack)
    assert monthly[("cloudwatch.metrics", "consumer outcome counts, 1 stack")] == len(METRIC_NAMES) == 7
    # AND each batch's log line carries the metric members, billed as log ingestion
    members = monthly[("logs.ingestion", METRIC_MEMBERS)] * GIB
    assert members == pytest.approx(invocations * estimate.ticks_per_month * emf_bytes("WatchlistSentiment"))
    # AND the alarms are the template's four, the ones on new permanent errors and on the compactor included
    assert monthly[("cloudwatch.alarms", "")] == 4
    # AND seven metrics and three alarms fit CloudWatch's always-free ten of each
    bill = price(monthly)
    cloudwatch = [line for line in bill.lines if line.service == "CloudWatch"]
    assert {line.key for line in cloudwatch} == {"cloudwatch.metrics", "cloudwatch.alarms"}
    assert sum(line.list_cost for line in cloudwatch) == pytest.approx(7 * 0.30 + 4 * 0.10)
    assert sum(line.net for line in cloudwatch) == pytest.approx(0)


def test_metric_member_bytes_match_a_logged_batch_line(capsys):
    # GIVEN the consumer's "batch done" line logged without and with its metric members (one-digit counts)
    log = get_logger("consumer")
    base = {"records": 10, "failed": 0, "counts": {"unchanged": 5}}
    log.info("batch done", extra=base)
    target = MetricsTarget("WatchlistSentiment", "watchlist-sentiment")
    log.info("batch done", extra={**base, **emf_fields(target, outcome_values({"unchanged": 5}))})
    without, with_metrics = capsys.readouterr().out.splitlines()[-2:]
    # THEN the cost model's size of the members is what they add to the line
    assert len(with_metrics) - len(without) == emf_bytes("WatchlistSentiment")


def test_custom_metric_tiers_apply_to_the_monthly_total():
    # GIVEN 300,000 custom metrics in a month THEN 10,000 at $0.30, 240,000 at $0.10 and 50,000 at $0.05
    assert PRICES["cloudwatch.metrics"].cost(300_000) == pytest.approx(10_000 * 0.30 + 240_000 * 0.10 + 50_000 * 0.05)


def test_twelve_month_offers_are_shown_but_never_deducted():
    # GIVEN a month whose Comprehend units a 12-month offer would partly cover
    bill = price(estimate_of(100, 1.0, 1.0).monthly())
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
    ours = price(estimate_of(1000, DEFAULT_REVISION_RATE, DEFAULT_CHANGE_RATE).monthly()).list_total
    theirs = price(prototype(1000, DEPLOYMENT, DEFAULTS).monthly()).list_total
    summary = [line for line in result.stdout.splitlines() if line.startswith("Monthly total:")]
    assert len(summary) == 1
    assert f"this design {money(ours)}" in summary[0]
    assert f"the prototype {money(theirs)}" in summary[0]
    assert f"costs {theirs / ours:,.1f}x as much" in summary[0]
    assert "confirmed 2026-11-28" in result.stdout
    # AND both rates are printed as assumptions, with what they mean on the template's schedule
    assert f"{DEFAULT_REVISION_RATE:g} of the pages get a new revision each tick (--revision-rate)" in result.stdout
    assert f"{DEFAULT_CHANGE_RATE:g} of the intros change each tick (--change-rate)" in result.stdout
    assert "a page about every 41.7 hours" in result.stdout and "an intro about every 6.9 days" in result.stdout


def test_the_bill_shows_what_everything_but_comprehend_costs(cli_runner):
    # GIVEN a large watchlist, whose Comprehend cost follows the change rate alone
    result = cost(cli_runner, "--companies", "60000")
    assert result.exit_code == 0, result.stderr
    # THEN under TOTAL a row gives the sum of every other line, list and after the free tier
    bill = price(estimate_of(60000, DEFAULT_REVISION_RATE, DEFAULT_CHANGE_RATE).monthly())
    rest = [line for line in bill.lines if line.service != "Comprehend"]
    assert len(rest) < len(bill.lines)
    (row,) = [line.split() for line in result.stdout.splitlines() if line.startswith("without Comprehend")]
    assert row[2:] == [
        money(sum(line.list_cost for line in rest)),
        money(-sum(line.free for line in rest)),
        money(sum(line.net for line in rest)),
    ]


def test_json_has_both_designs_totals_and_the_ratio(cli_runner):
    args = ("--companies", "250", "--revision-rate", "0.2", "--change-rate", "0.1", "--compare-prototype", "--json")
    result = cost(cli_runner, *args)
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert set(data["designs"]) == {"pipeline", "prototype"}
    ours = data["designs"]["pipeline"]
    assert ours["companies"] == 250 and ours["revision_rate"] == 0.2 and ours["change_rate"] == 0.1
    assert set(ours["totals"]) == {"list", "free_tier", "after_free_tier", "new_account_offers"}
    assert ours["totals"]["list"] == pytest.approx(sum(line["list_cost"] for line in ours["lines"]))
    theirs = data["designs"]["prototype"]["totals"]["list"]
    assert data["ratio"]["list"] == pytest.approx(theirs / ours["totals"]["list"])
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
        (["--companies", "10", "--change-rate", "0.01"], "--change-rate (0.01) exceeds --revision-rate (0.002)"),
        (["--companies", "10", "--worst-case", "--change-rate", "0.1"], "--worst-case sets both rates to 1"),
        (["--from-local-run", "--revision-rate", "0.1"], "do not apply to --from-local-run"),
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
