"""`sam build`'s step for one function or layer (BuildMethod: makefile, scripts/sam-build.mk):

    python -m watchlist_workstation.deploy.sam_build LOGICAL_ID --artifacts-dir DIR [--root .] [--out build]

It runs the project's build (watchlist_workstation/deploy/build.py) into `out`, as `make build` does, so
the import check and the size check against Lambda's limit hold for `sam build` too, and then copies the
folder the build made for LOGICAL_ID into DIR, SAM's ARTIFACTS_DIR for that resource: a function's code, or
a layer's python/ tree. SAM builds resources one after another; the whole build runs for each, which is
quick after the first (the deps layer is reinstalled only when requirements-lambda.txt changed). A lock
keeps two builds apart when `sam build --parallel` starts them at once. docs/deploying.md shows the flow.
"""

from __future__ import annotations

import argparse
import fcntl
import shutil
import sys
from pathlib import Path
from typing import Any

import yaml

from watchlist_workstation.deploy.build import build
from watchlist_workstation.deploy.build_errors import BuildError, BundleTooLargeError
from watchlist_workstation.deploy.sizes import format_table


def resource_folder(report: dict[str, Any], logical_id: str) -> str:
    """The folder, relative to the build's output, that the build made for `logical_id`."""
    for kind in ("functions", "layers"):
        if logical_id in report[kind]:
            return str(report[kind][logical_id]["folder"])
    known = sorted([*report["functions"], *report["layers"]])
    raise BuildError(f"{logical_id} is neither a function nor a layer of the template (it has {', '.join(known)})")


def sam_build(logical_id: str, artifacts_dir: Path, root: Path, out: Path) -> dict[str, Any]:
    """Build the project into `out`, then copy `logical_id`'s folder into `artifacts_dir`; returns the report."""
    out.mkdir(parents=True, exist_ok=True)
    with (out / ".sam-build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        report = build(root, out)
        source = out / resource_folder(report, logical_id)
        artifacts_dir.mkdir(parents=True, exist_ok=True)
        shutil.copytree(source, artifacts_dir, dirs_exist_ok=True)
    return report


def main(argv: list[str] | None = None) -> int:
    project_root = Path(__file__).resolve().parents[2]
    parser = argparse.ArgumentParser(
        prog="python -m watchlist_workstation.deploy.sam_build", description=__doc__.splitlines()[0]
    )
    parser.add_argument("logical_id", help="the function or layer SAM is building")
    parser.add_argument("--artifacts-dir", type=Path, required=True, help="SAM's ARTIFACTS_DIR for it")
    parser.add_argument("--root", type=Path, default=project_root, help="project root (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=None, help="the build's output folder (default: ROOT/build)")
    args = parser.parse_args(argv)
    out = args.out if args.out is not None else args.root / "build"
    try:
        report = sam_build(args.logical_id, args.artifacts_dir, args.root, out)
    except BundleTooLargeError as exc:
        print(format_table(exc.report), file=sys.stderr)
        print(f"sam-build {args.logical_id}: {exc}", file=sys.stderr)
        return 1
    except (BuildError, OSError, yaml.YAMLError) as exc:
        print(f"sam-build {args.logical_id}: {exc}", file=sys.stderr)
        return 1
    print(summary(report, args.logical_id), file=sys.stderr)
    return 0


def summary(report: dict[str, Any], logical_id: str) -> str:
    """One line on what was built for `logical_id` (`make build` prints the whole table)."""
    if logical_id in report["functions"]:
        entry = report["functions"][logical_id]
        return (
            f"{logical_id}: {entry['unzipped_bytes']:,} B unzipped with its layers, "
            f"{entry['limit_fraction']:.1%} of Lambda's limit"
        )
    entry = report["layers"][logical_id]
    return f"{logical_id}: {entry['files']} files, {entry['unzipped_bytes']:,} B unzipped"


if __name__ == "__main__":
    sys.exit(main())
