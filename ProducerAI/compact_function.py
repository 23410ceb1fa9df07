"""Compactor: rewrites finished days of the results dataset into a few objects each (lib/compaction.py).

The event says which days: {"days": ["YYYY-MM-DD", ...]} compacts those, {"all_finished": true} every finished
day that has something to fold, and anything else (the schedule's event) the finished days of the last
COMPACTION_LOOKBACK_DAYS. Days left when the invocation's time runs short are returned as `remaining`; the
next run (or ./cfcli.py compact) takes them, and a day cut off half-way is finished by it (docs/dataset.md).
"""

from __future__ import annotations

from typing import Any

from lib.clients import client
from lib.clock import Deadline, utc_now
from lib.compaction import Place, check_day, compact_days, days_due
from lib.config import CompactorConfig
from lib.limits import COMPACTION_LOOKBACK_DAYS
from lib.log import get_logger

log = get_logger("compactor")

# A day is not started with less than this left: a day of 100,000 rows is read, sorted and written in about a
# minute (docs/dataset.md, "Compaction").
DAY_RESERVE_SECONDS = 120.0


def days_of(event: dict[str, Any], s3: Any, place: Place) -> list[str]:
    """The days the event asks for (ValueError for a malformed list)."""
    if "days" in event:
        days = event["days"]
        if not isinstance(days, list) or not all(isinstance(day, str) for day in days):
            raise ValueError("'days' must be a list of dates YYYY-MM-DD")
        return sorted({check_day(day) for day in days})
    return days_due(
        s3, place, utc_now(), lookback=None if event.get("all_finished") is True else COMPACTION_LOOKBACK_DAYS
    )


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    config = CompactorConfig.from_env()
    place = Place(config.results_bucket, config.results_prefix, config.manifests_prefix)
    deadline = Deadline.of_invocation(context)
    s3 = client("s3")
    days = days_of(event if isinstance(event, dict) else {}, s3, place)
    reports, remaining = compact_days(s3, place, days, time_left=deadline.left, reserve=DAY_RESERVE_SECONDS)
    log.info("compaction done", extra={"days": len(reports), "remaining": len(remaining)})
    return {"days": [report.as_dict() for report in reports], "remaining": remaining}
