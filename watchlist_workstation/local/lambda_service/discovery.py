"""Reading the deployed stack: its functions, SQS event source mappings and schedules, and a fingerprint.

Everything comes from the deployed resources (ListStackResources, GetFunction, GetEventSourceMapping,
the queues' attributes, DescribeRule and ListTargetsByRule) and the processed template for the code's
S3 locations, never from template.yml's text.

moto's own SQS-to-Lambda path would fight local mode: for every message sent to a queue with an
*enabled* mapping, moto receives a batch and tries to invoke the function in Docker; without Docker
that fails, the messages' receive counts grow, and they end in the dead-letter queue untouched. So
reading a mapping disables it in moto and tags it (PLAYED_TAG) to record that local mode plays it; a
later reading (a restart) recognises the tag. Nothing re-enables them, since that would let moto
dead-letter every message sent meanwhile.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from lib.log import get_logger
from lib.schedule import period_seconds
from watchlist_workstation.local.lambda_service.code import CodeStore
from watchlist_workstation.local.lambda_service.specs import (
    Deployment,
    DiscoveryError,
    FunctionSpec,
    MappingSpec,
    ScheduleSpec,
)

log = get_logger("local.lambda_service")

# Tag put on an event source mapping local mode took over from moto (see the module docstring).
PLAYED_TAG = "local-mode:executor"
PLAYED_VALUE = "plays-this-mapping"
# What Lambda requires of the execution role before it creates an SQS event source mapping, and the
# error CreateEventSourceMapping answers otherwise (Lambda developer guide, "Using Lambda with Amazon
# SQS", execution role permissions; docs/local-mode.md, "IAM in local mode").
MAPPING_ACTIONS = ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes")
MAPPING_REFUSED = (
    "InvalidParameterValueException: The provided execution role does not have permissions to call {} on SQS"
)
# (action, resource, role ARN) -> None when allowed, else why not.
RoleCheck = Callable[[str, str, str], str | None]


class StackReader:
    """Reads one stack of the emulated account; `clients` holds cloudformation, lambda, sqs and events."""

    def __init__(self, clients: dict[str, Any], stack_name: str, code: CodeStore, role_check: RoleCheck) -> None:
        self._clients, self.stack_name, self._code = clients, stack_name, code
        self._role_check = role_check
        # deployed_version's last template read: (stack description digest, when, version).
        self._template_seen: tuple[str, float, str] | None = None

    def deployed_version(self, current: str | None, *, template_recheck: float = 0.0) -> str | None:
        """A fingerprint of the deployment (stack id, parameters, processed template); None when there
        is no stack to play: none of that name, deleted, or rolled back after a failed create.

        While CloudFormation is busy with the stack, `current` (the version last read) stands: its
        resources are half-way between two deployments. `template_recheck`: seconds for which a
        template read stands while the stack's description is unchanged (0: read it every time).
        """
        cloudformation = self._clients["cloudformation"]
        try:
            stack = cloudformation.describe_stacks(StackName=self.stack_name)["Stacks"][0]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ValidationError":  # "Stack ... does not exist"
                return None
            raise
        status = stack["StackStatus"]
        if status.startswith("DELETE_") or status in ("CREATE_FAILED", "ROLLBACK_COMPLETE", "ROLLBACK_FAILED"):
            return None
        if status.endswith("_IN_PROGRESS"):
            return current
        parameters = sorted((p["ParameterKey"], p.get("ParameterValue", "")) for p in stack.get("Parameters", []))
        described = json.dumps([stack["StackId"], status, parameters, stack.get("LastUpdatedTime")], default=str)
        seen, now = self._template_seen, time.monotonic()
        if seen is not None and seen[0] == described and now - seen[1] < template_recheck:
            return seen[2]
        template = cloudformation.get_template(StackName=stack["StackId"], TemplateStage="Processed")["TemplateBody"]
        fingerprint = json.dumps([stack["StackId"], parameters, template], sort_keys=True, default=str)
        version = hashlib.sha256(fingerprint.encode("utf-8")).hexdigest()
        self._template_seen = (described, now, version)
        return version

    def read(self, current: str | None) -> Deployment:
        """The stack's functions (code and layers unzipped), mappings and schedules, as deployed now."""
        # The version first: a change made while the resources are read shows as a new version next time.
        version = self.deployed_version(current)
        resources = self._stack_resources()
        template = self._deployed_template()
        layer_index = self._code.layers(template)
        functions = {
            physical: self._function_spec(physical, logical, template, layer_index, resources)
            for logical, (kind, physical) in resources.items()
            if kind == "AWS::Lambda::Function"
        }
        mappings = [
            m
            for kind, physical in resources.values()
            if kind == "AWS::Lambda::EventSourceMapping"
            for m in [self._mapping_spec(physical, functions)]
            if m is not None
        ]
        schedules = [
            s
            for kind, physical in resources.values()
            if kind == "AWS::Events::Rule"
            for s in [self._schedule_spec(physical, functions)]
            if s is not None
        ]
        return Deployment(version, functions, mappings, schedules)

    def _stack_resources(self) -> dict[str, tuple[str, str]]:
        """logical id -> (type, physical id), for resources that have a physical id."""
        found = {}
        paginator = self._clients["cloudformation"].get_paginator("list_stack_resources")
        for page in paginator.paginate(StackName=self.stack_name):
            for resource in page["StackResourceSummaries"]:
                # moto leaves some out (types it skips) or without a physical id (layer versions).
                if resource.get("LogicalResourceId") and resource.get("PhysicalResourceId"):
                    found[resource["LogicalResourceId"]] = (resource["ResourceType"], resource["PhysicalResourceId"])
        return found

    def _deployed_template(self) -> dict[str, Any]:
        # "Processed": after the SAM transform, where the code's S3 locations are (the original stage
        # would be template.yml's CodeUri folders).
        body = self._clients["cloudformation"].get_template(StackName=self.stack_name, TemplateStage="Processed")[
            "TemplateBody"
        ]
        if isinstance(body, str):
            try:
                body = json.loads(body)
            except ValueError as exc:
                raise DiscoveryError(
                    f"stack {self.stack_name}: its template is not JSON; deploy it transformed"
                ) from exc
        return dict(body)

    def _function_spec(
        self,
        name: str,
        logical: str,
        template: dict[str, Any],
        layer_index: dict[str, Any],
        resources: dict[str, tuple[str, str]],
    ) -> FunctionSpec:
        deployed = self._clients["lambda"].get_function(FunctionName=name)
        config = deployed["Configuration"]
        if config.get("PackageType", "Zip") != "Zip":
            raise DiscoveryError(f"function {name}: only .zip functions can run locally")
        properties = template.get("Resources", {}).get(logical, {}).get("Properties", {})
        sha, code_dir = self._code.function_code(name, properties, config.get("CodeSha256"))
        layers = self._code.function_layers(name, config, properties, layer_index)
        return FunctionSpec(
            name=name,
            logical_id=logical,
            handler=config["Handler"],
            timeout=float(config.get("Timeout", 3)),
            memory_mb=int(config.get("MemorySize", 128)),
            # Lambda's environment values are strings (Lambda API reference, Environment); moto's stack keeps a
            # Number parameter's !Ref as a number, so it is given as the string CloudFormation would pass.
            environment={k: str(v) for k, v in ((config.get("Environment") or {}).get("Variables") or {}).items()},
            code_dir=code_dir,
            layer_dirs=[layer / "python" for layer in layers if (layer / "python").is_dir()],
            arn=config["FunctionArn"],
            runtime=config.get("Runtime", ""),
            code_sha256=sha,
            log_group=(config.get("LoggingConfig") or {}).get("LogGroup")
            or _template_log_group(properties, resources)
            or f"/aws/lambda/{name}",
            role_arn=config.get("Role", ""),
        )

    def _mapping_spec(self, uuid_: str, functions: dict[str, FunctionSpec]) -> MappingSpec | None:
        lam, sqs = self._clients["lambda"], self._clients["sqs"]
        mapping = lam.get_event_source_mapping(UUID=uuid_)
        source = mapping.get("EventSourceArn", "")
        function = mapping["FunctionArn"].split(":")[6]
        if not source.startswith("arn:") or source.split(":")[2] != "sqs":
            log.warning("event source not played locally (only SQS is)", extra={"mapping": uuid_, "source": source})
            return None
        if function not in functions:
            log.warning("mapping feeds a function outside the stack; not played", extra={"mapping": uuid_})
            return None
        if mapping.get("FilterCriteria"):
            raise DiscoveryError(f"mapping {uuid_}: FilterCriteria are not played locally")
        role_arn = functions[function].role_arn
        for action in MAPPING_ACTIONS:
            if self._role_check(action, source, role_arn) is not None:
                # Lambda refuses to create such a mapping; moto created it, so local mode refuses to play it.
                refused = MAPPING_REFUSED.format(action.split(":")[1])
                raise DiscoveryError(f"event source mapping of {function} from {source}: {refused}")
        arn = (
            mapping.get("EventSourceMappingArn")
            or f"{mapping['FunctionArn'].rsplit(':function:', 1)[0]}:event-source-mapping:{uuid_}"
        )
        tags = lam.list_tags(Resource=arn).get("Tags", {})
        played = tags.get(PLAYED_TAG) == PLAYED_VALUE
        state = mapping.get("State", "Enabled")
        if not played and state in ("Disabled", "Disabling"):
            log.info("mapping is disabled; not played", extra={"mapping": uuid_})
            return None
        if not played:
            # Tag first: if we stop between the two calls, the next reading still knows the mapping is ours.
            lam.tag_resource(Resource=arn, Tags={PLAYED_TAG: PLAYED_VALUE})
        if state not in ("Disabled", "Disabling"):
            lam.update_event_source_mapping(UUID=uuid_, Enabled=False)
        _, _, _, region, account, queue_name = source.split(":", 5)
        queue_url = sqs.get_queue_url(QueueName=queue_name, QueueOwnerAWSAccountId=account)["QueueUrl"]
        attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])["Attributes"]
        redrive = json.loads(attributes.get("RedrivePolicy") or "{}")
        dlq_arn = redrive.get("deadLetterTargetArn")
        dlq_url = None
        if dlq_arn:
            _, _, _, _, dlq_account, dlq_name = dlq_arn.split(":", 5)
            dlq_url = sqs.get_queue_url(QueueName=dlq_name, QueueOwnerAWSAccountId=dlq_account)["QueueUrl"]
        scaling = mapping.get("ScalingConfig") or {}
        return MappingSpec(
            uuid=uuid_,
            function=function,
            queue_url=queue_url,
            queue_arn=source,
            batch_size=int(mapping.get("BatchSize") or 10),  # Lambda's default for SQS
            batching_window=float(mapping.get("MaximumBatchingWindowInSeconds") or 0),
            report_batch_item_failures="ReportBatchItemFailures" in (mapping.get("FunctionResponseTypes") or []),
            maximum_concurrency=int(scaling["MaximumConcurrency"]) if scaling.get("MaximumConcurrency") else None,
            visibility_timeout=int(attributes.get("VisibilityTimeout", 30)),
            max_receive_count=int(redrive["maxReceiveCount"]) if "maxReceiveCount" in redrive else None,
            dlq_arn=dlq_arn,
            dlq_url=dlq_url,
            role_arn=role_arn,
        )

    def _schedule_spec(self, rule_name: str, functions: dict[str, FunctionSpec]) -> ScheduleSpec | None:
        events = self._clients["events"]
        rule = events.describe_rule(Name=rule_name)
        expression = rule.get("ScheduleExpression")
        if not expression:
            return None  # an event-pattern rule: nothing to tick
        targets = [
            t
            for t in events.list_targets_by_rule(Rule=rule_name)["Targets"]
            if t["Arn"].split(":")[2] == "lambda" and t["Arn"].split(":")[6] in functions
        ]
        if not targets:
            log.warning("schedule targets no function of the stack; not played", extra={"rule": rule_name})
            return None
        if len(targets) > 1:
            raise DiscoveryError(f"rule {rule_name}: more than one Lambda target is not played locally")
        target = targets[0]
        if target.get("InputPath") or target.get("InputTransformer"):
            raise DiscoveryError(f"rule {rule_name}: InputPath and InputTransformer are not played locally")
        return ScheduleSpec(
            rule_name=rule_name,
            rule_arn=rule["Arn"],
            expression=expression,
            state=rule.get("State", "ENABLED"),
            function=target["Arn"].split(":")[6],
            period_seconds=period_seconds(expression),
            input=target.get("Input"),
        )


def _template_log_group(properties: dict[str, Any], resources: dict[str, tuple[str, str]]) -> str | None:
    """The log group the function's LoggingConfig names, when moto's GetFunction leaves LoggingConfig out
    (moto 5.2.5 does): a Ref to the stack's log group is its name, a string is the name itself."""
    group = (properties.get("LoggingConfig") or {}).get("LogGroup")
    if isinstance(group, dict) and set(group) == {"Ref"} and group["Ref"] in resources:
        return resources[group["Ref"]][1]
    return group if isinstance(group, str) else None
