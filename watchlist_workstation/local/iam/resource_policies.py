"""The stack's bucket and queue policies, put on the emulated resources.

moto 5.2.5's CloudFormation does not create AWS::S3::BucketPolicy or AWS::SQS::QueuePolicy (it
skips those types), so the resource-based policies the template declares would be missing and
never evaluated. After the stack is created, `apply` reads them from the deployed (processed)
template, resolves the few intrinsics they use (Ref, Fn::GetAtt ...Arn, Fn::Sub) against the stack's
resources (watchlist_workstation/local/deployed.py), and puts them with PutBucketPolicy and
SetQueueAttributes(Policy), as CloudFormation would.
"""

from __future__ import annotations

import json
from typing import Any

from watchlist_workstation.local.deployed import DeployedStack, Intrinsics, read_stack


class UnresolvedPolicy(RuntimeError):
    """A policy uses an intrinsic or a reference this module does not resolve; the message names it."""


def apply(cloudformation: Any, s3: Any, sqs: Any, stack_name: str) -> int:
    """Put every bucket and queue policy of the stack; returns how many resources got one."""
    stack = read_stack(cloudformation, stack_name)
    resources = stack.resources
    resolver = _PolicyIntrinsics(stack, sqs)
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


class _PolicyIntrinsics(Intrinsics):
    error = UnresolvedPolicy
    where = "a resource policy"

    def __init__(self, stack: DeployedStack, sqs: Any) -> None:
        super().__init__(stack)
        self.sqs = sqs

    def attribute(self, logical: str, attribute: str) -> str:
        if attribute == "Arn" and self.kind(logical) == "AWS::SQS::Queue":
            attributes = self.sqs.get_queue_attributes(QueueUrl=self.ref(logical), AttributeNames=["QueueArn"])
            return str(attributes["Attributes"]["QueueArn"])
        return super().attribute(logical, attribute)
