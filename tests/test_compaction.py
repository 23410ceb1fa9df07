"""Compaction (lib/compaction.py, docs/dataset.md "Compaction") against moto: a day's batch objects become at most
24 objects with the same rows, whatever the day's size; running it again changes nothing; later batches are folded
in; texts of several paragraphs come back whole; which days are finished, and the handler's events."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime

import boto3
import pytest

from lib.compaction import Place, buckets_for, compact_day, days_due, finished, read_manifest
from lib.dataset_layout import MAX_OBJECTS_PER_DAY, bucket_of
from lib.results import batch_key, put_results, to_csv
from tests.conftest import put_batch, result_row
from tests.dataset_checks import assert_compacted, assert_dataset_invariants, rows_by_day
from tests.test_producer import load_handler

DAY = "2026-11-27"
AT = f"{DAY}T10:00:00.000000Z"


def place(bucket: str) -> Place:
    return Place(bucket, "results", "manifests")


def seed(bucket: str, companies: int = 6, batches: int = 3, day: str = DAY, run: str = "run-1") -> None:
    for b in range(batches):
        rows = [result_row(f"Co {b}-{i}", f"{day}T1{b}:00:00.000000Z", run_id=run) for i in range(companies)]
        put_batch(bucket, rows, day)


def content(rows: list[dict]) -> dict[tuple, dict]:
    """Rows by identity, without schema_version (compaction rewrites schema-1 rows as schema 2)."""
    return {(r["name"], r["text_sha256"], r["run_id"]): {**r, "schema_version": None} for r in rows}


def mutations(s3) -> list[str]:
    calls: list[str] = []
    for operation in ("PutObject", "DeleteObject"):
        s3.meta.events.register(f"before-call.s3.{operation}", lambda model, **_: calls.append(model.name))
    return calls


def test_a_day_of_batch_objects_becomes_one_object_holding_the_same_rows(bucket):
    # GIVEN three JSON Lines batch objects and one CSV object of an older deployment (schema 1, no revision)
    seed(bucket)
    old = [result_row("Legacy Co", AT)]
    boto3.client("s3").put_object(
        Bucket=bucket, Key=batch_key("results", old, DAY).replace(".jsonl", ".csv"), Body=to_csv(old)
    )
    before = content(rows_by_day(place(bucket))[DAY])
    # WHEN the day is compacted
    report = compact_day(boto3.client("s3"), place(bucket), DAY)
    # THEN one gzip'd object holds every row once, the manifest names it, and the batch objects are gone
    assert (report.objects_before, report.objects_after, report.rows_before, report.rows_after) == (4, 1, 19, 19)
    assert_compacted(place(bucket), [DAY])
    assert content(assert_dataset_invariants(place(bucket))) == before
    assert content(rows_by_day(place(bucket))[DAY])[("Legacy Co", old[0].text_sha256, "run-1")]["revision"] is None


def test_compacting_again_writes_and_deletes_nothing(bucket):
    seed(bucket)
    s3 = boto3.client("s3")
    compact_day(s3, place(bucket), DAY)
    calls = mutations(s3)
    report = compact_day(s3, place(bucket), DAY)
    assert report.outcome == "unchanged" and calls == []


def test_a_batch_written_after_compaction_is_folded_in_by_the_next_run(bucket):
    # GIVEN a compacted day, then one more batch object in it
    seed(bucket)
    s3 = boto3.client("s3")
    compact_day(s3, place(bucket), DAY)
    first = read_manifest(s3, place(bucket), DAY)
    late = put_batch(bucket, [result_row("Late Co", AT, run_id="run-2")], DAY)
    # THEN a reader sees it beside the compacted object
    assert len(rows_by_day(place(bucket))[DAY]) == 19
    # WHEN compacted again THEN it is folded in; the manifest still holds the first run's batch objects too
    report = compact_day(s3, place(bucket), DAY)
    manifest = read_manifest(s3, place(bucket), DAY)
    assert report.folded == 1 and manifest.replaced == first.replaced | {late} and manifest.rows == 19
    assert_compacted(place(bucket), [DAY])
    assert len(assert_dataset_invariants(place(bucket))) == 19


def test_a_row_written_twice_is_kept_once_the_later_one(bucket):
    # GIVEN one analysis written into two batch objects (two deliveries processed at the same moment)
    first, second = result_row("Twice Co", AT), result_row("Twice Co", f"{DAY}T10:00:01.000000Z")
    put_batch(bucket, [first], DAY)
    put_batch(bucket, [second, result_row("Other Co", AT)], DAY)
    assert len(rows_by_day(place(bucket))[DAY]) == 3
    compact_day(boto3.client("s3"), place(bucket), DAY)
    rows = assert_dataset_invariants(place(bucket))
    assert sorted((r["name"], r["analyzed_at"]) for r in rows) == [("Other Co", AT), ("Twice Co", second.analyzed_at)]


@pytest.mark.parametrize("companies", [10, 200])
def test_a_day_of_any_size_stays_within_24_objects_each_company_in_its_bucket(bucket, companies):
    # GIVEN a tiny target size, so that the day would need far more than 24 objects
    seed(bucket, companies=companies, batches=2)
    s3 = boto3.client("s3")
    report = compact_day(s3, place(bucket), DAY, target=100)
    manifest = read_manifest(s3, place(bucket), DAY)
    # THEN it is cut into at most 24 (and no more than there are companies), and a company's rows are all in
    # the one object bucket_of names
    assert buckets_for(10**9, 100) == MAX_OBJECTS_PER_DAY
    assert report.objects_after == manifest.buckets == min(MAX_OBJECTS_PER_DAY, 2 * companies)
    assert_compacted(place(bucket), [DAY])
    for key, index, _ in manifest.objects:
        body = gzip.decompress(s3.get_object(Bucket=bucket, Key=key)["Body"].read()).decode()
        names = {line.split('"name":')[1].split(",")[0].strip('"') for line in body.splitlines()}
        assert all(bucket_of(name, manifest.buckets) == index for name in names)
    assert len(assert_dataset_invariants(place(bucket))) == 2 * companies


def test_a_text_of_several_paragraphs_survives_write_compact_and_read(bucket):
    # GIVEN an intro of three paragraphs, with quotes, commas and a tab, as the Action API returns them
    text = 'Acme Corp. is a "widget" maker, founded 1901.\n\nIt grew,\tfast.\n\nToday: 3 plants; 1,200 staff.'
    row = result_row("Acme", AT, text=text)
    s3 = boto3.client("s3")
    put_results(bucket, batch_key("results", [row], DAY), [row], s3=s3)
    compact_day(s3, place(bucket), DAY)
    (key,) = read_manifest(s3, place(bucket), DAY).current()
    body = gzip.decompress(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    # THEN the row is one physical line (what Athena's JSON SerDe needs) and reads back whole
    assert len(body.splitlines()) == 1
    (read,) = assert_dataset_invariants(place(bucket))
    assert read["text"] == text


def test_a_day_is_finished_an_hour_after_it_ends():
    assert not finished(DAY, datetime(2026, 11, 28, 0, 59, 59, tzinfo=UTC))
    assert finished(DAY, datetime(2026, 11, 28, 1, 0, tzinfo=UTC))


def test_the_days_due_are_the_finished_ones_with_something_to_fold(bucket):
    seed(bucket, day="2026-11-25")
    seed(bucket, day="2026-11-26")
    seed(bucket, day="2026-11-27")  # not finished at 00:30 on the 28th
    s3 = boto3.client("s3")
    compact_day(s3, place(bucket), "2026-11-25")
    now = datetime(2026, 11, 28, 0, 30, tzinfo=UTC)
    assert days_due(s3, place(bucket), now) == ["2026-11-26"]
    assert days_due(s3, place(bucket), now, lookback=None) == ["2026-11-26"]
    assert days_due(s3, place(bucket), datetime(2026, 12, 20, tzinfo=UTC)) == []  # beyond the 7-day lookback
    assert days_due(s3, place(bucket), datetime(2026, 12, 20, tzinfo=UTC), lookback=None) == ["2026-11-26", DAY]


class Context:
    """Lambda's context object, as far as the handler reads it."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def get_remaining_time_in_millis(self) -> int:
        return int(self.seconds * 1000)


@pytest.fixture
def compactor(bucket, monkeypatch):
    for key, value in {"RESULTS_BUCKET": bucket, "RESULTS_PREFIX": "results", "MANIFESTS_PREFIX": "manifests"}.items():
        monkeypatch.setenv(key, value)
    handler = load_handler("ProducerAI", "compact_function")
    monkeypatch.setattr(handler, "utc_now", lambda: datetime(2026, 11, 28, 1, 30, tzinfo=UTC))
    return handler


def test_the_schedules_event_compacts_the_finished_days(bucket, compactor):
    seed(bucket)
    seed(bucket, day="2026-11-28")
    answer = compactor.lambda_handler({"source": "aws.events", "detail-type": "Scheduled Event"}, Context(900))
    assert [(d["day"], d["outcome"]) for d in answer["days"]] == [(DAY, "compacted")] and answer["remaining"] == []


def test_named_days_are_compacted_and_a_bad_day_is_refused(bucket, compactor):
    seed(bucket, day="2026-11-28")
    answer = compactor.lambda_handler({"days": ["2026-11-28"]}, Context(900))
    assert [d["rows_after"] for d in answer["days"]] == [18]
    with pytest.raises(ValueError, match="not a day"):
        compactor.lambda_handler({"days": ["2026-11-31"]}, Context(900))


def test_days_left_without_time_are_handed_back_untouched(bucket, compactor):
    # GIVEN less time left than a day may take  WHEN asked for a day  THEN it is returned as remaining, unstarted
    seed(bucket)
    answer = compactor.lambda_handler({"days": [DAY]}, Context(compactor.DAY_RESERVE_SECONDS - 5))
    assert answer == {"days": [], "remaining": [DAY]} and read_manifest(boto3.client("s3"), place(bucket), DAY) is None
