"""The Glue table over the dataset and the Athena workgroup, as the transformed template declares them
(docs/sql.md): the table is lib/dataset_layout.py's schema, partition projection needs no crawler, and query
results go encrypted to the bucket's athena-results/ prefix, which a lifecycle rule empties."""

from __future__ import annotations

from typing import Any

import pytest

from lib.dataset_layout import PARTITION, SCHEMA, SCHEMA_VERSION

RESULTS_LOCATION = {"Fn::Sub": "s3://${ResultsBucket}/results/"}


def _one(transformed: dict[str, Any], kind: str) -> tuple[str, dict[str, Any]]:
    (found,) = [(lid, r["Properties"]) for lid, r in transformed["Resources"].items() if r["Type"] == kind]
    return found


@pytest.fixture(scope="module")
def table(transformed: dict[str, Any]) -> dict[str, Any]:
    return _one(transformed, "AWS::Glue::Table")[1]["TableInput"]


def test_table_columns_are_the_dataset_schema(table: dict[str, Any]) -> None:
    # GIVEN the Glue table  THEN its columns are SCHEMA's, in order and with its Glue types, and dt is its one
    # partition key, a string
    columns = [(c["Name"], c["Type"]) for c in table["StorageDescriptor"]["Columns"]]
    assert columns == list(SCHEMA)
    assert [(k["Name"], k["Type"]) for k in table["PartitionKeys"]] == [PARTITION]
    assert table["Parameters"]["schema_version"] == str(SCHEMA_VERSION)


def test_table_reads_json_lines_under_the_results_prefix(table: dict[str, Any], transformed: dict[str, Any]) -> None:
    # GIVEN the Glue table  THEN it is an external table over results/ read as text lines by the Hive JSON SerDe
    descriptor = table["StorageDescriptor"]
    assert table["TableType"] == "EXTERNAL_TABLE"
    assert descriptor["Location"] == RESULTS_LOCATION
    assert descriptor["InputFormat"] == "org.apache.hadoop.mapred.TextInputFormat"
    assert descriptor["OutputFormat"] == "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat"
    assert descriptor["SerdeInfo"]["SerializationLibrary"] == "org.apache.hive.hcatalog.data.JsonSerDe"
    # the consumer writes under the same prefix (its RESULTS_PREFIX)
    variables = transformed["Resources"]["ProducerAI"]["Properties"]["Environment"]["Variables"]
    assert descriptor["Location"]["Fn::Sub"].endswith(f"/{variables['RESULTS_PREFIX']}/")


def test_dt_is_projected_daily_up_to_today_from_the_templates_location(table: dict[str, Any]) -> None:
    # GIVEN the table's parameters  THEN partition projection on dt covers every day (yyyy-MM-dd) up to NOW, at
    # results/dt=<day>/ of the bucket (Fn::Sub's ${!dt} is a literal ${dt} for Athena)
    parameters = table["Parameters"]
    projection = {key: value for key, value in parameters.items() if key.startswith(("projection.", "storage."))}
    start, end = projection.pop("projection.dt.range").split(",")
    assert end == "NOW"
    assert len(start) == len("yyyy-MM-dd") and start[4] == start[7] == "-"
    assert projection == {
        "projection.enabled": "true",
        "projection.dt.type": "date",
        "projection.dt.format": "yyyy-MM-dd",
        "projection.dt.interval": "1",
        "projection.dt.interval.unit": "DAYS",
        "storage.location.template": {"Fn::Sub": "s3://${ResultsBucket}/results/dt=${!dt}/"},
    }


def test_table_lives_in_the_stacks_database(transformed: dict[str, Any]) -> None:
    # GIVEN the database and table  THEN the table names the database, named after the stack with underscores
    database_id, database = _one(transformed, "AWS::Glue::Database")
    assert _one(transformed, "AWS::Glue::Table")[1]["DatabaseName"] == {"Ref": database_id}
    assert database["DatabaseInput"]["Name"] == {"Fn::Join": ["_", {"Fn::Split": ["-", {"Ref": "AWS::StackName"}]}]}


def test_workgroup_writes_encrypted_results_to_the_bucket_and_enforces_it(transformed: dict[str, Any]) -> None:
    # GIVEN the Athena workgroup  THEN results go to athena-results/ with SSE-S3, queries cannot override it, a
    # runaway query is cancelled, and deleting the stack deletes it even with saved queries in it
    _, group = _one(transformed, "AWS::Athena::WorkGroup")
    configuration = group["WorkGroupConfiguration"]
    assert configuration["ResultConfiguration"] == {
        "OutputLocation": {"Fn::Sub": "s3://${ResultsBucket}/athena-results/"},
        "EncryptionConfiguration": {"EncryptionOption": "SSE_S3"},
    }
    assert configuration["EnforceWorkGroupConfiguration"] is True
    assert configuration["EngineVersion"] == {"SelectedEngineVersion": "Athena engine version 3"}
    # Athena's minimum is 10 MB; the guard is above it and below a terabyte
    assert 10_000_000 <= configuration["BytesScannedCutoffPerQuery"] < 10**12
    assert group["RecursiveDeleteOption"] is True


def test_query_results_expire_and_stay_outside_the_table(transformed: dict[str, Any], table: dict[str, Any]) -> None:
    # GIVEN the workgroup's output location  THEN the bucket's lifecycle expires that prefix, and the prefix is not
    # under the table's location (the table would read Athena's result files as rows)
    _, group = _one(transformed, "AWS::Athena::WorkGroup")
    output = group["WorkGroupConfiguration"]["ResultConfiguration"]["OutputLocation"]["Fn::Sub"]
    prefix = output.removeprefix("s3://${ResultsBucket}/")
    rules = transformed["Resources"]["ResultsBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    (expiry,) = [rule for rule in rules if rule.get("Prefix") == prefix]
    assert expiry["Status"] == "Enabled" and expiry["ExpirationInDays"] >= 1
    assert not output.startswith(table["StorageDescriptor"]["Location"]["Fn::Sub"])


def test_outputs_name_the_database_table_and_workgroup(transformed: dict[str, Any]) -> None:
    # GIVEN the outputs  THEN the query command finds the three by them
    outputs = {key: value["Value"] for key, value in transformed["Outputs"].items()}
    ids = {kind: _one(transformed, kind)[0] for kind in ("AWS::Glue::Database", "AWS::Glue::Table")}
    ids["AWS::Athena::WorkGroup"] = _one(transformed, "AWS::Athena::WorkGroup")[0]
    assert outputs["DatasetDatabaseName"] == {"Ref": ids["AWS::Glue::Database"]}
    assert outputs["DatasetTableName"] == {"Ref": ids["AWS::Glue::Table"]}
    assert outputs["QueryWorkGroupName"] == {"Ref": ids["AWS::Athena::WorkGroup"]}
