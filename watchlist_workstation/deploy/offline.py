"""Create or update the stack from template.yml in an emulated account (moto), with no network and no Docker.

The same steps a real deploy takes, done offline: resolve the language extensions,
transform SAM to CloudFormation with samtranslator, upload each function's and
layer's code to the emulated S3, and create the stack with the emulated
CloudFormation. Tests and local mode create stacks with `deploy_offline`;
`./cfcli.py make-infra --local` brings a running local stack up to date with
`sync_offline`, the offline counterpart of `sam deploy` (which cannot target the
emulator: moto cannot run its change sets).

Code objects are named by their content (`<stack>/<logical id>-<sha256 prefix>.zip`), as sam
names its uploads, so changed code changes the template (and the layers' logical ids, which the
SAM transform derives from the code's location) and an update replaces it; the zips are
byte-stable for the same files, so unchanged code leaves the stack up to date.

Before anything is uploaded, the template's Rules are evaluated for the parameter values and the region
(watchlist_workstation/deploy/rules.py): moto's CloudFormation ignores them, AWS would not.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from lib.results import object_exists
from watchlist_workstation.deploy import rules
from watchlist_workstation.deploy.build_template import LAYER_SOURCES, built_layer
from watchlist_workstation.deploy.bundles import shared_layer_modules
from watchlist_workstation.deploy.template import load_template, parameter_values_with_defaults, transform
from watchlist_workstation.project import ROOT, TEMPLATE

# A layer whose ContentUri is one of the template's layer folders (layers/shared/, layers/deps/, which hold
# only the Makefile `sam build` runs) is packed from what the build would ship instead.
_LAYER_KINDS = {folder: kind for kind, folder in LAYER_SOURCES.items()}
# A function's folder also holds the Makefile `sam build` runs; it is not code, and the build does not ship it.
NOT_CODE = ("Makefile",)
CODE_TYPES = ("AWS::Serverless::Function", "AWS::Serverless::LayerVersion")
CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"]
# Every zip entry gets this time (zip's earliest), so the bytes depend on the files' contents only.
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class OfflineDeployment:
    action: str  # "created", "updated" or "unchanged"
    outputs: dict[str, str]
    parameters: dict[str, str]  # the parameter values sent to CloudFormation


def _add_file(archive: zipfile.ZipFile, path: Path, name: str) -> None:
    info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
    info.external_attr = (path.stat().st_mode & 0xFFFF) << 16  # keep the permission bits (an executable stays one)
    info.compress_type = zipfile.ZIP_DEFLATED
    archive.writestr(info, path.read_bytes())


def zip_folder(folder: Path, prefix: str = "", exclude: tuple[str, ...] = ()) -> bytes:
    """Zip a folder's files (sorted, with a fixed time, so the bytes are stable) but those named in `exclude`;
    `prefix` nests them, as layers need python/."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        if folder.is_dir():
            files = (p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
            for path in sorted(p for p in files if p.name not in exclude):
                _add_file(archive, path, prefix + path.relative_to(folder).as_posix())
    return buffer.getvalue()


def zip_files(files: list[Path], base: Path, prefix: str) -> bytes:
    """Zip `files` under their paths relative to `base`, nested in `prefix`."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in files:
            _add_file(archive, path, prefix + path.relative_to(base).as_posix())
    return buffer.getvalue()


def code_bundles(template: dict[str, Any], root: Path = ROOT) -> dict[str, bytes]:
    """Each function's and layer's code as a zip: functions from their CodeUri folder (without its
    Makefile); the shared layer from lib/ as it is now (never a stale build/); the deps layer from
    its build output (build/layers/deps), shipped empty when `make build` has not run (local mode then
    falls back to this environment's packages); a layer whose ContentUri is another folder, from it."""
    bundles: dict[str, bytes] = {}
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] not in CODE_TYPES:
            continue
        uri = str(resource["Properties"].get("CodeUri") or resource["Properties"].get("ContentUri"))
        kind = _LAYER_KINDS.get(uri.rstrip("/")) if resource["Type"] == CODE_TYPES[1] else None
        if kind == "shared":
            bundles[logical_id] = zip_files(shared_layer_modules(root / "lib"), root / "lib", "python/lib/")
        elif kind == "deps":
            bundles[logical_id] = zip_folder(built_layer(root / "build", kind))
        else:
            bundles[logical_id] = zip_folder(root / uri, exclude=NOT_CODE)
    return bundles


def upload_code(
    template: dict[str, Any], stack_name: str, *, region: str, artifact_bucket: str, s3: Any, root: Path = ROOT
) -> dict[str, str]:
    """Upload each function's and layer's zip under a content-derived key (skipping one already there);
    returns logical id -> s3:// URI, for transform()."""
    existing = [b["Name"] for b in s3.list_buckets().get("Buckets", [])]
    if artifact_bucket not in existing:
        if region == "us-east-1":
            s3.create_bucket(Bucket=artifact_bucket)
        else:
            s3.create_bucket(Bucket=artifact_bucket, CreateBucketConfiguration={"LocationConstraint": region})
    uris = {}
    for logical_id, body in code_bundles(template, root).items():
        key = f"{stack_name}/{logical_id}-{hashlib.sha256(body).hexdigest()[:16]}.zip"
        if not object_exists(artifact_bucket, key, s3=s3):
            s3.put_object(Bucket=artifact_bucket, Key=key, Body=body)
        uris[logical_id] = f"s3://{artifact_bucket}/{key}"
    return uris


def _parameter_list(values: dict[str, str]) -> list[dict[str, str]]:
    return [{"ParameterKey": k, "ParameterValue": v} for k, v in values.items()]


def _outputs(cloudformation: Any, stack_name: str) -> dict[str, str]:
    stack = cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def deploy_offline(
    stack_name: str,
    parameters: dict[str, str] | None = None,
    *,
    region: str,
    artifact_bucket: str,
    cloudformation: Any,
    s3: Any,
    template_path: Path = TEMPLATE,
    root: Path = ROOT,
) -> dict[str, str]:
    """Create `stack_name` in the emulated account and return its outputs. `root`: where the code is."""
    parameters = dict(parameters or {})
    template = load_template(template_path)
    rules.check(template, parameter_values_with_defaults(template, parameters), region)
    uris = upload_code(template, stack_name, region=region, artifact_bucket=artifact_bucket, s3=s3, root=root)
    body = transform(template, parameters, region, uris)
    cloudformation.create_stack(
        StackName=stack_name,
        TemplateBody=json.dumps(body),
        Parameters=_parameter_list(parameters),
        Capabilities=CAPABILITIES,
    )
    return _outputs(cloudformation, stack_name)


def _deployed(cloudformation: Any, stack_name: str) -> dict[str, Any] | None:
    """The stack's description; None when there is none (a deleted stack's record does not count)."""
    try:
        stack = cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ValidationError":  # "Stack with id ... does not exist"
            return None
        raise
    return None if stack["StackStatus"] == "DELETE_COMPLETE" else stack


def _with_defaults(values: dict[str, str], declared: dict[str, Any]) -> dict[str, str]:
    """Every declared parameter's effective value: the one given, else the template's default."""
    effective = {}
    for name, spec in declared.items():
        if name in values:
            effective[name] = values[name]
        elif "Default" in (spec or {}):
            effective[name] = str(spec["Default"])
    return effective


def sync_offline(
    stack_name: str,
    parameters: dict[str, str] | None = None,
    *,
    defaults: dict[str, str] | None = None,
    region: str,
    artifact_bucket: str,
    cloudformation: Any,
    s3: Any,
    template_path: Path = TEMPLATE,
    root: Path = ROOT,
) -> OfflineDeployment:
    """Bring `stack_name` to template.yml and the code as they are now: create it when it does not
    exist, update it when its template or parameters differ, and otherwise leave it ("unchanged").

    Parameters work as with `sam deploy`: those given win; any other keeps the stack's current value
    (a value equal to the template's default is left to the default); `defaults` are used only
    when the stack is created (local mode's text source, for instance).
    """
    given = dict(parameters or {})
    template = load_template(template_path)
    declared = template.get("Parameters") or {}
    stack = _deployed(cloudformation, stack_name)
    if stack is None:
        values = {**(defaults or {}), **given}
        outputs = deploy_offline(
            stack_name,
            values,
            region=region,
            artifact_bucket=artifact_bucket,
            cloudformation=cloudformation,
            s3=s3,
            template_path=template_path,
            root=root,
        )
        return OfflineDeployment("created", outputs, values)

    current = {p["ParameterKey"]: p.get("ParameterValue", "") for p in stack.get("Parameters", [])}
    defaulted = _with_defaults({}, declared)
    kept = {k: v for k, v in current.items() if k in declared and defaulted.get(k) != v}
    # Given ones are sent even when they equal the default, so going back to a default is an update too.
    values = {**kept, **given}
    rules.check(template, parameter_values_with_defaults(template, values), region)
    uris = upload_code(template, stack_name, region=region, artifact_bucket=artifact_bucket, s3=s3, root=root)
    body = json.loads(json.dumps(transform(template, values, region, uris)))
    deployed = cloudformation.get_template(StackName=stack_name)["TemplateBody"]
    if isinstance(deployed, str):
        deployed = json.loads(deployed)
    if body == deployed and _with_defaults(values, declared) == _with_defaults(current, declared):
        return OfflineDeployment("unchanged", _outputs(cloudformation, stack_name), values)
    cloudformation.update_stack(
        StackName=stack_name,
        TemplateBody=json.dumps(body),
        Parameters=_parameter_list(values),
        Capabilities=CAPABILITIES,
    )
    return OfflineDeployment("updated", _outputs(cloudformation, stack_name), values)
