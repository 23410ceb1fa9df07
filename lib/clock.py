"""The one timestamp format of the pipeline: ISO-8601 in UTC to the second, e.g. 2026-11-27T23:59:01Z.

Used for requested_at, analyzed_at, checked_at, added_at and the CLI's output, so they compare
and sort as plain strings.
"""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime | None = None) -> str:
    """`moment` (now when None) as 2026-11-27T23:59:01Z."""
    return (moment or utc_now()).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
