"""The results dataset read back from S3 into a pandas DataFrame: load, de-duplicate, pick each company's latest row.

Which objects are read, and how (only the day partitions in a range, each row once even on a compacted day), is
watchlist_workstation.analysis.partitions; docs/cli.md, "Reading the dataset", tells it for users. The same row can
appear in two objects (a batch delivered again whose composition changed), so readers treat (name, text_sha256,
run_id) as the row's key. Rows are ordered by lib.results.order_key (analysis time to the microsecond, then run, then
text), the key the table's latest state is written by, so "latest" never depends on the order objects are read in.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pandas as pd

from lib.clock import iso, parse_iso
from lib.dataset_layout import RESULTS_PREFIX
from lib.names import normalize_name
from lib.results import COLUMNS as RESULT_COLUMNS
from watchlist_workstation.analysis.partitions import READ_WORKERS, DayRange, RequestCount, SkipCallback, read_rows
from watchlist_workstation.limits import RESULTS_PARTITION_LOOKBACK_DAYS

SCORE_COLUMNS = ("positive", "negative", "neutral", "mixed")
IDENTITY = ("name", "text_sha256", "run_id")
# The columns readers show: the dataset's but the schema version each row was written with (lib.results.COLUMNS).
COLUMNS = RESULT_COLUMNS
# Timestamps keep microseconds, so frames from many objects share one dtype whatever precision their text had.
TIME_DTYPE = "datetime64[us, UTC]"

__all__ = ["READ_WORKERS", "DayRange", "RequestCount"]


# ---------------------------------------------------------------- times
def parse_since(text: str) -> datetime:
    """'YYYY-MM-DD' (midnight UTC that day) or an ISO-8601 time ('Z' or an offset; no offset means UTC)."""
    text = text.strip()
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            return datetime.combine(date.fromisoformat(text), time(), tzinfo=UTC)
        return parse_iso(text)
    except ValueError as exc:
        raise ValueError(f"{text!r} is neither a date (YYYY-MM-DD) nor an ISO-8601 time") from exc


def format_time(moment: pd.Timestamp | datetime) -> str:
    """The pipeline's own spelling (lib.clock.iso), 2026-11-27T23:59:01.123456Z."""
    return iso(pd.Timestamp(moment).to_pydatetime())


# ---------------------------------------------------------------- the dataset
def empty_frame() -> pd.DataFrame:
    return typed(pd.DataFrame({column: pd.Series([], dtype=object) for column in COLUMNS}))


def typed(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with the dataset's column types: scores float64, analyzed_at TIME_DTYPE, revision nullable Int64."""
    frame = frame.copy()
    for column in SCORE_COLUMNS:
        frame[column] = pd.to_numeric(frame[column], errors="raise").astype("float64")
    frame["analyzed_at"] = pd.to_datetime(frame["analyzed_at"], utc=True, format="ISO8601").astype(TIME_DTYPE)
    # Nullable: rows written before rows carried the page revision have none.
    frame["revision"] = pd.to_numeric(frame["revision"], errors="raise").astype("Int64")
    return frame


def since_range(since: datetime) -> DayRange:
    """The partitions that can hold rows analysed at or after `since`: from RESULTS_PARTITION_LOOKBACK_DAYS before
    its date on. New rows sit in the partition of their analyzed_at's date, but rows of the older CSV layout sit in
    their run's request date, up to that many days earlier."""
    return DayRange(first=since.astimezone(UTC).date() - timedelta(days=RESULTS_PARTITION_LOOKBACK_DAYS))


def load_results(
    s3: Any,
    bucket: str,
    prefix: str = RESULTS_PREFIX,
    since: datetime | None = None,
    *,
    days: DayRange | None = None,
    names: Sequence[str] | None = None,
    on_skip: SkipCallback | None = None,
    counts: RequestCount | None = None,
    workers: int = READ_WORKERS,
) -> pd.DataFrame:
    """The rows of the partitions in `days` (default: since_range(since), or every partition), analysed at or after
    `since` when given, of `names` only (exact names) when given; typed (COLUMNS), not de-duplicated.

    How the partitions are read, and what is skipped and reported through `on_skip(key, reason)`: see
    watchlist_workstation.analysis.partitions.read_rows.
    """
    if days is None:
        days = since_range(since) if since is not None else DayRange()
    rows = read_rows(s3, bucket, prefix, days, names=names, on_skip=on_skip, counts=counts, workers=workers)
    return frame_of(rows, since)


def frame_of(rows: Sequence[dict[str, Any]], since: datetime | None = None) -> pd.DataFrame:
    """Rows as read (lib.dataset_layout.decode_object) as a typed frame, only those analysed at or after `since`."""
    if not rows:
        return empty_frame()
    data = typed(pd.DataFrame(rows, columns=list(COLUMNS)))
    if since is not None:
        data = data[data["analyzed_at"] >= pd.Timestamp(since)].reset_index(drop=True)
    return data


def order_keys(frame: pd.DataFrame) -> pd.Series:
    """lib.results.order_key of every row, computed column-wise (tests check the two agree)."""
    fine = frame["analyzed_at"].dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return fine + " " + frame["run_id"] + " " + frame["text_sha256"]


def in_order(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows oldest first by their order key; rows with the same key (copies of one row) keep read order."""
    if frame.empty:
        return frame.reset_index(drop=True)
    return frame.iloc[order_keys(frame).argsort(kind="stable")].reset_index(drop=True)


def dedupe(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per (name, text_sha256, run_id): the earliest analysis wins; rows come out oldest first."""
    return in_order(frame).drop_duplicates(subset=list(IDENTITY), keep="first").reset_index(drop=True)


def latest_per_company(frame: pd.DataFrame) -> pd.DataFrame:
    """Each company's row with the greatest order key, sorted by name."""
    latest = in_order(frame).drop_duplicates(subset=["name"], keep="last")
    return sort_by_name(latest)


def sort_by_name(frame: pd.DataFrame) -> pd.DataFrame:
    """By name (case-insensitively), then oldest first."""
    ordered = in_order(frame)
    return ordered.sort_values("name", key=lambda names: names.str.casefold(), kind="stable").reset_index(drop=True)


def history(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    """One company's rows, oldest first (the name matched as `results --name` matches it)."""
    return in_order(filter_names(frame, [name]))


def name_key(name: str) -> str:
    """How --name matches: whitespace normalised as on the watchlist, and case-insensitive."""
    return normalize_name(name).casefold()


def filter_names(frame: pd.DataFrame, names: Iterable[str]) -> pd.DataFrame:
    wanted = {name_key(n) for n in names}
    return frame[frame["name"].map(name_key).isin(wanted)].reset_index(drop=True)
