"""Schedules, played as EventBridge plays them (watchlist_workstation/local/lambda_service/scheduler.py): the tick
period, the event's shape, one tick, and the run loop."""

from __future__ import annotations

import json
import re
import threading
import time
import uuid

import pytest

from lib.schedule import ScheduleError, period_seconds
from tests.local_lambda.support import (
    EVENTS,
    REGION,
    add_companies,
    last_error,
    log_lines,
    log_size,
    producer,
)
from watchlist_workstation.local.lambda_service.events import schedule_event

ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


@pytest.mark.parametrize(
    ("expression", "seconds"),
    [
        ("rate(1 minute)", 60),
        ("rate(5 minutes)", 300),
        ("rate(2 hours)", 7200),
        ("rate(1 day)", 86400),
        ("cron(0/5 * * * ? *)", None),
    ],
)
def test_schedule_expressions_give_the_tick_period(expression, seconds):
    # GIVEN a rule's expression WHEN parsed THEN rate() gives its period and cron() none (not ticked locally)
    assert period_seconds(expression) == seconds


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ("rate(0 minutes)", "at least 1"),
        ("rate(5 fortnights)", "not a rate expression"),
        ("every 5 minutes", "not a rate expression"),
        ("rate(5 minute)", "EventBridge wants rate(5 minutes)"),
        ("rate(30 seconds)", "not a rate expression"),  # EventBridge has no seconds unit
    ],
)
def test_a_malformed_schedule_expression_is_refused(expression, reason):
    with pytest.raises(ScheduleError, match=re.escape(reason)):
        period_seconds(expression)


def test_the_schedule_event_is_shaped_like_eventbridges(lam):
    # GIVEN the stack's schedule rule
    sample = json.loads((EVENTS / "schedule.json").read_text())
    rule = lam.schedules[0]
    # WHEN its event is built
    event = schedule_event(rule)
    # THEN it has EventBridge's keys and values
    assert set(event) == set(sample)
    assert (event["version"], event["detail-type"], event["source"], event["detail"]) == (
        "0",
        "Scheduled Event",
        "aws.events",
        {},
    )
    assert event["resources"] == [rule.rule_arn]
    assert (event["region"], event["account"]) == (REGION, rule.rule_arn.split(":")[4])
    assert ISO_Z.match(event["time"]) and uuid.UUID(event["id"])


def test_a_schedule_tick_queues_every_company_under_the_events_id(account, stack, lam):
    # GIVEN five companies on the watchlist
    names = [f"Ticked {i}" for i in range(5)]
    add_companies(account, stack, names)
    since = log_size(lam, producer(lam))
    # WHEN the schedule fires once
    result = lam.fire_schedule()
    # THEN the producer got an EventBridge event and queued the five companies, in one chunk, under its id
    assert result.ok and result.payload["queued"] == 5 and result.payload["chunks"] == 1
    run_id = result.payload["run_id"]
    lines = [json.loads(line) for line in log_lines(lam, producer(lam), since) if line.startswith("{")]
    ticks = [line for line in lines if line["message"] == "tick"]
    assert [(t["source"], t["correlation_id"]) for t in ticks] == [("aws.events", run_id)]
    assert ISO_Z.match(ticks[0]["requested_at"])
    sqs = account.client("sqs")
    bodies = []
    while got := sqs.receive_message(QueueUrl=stack.QueueUrl, MaxNumberOfMessages=10).get("Messages"):
        bodies.extend(json.loads(m["Body"]) for m in got)
    assert sorted(c["name"] for b in bodies for c in b["companies"]) == names
    assert {b["run_id"] for b in bodies} == {run_id}


def test_run_fires_the_schedule_at_the_given_rate_and_consumes_what_it_queues(account, stack, lam):
    # GIVEN two companies the text source has no page for, and a one-second rate
    names = ["Run One Ltd", "Run Two Ltd"]
    add_companies(account, stack, names)
    stop, reports = threading.Event(), []
    runner = threading.Thread(target=lambda: reports.append(lam.run(stop, rate_seconds=1.0)))
    # WHEN the executor runs until both companies were processed (their errors recorded)
    started = time.monotonic()
    runner.start()
    try:
        while time.monotonic() - started < 20 and not all(last_error(account, stack, n) for n in names):
            time.sleep(0.1)
        processed_after = time.monotonic() - started
    finally:
        stop.set()
        runner.join(timeout=30)
    # THEN the first tick came one period after the start, and the pollers consumed what it queued
    (report,) = reports
    assert all(last_error(account, stack, n) == "not_found" for n in names)
    assert processed_after >= 1.0
    assert report.ticks >= 1 and report.records >= 1 and report.deleted == report.records


def test_the_compactors_daily_cron_rule_is_fired_by_name_and_the_default_tick_stays_the_producers(lam):
    # GIVEN the stack's two enabled rules: the producer's rate() and the compactor's cron() (not ticked locally)
    by_expression = {rule.expression: rule for rule in lam.schedules}
    daily = by_expression["cron(30 1 * * ? *)"]
    assert daily.period_seconds is None and daily.function != by_expression["rate(5 minutes)"].function
    # WHEN the cron rule is fired by name THEN the compactor runs as the schedule would (nothing finished to fold)
    result = lam.fire_schedule(daily.rule_name)
    assert result.ok and result.payload == {"days": [], "remaining": []}
    # AND a tick fired without a name is still the producer's
    assert "queued" in lam.fire_schedule().payload
