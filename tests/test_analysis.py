"""watchlist_workstation.analysis.dataset: the results dataset read back from (moto) S3 into pandas (which objects
are read for a range: tests/test_history_reading.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import boto3
import pandas as pd
import pytest

from tests.conftest import result_row
from tests.history_fixture import csv_body
from tests.history_fixture import put_jsonl as put_batch
from watchlist_workstation.analysis.dataset import (
    COLUMNS,
    dedupe,
    filter_names,
    latest_per_company,
    load_results,
    parse_since,
)


def test_rows_of_every_object_are_read_with_typed_columns(bucket):
    # GIVEN two batches on two days
    put_batch(
        bucket,
        [result_row("Netflix", "2026-11-26T10:00:00Z"), result_row("Meta", "2026-11-26T10:00:01Z")],
        "2026-11-26",
    )
    put_batch(bucket, [result_row("Netflix", "2026-11-27T10:00:00Z", run_id="run-2")], "2026-11-27")
    # WHEN the dataset is loaded
    frame = load_results(boto3.client("s3"), bucket)
    # THEN all three rows are there, with the dataset's columns, float scores and UTC times
    assert list(frame.columns) == list(COLUMNS)
    assert len(frame) == 3
    assert all(frame[c].dtype == "float64" for c in ("positive", "negative", "neutral", "mixed"))
    assert str(frame["analyzed_at"].dtype) == "datetime64[us, UTC]"
    assert frame["analyzed_at"].max() == pd.Timestamp("2026-11-27T10:00:00Z")


def test_listing_follows_every_page(bucket):
    # GIVEN five days of one object each, a sixth of three, and an S3 that answers two keys per page
    for day in range(1, 6):
        put_batch(bucket, [result_row(f"Company {day}", f"2026-11-0{day}T00:00:00Z")], f"2026-11-0{day}")
    for n in range(3):
        put_batch(bucket, [result_row(f"Late {n}", "2026-11-06T00:00:00Z")], "2026-11-06")
    s3 = boto3.client("s3")
    pages = []
    s3.meta.events.register("before-parameter-build.s3.ListObjectsV2", lambda params, **_: params.update(MaxKeys=2))
    s3.meta.events.register("after-call.s3.ListObjectsV2", lambda **kw: pages.append(kw["parsed"]["Prefix"]))
    # WHEN the dataset is loaded
    frame = load_results(s3, bucket)
    # THEN the six partitions took three pages to list, the sixth day's objects two, and every row arrived
    assert pages.count("results/") == 3 and pages.count("results/dt=2026-11-06/") == 2
    assert sorted(frame["name"]) == [f"Company {d}" for d in range(1, 6)] + [f"Late {n}" for n in range(3)]


def test_objects_outside_the_prefix_are_never_read(bucket):
    # GIVEN a results object, and objects of the same layout under other prefixes
    put_batch(bucket, [result_row("Netflix", "2026-11-27T10:00:00Z")], "2026-11-27")
    put_batch(bucket, [result_row("Elsewhere", "2026-11-27T10:00:00Z")], "2026-11-27", prefix="archive")
    put_batch(bucket, [result_row("Lookalike", "2026-11-27T10:00:00Z")], "2026-11-27", prefix="results-old")
    s3 = boto3.client("s3")
    reads = []
    s3.meta.events.register("before-parameter-build.s3.GetObject", lambda params, **_: reads.append(params["Key"]))
    # WHEN the dataset is loaded
    frame = load_results(s3, bucket)
    # THEN only the day's manifest (none) and the object under results/ were asked for
    assert list(frame["name"]) == ["Netflix"]
    assert len(reads) == 2 and reads[0] == "manifests/dt=2026-11-27.json" and reads[1].startswith("results/dt=")


def test_a_malformed_object_is_skipped_and_reported(bucket):
    # GIVEN a good batch, a CSV with the wrong header, a file that is not UTF-8, and a key that is no batch's
    put_batch(bucket, [result_row("Netflix", "2026-11-27T10:00:00Z")], "2026-11-27")
    s3 = boto3.client("s3")
    header, binary = (f"results/dt=2026-11-27/part-{c * 32}.csv" for c in "ab")
    s3.put_object(Bucket=bucket, Key=header, Body=b"a,b\n1,2\n")
    s3.put_object(Bucket=bucket, Key=binary, Body=b"\xff\xfe\x00")
    s3.put_object(Bucket=bucket, Key="results/dt=2026-11-27/part-handmade.csv", Body=b"a,b\n")
    skipped = []
    # WHEN the dataset is loaded
    frame = load_results(s3, bucket, on_skip=lambda key, reason: skipped.append((key, reason)))
    # THEN the good rows are read and each bad object is named with a reason
    assert list(frame["name"]) == ["Netflix"]
    reasons = dict(skipped)
    assert reasons[header] == "not rows of the dataset (ValueError: the header is not the dataset's)"
    assert reasons[binary].startswith("not rows of the dataset (UnicodeDecodeError")
    assert reasons["results/dt=2026-11-27/part-handmade.csv"] == "not a data object of the dataset"
    assert len(reasons) == 3


def test_a_row_with_an_unparsable_score_makes_its_object_malformed(bucket):
    # GIVEN an object whose score cell is not a number
    body = csv_body([result_row("Netflix", "2026-11-27T10:00:00Z", positive=0.75)]).replace(b"0.75", b"high")
    key = "results/dt=2026-11-27/part-" + "c" * 32 + ".csv"
    boto3.client("s3").put_object(Bucket=bucket, Key=key, Body=body)
    skipped = []
    # WHEN the dataset is loaded
    frame = load_results(boto3.client("s3"), bucket, on_skip=lambda key, reason: skipped.append(key))
    # THEN no row comes from it and it is reported
    assert frame.empty
    assert skipped == [key]


def test_a_key_outside_the_partition_layout_is_reported_not_read(bucket):
    # GIVEN a stray file under results/ that is not in a dt= partition
    boto3.client("s3").put_object(Bucket=bucket, Key="results/notes.txt", Body=b"hello")
    skipped = []
    # WHEN the dataset is loaded
    frame = load_results(boto3.client("s3"), bucket, on_skip=lambda key, reason: skipped.append((key, reason)))
    # THEN it is reported and the frame is empty but typed
    assert skipped == [("results/notes.txt", "not in a dt=YYYY-MM-DD partition")]
    assert frame.empty and list(frame.columns) == list(COLUMNS)


def test_names_that_look_like_missing_values_stay_names(bucket):
    # GIVEN companies called "NA" and "null", and an empty text
    put_batch(
        bucket,
        [result_row("NA", "2026-11-27T10:00:00Z"), result_row("null", "2026-11-27T10:00:00Z", text="")],
        "2026-11-27",
    )
    # WHEN the dataset is loaded
    frame = load_results(boto3.client("s3"), bucket)
    # THEN they are strings, not NaN
    assert sorted(frame["name"]) == ["NA", "null"]
    assert frame.loc[frame["name"] == "null", "text"].item() == ""


def test_since_filters_rows_by_analyzed_at(bucket):
    # GIVEN rows analysed on the 25th, late on the 26th and on the 27th
    put_batch(bucket, [result_row("Old", "2026-11-25T09:00:00Z")], "2026-11-25")
    put_batch(bucket, [result_row("Evening", "2026-11-26T22:00:00Z")], "2026-11-26")
    put_batch(bucket, [result_row("New", "2026-11-27T09:00:00Z")], "2026-11-27")
    # WHEN the dataset is loaded since 2026-11-26T21:00Z
    frame = load_results(boto3.client("s3"), bucket, since=datetime(2026, 11, 26, 21, tzinfo=UTC))
    # THEN only rows analysed at or after that time remain
    assert sorted(frame["name"]) == ["Evening", "New"]


def test_since_finds_a_row_whose_batch_partition_is_the_day_before(bucket):
    # GIVEN a run requested just before midnight whose row was analysed just after it
    put_batch(bucket, [result_row("Midnight", "2026-11-27T00:00:30Z")], "2026-11-26")
    # WHEN the dataset is loaded since the 27th
    frame = load_results(boto3.client("s3"), bucket, since=parse_since("2026-11-27"))
    # THEN the row is found, though it sits in the 26th's partition
    assert list(frame["name"]) == ["Midnight"]


def test_since_does_not_read_partitions_older_than_the_lookback(bucket):
    # GIVEN an old partition holding a broken object, and a recent good one
    s3 = boto3.client("s3")
    s3.put_object(Bucket=bucket, Key="results/dt=2026-10-01/part-" + "d" * 32 + ".csv", Body=b"not,a,dataset\n")
    put_batch(bucket, [result_row("Netflix", "2026-11-27T10:00:00Z")], "2026-11-27")
    skipped = []
    # WHEN the dataset is loaded since the 27th
    frame = load_results(s3, bucket, since=parse_since("2026-11-27"), on_skip=lambda key, reason: skipped.append(key))
    # THEN the old partition was never listed or read
    assert list(frame["name"]) == ["Netflix"]
    assert skipped == []


def test_an_empty_bucket_gives_an_empty_typed_frame(bucket):
    # GIVEN no objects at all
    # WHEN the dataset is loaded
    frame = load_results(boto3.client("s3"), bucket)
    # THEN the frame is empty with the dataset's columns and types
    assert frame.empty
    assert list(frame.columns) == list(COLUMNS)
    assert str(frame["analyzed_at"].dtype) == "datetime64[us, UTC]"


def test_dedupe_keeps_one_row_per_name_text_and_run(bucket):
    # GIVEN the same row written in two objects (a batch redelivered with other companies), analysed twice
    first = result_row("Netflix", "2026-11-27T10:00:00Z")
    again = result_row("Netflix", "2026-11-27T10:05:00Z")
    put_batch(bucket, [first], "2026-11-27")
    put_batch(bucket, [again, result_row("Meta", "2026-11-27T10:05:00Z")], "2026-11-27")
    # WHEN the rows are de-duplicated
    frame = dedupe(load_results(boto3.client("s3"), bucket))
    # THEN Netflix appears once, with its first analysis
    assert sorted(frame["name"]) == ["Meta", "Netflix"]
    assert frame.loc[frame["name"] == "Netflix", "analyzed_at"].item() == pd.Timestamp("2026-11-27T10:00:00Z")


def test_latest_per_company_picks_the_newest_analysis(bucket):
    # GIVEN two analyses of Netflix (different texts and runs) and one of Meta
    put_batch(bucket, [result_row("Netflix", "2026-11-27T10:00:00Z", text="old", positive=0.2)], "2026-11-27")
    put_batch(bucket, [result_row("Netflix", "2026-11-28T10:00:00Z", "run-2", text="new", positive=0.8)], "2026-11-28")
    put_batch(bucket, [result_row("Meta", "2026-11-27T11:00:00Z")], "2026-11-27")
    # WHEN each company's latest row is taken
    frame = latest_per_company(load_results(boto3.client("s3"), bucket))
    # THEN there is one row per company, Netflix's from the 28th, sorted by name
    assert list(frame["name"]) == ["Meta", "Netflix"]
    assert frame.loc[1, "text"] == "new" and frame.loc[1, "positive"] == 0.8


def test_filter_names_ignores_case_and_extra_spaces(bucket):
    # GIVEN rows for "Meta Platforms" and "Netflix"
    put_batch(
        bucket,
        [result_row("Meta Platforms", "2026-11-27T10:00:00Z"), result_row("Netflix", "2026-11-27T10:00:00Z")],
        "2026-11-27",
    )
    # WHEN filtered by " meta   platforms "
    frame = filter_names(load_results(boto3.client("s3"), bucket), [" meta   platforms "])
    # THEN only Meta Platforms remains
    assert list(frame["name"]) == ["Meta Platforms"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-27", datetime(2026, 11, 27, tzinfo=UTC)),
        ("2026-11-27T10:30:00Z", datetime(2026, 11, 27, 10, 30, tzinfo=UTC)),
        ("2026-11-27T12:30:00+02:00", datetime(2026, 11, 27, 10, 30, tzinfo=UTC)),
        ("2026-11-27T10:30", datetime(2026, 11, 27, 10, 30, tzinfo=UTC)),
    ],
)
def test_parse_since_reads_dates_and_times_as_utc(text, expected):
    # GIVEN/WHEN a --since value is parsed / THEN it is the UTC instant meant
    assert parse_since(text) == expected


def test_parse_since_refuses_other_text():
    # GIVEN/WHEN a value that is neither a date nor a time is parsed / THEN ValueError says what was expected
    with pytest.raises(ValueError, match="neither a date"):
        parse_since("yesterday")
