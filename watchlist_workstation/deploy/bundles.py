"""The folders that ship: the shared layer (lib/), the deps layer (requirements-lambda.txt installed by pip for
Lambda's platform) and each function's own code folder, .py files only (no tests, no caches)."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from watchlist_workstation.deploy.build_errors import BuildError

LAMBDA_REQUIREMENTS = "requirements-lambda.txt"

# Files that are never part of a function's code even when they sit in its folder.
_EXCLUDED_DIRS = frozenset({"__pycache__", "tests", "test", ".pytest_cache"})


def shared_layer_modules(lib_dir: Path) -> list[Path]:
    """What the shared layer ships: every .py file of the lib package, subpackages included (no tests, no caches)."""
    if not (lib_dir / "__init__.py").is_file():
        raise BuildError(f"{lib_dir}/__init__.py not found")
    return sorted(
        path
        for path in lib_dir.rglob("*.py")
        if not _EXCLUDED_DIRS.intersection(path.relative_to(lib_dir).parts[:-1]) and not _is_test_file(path.name)
    )


def build_shared_layer(lib_dir: Path, target: Path) -> None:
    """layers/shared/python/lib/ = a copy of the lib package (shared_layer_modules)."""
    if target.exists():
        shutil.rmtree(target)
    package = target / "python" / "lib"
    for module in shared_layer_modules(lib_dir):
        destination = package / module.relative_to(lib_dir)
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(module, destination)


def build_deps_layer(
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


def copy_python_tree(source: Path, target: Path) -> None:
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
