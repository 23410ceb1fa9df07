"""Compaction: a finished day's many small batch objects rewritten into a few larger ones (docs/dataset.md,
"Compaction").

For one day D: list `<prefix>/dt=D/`, read D's manifest, read the rows a reader would read (dataset_layout's
keys_to_read), keep one row per identity (name, text_sha256, run_id), and then, in this order:
1. write K gzip'd JSON Lines objects, K = min(MAX_OBJECTS_PER_DAY, max(1, ceil(bytes / COMPACTION_TARGET_BYTES))),
   company `name`'s rows in object bucket_of(name, K); their keys hash the rows' identities, so a run that
   was killed and runs again writes the same keys;
2. put the manifest, which names those objects and every batch object folded in so far: the commit point;
3. delete the batch objects folded in and every compacted object of D the manifest does not name.
A kill before 2 leaves objects no reader reads (keys_to_read skips compacted objects no manifest names); a kill
after 2 leaves batch objects the manifest holds (never read again) and old compacted objects (not named):
either way each row is read exactly once, and the next run finishes the job. A day with nothing to fold and
nothing to delete costs one List and one Get.
"""

from __future__ import annotations

import gzip
import hashlib
import math
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from lib.concurrency import in_parallel
from lib.dataset_layout import (
    MAX_OBJECTS_PER_DAY,
    Manifest,
    Row,
    batch_object,
    bucket_of,
    compacted_key,
    compacted_object,
    day_prefix,
    decode_object,
    encode_rows,
    keys_to_read,
    manifest_key,
)
from lib.limits import (
    COMPACTION_LOOKBACK_DAYS,
    COMPACTION_READ_WORKERS,
    COMPACTION_TARGET_BYTES,
    FINISHED_AFTER_SECONDS,
)
from lib.log import get_logger
from lib.results import absent, order_key

log = get_logger("compaction")


@dataclass(frozen=True)
class Place:
    """Where the dataset is: its bucket, the data objects' prefix and the manifests' prefix."""

    bucket: str
    prefix: str
    manifests: str


@dataclass(frozen=True)
class DayReport:
    """What compacting one day did: objects and rows (as a reader sees them) before and after."""

    day: str
    objects_before: int
    objects_after: int
    rows_before: int
    rows_after: int
    folded: int  # batch objects folded in by this run
    deleted: int
    outcome: str  # "compacted", "cleaned" (only deletes left by an earlier run) or "unchanged"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def identity(row: Row) -> tuple[str, str, str]:
    return (row["name"], row["text_sha256"], row["run_id"])


def day_keys(s3: Any, place: Place, day: str) -> list[str]:
    """Every key under the day's partition."""
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=place.bucket, Prefix=day_prefix(place.prefix, day)):
        keys.extend(entry["Key"] for entry in page.get("Contents", []))
    return keys


def read_manifest(s3: Any, place: Place, day: str) -> Manifest | None:
    try:
        body = s3.get_object(Bucket=place.bucket, Key=manifest_key(day, place.manifests))["Body"].read()
    except ClientError as exc:
        if absent(exc):
            return None
        raise
    return Manifest.from_json(body)


def read_rows(s3: Any, bucket: str, keys: Iterable[str]) -> list[Row]:
    """The rows of `keys`, read a few at a time."""

    def read(key: str) -> list[Row]:
        return decode_object(key, s3.get_object(Bucket=bucket, Key=key)["Body"].read())

    return [row for rows in in_parallel(read, list(keys), COMPACTION_READ_WORKERS) for row in rows]


def distinct(rows: Iterable[Row]) -> list[Row]:
    """One row per identity. Two rows of one identity (one message processed twice at the same moment, see
    docs/dataset.md "One row per analysis") keep the later by order_key: the one the table took as latest."""
    kept: dict[tuple[str, str, str], Row] = {}
    for row in rows:
        other = kept.get(identity(row))
        if other is None or _order(row) > _order(other):
            kept[identity(row)] = row
    return list(kept.values())


def _order(row: Row) -> str:
    return order_key(row["analyzed_at"], row["run_id"], row["text_sha256"])


def buckets_for(size: int, target: int = COMPACTION_TARGET_BYTES) -> int:
    """How many objects a day of `size` bytes of JSON Lines is written into."""
    return min(MAX_OBJECTS_PER_DAY, max(1, math.ceil(size / target)))


def compact_day(s3: Any, place: Place, day: str, *, target: int = COMPACTION_TARGET_BYTES) -> DayReport:
    """Compact day `day` (YYYY-MM-DD): idempotent, and safe to kill at any point (see the module's docstring)."""
    keys = day_keys(s3, place, day)
    manifest = read_manifest(s3, place, day)
    readable = keys_to_read(keys, manifest)
    folded = [key for key in readable if batch_object(key)]
    if not folded and manifest is not None:
        leftovers = _leftovers(keys, manifest)
        if leftovers:  # an earlier run committed and was stopped before it had deleted everything
            _delete(s3, place.bucket, leftovers)
        return DayReport(
            day,
            len(keys),
            len(keys) - len(leftovers),
            manifest.rows,
            manifest.rows,
            0,
            len(leftovers),
            "cleaned" if leftovers else "unchanged",
        )
    if not folded:
        return DayReport(day, len(keys), len(keys), 0, 0, 0, 0, "unchanged")
    rows_read = read_rows(s3, place.bucket, readable)
    rows = sorted(distinct(rows_read), key=lambda row: (row["name"], _order(row)))
    size = len(encode_rows(rows))
    # No more objects than companies: a company's rows all go to one object, so more would be left empty.
    count = min(buckets_for(size, target), len({row["name"] for row in rows}))
    digest = hashlib.sha256()
    for name, text_hash, run_id in sorted(identity(row) for row in rows):
        digest.update("\x1f".join((name, text_hash, run_id)).encode("utf-8") + b"\x1e")
    groups: list[list[Row]] = [[] for _ in range(count)]
    for row in rows:
        groups[bucket_of(row["name"], count)].append(row)
    written: list[tuple[str, int, int]] = []
    for index, group in enumerate(groups):
        key = compacted_key(place.prefix, day, digest.hexdigest(), index, count)
        # mtime=0: the same rows give the same bytes, whichever run writes them.
        body = gzip.compress(encode_rows(group), mtime=0)
        s3.put_object(Bucket=place.bucket, Key=key, Body=body, ContentType="application/gzip")
        written.append((key, index, len(group)))
    replaced = (manifest.replaced if manifest is not None else frozenset()) | frozenset(folded)
    committed = Manifest(day=day, buckets=count, objects=tuple(written), replaced=replaced, rows=len(rows))
    s3.put_object(
        Bucket=place.bucket,
        Key=manifest_key(day, place.manifests),
        Body=committed.to_json(),
        ContentType="application/json",
    )
    leftovers = _leftovers(keys, committed)
    _delete(s3, place.bucket, leftovers)
    log.info("day compacted", extra={"day": day, "rows": len(rows), "objects": count, "folded": len(folded)})
    return DayReport(
        day,
        len(keys),
        len(set(keys) - set(leftovers) | {key for key, _, _ in written}),
        len(rows_read),
        len(rows),
        len(folded),
        len(leftovers),
        "compacted",
    )


def _leftovers(keys: list[str], manifest: Manifest) -> list[str]:
    """Of a day's keys, what `manifest` makes garbage: batch objects it holds, compacted ones it does not name."""
    current = set(manifest.current())
    return sorted(
        key
        for key in keys
        if (batch_object(key) and manifest.holds(key)) or (compacted_object(key) and key not in current)
    )


def _delete(s3: Any, bucket: str, keys: list[str]) -> None:
    """Delete after the commit, in parallel like the reads: the order no longer matters, and a day of a large
    watchlist has thousands of batch objects."""
    for _ in in_parallel(lambda key: s3.delete_object(Bucket=bucket, Key=key), keys, COMPACTION_READ_WORKERS):
        pass


# ---------------------------------------------------------------- which days


def finished(day: str, now: datetime) -> bool:
    """Whether no row can be written into `day` any more (docs/dataset.md, "When a day is finished")."""
    end = datetime.combine(date.fromisoformat(day) + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    return now >= end + timedelta(seconds=FINISHED_AFTER_SECONDS)


def partition_days(s3: Any, place: Place) -> list[str]:
    """Every day that has a partition under the prefix (one ListObjectsV2 page per 1,000 days)."""
    days = []
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=place.bucket, Prefix=f"{place.prefix.strip('/')}/dt=", Delimiter="/"):
        for common in page.get("CommonPrefixes", []):
            part = common["Prefix"].rstrip("/").rsplit("dt=", 1)[-1]
            if _is_day(part):
                days.append(part)
    return sorted(days)


def _is_day(text: str) -> bool:
    try:
        return date.fromisoformat(text).isoformat() == text
    except ValueError:
        return False


def pending(s3: Any, place: Place, day: str) -> bool:
    """Whether `day` has objects its manifest does not account for: batch objects to fold, or leftovers to delete."""
    keys = day_keys(s3, place, day)
    manifest = read_manifest(s3, place, day)
    if manifest is None:
        return any(batch_object(key) for key in keys)
    return any(batch_object(key) and not manifest.holds(key) for key in keys) or bool(_leftovers(keys, manifest))


def days_due(s3: Any, place: Place, now: datetime, *, lookback: int | None = COMPACTION_LOOKBACK_DAYS) -> list[str]:
    """The finished days that need compacting: within `lookback` days of `now`, or all of them (None)."""
    if lookback is None:
        candidates = partition_days(s3, place)
    else:
        today = now.astimezone(UTC).date()
        candidates = [(today - timedelta(days=back)).isoformat() for back in range(lookback, 0, -1)]
    return [day for day in candidates if finished(day, now) and pending(s3, place, day)]


def check_day(text: str) -> str:
    """`text` if it is a date YYYY-MM-DD, else ValueError."""
    if not _is_day(text):
        raise ValueError(f"not a day (YYYY-MM-DD): {text!r}")
    return text


def compact_days(
    s3: Any,
    place: Place,
    days: list[str],
    *,
    time_left: Callable[[], float] | None = None,
    reserve: float = 0.0,
    target: int = COMPACTION_TARGET_BYTES,
) -> tuple[list[DayReport], list[str]]:
    """Compact `days` in order while time_left() stays above `reserve`; the reports, and the days not started."""
    reports: list[DayReport] = []
    for position, day in enumerate(days):
        if time_left is not None and time_left() < reserve:
            log.warning("no time left for more days", extra={"remaining": days[position:]})
            return reports, days[position:]
        reports.append(compact_day(s3, place, day, target=target))
    return reports, []
