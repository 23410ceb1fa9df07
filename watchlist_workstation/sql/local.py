"""Run one query with DuckDB over the local stack's dataset, under the Glue table's name (docs/sql.md, "Locally").

The dataset's data objects (JSON Lines, `.jsonl` and compacted `.jsonl.gz`, lib/dataset_layout.py) are
mirrored from the local bucket into a cache folder, keeping their keys: a key is never rewritten, so only
missing objects are downloaded and those gone from the bucket are removed. A view named like the Glue table
reads them with read_json: the columns and types of lib/dataset_layout.py SCHEMA, given explicitly (no
sampling, no guessing), and dt taken from the `dt=YYYY-MM-DD` folder as a VARCHAR, as the Glue table's
partition key is a string (without hive_types DuckDB would make it a DATE). Sessions run in UTC, as Athena
does, so current_date is the same day in both.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lib.dataset_layout import PARTITION, RESULTS_PREFIX, SCHEMA, batch_object, compacted_object
from watchlist_workstation.sql import QueryError, QueryResult, one_line

# The Glue types of SCHEMA (template.yml's table) and DuckDB's types for them.
# Athena's rule for table names (lowercase letters, digits, underscore), which the Glue table's name keeps.
_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]*")
DUCKDB_TYPES = {"string": "VARCHAR", "double": "DOUBLE", "bigint": "BIGINT", "int": "INTEGER"}


def data_keys(s3: Any, bucket: str, prefix: str = RESULTS_PREFIX) -> Iterator[tuple[str, int]]:
    """(key, size) of each JSON Lines data object under the dataset's prefix (older .csv objects are not read)."""
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{prefix}/"):
        for entry in page.get("Contents", []):
            key = entry["Key"]
            if (batch_object(key) and key.endswith(".jsonl")) or compacted_object(key):
                yield key, int(entry["Size"])


def sync(s3: Any, bucket: str, cache: Path, prefix: str = RESULTS_PREFIX) -> dict[str, int]:
    """Mirror the bucket's data objects into `cache`; returns how many were downloaded, removed and kept."""
    wanted = dict(data_keys(s3, bucket, prefix))
    root = cache / prefix
    present = (
        {path.relative_to(cache).as_posix() for path in root.rglob("*") if path.is_file()} if root.exists() else set()
    )
    removed = 0
    for key in sorted(present - set(wanted)):
        (cache / key).unlink()
        removed += 1
    downloaded = 0
    for key in sorted(set(wanted) - present):
        target = cache / key
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".partial")
        s3.download_file(bucket, key, str(partial))
        os.replace(partial, target)  # a reader never meets half an object under its real name
        downloaded += 1
    return {"downloaded": downloaded, "removed": removed, "kept": len(present & set(wanted))}


def view_sql(table: str, cache: Path, prefix: str = RESULTS_PREFIX) -> str:
    """CREATE VIEW <table> over the cached objects; an empty dataset gives an empty view with the same columns."""
    if not _IDENTIFIER.fullmatch(table):
        raise QueryError(f"the table name {table!r} is not a plain SQL name (lowercase letters, digits, underscores)")
    root = cache / prefix
    files = sorted(str(path) for path in root.glob("dt=*/*") if path.name.endswith((".jsonl", ".jsonl.gz")))
    if not files:
        typed = ", ".join(f"CAST(NULL AS {DUCKDB_TYPES[kind]}) AS {name}" for name, kind in (*SCHEMA, PARTITION))
        return f"CREATE OR REPLACE VIEW {table} AS SELECT {typed} WHERE false"
    columns = ", ".join(f"'{name}': '{DUCKDB_TYPES[kind]}'" for name, kind in SCHEMA)
    listed = ", ".join(_literal(path) for path in files)
    partition, kind = PARTITION
    # The columns by name: a `key=value` folder above the cache would otherwise become a column of its own.
    selected = ", ".join(name for name, _ in (*SCHEMA, PARTITION))
    # Every part is either checked above (the table name), quoted (the paths) or this module's own constant.
    return (
        f"CREATE OR REPLACE VIEW {table} AS SELECT {selected} FROM read_json([{listed}], "  # noqa: S608
        "format = 'newline_delimited', "
        f"columns = {{{columns}}}, hive_partitioning = true, hive_types = {{'{partition}': '{DUCKDB_TYPES[kind]}'}})"
    )


def run(sql: str, *, table: str, cache: Path) -> QueryResult:
    """The query's result over the cached dataset; raises QueryError with DuckDB's message on bad SQL."""
    import duckdb

    connection = duckdb.connect()
    try:
        connection.execute("SET TimeZone = 'UTC'")
        connection.execute(view_sql(table, cache))
        try:
            cursor = connection.execute(sql)
            if cursor.description is None:
                return QueryResult((), ())
            columns = tuple((column[0], str(column[1])) for column in cursor.description)
            return QueryResult(columns, tuple(tuple(row) for row in cursor.fetchall()))
        except duckdb.Error as exc:
            # Bad SQL, or an object that is not rows of the dataset: DuckDB's own words, on one line.
            raise QueryError(one_line(str(exc))) from None
    finally:
        connection.close()


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
