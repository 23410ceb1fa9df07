"""make-infra: build, artifact bucket and `sam deploy` through the CLI, against moto with sam and the build faked
(tests/infra_fixture.py); and the pieces of watchlist_workstation.deploy.sam and .stack_status it runs on."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import boto3
import pytest

from tests.infra_fixture import (
    REGION,
    REPO,
    argv_parameters,
    argv_value,
    artifact_buckets_of,
    invoke,
    new_stack_name,
    stack_exists,
    stderr_lines,
)
from watchlist_workstation.deploy import build as builder
from watchlist_workstation.deploy import sam
from watchlist_workstation.deploy.sizes import check_sizes
from watchlist_workstation.deploy.stack_status import deploy_blocker
from watchlist_workstation.project import tool_path

# moto warns about each resource type it skips (bucket and queue policies, alarms), on create and on delete.
# moto_honours_tls_only_policy: the artifact bucket's TLS-only policy would otherwise refuse every request.
pytestmark = [
    pytest.mark.filterwarnings("ignore:Tried to parse AWS.*:UserWarning"),
    pytest.mark.usefixtures("moto_honours_tls_only_policy"),
]


# ---------------------------------------------------------------------------------------------- make-infra

# The one parameter without a default (template.yml): a new stack needs it.
CONTACT = ("-p", "UserAgentContact=ops@example.com")


def test_make_infra_of_a_new_stack_without_a_contact_fails_before_any_work(
    aws, cli_runner, fake_build, fake_sam, fresh_stack_name
):
    # GIVEN no stack yet  WHEN make-infra runs without UserAgentContact
    result = invoke(cli_runner, "make-infra", "-p", "NotificationEmail=ops@example.com")
    # THEN it is a usage error in one line naming the parameter, before any build, upload or deploy
    assert result.exit_code == 2
    # after the first stage's two progress lines ("[1/4] checking ...", "deploying stack ...")
    assert stderr_lines(result)[0] == "[1/4] checking the credentials and the stack"
    (line,) = stderr_lines(result)[2:]
    assert f"stack {fresh_stack_name} needs a value for UserAgentContact: pass -p UserAgentContact=VALUE" in line
    assert fake_sam.calls == [] and fake_build.calls == []
    assert not stack_exists(fresh_stack_name) and artifact_buckets_of(fresh_stack_name) == []


@pytest.mark.parametrize(
    ("options", "says"),
    [
        (("-p", "ConsumerBatchSize=25", "-p", "ConsumerBatchingWindowSeconds=0"), "ConsumerBatchSize above 10 needs"),
        (("--region", "eu-north-1"), "Amazon Comprehend is not available in this region"),
    ],
)
def test_make_infra_refuses_what_the_template_rules_refuse_before_any_work(
    aws, cli_runner, fake_build, fake_sam, fresh_stack_name, options, says
):
    # GIVEN no stack yet  WHEN make-infra runs with values one of template.yml's Rules refuses
    global_options = options if options[0] == "--region" else ()
    command_options = () if global_options else options
    result = invoke(cli_runner, *global_options, "make-infra", *CONTACT, *command_options)
    # THEN it fails in one line with the rule's description, before any build, upload or deploy
    assert result.exit_code == 1
    # one error line, the last, after the progress lines ("deploying stack ...", "[1/4] ...")
    (line,) = [line for line in stderr_lines(result) if line.startswith("Error:")]
    assert stderr_lines(result)[-1] == line
    assert line.startswith(f"Error: stack {fresh_stack_name} cannot be deployed to ") and says in line
    assert fake_sam.calls == [] and fake_build.calls == []
    assert artifact_buckets_of(fresh_stack_name) == []


def test_make_infra_checks_the_rules_with_the_stacks_current_values(
    aws, cli_runner, fake_build, fake_sam, fresh_stack_name
):
    # GIVEN a stack deployed with a batching window of 0 (and the default batch size of 10)
    assert invoke(cli_runner, "make-infra", *CONTACT, "-p", "ConsumerBatchingWindowSeconds=0").exit_code == 0
    # WHEN only the batch size is raised THEN the stack's window still counts, and the deploy is refused
    result = invoke(cli_runner, "make-infra", "-p", "ConsumerBatchSize=20")
    assert result.exit_code == 1 and "ConsumerBatchSize above 10 needs" in result.stderr
    assert len(fake_sam.calls) == 1


def test_make_infra_deploys_and_prints_the_stack_outputs(aws, cli_runner, fake_build, fake_sam, fresh_stack_name):
    # GIVEN no stack yet
    # WHEN make-infra runs
    result = invoke(cli_runner, "make-infra", *CONTACT, "--json")
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
    result = invoke(cli_runner, "make-infra", *CONTACT)
    # THEN stdout is an output/value table, sam's own lines went to stderr
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["output", "value"]
    assert any(line.split()[0] == "TableName" for line in lines[1:])
    assert "Initiating deployment" in result.stderr and "Initiating deployment" not in result.stdout


def test_make_infra_rerun_without_changes_says_up_to_date(aws, cli_runner, fake_build, fake_sam, fresh_stack_name):
    # GIVEN a deployed stack
    assert invoke(cli_runner, "make-infra", *CONTACT).exit_code == 0
    # WHEN make-infra runs again, without the contact, and sam finds nothing to change
    fake_sam.outcomes = ["unchanged"]
    result = invoke(cli_runner, "make-infra")
    # THEN it succeeds (sam keeps the stack's contact), says so, and still prints the outputs
    assert result.exit_code == 0, result.stderr
    assert "--parameter-overrides" not in fake_sam.calls[1]
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
        *CONTACT,
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
    assert argv_parameters(argv) == {
        "UserAgentContact": "ops@example.com",
        "NotificationEmail": "ops@example.com",
        "ScheduleExpression": "rate(10 minutes)",
    }
    # AND the deployed stack has them
    stack = boto3.client("cloudformation", region_name=REGION).describe_stacks(StackName=fresh_stack_name)["Stacks"][0]
    parameters = {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}
    assert parameters["ScheduleExpression"] == "rate(10 minutes)"


def test_sam_runs_without_telemetry_and_reaches_the_cli_endpoint():
    # GIVEN an emulator endpoint given to the CLI (sam deploy has no --endpoint-url option)
    # WHEN the environment for sam is made
    env = sam.sam_environment("http://127.0.0.1:4566", base={"PATH": "/bin"})
    # THEN botocore inside sam sends every call there, and sam reports no usage
    assert env == {
        "PATH": "/bin",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:4566",
        "SAM_CLI_TELEMETRY": "0",
        "PYTHONUNBUFFERED": "1",
    }


def test_make_infra_without_sam_fails_with_one_line(aws, cli_runner, fake_build, monkeypatch, tmp_path):
    # GIVEN no sam in the checkout's tools, none beside the interpreter and none on PATH
    monkeypatch.setattr(sam, "PROJECT_SAM", tmp_path / "tools" / "sam")
    monkeypatch.setattr("sys.executable", str(tmp_path / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))
    calls = []
    monkeypatch.setattr(sam, "run_sam", lambda *a, **k: calls.append(a))
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
    result = invoke(cli_runner, "make-infra", *CONTACT)
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
    assert invoke(cli_runner, "make-infra", *CONTACT).exit_code == 0
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
        check_sizes(report, 10)

    monkeypatch.setattr(builder, "build", too_large)
    stack_name = new_stack_name()
    # WHEN make-infra runs
    result = invoke(cli_runner, "--stack-name", stack_name, "make-infra", *CONTACT)
    # THEN the size table is shown, the last line names the function, sam never ran, no bucket was made
    assert result.exit_code == 1
    assert "Lambda bundles in" in result.stderr
    assert stderr_lines(result)[-1] == (
        "Error: build failed: over Lambda's unzipped limit of 10 bytes (code + layers): ProducerAI 11 B"
    )
    assert fake_sam.calls == [] and artifact_buckets_of(stack_name) == []


@pytest.mark.network  # the deps layer comes from PyPI unless the checkout's build/ already holds it
@pytest.mark.servers  # pip runs as a process
def test_make_infra_runs_the_real_build(aws, cli_runner, fake_sam, fresh_stack_name, workdir):
    # GIVEN the real project, built into a temporary build/ (seeded with the checkout's deps layer, if any,
    # so the build's own stamp skips pip)
    seed = REPO / "build" / "layers"
    if (seed / "deps.stamp").is_file():
        shutil.copytree(seed / "deps", workdir / "build" / "layers" / "deps")
        shutil.copy(seed / "deps.stamp", workdir / "build" / "layers" / "deps.stamp")
    # WHEN make-infra runs
    result = invoke(cli_runner, "make-infra", *CONTACT)
    # THEN the size table went to stderr, and sam deployed the template the build wrote
    assert result.exit_code == 0, result.stderr
    assert "Lambda bundles in" in result.stderr and "ServerlessProducer" in result.stderr
    template = Path(argv_value(fake_sam.calls[0], "--template-file"))
    assert template == workdir / "build" / "template.yml" and template.is_file()
    assert (workdir / "build" / "functions" / "ProducerAI" / "lambda_function.py").is_file()


# ---------------------------------------------------------------------------------------------- units


# sam's --parameter-overrides type, run in the SAM CLI's own venv (.tools/aws-sam-cli): one token a line in
# (JSON strings), what it reads from each out.
_SAM_READS = (
    "import json, sys\n"
    "from samcli.cli.types import CfnParameterOverridesType\n"
    "reader = CfnParameterOverridesType()\n"
    "print(json.dumps([reader.convert((json.loads(line),), None, None) for line in sys.stdin]))\n"
)
ROUND_TRIP_VALUES = ["", "ops@example.com", "rate(10 minutes)", 'say "hi"', "a=b,c=d", "it's", "  padded  ", "C:\\x"]


@pytest.mark.servers  # runs the SAM CLI's parser as a process, in its venv
def test_sam_parameter_round_trips_through_sams_own_parser():
    # GIVEN parameter values  WHEN each is written for sam and read back by sam's --parameter-overrides type
    tokens = [sam.sam_parameter("Key", value) for value in ROUND_TRIP_VALUES]
    result = subprocess.run(
        [str(tool_path("aws-sam-cli", "python")), "-c", _SAM_READS],
        input="".join(json.dumps(token) + "\n" for token in tokens),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    # THEN sam reads exactly each value, as the fake sam in tests/infra_fixture.py does
    read = json.loads(result.stdout)
    assert read == [{"Key": value} for value in ROUND_TRIP_VALUES]
    assert [argv_parameters(["--parameter-overrides", token]) for token in tokens] == read


def test_sam_parameter_refuses_a_value_sam_would_change():
    # GIVEN a value with a backslash before a quote (sam would unescape it)
    # WHEN / THEN it is refused instead of deployed changed
    with pytest.raises(ValueError, match="backslash"):
        sam.sam_parameter("Key", 'a\\"b')


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
    reason = deploy_blocker({"StackName": "s", "StackStatus": status})
    # THEN only the states CloudFormation refuses give a reason, and it says what to do
    assert (reason is None) if expected is None else (expected in reason)


def test_sam_failure_reason_is_the_last_error_joined_into_one_line():
    # GIVEN sam output whose last error continues on the next line
    result = sam.SamResult(1, ["Error: first", "progress", "Error: Unable to upload", "403 Forbidden", ""])
    # WHEN / THEN the reason is that error, in one line
    assert result.failure_reason() == "Unable to upload 403 Forbidden"


def test_find_sam_prefers_the_checkouts_own_sam_cli(monkeypatch, tmp_path):
    # GIVEN the checkout's SAM CLI (.tools/aws-sam-cli) and another sam on PATH
    ours, other = tmp_path / "tools" / "sam", tmp_path / "path" / "sam"
    for path in (ours, other):
        path.parent.mkdir(parents=True)
        path.write_text("#!/bin/sh\n")
        path.chmod(0o755)
    monkeypatch.setattr(sam, "PROJECT_SAM", ours)
    # WHEN sam is looked for  THEN the checkout's is used; without it, the one on PATH
    assert sam.find_sam(python=str(tmp_path / "python"), path=str(other.parent)) == str(ours)
    ours.unlink()
    assert sam.find_sam(python=str(tmp_path / "python"), path=str(other.parent)) == str(other)
