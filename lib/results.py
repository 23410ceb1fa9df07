"""The results dataset: one CSV object per consumer batch, under a date-partitioned key."""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Sequence
from dataclasses import astuple, dataclass, fields
from typing import Any

from botocore.exceptions import ClientError

from lib.clients import client
from lib.clock import normalize_iso

# The dataset's columns, in order (documented in docs/dataset.md).
COLUMNS = (
    "name",
    "sentiment",
    "positive",
    "negative",
    "neutral",
    "mixed",
    "text",
    "text_sha256",
    "source_url",
    "analyzed_at",
    "run_id",
    "revision",
)
# The columns of objects written before rows carried the page revision; readers accept both.
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
    """A key that depends only on what the batch holds.

    Writing the same rows again (a redelivered batch) lands on the same object
    instead of adding a copy; the key holds only [a-z0-9=/.-], never names.
    """
    digest = hashlib.sha256()
    for identity in sorted(row.identity for row in rows):
        digest.update("\x1f".join(identity).encode("utf-8") + b"\x1e")
    return f"{prefix}/dt={partition_date}/part-{digest.hexdigest()[:32]}.csv"


def to_csv(rows: Sequence[ResultRow]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in sorted(rows, key=lambda r: r.identity):
        writer.writerow(["" if value is None else value for value in astuple(row)])
    return buffer.getvalue().encode("utf-8")


def put_results(bucket: str, key: str, rows: Sequence[ResultRow], s3: Any = None) -> None:
    s3 = s3 or client("s3")
    s3.put_object(Bucket=bucket, Key=key, Body=to_csv(rows), ContentType="text/csv; charset=utf-8")


def object_exists(bucket: str, key: str, s3: Any = None) -> bool:
    """Whether the S3 object `key` is there (HeadObject; a 404 means no, any other error is raised)."""
    s3 = s3 or client("s3")
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return False
        raise
    return True
