"""Local mode's Glue database and table and Athena workgroup, made from the template's own properties
(watchlist_workstation/local/catalog.py) and read back through the Glue and Athena APIs."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from tests.stack_fixture import Stack
from tests.template_fixture import REGION
from watchlist_workstation.local import catalog

pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse .* not supported by moto:UserWarning")


def _declared(transformed: dict[str, Any], kind: str) -> dict[str, Any]:
    (properties,) = [r["Properties"] for r in transformed["Resources"].values() if r["Type"] == kind]
    return properties


@pytest.fixture
def applied(stack: Stack) -> catalog.Catalog:
    return catalog.apply(
        boto3.client("cloudformation", region_name=REGION),
        boto3.client("glue", region_name=REGION),
        boto3.client("athena", region_name=REGION),
        stack.name,
    )


def test_database_and_table_are_the_templates_with_the_stacks_names(
    stack: Stack, applied: catalog.Catalog, transformed: dict[str, Any]
) -> None:
    # GIVEN a stack created from template.yml in moto (whose CloudFormation skips Glue)  WHEN the catalog is applied
    glue = boto3.client("glue", region_name=REGION)
    database = glue.get_database(Name=applied.database)["Database"]
    table = glue.get_table(DatabaseName=applied.database, Name=applied.table)["Table"]
    # THEN the database is named after the stack (hyphens to underscores) and the table is the template's,
    # with the bucket and the stack resolved into its location and projection template
    assert database["Name"] == stack.name.replace("-", "_")
    declared = _declared(transformed, "AWS::Glue::Table")["TableInput"]
    bucket = stack.bucket
    assert table["Name"] == declared["Name"] == "results"
    assert table["TableType"] == "EXTERNAL_TABLE"
    assert table["PartitionKeys"] == declared["PartitionKeys"]
    descriptor = table["StorageDescriptor"]
    assert descriptor["Columns"] == declared["StorageDescriptor"]["Columns"]
    assert descriptor["Location"] == f"s3://{bucket}/results/"
    assert descriptor["SerdeInfo"] == declared["StorageDescriptor"]["SerdeInfo"]
    assert (descriptor["InputFormat"], descriptor["OutputFormat"]) == (
        declared["StorageDescriptor"]["InputFormat"],
        declared["StorageDescriptor"]["OutputFormat"],
    )
    expected_parameters = {k: v for k, v in declared["Parameters"].items() if k != "storage.location.template"}
    expected_parameters["storage.location.template"] = f"s3://{bucket}/results/dt=${{dt}}/"
    assert table["Parameters"] == expected_parameters


def test_workgroup_is_the_templates_with_encrypted_results_in_the_bucket(
    stack: Stack, applied: catalog.Catalog, transformed: dict[str, Any]
) -> None:
    # GIVEN the applied catalog  WHEN the workgroup is read back through Athena
    group = boto3.client("athena", region_name=REGION).get_work_group(WorkGroup=applied.workgroup)["WorkGroup"]
    declared = _declared(transformed, "AWS::Athena::WorkGroup")["WorkGroupConfiguration"]
    # THEN it is named after the stack and carries the template's configuration, results going encrypted to the bucket
    assert group["Name"] == f"{stack.name}-queries"
    configuration = group["Configuration"]
    assert configuration["ResultConfiguration"] == {
        "OutputLocation": f"s3://{stack.bucket}/athena-results/",
        "EncryptionConfiguration": {"EncryptionOption": "SSE_S3"},
    }
    for key in ("EnforceWorkGroupConfiguration", "BytesScannedCutoffPerQuery", "EngineVersion"):
        assert configuration[key] == declared[key]


def test_applying_again_updates_in_place(stack: Stack, applied: catalog.Catalog) -> None:
    # GIVEN an applied catalog  WHEN applied a second time (make-infra --local after a restart)
    again = catalog.apply(
        boto3.client("cloudformation", region_name=REGION),
        boto3.client("glue", region_name=REGION),
        boto3.client("athena", region_name=REGION),
        stack.name,
    )
    # THEN the same names come back and there is still one table and one workgroup of the stack
    assert again == applied
    glue = boto3.client("glue", region_name=REGION)
    assert [t["Name"] for t in glue.get_tables(DatabaseName=applied.database)["TableList"]] == ["results"]
    groups = boto3.client("athena", region_name=REGION).list_work_groups()["WorkGroups"]
    assert [g["Name"] for g in groups].count(applied.workgroup) == 1


def test_names_need_no_catalog_call(stack: Stack) -> None:
    # GIVEN a stack whose catalog was never applied  WHEN its names are asked
    found = catalog.names(boto3.client("cloudformation", region_name=REGION), stack.name)
    # THEN they come from the template alone
    assert found == catalog.Catalog(stack.name.replace("-", "_"), "results", f"{stack.name}-queries")
