"""A known dataset for the SQL tests, written into a bucket in the layout the pipeline writes (docs/dataset.md):
JSON Lines batch objects and one compacted .jsonl.gz object under results/dt=YYYY-MM-DD/, built with
lib.dataset_layout.encode_rows. `seed` is the one place that writes it, so a real local run can replace it.

Days are counted back from today (UTC), so the "last 7 days" query has a fixed answer whatever the date.
"""

from __future__ import annotations

import gzip
import hashlib
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from lib.dataset_layout import compacted_key, encode_rows

PREFIX = "results"
INTRO = (
    "Globex Corporation is a multinational conglomerate.\n\n"
    "It was founded in 1989 and makes everything from lamps to lasers.\n\n"
    "Its headquarters, in Cypress Creek, are famous for their hammocks."
)


def day(days_ago: int) -> str:
    return (datetime.now(UTC).date() - timedelta(days=days_ago)).isoformat()


def analysed_at(days_ago: int, hour: int = 12) -> str:
    moment = datetime.combine(date.fromisoformat(day(days_ago)), datetime.min.time(), UTC) + timedelta(hours=hour)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def row(name: str, days_ago: int, sentiment: str, negative: float, run_id: str, text: str | None = None) -> dict:
    text = text or f"{name} text {days_ago} {run_id}"
    rest = round(1.0 - negative, 4)
    return {
        "name": name,
        "sentiment": sentiment,
        "positive": rest if sentiment == "POSITIVE" else 0.0,
        "negative": negative,
        "neutral": 0.0 if sentiment == "POSITIVE" else rest,
        "mixed": 0.0,
        "text": text,
        "text_sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
        "source_url": f"https://en.wikipedia.org/wiki/{name}",
        "analyzed_at": analysed_at(days_ago),
        "run_id": run_id,
        "revision": 1000 + days_ago,
    }


# (days ago, row): Acme turns negative, Globex positive (a three-paragraph intro), Initech from MIXED to NEGATIVE
# (its last row also sits in a compacted object: one row, two copies), Umbrella has two analyses with the same
# analyzed_at, told apart by run_id.
ROWS: list[dict[str, Any]] = [
    row("Acme", 20, "POSITIVE", 0.05, "run-01"),
    row("Acme", 10, "NEGATIVE", 0.80, "run-02"),
    row("Acme", 2, "NEGATIVE", 0.70, "run-03"),
    row("Globex", 20, "NEUTRAL", 0.10, "run-01"),
    row("Globex", 3, "POSITIVE", 0.02, "run-04", text=INTRO),
    row("Initech", 5, "MIXED", 0.40, "run-05"),
    row("Initech", 1, "NEGATIVE", 0.60, "run-06"),
    row("Umbrella", 30, "NEGATIVE", 0.90, "run-00"),
    row("Umbrella", 15, "NEGATIVE", 0.85, "run-07a"),
    row("Umbrella", 15, "MIXED", 0.30, "run-07b"),
]
# Rows that are also in a compacted object of their day, as during compaction (before the batch object is deleted).
ALSO_COMPACTED = [r for r in ROWS if r["name"] == "Initech" and r["run_id"] == "run-06"]


def seed(
    s3: Any, bucket: str, rows: list[dict[str, Any]] = ROWS, compacted: list[dict[str, Any]] = ALSO_COMPACTED
) -> list[str]:
    """Write `rows` as one batch object per row's day and run, and `compacted` again as a compacted object of
    their day; returns the keys written."""
    keys = []
    batches: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for item in rows:
        batches.setdefault((item["analyzed_at"][:10], item["run_id"]), []).append(item)
    for (dt, _), batch in sorted(batches.items()):
        key = f"{PREFIX}/dt={dt}/part-{uuid.uuid4().hex}.jsonl"
        s3.put_object(Bucket=bucket, Key=key, Body=encode_rows(batch))
        keys.append(key)
    by_day: dict[str, list[dict[str, Any]]] = {}
    for item in compacted:
        by_day.setdefault(item["analyzed_at"][:10], []).append(item)
    for dt, day_rows in sorted(by_day.items()):
        key = compacted_key(PREFIX, dt, uuid.uuid4().hex, 0, 1)
        s3.put_object(Bucket=bucket, Key=key, Body=gzip.compress(encode_rows(day_rows)))
        keys.append(key)
    return keys


# What the three documented queries answer over ROWS (docs/sql.md).
LATEST_LABEL = [
    {"name": "Acme", "sentiment": "NEGATIVE", "analyzed_at": analysed_at(2)},
    {"name": "Globex", "sentiment": "POSITIVE", "analyzed_at": analysed_at(3)},
    {"name": "Initech", "sentiment": "NEGATIVE", "analyzed_at": analysed_at(1)},
    {"name": "Umbrella", "sentiment": "MIXED", "analyzed_at": analysed_at(15)},
]
LABEL_CHANGES = [
    {"name": "Acme", "analyzed_at": analysed_at(10), "previous_label": "POSITIVE", "label": "NEGATIVE"},
    {"name": "Globex", "analyzed_at": analysed_at(3), "previous_label": "NEUTRAL", "label": "POSITIVE"},
    {"name": "Initech", "analyzed_at": analysed_at(1), "previous_label": "MIXED", "label": "NEGATIVE"},
    {"name": "Umbrella", "analyzed_at": analysed_at(15), "previous_label": "NEGATIVE", "label": "MIXED"},
]
# Initech counts its duplicated row once: (0.40 + 0.60) / 2, over 2 analyses (not 3).
MOST_NEGATIVE_7_DAYS = [
    {"name": "Acme", "mean_negative": 0.7, "analyses": 1},
    {"name": "Initech", "mean_negative": 0.5, "analyses": 2},
    {"name": "Globex", "mean_negative": 0.02, "analyses": 1},
]
EXPECTED = {
    "latest-label": LATEST_LABEL,
    "label-changes": LABEL_CHANGES,
    "most-negative-7-days": MOST_NEGATIVE_7_DAYS,
}
