"""A narrow fix to moto (5.2.5) that local mode needs, applied in the process that runs the moto server.

A stack update that changes a function with layers fails in moto's CloudFormation (HTTP 500,
`'LayerVersion' object has no attribute 'replace'`): moto's LayerVersion model has no physical
resource id, so a `Ref` to an AWS::Lambda::LayerVersion resolves to the model object itself, and
the function update reads that as a layer ARN. In CloudFormation, `Ref` of a layer version returns
its ARN (AWS::Lambda::LayerVersion, "Return values"); the fix gives moto's model exactly that
physical id. Creating a stack is unaffected (moto creates a function from CloudFormation without
its Layers), so only `make-infra --local` updates depend on it.

    from lib.local import moto_fixes
    moto_fixes.apply()   # before the first stack update; idempotent
"""

from __future__ import annotations

from typing import Any


def layer_version_physical_id(layer_version: Any) -> str:
    """What CloudFormation's Ref returns for a layer version: its ARN."""
    return str(layer_version.arn)


def apply() -> None:
    from moto.awslambda.models import LayerVersion

    if "physical_resource_id" not in vars(LayerVersion):  # moto fixed it itself, or already applied
        LayerVersion.physical_resource_id = property(layer_version_physical_id)  # type: ignore[attr-defined]
