"""Build what `sam deploy` ships, without Docker, and measure it against Lambda's size limit.

    python -m watchlist_workstation.deploy.build [--root .] [--out build] [--json] [--force-deps]

Layout under `out` (build/ by default):

    layers/shared/python/lib/   all of lib/ (.py files; lib is exactly what ships, docs/design.md "Layout")
    layers/deps/python/         requirements-lambda.txt, installed by pip for the functions' platform
    functions/<Folder>/         each function's CodeUri folder, .py files only (no tests, no caches)
    template.yml                template.yml with each CodeUri/ContentUri pointing at those folders,
                                for `sam deploy --template-file build/template.yml`

Why not `sam build`: building for arm64 / Python 3.13 on an x86_64 / 3.11 workstation needs its
container mode (Docker, which we do not have), and it would copy all of lib/ into every function.
`pip install --platform ... --only-binary=:all:` fetches the right wheels on any machine.

Before measuring, every module that ships is checked for imports the Lambda environment cannot
satisfy (a workstation subpackage of lib, pandas, click, ...), so such a mistake fails the build
here instead of the first invocation in AWS. tests/test_build.py also proves that no module of the
workstation package is reachable from a handler.
"""

from __future__ import annotations

import argparse
import ast
import copy
import hashlib
import json
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from watchlist_workstation.deploy.template import load_template
from watchlist_workstation.limits import LAMBDA_UNZIPPED_LIMIT_BYTES

TEMPLATE = "template.yml"
LAMBDA_REQUIREMENTS = "requirements-lambda.txt"
FUNCTION_TYPE = "AWS::Serverless::Function"
LAYER_TYPE = "AWS::Serverless::LayerVersion"

# What the Lambda Python runtime itself puts on sys.path: the AWS SDK and its dependencies
# (Lambda developer guide, "Python runtimes": the runtime includes the SDK for Python, boto3).
RUNTIME_PROVIDED = frozenset({"boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3"})

# The standard library of the *target* Python: sys.stdlib_module_names is the workstation's
# (3.11), which still has these, removed by PEP 594 / PEP 632 in the version named.
_REMOVED_FROM_STDLIB = {
    (3, 12): {"asynchat", "asyncore", "distutils", "imp", "smtpd"},
    (3, 13): {
        "aifc", "audioop", "cgi", "cgitb", "chunk", "crypt", "imghdr", "lib2to3", "mailcap", "msilib",
        "nis", "nntplib", "ossaudiodev", "pipes", "sndhdr", "spwd", "sunau", "telnetlib", "uu", "xdrlib",
    },
}  # fmt: skip

# Lambda's python3.12+ runtimes run on Amazon Linux 2023 (glibc 2.34), so wheels for manylinux2014
# (glibc 2.17) and manylinux_2_28 both load there; newer wheels are often published only as 2_28.
_MANYLINUX = ("manylinux2014", "manylinux_2_28")
_ARCHITECTURES = {"arm64": "aarch64", "x86_64": "x86_64"}

# Files that are never part of a function's code even when they sit in its folder.
_EXCLUDED_DIRS = frozenset({"__pycache__", "tests", "test", ".pytest_cache"})


class BuildError(RuntimeError):
    """The build cannot produce a deployable bundle; the message says why in one line."""


class BundleTooLargeError(BuildError):
    """A function's code plus its layers exceeds Lambda's unzipped limit. Carries the full report."""

    def __init__(self, message: str, report: dict[str, Any]) -> None:
        super().__init__(message)
        self.report = report


# ---------------------------------------------------------------------------------------------- entry point


def build(
    root: Path,
    out: Path,
    *,
    limit_bytes: int = LAMBDA_UNZIPPED_LIMIT_BYTES,
    force_deps: bool = False,
) -> dict[str, Any]:
    """Build the layers, function folders and rewritten template of the project at `root` into `out`.

    Returns the size report (see `_report`); raises BuildError, or BundleTooLargeError (after
    everything is written, so the folders can be inspected) when a function exceeds `limit_bytes`.
    """
    root, out = root.resolve(), out.resolve()
    if out == root or root.is_relative_to(out):
        raise BuildError(f"output folder {out} would overwrite the sources in {root}")
    template_path = root / TEMPLATE
    if not template_path.is_file():
        raise BuildError(f"{template_path} not found")
    template = load_template(template_path)
    resources = template.get("Resources") or {}
    globals_ = (template.get("Globals") or {}).get("Function") or {}

    functions = {lid: r for lid, r in resources.items() if r.get("Type") == FUNCTION_TYPE}
    layers = {lid: r for lid, r in resources.items() if r.get("Type") == LAYER_TYPE}
    if not functions:
        raise BuildError(f"{TEMPLATE} defines no {FUNCTION_TYPE}")

    python_version, architecture = _target_runtime(functions, globals_, layers)
    platforms = [f"{tag}_{_ARCHITECTURES[architecture]}" for tag in _MANYLINUX]

    out.mkdir(parents=True, exist_ok=True)
    layer_dirs: dict[str, Path] = {}
    deps_reinstalled = False
    for logical_id, resource in layers.items():
        kind = _layer_kind(logical_id, resource)
        target = out / "layers" / kind
        if kind == "shared":
            _build_shared_layer(root / "lib", target)
        else:
            deps_reinstalled = _build_deps_layer(
                root / LAMBDA_REQUIREMENTS, target, python_version, platforms, force=force_deps
            )
        layer_dirs[logical_id] = target

    function_dirs: dict[str, Path] = {}
    if (out / "functions").exists():
        shutil.rmtree(out / "functions")
    for logical_id, resource in functions.items():
        source = _code_folder(root, logical_id, resource)
        target = out / "functions" / source.name
        if not target.exists():
            _copy_python_tree(source, target)
        function_dirs[logical_id] = target

    layer_refs = {lid: _function_layers(lid, r, globals_, layers) for lid, r in functions.items()}
    _check_imports(out, root, function_dirs, layer_dirs, layer_refs, python_version)

    _write_template(template, out, function_dirs, layer_dirs)
    report = _report(out, function_dirs, layer_dirs, layer_refs, limit_bytes)
    report["runtime"] = {"python_version": python_version, "architecture": architecture, "platforms": platforms}
    report["deps_reinstalled"] = deps_reinstalled
    check_sizes(report, limit_bytes)
    return report


def check_sizes(report: dict[str, Any], limit_bytes: int = LAMBDA_UNZIPPED_LIMIT_BYTES) -> None:
    """Raise BundleTooLargeError naming every function whose code plus layers exceeds `limit_bytes`."""
    over = [
        f"{name} {entry['unzipped_bytes']:,} B"
        for name, entry in report["functions"].items()
        if entry["unzipped_bytes"] > limit_bytes
    ]
    if over:
        raise BundleTooLargeError(
            f"over Lambda's unzipped limit of {limit_bytes:,} bytes (code + layers): {', '.join(over)}", report
        )


# ---------------------------------------------------------------------------------------------- template


def _target_runtime(functions: dict[str, Any], globals_: dict[str, Any], layers: dict[str, Any]) -> tuple[str, str]:
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


def _layer_kind(logical_id: str, resource: dict[str, Any]) -> str:
    """'shared' or 'deps', from the layer's ContentUri (build/layers/shared/ or build/layers/deps/)."""
    uri = (resource.get("Properties") or {}).get("ContentUri")
    kind = PurePosixPath(uri.rstrip("/")).name if isinstance(uri, str) else None
    if kind not in ("shared", "deps"):
        raise BuildError(
            f"layer {logical_id}: ContentUri {uri!r} is not a layer this build makes "
            "(build/layers/shared/ or build/layers/deps/)"
        )
    return kind


def _code_folder(root: Path, logical_id: str, resource: dict[str, Any]) -> Path:
    uri = (resource.get("Properties") or {}).get("CodeUri")
    if not isinstance(uri, str) or uri.startswith("s3://"):
        raise BuildError(f"function {logical_id}: CodeUri must be a local folder, got {uri!r}")
    folder = (root / uri).resolve()
    if not folder.is_dir() or not folder.is_relative_to(root):
        raise BuildError(f"function {logical_id}: CodeUri {uri!r} is not a folder inside {root}")
    return folder


def _function_layers(
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


def _write_template(
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


# ---------------------------------------------------------------------------------------------- layers and code


def shared_layer_modules(lib_dir: Path) -> list[Path]:
    """What the shared layer ships: every .py file of the lib package, subpackages included (no tests, no caches)."""
    if not (lib_dir / "__init__.py").is_file():
        raise BuildError(f"{lib_dir}/__init__.py not found")
    return sorted(
        path
        for path in lib_dir.rglob("*.py")
        if not _EXCLUDED_DIRS.intersection(path.relative_to(lib_dir).parts[:-1]) and not _is_test_file(path.name)
    )


def _build_shared_layer(lib_dir: Path, target: Path) -> None:
    """layers/shared/python/lib/ = a copy of the lib package (shared_layer_modules)."""
    if target.exists():
        shutil.rmtree(target)
    package = target / "python" / "lib"
    for module in shared_layer_modules(lib_dir):
        destination = package / module.relative_to(lib_dir)
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(module, destination)


def _build_deps_layer(
    requirements: Path, target: Path, python_version: str, platforms: list[str], *, force: bool
) -> bool:
    """layers/deps/python/ = requirements-lambda.txt for the Lambda platform. Returns whether pip ran.

    Skipped when the requirements and the target platform are those of the last successful
    install (a stamp beside the layer, so it is not shipped).
    """
    if not requirements.is_file():
        raise BuildError(f"{requirements} not found")
    stamp = target.parent / f"{target.name}.stamp"
    fingerprint = json.dumps(
        {
            "requirements_sha256": hashlib.sha256(requirements.read_bytes()).hexdigest(),
            "python_version": python_version,
            "platforms": platforms,
        },
        sort_keys=True,
    )
    if not force and (target / "python").is_dir() and stamp.is_file() and stamp.read_text() == fingerprint:
        return False

    print(f"build: installing {requirements.name} for CPython {python_version} on {platforms[0]}", file=sys.stderr)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent if target.parent.exists() else None))
    try:
        command = [
            sys.executable, "-m", "pip", "install",
            "--quiet", "--disable-pip-version-check", "--no-input",
            # Byte-code compiled by this 3.11 interpreter is useless to 3.13 and would only add size.
            "--no-compile",
            # --platform/--python-version make pip pick wheels for Lambda, not for this machine; an
            # sdist would be built for this machine, so only wheels are allowed.
            "--only-binary=:all:", "--implementation", "cp", "--python-version", python_version,
            *[arg for platform in platforms for arg in ("--platform", platform)],
            "--target", str(staging / "python"),
            "-r", str(requirements),
        ]  # fmt: skip
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            lines = [line for line in (result.stderr or result.stdout).splitlines() if line.strip()]
            reason = next((line for line in reversed(lines) if "ERROR" in line), lines[-1] if lines else "no output")
            raise BuildError(f"pip could not install {requirements.name} for python{python_version}: {reason.strip()}")
        if target.exists():
            shutil.rmtree(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    stamp.write_text(fingerprint)
    return True


def _copy_python_tree(source: Path, target: Path) -> None:
    """Copy the .py files under `source`, leaving out tests and caches."""
    for path in sorted(source.rglob("*.py")):
        relative = path.relative_to(source)
        if _EXCLUDED_DIRS.intersection(relative.parts[:-1]) or _is_test_file(path.name):
            continue
        (target / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target / relative)
    if not target.exists():
        raise BuildError(f"{source} holds no .py file to ship")


def _is_test_file(name: str) -> bool:
    return name.startswith("test_") or name.endswith("_test.py") or name == "conftest.py"


# ---------------------------------------------------------------------------------------------- import check


def _check_imports(
    out: Path,
    root: Path,
    function_dirs: dict[str, Path],
    layer_dirs: dict[str, Path],
    layer_refs: dict[str, list[str]],
    python_version: str,
) -> None:
    """Fail when shipped code imports something neither the runtime, its layers nor its own folder has."""
    target = tuple(int(part) for part in python_version.split("."))
    stdlib = set(sys.stdlib_module_names)
    for version, removed in _REMOVED_FROM_STDLIB.items():
        if target >= version:
            stdlib -= removed
    problems: list[str] = []
    for logical_id, function_dir in function_dirs.items():
        # What this function sees on sys.path in Lambda: its own folder, the runtime, its layers.
        available = stdlib | RUNTIME_PROVIDED | _top_level_names(function_dir)
        lib_names: set[str] = set()  # what `lib.<name>` and `from lib import <name>` can find in the layers
        files = sorted(function_dir.rglob("*.py"))
        for layer_id in layer_refs[logical_id]:
            python_dir = layer_dirs[layer_id] / "python"
            available |= _top_level_names(python_dir)
            lib_names |= _lib_names(python_dir / "lib")
            files += sorted((python_dir / "lib").rglob("*.py"))
        for path in files:
            for line, module, names in _imports(path):
                parts = module.split(".")
                missing = parts[0] not in available or (parts[0] == "lib" and not _resolves(parts[1:], lib_names))
                # `from lib import local` names a module the layer does not ship.
                if module == "lib":
                    missing = missing or any(name not in lib_names for name in names)
                if missing:
                    shown = ", ".join(f"{module}.{n}" for n in names) if module == "lib" else module
                    problems.append(f"{path.relative_to(out).as_posix()}:{line} imports {shown}")
    if problems:
        unique = list(dict.fromkeys(problems))
        raise BuildError(
            "shipped code imports what neither the Lambda runtime nor the layers provide "
            f"(workstation-only, or missing from {LAMBDA_REQUIREMENTS}): {'; '.join(unique)}"
        )


def _lib_names(lib_dir: Path) -> set[str]:
    """Dotted names under lib that the shipped copy provides: its modules and packages ("state",
    "a.b"), and the names bound at the top of lib/__init__.py ("__version__")."""
    if not lib_dir.is_dir():
        return set()
    names = {".".join(p.relative_to(lib_dir).with_suffix("").parts) for p in lib_dir.rglob("*.py")}
    names = {n.removesuffix(".__init__") for n in names if n != "__init__"}
    init = lib_dir / "__init__.py"
    if init.is_file():
        for node in ast.parse(init.read_bytes()).body:
            targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
            names |= {t.id for t in targets if isinstance(t, ast.Name)}
            if isinstance(node, ast.FunctionDef | ast.ClassDef):
                names.add(node.name)
    return names


def _resolves(parts: list[str], lib_names: set[str]) -> bool:
    """Whether `lib.<parts>` is a shipped module (or a package of it); `lib` alone always is."""
    return not parts or ".".join(parts) in lib_names


def _top_level_names(directory: Path) -> set[str]:
    """Importable top-level names in a sys.path entry: packages, modules and extension modules."""
    if not directory.is_dir():
        return set()
    names = set()
    for entry in directory.iterdir():
        if entry.is_dir() and not entry.name.endswith((".dist-info", ".data")) and entry.name != "__pycache__":
            names.add(entry.name)
        elif entry.suffix in (".py", ".so", ".pyd"):
            names.add(entry.name.split(".")[0])
    return names


def _imports(path: Path) -> Iterator[tuple[int, str, list[str]]]:
    """(line, module, imported names) of every absolute import that runs (not under TYPE_CHECKING)."""
    for node in _runtime_nodes(ast.parse(path.read_bytes(), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, []
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module, [alias.name for alias in node.names]


def _runtime_nodes(tree: ast.AST) -> Iterable[ast.AST]:
    """Walk the tree, skipping `if TYPE_CHECKING:` bodies (type-only imports never run)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                stack.extend(child.orelse)
            else:
                stack.append(child)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


# ---------------------------------------------------------------------------------------------- sizes


def _report(
    out: Path,
    function_dirs: dict[str, Path],
    layer_dirs: dict[str, Path],
    layer_refs: dict[str, list[str]],
    limit_bytes: int,
) -> dict[str, Any]:
    layers = {
        logical_id: {"folder": folder.relative_to(out).as_posix(), **_measure(folder)}
        for logical_id, folder in layer_dirs.items()
    }
    functions = {}
    for logical_id, folder in function_dirs.items():
        code = _measure(folder)
        refs = layer_refs[logical_id]
        unzipped = code["unzipped_bytes"] + sum(layers[ref]["unzipped_bytes"] for ref in refs)
        functions[logical_id] = {
            "folder": folder.relative_to(out).as_posix(),
            "code_bytes": code["unzipped_bytes"],
            "code_zipped_bytes": code["zipped_bytes"],
            "layers": refs,
            "unzipped_bytes": unzipped,
            "zipped_bytes": code["zipped_bytes"] + sum(layers[ref]["zipped_bytes"] for ref in refs),
            "limit_fraction": round(unzipped / limit_bytes, 6),
        }
    return {
        "out": str(out),
        "template": (out / TEMPLATE).relative_to(out).as_posix(),
        "limit_bytes": limit_bytes,
        "layers": layers,
        "functions": functions,
    }


def _measure(folder: Path) -> dict[str, int]:
    """Files, bytes on disk (what Lambda's unzipped limit counts) and the size of a deflated zip of them."""
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    with tempfile.TemporaryFile() as archive:
        with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for path in files:
                zf.write(path, path.relative_to(folder).as_posix())
        zipped = archive.tell()
    return {"files": len(files), "unzipped_bytes": sum(p.stat().st_size for p in files), "zipped_bytes": zipped}


def format_table(report: dict[str, Any]) -> str:
    limit = report["limit_bytes"]
    rows = [f"Lambda bundles in {report['out']} (limit: {limit:,} bytes unzipped per function, code + layers)", ""]
    rows.append(f"{'layer':<22} {'folder':<32} {'files':>6} {'unzipped B':>14} {'zipped B':>12}")
    for name, layer in report["layers"].items():
        rows.append(
            f"{name:<22} {layer['folder']:<32} {layer['files']:>6} "
            f"{layer['unzipped_bytes']:>14,} {layer['zipped_bytes']:>12,}"
        )
    rows.append("")
    rows.append(
        f"{'function':<22} {'folder':<32} {'code B':>10} {'+ layers B':>12} "
        f"{'= unzipped B':>14} {'zipped B':>12} {'of limit':>9}"
    )
    for name, fn in report["functions"].items():
        layer_bytes = fn["unzipped_bytes"] - fn["code_bytes"]
        rows.append(
            f"{name:<22} {fn['folder']:<32} {fn['code_bytes']:>10,} {layer_bytes:>12,} "
            f"{fn['unzipped_bytes']:>14,} {fn['zipped_bytes']:>12,} {fn['unzipped_bytes'] / limit:>9.3%}"
        )
    rows.append("")
    rows.append(f"deploy with: sam deploy --template-file {Path(report['out']) / report['template']}")
    return "\n".join(rows)


# ---------------------------------------------------------------------------------------------- helpers


def _write_atomically(path: Path, text: str) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)


def main(argv: list[str] | None = None) -> int:
    project_root = Path(__file__).resolve().parents[2]
    parser = argparse.ArgumentParser(
        prog="python -m watchlist_workstation.deploy.build", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--root", type=Path, default=project_root, help="project root (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: ROOT/build)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON instead of a table")
    parser.add_argument("--force-deps", action="store_true", help="reinstall the deps layer even if unchanged")
    args = parser.parse_args(argv)
    out = args.out if args.out is not None else args.root / "build"

    def show(report: dict[str, Any]) -> None:
        print(json.dumps(report, indent=2) if args.json else format_table(report))

    try:
        report = build(args.root, out, force_deps=args.force_deps)
    except BundleTooLargeError as exc:
        show(exc.report)
        print(f"build: {exc}", file=sys.stderr)
        return 1
    except (BuildError, OSError, yaml.YAMLError) as exc:
        print(f"build: {exc}", file=sys.stderr)
        return 1
    show(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
