"""`query "SQL"`: SQL over the dataset, in Athena on AWS or with DuckDB over the local stack (docs/sql.md)."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import Any

import click

from watchlist_workstation import project
from watchlist_workstation.cli.app import cli
from watchlist_workstation.cli.context import AppContext, CliError, note
from watchlist_workstation.sql import QueryError, QueryResult


@cli.command()
@click.argument("sql")
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["table", "csv", "json"]),
    default="table",
    show_default=True,
    help="How the rows are printed on stdout.",
)
@click.pass_obj
def query(app: AppContext, sql: str, output_format: str) -> None:
    """Run SQL over the dataset's table and print the rows.

    On AWS the query runs in Athena, in the stack's workgroup with its Glue database as context (progress on
    stderr). With --local it runs with DuckDB over the local stack's dataset, under the same table name. The
    table is named in the stack's outputs (DatasetTableName); docs/sql.md has queries that run in both.
    """
    if not sql.strip():
        raise click.UsageError("the SQL is empty")
    try:
        result = _run_local(app, sql) if app.local else _run_athena(app, sql)
    except QueryError as exc:
        raise CliError(str(exc)) from None
    if output_format == "json":
        _emit_json(result)
    elif output_format == "csv":
        _emit_csv(result)
    else:
        _emit_table(result)


def _run_athena(app: AppContext, sql: str) -> QueryResult:
    from watchlist_workstation.sql import athena

    outputs = app.outputs()
    missing = [key for key in ("DatasetDatabaseName", "QueryWorkGroupName") if key not in outputs]
    if missing:
        raise CliError(
            f"stack {app.stack_name} has no output {missing[0]}: it predates the dataset's Glue table; "
            "update it with './cfcli.py make-infra'"
        )
    database, workgroup = outputs["DatasetDatabaseName"], outputs["QueryWorkGroupName"]
    return athena.run(app.client("athena"), sql, database=database, workgroup=workgroup, progress=note)


def _run_local(app: AppContext, sql: str) -> QueryResult:
    from watchlist_workstation.local import catalog
    from watchlist_workstation.sql import local

    app.outputs()  # one line and exit 1 when the local account has no such stack
    table = catalog.names(app.client("cloudformation"), app.stack_name).table
    bucket = app.output("ResultsBucketName")
    cache = query_cache(bucket)
    counts = local.sync(app.client("s3"), bucket, cache)
    note(
        f"dataset of {bucket}: {counts['downloaded']} objects downloaded, {counts['removed']} removed, "
        f"{counts['kept']} cached ({cache})"
    )
    return local.run(sql, table=table, cache=cache)


def query_cache(bucket: str) -> Path:
    """Where `query --local` keeps its copy of a local bucket's data objects (under build/, which is disposable)."""
    return project.work_dir() / "build" / "query-cache" / bucket


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


def _emit_table(result: QueryResult) -> None:
    header = result.names
    cells = [[_cell(value).replace("\n", "\\n") for value in row] for row in result.rows]
    widths = [max([len(name)] + [len(row[i]) for row in cells]) for i, name in enumerate(header)]
    click.echo("  ".join(name.ljust(width) for name, width in zip(header, widths, strict=True)).rstrip())
    for row in cells:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


def _emit_csv(result: QueryResult) -> None:
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(result.names)
    writer.writerows([_cell(value) for value in row] for row in result.rows)


def _emit_json(result: QueryResult) -> None:
    rows = [dict(zip(result.names, row, strict=True)) for row in result.rows]
    click.echo(json.dumps(rows, indent=2, default=str, ensure_ascii=False))
