"""What the Compactor's daily run costs: its requests to S3 and its Lambda time, counted as the code makes them.

The Compactor (ProducerAI/compact_function.py, lib/compaction.py) runs once a day on its cron schedule and looks
at the finished days of the last COMPACTION_LOOKBACK_DAYS. At a steady state one of them is new, the day
before, and the others were compacted by earlier runs:
- each day looked at is listed (ListObjectsV2) and its manifest read (`pending`): one page and one GET for an
  already compacted day, whose partition holds its few compacted objects;
- the new day is listed and its manifest read again (`compact_day`, a GET answered 404 and billed), every
  batch object of the day is read once (COMPACTION_READ_WORKERS at a time), `buckets_for(bytes)` compacted
  objects and the manifest are written, and the batch objects are deleted (DeleteObject is free, S3 pricing).
A day with no batch object is listed and its manifest asked for, and nothing more.

Its duration is built like the other functions' (durations.py): the round trips in series, and the reads and
deletes COMPACTION_READ_WORKERS at a time; gzip and the sort of a day's rows are left out (a day of 100,000 rows
takes about a minute in all, docs/dataset.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from lib.compaction import buckets_for
from lib.limits import COMPACTION_LOOKBACK_DAYS, COMPACTION_READ_WORKERS
from watchlist_workstation.cost.assumptions import Assumptions
from watchlist_workstation.cost.deployment import FunctionSettings
from watchlist_workstation.cost.durations import (
    FUNCTION_START_SECONDS,
    S3_DELETE_SECONDS,
    S3_GET_SECONDS,
    S3_LIST_SECONDS,
    S3_PUT_SECONDS,
)
from watchlist_workstation.cost.estimate import Estimate
from watchlist_workstation.cost.month import DAYS_PER_MONTH

# Keys a ListObjectsV2 page returns at most (S3 API Reference, ListObjectsV2: MaxKeys, 1,000 by default).
LIST_PAGE_KEYS = 1000
WHAT = "Compactor, daily"


@dataclass(frozen=True)
class CompactionRun:
    """One scheduled run's requests and duration, for a day of `objects` batch objects holding `day_bytes`."""

    objects: float
    day_bytes: float
    lists: int
    gets: float
    puts: int
    deletes: float
    seconds: float

    @classmethod
    def of_day(cls, objects: float, day_bytes: float) -> CompactionRun:
        if objects <= 0:
            lists, gets, puts, folded = COMPACTION_LOOKBACK_DAYS, float(COMPACTION_LOOKBACK_DAYS), 0, 0.0
        else:
            pages = max(1, math.ceil(objects / LIST_PAGE_KEYS))
            # The days compacted before: a page each. The new day: listed by `pending`, then by `compact_day`.
            lists = COMPACTION_LOOKBACK_DAYS - 1 + 2 * pages
            gets = COMPACTION_LOOKBACK_DAYS + 1 + objects
            puts = buckets_for(int(day_bytes)) + 1
            folded = objects
        rounds = math.ceil(folded / COMPACTION_READ_WORKERS)
        seconds = (
            FUNCTION_START_SECONDS
            + lists * S3_LIST_SECONDS
            + (COMPACTION_LOOKBACK_DAYS + (1 if folded else 0)) * S3_GET_SECONDS
            + rounds * (S3_GET_SECONDS + S3_DELETE_SECONDS)
            + puts * S3_PUT_SECONDS
        )
        return cls(objects, day_bytes, lists, gets, puts, folded, seconds)


def add_compaction(
    e: Estimate, compactor: FunctionSettings | None, objects_per_tick: float, bytes_per_tick: float, a: Assumptions
) -> CompactionRun | None:
    """The Compactor's month: a run a day over the batch objects and row bytes a day of ticks wrote."""
    if compactor is None:
        return None
    ticks_per_day = e.ticks_per_month / DAYS_PER_MONTH
    run = CompactionRun.of_day(objects_per_tick * ticks_per_day, bytes_per_tick * ticks_per_day)
    month = DAYS_PER_MONTH
    e.per_month[("lambda.requests", compactor.logical_id)] += month
    key = f"lambda.duration.{compactor.architecture}"
    e.per_month[(key, compactor.logical_id)] += month * run.seconds * compactor.memory_gb
    e.per_month[("events.scheduled", "compaction rule")] += month
    e.per_month[("s3.get_requests", f"GetObject, {WHAT}")] += month * run.gets
    e.per_month[("s3.put_requests", f"PutObject and ListObjectsV2, {WHAT}")] += month * (run.puts + run.lists)
    # Its invocation's lines (START, END, REPORT and its summary) and a "day compacted" line, as a tick's share.
    e.add_log_ingestion((a.log_bytes_per_invocation + a.log_bytes_per_results_object) / ticks_per_day)
    e.figures.update(
        {
            "Compactor: batch objects folded a day": round(run.objects, 1),
            "Compactor: objects a compacted day keeps": max(run.puts - 1, 0),
            "Compactor seconds per invocation": round(run.seconds, 3),
        }
    )
    return run
