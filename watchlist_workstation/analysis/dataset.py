"""The results dataset read back from S3 into a pandas DataFrame: load, de-duplicate, pick each company's latest row.

The consumer writes one CSV object per batch under `<prefix>/dt=YYYY-MM-DD/part-<32 hex>.csv` (lib.results). A batch
delivered again can land in a second object when its composition changed, so the same row can appear twice; readers
treat (name, text_sha256, run_id) as the row's key. Rows are ordered by lib.results.order_key (analysis time to the
microsecond, then run, then text), the key the table's latest state is written by, so "latest" never depends on the
order objects are read in.
"""

from __future__ import annotations

import io
import re
import warnings
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pandas as pd
from botocore.exceptions import ClientError

from lib.clock import iso, parse_iso
from lib.names import normalize_name
from lib.results import COLUMNS, LEGACY_COLUMNS
from watchlist_workstation.limits import RESULTS_PARTITION_LOOKBACK_DAYS

DEFAULT_PREFIX = "results"
SCORE_COLUMNS = ("positive", "negative", "neutral", "mixed")
IDENTITY = ("name", "text_sha256", "run_id")
# Cells a row cannot do without; text and source_url may legitimately be empty strings.
REQUIRED_COLUMNS = ("name", "sentiment", "text_sha256", "analyzed_at", "run_id")
# Timestamps keep microseconds, so frames from many objects share one dtype whatever precision their text had.
TIME_DTYPE = "datetime64[us, UTC]"
# GetObject calls in flight at once: the objects are small, so the time goes into round trips.
READ_WORKERS = 8

_PARTITIONED_CSV = re.compile(r"/dt=\d{4}-\d{2}-\d{2}/[^/]+\.csv")

SkipCallback = Callable[[str, str], None]


class MalformedObject(ValueError):
    """An object under the prefix that is not a CSV of the dataset; the message says why in a few words."""


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


# ---------------------------------------------------------------- listing
def list_dataset_objects(
    s3: Any,
    bucket: str,
    prefix: str = DEFAULT_PREFIX,
    since: datetime | None = None,
    on_skip: SkipCallback | None = None,
) -> Iterator[dict[str, Any]]:
    """The dataset's objects (ListObjectsV2 entries), page by page, in key order.

    Only keys under `<prefix>/` are listed. With `since`, listing starts at the partition
    RESULTS_PARTITION_LOOKBACK_DAYS before since's date: a later row can sit in an earlier partition.
    """
    prefix = prefix.strip("/")
    kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": f"{prefix}/"}
    if since is not None:
        first = since.astimezone(UTC).date() - timedelta(days=RESULTS_PARTITION_LOOKBACK_DAYS)
        kwargs["StartAfter"] = f"{prefix}/dt={first.isoformat()}"
    for page in s3.get_paginator("list_objects_v2").paginate(**kwargs):
        for entry in page.get("Contents", []):
            key = entry["Key"]
            if key.endswith("/"):  # a console-made "folder" marker, not data
                continue
            if not _PARTITIONED_CSV.fullmatch(key[len(prefix) :]):
                if on_skip:
                    on_skip(key, "not a .csv in a dt=YYYY-MM-DD partition")
                continue
            yield entry


# ---------------------------------------------------------------- one object
def empty_frame() -> pd.DataFrame:
    return _typed(pd.DataFrame({column: pd.Series([], dtype=str) for column in COLUMNS}))


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    for column in SCORE_COLUMNS:
        frame[column] = pd.to_numeric(frame[column], errors="raise").astype("float64")
    frame["analyzed_at"] = pd.to_datetime(frame["analyzed_at"], utc=True, format="ISO8601").astype(TIME_DTYPE)
    # Nullable: rows written before rows carried the page revision have none.
    frame["revision"] = pd.to_numeric(frame["revision"].replace("", None), errors="raise").astype("Int64")
    return frame


def parse_csv(body: bytes) -> pd.DataFrame:
    """One results object as a typed frame (COLUMNS, scores float, analyzed_at UTC), or MalformedObject."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedObject("not UTF-8 text") from exc
    try:
        with warnings.catch_warnings():
            # pandas only warns when every row has more fields than the header; that is a broken file too.
            warnings.simplefilter("error", pd.errors.ParserWarning)
            # na_filter=False: a company called "NA" or "null", or an empty text, stays a string.
            raw = pd.read_csv(io.StringIO(text), header=None, dtype=str, na_filter=False, index_col=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, pd.errors.ParserWarning) as exc:
        raise MalformedObject(f"not a readable CSV ({str(exc).strip().splitlines()[0]})") from exc
    header = tuple(raw.iloc[0]) if len(raw) else ()
    if header not in (COLUMNS, LEGACY_COLUMNS):
        raise MalformedObject(f"header is not the dataset's columns ({','.join(map(str, header))[:80]})")
    frame = raw.iloc[1:].reset_index(drop=True)
    frame.columns = list(header)
    if header == LEGACY_COLUMNS:  # written before rows carried the page revision
        frame["revision"] = ""
    for column in REQUIRED_COLUMNS:
        if (frame[column] == "").any():
            raise MalformedObject(f"row {int((frame[column] == '').idxmax()) + 1} has no {column}")
    try:
        return _typed(frame)
    except (ValueError, TypeError) as exc:
        raise MalformedObject(f"a score or analyzed_at does not parse ({str(exc).splitlines()[0][:80]})") from exc


# ---------------------------------------------------------------- the dataset
def load_results(
    s3: Any,
    bucket: str,
    prefix: str = DEFAULT_PREFIX,
    since: datetime | None = None,
    *,
    on_skip: SkipCallback | None = None,
    workers: int = READ_WORKERS,
) -> pd.DataFrame:
    """Every row of the dataset under `<prefix>/` (analysed at or after `since`, when given), typed, not de-duplicated.

    An object that is not a CSV of the dataset, or that vanished between listing and reading, is
    left out and reported through `on_skip(key, reason)`; any other AWS error is raised.
    """
    keys = [entry["Key"] for entry in list_dataset_objects(s3, bucket, prefix, since, on_skip)]

    def read(key: str) -> tuple[str, pd.DataFrame | None, str]:
        try:
            body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return key, None, "deleted while reading"
            raise
        try:
            return key, parse_csv(body), ""
        except MalformedObject as exc:
            return key, None, str(exc)

    frames: list[pd.DataFrame] = []
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        # map() keeps key order, so the result (and every tie broken by it) does not depend on timing.
        for key, frame, reason in pool.map(read, keys):
            if frame is None:
                if on_skip:
                    on_skip(key, reason)
            elif len(frame):
                frames.append(frame)
    if not frames:
        return empty_frame()
    data = pd.concat(frames, ignore_index=True)
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
