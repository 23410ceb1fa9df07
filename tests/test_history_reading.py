"""Reading the history (watchlist_workstation.analysis.partitions through dataset.load_results): only the day
partitions in range, each row once on a compacted day, one compacted object per day for one company, and the older
CSV objects still read. Objects are written by hand in the layout lib.dataset_layout defines (tests/history_fixture)."""

from __future__ import annotations

from datetime import date

import boto3

from lib import dataset_layout as layout
from tests.conftest import result_row
from tests.history_fixture import S3Calls, compact, put_csv, put_jsonl, with_revision
from watchlist_workstation.analysis.dataset import DayRange, RequestCount, dedupe, load_results
from watchlist_workstation.analysis.partitions import history_first_day

COMPANIES = ["Netflix", "Meta", "Nvidia", "Kodak", "Intel", "Nokia", "Theranos", "Apple"]


def day_rows(day: str, run: str) -> list:
    return [result_row(name, f"{day}T10:00:00Z", run_id=run, text=f"{name} on {day}") for name in COMPANIES]


def test_history_reads_only_the_partitions_in_its_range(bucket):
    # GIVEN eight days of results, one object a day
    keys = {
        f"2026-11-{d}": put_jsonl(bucket, day_rows(f"2026-11-{d}", f"run-{d}"), f"2026-11-{d}") for d in range(20, 28)
    }
    s3 = boto3.client("s3")
    seen, counts = S3Calls(s3), RequestCount()
    # WHEN the days from the 25th on are read
    frame = load_results(s3, bucket, days=DayRange(first=date(2026, 11, 25)), counts=counts)
    # THEN exactly the three days' objects and manifests were fetched, and each day listed once
    in_range = ["2026-11-25", "2026-11-26", "2026-11-27"]
    assert seen.keys("GetObject") == sorted([keys[d] for d in in_range] + [layout.manifest_key(d) for d in in_range])
    assert seen.keys("ListObjectsV2") == sorted(["results/"] + [layout.day_prefix("results", d) for d in in_range])
    assert len(frame) == 3 * len(COMPANIES)
    # AND the reader's own count is what botocore saw
    assert (counts.lists, counts.gets) == (seen.count("ListObjectsV2"), seen.count("GetObject"))
    assert counts.lists + counts.gets == seen.sent


def test_a_compacted_day_is_read_with_each_row_once(bucket):
    # GIVEN a day of three batch objects, compacted into 4 objects, one replaced object left behind (a compaction
    # killed before its deletes), a compacted object of a dead compaction, and a batch written after compaction
    day = "2026-11-27"
    rows = day_rows(day, "run-1")
    batches = [put_jsonl(bucket, rows[i : i + 3], day) for i in range(0, len(rows), 3)]
    manifest = compact(bucket, day, 4, keep=[batches[0]])
    stale = layout.compacted_key("results", day, "f" * 16, 0, 2)
    boto3.client("s3").put_object(Bucket=bucket, Key=stale, Body=b"not read")
    later = put_jsonl(bucket, [result_row("Netflix", f"{day}T20:00:00Z", run_id="run-2", text="later")], day)
    s3 = boto3.client("s3")
    seen = S3Calls(s3)
    # WHEN the day is read
    frame = load_results(s3, bucket)
    # THEN every row is there exactly once, before any de-duplication
    assert len(frame) == len(rows) + 1 == len(dedupe(frame))
    # AND what was read is the manifest's objects and the later batch, not the leftover nor the dead one
    assert seen.keys("GetObject") == sorted([*manifest.current(), later, layout.manifest_key(day)])


def test_one_companys_history_reads_one_compacted_object_a_day(bucket):
    # GIVEN two compacted days and, on the second, a batch written after compaction
    for day in ("2026-11-26", "2026-11-27"):
        put_jsonl(bucket, day_rows(day, f"run-{day}")[:4], day)
        put_jsonl(bucket, day_rows(day, f"run-{day}")[4:], day)
        compact(bucket, day, 3)
    later = put_jsonl(bucket, [result_row("Meta", "2026-11-27T21:00:00Z", run_id="run-9", text="Meta later")], day)
    s3 = boto3.client("s3")
    seen = S3Calls(s3)
    # WHEN Netflix's history is read
    frame = load_results(s3, bucket, names=["Netflix"])
    # THEN only Netflix's rows come back, from one compacted object a day (bucket_of) and the later batch
    assert list(frame["name"]) == ["Netflix", "Netflix"]
    data = [key for key in seen.keys("GetObject") if not key.startswith("manifests/")]
    manifests = {
        d: layout.Manifest.from_json(s3.get_object(Bucket=bucket, Key=layout.manifest_key(d))["Body"].read())
        for d in ("2026-11-26", "2026-11-27")
    }
    assert data == sorted(
        [*manifests["2026-11-26"].current("Netflix"), *manifests["2026-11-27"].current("Netflix"), later]
    )
    assert all(len(m.current("Netflix")) == 1 for m in manifests.values())


def test_the_older_csv_objects_are_still_read(bucket):
    # GIVEN a CSV object without revision, one with it, and a JSON Lines object, on one day
    put_csv(bucket, [result_row("Kodak", "2026-11-25T10:00:00Z")], "2026-11-25", with_revision=False)
    put_csv(bucket, [with_revision(result_row("Meta", "2026-11-25T10:00:00Z"), 7)], "2026-11-25")
    put_jsonl(
        bucket, [with_revision(result_row("Intel", "2026-11-25T10:00:00Z", text="two\n\nparagraphs"), 8)], "2026-11-25"
    )
    # WHEN the dataset is read
    frame = load_results(boto3.client("s3"), bucket).set_index("name")
    # THEN every row is there, typed alike, the revision missing only where the object had none
    assert sorted(frame.index) == ["Intel", "Kodak", "Meta"]
    assert frame.loc["Kodak", "revision"] is not None and str(frame.loc["Kodak", "revision"]) == "<NA>"
    assert (int(frame.loc["Meta", "revision"]), int(frame.loc["Intel", "revision"])) == (7, 8)
    assert frame.loc["Intel", "text"] == "two\n\nparagraphs"


def test_a_companys_default_range_starts_when_it_was_added_at_most_the_default_days_back():
    today = date(2026, 12, 7)
    # added 3 days ago: from then; added a year ago or unknown: 90 days back; asked for 7 days: 7 days back
    assert history_first_day([date(2026, 12, 4)], None, today) == date(2026, 12, 4)
    assert history_first_day([date(2025, 12, 1)], None, today) == date(2026, 9, 9)
    assert history_first_day([None], None, today) == date(2026, 9, 9)
    assert history_first_day([date(2026, 12, 4)], 7, today) == date(2026, 12, 1)
