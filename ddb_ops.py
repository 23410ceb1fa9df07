"""Watchlist operations on the DynamoDB table: add, remove, rename, list, and when the table was made.

Every function takes the table's name (it comes from the stack's outputs, never from
a constant here) and an optional boto3 DynamoDB *client*; None means the shared
lazily created one. Bulk writes go through BatchWriteItem in chunks of 25 and retry
what DynamoDB hands back unprocessed (DESIGN rule 4).

Only the table is ever touched: results already written to S3 are history and stay
where they are when a company is removed or renamed (DESIGN rule 6).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from lib.clients import client
from lib.clock import iso
from lib.limits import DDB_BATCH_GET, DDB_BATCH_WRITE
from lib.names import InvalidName, validate_name

# How often a batch call is repeated while DynamoDB keeps handing part of it back
# (throttling or a partition over its limit); the waits between add up to about 6 s.
BATCH_ATTEMPTS = 8
_BACKOFF_FIRST = 0.05
_BACKOFF_MAX = 2.0

# What the consumer records about the company's *page* (lib/state.py). A rename points the
# watchlist at a different page, so none of this may follow the name: a stale sentiment would
# be shown under the new name, and a "page not found" error (the usual reason to rename a
# misspelt company) would outlive the fix. Everything else on the item (added_at, and any
# metadata added later) is the watch entry itself and moves with it.
ANALYSIS_ATTRIBUTES = frozenset(
    {
        "sentiment",
        "score_positive",
        "score_negative",
        "score_neutral",
        "score_mixed",
        "text_sha256",
        "etag",
        "source_url",
        "analyzed_at",
        "checked_at",
        "last_run_id",
        "result_key",
        "analysis_key",
        "last_error",
        "last_error_at",
    }
)

LIST_ATTRIBUTES = ("name", "sentiment", "analyzed_at", "last_error")

Progress = Callable[[int, int], None]


class WatchlistError(Exception):
    """An expected failure of a watchlist operation; the message is one line for people."""


class NameNotFound(WatchlistError):
    def __init__(self, name: str):
        super().__init__(f"{name!r} is not on the watchlist")
        self.name = name


class NameExists(WatchlistError):
    def __init__(self, name: str):
        super().__init__(f"{name!r} is already on the watchlist")
        self.name = name


class BatchIncomplete(WatchlistError):
    """DynamoDB kept handing items back after every retry."""


@dataclass(frozen=True)
class AddReport:
    added: list[str]
    present: list[str]


@dataclass(frozen=True)
class DeleteReport:
    removed: list[str]
    not_found: list[str]


def _ddb(ddb: Any) -> Any:
    return ddb if ddb is not None else client("dynamodb")


def _backoff(attempt: int) -> float:
    return min(_BACKOFF_FIRST * 2**attempt, _BACKOFF_MAX)


def _validated(names: Iterable[str]) -> list[str]:
    """Normal forms in first-seen order, duplicates folded; InvalidName says which one is wrong."""
    out: dict[str, None] = {}
    for position, raw in enumerate(names, start=1):
        try:
            out[validate_name(raw)] = None
        except InvalidName as exc:
            raise InvalidName(f"name {position}: {exc}") from exc
    return list(out)


def _chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def table_timestamp(table: str, ddb: Any = None) -> str:
    """When the table was created, ISO-8601 (the SDK gives a timezone-aware datetime)."""
    created = _ddb(ddb).describe_table(TableName=table)["Table"]["CreationDateTime"]
    return created.isoformat() if hasattr(created, "isoformat") else str(created)


def existing_names(table: str, names: Iterable[str], ddb: Any = None, *, sleep=time.sleep) -> set[str]:
    """Which of `names` are on the watchlist, read with BatchGetItem (100 keys a call)."""
    ddb = _ddb(ddb)
    unique = list(dict.fromkeys(names))
    found: set[str] = set()
    for chunk in _chunks(unique, DDB_BATCH_GET):
        # Strongly consistent, so a name written a moment ago by another command is seen.
        request = {
            table: {
                "Keys": [{"name": {"S": n}} for n in chunk],
                "ProjectionExpression": "#n",
                "ExpressionAttributeNames": {"#n": "name"},
                "ConsistentRead": True,
            }
        }
        for attempt in range(BATCH_ATTEMPTS):
            response = ddb.batch_get_item(RequestItems=request)
            found.update(item["name"]["S"] for item in response.get("Responses", {}).get(table, []))
            request = response.get("UnprocessedKeys") or {}
            if not request.get(table, {}).get("Keys"):
                break
            sleep(_backoff(attempt))
        else:
            left = len(request[table]["Keys"])
            raise BatchIncomplete(f"DynamoDB left {left} reads unprocessed after {BATCH_ATTEMPTS} attempts; try again")
    return found


def _batch_write(
    ddb: Any, table: str, requests: list[dict[str, Any]], *, sleep, progress: Progress | None, verb: str
) -> None:
    """BatchWriteItem in chunks of 25, each retried with backoff until DynamoDB takes all of it."""
    done = 0
    for chunk in _chunks(requests, DDB_BATCH_WRITE):
        pending = list(chunk)
        for attempt in range(BATCH_ATTEMPTS):
            response = ddb.batch_write_item(RequestItems={table: pending})
            pending = (response.get("UnprocessedItems") or {}).get(table, [])
            if not pending:
                break
            sleep(_backoff(attempt))
        else:
            written = done + len(chunk) - len(pending)
            raise BatchIncomplete(
                f"DynamoDB left {len(pending)} {verb}s unprocessed after {BATCH_ATTEMPTS} attempts "
                f"({written} of {len(requests)} done); run the command again"
            )
        done += len(chunk)
        if progress is not None:
            progress(done, len(requests))


def item_add(table: str, name: str, ddb: Any = None) -> bool:
    """Put one company on the watchlist; False when it is already there (its state is left alone)."""
    name = validate_name(name)
    try:
        _ddb(ddb).put_item(
            TableName=table,
            Item={"name": {"S": name}, "added_at": {"S": iso()}},
            ConditionExpression="attribute_not_exists(#n)",
            ExpressionAttributeNames={"#n": "name"},
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            return False
        raise
    return True


def items_add(
    table: str, names: Iterable[str], ddb: Any = None, *, sleep=time.sleep, progress: Progress | None = None
) -> AddReport:
    """Put many companies on the watchlist; names already there are reported, not overwritten.

    BatchWriteItem has no conditions, so the names already present are found first and left
    out. A name someone else adds between that read and the write would be put again, losing
    its analysis state until the next run; a conditional PutItem per name would close that
    gap at 25 times the calls, which a bulk import does not need.
    """
    ddb = _ddb(ddb)
    wanted = _validated(names)
    present = existing_names(table, wanted, ddb, sleep=sleep)
    new = [n for n in wanted if n not in present]
    added_at = iso()
    requests = [{"PutRequest": {"Item": {"name": {"S": n}, "added_at": {"S": added_at}}}} for n in new]
    _batch_write(ddb, table, requests, sleep=sleep, progress=progress, verb="write")
    return AddReport(added=new, present=[n for n in wanted if n in present])


def items_delete(
    table: str, names: Iterable[str], ddb: Any = None, *, sleep=time.sleep, progress: Progress | None = None
) -> DeleteReport:
    """Take companies off the watchlist. Their results in S3 are history and are not touched."""
    ddb = _ddb(ddb)
    wanted = _validated(names)
    present = existing_names(table, wanted, ddb, sleep=sleep)
    gone = [n for n in wanted if n in present]
    requests = [{"DeleteRequest": {"Key": {"name": {"S": n}}}} for n in gone]
    _batch_write(ddb, table, requests, sleep=sleep, progress=progress, verb="delete")
    return DeleteReport(removed=gone, not_found=[n for n in wanted if n not in present])


def item_update(table: str, old: str, new: str, ddb: Any = None) -> None:
    """Rename a company in one transaction: the old item goes and the new one appears, or neither.

    The new item keeps the watch entry's own attributes (added_at, ...) and starts with no
    analysis state (see ANALYSIS_ATTRIBUTES); the next run analyses the new name's page.
    Raises NameNotFound(old) or NameExists(new) and then the table is unchanged.
    """
    ddb = _ddb(ddb)
    old, new = validate_name(old), validate_name(new)
    if old == new:
        raise WatchlistError(f"old and new name are the same ({old!r})")
    current = ddb.get_item(TableName=table, Key={"name": {"S": old}}, ConsistentRead=True).get("Item")
    if current is None:
        raise NameNotFound(old)
    carried = {k: v for k, v in current.items() if k != "name" and k not in ANALYSIS_ATTRIBUTES}
    try:
        ddb.transact_write_items(
            TransactItems=[
                {
                    "Delete": {
                        "TableName": table,
                        "Key": {"name": {"S": old}},
                        "ConditionExpression": "attribute_exists(#n)",
                        "ExpressionAttributeNames": {"#n": "name"},
                    }
                },
                {
                    "Put": {
                        "TableName": table,
                        "Item": {"name": {"S": new}, **carried},
                        "ConditionExpression": "attribute_not_exists(#n)",
                        "ExpressionAttributeNames": {"#n": "name"},
                    }
                },
            ],
            # The SDK retries a call whose answer was lost; with a token DynamoDB treats the retry as
            # the same transaction instead of failing it with "old name not found".
            ClientRequestToken=str(uuid.uuid4()),
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
            raise
        reasons = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
        if reasons[:1] == ["ConditionalCheckFailed"]:
            raise NameNotFound(old) from exc
        if reasons[1:2] == ["ConditionalCheckFailed"]:
            raise NameExists(new) from exc
        raise


def items_list(table: str, ddb: Any = None) -> list[dict[str, str | None]]:
    """Every company with its latest sentiment, sorted by name; an empty watchlist is an empty list."""
    ddb = _ddb(ddb)
    placeholders = {f"#a{i}": attr for i, attr in enumerate(LIST_ATTRIBUTES)}
    rows = []
    for page in ddb.get_paginator("scan").paginate(
        TableName=table, ProjectionExpression=", ".join(placeholders), ExpressionAttributeNames=placeholders
    ):
        for item in page.get("Items", []):
            rows.append({attr: item[attr].get("S") if attr in item else None for attr in LIST_ATTRIBUTES})
    return sorted(rows, key=lambda row: row["name"] or "")
