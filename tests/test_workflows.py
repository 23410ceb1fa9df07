"""The CI/CD workflows: CI on pull requests, deploy on main through GitHub's OIDC with no stored
keys. actionlint (make lint) checks their syntax and expressions; these tests check the design."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

WORKFLOWS = Path(__file__).resolve().parents[1] / ".github" / "workflows"


def load(name: str) -> dict[str, Any]:
    data = yaml.safe_load((WORKFLOWS / name).read_text())
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as true
    return data


def steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return job.get("steps", [])


def test_ci_runs_lint_sam_validate_and_tests_on_pull_requests():
    ci = load("ci.yml")
    assert "pull_request" in ci["on"] and "workflow_call" in ci["on"]
    assert ci["permissions"] == {"contents": "read"}
    commands = [step.get("run", "") for job in ci["jobs"].values() for step in steps(job)]
    assert "make lint" in commands  # ruff, cfn-lint, sam validate, checkov, actionlint
    assert any(command.split()[-1:] == [".venv/bin/pytest"] for command in commands)  # the whole suite, no filter
    assert any("graphviz" in command for command in commands)  # tests/test_diagram.py renders with dot
    makefile = (WORKFLOWS.parents[1] / "Makefile").read_text()
    lint = makefile[makefile.index("\nlint:") : makefile.index("\ntest:")]
    assert "sam validate" in lint and "actionlint" in lint


def test_ci_runs_the_suite_on_the_workstations_python_and_lambdas_and_lints_once():
    # GIVEN the CI job
    (job,) = load("ci.yml")["jobs"].values()
    # THEN it runs on 3.11 (the workstation, constraints.txt) and 3.13 (the functions' runtime)
    assert job["strategy"]["matrix"]["python"] == ["3.11", "3.13"]
    setup = next(s for s in steps(job) if s.get("uses", "").startswith("actions/setup-python@"))
    assert setup["with"]["python-version"].split() == ["3.11", "${{", "matrix.python", "}}"]
    # AND the venv is made with the matrix's interpreter (through the environment, not pasted into the script)
    assert job["env"]["PYTHON_VERSION"] == "${{ matrix.python }}"
    install = next(s for s in steps(job) if s.get("run", "").startswith("make install"))
    assert 'PYTHON="python$PYTHON_VERSION"' in install["run"]
    # AND the linters run on one leg only, the tests on both
    (lint,) = [s for s in steps(job) if s.get("run") == "make lint"]
    assert lint["if"] == "matrix.python == '3.11'"
    (test,) = [s for s in steps(job) if s.get("run", "").endswith(".venv/bin/pytest")]
    assert "if" not in test


def test_deploy_runs_on_main_after_ci_with_an_oidc_role_and_no_keys():
    deploy = load("deploy.yml")
    assert deploy["on"]["push"]["branches"] == ["main"]
    jobs = deploy["jobs"]
    assert jobs["ci"]["uses"] == "./.github/workflows/ci.yml"
    job = jobs["deploy"]
    assert job["needs"] == "ci"
    # Only the deploy job may ask for an OIDC token; the workflow default stays read-only.
    assert deploy["permissions"] == {"contents": "read"}
    assert job["permissions"] == {"contents": "read", "id-token": "write"}
    assert job["environment"] == "production"
    (credentials,) = [s for s in steps(job) if s.get("uses", "").startswith("aws-actions/configure-aws-credentials@")]
    assert set(credentials["with"]) == {"role-to-assume", "role-session-name", "aws-region"}
    text = (WORKFLOWS / "deploy.yml").read_text()
    assert not re.search(r"aws-access-key-id|aws-secret-access-key|AWS_SECRET_ACCESS_KEY", text)
    assert any(step.get("run", "").startswith("make deploy") for step in steps(job))


def test_untrusted_values_reach_shell_steps_through_the_environment_only():
    # An ${{ }} expression inside `run:` is pasted into the script before the shell sees it.
    for path in WORKFLOWS.glob("*.yml"):
        data = load(path.name)
        for job in data["jobs"].values():
            for step in steps(job):
                assert "${{" not in step.get("run", ""), f"{path.name}: {step.get('name') or step['run']}"


@pytest.mark.servers  # runs .ci/run as a process
def test_ci_run_stops_at_once_and_says_so_without_python_3_13(tmp_path):
    # GIVEN a machine with bash and coreutils but no Python 3.13 anywhere .ci/run looks
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for command in ("bash", "dirname"):
        (bin_dir / command).symlink_to(shutil.which(command))
    env = {"PATH": str(bin_dir), "HOME": str(tmp_path), "PYENV_ROOT": str(tmp_path / "pyenv"), "CI": "true"}
    # WHEN the CI entry point runs
    ci_run = WORKFLOWS.parents[1] / ".ci" / "run"
    result = subprocess.run(
        [str(bin_dir / "bash"), str(ci_run)], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    # THEN it fails before installing or testing anything, in one line naming what is missing
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "ci: no Python 3.13 found (python3.13 on PATH, or $PYENV_ROOT/versions/3.13*; or set PYTHON313)"
    ]
