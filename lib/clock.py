"""The one timestamp format of the pipeline: ISO-8601 in UTC with six fractional digits, e.g.
2026-11-27T23:59:01.123456Z.

Used for requested_at (when the tick did not bring its own), analyzed_at, checked_at, added_at and the
CLI's output. The width is fixed, so two of these compare and sort as plain strings, and two analyses
made within the same second still have an order. Rows and items written before this format carry whole
seconds (2026-11-27T23:59:01Z); `parse_iso` reads both, and `normalize_iso` turns the old spelling into
the new one (…:01.000000Z) before anything compares them as strings.

It also keeps the one deadline of an invocation (`Deadline`), on the monotonic clock, which the wall clock's
jumps cannot move (docs/design.md rule 11).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from lib.limits import DEADLINE_MARGIN_SECONDS

# What a handler invoked without a Lambda context (a test, a hand-made call) assumes it has left.
NO_CONTEXT_SECONDS = 60.0


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


@dataclass(frozen=True)
class Deadline:
    """When an invocation's outbound calls must be over: `at` is a value of `clock` (the monotonic clock).

    The producer and the consumer make theirs from Lambda's remaining time the same way (`of_invocation`),
    and each phase of their work takes an earlier one (`earlier`) to leave time for what follows.
    """

    at: float
    clock: Callable[[], float] = field(default=time.monotonic, compare=False, repr=False)

    @classmethod
    def after(cls, seconds: float, clock: Callable[[], float] = time.monotonic) -> Deadline:
        return cls(clock() + seconds, clock)

    @classmethod
    def never(cls) -> Deadline:
        return cls(math.inf)

    @classmethod
    def of_invocation(
        cls, context: Any, margin: float = DEADLINE_MARGIN_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> Deadline:
        """The invocation's remaining time (Lambda's context.get_remaining_time_in_millis()) less `margin`, which
        is left for handing the answer back to Lambda."""
        remaining = context.get_remaining_time_in_millis() / 1000.0 if context is not None else NO_CONTEXT_SECONDS
        return cls.after(max(0.0, remaining - margin), clock)

    def left(self) -> float:
        """Seconds until the deadline; negative once it has passed."""
        return self.at - self.clock()

    def allows(self, seconds: float) -> bool:
        """Whether something that may take `seconds` would end by the deadline."""
        return self.left() >= seconds

    def earlier(self, seconds: float) -> Deadline:
        """The deadline of a phase that must leave `seconds` for the work after it."""
        return Deadline(self.at - seconds, self.clock)
