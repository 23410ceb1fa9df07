"""`./cfcli.py query` on AWS (docs/sql.md): the query runs in Athena in the stack's workgroup with its database as
context, the rows print as a table, CSV or JSON, and a failed or cancelled query ends with Athena's reason in one
line. Athena is moto's (its results seeded through the backend, as moto documents for get_query_results) or,
for states moto never reaches (FAILED, CANCELLED, several pages), a botocore Stubber."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto.athena.models import QueryResults, athena_backends
from moto.core import DEFAULT_ACCOUNT_ID

from tests.stack_fixture import Stack
from tests.template_fixture import REGION
from watchlist_workstation.cli.context import AppContext
from watchlist_workstation.cli.main import cli
from watchlist_workstation.local import catalog
from watchlist_workstation.sql import QueryError, athena

pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse .* not supported by moto:UserWarning")

COLUMNS = [{"Name": "name", "Label": "name", "Type": "varchar"}, {"Name": "n", "Label": "n", "Type": "bigint"}]


def _row(*cells: str | None) -> dict[str, Any]:
    return {"Data": [{} if cell is None else {"VarCharValue": cell} for cell in cells]}


@pytest.fixture
def deployed(stack: Stack, monkeypatch) -> tuple[Stack, catalog.Catalog]:
    """The stack with its workgroup in moto, and the outputs AWS would give (moto drops outputs of skipped types)."""
    names = catalog.apply(
        boto3.client("cloudformation", region_name=REGION),
        boto3.client("glue", region_name=REGION),
        boto3.client("athena", region_name=REGION),
        stack.name,
    )
    outputs = {
        **stack.outputs,
        "DatasetDatabaseName": names.database,
        "DatasetTableName": names.table,
        "QueryWorkGroupName": names.workgroup,
    }
    monkeypatch.setattr(AppContext, "outputs", lambda self: outputs)
    monkeypatch.setattr(athena, "FIRST_POLL_SECONDS", 0.0)
    return stack, names


def _seed(rows: list[dict[str, Any]], columns: list[dict[str, str]] = COLUMNS) -> None:
    athena_backends[DEFAULT_ACCOUNT_ID][REGION].query_results_queue.append(QueryResults(rows, columns))


def test_query_runs_in_the_stacks_workgroup_and_database_and_prints_a_table(deployed, cli_runner) -> None:
    # GIVEN Athena's answer to a SELECT: the label row, then two rows (one with a NULL)
    _, names = deployed
    _seed([_row("name", "n"), _row("Acme", "3"), _row("Globex", None)])
    # WHEN the query runs
    result = cli_runner.invoke(cli, ["query", "SELECT name, count(*) AS n FROM results GROUP BY name"])
    # THEN it ran in the stack's workgroup, with its database as context, and printed the two rows under a header
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == ["name    n", "Acme    3", "Globex"]
    (execution,) = athena_backends[DEFAULT_ACCOUNT_ID][REGION].executions.values()
    assert execution.workgroup.name == names.workgroup
    assert execution.context == {"Database": names.database}
    # and its progress went to stderr, ending with the state that ended it
    assert "succeeded" in result.stderr.splitlines()[-1]


def test_json_keeps_athenas_types_and_csv_its_text(deployed, cli_runner) -> None:
    # GIVEN a result with a bigint and a double column
    columns = [*COLUMNS, {"Name": "mean", "Label": "mean", "Type": "double"}]
    _seed([_row("name", "n", "mean"), _row("Acme", "3", "0.25")], columns)
    _seed([_row("name", "n", "mean"), _row("Acme", "3", "0.25")], columns)
    # WHEN printed as JSON and as CSV
    as_json = cli_runner.invoke(cli, ["query", "--format", "json", "SELECT 1"])
    as_csv = cli_runner.invoke(cli, ["query", "--format", "csv", "SELECT 1"])
    # THEN JSON has numbers where Athena's types are numbers, and CSV is the header and the row
    assert json.loads(as_json.stdout) == [{"name": "Acme", "n": 3, "mean": 0.25}]
    assert list(csv.reader(io.StringIO(as_csv.stdout))) == [["name", "n", "mean"], ["Acme", "3", "0.25"]]


def _stubbed(state: str, *, reason: str = "", error: str = "") -> tuple[Any, Stubber]:
    client = boto3.client("athena", region_name=REGION)
    stubber = Stubber(client)
    stubber.add_response("start_query_execution", {"QueryExecutionId": "q-1"})
    status: dict[str, Any] = {"State": state}
    if reason:
        status["StateChangeReason"] = reason
    if error:
        status["AthenaError"] = {"ErrorMessage": error}
    stubber.add_response("get_query_execution", {"QueryExecution": {"Status": {"State": "RUNNING"}}})
    stubber.add_response("get_query_execution", {"QueryExecution": {"Status": status, "StatementType": "DML"}})
    return client, stubber


@pytest.mark.parametrize(
    ("state", "reason", "error", "expected"),
    [
        (
            "FAILED",
            "line 1:8: Column 'x' cannot be resolved",
            "COLUMN_NOT_FOUND: line 1:8: Column 'x'\ncannot be resolved",
            "query q-1 failed: COLUMN_NOT_FOUND: line 1:8: Column 'x' cannot be resolved",
        ),
        (
            "CANCELLED",
            "Query cancelled: the bytes scanned limit was reached",
            "",
            "query q-1 cancelled: Query cancelled: the bytes scanned limit was reached",
        ),
    ],
)
def test_a_query_that_does_not_succeed_raises_athenas_reason_in_one_line(state, reason, error, expected) -> None:
    # GIVEN Athena reports the query FAILED or CANCELLED  WHEN it is run
    client, stubber = _stubbed(state, reason=reason, error=error)
    lines: list[str] = []
    with stubber, pytest.raises(QueryError) as raised:
        athena.run(client, "SELECT x", database="db", workgroup="wg", progress=lines.append, sleep=lambda _: None)
    # THEN the error is one line with Athena's reason, and progress showed both states
    assert str(raised.value) == expected
    assert [line.split(": ", 1)[1] for line in lines] == ["running", state.lower()]


def test_every_page_is_read_and_only_the_label_row_skipped() -> None:
    # GIVEN a succeeded SELECT whose rows come in two pages, the first starting with the label row
    client, stubber = _stubbed("SUCCEEDED")
    metadata = {"ColumnInfo": COLUMNS}
    first = {"ResultSet": {"Rows": [_row("name", "n"), _row("Acme", "1")], "ResultSetMetadata": metadata}}
    stubber.add_response("get_query_results", {**first, "NextToken": "page-2"})
    stubber.add_response(
        "get_query_results",
        {"ResultSet": {"Rows": [_row("name", "2")], "ResultSetMetadata": metadata}},
        {"QueryExecutionId": "q-1", "MaxResults": 1000, "NextToken": "page-2"},
    )
    # WHEN it is run
    with stubber:
        result = athena.run(client, "SELECT", database="db", workgroup="wg", sleep=lambda _: None)
    # THEN both pages' rows are there, typed; a data row equal to the labels on a later page is kept
    assert result.names == ["name", "n"]
    assert result.rows == (("Acme", 1), ("name", 2))


def test_a_stack_without_the_sql_outputs_is_one_line(stack: Stack, cli_runner) -> None:
    # GIVEN a stack deployed before the Glue table existed (no DatasetDatabaseName output)  WHEN query runs
    result = cli_runner.invoke(cli, ["query", "SELECT 1"])
    # THEN exit 1, one line naming the missing output
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        f"Error: stack {stack.name} has no output DatasetDatabaseName: it predates the dataset's Glue table; "
        "update it with './cfcli.py make-infra'"
    ]


def test_empty_sql_is_a_usage_error(cli_runner) -> None:
    result = cli_runner.invoke(cli, ["query", "  "])
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1


def test_an_interrupted_wait_stops_the_query() -> None:
    # GIVEN a running query  WHEN Ctrl-C arrives while the command waits for it
    client = boto3.client("athena", region_name=REGION)
    stubber = Stubber(client)
    stubber.add_response("start_query_execution", {"QueryExecutionId": "q-2"})
    stubber.add_response("get_query_execution", {"QueryExecution": {"Status": {"State": "RUNNING"}}})
    stubber.add_response("stop_query_execution", {}, {"QueryExecutionId": "q-2"})

    def interrupted(_: float) -> None:
        raise KeyboardInterrupt

    # THEN the query is stopped in Athena before the interrupt goes on
    with stubber, pytest.raises(KeyboardInterrupt):
        athena.run(client, "SELECT 1", database="db", workgroup="wg", sleep=interrupted)
    stubber.assert_no_pending_responses()
