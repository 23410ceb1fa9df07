"""Each company's latest state in the watchlist table.

Writes are conditional on the company still being on the watchlist, so a
company removed while its message was in flight is not brought back.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from lib import table as watchlist
from lib.clients import client
from lib.results import ResultRow


@dataclass(frozen=True)
class CompanyState:
    name: str
    text_sha256: str | None = None
    etag: str | None = None
    source_url: str | None = None
    sentiment: str | None = None
    last_error: str | None = None
    # The run that recorded the latest analysis, and the results object it named for its row.
    last_run_id: str | None = None
    result_key: str | None = None


def _s(item: dict[str, Any], attribute: str) -> str | None:
    value = item.get(attribute)
    return value["S"] if value and "S" in value else None


def load_states(table: str, names: Iterable[str], ddb: Any = None, sleep=time.sleep) -> dict[str, CompanyState]:
    """The stored state of each name still on the watchlist (absent names are left out)."""
    states: dict[str, CompanyState] = {}
    for item in watchlist.batch_get(ddb or client("dynamodb"), table, names, sleep=sleep):
        state = CompanyState(
            name=item[watchlist.KEY]["S"],
            text_sha256=_s(item, watchlist.TEXT_SHA256),
            etag=_s(item, watchlist.ETAG),
            source_url=_s(item, watchlist.SOURCE_URL),
            sentiment=_s(item, watchlist.SENTIMENT),
            last_error=_s(item, watchlist.LAST_ERROR),
            last_run_id=_s(item, watchlist.LAST_RUN_ID),
            result_key=_s(item, watchlist.RESULT_KEY),
        )
        states[state.name] = state
    return states


# What a conditional table write did: stored, found the company gone from the watchlist, or found a newer
# analysis already stored (see save_analysis).
WRITTEN, GONE, SUPERSEDED = "written", "gone", "superseded"


def _update(
    ddb: Any, table: str, name: str, sets: dict[str, Any], removes: Iterable[str] = (), newer_than: str | None = None
) -> str:
    """Apply one UpdateItem while the company is on the watchlist: WRITTEN, GONE or SUPERSEDED.

    With `newer_than`, the write also needs the stored analysis_key to be absent (an item written before
    keys existed, or never analysed) or smaller than it.
    """
    names = {"#n": watchlist.KEY}
    values: dict[str, Any] = {}
    clauses = []
    for i, (attr, value) in enumerate(sets.items()):
        names[f"#a{i}"] = attr
        values[f":v{i}"] = value
        clauses.append(f"#a{i} = :v{i}")
    expression = "SET " + ", ".join(clauses)
    removed = list(removes)
    if removed:
        for j, attr in enumerate(removed):
            names[f"#r{j}"] = attr
        expression += " REMOVE " + ", ".join(f"#r{j}" for j in range(len(removed)))
    condition = "attribute_exists(#n)"
    if newer_than is not None:
        names["#k"] = watchlist.ANALYSIS_KEY
        values[":k"] = {"S": newer_than}
        condition += " AND (attribute_not_exists(#k) OR #k < :k)"
    try:
        ddb.update_item(
            TableName=table,
            Key=watchlist.key(name),
            UpdateExpression=expression,
            ConditionExpression=condition,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
            # The failed condition returns the stored item: none means the company left the watchlist.
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            return SUPERSEDED if exc.response.get("Item") else GONE
        raise
    return WRITTEN


def save_analysis(table: str, row: ResultRow, etag: str | None, result_key: str, ddb: Any = None) -> str:
    """Record a fresh analysis as the company's latest state, unless the table holds a later one.

    "Later" is the row's order key (lib.results.order_key), the same key the dataset's readers use, so
    the table and the dataset agree on each company's latest analysis whatever order writes land in.
    """
    sets = {
        watchlist.SENTIMENT: {"S": row.sentiment},
        **{attribute: {"N": repr(getattr(row, score))} for score, attribute in watchlist.SCORES.items()},
        watchlist.TEXT_SHA256: {"S": row.text_sha256},
        watchlist.SOURCE_URL: {"S": row.source_url},
        watchlist.ANALYZED_AT: {"S": row.analyzed_at},
        watchlist.CHECKED_AT: {"S": row.analyzed_at},
        watchlist.LAST_RUN_ID: {"S": row.run_id},
        watchlist.RESULT_KEY: {"S": result_key},
        watchlist.ANALYSIS_KEY: {"S": row.order_key},
    }
    removes = [watchlist.LAST_ERROR, watchlist.LAST_ERROR_AT]
    if etag:
        sets[watchlist.ETAG] = {"S": etag}
    else:
        removes.append(watchlist.ETAG)
    return _update(ddb or client("dynamodb"), table, row.name, sets, removes, newer_than=row.order_key)


def save_unchanged(table: str, name: str, etag: str | None, checked_at: str, ddb: Any = None) -> str:
    """The text is the one already analysed: keep the analysis, note the check and any new ETag."""
    sets = {watchlist.CHECKED_AT: {"S": checked_at}}
    if etag:
        sets[watchlist.ETAG] = {"S": etag}
    return _update(ddb or client("dynamodb"), table, name, sets, [watchlist.LAST_ERROR, watchlist.LAST_ERROR_AT])


def save_error(table: str, name: str, reason: str, at: str, ddb: Any = None) -> str:
    """A permanent failure (no such page, a disambiguation page, ...) recorded on the company."""
    sets = {watchlist.LAST_ERROR: {"S": reason}, watchlist.LAST_ERROR_AT: {"S": at}, watchlist.CHECKED_AT: {"S": at}}
    return _update(ddb or client("dynamodb"), table, name, sets)


def forget_text(table: str, name: str, ddb: Any = None) -> None:
    """Drop the company's text hash and ETag: its results row could not be written, so the state must not
    claim that text as analysed. The next delivery or tick then analyses the text again."""
    (ddb or client("dynamodb")).update_item(
        TableName=table,
        Key=watchlist.key(name),
        UpdateExpression="REMOVE #t, #e",
        ConditionExpression="attribute_exists(#n)",
        ExpressionAttributeNames={"#n": watchlist.KEY, "#t": watchlist.TEXT_SHA256, "#e": watchlist.ETAG},
    )
