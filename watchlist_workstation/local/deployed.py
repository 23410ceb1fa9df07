"""A local stack as CloudFormation deployed it, and the intrinsics of its resources' properties resolved against it.

moto 5.2.5's CloudFormation skips some resource types the template declares (bucket and queue policies, the
Glue catalog, the Athena workgroup; docs/local-mode.md). Local mode creates those itself through their own
APIs, from the deployed (processed) template, so their properties' intrinsic functions must be resolved the way
CloudFormation would: this module does it for the ones the template uses there (AWS CloudFormation User Guide,
"Intrinsic function reference": Ref, Fn::GetAtt, Fn::Sub with its `${!Literal}` escape, Fn::Join, Fn::Split;
"Pseudo parameters reference"). Any other intrinsic, or a reference to what the stack has not created, raises
the caller's error with the reference named, rather than passing a wrong value on.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class DeployedStack:
    """The processed template's resources, each created resource's physical id, and the pseudo parameters."""

    resources: dict[str, Any]
    physical: dict[str, str]
    pseudo: dict[str, str]


def read_stack(cloudformation: Any, stack_name: str) -> DeployedStack:
    """GetTemplate (Processed), the stack's resources and its id (for the account, region and partition)."""
    body = cloudformation.get_template(StackName=stack_name, TemplateStage="Processed")["TemplateBody"]
    template = json.loads(body) if isinstance(body, str) else body
    physical = {}
    for page in cloudformation.get_paginator("list_stack_resources").paginate(StackName=stack_name):
        for resource in page["StackResourceSummaries"]:
            if resource.get("PhysicalResourceId"):
                physical[resource["LogicalResourceId"]] = resource["PhysicalResourceId"]
    stack = cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]
    # arn:<partition>:cloudformation:<region>:<account>:stack/<name>/<id>
    _, partition, _, region, account, _ = stack["StackId"].split(":", 5)
    pseudo = {
        "AWS::StackName": stack_name,
        "AWS::AccountId": account,
        "AWS::Region": region,
        "AWS::Partition": partition,
        "AWS::URLSuffix": "amazonaws.com",
    }
    return DeployedStack(template.get("Resources", {}), physical, pseudo)


class Intrinsics:
    """Resolves a resource's properties against `stack`. Subclasses name their error and what they resolve, and
    may answer for references (`unknown_ref`) and attributes (`attribute`) this class does not know."""

    error: type[Exception] = RuntimeError
    where = "a resource"

    def __init__(self, stack: DeployedStack) -> None:
        self.stack = stack

    def resolve(self, node: Any) -> Any:
        if isinstance(node, list):
            return [self.resolve(item) for item in node]
        if not isinstance(node, dict):
            return node
        if set(node) == {"Ref"}:
            return self.ref(node["Ref"])
        if set(node) == {"Fn::GetAtt"}:
            logical, attribute = node["Fn::GetAtt"]
            return self.attribute(logical, attribute)
        if set(node) == {"Fn::Sub"} and isinstance(node["Fn::Sub"], str):
            return re.sub(r"\$\{(!?)([^}]+)\}", self._substitute, node["Fn::Sub"])
        if set(node) == {"Fn::Join"}:
            separator, items = node["Fn::Join"]
            return separator.join(str(item) for item in self.resolve(items))
        if set(node) == {"Fn::Split"}:
            separator, text = node["Fn::Split"]
            return str(self.resolve(text)).split(separator)
        if any(key.startswith("Fn::") for key in node):
            raise self.error(f"an intrinsic local mode does not resolve in {self.where}: {sorted(node)}")
        return {key: self.resolve(value) for key, value in node.items()}

    def _substitute(self, match: re.Match[str]) -> str:
        if match.group(1):  # ${!Literal} is a literal ${Literal}
            return "${" + match.group(2) + "}"
        name = match.group(2)
        if name in self.stack.pseudo:
            return self.stack.pseudo[name]
        logical, _, attribute = name.partition(".")
        return self.attribute(logical, attribute) if attribute else self.ref(logical)

    def ref(self, name: str) -> str:
        if name in self.stack.pseudo:
            return self.stack.pseudo[name]
        if name in self.stack.physical:
            return self.stack.physical[name]
        return self.unknown_ref(name)

    def unknown_ref(self, name: str) -> str:
        raise self.error(f"{self.where} refers to {name}, which the stack has not created")

    def kind(self, logical: str) -> str | None:
        return self.stack.resources.get(logical, {}).get("Type")

    def attribute(self, logical: str, attribute: str) -> str:
        """A bucket's Arn; subclasses add the attributes they need."""
        if attribute == "Arn" and self.kind(logical) == "AWS::S3::Bucket":
            return f"arn:{self.stack.pseudo['AWS::Partition']}:s3:::{self.ref(logical)}"
        raise self.error(
            f"{self.where} uses {logical}.{attribute} ({self.kind(logical)}), which local mode does not resolve"
        )
