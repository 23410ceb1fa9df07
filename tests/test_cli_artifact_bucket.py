"""artifact-bucket: the stack's own bucket for sam's uploads (watchlist_workstation.deploy.artifacts), against moto."""

from __future__ import annotations

import json

import boto3
import pytest

from tests.infra_fixture import (
    REGION,
    artifact_buckets_of,
    invoke,
)
from watchlist_workstation.deploy import artifacts

# moto warns about each resource type it skips (bucket and queue policies, alarms), on create and on delete.
# moto_honours_tls_only_policy: the artifact bucket's TLS-only policy would otherwise refuse every request.
pytestmark = [
    pytest.mark.filterwarnings("ignore:Tried to parse AWS.*:UserWarning"),
    pytest.mark.usefixtures("moto_honours_tls_only_policy"),
]


def test_artifact_bucket_is_private_encrypted_tls_only_expiring_and_tagged(aws, cli_runner, fresh_stack_name, workdir):
    # GIVEN no artifact bucket
    # WHEN artifact-bucket runs
    result = invoke(cli_runner, "artifact-bucket")
    # THEN it prints the new bucket's name, which follows <stack>-artifacts-<8 hex>
    assert result.exit_code == 0, result.stderr
    bucket = result.stdout.strip()
    prefix = f"{fresh_stack_name}-artifacts-"
    assert bucket.startswith(prefix) and len(bucket) == len(prefix) + 8 and bucket == bucket.lower()
    # AND the bucket carries every protection and both tags
    s3 = boto3.client("s3", region_name=REGION)
    block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert all(block.values()) and len(block) == 4
    rule = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    statement = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])["Statement"][0]
    assert statement["Effect"] == "Deny" and statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    [lifecycle] = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert lifecycle["Status"] == "Enabled" and lifecycle["Expiration"]["Days"] == artifacts.ARTIFACT_EXPIRATION_DAYS
    tags = {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=bucket)["TagSet"]}
    assert tags == {"cfcli:stack": fresh_stack_name, "cfcli:purpose": "artifacts"}


def test_artifact_bucket_is_found_by_its_tags_on_a_machine_without_the_record(
    aws, cli_runner, fresh_stack_name, workdir
):
    # GIVEN a bucket created earlier, and the local record lost (another machine, a fresh clone)
    first = invoke(cli_runner, "artifact-bucket").stdout.strip()
    (workdir / ".cfcli" / f"{fresh_stack_name}.json").unlink()
    # WHEN artifact-bucket runs again
    result = invoke(cli_runner, "artifact-bucket", "--json")
    # THEN the same bucket comes back, no second one is made, and the record is written again
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {"bucket": first, "created": False}
    assert artifact_buckets_of(fresh_stack_name) == [first]
    assert (workdir / ".cfcli" / f"{fresh_stack_name}.json").is_file()


def test_artifact_bucket_ignores_a_bucket_of_that_name_pattern_it_did_not_create(
    aws, cli_runner, fresh_stack_name, workdir
):
    # GIVEN a bucket that looks like ours by name but carries no tag of this stack
    impostor = f"{fresh_stack_name}-artifacts-00000000"
    boto3.client("s3", region_name=REGION).create_bucket(Bucket=impostor)
    # WHEN artifact-bucket runs
    result = invoke(cli_runner, "artifact-bucket")
    # THEN a bucket of its own is created
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() != impostor
    assert len(artifact_buckets_of(fresh_stack_name)) == 2


def test_artifact_bucket_name_fits_s3_rules_for_a_long_stack_name():
    # GIVEN the longest stack name CloudFormation allows, in mixed case
    stack_name = "Stack-" + "x" * 122
    # WHEN a bucket name is made for it
    name = artifacts.new_artifact_bucket_name(stack_name)
    # THEN it is lower-case, at most 63 characters, and ends in -artifacts-<8 hex>
    assert len(name) <= 63 and name == name.lower()
    assert name.rsplit("-", 1)[0].endswith("-artifacts") and len(name.rsplit("-", 1)[1]) == 8
