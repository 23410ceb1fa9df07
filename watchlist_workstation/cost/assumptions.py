"""What the code cannot know: text length, item and row sizes, how long results are kept, log volume,
idle polling, alarm traffic. Each has a default and a reason; the cost output names them."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any


@dataclass(frozen=True)
class Assumptions:
    """What the code cannot know. Defaults measured on this project's local runs where possible."""

    # A Wikipedia summary extract's length (characters sent to Comprehend per document); the shipped
    # sample texts average about 420, real extracts run longer.
    text_chars: int = 600
    # A company's item once it holds its latest state (lib/state.py's attributes): 479 bytes on average
    # in a local run of the shipped watchlist.
    item_bytes: int = 480
    # A result row beyond its text: name, scores, hash, source URL, times, run id (CSV, lib/results.py).
    result_row_bytes: int = 240
    # Months of results the bucket holds in the month priced: the template never expires results.
    results_months: int = 12
    producer_seconds: float | None = None  # None: from the round trips above
    consumer_seconds: float | None = None
    # Log bytes, measured in local runs: START/END/REPORT plus one summary line per invocation, one
    # line per company ("company analysed" or "text unchanged"), one per results object written.
    log_bytes_per_invocation: int = 550
    log_bytes_per_analysed: int = 315
    log_bytes_per_unchanged: int = 220
    log_bytes_per_results_object: int = 240
    # Lambda's SQS pollers at idle: it long-polls with five pollers (Lambda developer guide, "Using
    # Lambda with Amazon SQS"); 20 s, SQS's longest wait, is assumed for each poll.
    idle_pollers: int = 5
    idle_poll_seconds: int = 20
    # Alarm state changes a month, each one SNS publish and one e-mail (one incident: ALARM, then OK).
    alarm_notifications: int = 2
    # The prototype's items and rows held a name (and a label) only.
    name_chars: int = 20

    def replace(self, **changes: Any) -> Assumptions:
        known = {f.name for f in fields(self)}
        values = {k: v for k, v in changes.items() if k in known and v is not None}
        return Assumptions(**{**{f.name: getattr(self, f.name) for f in fields(self)}, **values})
