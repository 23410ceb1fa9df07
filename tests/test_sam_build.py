"""The plain SAM flow: `sam build` on a copy of the checkout as a fresh clone has it (no build/, no .aws-sam/),
with the SAM CLI from .tools/. Every function and layer builds through its Makefile (BuildMethod: makefile,
scripts/sam-build.mk), which runs the project's own build; the built template must point at folders that
exist and hold what Lambda needs, and must pass `sam validate --lint` and cfn-lint, as `sam deploy` would
then send it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.template_fixture import REGION, ROOT, tool_environment
from watchlist_workstation.deploy.bundles import shared_layer_modules
from watchlist_workstation.deploy.template import load_template
from watchlist_workstation.project import tool_path

# The deps layer comes from PyPI through pip; sam and the linters run as processes.
pytestmark = [pytest.mark.network, pytest.mark.servers, pytest.mark.slow]

CODE_PROPERTY = {"AWS::Serverless::Function": "CodeUri", "AWS::Serverless::LayerVersion": "ContentUri"}


def fresh_copy(target: Path) -> Path:
    """The files a clone has: tracked ones, and new ones not ignored (so the test sees work not yet committed)."""
    git = shutil.which("git")
    assert git, "git is needed to list the checkout's files"
    listed = subprocess.run(
        [git, "-C", str(ROOT), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():  # a file deleted but not yet committed is still listed
            destination = target / name
            destination.parent.mkdir(parents=True, exist_ok=True)
            destination.write_bytes(source.read_bytes())
            destination.chmod(source.stat().st_mode)
    return target


@pytest.fixture(scope="module")
def sam_built(tmp_path_factory) -> SimpleNamespace:
    clone = fresh_copy(tmp_path_factory.mktemp("clone"))
    assert not (clone / "build").exists() and not (clone / ".aws-sam").exists()
    env = tool_environment(tmp_path_factory.mktemp("tool-env"))
    # The clone has no .venv: the build runs on this test's interpreter (scripts/sam-build.mk's BUILD_PYTHON).
    env["BUILD_PYTHON"] = sys.executable
    result = subprocess.run(
        [str(tool_path("aws-sam-cli", "sam")), "build", "--template-file", "template.yml"],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    built = clone / ".aws-sam" / "build"
    return SimpleNamespace(clone=clone, env=env, result=result, dir=built, template=built / "template.yaml")


def code_folders(sam_built: SimpleNamespace) -> dict[str, Path]:
    resources = load_template(sam_built.template)["Resources"]
    return {
        lid: sam_built.dir / r["Properties"][CODE_PROPERTY[r["Type"]]]
        for lid, r in resources.items()
        if r["Type"] in CODE_PROPERTY
    }


def test_sam_build_succeeds_without_docker_or_a_local_python_3_13(sam_built):
    output = sam_built.result.stdout + sam_built.result.stderr
    assert sam_built.result.returncode == 0, output
    assert "Build Succeeded" in output
    # SAM's Python builder is not used, so it neither looks for python3.13 nor for a requirements.txt
    assert "requirements.txt file not found" not in output


def test_every_code_and_layer_path_of_the_built_template_exists(sam_built):
    folders = code_folders(sam_built)
    assert set(folders) == {"SharedLayer", "DepsLayer", "ServerlessProducer", "ProducerAI", "Compactor"}
    for logical_id, folder in folders.items():
        assert folder.is_dir(), f"{logical_id}: {folder} missing"
        assert any(folder.iterdir()), f"{logical_id}: {folder} is empty"


def test_layers_hold_lib_and_the_lambda_dependencies(sam_built):
    folders = code_folders(sam_built)
    shared = folders["SharedLayer"] / "python" / "lib"
    shipped = sorted(p.relative_to(ROOT / "lib") for p in shared_layer_modules(ROOT / "lib"))
    assert sorted(p.relative_to(shared) for p in shared.rglob("*.py")) == shipped
    deps = folders["DepsLayer"] / "python"
    assert (deps / "pythonjsonlogger" / "__init__.py").is_file()
    assert not (deps / "boto3").exists()  # the runtime provides the SDK
    assert not list(deps.rglob("*.pyc"))


def test_functions_hold_their_handler_and_nothing_of_the_build(sam_built):
    folders = code_folders(sam_built)
    # The consumer and the compactor share ProducerAI/ (template.yml): each ships both handler modules.
    shipped = {
        "ServerlessProducer": ["lambda_function.py"],
        "ProducerAI": ["compact_function.py", "lambda_function.py"],
        "Compactor": ["compact_function.py", "lambda_function.py"],
    }
    for name, expected in shipped.items():
        files = sorted(p.relative_to(folders[name]).as_posix() for p in folders[name].rglob("*") if p.is_file())
        assert files == expected


@pytest.mark.parametrize("extra", [[], ["--lint"]], ids=["validate", "validate-lint"])
def test_built_template_passes_sam_validate(sam_built, extra):
    sam = str(tool_path("aws-sam-cli", "sam"))
    args = [sam, "validate", "--region", REGION, "--template-file", str(sam_built.template), *extra]
    result = subprocess.run(args, cwd=sam_built.clone, env=sam_built.env, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_built_template_passes_cfn_lint(sam_built):
    args = [str(tool_path("cfn-lint", "cfn-lint")), str(sam_built.template)]
    result = subprocess.run(args, cwd=sam_built.clone, env=sam_built.env, capture_output=True, text=True, check=False)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
