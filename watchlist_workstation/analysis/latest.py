"""Each company's latest analysis, read from the watchlist table: no S3 request, one paginated Scan of a few small
attributes, so its cost follows the watchlist's size, not the history's (docs/cli.md, "results").

The consumer writes the table's analysis by the same order key (lib.results.order_key) the dataset's readers rank
rows by, so the table's analysis is the one the history calls latest. The table holds no text (the producer's
Scan is billed by item size), so this view has every column of the dataset but `text`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import pandas as pd

from lib import table as watchlist
from lib.clock import parse_iso
from lib.results import COLUMNS as ROW_COLUMNS
from watchlist_workstation.analysis.dataset import typed

# What the view reads of each item; the producer's attributes (title, page, etag, ...) are left out.
PROJECTION = (
    watchlist.KEY,
    watchlist.ADDED_AT,
    watchlist.SENTIMENT,
    *watchlist.SCORES.values(),
    watchlist.TEXT_SHA256,
    watchlist.SOURCE_URL,
    watchlist.ANALYZED_AT,
    watchlist.LAST_RUN_ID,
    watchlist.ANALYSIS_REVISION,
    watchlist.REVISION,
)
# The latest view's columns: the dataset's, in its order, but the text.
COLUMNS = tuple(column for column in ROW_COLUMNS if column != "text")
# Without these an item holds no analysis the dataset has a row for: never analysed yet, or an analysis whose
# row could not be written and was taken back (lib/recording.py removes the text hash then).
_REQUIRED = (watchlist.SENTIMENT, watchlist.ANALYZED_AT, watchlist.TEXT_SHA256, watchlist.LAST_RUN_ID)


@dataclass(frozen=True)
class Watchlist:
    """The table as the latest view reads it: each analysed company's latest row, and every name's added date."""

    latest: pd.DataFrame  # COLUMNS, sorted by name case-insensitively; analyzed_at a UTC timestamp
    added: dict[str, date | None]  # every company on the watchlist -> the UTC date it was added (None: unknown)

    @property
    def not_analysed(self) -> list[str]:
        shown = set(self.latest["name"])
        return sorted((name for name in self.added if name not in shown), key=str.casefold)


def _text(item: dict[str, Any], attribute: str) -> str | None:
    value = item.get(attribute)
    return value.get("S") if value else None


def _number(item: dict[str, Any], attribute: str) -> str | None:
    value = item.get(attribute)
    return value.get("N") if value else None


def row_of(item: dict[str, Any]) -> dict[str, Any] | None:
    """The dataset row an item's latest analysis wrote, less the text; None when the item holds no analysis."""
    if any(_text(item, attribute) is None for attribute in _REQUIRED):
        return None
    scores = {score: _number(item, attribute) for score, attribute in watchlist.SCORES.items()}
    if any(value is None for value in scores.values()):
        return None
    # Items written before analysis_revision existed: the revision last checked, a revision with the same intro.
    revision = _number(item, watchlist.ANALYSIS_REVISION) or _number(item, watchlist.REVISION)
    return {
        "name": item[watchlist.KEY]["S"],
        "sentiment": _text(item, watchlist.SENTIMENT),
        **{score: float(value) for score, value in scores.items()},  # type: ignore[arg-type]
        "text_sha256": _text(item, watchlist.TEXT_SHA256),
        "source_url": _text(item, watchlist.SOURCE_URL) or "",
        "analyzed_at": _text(item, watchlist.ANALYZED_AT),
        "run_id": _text(item, watchlist.LAST_RUN_ID),
        "revision": int(revision) if revision is not None else None,
    }


def added_date(item: dict[str, Any]) -> date | None:
    text = _text(item, watchlist.ADDED_AT)
    try:
        return parse_iso(text).date() if text else None
    except ValueError:
        return None


def read_watchlist(ddb: Any, table: str) -> Watchlist:
    """One paginated Scan of the table (PROJECTION only)."""
    rows: list[dict[str, Any]] = []
    added: dict[str, date | None] = {}
    for page in ddb.get_paginator("scan").paginate(TableName=table, **watchlist.projection(PROJECTION)):
        for item in page.get("Items", []):
            added[item[watchlist.KEY]["S"]] = added_date(item)
            row = row_of(item)
            if row is not None:
                rows.append(row)
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    frame = typed(frame.astype({"name": str, "sentiment": str, "text_sha256": str, "source_url": str, "run_id": str}))
    frame = frame.sort_values("name", key=lambda names: names.str.casefold(), kind="stable").reset_index(drop=True)
    return Watchlist(frame, added)
