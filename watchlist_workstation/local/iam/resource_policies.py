"""The stack's bucket and queue policies, put on the emulated resources.

moto 5.2.5's CloudFormation does not create AWS::S3::BucketPolicy or AWS::SQS::QueuePolicy (it
skips those types), so the resource-based policies the template declares would be missing and
never evaluated. After the stack is created, `apply` reads them from the deployed (processed)
template, resolves the few intrinsics they use (Ref, Fn::GetAtt ...Arn, Fn::Sub) against the stack's
resources, and puts them with PutBucketPolicy and SetQueueAttributes(Policy), as CloudFormation would.
"""

from __future__ import annotations

import json
import re
from typing import Any


class UnresolvedPolicy(RuntimeError):
    """A policy uses an intrinsic or a reference this module does not resolve; the message names it."""


def apply(cloudformation: Any, s3: Any, sqs: Any, stack_name: str) -> int:
    """Put every bucket and queue policy of the stack; returns how many resources got one."""
    body = cloudformation.get_template(StackName=stack_name, TemplateStage="Processed")["TemplateBody"]
    template = json.loads(body) if isinstance(body, str) else body
    physical = {}
    for page in cloudformation.get_paginator("list_stack_resources").paginate(StackName=stack_name):
        for resource in page["StackResourceSummaries"]:
            if resource.get("PhysicalResourceId"):
                physical[resource["LogicalResourceId"]] = resource["PhysicalResourceId"]
    resources = template.get("Resources", {})
    resolver = _Resolver(resources, physical, sqs)
    applied = 0
    for declared in resources.values():
        properties = declared.get("Properties", {})
        if declared.get("Type") == "AWS::S3::BucketPolicy":
            document = resolver.resolve(properties["PolicyDocument"])
            s3.put_bucket_policy(Bucket=resolver.resolve(properties["Bucket"]), Policy=json.dumps(document))
            applied += 1
        elif declared.get("Type") == "AWS::SQS::QueuePolicy":
            document = json.dumps(resolver.resolve(properties["PolicyDocument"]))
            for queue in properties["Queues"]:
                sqs.set_queue_attributes(QueueUrl=resolver.resolve(queue), Attributes={"Policy": document})
                applied += 1
    return applied


class _Resolver:
    def __init__(self, resources: dict[str, Any], physical: dict[str, str], sqs: Any) -> None:
        self.resources, self.physical, self.sqs = resources, physical, sqs

    def resolve(self, node: Any) -> Any:
        if isinstance(node, list):
            return [self.resolve(item) for item in node]
        if not isinstance(node, dict):
            return node
        if set(node) == {"Ref"}:
            return self._ref(node["Ref"])
        if set(node) == {"Fn::GetAtt"}:
            logical, attribute = node["Fn::GetAtt"]
            return self._arn(logical, attribute)
        if set(node) == {"Fn::Sub"} and isinstance(node["Fn::Sub"], str):
            return re.sub(r"\$\{([^}]+)\}", lambda m: self._sub(m.group(1)), node["Fn::Sub"])
        if any(key.startswith("Fn::") for key in node):
            raise UnresolvedPolicy(f"an intrinsic local mode does not resolve in a resource policy: {sorted(node)}")
        return {key: self.resolve(value) for key, value in node.items()}

    def _ref(self, logical: str) -> str:
        if logical not in self.physical:
            raise UnresolvedPolicy(f"a resource policy refers to {logical}, which the stack has not created")
        return self.physical[logical]

    def _sub(self, name: str) -> str:
        logical, _, attribute = name.partition(".")
        return self._arn(logical, attribute) if attribute else self._ref(logical)

    def _arn(self, logical: str, attribute: str) -> str:
        kind = self.resources.get(logical, {}).get("Type")
        if attribute == "Arn" and kind == "AWS::S3::Bucket":
            return f"arn:aws:s3:::{self._ref(logical)}"
        if attribute == "Arn" and kind == "AWS::SQS::Queue":
            attributes = self.sqs.get_queue_attributes(QueueUrl=self._ref(logical), AttributeNames=["QueueArn"])
            return attributes["Attributes"]["QueueArn"]
        raise UnresolvedPolicy(f"{logical}.{attribute} ({kind}) in a resource policy")
