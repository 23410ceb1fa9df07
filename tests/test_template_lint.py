"""template.yml through the linters and the security scan: cfn-lint, sam validate (plain and --lint) and checkov,
on the template and on its transformed CloudFormation.

The linters run as subprocesses with fake credentials and with the version checks and telemetry of SAM CLI
and checkov switched off; in-process code may only open loopback sockets (see `_loopback_only` in conftest.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.template_fixture import (
    FAKE_AWS_ENV,
    REGION,
    ROOT,
    TEMPLATE_PATH,
)

BIN = Path(sys.executable).parent


@pytest.fixture
def tool_env(tmp_path: Path) -> dict[str, str]:
    """Environment for the CLI tools: fake credentials, no telemetry, no update checks."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    env.update(FAKE_AWS_ENV)
    # SAM CLI asks PyPI for a newer version unless its last check is recent; its config dir can be moved.
    sam_dir = tmp_path / "sam-cli"
    sam_dir.mkdir()
    (sam_dir / "metadata.json").write_text(json.dumps({"telemetryEnabled": False, "lastVersionCheck": time.time()}))
    env.update({"__SAM_CLI_APP_DIR": str(sam_dir), "SAM_CLI_TELEMETRY": "0", "BC_SKIP_MAPPING": "TRUE"})
    return env


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)


@pytest.mark.slow
@pytest.mark.servers  # runs the tool as a process
def test_cfn_lint_reports_no_findings(tool_env: dict[str, str]) -> None:
    # GIVEN the template  WHEN cfn-lint checks it  THEN it finds nothing at all, warnings included
    result = _run([str(BIN / "cfn-lint"), str(TEMPLATE_PATH)], tool_env)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


@pytest.mark.slow
@pytest.mark.servers  # runs the tool as a process
@pytest.mark.parametrize("extra", [[], ["--lint"]], ids=["validate", "validate-lint"])
def test_sam_validate_accepts_template(tool_env: dict[str, str], extra: list[str]) -> None:
    # GIVEN the template  WHEN `sam validate [--lint]` checks it  THEN it exits 0
    result = _run([str(BIN / "sam"), "validate", "--region", REGION, "-t", str(TEMPLATE_PATH), *extra], tool_env)
    assert result.returncode == 0, result.stdout + result.stderr


# checkov's banner asks PyPI for a newer version when checkov.main is imported, with no switch to
# turn it off; this stub replaces that one function. --skip-download keeps it off Prisma Cloud.
_CHECKOV = (
    "import sys\n"
    "import checkov.common.version_manager as version_manager\n"
    "version_manager.check_for_update = lambda package, version: None\n"
    "from checkov.main import Checkov\n"
    "sys.exit(Checkov(sys.argv[1:]).run())\n"
)


def _checkov(path: Path, env: dict[str, str]) -> dict[str, Any]:
    args = [sys.executable, "-c", _CHECKOV, "-f", str(path), "--framework", "cloudformation"]
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
