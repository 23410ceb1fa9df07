"""make-infra, teardown and artifact-bucket: the CLI over watchlist_workstation.deploy.infra, against moto.

The AWS boundary that is not an API call, the `sam deploy` subprocess, is faked at
watchlist_workstation.deploy.infra.run_sam: the fake records each argv and plays sam's part by creating the
stack in moto from template.yml (watchlist_workstation.deploy.offline.deploy_offline), answering "No changes to
deploy" or failing, as each test scripts it. The build is faked too, except in one test.
"""

from __future__ import annotations

import datetime
import itertools
import json
import shutil
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from moto.iam.access_control import PermissionResult
from moto.s3.models import FakeBucket
from samcli.cli.types import CfnParameterOverridesType

import cfcli  # noqa: F401 - registers every command on the group
from watchlist_workstation.cli import deploy as infra_cli
from watchlist_workstation.cli.app import cli
from watchlist_workstation.deploy import build as builder
from watchlist_workstation.deploy import infra
from watchlist_workstation.deploy.offline import deploy_offline

# moto warns about each resource type it skips (bucket and queue policies, alarms), on create and on delete.
pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse AWS.*:UserWarning")

REGION = "us-east-1"
REPO = Path(__file__).resolve().parents[1]
_unique = itertools.count(1)


# ---------------------------------------------------------------------------------------------- fixtures


@pytest.fixture(autouse=True)
def moto_honours_tls_only_policy(monkeypatch):
    """moto treats a Deny statement whose Condition it cannot evaluate as an unconditional deny, so the
    artifact bucket's "deny unless aws:SecureTransport" policy would refuse every object request. boto3
    always reaches AWS over TLS, where that policy lets the request through: moto is made to agree, for
    that exact policy only (any other policy is still judged by moto)."""
    original = FakeBucket.get_permission

    def get_permission(self, action, resource):
        if self.policy and json.loads(self.policy) == infra.tls_only_policy(self.name):
            return PermissionResult.NEUTRAL
        return original(self, action, resource)

    monkeypatch.setattr(FakeBucket, "get_permission", get_permission)


@pytest.fixture
def workdir(tmp_path, monkeypatch) -> Path:
    """build/ and .cfcli/ in a temporary folder, so no test touches the checkout's."""
    monkeypatch.setattr(infra_cli, "BUILD_DIR", tmp_path / "build")
    monkeypatch.setattr(infra_cli, "STATE_DIR", tmp_path / ".cfcli")
    return tmp_path


@pytest.fixture
def fresh_stack_name(monkeypatch) -> str:
    name = f"infra-test-{next(_unique)}"
    monkeypatch.setenv("CFCLI_STACK_NAME", name)
    return name


@dataclass
class FakeBuild:
    calls: list[tuple[Path, Path]] = field(default_factory=list)

    def __call__(self, root: Path, out: Path, **_: object) -> dict:
        self.calls.append((root, out))
        out.mkdir(parents=True, exist_ok=True)
        (out / "template.yml").write_text("# built\n")
        return {"out": str(out), "template": "template.yml", "limit_bytes": 1, "layers": {}, "functions": {}}


@pytest.fixture
def fake_build(monkeypatch, workdir) -> FakeBuild:
    fake = FakeBuild()
    monkeypatch.setattr(builder, "build", fake)
    return fake


def argv_value(argv: list[str], option: str) -> str:
    return argv[argv.index(option) + 1]


def argv_parameters(argv: list[str]) -> dict[str, str]:
    """What sam itself would read from --parameter-overrides (its own click type parses them)."""
    if "--parameter-overrides" not in argv:
        return {}
    tokens = argv[argv.index("--parameter-overrides") + 1 :]
    return CfnParameterOverridesType().convert(tuple(tokens), None, None)


@dataclass
class FakeSam:
    """Plays `sam deploy`: each call takes the next scripted outcome ("deploy", "unchanged" or "fail")."""

    outcomes: list[str] = field(default_factory=list)
    calls: list[list[str]] = field(default_factory=list)
    envs: list[dict[str, str]] = field(default_factory=list)

    def __call__(self, argv, *, env, cwd, on_line) -> infra.SamResult:
        self.calls.append(list(argv))
        self.envs.append(dict(env))
        outcome = self.outcomes.pop(0) if self.outcomes else "deploy"
        stack_name = argv_value(argv, "--stack-name")
        if outcome == "fail":
            lines = [
                "Initiating deployment",
                "Error: Failed to create changeset for the stack: "
                + stack_name
                + ", ex: Waiter ChangeSetCreateComplete",
                "failed: Status: FAILED. Reason: Parameter LogRetentionDays must be one of AllowedValues",
            ]
            code = 1
        elif outcome == "unchanged":
            lines = ["Initiating deployment", f"No changes to deploy. Stack {stack_name} is up to date"]
            code = 0
        else:
            assert Path(argv_value(argv, "--template-file")).is_file(), "sam deploys the built template"
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # moto skips resource types it does not model
                deploy_offline(
                    stack_name,
                    argv_parameters(argv),
                    region=argv_value(argv, "--region"),
                    artifact_bucket=argv_value(argv, "--s3-bucket"),
                    cloudformation=boto3.client("cloudformation", region_name=REGION),
                    s3=boto3.client("s3", region_name=REGION),
                )
            lines = ["Initiating deployment", f"Successfully created/updated stack - {stack_name} in {REGION}"]
            code = 0
        for line in lines:
            on_line(line)
        return infra.SamResult(code, lines)


@pytest.fixture
def fake_sam(monkeypatch) -> FakeSam:
    fake = FakeSam()
    monkeypatch.setattr(infra, "find_sam", lambda: "/opt/sam/bin/sam")
    monkeypatch.setattr(infra, "run_sam", fake)
    return fake


def invoke(cli_runner, *args: str, input: str | None = None):
    return cli_runner.invoke(cli, list(args), input=input)


def stderr_lines(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.strip()]


def stack_exists(name: str) -> bool:
    try:
        stack = boto3.client("cloudformation", region_name=REGION).describe_stacks(StackName=name)["Stacks"][0]
    except ClientError:
        return False
    return stack["StackStatus"] != "DELETE_COMPLETE"


def bucket_names() -> set[str]:
    return {b["Name"] for b in boto3.client("s3", region_name=REGION).list_buckets()["Buckets"]}


def artifact_buckets_of(stack_name: str) -> list[str]:
    return sorted(b for b in bucket_names() if b.startswith(infra.artifact_bucket_prefix(stack_name)))


def log_group_names() -> set[str]:
    logs = boto3.client("logs", region_name=REGION)
    return {
        g["logGroupName"] for page in logs.get_paginator("describe_log_groups").paginate() for g in page["logGroups"]
    }


# ---------------------------------------------------------------------------------------------- make-infra


def test_make_infra_deploys_and_prints_the_stack_outputs(aws, cli_runner, fake_build, fake_sam, fresh_stack_name):
    # GIVEN no stack yet
    # WHEN make-infra runs
    result = invoke(cli_runner, "make-infra", "--json")
    # THEN sam deployed it once, and stdout holds exactly the stack's outputs
    assert result.exit_code == 0, result.stderr
    assert len(fake_sam.calls) == 1
    outputs = json.loads(result.stdout)
    stack = boto3.client("cloudformation", region_name=REGION).describe_stacks(StackName=fresh_stack_name)["Stacks"][0]
    assert outputs == {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    assert {"TableName", "ResultsBucketName", "ScheduleRuleName"} <= set(outputs)
    assert f"stack {fresh_stack_name} deployed" in result.stderr


def test_make_infra_prints_the_outputs_as_a_table(aws, cli_runner, fake_build, fake_sam, fresh_stack_name):
    # GIVEN no stack yet
    # WHEN make-infra runs without --json
    result = invoke(cli_runner, "make-infra")
    # THEN stdout is an output/value table, sam's own lines went to stderr
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["output", "value"]
    assert any(line.split()[0] == "TableName" for line in lines[1:])
    assert "Initiating deployment" in result.stderr and "Initiating deployment" not in result.stdout


def test_make_infra_rerun_without_changes_says_up_to_date(aws, cli_runner, fake_build, fake_sam, fresh_stack_name):
    # GIVEN a deployed stack
    assert invoke(cli_runner, "make-infra").exit_code == 0
    # WHEN make-infra runs again and sam finds nothing to change
    fake_sam.outcomes = ["unchanged"]
    result = invoke(cli_runner, "make-infra")
    # THEN it succeeds, says so, and still prints the outputs
    assert result.exit_code == 0, result.stderr
    assert f"stack {fresh_stack_name} is up to date" in stderr_lines(result)
    assert "TableName" in result.stdout


def test_make_infra_passes_capabilities_parameters_and_the_artifact_bucket_to_sam(
    aws, cli_runner, fake_build, fake_sam, fresh_stack_name, workdir
):
    # GIVEN parameters, one with spaces and parentheses
    # WHEN make-infra runs
    result = invoke(
        cli_runner,
        "--region",
        REGION,
        "make-infra",
        "-p",
        "NotificationEmail=ops@example.com",
        "--parameter",
        "ScheduleExpression=rate(10 minutes)",
    )
    # THEN sam deploy gets the built template, the stack's bucket and prefix, both capabilities, and the
    # parameters exactly as sam's own parser reads them back
    assert result.exit_code == 0, result.stderr
    argv = fake_sam.calls[0]
    assert argv[:2] == ["/opt/sam/bin/sam", "deploy"]
    assert argv_value(argv, "--template-file") == str(workdir / "build" / "template.yml")
    assert argv_value(argv, "--stack-name") == fresh_stack_name
    assert argv_value(argv, "--s3-bucket") == artifact_buckets_of(fresh_stack_name)[0]
    assert argv_value(argv, "--s3-prefix") == fresh_stack_name
    assert argv_value(argv, "--region") == REGION
    capabilities = argv.index("--capabilities")
    assert argv[capabilities + 1 : capabilities + 3] == ["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"]
    assert {"--no-confirm-changeset", "--no-fail-on-empty-changeset"} <= set(argv)
    assert argv_parameters(argv) == {"NotificationEmail": "ops@example.com", "ScheduleExpression": "rate(10 minutes)"}
    # AND the deployed stack has them
    stack = boto3.client("cloudformation", region_name=REGION).describe_stacks(StackName=fresh_stack_name)["Stacks"][0]
    parameters = {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}
    assert parameters["ScheduleExpression"] == "rate(10 minutes)"


def test_sam_runs_without_telemetry_and_reaches_the_cli_endpoint():
    # GIVEN an emulator endpoint given to the CLI (sam deploy has no --endpoint-url option)
    # WHEN the environment for sam is made
    env = infra.sam_environment("http://127.0.0.1:4566", base={"PATH": "/bin"})
    # THEN botocore inside sam sends every call there, and sam reports no usage
    assert env == {
        "PATH": "/bin",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:4566",
        "SAM_CLI_TELEMETRY": "0",
        "PYTHONUNBUFFERED": "1",
    }


def test_make_infra_without_sam_fails_with_one_line(aws, cli_runner, fake_build, monkeypatch, tmp_path):
    # GIVEN no sam beside the interpreter and none on PATH
    monkeypatch.setattr("sys.executable", str(tmp_path / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))
    calls = []
    monkeypatch.setattr(infra, "run_sam", lambda *a, **k: calls.append(a))
    # WHEN make-infra runs
    result = invoke(cli_runner, "make-infra")
    # THEN one clear line, exit 1, nothing built or run
    assert result.exit_code == 1
    assert stderr_lines(result) == ["Error: the SAM CLI is not installed: run 'make install'"]
    assert calls == [] and fake_build.calls == []


def test_make_infra_without_credentials_fails_before_any_work(
    aws_credentials, cli_runner, fake_build, fake_sam, monkeypatch, tmp_path
):
    # GIVEN no credentials anywhere botocore looks (environment, files, instance metadata)
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SECURITY_TOKEN", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    # WHEN make-infra runs
    result = invoke(cli_runner, "make-infra")
    # THEN one line, exit 1, and neither the build nor sam ran
    assert result.exit_code == 1
    lines = stderr_lines(result)
    assert len(lines) == 1 and lines[0].startswith("Error: no AWS credentials"), lines
    assert fake_sam.calls == [] and fake_build.calls == []


def test_make_infra_reports_a_sam_failure_in_one_final_line(aws, cli_runner, fake_build, fake_sam, fresh_stack_name):
    # GIVEN sam fails (its own error spans two lines)
    fake_sam.outcomes = ["fail"]
    # WHEN make-infra runs
    result = invoke(cli_runner, "make-infra")
    # THEN exit 1; sam's output was streamed, and the last line says what failed, in one line
    assert result.exit_code == 1
    lines = stderr_lines(result)
    assert "Initiating deployment" in lines
    assert lines[-1] == (
        f"Error: sam deploy failed for stack {fresh_stack_name} (exit 1): Failed to create changeset for the stack: "
        f"{fresh_stack_name}, ex: Waiter ChangeSetCreateComplete failed: Status: FAILED. "
        "Reason: Parameter LogRetentionDays must be one of AllowedValues"
    )
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_make_infra_refuses_an_unknown_parameter_as_a_usage_error(aws, cli_runner, fake_build, fake_sam):
    # GIVEN a parameter name the template does not have (a typo)
    # WHEN make-infra runs
    result = invoke(cli_runner, "make-infra", "-p", "NotificationEmial=ops@example.com")
    # THEN usage error (exit 2) naming it, before anything ran
    assert result.exit_code == 2
    assert "NotificationEmial is not a parameter of template.yml" in result.stderr
    assert fake_sam.calls == [] and fake_build.calls == []


def test_make_infra_creates_the_artifact_bucket_once_and_reuses_it(
    aws, cli_runner, fake_build, fake_sam, fresh_stack_name, workdir
):
    # GIVEN no artifact bucket
    # WHEN make-infra runs twice
    assert invoke(cli_runner, "make-infra").exit_code == 0
    fake_sam.outcomes = ["unchanged"]
    assert invoke(cli_runner, "make-infra").exit_code == 0
    # THEN one bucket exists, both deploys used it, and it is recorded locally
    [bucket] = artifact_buckets_of(fresh_stack_name)
    assert [argv_value(argv, "--s3-bucket") for argv in fake_sam.calls] == [bucket, bucket]
    record = json.loads((workdir / ".cfcli" / f"{fresh_stack_name}.json").read_text())
    assert record == {"stack_name": fresh_stack_name, "artifact_buckets": {REGION: bucket}}


def test_make_infra_build_failure_fails_in_one_line_before_any_upload(aws, cli_runner, fake_sam, monkeypatch, workdir):
    # GIVEN a build that exceeds Lambda's size limit
    report = {"out": str(workdir / "build"), "template": "template.yml", "limit_bytes": 10, "layers": {}}
    report["functions"] = {
        "ProducerAI": {
            "folder": "functions/ProducerAI",
            "code_bytes": 11,
            "code_zipped_bytes": 5,
            "layers": [],
            "unzipped_bytes": 11,
            "zipped_bytes": 5,
            "limit_fraction": 1.1,
        }
    }

    def too_large(root, out, **_):
        builder.check_sizes(report, 10)

    monkeypatch.setattr(builder, "build", too_large)
    stack_name = f"infra-test-{next(_unique)}"
    # WHEN make-infra runs
    result = invoke(cli_runner, "--stack-name", stack_name, "make-infra")
    # THEN the size table is shown, the last line names the function, sam never ran, no bucket was made
    assert result.exit_code == 1
    assert "Lambda bundles in" in result.stderr
    assert stderr_lines(result)[-1] == (
        "Error: build failed: over Lambda's unzipped limit of 10 bytes (code + layers): ProducerAI 11 B"
    )
    assert fake_sam.calls == [] and artifact_buckets_of(stack_name) == []


@pytest.mark.network  # the deps layer comes from PyPI unless the checkout's build/ already holds it
def test_make_infra_runs_the_real_build(aws, cli_runner, fake_sam, fresh_stack_name, workdir):
    # GIVEN the real project, built into a temporary build/ (seeded with the checkout's deps layer, if any,
    # so the build's own stamp skips pip)
    seed = REPO / "build" / "layers"
    if (seed / "deps.stamp").is_file():
        shutil.copytree(seed / "deps", workdir / "build" / "layers" / "deps")
        shutil.copy(seed / "deps.stamp", workdir / "build" / "layers" / "deps.stamp")
    # WHEN make-infra runs
    result = invoke(cli_runner, "make-infra")
    # THEN the size table went to stderr, and sam deployed the template the build wrote
    assert result.exit_code == 0, result.stderr
    assert "Lambda bundles in" in result.stderr and "ServerlessProducer" in result.stderr
    template = Path(argv_value(fake_sam.calls[0], "--template-file"))
    assert template == workdir / "build" / "template.yml" and template.is_file()
    assert (workdir / "build" / "functions" / "ProducerAI" / "lambda_function.py").is_file()


# ---------------------------------------------------------------------------------------------- artifact-bucket


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
    assert lifecycle["Status"] == "Enabled" and lifecycle["Expiration"]["Days"] == infra.ARTIFACT_EXPIRATION_DAYS
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


# ---------------------------------------------------------------------------------------------- teardown


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
    original = infra.delete_stack

    def spy(cloudformation, stack_id, **kwargs):
        rule = boto3.client("events", region_name=REGION).describe_rule(Name=deployed.outputs["ScheduleRuleName"])
        versions = boto3.client("s3", region_name=REGION).list_object_versions(
            Bucket=deployed.outputs["ResultsBucketName"]
        )
        seen["rule_state"] = rule["State"]
        seen["left"] = versions.get("Versions", []) + versions.get("DeleteMarkers", [])
        return original(cloudformation, stack_id, **kwargs)

    monkeypatch.setattr(infra, "delete_stack", spy)
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


def test_teardown_keeps_the_table_and_results_bucket_when_retain_data_is_true(
    aws, cli_runner, workdir, fresh_stack_name
):
    # GIVEN a stack deployed with RetainData=true and a result in its bucket
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        outputs = deploy_offline(
            fresh_stack_name,
            {"RetainData": "true"},
            region=REGION,
            artifact_bucket="artifacts-retain-test",
            cloudformation=boto3.client("cloudformation", region_name=REGION),
            s3=boto3.client("s3", region_name=REGION),
        )
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


def teardown_plan(stack_name: str, **kwargs) -> infra.TeardownPlan:
    return infra.plan_teardown(
        stack=boto3.client("cloudformation", region_name=REGION).describe_stacks(StackName=stack_name)["Stacks"][0],
        stack_name=stack_name,
        region=REGION,
        cloudformation=boto3.client("cloudformation", region_name=REGION),
        s3=boto3.client("s3", region_name=REGION),
        logs=boto3.client("logs", region_name=REGION),
        **kwargs,
    )


def execute(plan: infra.TeardownPlan) -> list[str]:
    reports: list[str] = []
    infra.execute_teardown(
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
    record = infra.record_path(workdir / ".cfcli", stack.name)
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
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        deploy_offline(
            fresh_stack_name,
            {"RetainData": "true"},
            region=REGION,
            artifact_bucket="artifacts-retain-test",
            cloudformation=boto3.client("cloudformation", region_name=REGION),
            s3=boto3.client("s3", region_name=REGION),
        )
    paths = saved_state(workdir)
    # WHEN the teardown is planned
    plan = teardown_plan(fresh_stack_name, state_dir=None, build_dir=None, saved_state=paths)
    # THEN the saved state is not part of it: the data is kept, here as in the account
    assert plan.retain_data and plan.saved_state == []


# ---------------------------------------------------------------------------------------------- units


@pytest.mark.parametrize(
    "value",
    ["", "ops@example.com", "rate(10 minutes)", 'say "hi"', "a=b,c=d", "it's", "  padded  ", "C:\\path\\x"],
)
def test_sam_parameter_round_trips_through_sams_own_parser(value):
    # GIVEN a parameter value
    # WHEN it is written for sam and read back by sam's --parameter-overrides type
    token = infra.sam_parameter("Key", value)
    # THEN sam reads exactly the value
    assert CfnParameterOverridesType().convert((token,), None, None) == {"Key": value}


def test_sam_parameter_refuses_a_value_sam_would_change():
    # GIVEN a value with a backslash before a quote (sam would unescape it)
    # WHEN / THEN it is refused instead of deployed changed
    with pytest.raises(ValueError, match="backslash"):
        infra.sam_parameter("Key", 'a\\"b')


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("CREATE_COMPLETE", None),
        ("UPDATE_ROLLBACK_COMPLETE", None),
        ("ROLLBACK_COMPLETE", "teardown --yes"),
        ("UPDATE_IN_PROGRESS", "wait until CloudFormation has finished"),
        ("DELETE_FAILED", "teardown --yes"),
    ],
)
def test_deploy_blocker_names_stack_states_cloudformation_cannot_update(status, expected):
    # GIVEN a stack in a given state
    # WHEN make-infra asks whether it can deploy
    reason = infra.deploy_blocker({"StackName": "s", "StackStatus": status})
    # THEN only the states CloudFormation refuses give a reason, and it says what to do
    assert (reason is None) if expected is None else (expected in reason)


def test_artifact_bucket_name_fits_s3_rules_for_a_long_stack_name():
    # GIVEN the longest stack name CloudFormation allows, in mixed case
    stack_name = "Stack-" + "x" * 122
    # WHEN a bucket name is made for it
    name = infra.new_artifact_bucket_name(stack_name)
    # THEN it is lower-case, at most 63 characters, and ends in -artifacts-<8 hex>
    assert len(name) <= 63 and name == name.lower()
    assert name.rsplit("-", 1)[0].endswith("-artifacts") and len(name.rsplit("-", 1)[1]) == 8


def test_sam_failure_reason_is_the_last_error_joined_into_one_line():
    # GIVEN sam output whose last error continues on the next line
    result = infra.SamResult(1, ["Error: first", "progress", "Error: Unable to upload", "403 Forbidden", ""])
    # WHEN / THEN the reason is that error, in one line
    assert result.failure_reason() == "Unable to upload 403 Forbidden"


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
        reason = infra.delete_failure(cloudformation, stack_id)
    # THEN one line names the resource of the last attempt and why, nothing older
    assert (
        reason
        == "stack s could not be deleted (DELETE_FAILED): ResultsBucket: The bucket you tried to delete is not empty"
    )
