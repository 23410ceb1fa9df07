"""A range of the dataset's history read from S3: only the day partitions in the range, and of each day only the
objects lib.dataset_layout.keys_to_read names, so that every row is read once (docs/cli.md, "Reading the dataset").

Keys carry no company names, so one company's history comes from the day partitions, which hold every company's
rows. Per day in the range: one ListObjectsV2 of `<prefix>/dt=D/`, one GetObject of the day's manifest (none until
compaction ran), then the objects to read. With a company's name, a compacted day costs one more GetObject (the
object bucket_of(name) picks) and its other companies' lines are skipped unparsed (decode_object's fast path).
The days themselves come from one ListObjectsV2 with a delimiter, so an empty day costs nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from botocore.exceptions import ClientError

from lib import dataset_layout as layout
from lib.results import absent
from watchlist_workstation.limits import HISTORY_DEFAULT_DAYS

# Requests in flight at once: the objects are small, so the time goes into round trips.
READ_WORKERS = 8

SkipCallback = Callable[[str, str], None]


@dataclass
class RequestCount:
    """The S3 requests one read made, by kind: what a page reports in its X-S3-Requests header."""

    lists: int = 0
    gets: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, *, lists: int = 0, gets: int = 0) -> None:
        with self._lock:  # the reads run in a thread pool
            self.lists += lists
            self.gets += gets

    def header(self) -> str:
        return f"list={self.lists}, get={self.gets}"

    def as_dict(self) -> dict[str, int]:
        return {"list": self.lists, "get": self.gets}


@dataclass(frozen=True)
class DayRange:
    """Which day partitions to read: from `first` (None: the oldest) to `last` (None: the newest), both included."""

    first: date | None = None
    last: date | None = None

    def holds(self, day: str) -> bool:
        when = date.fromisoformat(day)
        return (self.first is None or when >= self.first) and (self.last is None or when <= self.last)


def partition_days(
    s3: Any, bucket: str, prefix: str, days: DayRange, counts: RequestCount, on_skip: SkipCallback | None = None
) -> list[str]:
    """The days (YYYY-MM-DD) that have a partition in `days`, oldest first: one ListObjectsV2 with Delimiter '/'
    whose CommonPrefixes are the partitions (a page per 1,000 of them), starting after the day before `first`."""
    prefix = prefix.strip("/")
    kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": f"{prefix}/", "Delimiter": "/"}
    if days.first is not None:
        kwargs["StartAfter"] = f"{prefix}/dt={days.first.isoformat()}"  # sorts just before "…/dt=<first>/"
    found: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(**kwargs):
        counts.add(lists=1)
        for entry in page.get("Contents", []):  # a key right under the prefix is in no partition
            if on_skip and not entry["Key"].endswith("/"):
                on_skip(entry["Key"], "not in a dt=YYYY-MM-DD partition")
        for common in page.get("CommonPrefixes", []):
            day = common["Prefix"][len(prefix) + 1 :].removeprefix("dt=").rstrip("/")
            try:
                inside = days.holds(day)
            except ValueError:
                if on_skip:
                    on_skip(common["Prefix"], "not a dt=YYYY-MM-DD partition")
                continue
            if inside:
                found.append(day)
    return found


def read_manifest(
    s3: Any, bucket: str, day: str, counts: RequestCount
) -> tuple[layout.Manifest | None, list[tuple[str, str]]]:
    """The day's compaction manifest (one GetObject; None when compaction has not run), and, when the object is not a
    manifest, its key with why (the day is then read as if it had none)."""
    key = layout.manifest_key(day)
    counts.add(gets=1)
    try:
        return layout.Manifest.from_json(s3.get_object(Bucket=bucket, Key=key)["Body"].read()), []
    except ClientError as exc:
        if not absent(exc):
            raise
        return None, []
    except (ValueError, KeyError, TypeError) as exc:
        return None, [(key, f"not a manifest of the dataset ({type(exc).__name__})")]


def read_object(
    s3: Any, bucket: str, key: str, counts: RequestCount, name: str | None = None
) -> list[layout.Row] | None:
    """The rows of one data object (only `name`'s when given), one GetObject; None when the object is not there.
    Raises layout.MalformedObject when its body is not rows."""
    counts.add(gets=1)
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        if absent(exc):
            return None
        raise
    return layout.decode_object(key, body, name)


def list_day(s3: Any, bucket: str, prefix: str, day: str, counts: RequestCount) -> list[str]:
    """Every key of one day's partition (ListObjectsV2, a page per 1,000 keys)."""
    listed: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=layout.day_prefix(prefix, day)):
        counts.add(lists=1)
        listed.extend(entry["Key"] for entry in page.get("Contents", []))
    return listed


def _day_keys(
    s3: Any, bucket: str, prefix: str, day: str, names: Sequence[str] | None, counts: RequestCount
) -> tuple[list[str], list[tuple[str, str]]]:
    """One day's keys to read (keys_to_read) and the keys it left out as not the dataset's, with why."""
    listed = list_day(s3, bucket, prefix, day, counts)
    stray = [
        (key, "not a data object of the dataset")
        for key in listed
        if not key.endswith("/") and not layout.batch_object(key) and not layout.compacted_object(key)
    ]
    manifest, unreadable = read_manifest(s3, bucket, day, counts)
    stray.extend(unreadable)
    if names is None:
        return layout.keys_to_read(listed, manifest), stray
    wanted = {key for name in names for key in layout.keys_to_read(listed, manifest, name)}
    return sorted(wanted), stray


def read_rows(
    s3: Any,
    bucket: str,
    prefix: str,
    days: DayRange,
    *,
    names: Sequence[str] | None = None,
    on_skip: SkipCallback | None = None,
    counts: RequestCount | None = None,
    workers: int = READ_WORKERS,
) -> list[layout.Row]:
    """Every row of the partitions in `days` (only the rows of `names`, matched exactly, when given), not
    de-duplicated, in key order. An object that is not rows of the dataset, or that vanished between listing and
    reading (compaction deletes what it replaced), is left out and reported through `on_skip(key, reason)`; any
    other AWS error is raised."""
    counts = counts if counts is not None else RequestCount()
    prefix = prefix.strip("/")
    wanted = list(dict.fromkeys(names)) if names is not None else None
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        found = partition_days(s3, bucket, prefix, days, counts, on_skip)
        per_day = list(pool.map(lambda day: _day_keys(s3, bucket, prefix, day, wanted, counts), found))
        keys = [key for day_keys, _ in per_day for key in day_keys]
        for _, stray in per_day:
            for key, reason in stray:
                if on_skip:
                    on_skip(key, reason)
        only = wanted[0] if wanted is not None and len(wanted) == 1 else None

        def read(key: str) -> tuple[str, list[layout.Row] | None, str]:
            try:
                found = read_object(s3, bucket, key, counts, only)
            except layout.MalformedObject as exc:
                return key, None, str(exc)
            return key, found, "" if found is not None else "deleted while reading"

        rows: list[layout.Row] = []
        # map() keeps key order, so the result (and every tie broken by it) does not depend on timing.
        for key, object_rows, reason in pool.map(read, keys):
            if object_rows is None:
                if on_skip:
                    on_skip(key, reason)
                continue
            rows.extend(object_rows if wanted is None else (r for r in object_rows if r["name"] in wanted))
    return rows


def history_first_day(added: Sequence[date | None], days: int | None, today: date) -> date:
    """The first day partition a history of some companies reads: `days` back from today (today included) when
    given; else the day the earliest of them was added (no row of it can be older: a row's partition is the date it
    was analysed or, in the older CSV layout, requested), at most HISTORY_DEFAULT_DAYS back. docs/cli.md, "Reading
    the dataset"."""
    if days is not None:
        return today - timedelta(days=days - 1)
    floor = today - timedelta(days=HISTORY_DEFAULT_DAYS - 1)
    if not added or any(day is None for day in added):
        return floor
    return max(min(day for day in added if day is not None), floor)
