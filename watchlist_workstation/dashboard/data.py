"""The dataset as the dashboard sees it: loaded from S3, de-duplicated, kept for a short while.

Every page and API answer reads from one snapshot. A snapshot older than `max_age` seconds is
replaced on the next request, so a page reload shows new results within that time while a burst
of requests (a page, its chart, its JSON) costs one read of the bucket.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from watchlist_workstation.analysis import dataset

SCORE_COLUMNS = dataset.SCORE_COLUMNS
DEFAULT_MAX_AGE_SECONDS = 30.0


@dataclass(frozen=True)
class Snapshot:
    """One read of the dataset: every distinct row, oldest first, and what could not be read."""

    rows: pd.DataFrame
    read_at: datetime
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def latest(self) -> pd.DataFrame:
        """Each company's newest row, sorted by name."""
        return dataset.latest_per_company(self.rows)

    def history(self, name: str) -> pd.DataFrame:
        """One company's rows, oldest first (the name matched as `results --name` matches it)."""
        return dataset.history(self.rows, name)


class ResultsData:
    """Reads `s3://bucket/prefix/` (watchlist_workstation.analysis.dataset.load_results) at most every max_age s."""

    def __init__(
        self,
        s3: Any,
        bucket: str,
        prefix: str = dataset.DEFAULT_PREFIX,
        *,
        since: datetime | None = None,
        max_age: float = DEFAULT_MAX_AGE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.s3, self.bucket, self.prefix, self.since = s3, bucket, prefix.strip("/"), since
        self.max_age, self._clock = max_age, clock
        self._lock = threading.Lock()
        self._snapshot: Snapshot | None = None
        self._taken = 0.0

    @property
    def location(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}/"

    def snapshot(self) -> Snapshot:
        """The current snapshot; AWS errors propagate (the app turns them into a readable page)."""
        with self._lock:  # one reader at a time: concurrent requests wait for the same read
            now = self._clock()
            if self._snapshot is None or now - self._taken >= self.max_age:
                self._snapshot = self._read()
                self._taken = now
            return self._snapshot

    def _read(self) -> Snapshot:
        skipped: list[tuple[str, str]] = []
        rows = dataset.load_results(
            self.s3, self.bucket, self.prefix, self.since, on_skip=lambda key, why: skipped.append((key, why))
        )
        return Snapshot(dataset.dedupe(rows), datetime.now(UTC).replace(microsecond=0), skipped)


def row_record(row: dict[str, Any], *, with_text: bool = False) -> dict[str, Any]:
    """A dataset row as the API shows it: scores grouped, times in the dataset's own spelling."""
    record: dict[str, Any] = {
        "name": row["name"],
        "sentiment": row["sentiment"],
        "scores": {column: float(row[column]) for column in SCORE_COLUMNS},
        "analyzed_at": dataset.format_time(row["analyzed_at"]),
        "source_url": row["source_url"],
        "text_sha256": row["text_sha256"],
        "run_id": row["run_id"],
    }
    if with_text:
        record["text"] = row["text"]
    return record


def records(frame: pd.DataFrame, *, with_text: bool = False) -> list[dict[str, Any]]:
    return [row_record(row, with_text=with_text) for row in frame.to_dict("records")]
