"""Deploying with the SAM CLI: find it, write its `sam deploy` command line, run it and read its answer.

Workstation-only; `make-infra` (watchlist_workstation/cli/deploy.py) runs it. `sam deploy` uploads the
code to the stack's artifact bucket (watchlist_workstation/deploy/artifacts.py) and creates or updates
the stack through a change set.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from watchlist_workstation.project import tool_path

# sam prints this (samcli ChangeEmptyError) when --no-fail-on-empty-changeset finds nothing to change.
_SAM_UP_TO_DATE = "No changes to deploy"

# Where `make install` puts the SAM CLI in a checkout: a venv of its own (docs/testing.md, "Environments").
PROJECT_SAM = tool_path("aws-sam-cli", "sam")


def find_sam(python: str | None = None, path: str | None = None) -> str | None:
    """The SAM CLI: the checkout's own (.tools/aws-sam-cli), else one next to the running interpreter,
    else the first on PATH."""
    for candidate in (PROJECT_SAM, Path(python or sys.executable).parent / "sam"):
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return shutil.which("sam", path=path)


@dataclass(frozen=True)
class SamResult:
    returncode: int
    lines: list[str] = field(default_factory=list)

    @property
    def up_to_date(self) -> bool:
        return any(_SAM_UP_TO_DATE in line for line in self.lines)

    def failure_reason(self) -> str:
        """sam's last "Error: ..." message as one line (it may continue on the next lines), else its last line."""
        text = [line.strip() for line in self.lines if line.strip()]
        starts = [i for i, line in enumerate(text) if line.startswith("Error:")]
        if starts:
            return " ".join(text[starts[-1] :]).removeprefix("Error:").strip()
        return text[-1] if text else "no output"


def run_sam(argv: list[str], *, env: dict[str, str], cwd: Path, on_line: Callable[[str], None]) -> SamResult:
    """Run sam, handing each line of its output (stdout and stderr, in order) to `on_line` as it comes."""
    lines: list[str] = []
    with subprocess.Popen(
        argv,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    ) as process:
        for raw in process.stdout or ():
            line = raw.rstrip("\n")
            lines.append(line)
            on_line(line)
    return SamResult(process.returncode, lines)


def sam_environment(endpoint_url: str | None, base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment sam runs in: ours, without telemetry, and with the CLI's endpoint if one was given.

    `sam deploy` has no --endpoint-url option; botocore (which sam uses) reads AWS_ENDPOINT_URL
    instead, so an emulator given to the CLI receives sam's calls too.
    """
    env = dict(os.environ if base is None else base)
    env["SAM_CLI_TELEMETRY"] = "0"
    # sam is a Python program: unbuffered, its stdout and stderr lines reach us in the order it wrote them.
    env["PYTHONUNBUFFERED"] = "1"
    if endpoint_url:
        env["AWS_ENDPOINT_URL"] = endpoint_url
    return env


def sam_parameter(key: str, value: str) -> str:
    """`Key="value"` as sam's --parameter-overrides parser reads it back to exactly `value`.

    sam splits the overrides on spaces unless a value is quoted, and inside quotes it unescapes
    `\\"`, `\\'` and `\\ `; a value holding a backslash before one of those (or at its end) cannot
    survive that round trip, so it is refused rather than deployed changed.
    """
    if not re.fullmatch(r"[A-Za-z0-9]+", key):
        raise ValueError(f"parameter name {key!r} must be letters and digits only")
    if re.search(r"\\([ \"']|$)", value):
        raise ValueError(f"parameter {key}: a backslash before a quote, a space or the end cannot be passed to sam")
    return f'{key}="{value.replace(chr(34), chr(92) + chr(34))}"'


def sam_deploy_argv(
    sam: str,
    *,
    template: Path,
    stack_name: str,
    bucket: str,
    region: str,
    profile: str | None,
    parameters: dict[str, str],
) -> list[str]:
    argv = [
        sam, "deploy",
        "--template-file", str(template),
        "--stack-name", stack_name,
        "--s3-bucket", bucket,
        # One prefix per stack, so two stacks sharing a bucket name space never share artifacts.
        "--s3-prefix", stack_name,
        # IAM: the template creates roles. AUTO_EXPAND: the LanguageExtensions and SAM transforms.
        "--capabilities", "CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND",
        "--no-confirm-changeset",
        # A re-run with nothing changed is a success, reported as "up to date".
        "--no-fail-on-empty-changeset",
        # Upload progress is drawn with carriage returns, which read as noise once piped.
        "--no-progressbar",
        "--region", region,
    ]  # fmt: skip
    if profile:
        argv += ["--profile", profile]
    if parameters:
        argv += ["--parameter-overrides", *(sam_parameter(k, v) for k, v in parameters.items())]
    return argv
