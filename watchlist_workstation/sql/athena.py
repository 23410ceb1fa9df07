"""Run one query in Athena: StartQueryExecution in the stack's workgroup with its database as context, poll
GetQueryExecution until the query ends, then read GetQueryResults page by page (docs/sql.md, "On AWS").

Athena answers every value as a string (Datum.VarCharValue, absent for NULL) and names each column's type in
ResultSetMetadata.ColumnInfo; values are turned back into numbers and booleans from those types. For a SELECT
(StatementType DML) the first row of the first page holds the column labels rather than data; it is skipped
only when it is exactly those labels, so a first data row is never lost.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from watchlist_workstation.sql import QueryError, QueryResult, one_line

# GetQueryExecution's states that end a query (Athena API Reference, QueryExecutionStatus).
DONE = {"SUCCEEDED", "FAILED", "CANCELLED"}
# Polls start quick (most queries over a day or a week take a second or two) and slow down to this.
FIRST_POLL_SECONDS, MAX_POLL_SECONDS = 0.25, 2.0
# GetQueryResults returns at most 1,000 rows a page (its MaxResults' maximum).
PAGE_ROWS = 1000
_INTEGERS = {"tinyint", "smallint", "integer", "int", "bigint"}
_FLOATS = {"double", "float", "real"}


def run(
    athena: Any,
    sql: str,
    *,
    database: str,
    workgroup: str,
    progress: Callable[[str], None] = lambda line: None,
    sleep: Callable[[float], None] = time.sleep,
) -> QueryResult:
    """The query's result; raises QueryError with Athena's reason when it fails or is cancelled."""
    query_id = athena.start_query_execution(
        QueryString=sql, QueryExecutionContext={"Database": database}, WorkGroup=workgroup
    )["QueryExecutionId"]
    try:
        execution = _wait(athena, query_id, progress, sleep)
    except KeyboardInterrupt:
        # Ctrl-C must not leave the query running (and scanning, which Athena bills) after the command has gone.
        athena.stop_query_execution(QueryExecutionId=query_id)
        progress(f"query {query_id}: cancelled on interrupt")
        raise
    status = execution["Status"]
    if status["State"] != "SUCCEEDED":
        reason = (status.get("AthenaError") or {}).get("ErrorMessage") or status.get("StateChangeReason")
        raise QueryError(f"query {query_id} {status['State'].lower()}: {one_line(reason or 'no reason given')}")
    return _results(athena, query_id, skip_header=execution.get("StatementType") == "DML")


def _wait(athena: Any, query_id: str, progress: Callable[[str], None], sleep: Callable[[float], None]) -> Any:
    delay, last = FIRST_POLL_SECONDS, ""
    while True:
        execution = athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]
        state = execution["Status"]["State"]
        statistics = execution.get("Statistics") or {}
        line = f"query {query_id}: {state.lower()}"
        if "DataScannedInBytes" in statistics:
            line += f", {statistics['DataScannedInBytes']} bytes scanned"
        if "TotalExecutionTimeInMillis" in statistics:
            line += f", {statistics['TotalExecutionTimeInMillis'] / 1000:.1f} s"
        if state != last or state in DONE:
            progress(line)
            last = state
        if state in DONE:
            return execution
        sleep(delay)
        delay = min(delay * 2, MAX_POLL_SECONDS)


def _results(athena: Any, query_id: str, *, skip_header: bool) -> QueryResult:
    columns: tuple[tuple[str, str], ...] = ()
    rows: list[tuple[Any, ...]] = []
    token: str | None = None
    info: list[dict[str, Any]] = []
    first = True
    while True:
        page = athena.get_query_results(
            QueryExecutionId=query_id, MaxResults=PAGE_ROWS, **({"NextToken": token} if token else {})
        )
        result_set = page["ResultSet"]
        if first:
            info = result_set.get("ResultSetMetadata", {}).get("ColumnInfo", [])
            columns = tuple((column["Name"], column.get("Type", "varchar")) for column in info)
        page_rows = result_set.get("Rows", [])
        labels = [column.get("Label", column["Name"]) for column in info] if first else []
        if first and skip_header and page_rows and _cells(page_rows[0]) == labels:
            page_rows = page_rows[1:]
        types = [kind for _, kind in columns]
        for row in page_rows:
            rows.append(tuple(_typed(cell, kind) for cell, kind in zip(_cells(row), types, strict=False)))
        first = False
        token = page.get("NextToken")
        if not token:
            return QueryResult(columns, tuple(rows))


def _cells(row: dict[str, Any]) -> list[str | None]:
    return [datum.get("VarCharValue") for datum in row.get("Data", [])]


def _typed(value: str | None, kind: str) -> Any:
    if value is None:
        return None
    kind = kind.lower()
    try:
        if kind in _INTEGERS:
            return int(value)
        if kind in _FLOATS:
            return float(value)
    except ValueError:
        return value
    if kind == "boolean":
        return value.lower() == "true"
    return value
