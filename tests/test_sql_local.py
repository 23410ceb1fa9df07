"""SQL locally (docs/sql.md): `./cfcli.py --local query` runs the three documented queries with DuckDB over a
known dataset in a running local stack, and the stack's Glue database and table and Athena workgroup, which
local mode creates from the template, read back through the Glue and Athena APIs."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from lib.dataset_layout import SCHEMA
from tests import sql_dataset
from watchlist_workstation.cli import query as query_command
from watchlist_workstation.cli.main import cli
from watchlist_workstation.deploy.template import load_template
from watchlist_workstation.local.stack import LocalStack
from watchlist_workstation.project import ROOT, TEMPLATE

pytestmark = pytest.mark.servers

DOCS = ROOT / "docs" / "sql.md"
_QUERY = re.compile(r"<!-- query: (?P<name>[\w-]+) -->\n```sql\n(?P<sql>.*?)```", re.DOTALL)


def documented_queries() -> dict[str, str]:
    """The queries docs/sql.md shows, by the name in the comment before each block, exactly as written there."""
    return {match["name"]: match["sql"] for match in _QUERY.finditer(DOCS.read_text(encoding="utf-8"))}


@pytest.fixture(scope="module")
def local_stack(tmp_path_factory) -> Iterator[tuple[LocalStack, Path]]:
    """A running local stack whose bucket holds the known dataset (tests/sql_dataset.py)."""
    base = tmp_path_factory.mktemp("sql-local")
    stack = LocalStack(state_dir=base / "state", results_dir=base / "results").start()
    try:
        sql_dataset.seed(stack.client("s3"), stack.outputs["ResultsBucketName"])
        yield stack, base
    finally:
        stack.stop(save=False)


@pytest.fixture
def run_query(local_stack, monkeypatch) -> Any:
    stack, base = local_stack
    monkeypatch.setenv("CFCLI_LOCAL_STATE_DIR", str(stack.state_dir))
    monkeypatch.setattr(query_command, "query_cache", lambda bucket: base / "cache" / bucket)

    def run(*args: str) -> Any:
        return CliRunner(mix_stderr=False).invoke(cli, ["--local", "query", *args])

    return run


def test_docs_show_the_three_queries() -> None:
    # GIVEN docs/sql.md  THEN it names the three queries the issue asks for, each in its own sql block
    assert sorted(documented_queries()) == sorted(sql_dataset.EXPECTED)


@pytest.mark.parametrize("name", sorted(sql_dataset.EXPECTED))
def test_documented_query_answers_the_known_dataset(run_query, name: str) -> None:
    # GIVEN the known dataset (one row in two objects, two analyses at the same instant, a three-paragraph intro)
    # WHEN the documented query runs, as written in docs/sql.md, through ./cfcli.py --local query --format json
    result = run_query("--format", "json", documented_queries()[name])
    # THEN it exits 0 with exactly the expected rows, in order
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == sql_dataset.EXPECTED[name]


def test_the_table_has_the_schemas_columns_and_dt_as_a_string(run_query) -> None:
    # WHEN the view's columns are described  THEN they are SCHEMA's, then dt, a VARCHAR (not DuckDB's DATE guess)
    result = run_query("--format", "json", "DESCRIBE results")
    assert result.exit_code == 0, result.stderr
    described = [(r["column_name"], r["column_type"]) for r in json.loads(result.stdout)]
    types = {"string": "VARCHAR", "double": "DOUBLE", "bigint": "BIGINT", "int": "INTEGER"}
    assert described == [(name, types[kind]) for name, kind in SCHEMA] + [("dt", "VARCHAR")]


def test_a_multi_paragraph_text_comes_back_whole(run_query) -> None:
    # GIVEN Globex's three-paragraph intro  WHEN selected as CSV  THEN it is one row holding the whole text
    result = run_query(
        "--format", "csv", "SELECT DISTINCT text FROM results WHERE name = 'Globex' AND run_id = 'run-04'"
    )
    assert result.exit_code == 0, result.stderr
    assert list(csv.reader(io.StringIO(result.stdout))) == [["text"], [sql_dataset.INTRO]]


def test_bad_sql_exits_1_with_one_line(run_query) -> None:
    # WHEN the SQL names a column the table does not have  THEN exit 1 with one line on stderr naming it, no stdout
    result = run_query("SELECT no_such_column FROM results")
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("Error: ") and "no_such_column" in lines[-1]
    assert len([line for line in lines if line.startswith("Error")]) == 1
    assert result.stdout == ""


def test_cache_downloads_only_new_objects_and_drops_vanished_ones(local_stack, run_query) -> None:
    # GIVEN the dataset cached by a first query
    stack, _ = local_stack
    s3, bucket = stack.client("s3"), stack.outputs["ResultsBucketName"]
    assert run_query("SELECT count(*) AS n FROM results").exit_code == 0
    # WHEN one more batch object is written and a compacted one deleted, and a query runs again
    extra = sql_dataset.seed(s3, bucket, rows=[sql_dataset.row("Hooli", 0, "POSITIVE", 0.01, "run-99")], compacted=[])
    compacted = [
        k["Key"] for k in s3.list_objects_v2(Bucket=bucket, Prefix="results/")["Contents"] if "compact-" in k["Key"]
    ]
    body = s3.get_object(Bucket=bucket, Key=compacted[0])["Body"].read()
    s3.delete_object(Bucket=bucket, Key=compacted[0])
    try:
        result = run_query("--format", "json", "SELECT count(*) AS n FROM results")
        # THEN only the new object is downloaded, the deleted one's copy is dropped, and the count follows the bucket
        assert result.exit_code == 0, result.stderr
        assert "1 objects downloaded, 1 removed" in result.stderr
        assert json.loads(result.stdout) == [{"n": len(sql_dataset.ROWS) + 1}]
    finally:
        s3.put_object(Bucket=bucket, Key=compacted[0], Body=body)
        s3.delete_object(Bucket=bucket, Key=extra[0])


def test_local_mode_created_the_catalog_from_the_template(local_stack) -> None:
    # GIVEN the running local stack  WHEN its Glue database, table and Athena workgroup are read back
    stack, _ = local_stack
    resources = load_template(TEMPLATE)["Resources"]
    declared_table = resources["DatasetTable"]["Properties"]["TableInput"]
    declared_group = resources["QueryWorkGroup"]["Properties"]["WorkGroupConfiguration"]
    database = stack.stack_name.replace("-", "_")
    glue, athena = stack.client("glue"), stack.client("athena")
    # THEN they exist under the stack's names with the template's columns, projection and encrypted output
    assert glue.get_database(Name=database)["Database"]["Name"] == database
    table = glue.get_table(DatabaseName=database, Name=declared_table["Name"])["Table"]
    assert table["StorageDescriptor"]["Columns"] == declared_table["StorageDescriptor"]["Columns"]
    assert table["PartitionKeys"] == declared_table["PartitionKeys"]
    bucket = stack.outputs["ResultsBucketName"]
    assert table["Parameters"]["storage.location.template"] == f"s3://{bucket}/results/dt=${{dt}}/"
    assert table["Parameters"]["projection.dt.range"] == declared_table["Parameters"]["projection.dt.range"]
    group = athena.get_work_group(WorkGroup=f"{stack.stack_name}-queries")["WorkGroup"]["Configuration"]
    assert group["ResultConfiguration"]["OutputLocation"] == f"s3://{bucket}/athena-results/"
    assert group["ResultConfiguration"]["EncryptionConfiguration"] == {"EncryptionOption": "SSE_S3"}
    assert group["BytesScannedCutoffPerQuery"] == declared_group["BytesScannedCutoffPerQuery"]
