"""Create the stack from template.yml in an emulated account (moto), with no network and no Docker.

The same steps a real deploy takes, done offline: resolve the language extensions,
transform SAM to CloudFormation with samtranslator, upload each function's and
layer's code to the emulated S3, and create the stack with the emulated
CloudFormation. Tests use it today; local mode builds on it.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

from lib.deploy.build import shared_layer_modules
from lib.deploy.template import load_template, transform

ROOT = Path(__file__).resolve().parents[2]
# Where `make build` puts the shared layer; local mode packs it from lib/ itself instead.
SHARED_LAYER_BUILD = "build/layers/shared"
CODE_TYPES = ("AWS::Serverless::Function", "AWS::Serverless::LayerVersion")


def zip_folder(folder: Path, prefix: str = "") -> bytes:
    """Zip a folder's files (sorted, so the bytes are stable); `prefix` nests them, as layers need python/."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        if folder.is_dir():
            for path in sorted(p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
                archive.write(path, prefix + path.relative_to(folder).as_posix())
    return buffer.getvalue()


def zip_files(files: list[Path], prefix: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in files:
            archive.write(path, prefix + path.name)
    return buffer.getvalue()


def code_bundles(template: dict[str, Any], root: Path = ROOT) -> dict[str, bytes]:
    """Each function's and layer's code as a zip: functions from their CodeUri folder; the shared
    layer from lib/'s runtime modules as they are now (never a stale build/); the deps layer from
    its build output, shipped empty when `make build` has not run (local mode then falls back to
    this environment's packages)."""
    bundles: dict[str, bytes] = {}
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] not in CODE_TYPES:
            continue
        uri = str(resource["Properties"].get("CodeUri") or resource["Properties"].get("ContentUri"))
        if uri.rstrip("/") == SHARED_LAYER_BUILD:
            bundles[logical_id] = zip_files(shared_layer_modules(root / "lib"), "python/lib/")
        else:
            bundles[logical_id] = zip_folder(root / uri)
    return bundles


def deploy_offline(
    stack_name: str,
    parameters: dict[str, str] | None = None,
    *,
    region: str,
    artifact_bucket: str,
    cloudformation: Any,
    s3: Any,
    template_path: Path = ROOT / "template.yml",
) -> dict[str, str]:
    """Create `stack_name` in the emulated account and return its outputs."""
    parameters = dict(parameters or {})
    template = load_template(template_path)
    existing = [b["Name"] for b in s3.list_buckets().get("Buckets", [])]
    if artifact_bucket not in existing:
        if region == "us-east-1":
            s3.create_bucket(Bucket=artifact_bucket)
        else:
            s3.create_bucket(Bucket=artifact_bucket, CreateBucketConfiguration={"LocationConstraint": region})
    uris = {}
    for logical_id, body in code_bundles(template).items():
        key = f"{stack_name}/{logical_id}.zip"
        s3.put_object(Bucket=artifact_bucket, Key=key, Body=body)
        uris[logical_id] = f"s3://{artifact_bucket}/{key}"
    body = transform(template, parameters, region, uris)
    cloudformation.create_stack(
        StackName=stack_name,
        TemplateBody=json.dumps(body),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"],
    )
    stack = cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
