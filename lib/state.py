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

from lib.clients import client
from lib.limits import DDB_BATCH_GET
from lib.results import ResultRow

_GET_ATTEMPTS = 6


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


def _s(item: dict[str, Any], key: str) -> str | None:
    value = item.get(key)
    return value["S"] if value and "S" in value else None


def load_states(table: str, names: Iterable[str], ddb: Any = None, sleep=time.sleep) -> dict[str, CompanyState]:
    """The stored state of each name still on the watchlist (absent names are left out)."""
    ddb = ddb or client("dynamodb")
    unique = list(dict.fromkeys(names))
    states: dict[str, CompanyState] = {}
    for start in range(0, len(unique), DDB_BATCH_GET):
        request = {table: {"Keys": [{"name": {"S": n}} for n in unique[start : start + DDB_BATCH_GET]]}}
        for attempt in range(_GET_ATTEMPTS):
            response = ddb.batch_get_item(RequestItems=request)
            for item in response.get("Responses", {}).get(table, []):
                state = CompanyState(
                    name=item["name"]["S"],
                    text_sha256=_s(item, "text_sha256"),
                    etag=_s(item, "etag"),
                    source_url=_s(item, "source_url"),
                    sentiment=_s(item, "sentiment"),
                    last_error=_s(item, "last_error"),
                    last_run_id=_s(item, "last_run_id"),
                    result_key=_s(item, "result_key"),
                )
                states[state.name] = state
            request = response.get("UnprocessedKeys") or {}
            if not request:
                break
            sleep(min(0.05 * 2**attempt, 1.0))
        else:
            raise RuntimeError(f"BatchGetItem left {len(request[table]['Keys'])} keys unprocessed")
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
    names = {"#n": "name"}
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
        names["#k"] = "analysis_key"
        values[":k"] = {"S": newer_than}
        condition += " AND (attribute_not_exists(#k) OR #k < :k)"
    try:
        ddb.update_item(
            TableName=table,
            Key={"name": {"S": name}},
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
        "sentiment": {"S": row.sentiment},
        "score_positive": {"N": repr(row.positive)},
        "score_negative": {"N": repr(row.negative)},
        "score_neutral": {"N": repr(row.neutral)},
        "score_mixed": {"N": repr(row.mixed)},
        "text_sha256": {"S": row.text_sha256},
        "source_url": {"S": row.source_url},
        "analyzed_at": {"S": row.analyzed_at},
        "checked_at": {"S": row.analyzed_at},
        "last_run_id": {"S": row.run_id},
        "result_key": {"S": result_key},
        "analysis_key": {"S": row.order_key},
    }
    removes = ["last_error", "last_error_at"]
    if etag:
        sets["etag"] = {"S": etag}
    else:
        removes.append("etag")
    return _update(ddb or client("dynamodb"), table, row.name, sets, removes, newer_than=row.order_key)


def save_unchanged(table: str, name: str, etag: str | None, checked_at: str, ddb: Any = None) -> str:
    """The text is the one already analysed: keep the analysis, note the check and any new ETag."""
    sets = {"checked_at": {"S": checked_at}}
    if etag:
        sets["etag"] = {"S": etag}
    return _update(ddb or client("dynamodb"), table, name, sets, ["last_error", "last_error_at"])


def save_error(table: str, name: str, reason: str, at: str, ddb: Any = None) -> str:
    """A permanent failure (no such page, a disambiguation page, ...) recorded on the company."""
    sets = {"last_error": {"S": reason}, "last_error_at": {"S": at}, "checked_at": {"S": at}}
    return _update(ddb or client("dynamodb"), table, name, sets)


def forget_text(table: str, name: str, ddb: Any = None) -> None:
    """Drop the company's text hash and ETag: its results row could not be written, so the state must not
    claim that text as analysed. The next delivery or tick then analyses the text again."""
    (ddb or client("dynamodb")).update_item(
        TableName=table,
        Key={"name": {"S": name}},
        UpdateExpression="REMOVE #t, #e",
        ConditionExpression="attribute_exists(#n)",
        ExpressionAttributeNames={"#n": "name", "#t": "text_sha256", "#e": "etag"},
    )
