"""The one timestamp format of the pipeline: ISO-8601 in UTC with six fractional digits, e.g.
2026-11-27T23:59:01.123456Z.

Used for requested_at (when the tick did not bring its own), analyzed_at, checked_at, added_at and the
CLI's output. The width is fixed, so two of these compare and sort as plain strings, and two analyses
made within the same second still have an order. Rows and items written before this format carry whole
seconds (2026-11-27T23:59:01Z); `parse_iso` reads both, and `normalize_iso` turns the old spelling into
the new one (…:01.000000Z) before anything compares them as strings.
"""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime | None = None) -> str:
    """`moment` (now when None) as 2026-11-27T23:59:01.123456Z."""
    return (moment or utc_now()).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_iso(text: str) -> datetime:
    """An ISO-8601 time as an aware UTC datetime ('Z' or an offset; no offset means UTC); ValueError if not one."""
    moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def normalize_iso(text: str) -> str:
    """Any ISO-8601 time in the pipeline's fixed-width spelling (whole seconds gain .000000)."""
    return iso(parse_iso(text))
