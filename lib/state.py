"""Each company's latest state in the watchlist table, written only when something changed.

Every write is conditional on the company still being on the watchlist, so a company removed while its
message was in flight is not brought back. A new revision or analysis is also conditional on the stored
revision being older (or of another page), so a redelivered chunk, whose snapshot may be stale, never
records the same revision twice and so never writes a results row twice (docs/design.md, "Reading
Wikipedia politely"). An analysis must in addition be later than the stored one by lib.results.order_key,
the key the dataset's readers rank by ("Which analysis is latest").
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from botocore.exceptions import ClientError

from lib import table as watchlist
from lib.clients import client
from lib.dataset_layout import day_of
from lib.limits import RECENT_RESULTS_DAYS
from lib.message import Company
from lib.results import ResultRow
from lib.wikipedia import PageRevision

# What a conditional table write did: stored, found the company gone from the watchlist, or found the
# same or a newer revision (or a later analysis) already stored.
WRITTEN, GONE, SUPERSEDED = "written", "gone", "superseded"


@dataclass(frozen=True)
class StoredState:
    """A company as the table holds it now: the snapshot a chunk would carry, and which run recorded its latest
    analysis in which results object (for a redelivered message's check that its row was written)."""

    company: Company
    last_run_id: str | None = None
    result_key: str | None = None


def load_states(table: str, names: Iterable[str], ddb: Any = None, sleep=time.sleep) -> dict[str, StoredState]:
    """The stored state of each name still on the watchlist (absent names are left out)."""
    states: dict[str, StoredState] = {}
    for item in watchlist.batch_get(ddb or client("dynamodb"), table, names, consistent=True, sleep=sleep):
        run, key = item.get(watchlist.LAST_RUN_ID, {}).get("S"), item.get(watchlist.RESULT_KEY, {}).get("S")
        company = watchlist.company_of(item)
        states[company.name] = StoredState(company, run, key)
    return states


def _update(
    ddb: Any,
    table: str,
    name: str,
    sets: dict[str, Any],
    removes: Iterable[str] = (),
    conditions: Iterable[str] = (),
    adds: dict[str, Any] | None = None,
    deletes: dict[str, Any] | None = None,
) -> tuple[str, dict[str, Any]]:
    """Apply one UpdateItem while the company is on the watchlist (and `conditions` hold): WRITTEN, GONE or
    SUPERSEDED, and when written the updated attributes' new values. `adds` are set members to ADD, `deletes`
    set members to DELETE. Conditions
    use #rev, #page, #k and #err for revision, page, analysis_key and last_error, :rev, :page, :k and :err for
    the new values (set in `sets`)."""
    names = {"#n": watchlist.KEY}
    values: dict[str, Any] = {}
    clauses = []
    for i, (attribute, value) in enumerate(sets.items()):
        names[f"#a{i}"] = attribute
        values[f":v{i}"] = value
        clauses.append(f"#a{i} = :v{i}")
    parts = ["SET " + ", ".join(clauses)] if clauses else []
    removed = list(removes)
    if removed:
        for j, attribute in enumerate(removed):
            names[f"#r{j}"] = attribute
        parts.append("REMOVE " + ", ".join(f"#r{j}" for j in range(len(removed))))
    for action, letter, members in (("ADD", "d", adds), ("DELETE", "x", deletes)):
        if members:
            for k, (attribute, value) in enumerate(members.items()):
                names[f"#{letter}{k}"] = attribute
                values[f":{letter}{k}"] = value
            parts.append(f"{action} " + ", ".join(f"#{letter}{k} :{letter}{k}" for k in range(len(members))))
    expression = " ".join(parts)
    condition = " AND ".join(["attribute_exists(#n)", *conditions])
    placeholders = (
        ("#rev", watchlist.REVISION),
        ("#page", watchlist.PAGE),
        ("#k", watchlist.ANALYSIS_KEY),
        ("#err", watchlist.LAST_ERROR),
    )
    for placeholder, attribute in placeholders:
        if placeholder in condition:
            names[placeholder] = attribute
        value = placeholder.replace("#", ":")
        if value in condition:
            values[value] = sets[attribute]
    try:
        response = ddb.update_item(
            TableName=table,
            Key=watchlist.key(name),
            UpdateExpression=expression,
            ConditionExpression=condition,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
            # The failed condition returns the stored item: none means the company left the watchlist.
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
            ReturnValues="UPDATED_NEW" if adds else "NONE",
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            return (SUPERSEDED if exc.response.get("Item") else GONE), {}
        raise
    return WRITTEN, response.get("Attributes", {})


def _status(ddb: Any, table: str, name: str, sets: dict[str, Any], removes=(), conditions=()) -> str:
    return _update(ddb, table, name, sets, removes, conditions)[0]


def recent_horizon(analysed_on: date) -> date:
    """The first day whose keys a company's recent_results keeps, for its latest analysis on `analysed_on`."""
    return analysed_on - timedelta(days=RECENT_RESULTS_DAYS)


def stale_recent(keys: Iterable[str], analysed_on: str) -> list[str]:
    """Of a company's recent_results, the keys of days before recent_horizon of `analysed_on` (YYYY-MM-DD):
    compaction has folded those days, so their objects are read through its manifest."""
    horizon = recent_horizon(date.fromisoformat(analysed_on))
    return sorted(key for key in keys if (day := day_of(key)) is not None and date.fromisoformat(day) < horizon)


# The stored revision is older, or of another page (the watchlist now names another title, or a redirect
# moved): then this revision is news.
NEWER_REVISION = "(attribute_not_exists(#rev) OR #rev < :rev OR #page <> :page)"
# A repair writes again the revision whose row went missing (see lib/consumer.py): the same revision will do.
SAME_OR_NEWER_REVISION = "(attribute_not_exists(#rev) OR #rev <= :rev OR #page <> :page)"
LATER_ANALYSIS = "(attribute_not_exists(#k) OR #k < :k)"
# A permanent error is news only when the stored state is not that error already: the first time, or after
# another error, or after the company recovered (a recorded revision or analysis removes the error).
OTHER_ERROR = "(attribute_not_exists(#err) OR #err <> :err)"


def _page_sets(page: PageRevision, checked_at: str) -> dict[str, Any]:
    return {
        watchlist.REVISION: {"N": str(page.revision)},
        watchlist.PAGE: {"S": page.title},
        watchlist.SOURCE_URL: {"S": page.url},
        watchlist.CHECKED_AT: {"S": checked_at},
    }


def save_analysis(
    table: str, row: ResultRow, page: PageRevision, result_key: str, ddb: Any = None, *, repair: bool = False
) -> str:
    """Record a fresh analysis as the company's latest state, unless the table holds this revision (or a newer
    one; with `repair`, a newer one only) or a later analysis already."""
    sets = {
        **_page_sets(page, row.analyzed_at),
        watchlist.SENTIMENT: {"S": row.sentiment},
        **{attribute: {"N": repr(getattr(row, score))} for score, attribute in watchlist.SCORES.items()},
        watchlist.TEXT_SHA256: {"S": row.text_sha256},
        watchlist.ANALYZED_AT: {"S": row.analyzed_at},
        watchlist.LAST_RUN_ID: {"S": row.run_id},
        watchlist.RESULT_KEY: {"S": result_key},
        watchlist.ANALYSIS_KEY: {"S": row.order_key},
        # The latest view reads the row's revision from here (docs/dataset.md, "The watchlist table").
        watchlist.ANALYSIS_REVISION: {"N": str(page.revision)},
    }
    removes = [watchlist.LAST_ERROR, watchlist.LAST_ERROR_AT, watchlist.ETAG]
    revision = SAME_OR_NEWER_REVISION if repair else NEWER_REVISION
    ddb = ddb or client("dynamodb")
    # The key joins the company's recent results in the same write that names it latest; keys of days
    # compaction has folded since leave in a second write (sets take ADD and DELETE atomically, so two
    # consumers writing at once lose nothing), at most once a day per company.
    status, attributes = _update(
        ddb,
        table,
        row.name,
        sets,
        removes,
        [revision, LATER_ANALYSIS],
        adds={watchlist.RECENT_RESULTS: {"SS": [result_key]}},
    )
    stale = stale_recent(attributes.get(watchlist.RECENT_RESULTS, {}).get("SS", []), row.analyzed_at[:10])
    if stale:  # while the company is listed: a company removed meanwhile is not written back as a bare key
        _update(ddb, table, row.name, {}, deletes={watchlist.RECENT_RESULTS: {"SS": stale}})
    return status


def save_revision(table: str, name: str, page: PageRevision, checked_at: str, ddb: Any = None) -> str:
    """The page moved to a new revision whose intro is the text already analysed: record the revision only."""
    sets = _page_sets(page, checked_at)
    removes = [watchlist.LAST_ERROR, watchlist.LAST_ERROR_AT, watchlist.ETAG]
    return _status(ddb or client("dynamodb"), table, name, sets, removes, [NEWER_REVISION])


def save_error(table: str, name: str, reason: str, at: str, ddb: Any = None) -> str:
    """A permanent failure (no such page, a disambiguation page, ...) recorded on the company, unless the table
    holds that very error already (SUPERSEDED then): WRITTEN means the company's state changed into this error,
    which the consumer counts as a new permanent error (lib/metrics.py)."""
    sets = {watchlist.LAST_ERROR: {"S": reason}, watchlist.LAST_ERROR_AT: {"S": at}, watchlist.CHECKED_AT: {"S": at}}
    return _status(ddb or client("dynamodb"), table, name, sets, conditions=[OTHER_ERROR])


def clear_error(table: str, name: str, at: str, ddb: Any = None) -> str:
    """The page answers again at the revision already recorded (a deleted page restored, say): the recorded error
    no longer holds, so it goes, and the company failing again later is a new error. SUPERSEDED when the table
    holds no error (another delivery cleared it first)."""
    sets = {watchlist.CHECKED_AT: {"S": at}}
    removes = [watchlist.LAST_ERROR, watchlist.LAST_ERROR_AT]
    return _status(ddb or client("dynamodb"), table, name, sets, removes, ["attribute_exists(#err)"])


def forget_text(table: str, name: str, ddb: Any = None) -> None:
    """Drop the company's revision and text hash: its results row could not be written, so the state must not
    claim that text as analysed. The next delivery or tick then reads and analyses the page again."""
    (ddb or client("dynamodb")).update_item(
        TableName=table,
        Key=watchlist.key(name),
        UpdateExpression="REMOVE #t, #rev, #page",
        ConditionExpression="attribute_exists(#n)",
        ExpressionAttributeNames={
            "#n": watchlist.KEY,
            "#t": watchlist.TEXT_SHA256,
            "#rev": watchlist.REVISION,
            "#page": watchlist.PAGE,
        },
    )
