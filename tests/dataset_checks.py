"""The results dataset as a reader sees it, and the invariants compaction keeps (docs/dataset.md, "Compaction"):
shared by the consumer's tests, the compaction and kill tests, and the fault suite.

A reader lists a day, reads its manifest, and reads keys_to_read (lib.dataset_layout). Checked here:
- every data object is under `<prefix>/dt=`, and every row has exactly the schema's columns;
- no identity (name, text_sha256, run_id) is read twice;
- every compacted object a manifest names exists, with as many rows as the manifest says;
- once compaction has finished (assert_compacted), a day holds only its manifest's objects, at most
  MAX_OBJECTS_PER_DAY.
"""

from __future__ import annotations

import gzip
import json
from collections import Counter
from typing import Any

import boto3

from lib.compaction import Place, read_manifest
from lib.dataset_layout import COLUMNS, MAX_OBJECTS_PER_DAY, SCHEMA_VERSION, day_of, decode_object, keys_to_read

RESULTS_PREFIX = "results"
MANIFESTS_PREFIX = "manifests"


def place_of(bucket: str, prefix: str = RESULTS_PREFIX, manifests: str = MANIFESTS_PREFIX) -> Place:
    return Place(bucket, prefix, manifests)


def all_keys(s3: Any, bucket: str, prefix: str = "") -> list[str]:
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys.extend(entry["Key"] for entry in page.get("Contents", []))
    return keys


def keys_by_day(s3: Any, place: Place) -> dict[str, list[str]]:
    days: dict[str, list[str]] = {}
    for key in all_keys(s3, place.bucket, f"{place.prefix}/"):
        day = day_of(key)
        assert day is not None, f"an object under the dataset's prefix that is not a data object: {key}"
        days.setdefault(day, []).append(key)
    return days


def rows_by_day(place: Place, s3: Any = None) -> dict[str, list[dict[str, Any]]]:
    """Each day's rows, read as a reader reads them (its manifest, then keys_to_read)."""
    s3 = s3 or boto3.client("s3")
    found = {}
    for day, keys in sorted(keys_by_day(s3, place).items()):
        manifest = read_manifest(s3, place, day)
        found[day] = [
            row
            for key in keys_to_read(keys, manifest)
            for row in decode_object(key, s3.get_object(Bucket=place.bucket, Key=key)["Body"].read())
        ]
    return found


def readable_rows(place: Place, s3: Any = None) -> list[dict[str, Any]]:
    return [row for rows in rows_by_day(place, s3).values() for row in rows]


def identity(row: dict[str, Any]) -> tuple[str, str, str]:
    return (row["name"], row["text_sha256"], row["run_id"])


def assert_dataset_invariants(place: Place, s3: Any = None) -> list[dict[str, Any]]:
    """Check the invariants of the module's docstring; returns the rows a reader reads."""
    s3 = s3 or boto3.client("s3")
    outside = [
        key
        for key in all_keys(s3, place.bucket)
        if not key.startswith(f"{place.prefix}/dt=") and not key.startswith(f"{place.manifests}/dt=")
    ]
    assert not outside, f"objects outside the dataset's and the manifests' prefixes: {outside}"
    by_day = keys_by_day(s3, place)
    rows: list[dict[str, Any]] = []
    for day, keys in sorted(by_day.items()):
        manifest = read_manifest(s3, place, day)
        if manifest is not None:
            for key, _, count in manifest.objects:
                assert key in keys, f"{day}: the manifest names {key}, which is missing"
                assert len(decode_object(key, s3.get_object(Bucket=place.bucket, Key=key)["Body"].read())) == count
        for key in keys_to_read(keys, manifest):
            body = s3.get_object(Bucket=place.bucket, Key=key)["Body"].read()
            if not key.endswith(".csv"):  # the schema-1 layout has its header, which decode_object checks
                assert_written_columns(key, body)
            rows.extend(decode_object(key, body))
    twice = [i for i, n in Counter(identity(row) for row in rows).items() if n > 1]
    assert not twice, f"rows read twice: {twice}"
    return rows


def assert_written_columns(key: str, body: bytes) -> None:
    """Every line of a JSON Lines object has exactly the schema's columns, in its order, and schema_version 2."""
    text = gzip.decompress(body) if key.endswith(".gz") else body
    for line in text.splitlines():
        record = json.loads(line)
        assert tuple(record) == COLUMNS, f"{key}: a row with the columns {tuple(record)}"
        assert record["schema_version"] == SCHEMA_VERSION, f"{key}: schema_version {record['schema_version']}"


def assert_compacted(place: Place, days: list[str], s3: Any = None) -> None:
    """After compaction finished: each of `days` holds only its manifest's objects, at most MAX_OBJECTS_PER_DAY."""
    s3 = s3 or boto3.client("s3")
    by_day = keys_by_day(s3, place)
    for day in days:
        manifest = read_manifest(s3, place, day)
        assert manifest is not None, f"{day}: no manifest"
        keys = sorted(by_day.get(day, []))
        assert keys == sorted(manifest.current()), f"{day}: {keys} is not what the manifest names"
        assert len(keys) <= MAX_OBJECTS_PER_DAY
