"""Tear the stack down: find what is this stack's to delete, then delete it in an order that leaves
nothing running and nothing behind (schedule off, results emptied, artifact bucket, stack, log groups,
files on this machine).

Workstation-only; `teardown` (watchlist_workstation/cli/deploy.py) puts a command over it. Every function
takes its AWS clients as parameters, so the command hands in the ones the CLI's context built and tests
hand in moto's. Nothing is deleted that the stack does not own: an output is acted on only when the
stack really has that resource, and an artifact bucket only when its tags say this stack created it.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, WaiterError

from watchlist_workstation.deploy.artifacts import (
    discover_artifact_bucket,
    error_code,
    find_artifact_bucket,
    is_artifact_bucket_of,
    record_path,
)
from watchlist_workstation.limits import S3_DELETE_BATCH

# The stack's resources whose physical ids teardown acts on before deleting the stack.
RESULTS_BUCKET_OUTPUT = "ResultsBucketName"
SCHEDULE_RULE_OUTPUT = "ScheduleRuleName"
TABLE_OUTPUT = "TableName"

Report = Callable[[str], None]
# count(what, done, total): how far a long step has come (objects deleted so far, the stack's resources
# deleted of all); the CLI shows it as progress (docs/cli.md, "Progress").
Count = Callable[[str, int, "int | None"], None]
# How often the stack's resources are counted while CloudFormation deletes them.
RESOURCE_COUNT_SECONDS = 5.0


class TeardownError(RuntimeError):
    """An expected failure of a teardown step; the message is one line for the user."""


# ---------------------------------------------------------------------------------------------- buckets


def empty_bucket(s3: Any, bucket: str, on_deleted: Callable[[int], None] | None = None) -> int:
    """Delete every object version and delete marker (a versioned bucket keeps both); returns how many.
    `on_deleted(count so far)` after each batch."""
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
            raise TeardownError(
                f"could not delete {len(errors)} object(s) from {bucket}: "
                f"{first.get('Key')}: {first.get('Code')}: {first.get('Message', '')}".rstrip(": ")
            )
        deleted += len(batch)
        batch.clear()
        if on_deleted is not None:
            on_deleted(deleted)

    # Each listing starts from the beginning, which after a delete is the next batch: a page marker naming a
    # version just deleted makes moto's ListObjectVersions skip everything after it (S3 needs no marker either).
    previous: list[dict[str, str]] = []
    while True:
        page = s3.list_object_versions(Bucket=bucket, MaxKeys=S3_DELETE_BATCH)
        entries = [*page.get("Versions", []), *page.get("DeleteMarkers", [])]
        if not entries:
            return deleted
        batch.extend({"Key": entry["Key"], "VersionId": entry["VersionId"]} for entry in entries[:S3_DELETE_BATCH])
        if batch == previous:
            raise TeardownError(f"objects of {bucket} are still listed after they were deleted: {batch[0]['Key']}")
        previous = list(batch)
        flush()


def bucket_exists(s3: Any, bucket: str) -> bool:
    try:
        s3.head_bucket(Bucket=bucket)
    except ClientError as exc:
        if error_code(exc) in ("404", "NoSuchBucket", "NotFound"):
            return False
        raise
    return True


# ---------------------------------------------------------------------------------------------- plan and execute


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
        if error_code(exc) == "ResourceNotFoundException":
            return False
        raise
    return True


def delete_stack(
    cloudformation: Any,
    stack_id: str,
    *,
    delay: int = 5,
    max_attempts: int = 720,
    on_resources: Callable[[int, int], None] | None = None,
) -> None:
    """Delete the stack and wait for the end (an hour at most); TeardownError names what failed to delete.
    `on_resources(deleted, total)` every RESOURCE_COUNT_SECONDS meanwhile, from another thread."""
    cloudformation.delete_stack(StackName=stack_id)
    stop = threading.Event()
    if on_resources is not None:
        threading.Thread(
            target=_count_deleted,
            args=(cloudformation, stack_id, on_resources, stop),
            name="count-deleted",
            daemon=True,
        ).start()
    try:
        # By id, not name: a stack of the same name created meanwhile is a different stack.
        cloudformation.get_waiter("stack_delete_complete").wait(
            StackName=stack_id, WaiterConfig={"Delay": delay, "MaxAttempts": max_attempts}
        )
    except WaiterError as exc:
        raise TeardownError(delete_failure(cloudformation, stack_id, exc)) from exc
    finally:
        stop.set()


def _count_deleted(
    cloudformation: Any, stack_id: str, on_resources: Callable[[int, int], None], stop: threading.Event
) -> None:
    """The stack's resources deleted so far, of all, until `stop`; a failed count only skips that report."""
    while not stop.wait(RESOURCE_COUNT_SECONDS):
        try:
            statuses = [
                resource.get("ResourceStatus", "")
                for page in cloudformation.get_paginator("list_stack_resources").paginate(StackName=stack_id)
                for resource in page.get("StackResourceSummaries", [])
            ]
        except (ClientError, BotoCoreError):  # a refused call, or a connection or read timeout: skip this report
            continue
        if not stop.is_set():
            on_resources(sum(status in ("DELETE_COMPLETE", "DELETE_SKIPPED") for status in statuses), len(statuses))


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
    plan: TeardownPlan,
    *,
    cloudformation: Any,
    s3: Any,
    events: Any,
    logs: Any,
    report: Report,
    count: Count | None = None,
) -> None:
    """Delete what the plan found, in an order that leaves nothing running and nothing behind; `count` hears
    how far the long steps have come (emptying buckets, deleting the stack's resources)."""

    def counter(what: str) -> Callable[..., None] | None:
        return None if count is None else lambda done, total=None: count(what, done, total)

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
        deleted = empty_bucket(s3, plan.results_bucket, counter(f"results bucket {plan.results_bucket}: deleted"))
        report(f"emptied results bucket {plan.results_bucket}: {deleted} object version(s) and delete marker(s)")

    if plan.artifact_bucket and is_artifact_bucket_of(s3, plan.artifact_bucket, plan.stack_name):
        deleted = empty_bucket(s3, plan.artifact_bucket, counter(f"artifact bucket {plan.artifact_bucket}: deleted"))
        s3.delete_bucket(Bucket=plan.artifact_bucket)
        report(f"deleted artifact bucket {plan.artifact_bucket} ({deleted} object(s))")

    if plan.stack_id:
        report(f"deleting stack {plan.stack_name} (waiting for CloudFormation)...")
        delete_stack(cloudformation, plan.stack_id, on_resources=counter(f"stack {plan.stack_name}: resources deleted"))
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
            if error_code(exc) != "ResourceNotFoundException":
                raise
    if groups:
        report(f"deleted {len(groups)} log group(s) under {log_group_prefix(plan.stack_name)}")

    # Last: a local stack saving meanwhile finds no stack and writes nothing back.
    for path in [*plan.saved_state, *plan.local_paths]:
        remove_local_path(path)
        report(f"removed {path}")
