"""template.yml through the linters and the security scan: cfn-lint, sam validate (plain and --lint) and checkov,
on the template and on its transformed CloudFormation.

The linters run as subprocesses with fake credentials and with the version checks and telemetry of SAM CLI
and checkov switched off; in-process code may only open loopback sockets (see `_loopback_only` in conftest.py).
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.template_fixture import (
    REGION,
    ROOT,
    TEMPLATE_PATH,
    tool_environment,
)
from watchlist_workstation.project import tool_path


@pytest.fixture
def tool_env(tmp_path: Path) -> dict[str, str]:
    return tool_environment(tmp_path)


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)


@pytest.mark.slow
@pytest.mark.servers  # runs the tool as a process
def test_cfn_lint_reports_no_findings(tool_env: dict[str, str]) -> None:
    # GIVEN the template  WHEN cfn-lint checks it  THEN it finds nothing at all, warnings included
    result = _run([str(tool_path("cfn-lint", "cfn-lint")), str(TEMPLATE_PATH)], tool_env)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


@pytest.mark.slow
@pytest.mark.servers  # runs the tool as a process
@pytest.mark.parametrize("extra", [[], ["--lint"]], ids=["validate", "validate-lint"])
def test_sam_validate_accepts_template(tool_env: dict[str, str], extra: list[str]) -> None:
    # GIVEN the template  WHEN `sam validate [--lint]` checks it  THEN it exits 0
    sam = str(tool_path("aws-sam-cli", "sam"))
    result = _run([sam, "validate", "--region", REGION, "-t", str(TEMPLATE_PATH), *extra], tool_env)
    assert result.returncode == 0, result.stdout + result.stderr


def _checkov(path: Path, env: dict[str, str]) -> dict[str, Any]:
    args = [str(tool_path("checkov", "checkov")), "-f", str(path), "--framework", "cloudformation"]
    result = _run([*args, "--skip-download", "--quiet", "--compact", "-o", "json"], env)
    assert result.returncode in (0, 1), result.stderr
    report = json.loads(result.stdout)
    # checkov prints an empty list when a file has no resource it knows: that must not pass as clean.
    assert isinstance(report, dict) and report["summary"]["resource_count"] > 0, result.stdout
    return report


@pytest.mark.slow
@pytest.mark.servers  # runs the tool as a process
def test_checkov_fails_no_check_on_the_template(tool_env: dict[str, str]) -> None:
    # GIVEN the template  WHEN checkov scans it  THEN no check fails (skips carry reasons)
    report = _checkov(TEMPLATE_PATH, tool_env)
    failed = [(c["check_id"], c["resource"]) for c in report["results"].get("failed_checks", [])]
    assert failed == []
    assert report["summary"]["parsing_errors"] == 0


@pytest.mark.slow
@pytest.mark.servers  # runs the tool as a process
def test_checkov_fails_no_check_on_the_transformed_template(
    tool_env: dict[str, str], transformed: dict[str, Any], tmp_path: Path
) -> None:
    # GIVEN the plain CloudFormation SAM produces  WHEN checkov scans it  THEN no check fails there either
    path = tmp_path / "transformed.json"
    path.write_text(json.dumps(transformed))
    report = _checkov(path, tool_env)
    assert [(c["check_id"], c["resource"]) for c in report["results"].get("failed_checks", [])] == []


def test_every_checkov_skip_gives_a_reason(template: dict[str, Any]) -> None:
    # GIVEN the template's checkov skips  THEN each names a check and says why it does not apply
    skips = [
        (logical_id, skip)
        for logical_id, resource in template["Resources"].items()
        for skip in (resource.get("Metadata", {}).get("checkov", {}).get("skip", []))
    ]
    assert skips
    assert [
        (lid, s) for lid, s in skips if not s.get("id", "").startswith("CKV_") or len(s.get("comment", "")) < 20
    ] == []


def _pin(path: Path, package: str) -> str:
    (version,) = re.findall(rf"^{re.escape(package)}==(\S+)", path.read_text(), flags=re.MULTILINE)
    return version


def test_local_mode_transforms_the_template_with_the_sam_clis_translator() -> None:
    # GIVEN the app's aws-sam-translator (local mode, the build) and the one in the SAM CLI's own venv
    app = _pin(ROOT / "requirements.txt", "aws-sam-translator")
    sam_cli = _pin(ROOT / "requirements-tools" / "aws-sam-cli.lock.txt", "aws-sam-translator")
    # THEN they are one version, so local mode creates what `sam deploy` would
    assert app == sam_cli
