"""template.yml as the tests read it: loaded once per module, and transformed offline to the plain CloudFormation
of the default deployment; and the roles' policy statements as CloudFormation would resolve them."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from watchlist_workstation.deploy.template import (
    condition_values,
    load_template,
    transform,
)

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE_PATH = ROOT / "template.yml"
REGION = "us-east-1"
ARTIFACT_BUCKET = "pipeline-artifacts-test"
# Parameters without a default: every deployment must give them (template.yml, docs/deploying.md).
REQUIRED_PARAMETERS = {"UserAgentContact": "tests@example.invalid"}
CODE_IDS = ("ServerlessProducer", "ProducerAI", "Compactor", "SharedLayer", "DepsLayer")
FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    # No credential lookup may fall through to the EC2 metadata endpoint.
    "AWS_EC2_METADATA_DISABLED": "true",
}


def tool_environment(scratch: Path) -> dict[str, str]:
    """Environment for the command-line tools (sam, cfn-lint, checkov): fake credentials, no telemetry, no
    update checks. `scratch` is a folder of the test's own for the SAM CLI's settings."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    env.update(FAKE_AWS_ENV)
    # SAM CLI asks PyPI for a newer version unless its last check is recent; its config dir can be moved.
    sam_dir = scratch / "sam-cli"
    sam_dir.mkdir(exist_ok=True)
    (sam_dir / "metadata.json").write_text(json.dumps({"telemetryEnabled": False, "lastVersionCheck": time.time()}))
    env.update({"__SAM_CLI_APP_DIR": str(sam_dir), "SAM_CLI_TELEMETRY": "0", "BC_SKIP_MAPPING": "TRUE"})
    # checkov's banner asks PyPI for a newer release unless told not to; --skip-download keeps it off Prisma Cloud.
    env["CKV_SKIP_PACKAGE_UPDATE_CHECK"] = "true"
    return env


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template(TEMPLATE_PATH)


def code_uris() -> dict[str, str]:
    return {logical_id: f"s3://{ARTIFACT_BUCKET}/{logical_id}.zip" for logical_id in CODE_IDS}


@pytest.fixture(scope="module")
def transformed(template: dict[str, Any]) -> dict[str, Any]:
    """The default deployment as plain CloudFormation."""
    return transform(template, with_required({}), REGION, code_uris())


def with_required(parameters: dict[str, str]) -> dict[str, str]:
    """`parameters` plus a value for each parameter the template requires, unless given."""
    return {**REQUIRED_PARAMETERS, **parameters}


_NO_VALUE = object()


def resolve_ifs(node: Any, conditions: dict[str, bool]) -> Any:
    """The node with each Fn::If replaced by its chosen branch, and AWS::NoValue left out, as CloudFormation does."""
    if isinstance(node, dict):
        if node == {"Ref": "AWS::NoValue"}:
            return _NO_VALUE
        if set(node) == {"Fn::If"}:
            name, when_true, when_false = node["Fn::If"]
            return resolve_ifs(when_true if conditions[name] else when_false, conditions)
        return {k: v for k, v in ((k, resolve_ifs(v, conditions)) for k, v in node.items()) if v is not _NO_VALUE}
    if isinstance(node, list):
        return [v for v in (resolve_ifs(item, conditions) for item in node) if v is not _NO_VALUE]
    return node


def role_statements(
    transformed: dict[str, Any], parameters: dict[str, str] | None = None
) -> list[tuple[str, dict[str, Any]]]:
    """Every role's policy statements as deployed with `parameters` (the defaults when None)."""
    conditions = condition_values(transformed, with_required(parameters or {}))
    found = []
    for lid, resource in transformed["Resources"].items():
        if resource["Type"] == "AWS::IAM::Role":
            for policy in resource["Properties"].get("Policies", []):
                statements = resolve_ifs(policy["PolicyDocument"]["Statement"], conditions)
                found.extend((lid, s) for s in (statements if isinstance(statements, list) else [statements]))
    return found


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]
