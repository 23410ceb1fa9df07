"""template.yml as the build reads and rewrites it: the one runtime and architecture every function runs on,
each layer's kind, each function's code folder and layers; and build/template.yml, pointing at what the build made.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import yaml

from watchlist_workstation.deploy.build_errors import BuildError

TEMPLATE = "template.yml"

FUNCTION_TYPE = "AWS::Serverless::Function"

LAYER_TYPE = "AWS::Serverless::LayerVersion"

# Lambda's python3.12+ runtimes run on Amazon Linux 2023 (glibc 2.34), so wheels for manylinux2014
# (glibc 2.17) and manylinux_2_28 both load there; newer wheels are often published only as 2_28.
_MANYLINUX = ("manylinux2014", "manylinux_2_28")

_ARCHITECTURES = {"arm64": "aarch64", "x86_64": "x86_64"}


def wheel_platforms(architecture: str) -> list[str]:
    """pip's --platform values for Lambda's `architecture`, in order of preference."""
    return [f"{tag}_{_ARCHITECTURES[architecture]}" for tag in _MANYLINUX]


def target_runtime(functions: dict[str, Any], globals_: dict[str, Any], layers: dict[str, Any]) -> tuple[str, str]:
    """The one (python version, architecture) every function runs on; the deps layer is built for it."""
    targets = set()
    for logical_id, resource in functions.items():
        props = resource.get("Properties") or {}
        runtime = props.get("Runtime", globals_.get("Runtime"))
        architectures = props.get("Architectures", globals_.get("Architectures", ["x86_64"]))
        match = re.fullmatch(r"python(3\.\d+)", runtime) if isinstance(runtime, str) else None
        if not match:
            raise BuildError(f"function {logical_id}: Runtime must be a literal pythonX.Y, got {runtime!r}")
        if not isinstance(architectures, list) or len(architectures) != 1 or architectures[0] not in _ARCHITECTURES:
            raise BuildError(f"function {logical_id}: Architectures must be [arm64] or [x86_64], got {architectures!r}")
        targets.add((match.group(1), architectures[0]))
    if len(targets) != 1:
        raise BuildError(
            f"functions differ in Runtime/Architectures {sorted(targets)}; one deps layer cannot serve all"
        )
    python_version, architecture = targets.pop()
    for logical_id, resource in layers.items():
        props = resource.get("Properties") or {}
        runtimes = props.get("CompatibleRuntimes")
        arches = props.get("CompatibleArchitectures")
        if runtimes is not None and f"python{python_version}" not in runtimes:
            raise BuildError(f"layer {logical_id}: CompatibleRuntimes {runtimes} lacks python{python_version}")
        if arches is not None and architecture not in arches:
            raise BuildError(f"layer {logical_id}: CompatibleArchitectures {arches} lacks {architecture}")
    return python_version, architecture


# Each layer's ContentUri in template.yml: a folder that holds only the Makefile `sam build` runs
# (scripts/sam-build.mk); its name says which layer the build makes.
LAYER_SOURCES = {"shared": "layers/shared", "deps": "layers/deps"}


def layer_kind(logical_id: str, resource: dict[str, Any]) -> str:
    """'shared' or 'deps', from the layer's ContentUri (layers/shared/ or layers/deps/)."""
    uri = (resource.get("Properties") or {}).get("ContentUri")
    kind = next((k for k, folder in LAYER_SOURCES.items() if isinstance(uri, str) and uri.rstrip("/") == folder), None)
    if kind is None:
        raise BuildError(
            f"layer {logical_id}: ContentUri {uri!r} is not a layer this build makes "
            f"({' or '.join(f + '/' for f in LAYER_SOURCES.values())})"
        )
    return kind


def built_layer(out: Path, kind: str) -> Path:
    """Where the build puts the layer of `kind` under its output folder (layers/<kind>/, holding python/)."""
    return out / "layers" / kind


def code_folder(root: Path, logical_id: str, resource: dict[str, Any]) -> Path:
    uri = (resource.get("Properties") or {}).get("CodeUri")
    if not isinstance(uri, str) or uri.startswith("s3://"):
        raise BuildError(f"function {logical_id}: CodeUri must be a local folder, got {uri!r}")
    folder = (root / uri).resolve()
    if not folder.is_dir() or not folder.is_relative_to(root):
        raise BuildError(f"function {logical_id}: CodeUri {uri!r} is not a folder inside {root}")
    return folder


def function_layers(
    logical_id: str, resource: dict[str, Any], globals_: dict[str, Any], layers: dict[str, Any]
) -> list[str]:
    """Logical ids of the template's layers the function uses (SAM prepends Globals' list to its own)."""
    entries = list(globals_.get("Layers") or []) + list((resource.get("Properties") or {}).get("Layers") or [])
    refs = []
    for entry in entries:
        if not (isinstance(entry, dict) and set(entry) == {"Ref"} and entry["Ref"] in layers):
            # A layer from elsewhere (an ARN) has a size this build cannot know, so the limit check would lie.
            raise BuildError(f"function {logical_id}: layer {entry!r} is not a !Ref to a layer in {TEMPLATE}")
        refs.append(entry["Ref"])
    return refs


def write_template(
    template: dict[str, Any], out: Path, function_dirs: dict[str, Path], layer_dirs: dict[str, Path]
) -> None:
    """Write out/template.yml: the source template with CodeUri/ContentUri relative to `out`.

    The template is parsed (watchlist_workstation.deploy.template.load_template, the project's one reader) and dumped
    in long form (`{"Ref": ...}` instead of `!Ref`), which CloudFormation accepts as it is. A textual
    rewrite would keep comments, but would have to find the right CodeUri line by indentation, and
    this file is an artifact nobody edits.
    """
    rewritten = copy.deepcopy(template)
    resources = rewritten["Resources"]
    for logical_id, folder in function_dirs.items():
        resources[logical_id]["Properties"]["CodeUri"] = folder.relative_to(out).as_posix() + "/"
    for logical_id, folder in layer_dirs.items():
        resources[logical_id]["Properties"]["ContentUri"] = folder.relative_to(out).as_posix() + "/"
    text = yaml.safe_dump(rewritten, sort_keys=False, default_flow_style=False, allow_unicode=True, width=1000)
    header = f"# Generated by watchlist_workstation/deploy/build.py from {TEMPLATE}: edit that file, not this one.\n"
    _write_atomically(out / TEMPLATE, header + text)


def _write_atomically(path: Path, text: str) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)
