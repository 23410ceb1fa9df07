"""Deploy the stack to AWS and tear it down: the artifact bucket, `sam deploy`, an ordered teardown.

Workstation-only; `watchlist_workstation/cli/deploy.py` puts click commands over it. Every function takes its AWS
clients as parameters, so the commands hand in the ones the CLI's context built (region, profile,
endpoint) and tests hand in moto's.

The artifact bucket is where `sam deploy` uploads code and the template. It is this stack's own:
created once per stack and region with the same protections as the results bucket, tagged
`cfcli:stack=<stack>` / `cfcli:purpose=artifacts`, recorded in `.cfcli/<stack>.json`, and found
again by its tags on a machine without that record. Teardown deletes a bucket only when its tags
say this stack created it.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError, WaiterError

from watchlist_workstation.limits import S3_DELETE_BATCH

TAG_STACK = "cfcli:stack"
TAG_PURPOSE = "cfcli:purpose"
ARTIFACTS_PURPOSE = "artifacts"
# sam uploads artifacts named by content hash and skips an upload when the object exists, so an
# expired artifact is simply uploaded again by the next deploy. The one thing expiry can break is a
# rollback to a version whose code was uploaded earlier than this; 90 days keeps that unlikely.
ARTIFACT_EXPIRATION_DAYS = 90
# S3 bucket names: 3-63 characters of lower-case letters, digits, dots and hyphens.
_BUCKET_NAME_MAX = 63
_RANDOM_HEX = 8
# The stack's resources whose physical ids teardown acts on before deleting the stack.
RESULTS_BUCKET_OUTPUT = "ResultsBucketName"
SCHEDULE_RULE_OUTPUT = "ScheduleRuleName"
TABLE_OUTPUT = "TableName"
# sam prints this (samcli ChangeEmptyError) when --no-fail-on-empty-changeset finds nothing to change.
_SAM_UP_TO_DATE = "No changes to deploy"
# Statuses in which CloudFormation accepts neither an update nor a deletion: wait for them to end.
_BUSY_SUFFIX = "_IN_PROGRESS"

Report = Callable[[str], None]


class InfraError(RuntimeError):
    """An expected failure of a deploy or teardown step; the message is one line for the user."""


# ---------------------------------------------------------------------------------------------- sam


def find_sam(python: str | None = None, path: str | None = None) -> str | None:
    """The SAM CLI next to the running interpreter (the project's venv), else the first on PATH."""
    beside = Path(python or sys.executable).parent / "sam"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("sam", path=path)


@dataclass(frozen=True)
class SamResult:
    returncode: int
    lines: list[str] = field(default_factory=list)

    @property
    def up_to_date(self) -> bool:
        return any(_SAM_UP_TO_DATE in line for line in self.lines)

    def failure_reason(self) -> str:
        """sam's last "Error: ..." message as one line (it may continue on the next lines), else its last line."""
        text = [line.strip() for line in self.lines if line.strip()]
        starts = [i for i, line in enumerate(text) if line.startswith("Error:")]
        if starts:
            return " ".join(text[starts[-1] :]).removeprefix("Error:").strip()
        return text[-1] if text else "no output"


def run_sam(argv: list[str], *, env: dict[str, str], cwd: Path, on_line: Report) -> SamResult:
    """Run sam, handing each line of its output (stdout and stderr, in order) to `on_line` as it comes."""
    lines: list[str] = []
    with subprocess.Popen(
        argv,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    ) as process:
        for raw in process.stdout or ():
            line = raw.rstrip("\n")
            lines.append(line)
            on_line(line)
    return SamResult(process.returncode, lines)


def sam_environment(endpoint_url: str | None, base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment sam runs in: ours, without telemetry, and with the CLI's endpoint if one was given.

    `sam deploy` has no --endpoint-url option; botocore (which sam uses) reads AWS_ENDPOINT_URL
    instead, so an emulator given to the CLI receives sam's calls too.
    """
    env = dict(os.environ if base is None else base)
    env["SAM_CLI_TELEMETRY"] = "0"
    # sam is a Python program: unbuffered, its stdout and stderr lines reach us in the order it wrote them.
    env["PYTHONUNBUFFERED"] = "1"
    if endpoint_url:
        env["AWS_ENDPOINT_URL"] = endpoint_url
    return env


def sam_parameter(key: str, value: str) -> str:
    """`Key="value"` as sam's --parameter-overrides parser reads it back to exactly `value`.

    sam splits the overrides on spaces unless a value is quoted, and inside quotes it unescapes
    `\\"`, `\\'` and `\\ `; a value holding a backslash before one of those (or at its end) cannot
    survive that round trip, so it is refused rather than deployed changed.
    """
    if not re.fullmatch(r"[A-Za-z0-9]+", key):
        raise ValueError(f"parameter name {key!r} must be letters and digits only")
    if re.search(r"\\([ \"']|$)", value):
        raise ValueError(f"parameter {key}: a backslash before a quote, a space or the end cannot be passed to sam")
    return f'{key}="{value.replace(chr(34), chr(92) + chr(34))}"'


def sam_deploy_argv(
    sam: str,
    *,
    template: Path,
    stack_name: str,
    bucket: str,
    region: str,
    profile: str | None,
    parameters: dict[str, str],
) -> list[str]:
    argv = [
        sam, "deploy",
        "--template-file", str(template),
        "--stack-name", stack_name,
        "--s3-bucket", bucket,
        # One prefix per stack, so two stacks sharing a bucket name space never share artifacts.
        "--s3-prefix", stack_name,
        # IAM: the template creates roles. AUTO_EXPAND: the LanguageExtensions and SAM transforms.
        "--capabilities", "CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND",
        "--no-confirm-changeset",
        # A re-run with nothing changed is a success, reported as "up to date".
        "--no-fail-on-empty-changeset",
        # Upload progress is drawn with carriage returns, which read as noise once piped.
        "--no-progressbar",
        "--region", region,
    ]  # fmt: skip
    if profile:
        argv += ["--profile", profile]
    if parameters:
        argv += ["--parameter-overrides", *(sam_parameter(k, v) for k, v in parameters.items())]
    return argv


def deploy_blocker(stack: dict[str, Any] | None) -> str | None:
    """Why CloudFormation would refuse to update the stack now (one line), or None when it can deploy."""
    if stack is None:
        return None
    name, status = stack["StackName"], stack["StackStatus"]
    if status == "ROLLBACK_COMPLETE":
        return (
            f"stack {name} is ROLLBACK_COMPLETE (its first deploy failed, and CloudFormation cannot update it): "
            "delete it with './cfcli.py teardown --yes', then run make-infra again"
        )
    if status == "DELETE_FAILED":
        return f"stack {name} is DELETE_FAILED: finish deleting it with './cfcli.py teardown --yes' first"
    if status.endswith(_BUSY_SUFFIX) and status != "REVIEW_IN_PROGRESS":
        return f"stack {name} is {status}: wait until CloudFormation has finished, then run make-infra again"
    return None


# ---------------------------------------------------------------------------------------------- local record


def record_path(state_dir: Path, stack_name: str) -> Path:
    return state_dir / f"{stack_name}.json"


def read_record(state_dir: Path, stack_name: str) -> dict[str, Any]:
    path = record_path(state_dir, stack_name)
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError):
        # A damaged record only costs a lookup by tags; the buckets' tags are the truth.
        return {}
    return record if isinstance(record, dict) else {}


def write_record(state_dir: Path, stack_name: str, region: str, bucket: str) -> None:
    record = read_record(state_dir, stack_name)
    buckets = record.get("artifact_buckets") if isinstance(record.get("artifact_buckets"), dict) else {}
    buckets[region] = bucket
    state_dir.mkdir(parents=True, exist_ok=True)
    path = record_path(state_dir, stack_name)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(
        json.dumps({"stack_name": stack_name, "artifact_buckets": buckets}, indent=2, sort_keys=True) + "\n",
        encoding="utf-8",
    )
    partial.replace(path)


def recorded_bucket(state_dir: Path, stack_name: str, region: str) -> str | None:
    buckets = read_record(state_dir, stack_name).get("artifact_buckets")
    value = buckets.get(region) if isinstance(buckets, dict) else None
    return value if isinstance(value, str) and value else None


# ---------------------------------------------------------------------------------------------- artifact bucket


def artifact_bucket_prefix(stack_name: str) -> str:
    """`<stack>-artifacts-`, lower-case, the stack part cut so a random suffix still fits in 63 characters."""
    room = _BUCKET_NAME_MAX - len("-artifacts-") - _RANDOM_HEX
    stem = stack_name.lower()[:room].rstrip("-")
    return f"{stem}-artifacts-"


def new_artifact_bucket_name(stack_name: str) -> str:
    return artifact_bucket_prefix(stack_name) + secrets.token_hex(_RANDOM_HEX // 2)


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def bucket_tags(s3: Any, bucket: str) -> dict[str, str] | None:
    """The bucket's tags; None when it does not exist or is not ours to read (another account's)."""
    try:
        tag_set = s3.get_bucket_tagging(Bucket=bucket)["TagSet"]
    except ClientError as exc:
        code = _error_code(exc)
        if code in ("NoSuchTagSet", "NoSuchTagSetError"):
            return {}
        if code in ("NoSuchBucket", "AccessDenied", "403", "404", "AllAccessDisabled"):
            return None
        raise
    return {tag["Key"]: tag["Value"] for tag in tag_set}


def is_artifact_bucket_of(s3: Any, bucket: str, stack_name: str) -> bool:
    """True only when the bucket's tags say this stack created it for its artifacts."""
    tags = bucket_tags(s3, bucket)
    return bool(tags) and tags.get(TAG_STACK) == stack_name and tags.get(TAG_PURPOSE) == ARTIFACTS_PURPOSE


def bucket_region(s3: Any, bucket: str) -> str:
    constraint = s3.get_bucket_location(Bucket=bucket).get("LocationConstraint")
    # GetBucketLocation answers null for us-east-1 and the legacy "EU" for eu-west-1.
    return {None: "us-east-1", "": "us-east-1", "EU": "eu-west-1"}.get(constraint, constraint)


def _bucket_names(s3: Any) -> Iterator[tuple[str, Any]]:
    if s3.can_paginate("list_buckets"):
        pages: Iterable[dict[str, Any]] = s3.get_paginator("list_buckets").paginate()
    else:
        pages = [s3.list_buckets()]
    for page in pages:
        for bucket in page.get("Buckets", []):
            yield bucket["Name"], bucket.get("CreationDate")


def discover_artifact_bucket(s3: Any, stack_name: str, region: str) -> str | None:
    """A bucket this stack created in `region` earlier, found by name prefix and confirmed by its tags."""
    prefix = artifact_bucket_prefix(stack_name)
    found = []
    for name, created in _bucket_names(s3):
        if (
            name.startswith(prefix)
            and is_artifact_bucket_of(s3, name, stack_name)
            and bucket_region(s3, name) == region
        ):
            found.append((str(created or ""), name))
    # Two can exist only if two machines created one at the same moment; the oldest wins, always the same one.
    return min(found)[1] if found else None


def find_artifact_bucket(s3: Any, stack_name: str, region: str, state_dir: Path) -> str | None:
    """The stack's artifact bucket: the recorded one if its tags still confirm it, else one found by tags."""
    recorded = recorded_bucket(state_dir, stack_name, region)
    if recorded and is_artifact_bucket_of(s3, recorded, stack_name):
        return recorded
    return discover_artifact_bucket(s3, stack_name, region)


def create_artifact_bucket(s3: Any, stack_name: str, region: str) -> str:
    name = new_artifact_bucket_name(stack_name)
    if region == "us-east-1":
        s3.create_bucket(Bucket=name)
    else:
        s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": region})
    # Tagged first: a creation interrupted after this point is still found, reused and torn down.
    s3.put_bucket_tagging(
        Bucket=name,
        Tagging={"TagSet": [{"Key": TAG_STACK, "Value": stack_name}, {"Key": TAG_PURPOSE, "Value": ARTIFACTS_PURPOSE}]},
    )
    s3.put_public_access_block(
        Bucket=name,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    s3.put_bucket_encryption(
        Bucket=name,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}, "BucketKeyEnabled": True}]
        },
    )
    s3.put_bucket_policy(Bucket=name, Policy=json.dumps(tls_only_policy(name)))
    s3.put_bucket_lifecycle_configuration(
        Bucket=name,
        LifecycleConfiguration={
            "Rules": [
                {
                    "ID": "ExpireOldArtifacts",
                    "Status": "Enabled",
                    "Filter": {},
                    "Expiration": {"Days": ARTIFACT_EXPIRATION_DAYS},
                    "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
                }
            ]
        },
    )
    return name


def tls_only_policy(bucket: str) -> dict[str, Any]:
    arn = f"arn:aws:s3:::{bucket}"
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [arn, f"{arn}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ],
    }


def ensure_artifact_bucket(s3: Any, stack_name: str, region: str, state_dir: Path) -> tuple[str, bool]:
    """(bucket, created): the stack's artifact bucket in `region`, created on first use, always recorded."""
    bucket = find_artifact_bucket(s3, stack_name, region, state_dir)
    created = bucket is None
    if bucket is None:
        bucket = create_artifact_bucket(s3, stack_name, region)
    write_record(state_dir, stack_name, region, bucket)
    return bucket, created


# ---------------------------------------------------------------------------------------------- buckets


def empty_bucket(s3: Any, bucket: str) -> int:
    """Delete every object version and delete marker (a versioned bucket keeps both); returns how many."""
    deleted = 0
    batch: list[dict[str, str]] = []

    def flush() -> None:
        nonlocal deleted
        if not batch:
            return
        answer = s3.delete_objects(Bucket=bucket, Delete={"Objects": list(batch), "Quiet": True})
        errors = answer.get("Errors") or []
        if errors:
            first = errors[0]
            raise InfraError(
                f"could not delete {len(errors)} object(s) from {bucket}: "
                f"{first.get('Key')}: {first.get('Code')}: {first.get('Message', '')}".rstrip(": ")
            )
        deleted += len(batch)
        batch.clear()

    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        for entry in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]:
            batch.append({"Key": entry["Key"], "VersionId": entry["VersionId"]})
            if len(batch) == S3_DELETE_BATCH:
                flush()
    flush()
    return deleted


def bucket_exists(s3: Any, bucket: str) -> bool:
    try:
        s3.head_bucket(Bucket=bucket)
    except ClientError as exc:
        if _error_code(exc) in ("404", "NoSuchBucket", "NotFound"):
            return False
        raise
    return True


# ---------------------------------------------------------------------------------------------- teardown


@dataclass
class TeardownPlan:
    """What exists of the stack and is this stack's to delete, found before anything is deleted."""

    stack_name: str
    region: str
    stack_id: str | None = None
    stack_status: str | None = None
    retain_data: bool = False
    rule_name: str | None = None
    results_bucket: str | None = None
    table_name: str | None = None
    artifact_bucket: str | None = None
    log_groups: list[str] = field(default_factory=list)
    local_paths: list[Path] = field(default_factory=list)
    # Files on this machine that hold the stack's data (local mode's saved watchlist and results mirror).
    saved_state: list[Path] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    @property
    def stack_exists(self) -> bool:
        return self.stack_id is not None

    @property
    def nothing_to_delete(self) -> bool:
        return not (self.stack_exists or self.artifact_bucket or self.log_groups)

    def summary(self) -> list[str]:
        """One line per thing that will go, for the confirmation prompt."""
        lines = []
        if self.stack_exists:
            lines.append(f"stack {self.stack_name} ({self.stack_status}) in {self.region}, with every resource it owns")
        if self.results_bucket and not self.retain_data:
            lines.append(f"results bucket {self.results_bucket}: every object and every version")
        if self.retain_data and (self.table_name or self.results_bucket):
            kept = ", ".join(x for x in (self.table_name, self.results_bucket) if x)
            lines.append(f"kept, as RetainData=true asks: {kept}")
        if self.artifact_bucket:
            lines.append(f"artifact bucket {self.artifact_bucket}")
        if self.log_groups:
            lines.append(f"log groups under {log_group_prefix(self.stack_name)} ({len(self.log_groups)})")
        if self.saved_state:
            lines.append(f"its data saved on this machine: {', '.join(str(p) for p in self.saved_state)}")
        return lines


def log_group_prefix(stack_name: str) -> str:
    # The trailing slash keeps stack "web" from matching the groups of stack "web-2".
    return f"/aws/lambda/{stack_name}/"


def list_log_groups(logs: Any, stack_name: str) -> list[str]:
    prefix = log_group_prefix(stack_name)
    names = []
    for page in logs.get_paginator("describe_log_groups").paginate(logGroupNamePrefix=prefix):
        names.extend(group["logGroupName"] for group in page.get("logGroups", []))
    return [name for name in names if name.startswith(prefix)]


def _stack_resources(cloudformation: Any, stack_id: str) -> dict[str, tuple[str, str]]:
    """The stack's resources: logical id -> (resource type, physical id)."""
    resources: dict[str, tuple[str, str]] = {}
    for page in cloudformation.get_paginator("list_stack_resources").paginate(StackName=stack_id):
        for resource in page.get("StackResourceSummaries", []):
            if resource.get("PhysicalResourceId"):
                resources[resource["LogicalResourceId"]] = (resource["ResourceType"], resource["PhysicalResourceId"])
    return resources


def plan_teardown(
    *,
    stack: dict[str, Any] | None,
    stack_name: str,
    region: str,
    cloudformation: Any,
    s3: Any,
    logs: Any,
    state_dir: Path | None,
    build_dir: Path | None,
    saved_state: list[Path] | None = None,
) -> TeardownPlan:
    """What to delete. `state_dir`/`build_dir`: where the artifact bucket record and the build live (None:
    nowhere, as for local mode, which deploys without them). `saved_state`: files on this machine that hold
    the stack's data; they go with the stack, unless RetainData keeps the data."""
    plan = TeardownPlan(stack_name=stack_name, region=region)
    if stack is not None:
        plan.stack_id = stack["StackId"]
        plan.stack_status = stack["StackStatus"]
        parameters = {p["ParameterKey"]: p.get("ParameterValue") for p in stack.get("Parameters", [])}
        plan.retain_data = parameters.get("RetainData") == "true"
        outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
        resources = _stack_resources(cloudformation, plan.stack_id)
        # An output names a resource; acting on it only when the stack really owns it keeps teardown from
        # touching anything else, even if a stack of the same name came from another template. A stack
        # whose outputs are missing (a failed update) still names its resources by logical id.
        for attribute, output, resource_type, logical_id in (
            ("rule_name", SCHEDULE_RULE_OUTPUT, "AWS::Events::Rule", "ServerlessProducerSchedule"),
            ("results_bucket", RESULTS_BUCKET_OUTPUT, "AWS::S3::Bucket", "ResultsBucket"),
            ("table_name", TABLE_OUTPUT, "AWS::DynamoDB::Table", "WatchlistTable"),
        ):
            owned = {physical for kind, physical in resources.values() if kind == resource_type}
            fallback = resources.get(logical_id, ("", ""))
            value = outputs.get(output) or (fallback[1] if fallback[0] == resource_type else None)
            if value and value in owned:
                setattr(plan, attribute, value)
            elif value:
                plan.skipped.append(f"{output} {value} is not a resource of stack {stack_name}; left alone")
        if plan.results_bucket and not plan.retain_data and not bucket_exists(s3, plan.results_bucket):
            plan.results_bucket = None
    if state_dir is not None:
        plan.artifact_bucket = find_artifact_bucket(s3, stack_name, region, state_dir)
        plan.local_paths = [p for p in (record_path(state_dir, stack_name),) if p.exists()]
    else:
        plan.artifact_bucket = discover_artifact_bucket(s3, stack_name, region)
    plan.log_groups = list_log_groups(logs, stack_name)
    if plan.stack_exists and build_dir is not None and build_dir.exists():
        plan.local_paths.append(build_dir)
    if plan.stack_exists and not plan.retain_data:
        plan.saved_state = [p for p in saved_state or () if p.exists()]
    return plan


def remove_local_path(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def disable_rule(events: Any, rule_name: str) -> bool:
    """Stop the schedule so no new run starts while the stack goes; False when the rule is already gone."""
    try:
        events.disable_rule(Name=rule_name)
    except ClientError as exc:
        if _error_code(exc) == "ResourceNotFoundException":
            return False
        raise
    return True


def delete_stack(cloudformation: Any, stack_id: str, *, delay: int = 5, max_attempts: int = 720) -> None:
    """Delete the stack and wait for the end (an hour at most); InfraError names what failed to delete."""
    cloudformation.delete_stack(StackName=stack_id)
    try:
        # By id, not name: a stack of the same name created meanwhile is a different stack.
        cloudformation.get_waiter("stack_delete_complete").wait(
            StackName=stack_id, WaiterConfig={"Delay": delay, "MaxAttempts": max_attempts}
        )
    except WaiterError as exc:
        raise InfraError(delete_failure(cloudformation, stack_id, exc)) from exc


def delete_failure(cloudformation: Any, stack_id: str, exc: WaiterError | None = None) -> str:
    """One line: the stack's status and, for each resource that failed to delete in the last attempt, why."""
    stack = cloudformation.describe_stacks(StackName=stack_id)["Stacks"][0]
    status = stack["StackStatus"]
    reasons: list[str] = []
    paginator = cloudformation.get_paginator("describe_stack_events")
    for page in paginator.paginate(StackName=stack_id):
        done = False
        for event in page.get("StackEvents", []):
            is_stack = event.get("PhysicalResourceId") == stack_id or event.get("ResourceType") == (
                "AWS::CloudFormation::Stack"
            )
            if is_stack and event.get("ResourceStatus") == "DELETE_IN_PROGRESS":
                done = True  # events come newest first: this is where the last attempt began
                break
            if not is_stack and event.get("ResourceStatus") == "DELETE_FAILED":
                reason = " ".join(str(event.get("ResourceStatusReason", "no reason given")).split())
                entry = f"{event.get('LogicalResourceId')}: {reason}"
                if entry not in reasons:
                    reasons.append(entry)
        if done:
            break
    name = stack.get("StackName", stack_id)
    if not reasons:
        detail = stack.get("StackStatusReason") or (str(exc) if exc else "no reason given")
        reasons.append(" ".join(str(detail).split()))
    return f"stack {name} could not be deleted ({status}): {'; '.join(reasons)}"


def execute_teardown(
    plan: TeardownPlan, *, cloudformation: Any, s3: Any, events: Any, logs: Any, report: Report
) -> None:
    """Delete what the plan found, in an order that leaves nothing running and nothing behind."""
    for line in plan.skipped:
        report(line)
    if plan.rule_name:
        if disable_rule(events, plan.rule_name):
            report(f"disabled schedule rule {plan.rule_name}: no new run starts")
        else:
            report(f"schedule rule {plan.rule_name} is already gone")
    elif plan.stack_exists:
        report(f"no schedule rule of stack {plan.stack_name} to disable")

    if plan.results_bucket and not plan.retain_data:
        count = empty_bucket(s3, plan.results_bucket)
        report(f"emptied results bucket {plan.results_bucket}: {count} object version(s) and delete marker(s)")

    if plan.artifact_bucket and is_artifact_bucket_of(s3, plan.artifact_bucket, plan.stack_name):
        count = empty_bucket(s3, plan.artifact_bucket)
        s3.delete_bucket(Bucket=plan.artifact_bucket)
        report(f"deleted artifact bucket {plan.artifact_bucket} ({count} object(s))")

    if plan.stack_id:
        report(f"deleting stack {plan.stack_name} (waiting for CloudFormation)...")
        delete_stack(cloudformation, plan.stack_id)
        report(f"deleted stack {plan.stack_name}")
        if plan.retain_data:
            kept = ", ".join(
                f"{kind} {name}"
                for kind, name in (("table", plan.table_name), ("results bucket", plan.results_bucket))
                if name
            )
            if kept:
                report(f"kept {kept} (RetainData=true); delete them yourself when they are no longer needed")

    # Listed again: Lambda recreates a group when a late invocation logs after the stack deleted it.
    groups = list_log_groups(logs, plan.stack_name)
    for name in groups:
        try:
            logs.delete_log_group(logGroupName=name)
        except ClientError as exc:
            if _error_code(exc) != "ResourceNotFoundException":
                raise
    if groups:
        report(f"deleted {len(groups)} log group(s) under {log_group_prefix(plan.stack_name)}")

    # Last: a local stack saving meanwhile finds no stack and writes nothing back.
    for path in [*plan.saved_state, *plan.local_paths]:
        remove_local_path(path)
        report(f"removed {path}")
