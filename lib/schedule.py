"""EventBridge schedule expressions, read in one place: by the producer (which plans each tick's share of
the request budget), local mode (which ticks them) and the cost model (which counts the ticks).

The accepted forms are EventBridge's own (EventBridge user guide, "Schedule expressions for rules"):
`rate(value unit)` with a positive whole number and minute(s), hour(s) or day(s), the unit singular for
1 and plural otherwise; and `cron(...)`, which has no fixed period.
"""

from __future__ import annotations

import re

_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


class ScheduleError(ValueError):
    """Not a schedule expression EventBridge would accept; the message says why."""


def period_seconds(expression: str) -> int | None:
    """Seconds between ticks of a `rate(...)` expression; None for `cron(...)`; ScheduleError for anything else."""
    text = expression.strip()
    if text.startswith("cron(") and text.endswith(")"):
        return None
    match = _RATE.match(text)
    if not match:
        raise ScheduleError(f"not a rate expression: {text!r} (e.g. 'rate(5 minutes)', 'rate(1 hour)')")
    value, unit = int(match.group(1)), match.group(2)
    if value < 1:
        raise ScheduleError(f"the rate must be at least 1: {text!r}")
    if (value == 1) == unit.endswith("s"):
        wanted = unit.rstrip("s") if value == 1 else unit + ("" if unit.endswith("s") else "s")
        raise ScheduleError(f"EventBridge wants rate({value} {wanted}), not {text!r}")
    return value * _UNIT_SECONDS[unit.rstrip("s")]
