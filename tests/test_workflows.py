"""The CI/CD workflows: CI on pull requests, deploy on main through GitHub's OIDC with no stored
keys. actionlint (make lint) checks their syntax and expressions; these tests check the design."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

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
