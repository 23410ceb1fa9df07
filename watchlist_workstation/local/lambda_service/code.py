"""The deployed functions' code and layers: fetched from the emulated S3 and unzipped once per content hash.

moto's GetFunction gives Code.Location as a URL that serves nothing, and its GetLayerVersion answers
Content.Location "s3://" (no object), so the bytes come from the S3 objects the deployed (processed)
template names. A function's bytes must hash to its deployed CodeSha256, so only the deployed code
ever runs; a layer attached to a function is found among the stack's own by its CodeSha256.
"""

from __future__ import annotations

import base64
import hashlib
import io
import shutil
import uuid
import zipfile
from pathlib import Path
from typing import Any

from watchlist_workstation.local.lambda_service.specs import DiscoveryError


class CodeStore:
    """Unzips code and layers under `work_dir` (functions/<name>/<hash>/, layers/<hash>/)."""

    def __init__(self, s3: Any, lambda_: Any, work_dir: Path) -> None:
        self._s3, self._lambda = s3, lambda_
        self.work_dir = work_dir

    def layers(self, template: dict[str, Any]) -> dict[str, tuple[str, Path]]:
        """logical id -> (CodeSha256, unzipped folder) of each layer version the stack publishes."""
        index = {}
        for logical, resource in template.get("Resources", {}).items():
            if resource.get("Type") != "AWS::Lambda::LayerVersion":
                continue
            data = self._download(resource.get("Properties", {}).get("Content", {}), f"layer {logical}")
            sha = sha256_b64(data)
            index[logical] = (sha, unzip(data, self.work_dir / "layers" / folder_name(sha)))
        return index

    def function_code(self, name: str, properties: dict[str, Any], deployed_sha: str | None) -> tuple[str, Path]:
        """(CodeSha256, unzipped folder) of the function's code, refused unless it is what is deployed."""
        data = self._download(properties.get("Code", {}), f"function {name}")
        sha = sha256_b64(data)
        if sha != deployed_sha:
            raise DiscoveryError(
                f"function {name}: its deployed code (CodeSha256 {deployed_sha}) is not the object the "
                f"stack's template names ({sha}); it was updated outside the stack, and local mode cannot fetch it"
            )
        return sha, unzip(data, self.work_dir / "functions" / name / folder_name(sha))

    def function_layers(
        self,
        name: str,
        config: dict[str, Any],
        properties: dict[str, Any],
        layer_index: dict[str, tuple[str, Path]],
    ) -> list[Path]:
        """The unzipped folders of the function's layers, in its layer order."""
        by_sha = dict(layer_index.values())
        attached = config.get("Layers") or []
        if attached:
            # The configuration names layer version ARNs; find each one's bytes by its hash.
            folders = []
            for layer in attached:
                # GetLayerVersion by name and number: moto's server does not implement GetLayerVersionByArn.
                layer_arn, _, number = layer["Arn"].rpartition(":")
                version = self._lambda.get_layer_version(LayerName=layer_arn, VersionNumber=int(number))
                folder = by_sha.get(version["Content"].get("CodeSha256", ""))
                if folder is None:
                    raise DiscoveryError(
                        f"function {name}: layer {layer['Arn']} is not one this stack publishes; "
                        "local mode can fetch only the stack's own layers"
                    )
                folders.append(folder)
            return folders
        # moto creates a function from CloudFormation without its Layers (it copies only some
        # properties), so an empty list may be moto's omission: the deployed template says which.
        folders = []
        for reference in properties.get("Layers") or []:
            logical = reference.get("Ref") if isinstance(reference, dict) else None
            if logical not in layer_index:
                raise DiscoveryError(f"function {name}: layer {reference!r} is not one this stack publishes")
            folders.append(layer_index[logical][1])
        return folders

    def _download(self, location: dict[str, Any], what: str) -> bytes:
        if "ZipFile" in location:  # inline code: CloudFormation zips it as index.py
            return zip_bytes({"index.py": str(location["ZipFile"]).encode("utf-8")})
        try:
            bucket, key = location["S3Bucket"], location["S3Key"]
        except (KeyError, TypeError) as exc:
            raise DiscoveryError(f"{what}: no S3Bucket/S3Key in the deployed template") from exc
        extra = {"VersionId": location["S3ObjectVersion"]} if location.get("S3ObjectVersion") else {}
        return self._s3.get_object(Bucket=bucket, Key=key, **extra)["Body"].read()


def unzip(data: bytes, target: Path) -> Path:
    """Unpack once per content hash; a half-written folder never takes the final name."""
    if target.is_dir():
        return target
    staging = target.with_name(f".{target.name}.{uuid.uuid4().hex}")
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for member in archive.namelist():
            # Zip slip: no member may land outside the folder.
            if member.startswith("/") or ".." in Path(member).parts:
                raise DiscoveryError(f"zip member {member!r} points outside its folder")
        archive.extractall(staging)
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        staging.rename(target)
    except OSError:  # another discovery unpacked the same content first
        shutil.rmtree(staging, ignore_errors=True)
    return target


def sha256_b64(data: bytes) -> str:
    """Lambda's CodeSha256: the base64 of the zip's SHA-256."""
    return base64.b64encode(hashlib.sha256(data).digest()).decode("ascii")


def folder_name(sha: str) -> str:
    return base64.b64decode(sha).hex()[:16]


def zip_bytes(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()
