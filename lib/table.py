"""The watchlist table: its attribute names, and its batched reads and writes with DynamoDB's retry rule.

One item per company, keyed by `name`. The watch entry itself is `name` and `added_at`; everything
else is what the consumer records about the company's page (lib/state.py). ddb_ops.py (the CLI's
watchlist commands) and lib/state.py (the consumer) both read and write the table through here.

BatchGetItem and BatchWriteItem may hand part of a request back (UnprocessedKeys, UnprocessedItems)
when a partition is throttled; the DynamoDB developer guide asks callers to send that part again
after an exponential backoff. Both calls here do, for BATCH_ATTEMPTS rounds, then raise BatchIncomplete.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from lib.limits import DDB_BATCH_GET, DDB_BATCH_WRITE
from lib.message import Company

KEY = "name"
ADDED_AT = "added_at"
# The page to read when the watchlist names one (`add "Amazon | Amazon (company)"`); else the name is the title.
TITLE = "title"

# What the consumer records about the company's page (lib/state.py writes exactly these).
SENTIMENT = "sentiment"
SCORES = {  # the dataset's score column -> the item's attribute
    "positive": "score_positive",
    "negative": "score_negative",
    "neutral": "score_neutral",
    "mixed": "score_mixed",
}
REVISION = "revision"  # the page revision last checked (the Action API's lastrevid)
PAGE = "page"  # that revision's page title, after redirects
TEXT_SHA256 = "text_sha256"
ETAG = "etag"
SOURCE_URL = "source_url"
ANALYZED_AT = "analyzed_at"
CHECKED_AT = "checked_at"
LAST_RUN_ID = "last_run_id"
RESULT_KEY = "result_key"
# The page revision the latest analysis's text came from (the dataset row's `revision`). `revision` above moves on
# when a later revision keeps the same intro; this one stays with the analysis, so the latest view read from the
# table shows what the dataset's row holds (docs/cli.md, "results").
ANALYSIS_REVISION = "analysis_revision"
ANALYSIS_KEY = "analysis_key"  # lib.results.order_key of the stored analysis
# A string set: the results objects holding the company's rows of its last RECENT_RESULTS_DAYS analysis days,
# so that a company's page reads the days compaction has not folded yet without reading them whole
# (docs/dataset.md, "Where a company's history comes from").
RECENT_RESULTS = "recent_results"
LAST_ERROR = "last_error"
LAST_ERROR_AT = "last_error_at"

# Everything about the page rather than the watch entry: a rename points the watchlist at another page,
# so none of this may follow the name (ddb_ops.item_update), the page title named at `add` included.
ANALYSIS_ATTRIBUTES = frozenset(
    {
        SENTIMENT,
        *SCORES.values(),
        TITLE,
        REVISION,
        PAGE,
        TEXT_SHA256,
        ETAG,
        SOURCE_URL,
        ANALYZED_AT,
        CHECKED_AT,
        LAST_RUN_ID,
        RESULT_KEY,
        ANALYSIS_KEY,
        ANALYSIS_REVISION,
        RECENT_RESULTS,
        LAST_ERROR,
        LAST_ERROR_AT,
    }
)

# How often a batch call is repeated while DynamoDB keeps handing part of it back; the waits between
# add up to about 6 s.
BATCH_ATTEMPTS = 8
_BACKOFF_FIRST = 0.05
_BACKOFF_MAX = 2.0

Progress = Callable[[int, int], None]


def company_of(item: dict[str, Any]) -> Company:
    """A watchlist item as the snapshot a work message carries of it (lib/message.py)."""

    def text(attribute: str) -> str | None:
        value = item.get(attribute)
        return value["S"] if value and "S" in value and value["S"] else None

    revision = item.get(REVISION)
    return Company(
        name=item[KEY]["S"],
        title=text(TITLE),
        revision=int(revision["N"]) if revision and "N" in revision else None,
        page=text(PAGE),
        text_sha256=text(TEXT_SHA256),
        last_error=text(LAST_ERROR),
        label=text(SENTIMENT),
    )


class BatchIncomplete(RuntimeError):
    """DynamoDB kept handing part of a batch back after every retry."""


def backoff(attempt: int) -> float:
    return min(_BACKOFF_FIRST * 2**attempt, _BACKOFF_MAX)


def key(name: str) -> dict[str, Any]:
    return {KEY: {"S": name}}


def projection(attributes: Iterable[str]) -> dict[str, Any]:
    """A request's ProjectionExpression of `attributes`, each by a placeholder (any name may be a reserved word)."""
    placeholders = {f"#a{i}": attribute for i, attribute in enumerate(attributes)}
    return {"ProjectionExpression": ", ".join(placeholders), "ExpressionAttributeNames": placeholders}


def batch_get(
    ddb: Any,
    table: str,
    names: Iterable[str],
    *,
    attributes: Sequence[str] | None = None,
    consistent: bool = False,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[dict[str, Any]]:
    """The items of `names` that exist (each name once), in calls of DDB_BATCH_GET keys.

    `attributes` limits what is read (a projection); `consistent` asks for strongly consistent reads.
    """
    unique = list(dict.fromkeys(names))
    for start in range(0, len(unique), DDB_BATCH_GET):
        request: dict[str, Any] = {"Keys": [key(n) for n in unique[start : start + DDB_BATCH_GET]]}
        if attributes:
            request.update(projection(attributes))
        if consistent:
            request["ConsistentRead"] = True
        pending: dict[str, Any] = {table: request}
        for attempt in range(BATCH_ATTEMPTS):
            response = ddb.batch_get_item(RequestItems=pending)
            yield from response.get("Responses", {}).get(table, [])
            pending = response.get("UnprocessedKeys") or {}
            if not pending.get(table, {}).get("Keys"):
                break
            sleep(backoff(attempt))
        else:
            left = len(pending[table]["Keys"])
            raise BatchIncomplete(f"DynamoDB left {left} reads unprocessed after {BATCH_ATTEMPTS} attempts")


def batch_write(
    ddb: Any,
    table: str,
    requests: Sequence[dict[str, Any]],
    *,
    sleep: Callable[[float], None] = time.sleep,
    progress: Progress | None = None,
    verb: str = "write",
) -> None:
    """BatchWriteItem (PutRequest/DeleteRequest entries) in chunks of DDB_BATCH_WRITE, each retried until
    DynamoDB takes all of it; `progress(done, total)` after each chunk."""
    done = 0
    for start in range(0, len(requests), DDB_BATCH_WRITE):
        chunk = list(requests[start : start + DDB_BATCH_WRITE])
        pending = chunk
        for attempt in range(BATCH_ATTEMPTS):
            response = ddb.batch_write_item(RequestItems={table: pending})
            pending = (response.get("UnprocessedItems") or {}).get(table, [])
            if not pending:
                break
            sleep(backoff(attempt))
        else:
            written = done + len(chunk) - len(pending)
            raise BatchIncomplete(
                f"DynamoDB left {len(pending)} {verb}s unprocessed after {BATCH_ATTEMPTS} attempts "
                f"({written} of {len(requests)} done)"
            )
        done += len(chunk)
        if progress is not None:
            progress(done, len(requests))
