"""The dataset in the layout lib.dataset_layout defines, written by hand for the readers' tests: batch objects (JSON
Lines, and the older CSV), a day compacted with its manifest, and the table's latest state as the consumer records
it. The readers are tested against the contract, not against whichever writer is current.
"""

from __future__ import annotations

import csv
import dataclasses
import gzip
import hashlib
import io
from collections import defaultdict
from collections.abc import Iterable, Sequence

import boto3

from lib import dataset_layout as layout
from lib import state
from lib.results import ResultRow
from lib.wikipedia import PageRevision

PREFIX = "results"


def as_dict(row: ResultRow) -> layout.Row:
    return {column: getattr(row, column, None) for column in layout.COLUMNS}


def batch_key(rows: Sequence[ResultRow], day: str, suffix: str = "jsonl", prefix: str = PREFIX) -> str:
    digest = hashlib.sha256("|".join(sorted("\x1f".join(r.identity) for r in rows)).encode()).hexdigest()
    return f"{layout.day_prefix(prefix, day)}part-{digest[:32]}.{suffix}"


def put_jsonl(bucket: str, rows: Sequence[ResultRow], day: str, prefix: str = PREFIX) -> str:
    """One consumer batch object in JSON Lines; returns its key."""
    key = batch_key(rows, day, prefix=prefix)
    boto3.client("s3").put_object(Bucket=bucket, Key=key, Body=layout.encode_rows([as_dict(r) for r in rows]))
    return key


def csv_body(rows: Sequence[ResultRow], *, with_revision: bool = True) -> bytes:
    """Rows in the older CSV layout (its header without schema_version, or without revision either)."""
    columns = layout.COLUMNS[: layout.COLUMNS.index("revision") + (1 if with_revision else 0)]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if getattr(row, c, None) is None else getattr(row, c) for c in columns])
    return buffer.getvalue().encode()


def put_csv(bucket: str, rows: Sequence[ResultRow], day: str, *, with_revision: bool = True) -> str:
    """One batch object of the older CSV layout; returns its key."""
    key = batch_key(rows, day, "csv")
    boto3.client("s3").put_object(Bucket=bucket, Key=key, Body=csv_body(rows, with_revision=with_revision))
    return key


def compact(bucket: str, day: str, buckets: int, *, keep: Iterable[str] = ()) -> layout.Manifest:
    """Compact a day as compaction would: its batch objects' rows into `buckets` gzip'd objects (a company's rows
    in object bucket_of(name)), then the manifest, then the replaced objects deleted, but those in `keep` (as if
    the compaction had been killed before deleting them)."""
    s3 = boto3.client("s3")
    listed = [e["Key"] for e in s3.list_objects_v2(Bucket=bucket, Prefix=layout.day_prefix(PREFIX, day))["Contents"]]
    replaced = sorted(key for key in listed if layout.batch_object(key))
    by_bucket: dict[int, list[layout.Row]] = defaultdict(list)
    for key in replaced:
        for row in layout.decode_object(key, s3.get_object(Bucket=bucket, Key=key)["Body"].read()):
            by_bucket[layout.bucket_of(row["name"], buckets)].append(row)
    digest = hashlib.sha256("".join(replaced).encode()).hexdigest()
    objects = []
    for index in range(buckets):
        key = layout.compacted_key(PREFIX, day, digest, index, buckets)
        s3.put_object(Bucket=bucket, Key=key, Body=gzip.compress(layout.encode_rows(by_bucket[index])))
        objects.append((key, index, len(by_bucket[index])))
    manifest = layout.Manifest(day, buckets, tuple(objects), frozenset(replaced), sum(n for _, _, n in objects))
    s3.put_object(Bucket=bucket, Key=layout.manifest_key(day), Body=manifest.to_json())
    for key in replaced:
        if key not in set(keep):
            s3.delete_object(Bucket=bucket, Key=key)
    return manifest


def record(table: str, row: ResultRow, revision: int = 100) -> str:
    """The table's state after the consumer recorded `row` (the company must be on the watchlist)."""
    page = PageRevision(row.name, revision, row.source_url)
    return state.save_analysis(table, row, page, "results/any", boto3.client("dynamodb"), repair=True)


def with_revision(row: ResultRow, revision: int) -> ResultRow:
    return dataclasses.replace(row, revision=revision)


class S3Calls:
    """The S3 requests a client made: each request's (operation, key or prefix), from botocore's
    before-parameter-build event, and the number of requests sent, from its before-call event."""

    def __init__(self, client) -> None:
        self.calls: list[tuple[str, str]] = []
        self.sent = 0
        client.meta.events.register("before-parameter-build.s3", self._asked)
        client.meta.events.register("before-call.s3", self._sent)

    def _asked(self, model, params, **_) -> None:
        self.calls.append((model.name, params.get("Key") or params.get("Prefix") or ""))

    def _sent(self, **_) -> None:
        self.sent += 1

    def keys(self, operation: str = "GetObject") -> list[str]:
        return sorted(key for name, key in self.calls if name == operation)

    def count(self, operation: str) -> int:
        return sum(name == operation for name, _ in self.calls)
