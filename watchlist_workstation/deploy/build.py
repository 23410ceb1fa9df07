"""Build what `sam deploy` ships, without Docker, and measure it against Lambda's size limit.

    python -m watchlist_workstation.deploy.build [--root .] [--out build] [--json] [--force-deps]

Layout under `out` (build/ by default):

    layers/shared/python/lib/   all of lib/ (.py files; lib is exactly what ships, docs/design.md "Layout")
    layers/deps/python/         requirements-lambda.txt, installed by pip for the functions' platform
    functions/<Folder>/         each function's CodeUri folder, .py files only (no tests, no caches)
    template.yml                template.yml with each CodeUri/ContentUri pointing at those folders,
                                for `sam deploy --template-file build/template.yml`

`sam build` runs this same build for each function and layer (BuildMethod: makefile; sam_build.py).

Why not SAM's own Python builder: building for arm64 / Python 3.13 on an x86_64 / 3.11 workstation needs
its container mode (Docker, which we do not have), and it would copy all of lib/ into every function.
`pip install --platform ... --only-binary=:all:` fetches the right wheels on any machine.

This module runs the steps in order; each lives in a module of its own: build_template (what
template.yml says the build must make, and build/template.yml), bundles (the layers and function
folders), importcheck (no shipped module imports what Lambda lacks), sizes (the measurements against
Lambda's limit, and the table).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path
from typing import Any

import yaml

from watchlist_workstation.deploy.build_errors import BuildError, BundleTooLargeError
from watchlist_workstation.deploy.build_template import (
    FUNCTION_TYPE,
    LAYER_TYPE,
    TEMPLATE,
    built_layer,
    code_folder,
    function_layers,
    layer_kind,
    target_runtime,
    wheel_platforms,
    write_template,
)
from watchlist_workstation.deploy.bundles import (
    LAMBDA_REQUIREMENTS,
    build_deps_layer,
    build_shared_layer,
    copy_python_tree,
)
from watchlist_workstation.deploy.importcheck import check_imports
from watchlist_workstation.deploy.sizes import check_sizes, format_table, size_report
from watchlist_workstation.deploy.template import load_template
from watchlist_workstation.limits import LAMBDA_UNZIPPED_LIMIT_BYTES


def build(
    root: Path,
    out: Path,
    *,
    limit_bytes: int = LAMBDA_UNZIPPED_LIMIT_BYTES,
    force_deps: bool = False,
) -> dict[str, Any]:
    """Build the layers, function folders and rewritten template of the project at `root` into `out`.

    Returns the size report (see `size_report`); raises BuildError, or BundleTooLargeError (after
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

    python_version, architecture = target_runtime(functions, globals_, layers)
    platforms = wheel_platforms(architecture)

    out.mkdir(parents=True, exist_ok=True)
    layer_dirs: dict[str, Path] = {}
    deps_reinstalled = False
    for logical_id, resource in layers.items():
        kind = layer_kind(logical_id, resource)
        target = built_layer(out, kind)
        if kind == "shared":
            build_shared_layer(root / "lib", target)
        else:
            deps_reinstalled = build_deps_layer(
                root / LAMBDA_REQUIREMENTS, target, python_version, platforms, force=force_deps
            )
        layer_dirs[logical_id] = target

    function_dirs: dict[str, Path] = {}
    if (out / "functions").exists():
        shutil.rmtree(out / "functions")
    for logical_id, resource in functions.items():
        source = code_folder(root, logical_id, resource)
        target = out / "functions" / source.name
        if not target.exists():
            copy_python_tree(source, target)
        function_dirs[logical_id] = target

    layer_refs = {lid: function_layers(lid, r, globals_, layers) for lid, r in functions.items()}
    check_imports(out, root, function_dirs, layer_dirs, layer_refs, python_version)

    write_template(template, out, function_dirs, layer_dirs)
    report = size_report(out, function_dirs, layer_dirs, layer_refs, limit_bytes)
    report["runtime"] = {"python_version": python_version, "architecture": architecture, "platforms": platforms}
    report["deps_reinstalled"] = deps_reinstalled
    check_sizes(report, limit_bytes)
    return report


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
