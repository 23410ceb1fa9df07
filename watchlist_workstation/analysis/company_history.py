"""One company's history from S3 without listing a single day: what its dashboard page and `results --name X --all`
read (docs/dataset.md, "Where a company's history comes from").

Keys carry no company names and a day partition holds every company's rows, so the company's own objects are found
from two records instead of listings:
- a compacted day's manifest names the one object holding the company's rows (lib.dataset_layout.bucket_of);
- the company's table item keeps, in `recent_results`, every batch object written with its rows in its last days
  (lib/state.py), complete for any day from `complete_from` on (RECENT_RESULTS_DAYS before its latest analysis).
Per day in the range:
- not finished yet (lib.compaction.finished): the recent keys of that day, nothing else. A key that is gone was
  compacted early (`./cfcli.py compact --day`), so the day's manifest is read and its object for the company;
- finished, with a manifest: the manifest's object for the company, and recent keys the manifest does not hold;
- finished, no manifest (compaction has not run yet, or failed): the recent keys when the day is covered by them,
  else the whole day as watchlist_workstation.analysis.partitions reads it (a listing, then every batch object).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pandas as pd

from lib import dataset_layout as layout
from lib import table as watchlist
from lib.clock import parse_iso
from lib.compaction import finished
from lib.state import recent_horizon
from watchlist_workstation.analysis import dataset, partitions
from watchlist_workstation.analysis.latest import added_date
from watchlist_workstation.analysis.partitions import READ_WORKERS, RequestCount, SkipCallback


def days_between(first: date, last: date) -> list[str]:
    return [(first + timedelta(days=offset)).isoformat() for offset in range((last - first).days + 1)]


class CompanyReader:
    """Reads company `name`'s rows of the days `first`..`last` from `s3://bucket/prefix/`, counting its requests."""

    def __init__(
        self,
        s3: Any,
        bucket: str,
        prefix: str,
        name: str,
        *,
        recent: Sequence[str],
        complete_from: date | None,
        finished: Callable[[str], bool],
        counts: RequestCount,
        on_skip: SkipCallback | None = None,
        workers: int = READ_WORKERS,
    ) -> None:
        self.s3, self.bucket, self.prefix, self.name = s3, bucket, prefix.strip("/"), name
        self.recent, self.complete_from, self.finished = sorted(set(recent)), complete_from, finished
        self.counts, self.on_skip, self.workers = counts, on_skip, workers

    def read(self, first: date, last: date) -> list[layout.Row]:
        """The company's rows of those days, not de-duplicated, in key order."""
        with ThreadPoolExecutor(max_workers=max(1, self.workers)) as pool:
            keys = [key for day_keys in pool.map(self._day_keys, days_between(first, last)) for key in day_keys]
            rows: list[layout.Row] = []
            gone: list[str] = []
            for key, found in pool.map(self._read, keys):
                if found is None:
                    gone.append(key)
                else:
                    rows.extend(found)
            # Recent keys of a day compacted before it was finished: the manifest holds them.
            late = sorted({day for key in gone if (day := layout.day_of(key))})
            for extra in pool.map(lambda day: self._compacted_instead(day, gone), late):
                rows.extend(extra)
        return rows

    def _recent_of(self, day: str) -> list[str]:
        return [key for key in self.recent if layout.day_of(key) == day]

    def _day_keys(self, day: str) -> list[str]:
        if not self.finished(day):
            return self._recent_of(day)
        manifest = self._manifest(day)
        if manifest is not None:
            return manifest.current(self.name) + [key for key in self._recent_of(day) if not manifest.holds(key)]
        if self.complete_from is not None and date.fromisoformat(day) >= self.complete_from:
            return self._recent_of(day)
        listed = partitions.list_day(self.s3, self.bucket, self.prefix, day, self.counts)
        return layout.keys_to_read(listed, None, self.name)

    def _manifest(self, day: str) -> layout.Manifest | None:
        manifest, stray = partitions.read_manifest(self.s3, self.bucket, day, self.counts)
        for key, reason in stray:
            if self.on_skip:
                self.on_skip(key, reason)
        return manifest

    def _read(self, key: str) -> tuple[str, list[layout.Row] | None]:
        """The company's rows in `key`; None when the object is gone."""
        try:
            return key, partitions.read_object(self.s3, self.bucket, key, self.counts, self.name)
        except layout.MalformedObject as exc:
            if self.on_skip:
                self.on_skip(key, str(exc))
            return key, []

    def _compacted_instead(self, day: str, gone: list[str]) -> list[layout.Row]:
        manifest = self._manifest(day)
        if manifest is None or not any(manifest.holds(key) for key in gone):
            for key in gone:  # a batch object whose write failed and was taken back: no row was ever there
                if layout.day_of(key) == day and self.on_skip:
                    self.on_skip(key, "named by the table but not written")
            return []
        rows: list[layout.Row] = []
        for key in manifest.current(self.name):
            _, found = self._read(key)
            rows.extend(found or [])
        return rows


# What a company's history needs of its table item: its spelling and added date, the batch objects of its recent
# analyses and the analysis they are recent to (lib/state.py keeps them).
COMPANY_ATTRIBUTES = (watchlist.KEY, watchlist.ADDED_AT, watchlist.RECENT_RESULTS, watchlist.ANALYZED_AT)


@dataclass(frozen=True)
class CompanyItem:
    """A company as its history is read: its name, added date, recent_results keys, and the first day they are
    complete for (None: the item has none, as when its latest analysis was written before the table kept them)."""

    name: str
    added: date | None = None
    recent: tuple[str, ...] = ()
    complete_from: date | None = None


def company_item(ddb: Any, table: str, name: str) -> CompanyItem | None:
    """`name`'s item (one GetItem of COMPANY_ATTRIBUTES); None when no item is named exactly so."""
    item = ddb.get_item(TableName=table, Key=watchlist.key(name), **watchlist.projection(COMPANY_ATTRIBUTES)).get(
        "Item"
    )
    if item is None:
        return None
    recent = tuple(item.get(watchlist.RECENT_RESULTS, {}).get("SS", []))
    analysed = item.get(watchlist.ANALYZED_AT, {}).get("S")
    complete_from = recent_horizon(parse_iso(analysed).date()) if recent and analysed else None
    return CompanyItem(name, added_date(item), recent, complete_from)


def load_company(
    s3: Any,
    ddb: Any,
    table: str,
    bucket: str,
    prefix: str,
    name: str,
    first: date,
    *,
    now: datetime,
    since: datetime | None = None,
    counts: RequestCount,
    on_skip: SkipCallback | None = None,
    item: CompanyItem | None = None,
) -> pd.DataFrame:
    """`name`'s rows of the days `first` to now's date, typed as dataset.load_results types them, not de-duplicated;
    `item` is its table item when the caller read it already (else one GetItem reads it here)."""
    item = item or company_item(ddb, table, name) or CompanyItem(name)
    reader = CompanyReader(
        s3,
        bucket,
        prefix,
        name,
        recent=item.recent,
        complete_from=item.complete_from,
        finished=lambda day: finished(day, now),
        counts=counts,
        on_skip=on_skip,
    )
    return dataset.frame_of(reader.read(first, now.astimezone(UTC).date()), since)
