"""A month as AWS prices it, and how many ticks of the schedule it holds."""

from __future__ import annotations

from lib.schedule import ScheduleError, period_seconds

# AWS's pricing pages and calculator count a month as 730 hours.
HOURS_PER_MONTH = 730
SECONDS_PER_MONTH = HOURS_PER_MONTH * 3600
DAYS_PER_MONTH = HOURS_PER_MONTH / 24


def schedule_seconds(expression: str) -> int:
    """Seconds between ticks of an EventBridge `rate(...)` expression (cron has no fixed period to count)."""
    seconds = period_seconds(expression)
    if seconds is None:
        raise ScheduleError(
            f"cron expressions are not supported ({expression.strip()}); "
            "give the rate(...) with the same average period"
        )
    return seconds


def ticks_per_month(expression: str) -> float:
    return SECONDS_PER_MONTH / schedule_seconds(expression)
