"""What the code cannot know: how often pages and their intros change, text length, item and row sizes, how
long results are kept, log volume, idle polling, alarm traffic. Each has a default and a reason; the cost
output names them."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

# How often a company's page changes, as a share of the watchlist per tick (the schedule's period, five
# minutes by default). A new revision costs an intro request and one table write; a new intro text also
# costs Comprehend units and a row in the results (docs/design.md, "How it behaves"). Both defaults are
# assumptions, not measurements: at five-minute ticks, 0.002 is a new revision of each page about every
# 42 hours, and 0.0005 a new intro about every 7 days, one revision in four (an edit more often touches
# an article's body than its first paragraph). The cost output restates them in hours and days.
DEFAULT_REVISION_RATE = 0.002
DEFAULT_CHANGE_RATE = 0.0005


@dataclass(frozen=True)
class Assumptions:
    """What the code cannot know. Defaults measured on this project's local runs where possible."""

    # A Wikipedia intro's length in characters: the dataset keeps all of it, Comprehend is sent the first
    # COMPREHEND_SCORED_CHARS (lib/limits.py). The shipped sample texts average about 420, real intros run longer.
    text_chars: int = 600
    # A company's item once it holds its latest state (lib/state.py's attributes: the latest analysis, its
    # order key, its results object's key and the recent ones' set): 733 bytes on average in a local run of
    # the shipped watchlist (`./cfcli.py local run --once`, then `cost --from-local-run`, 2026-12-07).
    item_bytes: int = 730
    # A result row beyond its text: name, scores, hash, source URL, times, run id, revision, schema version, and
    # each column's name, since a JSON Lines row names its keys (lib/dataset_layout.py; docs/dataset.md measures
    # about 400 bytes).
    result_row_bytes: int = 400
    # Months of results the bucket holds in the month priced: the template never expires results.
    results_months: int = 12
    producer_seconds: float | None = None  # None: from the round trips and the pace (durations.py)
    consumer_seconds: float | None = None
    # Log bytes, measured in a local run of 150 companies (whose Lambda service writes Lambda's START, END and
    # REPORT lines too): the producer's invocation (those and its "tick" and "tick queued" lines), a consumer
    # invocation (those and its "batch done" line), and the "results written" line of each results object.
    # The pipeline logs nothing per company; the prototype logged a line per record.
    log_bytes_per_producer_invocation: int = 910
    log_bytes_per_invocation: int = 550
    log_bytes_per_results_object: int = 275
    log_bytes_per_analysed: int = 315
    # Lambda's SQS pollers at idle: it long-polls with five pollers (Lambda developer guide, "Using
    # Lambda with Amazon SQS"); 20 s, SQS's longest wait, is assumed for each poll.
    idle_pollers: int = 5
    idle_poll_seconds: int = 20
    # Alarm state changes a month, each one SNS publish and one e-mail (one incident: ALARM, then OK).
    alarm_notifications: int = 2
    # A company's name (the prototype's items and rows held a name and a label only; a work message
    # carries the name and the resolved page title of each company).
    name_chars: int = 20

    def replace(self, **changes: Any) -> Assumptions:
        known = {f.name for f in fields(self)}
        values = {k: v for k, v in changes.items() if k in known and v is not None}
        return Assumptions(**{**{f.name: getattr(self, f.name) for f in fields(self)}, **values})
