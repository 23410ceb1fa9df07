"""The pace of requests to the text source: one request at a time per function instance, spaced so that
the whole stack stays within the operator's budget of requests per minute.

The consumer's event source mapping runs at most `concurrency` instances at once (ScalingConfig
MaximumConcurrency), and each sends its requests in series through one Pace. Spacing each instance's
requests `60 * concurrency / (budget - concurrency)` seconds apart keeps any 60-second window at or under
`budget` requests in all: the requests of one invocation slot are at least `interval` apart, so a slot
fits at most `60 / interval + 1` of them in a window (the +1 is a request right at the window's start),
and `concurrency * (60 / interval + 1) = budget`. docs/design.md, "Reading Wikipedia politely".

The Pace lives for the life of the execution environment (one per process), so consecutive invocations
on a warm instance keep their spacing; a new instance counts its own start as a request, so its first
request also waits `interval` after whatever its slot sent before.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class PaceDeadline(RuntimeError):
    """The next request could not start before the caller's deadline."""


def interval_for(budget_per_minute: float, concurrency: int) -> float:
    """Seconds between one instance's requests so that `concurrency` instances stay within the budget."""
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    if budget_per_minute <= concurrency:
        raise ValueError(f"a budget of {budget_per_minute:g} requests a minute cannot serve {concurrency} instances")
    return 60.0 * concurrency / (budget_per_minute - concurrency)


class Pace:
    """Waits before each request until `interval` seconds have passed since the previous one."""

    def __init__(
        self,
        interval: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.interval = interval
        self._clock, self._sleep = clock, sleep
        self._lock = threading.Lock()
        self._last = clock()

    def wait(self, deadline: float | None = None) -> None:
        """Block until the next request may go; PaceDeadline when that moment is after `deadline`."""
        with self._lock:  # requests go in series: a second caller waits for the first's slot
            now = self._clock()
            start = max(now, self._last + self.interval)
            if deadline is not None and start > deadline:
                raise PaceDeadline(f"the next request may start in {start - now:.2f} s, after the deadline")
            if start > now:
                self._sleep(start - now)
            self._last = start
