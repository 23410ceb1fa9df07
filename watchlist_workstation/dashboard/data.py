"""What the dashboard shows: each company's latest analysis from the watchlist table, kept for a short while, and
one company's history read from the S3 day partitions in its range (docs/cli.md, "serve" and "Reading the dataset";
watchlist_workstation/analysis/company_history.py says which objects of each day).

The main page reads no S3 object: the table's Scan is cheap and follows the watchlist's size. A snapshot of it older
than `max_age` seconds is replaced on the next request, so a reload shows new analyses within that time while a
burst of requests costs one Scan. A company page reads its range of the history each time it is asked for; it
reports how many S3 requests that took (History.counts), which the app sends as the X-S3-Requests header.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import pandas as pd

from lib.dataset_layout import RESULTS_PREFIX
from watchlist_workstation.analysis import dataset
from watchlist_workstation.analysis.company_history import CompanyItem, company_item, load_company
from watchlist_workstation.analysis.latest import Watchlist, read_watchlist
from watchlist_workstation.analysis.partitions import RequestCount, history_first_day

SCORE_COLUMNS = dataset.SCORE_COLUMNS
DEFAULT_MAX_AGE_SECONDS = 30.0


@dataclass(frozen=True)
class Snapshot:
    """One read of the watchlist table: each analysed company's latest row, and when it was read."""

    watchlist: Watchlist
    read_at: datetime

    def latest(self) -> pd.DataFrame:
        """Each company's latest analysis, sorted by name."""
        return self.watchlist.latest

    def canonical(self, name: str) -> str | None:
        """The watchlist's spelling of `name` (matched as `results --name` matches); None when it is not listed."""
        key = dataset.name_key(name)
        return next((listed for listed in self.watchlist.added if dataset.name_key(listed) == key), None)


@dataclass(frozen=True)
class History:
    """A company's rows in a range of days, oldest first, and what reading them took."""

    name: str
    rows: pd.DataFrame
    first_day: date | None
    counts: RequestCount
    skipped: list[tuple[str, str]] = field(default_factory=list)


class ResultsData:
    """The table `table` (latest view, re-read at most every max_age s) and the dataset at `s3://bucket/prefix/`."""

    def __init__(
        self,
        s3: Any,
        bucket: str,
        prefix: str = RESULTS_PREFIX,
        *,
        ddb: Any,
        table: str,
        since: datetime | None = None,
        max_age: float = DEFAULT_MAX_AGE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.s3, self.bucket, self.prefix, self.since = s3, bucket, prefix.strip("/"), since
        self.ddb, self.table = ddb, table
        self.max_age, self._clock, self._now = max_age, clock, now
        self._lock = threading.Lock()
        self._snapshot: Snapshot | None = None
        self._taken = 0.0

    @property
    def location(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}/"

    @property
    def table_location(self) -> str:
        return f"the watchlist table {self.table}"

    def snapshot(self) -> Snapshot:
        """The current snapshot of the table; AWS errors propagate (the app turns them into a readable page)."""
        with self._lock:  # one reader at a time: concurrent requests wait for the same read
            now = self._clock()
            if self._snapshot is None or now - self._taken >= self.max_age:
                watchlist = read_watchlist(self.ddb, self.table)
                if self.since is not None:
                    latest = watchlist.latest
                    kept = latest[latest["analyzed_at"] >= pd.Timestamp(self.since)].reset_index(drop=True)
                    watchlist = Watchlist(kept, watchlist.added)
                self._snapshot = Snapshot(watchlist, datetime.now(UTC).replace(microsecond=0))
                self._taken = now
            return self._snapshot

    def company(self, name: str) -> CompanyItem:
        """`name` as the table lists it: one GetItem when it is spelled as listed, else the snapshot's
        case-insensitive match (a Scan when the snapshot is older than max_age) and a GetItem of that spelling. A name
        not on the watchlist is taken as given (a company removed since keeps its history)."""
        item = company_item(self.ddb, self.table, name)
        if item is None:
            listed = self.snapshot().canonical(name)
            item = company_item(self.ddb, self.table, listed) if listed not in (None, name) else None
        return item or CompanyItem(name)

    def history(self, company: CompanyItem, days: int | None = None) -> History:
        """`company`'s distinct rows, oldest first: the partitions since it was added (at most HISTORY_DEFAULT_DAYS),
        or of the last `days` days; only rows analysed since `since` when the dashboard was started with one."""
        first = history_first_day([company.added], days, self._now().astimezone(UTC).date())
        if self.since is not None:
            first = max(first, dataset.since_range(self.since).first or first)
        counts, skipped = RequestCount(), []
        rows = load_company(
            self.s3,
            self.ddb,
            self.table,
            self.bucket,
            self.prefix,
            company.name,
            first,
            now=self._now(),
            since=self.since,
            counts=counts,
            on_skip=lambda key, why: skipped.append((key, why)),
            item=company,
        )
        return History(company.name, dataset.dedupe(rows), first, counts, skipped)


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
