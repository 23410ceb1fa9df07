"""The local query engine's parts (watchlist_workstation/sql/local.py, docs/sql.md "Locally"): which objects the
cache mirrors, and the DuckDB view over them, in-process (moto's S3, no local stack)."""

from __future__ import annotations

import gzip

import boto3
import pytest

from lib.dataset_layout import PARTITION, SCHEMA, compacted_key, encode_rows
from tests import sql_dataset
from watchlist_workstation.sql import QueryError, local

BUCKET = "query-cache-test"


@pytest.fixture
def s3(aws):
    client = boto3.client("s3", region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    return client


def test_sync_mirrors_only_the_datasets_json_lines_objects(s3, tmp_path) -> None:
    # GIVEN a batch object, a compacted one, and keys that are not JSON Lines data objects of the dataset
    day = sql_dataset.day(1)
    rows = encode_rows([sql_dataset.ROWS[0]])
    wanted = [f"results/dt={day}/part-{'a' * 32}.jsonl", compacted_key("results", day, "b" * 16, 0, 1)]
    s3.put_object(Bucket=BUCKET, Key=wanted[0], Body=rows)
    s3.put_object(Bucket=BUCKET, Key=wanted[1], Body=gzip.compress(rows))
    for other in (f"results/dt={day}/part-{'c' * 32}.csv", f"manifests/dt={day}.json", "athena-results/q.csv"):
        s3.put_object(Bucket=BUCKET, Key=other, Body=b"x")
    # WHEN synced twice
    first = local.sync(s3, BUCKET, tmp_path)
    second = local.sync(s3, BUCKET, tmp_path)
    # THEN the two data objects are downloaded once, under their keys, and nothing else
    assert first == {"downloaded": 2, "removed": 0, "kept": 0}
    assert second == {"downloaded": 0, "removed": 0, "kept": 2}
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()) == sorted(wanted)


def test_sync_drops_the_copy_of_an_object_gone_from_the_bucket(s3, tmp_path) -> None:
    # GIVEN a cached batch object  WHEN compaction deleted it and the cache syncs again  THEN its copy goes too
    key = f"results/dt={sql_dataset.day(2)}/part-{'d' * 32}.jsonl"
    s3.put_object(Bucket=BUCKET, Key=key, Body=encode_rows([sql_dataset.ROWS[1]]))
    local.sync(s3, BUCKET, tmp_path)
    s3.delete_object(Bucket=BUCKET, Key=key)
    assert local.sync(s3, BUCKET, tmp_path) == {"downloaded": 0, "removed": 1, "kept": 0}
    assert not (tmp_path / key).exists()


def test_an_empty_dataset_is_an_empty_table_with_the_schema(tmp_path) -> None:
    # GIVEN no objects  WHEN the table is counted and described  THEN no rows, and SCHEMA's columns then dt
    assert local.run("SELECT count(*) AS n FROM results", table="results", cache=tmp_path).rows == ((0,),)
    described = local.run("DESCRIBE results", table="results", cache=tmp_path).rows
    types = {"string": "VARCHAR", "double": "DOUBLE", "bigint": "BIGINT", "int": "INTEGER"}
    assert [(r[0], r[1]) for r in described] == [(name, types[kind]) for name, kind in (*SCHEMA, PARTITION)]


def test_the_view_reads_gzip_and_plain_objects_and_ignores_folders_above_the_cache(s3, tmp_path) -> None:
    # GIVEN a cache below a folder named like a partition (key=value), holding a plain and a gzip'd object
    cache = tmp_path / "region=here" / "cache"
    day = sql_dataset.day(3)
    s3.put_object(Bucket=BUCKET, Key=f"results/dt={day}/part-{'e' * 32}.jsonl", Body=encode_rows(sql_dataset.ROWS[:2]))
    compacted = gzip.compress(encode_rows(sql_dataset.ROWS[2:3]))
    s3.put_object(Bucket=BUCKET, Key=compacted_key("results", day, "f" * 16, 0, 1), Body=compacted)
    local.sync(s3, BUCKET, cache)
    # WHEN the rows are read
    result = local.run("SELECT name, run_id, dt FROM results ORDER BY run_id", table="results", cache=cache)
    # THEN all three are there, dt from the object's folder, and no `region` column appeared
    assert result.rows == (("Acme", "run-01", day), ("Acme", "run-02", day), ("Acme", "run-03", day))
    assert "region" not in local.run("SELECT * FROM results", table="results", cache=cache).names


def test_a_table_name_that_is_not_a_plain_name_is_refused(tmp_path) -> None:
    with pytest.raises(QueryError, match="not a plain SQL name"):
        local.run("SELECT 1", table="results; DROP", cache=tmp_path)
