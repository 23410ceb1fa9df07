"""Watchlist operations on the DynamoDB table: add, remove, rename and list.

Every function takes the table's name (it comes from the stack's outputs, never from
a constant here) and an optional boto3 DynamoDB *client*; None means the shared
lazily created one. Bulk writes go through BatchWriteItem in chunks of 25 and retry
what DynamoDB hands back unprocessed (lib/table.py).

Only the table is ever touched: results already written to S3 are history and stay
where they are when a company is removed or renamed (docs/design.md rule 6).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from lib import table as watchlist
from lib.clients import client
from lib.clock import iso
from lib.names import InvalidName, validate_name

LIST_ATTRIBUTES = (watchlist.KEY, watchlist.TITLE, watchlist.SENTIMENT, watchlist.ANALYZED_AT, watchlist.LAST_ERROR)
# Re-exported for callers that count the rounds (tests).
BATCH_ATTEMPTS = watchlist.BATCH_ATTEMPTS


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
    """DynamoDB kept handing items back after every retry (lib.table's BatchIncomplete, said for people)."""


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


def _validated(names: Iterable[str]) -> list[str]:
    """Normal forms in first-seen order, duplicates folded; InvalidName says which one is wrong."""
    out: dict[str, None] = {}
    for position, raw in enumerate(names, start=1):
        try:
            out[validate_name(raw)] = None
        except InvalidName as exc:
            raise InvalidName(f"name {position}: {exc}") from exc
    return list(out)


def existing_names(table: str, names: Iterable[str], ddb: Any = None, *, sleep=time.sleep) -> set[str]:
    """Which of `names` are on the watchlist, read with BatchGetItem (100 keys a call)."""
    # Strongly consistent, so a name written a moment ago by another command is seen.
    items = watchlist.batch_get(_ddb(ddb), table, names, attributes=[watchlist.KEY], consistent=True, sleep=sleep)
    try:
        return {item[watchlist.KEY]["S"] for item in items}
    except watchlist.BatchIncomplete as exc:
        raise BatchIncomplete(f"{exc}; try again") from exc


def _batch_write(
    ddb: Any, table: str, requests: list[dict[str, Any]], *, sleep, progress: watchlist.Progress | None, verb: str
):
    try:
        watchlist.batch_write(ddb, table, requests, sleep=sleep, progress=progress, verb=verb)
    except watchlist.BatchIncomplete as exc:
        raise BatchIncomplete(f"{exc}; run the command again") from exc


def items_add(
    table: str,
    names: Iterable[str],
    ddb: Any = None,
    *,
    titles: Mapping[str, str] | None = None,
    sleep=time.sleep,
    progress: watchlist.Progress | None = None,
) -> AddReport:
    """Put many companies on the watchlist; names already there are reported, not overwritten.

    `titles` names the Wikipedia page to read for a company whose name alone is ambiguous (a name left out
    reads the page of that name); each is checked like a name.

    BatchWriteItem has no conditions, so the names already present are found first and left
    out. A name someone else adds between that read and the write would be put again, losing
    its analysis state until the next run; a conditional PutItem per name would close that
    gap at 25 times the calls, which a bulk import does not need.
    """
    ddb = _ddb(ddb)
    wanted = _validated(names)
    pages = {validate_name(name): validate_name(title) for name, title in (titles or {}).items()}
    present = existing_names(table, wanted, ddb, sleep=sleep)
    new = [n for n in wanted if n not in present]
    added_at = iso()

    def item(name: str) -> dict[str, Any]:
        extra = {watchlist.TITLE: {"S": pages[name]}} if pages.get(name, name) != name else {}
        return {**watchlist.key(name), watchlist.ADDED_AT: {"S": added_at}, **extra}

    requests = [{"PutRequest": {"Item": item(n)}} for n in new]
    _batch_write(ddb, table, requests, sleep=sleep, progress=progress, verb="write")
    return AddReport(added=new, present=[n for n in wanted if n in present])


def items_delete(
    table: str, names: Iterable[str], ddb: Any = None, *, sleep=time.sleep, progress: watchlist.Progress | None = None
) -> DeleteReport:
    """Take companies off the watchlist. Their results in S3 are history and are not touched."""
    ddb = _ddb(ddb)
    wanted = _validated(names)
    present = existing_names(table, wanted, ddb, sleep=sleep)
    gone = [n for n in wanted if n in present]
    requests = [{"DeleteRequest": {"Key": watchlist.key(n)}} for n in gone]
    _batch_write(ddb, table, requests, sleep=sleep, progress=progress, verb="delete")
    return DeleteReport(removed=gone, not_found=[n for n in wanted if n not in present])


def item_update(table: str, old: str, new: str, ddb: Any = None) -> None:
    """Rename a company in one transaction: the old item goes and the new one appears, or neither.

    The new item keeps the watch entry's own attributes (added_at, ...) and starts with no
    analysis state (lib.table.ANALYSIS_ATTRIBUTES); the next run analyses the new name's page.
    Raises NameNotFound(old) or NameExists(new) and then the table is unchanged.
    """
    ddb = _ddb(ddb)
    old, new = validate_name(old), validate_name(new)
    if old == new:
        raise WatchlistError(f"old and new name are the same ({old!r})")
    current = ddb.get_item(TableName=table, Key=watchlist.key(old), ConsistentRead=True).get("Item")
    if current is None:
        raise NameNotFound(old)
    carried = {k: v for k, v in current.items() if k != watchlist.KEY and k not in watchlist.ANALYSIS_ATTRIBUTES}
    try:
        ddb.transact_write_items(
            TransactItems=[
                {
                    "Delete": {
                        "TableName": table,
                        "Key": watchlist.key(old),
                        "ConditionExpression": "attribute_exists(#n)",
                        "ExpressionAttributeNames": {"#n": watchlist.KEY},
                    }
                },
                {
                    "Put": {
                        "TableName": table,
                        "Item": {**watchlist.key(new), **carried},
                        "ConditionExpression": "attribute_not_exists(#n)",
                        "ExpressionAttributeNames": {"#n": watchlist.KEY},
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
