"""The results dataset's rows and the consumer's writes: one JSON Lines object per batch, under the partition of the
day the batch was analysed (lib.dataset_layout holds the schema and the layout; docs/dataset.md documents both)."""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Sequence
from dataclasses import asdict, astuple, dataclass, fields
from typing import Any

from botocore.exceptions import ClientError

from lib.clients import client
from lib.clock import normalize_iso
from lib.dataset_layout import COLUMNS as DATASET_COLUMNS
from lib.dataset_layout import MANIFESTS_PREFIX, Manifest, day_of, encode_rows, manifest_key

# The columns of a row as the consumer builds it, in order: lib.dataset_layout.COLUMNS without schema_version,
# which encode_rows adds to every row it writes.
COLUMNS = tuple(column for column in DATASET_COLUMNS if column != "schema_version")
# The columns of CSV objects (schema 1) written before rows carried the page revision; readers accept both.
LEGACY_COLUMNS = COLUMNS[:-1]


@dataclass(frozen=True)
class ResultRow:
    name: str
    sentiment: str
    positive: float
    negative: float
    neutral: float
    mixed: float
    text: str
    text_sha256: str
    source_url: str
    analyzed_at: str  # ISO-8601 UTC, e.g. 2026-11-27T23:59:01.123456Z (older rows: whole seconds)
    run_id: str
    revision: int | None = None  # the page revision the text belongs to (the Action API's lastrevid)

    @property
    def identity(self) -> tuple[str, str, str]:
        """What makes a row unique in the dataset: the company, the text and the run."""
        return (self.name, self.text_sha256, self.run_id)

    @property
    def order_key(self) -> str:
        return order_key(self.analyzed_at, self.run_id, self.text_sha256)


if tuple(f.name for f in fields(ResultRow)) != COLUMNS:  # one truth for the column order
    raise ImportError("ResultRow fields and COLUMNS disagree")


def order_key(analyzed_at: str, run_id: str, text_sha256: str) -> str:
    """Where an analysis stands among a company's analyses: the greatest key is the company's latest.

    The analysis time in the fixed-width spelling, then the run, then the text: two different rows of
    one company (see ResultRow.identity) never share a key, so "latest" cannot tie, even between rows
    written in the same second by the old whole-second clock, whatever order they are read in. The
    dataset's readers and the table's conditional write compare this same string (docs/design.md,
    "Which analysis is latest").
    """
    return f"{normalize_iso(analyzed_at)} {run_id} {text_sha256}"


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def batch_key(prefix: str, rows: Sequence[ResultRow], partition_date: str) -> str:
    """A key that depends only on what the batch holds, under the partition `partition_date`.

    Writing the same rows again the same day (a redelivered batch) lands on the same object instead of
    adding a copy; the key holds only [a-z0-9=/.-], never names.
    """
    digest = hashlib.sha256()
    for identity in sorted(row.identity for row in rows):
        digest.update("\x1f".join(identity).encode("utf-8") + b"\x1e")
    return f"{prefix}/dt={partition_date}/part-{digest.hexdigest()[:32]}.jsonl"


def to_jsonl(rows: Sequence[ResultRow]) -> bytes:
    """A batch object's body: its rows as JSON Lines (schema_version 2), in identity order."""
    return encode_rows([asdict(row) for row in sorted(rows, key=lambda r: r.identity)])


def to_csv(rows: Sequence[ResultRow]) -> bytes:
    """The older layout (schema 1), which readers and compaction still read; nothing writes it any more but
    tests that seed objects of older deployments."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in sorted(rows, key=lambda r: r.identity):
        writer.writerow(["" if value is None else value for value in astuple(row)])
    return buffer.getvalue().encode("utf-8")


def put_results(bucket: str, key: str, rows: Sequence[ResultRow], s3: Any = None) -> None:
    s3 = s3 or client("s3")
    s3.put_object(Bucket=bucket, Key=key, Body=to_jsonl(rows), ContentType="application/x-ndjson")


def absent(exc: ClientError) -> bool:
    """Whether an S3 error says the object (or manifest) is not there: HeadObject answers 404/NotFound, GetObject
    NoSuchKey."""
    return exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound")


def object_exists(bucket: str, key: str, s3: Any = None) -> bool:
    """Whether the S3 object `key` is there (HeadObject; a 404 means no, any other error is raised)."""
    s3 = s3 or client("s3")
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if absent(exc):
            return False
        raise
    return True


def row_recorded(bucket: str, key: str, s3: Any = None, manifests: str = MANIFESTS_PREFIX) -> bool:
    """Whether the rows of batch object `key` are in the dataset: the object is there, or compaction folded it
    into its day's compacted objects, as the day's manifest says (docs/dataset.md, "Compaction").

    The manifest is read only when the object is missing; compaction writes it before deleting anything, so a
    batch object is never missing without its manifest naming it. Any error but a 404 is raised.
    """
    s3 = s3 or client("s3")
    if object_exists(bucket, key, s3=s3):
        return True
    day = day_of(key)
    if day is None:
        return False
    try:
        body = s3.get_object(Bucket=bucket, Key=manifest_key(day, manifests))["Body"].read()
    except ClientError as exc:
        if absent(exc):
            return False
        raise
    return Manifest.from_json(body).holds(key)
