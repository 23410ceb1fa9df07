"""What the tests of make-infra, artifact-bucket and teardown share: a temporary work folder, a fresh stack
name, fakes of the build and of `sam deploy`, and readers of what moto's account holds.

The AWS boundary that is not an API call, the `sam deploy` subprocess, is faked at
watchlist_workstation.deploy.sam.run_sam: the fake records each argv and plays sam's part by creating the
stack in moto from template.yml (watchlist_workstation.deploy.offline.deploy_offline), answering "No changes to
deploy" or failing, as each test scripts it. The build is faked too, except in one test.
"""

from __future__ import annotations

import itertools
import json
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError
from moto.iam.access_control import PermissionResult
from moto.s3.models import FakeBucket

import cfcli  # noqa: F401 - registers every command on the group
from watchlist_workstation.cli import deploy as infra_cli
from watchlist_workstation.cli.app import cli
from watchlist_workstation.deploy import artifacts, sam
from watchlist_workstation.deploy import build as builder
from watchlist_workstation.deploy.offline import deploy_offline

REGION = "us-east-1"
REPO = Path(__file__).resolve().parents[1]
_unique = itertools.count(1)


def new_stack_name() -> str:
    return f"infra-test-{next(_unique)}"


@pytest.fixture
def moto_honours_tls_only_policy(monkeypatch):
    """moto treats a Deny statement whose Condition it cannot evaluate as an unconditional deny, so the
    artifact bucket's "deny unless aws:SecureTransport" policy would refuse every object request. boto3
    always reaches AWS over TLS, where that policy lets the request through: moto is made to agree, for
    that exact policy only (any other policy is still judged by moto)."""
    original = FakeBucket.get_permission

    def get_permission(self, action, resource):
        if self.policy and json.loads(self.policy) == artifacts.tls_only_policy(self.name):
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
    name = new_stack_name()
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
    """What sam reads from --parameter-overrides: each `Key="value"` token of sam.sam_parameter read back.
    The SAM CLI lives in a venv of its own, so its parser is not importable here;
    test_sam_parameter_round_trips_through_sams_own_parser (tests/test_cli_make_infra.py) runs it there
    and proves it reads these tokens exactly so."""
    if "--parameter-overrides" not in argv:
        return {}
    parameters = {}
    for token in argv[argv.index("--parameter-overrides") + 1 :]:
        match = re.fullmatch(r'([A-Za-z0-9]+)="(.*)"', token, flags=re.DOTALL)
        assert match, f"not a token sam.sam_parameter writes: {token!r}"
        parameters[match.group(1)] = match.group(2).replace('\\"', '"')
    return parameters


@dataclass
class FakeSam:
    """Plays `sam deploy`: each call takes the next scripted outcome ("deploy", "unchanged" or "fail")."""

    outcomes: list[str] = field(default_factory=list)
    calls: list[list[str]] = field(default_factory=list)
    envs: list[dict[str, str]] = field(default_factory=list)

    def __call__(self, argv, *, env, cwd, on_line) -> sam.SamResult:
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
            parameters = argv_parameters(argv)
            if stack_exists(stack_name):
                # sam deploy keeps an existing stack's value of every parameter not overridden (UsePreviousValue).
                (stack,) = boto3.client("cloudformation", region_name=REGION).describe_stacks(StackName=stack_name)[
                    "Stacks"
                ]
                parameters = {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]} | parameters
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # moto skips resource types it does not model
                deploy_offline(
                    stack_name,
                    parameters,
                    region=argv_value(argv, "--region"),
                    artifact_bucket=argv_value(argv, "--s3-bucket"),
                    cloudformation=boto3.client("cloudformation", region_name=REGION),
                    s3=boto3.client("s3", region_name=REGION),
                )
            lines = ["Initiating deployment", f"Successfully created/updated stack - {stack_name} in {REGION}"]
            code = 0
        for line in lines:
            on_line(line)
        return sam.SamResult(code, lines)


@pytest.fixture
def fake_sam(monkeypatch) -> FakeSam:
    fake = FakeSam()
    monkeypatch.setattr(sam, "find_sam", lambda: "/opt/sam/bin/sam")
    monkeypatch.setattr(sam, "run_sam", fake)
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
    return sorted(b for b in bucket_names() if b.startswith(artifacts.artifact_bucket_prefix(stack_name)))


def log_group_names() -> set[str]:
    logs = boto3.client("logs", region_name=REGION)
    return {
        g["logGroupName"] for page in logs.get_paginator("describe_log_groups").paginate() for g in page["logGroups"]
    }
