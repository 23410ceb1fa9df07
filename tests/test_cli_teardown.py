"""teardown: the ordered deletion of a stack and everything it created (watchlist_workstation.deploy.teardown),
through the CLI and directly, against moto."""

from __future__ import annotations

import datetime
import warnings
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber

from tests.infra_fixture import (
    REGION,
    bucket_names,
    invoke,
    log_group_names,
    stack_exists,
    stderr_lines,
)
from tests.template_fixture import REQUIRED_PARAMETERS
from watchlist_workstation.cli import deploy as infra_cli
from watchlist_workstation.deploy import artifacts, teardown
from watchlist_workstation.deploy.offline import deploy_offline

# moto warns about each resource type it skips (bucket and queue policies, alarms), on create and on delete.
# moto_honours_tls_only_policy: the artifact bucket's TLS-only policy would otherwise refuse every request.
pytestmark = [
    pytest.mark.filterwarnings("ignore:Tried to parse AWS.*:UserWarning"),
    pytest.mark.usefixtures("moto_honours_tls_only_policy"),
]


@dataclass
class Deployed:
    name: str
    outputs: dict[str, str]
    artifact_bucket: str


@pytest.fixture
def deployed(stack, cli_runner, workdir) -> Deployed:
    """The `stack` fixture plus what make-infra leaves around it: an artifact bucket holding code,
    a results bucket with two versions and a delete marker, a log group Lambda recreated, build/."""
    s3 = boto3.client("s3", region_name=REGION)
    artifact_bucket = invoke(cli_runner, "artifact-bucket").stdout.strip()
    s3.put_object(Bucket=artifact_bucket, Key=f"{stack.name}/code.zip", Body=b"zip")
    # The template versions the bucket; moto's CloudFormation ignores VersioningConfiguration, so it is set here.
    s3.put_bucket_versioning(Bucket=stack.bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket=stack.bucket, Key="results/dt=2024-01-01/part-a.csv", Body=b"v1")
    s3.put_object(Bucket=stack.bucket, Key="results/dt=2024-01-01/part-a.csv", Body=b"v2")
    s3.delete_object(Bucket=stack.bucket, Key="results/dt=2024-01-01/part-a.csv")
    listing = s3.list_object_versions(Bucket=stack.bucket)
    assert len(listing["Versions"]) == 2 and len(listing["DeleteMarkers"]) == 1
    boto3.client("logs", region_name=REGION).create_log_group(logGroupName=f"/aws/lambda/{stack.name}/late-writer")
    (workdir / "build" / "functions").mkdir(parents=True)
    return Deployed(stack.name, stack.outputs, artifact_bucket)


def test_teardown_without_yes_on_a_non_terminal_refuses_and_keeps_the_stack(aws, cli_runner, deployed):
    # GIVEN a deployed stack and stdin that is not a terminal
    # WHEN teardown runs without --yes
    result = invoke(cli_runner, "teardown")
    # THEN one line, exit 1, and everything is still there
    assert result.exit_code == 1
    assert stderr_lines(result) == ["Error: refusing to delete without --yes (stdin is not a terminal)"]
    assert stack_exists(deployed.name)
    assert deployed.artifact_bucket in bucket_names()


def test_teardown_asks_on_a_terminal_and_a_no_keeps_the_stack(aws, cli_runner, deployed, monkeypatch):
    # GIVEN a person at a terminal
    monkeypatch.setattr(infra_cli, "is_interactive", lambda: True)
    # WHEN teardown runs and they answer no
    result = invoke(cli_runner, "teardown", input="n\n")
    # THEN it listed what would go, aborted with exit 1, and deleted nothing
    assert result.exit_code == 1
    assert f"stack {deployed.name} (CREATE_COMPLETE)" in result.stderr
    assert stack_exists(deployed.name)


def test_teardown_stops_the_schedule_and_empties_the_results_bucket_before_deleting_the_stack(
    aws, cli_runner, deployed, monkeypatch
):
    # GIVEN a spy on the stack deletion that looks at the schedule and the results bucket at that moment
    seen = {}
    original = teardown.delete_stack

    def spy(cloudformation, stack_id, **kwargs):
        rule = boto3.client("events", region_name=REGION).describe_rule(Name=deployed.outputs["ScheduleRuleName"])
        versions = boto3.client("s3", region_name=REGION).list_object_versions(
            Bucket=deployed.outputs["ResultsBucketName"]
        )
        seen["rule_state"] = rule["State"]
        seen["left"] = versions.get("Versions", []) + versions.get("DeleteMarkers", [])
        return original(cloudformation, stack_id, **kwargs)

    monkeypatch.setattr(teardown, "delete_stack", spy)
    # WHEN teardown --yes runs
    result = invoke(cli_runner, "teardown", "--yes")
    # THEN when the stack deletion began the rule was already disabled and no version or marker was left
    assert result.exit_code == 0, result.stderr
    assert seen == {"rule_state": "DISABLED", "left": []}
    assert "3 object version(s) and delete marker(s)" in result.stderr


def test_teardown_deletes_the_stack_its_buckets_log_groups_and_local_files(aws, cli_runner, deployed, workdir):
    # GIVEN a deployed stack with its artifact bucket, results, a recreated log group and build/
    # WHEN teardown --yes runs
    result = invoke(cli_runner, "teardown", "--yes")
    # THEN all of it is gone
    assert result.exit_code == 0, result.stderr
    assert not stack_exists(deployed.name)
    assert deployed.artifact_bucket not in bucket_names()
    assert deployed.outputs["ResultsBucketName"] not in bucket_names()
    assert not [g for g in log_group_names() if g.startswith(f"/aws/lambda/{deployed.name}/")]
    assert not (workdir / "build").exists()
    assert not (workdir / ".cfcli" / f"{deployed.name}.json").exists()
    assert stderr_lines(result)[-1] == f"teardown of stack {deployed.name} complete"


def test_teardown_touches_nothing_the_stack_did_not_create(aws, cli_runner, deployed):
    # GIVEN another stack's log group, a bucket of someone else's, and the fixture's untagged code bucket
    boto3.client("logs", region_name=REGION).create_log_group(logGroupName="/aws/lambda/other-stack/x")
    boto3.client("s3", region_name=REGION).create_bucket(Bucket="somebody-elses-bucket")
    # WHEN teardown --yes runs
    result = invoke(cli_runner, "teardown", "--yes")
    # THEN they are all still there
    assert result.exit_code == 0, result.stderr
    assert "/aws/lambda/other-stack/x" in log_group_names()
    assert {"somebody-elses-bucket", "artifacts-cli-tests"} <= bucket_names()


def test_teardown_twice_says_nothing_to_delete_the_second_time(aws, cli_runner, deployed):
    # GIVEN a stack already torn down
    assert invoke(cli_runner, "teardown", "--yes").exit_code == 0
    # WHEN teardown runs again
    result = invoke(cli_runner, "teardown", "--yes")
    # THEN it succeeds and says there was nothing to delete
    assert result.exit_code == 0, result.stderr
    assert stderr_lines(result) == [f"nothing to delete: stack {deployed.name} does not exist in {REGION}"]


def deploy_retaining_data(stack_name: str) -> dict[str, str]:
    """A stack deployed offline with RetainData=true; its outputs."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # moto skips resource types it does not model
        return deploy_offline(
            stack_name,
            {**REQUIRED_PARAMETERS, "RetainData": "true"},
            region=REGION,
            artifact_bucket="artifacts-retain-test",
            cloudformation=boto3.client("cloudformation", region_name=REGION),
            s3=boto3.client("s3", region_name=REGION),
        )


def test_teardown_keeps_the_table_and_results_bucket_when_retain_data_is_true(
    aws, cli_runner, workdir, fresh_stack_name
):
    # GIVEN a stack deployed with RetainData=true and a result in its bucket
    outputs = deploy_retaining_data(fresh_stack_name)
    s3 = boto3.client("s3", region_name=REGION)
    s3.put_object(Bucket=outputs["ResultsBucketName"], Key="results/dt=2024-01-01/part-a.csv", Body=b"kept")
    # WHEN teardown --yes runs
    result = invoke(cli_runner, "teardown", "--yes")
    # THEN the stack is gone, the table and the bucket (with its result) are kept, and it says so
    assert result.exit_code == 0, result.stderr
    assert not stack_exists(fresh_stack_name)
    boto3.client("dynamodb", region_name=REGION).describe_table(TableName=outputs["TableName"])
    assert s3.get_object(Bucket=outputs["ResultsBucketName"], Key="results/dt=2024-01-01/part-a.csv")["Body"].read()
    assert (
        f"kept table {outputs['TableName']}, results bucket {outputs['ResultsBucketName']} (RetainData=true)"
        in result.stderr
    )


def saved_state(root: Path) -> list[Path]:
    """What local mode keeps for a stack: its saved watchlist and its results mirror."""
    table = root / "state" / "table.json"
    table.parent.mkdir(parents=True)
    table.write_text("[]")
    mirror = root / "mirror" / "results"
    (mirror / "dt=2024-01-01").mkdir(parents=True)
    (mirror / "dt=2024-01-01" / "part-a.csv").write_text("name\n")
    return [table, mirror]


def teardown_plan(stack_name: str, **kwargs) -> teardown.TeardownPlan:
    return teardown.plan_teardown(
        stack=boto3.client("cloudformation", region_name=REGION).describe_stacks(StackName=stack_name)["Stacks"][0],
        stack_name=stack_name,
        region=REGION,
        cloudformation=boto3.client("cloudformation", region_name=REGION),
        s3=boto3.client("s3", region_name=REGION),
        logs=boto3.client("logs", region_name=REGION),
        **kwargs,
    )


def execute(plan: teardown.TeardownPlan) -> list[str]:
    reports: list[str] = []
    teardown.execute_teardown(
        plan,
        cloudformation=boto3.client("cloudformation", region_name=REGION),
        s3=boto3.client("s3", region_name=REGION),
        events=boto3.client("events", region_name=REGION),
        logs=boto3.client("logs", region_name=REGION),
        report=reports.append,
    )
    return reports


def test_teardown_of_a_local_stack_removes_its_saved_state_and_no_record_or_build(aws, stack, workdir):
    # GIVEN a stack with state saved on this machine, and an AWS deployment's record and build/ beside it
    paths = saved_state(workdir)
    record = artifacts.record_path(workdir / ".cfcli", stack.name)
    record.parent.mkdir()
    record.write_text("{}")
    (workdir / "build").mkdir()
    # WHEN it is torn down as --local does (no record folder, no build folder)
    plan = teardown_plan(stack.name, state_dir=None, build_dir=None, saved_state=paths)
    reports = execute(plan)
    # THEN the stack and its saved state are gone, each reported; the record and build/ are not touched
    assert not stack_exists(stack.name)
    assert not any(path.exists() for path in paths)
    assert [f"removed {path}" for path in paths] == reports[-2:]
    assert record.exists() and (workdir / "build").exists()


def test_teardown_keeps_the_saved_state_when_retain_data_is_true(aws, workdir, fresh_stack_name):
    # GIVEN a stack deployed with RetainData=true and state saved on this machine
    deploy_retaining_data(fresh_stack_name)
    paths = saved_state(workdir)
    # WHEN the teardown is planned
    plan = teardown_plan(fresh_stack_name, state_dir=None, build_dir=None, saved_state=paths)
    # THEN the saved state is not part of it: the data is kept, here as in the account
    assert plan.retain_data and plan.saved_state == []


# ---------------------------------------------------------------------------------------------- units


def test_delete_failure_names_each_resource_that_failed_in_the_last_attempt_in_one_line(aws_credentials):
    # GIVEN a stack whose last deletion failed on its bucket, after an earlier attempt failed differently
    cloudformation = boto3.client("cloudformation", region_name=REGION)
    stack_id = "arn:aws:cloudformation:us-east-1:123456789012:stack/s/1"
    now = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)

    def event(n, logical_id, resource_type, status, reason=""):
        physical = stack_id if resource_type == "AWS::CloudFormation::Stack" else f"{logical_id}-physical"
        return {
            "EventId": str(n), "StackId": stack_id, "StackName": "s", "Timestamp": now, "LogicalResourceId": logical_id,
            "PhysicalResourceId": physical, "ResourceType": resource_type, "ResourceStatus": status,
            "ResourceStatusReason": reason,
        }  # fmt: skip

    stubber = Stubber(cloudformation)
    stubber.add_response(
        "describe_stacks",
        {"Stacks": [{"StackName": "s", "StackId": stack_id, "StackStatus": "DELETE_FAILED", "CreationTime": now}]},
        {"StackName": stack_id},
    )
    stubber.add_response(
        "describe_stack_events",
        {
            "StackEvents": [
                event(5, "s", "AWS::CloudFormation::Stack", "DELETE_FAILED", "The following resource(s) failed"),
                event(
                    4,
                    "ResultsBucket",
                    "AWS::S3::Bucket",
                    "DELETE_FAILED",
                    "The bucket you tried to delete\nis not empty",
                ),
                event(3, "s", "AWS::CloudFormation::Stack", "DELETE_IN_PROGRESS", "User Initiated"),
                event(2, "WorkQueue", "AWS::SQS::Queue", "DELETE_FAILED", "an older attempt"),
            ]
        },
        {"StackName": stack_id},
    )
    # WHEN the failure is described
    with stubber:
        reason = teardown.delete_failure(cloudformation, stack_id)
    # THEN one line names the resource of the last attempt and why, nothing older
    assert (
        reason
        == "stack s could not be deleted (DELETE_FAILED): ResultsBucket: The bucket you tried to delete is not empty"
    )
