"""The Compactor in `cost` (watchlist_workstation/cost/compaction.py): the requests it prices for a day are those a
scheduled run makes against moto, and the month holds a run a day of the template's Compactor."""

from __future__ import annotations

import math
from collections import Counter
from datetime import UTC, datetime, timedelta

import boto3

from lib.compaction import Place, compact_day, compact_days, days_due
from lib.limits import COMPACTION_LOOKBACK_DAYS
from lib.results import to_jsonl
from tests.conftest import put_batch, result_row
from watchlist_workstation.cost.assumptions import DEFAULT_CHANGE_RATE, DEFAULT_REVISION_RATE, Assumptions
from watchlist_workstation.cost.compaction import LIST_PAGE_KEYS, CompactionRun
from watchlist_workstation.cost.deployment import deployment_from_template
from watchlist_workstation.cost.designs import pipeline
from watchlist_workstation.cost.month import DAYS_PER_MONTH
from watchlist_workstation.deploy.template import load_template
from watchlist_workstation.project import TEMPLATE

NOW = datetime(2026, 11, 28, 1, 30, tzinfo=UTC)  # the schedule's time: cron(30 1 * * ? *)
YESTERDAY = (NOW.date() - timedelta(days=1)).isoformat()


def counted(s3) -> Counter[str]:
    calls: Counter[str] = Counter()
    s3.meta.events.register("before-call.s3", lambda model, **_: calls.update([model.name]))
    return calls


def scheduled_run(s3, place: Place) -> None:
    """What ProducerAI/compact_function.py does on its schedule's event."""
    compact_days(s3, place, days_due(s3, place, NOW))


def compacted_earlier(bucket: str, s3, place: Place) -> None:
    """The lookback's days before yesterday, each compacted by an earlier run."""
    for back in range(COMPACTION_LOOKBACK_DAYS, 1, -1):
        day = (NOW.date() - timedelta(days=back)).isoformat()
        put_batch(bucket, [result_row("Earlier Co", f"{day}T12:00:00.000000Z")], day)
        compact_day(s3, place, day)


def test_a_scheduled_run_makes_the_requests_the_cost_model_prices(bucket):
    # GIVEN six days compacted before, and yesterday's batch objects: more than one ListObjectsV2 page of them
    s3, place = boto3.client("s3"), Place(bucket, "results", "manifests")
    compacted_earlier(bucket, s3, place)
    objects = LIST_PAGE_KEYS + 1
    rows = [result_row(f"Co {i:04d}", f"{YESTERDAY}T{i % 24:02d}:00:00.000000Z") for i in range(objects)]
    for row in rows:
        put_batch(bucket, [row], YESTERDAY)
    day_bytes = len(to_jsonl(rows))
    # WHEN the Compactor runs on its schedule
    calls = counted(s3)
    scheduled_run(s3, place)
    # THEN it made the requests CompactionRun prices for such a day
    run = CompactionRun.of_day(objects, day_bytes)
    assert math.ceil(objects / LIST_PAGE_KEYS) == 2
    assert (calls["ListObjectsV2"], calls["GetObject"], calls["PutObject"], calls["DeleteObject"]) == (
        run.lists,
        run.gets,
        run.puts,
        run.deletes,
    )
    assert set(calls) == {"ListObjectsV2", "GetObject", "PutObject", "DeleteObject"}


def test_a_day_with_nothing_to_fold_costs_a_listing_and_a_manifest_per_day_looked_at(bucket):
    s3, place = boto3.client("s3"), Place(bucket, "results", "manifests")
    compacted_earlier(bucket, s3, place)
    put_batch(bucket, [result_row("Late Co", f"{YESTERDAY}T12:00:00.000000Z")], YESTERDAY)
    compact_day(s3, place, YESTERDAY)
    calls = counted(s3)
    scheduled_run(s3, place)
    run = CompactionRun.of_day(0, 0)
    assert dict(calls) == {"ListObjectsV2": run.lists, "GetObject": run.gets} and run.puts == 0


def test_the_month_holds_a_run_a_day_of_the_templates_compactor():
    deployment = deployment_from_template()
    template = load_template(TEMPLATE)
    assert deployment.compactor is not None and deployment.compactor.logical_id == "Compactor"
    assert deployment.compactor.memory_mb == template["Resources"]["Compactor"]["Properties"]["MemorySize"]
    e = pipeline(
        60_000, deployment, Assumptions(), revision_rate=DEFAULT_REVISION_RATE, change_rate=DEFAULT_CHANGE_RATE
    )
    monthly = e.monthly()
    ticks_per_day = e.ticks_per_month / DAYS_PER_MONTH
    objects_per_day = e.calls_per_tick["s3:PutObject"] * ticks_per_day
    gets = monthly[("s3.get_requests", "GetObject, Compactor, daily")]
    # Every results object the consumer writes is read once more, by the Compactor, and a few manifests besides.
    assert objects_per_day * DAYS_PER_MONTH < gets < (objects_per_day + 2 * COMPACTION_LOOKBACK_DAYS) * DAYS_PER_MONTH
    assert monthly[("lambda.requests", "Compactor")] == DAYS_PER_MONTH
    gb_seconds = monthly[(f"lambda.duration.{deployment.compactor.architecture}", "Compactor")] / DAYS_PER_MONTH
    seconds = gb_seconds / deployment.compactor.memory_gb
    assert math.isclose(seconds, e.figures["Compactor seconds per invocation"], abs_tol=5e-4)
    # The day's run, as priced, fits the function's timeout at 60,000 companies.
    assert seconds < template["Resources"]["Compactor"]["Properties"]["Timeout"]


def test_a_template_without_a_compactor_prices_none():
    template = load_template(TEMPLATE)
    del template["Resources"]["Compactor"]
    deployment = deployment_from_template(template)
    assert deployment.compactor is None
    e = pipeline(1000, deployment, Assumptions(), revision_rate=DEFAULT_REVISION_RATE, change_rate=DEFAULT_CHANGE_RATE)
    assert not [item for item in e.monthly() if "Compactor" in item[1] or "compaction" in item[1]]
