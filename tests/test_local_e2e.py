"""The whole CLI in local mode, end to end: `local up` and every other command with --local, as real processes.

`./cfcli.py local up --port 0` runs as a subprocess with its state and results in tmp_path; each
step then runs `cfcli.py --local ...` as its own process, exactly as a person would type it. The
only network used is 127.0.0.1 (the emulated account, the local Lambda API, Comprehend and the
text server all live in the `local up` process).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import cfcli  # noqa: F401 - registers every command on the group
from tests.stack_fixture import ROOT
from watchlist_workstation.cli.app import cli
from watchlist_workstation.local.stack import Endpoints, local_client

NO_STACK = "Error: no local stack is running: start one with './cfcli.py local up'"
# A company with a page in data/companies that the sample watchlist does not hold (a redirect to
# BlackBerry Limited's page), and one with no page at all.
WITH_PAGE = "Research In Motion"
REDIRECT_TARGET = "BlackBerry Limited"
WITHOUT_PAGE = "Quux Widgets Unlimited"
RENAMED = "RIM (BlackBerry)"
STARTUP_SECONDS = 120
DRAIN_SECONDS = 120


@dataclass
class LocalUp:
    process: subprocess.Popen
    env: dict[str, str]
    state_dir: Path
    results_dir: Path
    stderr_path: Path

    def endpoints(self) -> Endpoints:
        endpoints = Endpoints.read(self.state_dir)
        assert endpoints is not None, "local up is not running"
        return endpoints

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def cfcli(self, *args: str) -> subprocess.CompletedProcess:
        """One `cfcli.py --local ...` process; stdout and stderr kept apart."""
        return subprocess.run(
            [sys.executable, "cfcli.py", "--local", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def ok(self, *args: str) -> subprocess.CompletedProcess:
        result = self.cfcli(*args)
        assert result.returncode == 0, f"{args}: exit {result.returncode}\n{result.stderr}"
        assert "Traceback" not in result.stderr, result.stderr
        return result

    def json(self, *args: str):
        return json.loads(self.ok(*args, "--json").stdout)

    def names(self) -> set[str]:
        return {row["name"] for row in self.json("list")}


def local_env(state_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CFCLI_", "AWS_"))}
    env["CFCLI_LOCAL_STATE_DIR"] = str(state_dir)
    return env


@pytest.fixture
def local_up(tmp_path) -> Iterator[LocalUp]:
    state_dir, results_dir = tmp_path / "state", tmp_path / "results"
    stderr_path = tmp_path / "local-up.stderr"
    env = local_env(state_dir)
    with open(stderr_path, "wb") as stderr, open(tmp_path / "local-up.stdout", "wb") as stdout:
        process = subprocess.Popen(
            [sys.executable, "cfcli.py", "local", "up", "--port", "0", "--results-dir", str(results_dir)],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
        )
    up = LocalUp(process, env, state_dir, results_dir, stderr_path)
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            endpoints = Endpoints.read(state_dir)
            if endpoints is not None and endpoints.lambda_:
                break  # the last thing `local up` records: it is ready
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"local up did not start (exit {process.poll()}); its stderr:\n{up.stderr()}")
            time.sleep(0.2)
        yield up
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)


def wait_until_drained(up: LocalUp) -> dict:
    """`status --json` until the work queue has nothing waiting, in flight or delayed (twice in a row)."""
    deadline = time.monotonic() + DRAIN_SECONDS
    empty = 0
    while True:
        report = up.json("status")
        queue = report["queue"]
        empty = empty + 1 if queue["waiting"] == queue["in_flight"] == queue["delayed"] == 0 else 0
        if empty == 2:
            return report
        assert time.monotonic() < deadline, f"the queue did not drain: {queue}\n{up.stderr()}"
        time.sleep(1)


@pytest.mark.slow
def test_every_command_works_on_the_local_stack_end_to_end(local_up):
    up = local_up
    # GIVEN a fresh `local up` (it seeded the sample watchlist and fired the schedule once)
    # WHEN make-infra --local deploys template.yml to it, once as it is and once with the consumer's
    # batching window closed (batches go as soon as the queue has nothing more: a faster drain below)
    unchanged = up.ok("make-infra", "--json")
    updated = up.ok("make-infra", "-p", "ConsumerBatchingWindowSeconds=0", "--json")
    # THEN the first found the stack up to date, the second updated it in place; both print the outputs
    assert unchanged.stderr.strip().splitlines()[-1] == "stack watchlist-sentiment is up to date"
    assert updated.stderr.strip().splitlines()[-1] == "stack watchlist-sentiment updated"
    assert json.loads(updated.stdout) == json.loads(unchanged.stdout)
    assert {"TableName", "ProducerFunctionName", "QueueUrl"} <= set(json.loads(updated.stdout))
    # AND a batch size Lambda refuses without a batching window (the window is now 0) is refused by the template's
    # Rules, in one line, and the stack stays as it is
    refused = up.cfcli("make-infra", "-p", "ConsumerBatchSize=25")
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert refused.stderr.strip().splitlines()[-1].startswith("Error: stack watchlist-sentiment cannot be deployed")
    assert "ConsumerBatchSize above 10 needs ConsumerBatchingWindowSeconds" in refused.stderr
    seeded = up.names()
    assert REDIRECT_TARGET in seeded and WITH_PAGE not in seeded

    # WHEN two companies are added, one with a page in data/companies and one without
    up.ok("add", "-i", WITH_PAGE, "-i", WITHOUT_PAGE)
    # THEN the watchlist holds them as well
    assert up.names() == seeded | {WITH_PAGE, WITHOUT_PAGE}

    # WHEN the producer runs now, through the local Lambda API
    summary = up.json("run")
    # THEN it queued every company on the watchlist in one run
    assert summary["queued"] == len(seeded) + 2 and summary["failed"] == 0 and summary["run_id"]

    # WHEN the local Lambda service (playing the updated mapping) has drained the queue
    status = wait_until_drained(up)
    # THEN nothing was dead-lettered; the company with a page has its sentiment row (the text of the page
    # it redirects to, so the same label); the one without a page has its error and no row
    assert status["dead_letter_queue"]["waiting"] == 0
    rows = {row["name"]: row for row in up.json("results", "--name", WITH_PAGE, "--name", REDIRECT_TARGET)}
    assert set(rows) == {WITH_PAGE, REDIRECT_TARGET}
    assert rows[WITH_PAGE]["sentiment"] == rows[REDIRECT_TARGET]["sentiment"]
    assert rows[WITH_PAGE]["sentiment"] in ("NEGATIVE", "MIXED")  # the page was written in a negative tone
    listed = {row["name"]: row for row in up.json("list")}
    assert listed[WITHOUT_PAGE]["last_error"] == "not_found" and listed[WITHOUT_PAGE]["sentiment"] is None
    assert listed[WITH_PAGE]["sentiment"] == rows[WITH_PAGE]["sentiment"]

    # WHEN a company is renamed, and one removed
    up.ok("update", "-o", WITH_PAGE, "-n", RENAMED)
    assert up.names() == seeded | {RENAMED, WITHOUT_PAGE}
    up.ok("remove", "-i", WITHOUT_PAGE, "--yes")
    # THEN the watchlist shows each change
    assert up.names() == seeded | {RENAMED}

    # GIVEN what a save of the local stack leaves on this machine (saved watchlist, results mirror)
    saved_table = up.state_dir / "table.json"
    saved_table.write_text("[]")
    mirrored = up.results_dir / "results" / "dt=2026-01-01" / "part-0.csv"
    mirrored.parent.mkdir(parents=True, exist_ok=True)
    mirrored.write_text("name\n")
    # WHEN the stack is torn down with --local
    teardown = up.ok("teardown", "--yes")
    # THEN the stack is gone, and so is its saved state
    assert teardown.stderr.strip().splitlines()[-1] == "teardown of stack watchlist-sentiment complete"
    cloudformation = local_client("cloudformation", up.endpoints().aws)
    assert [s for s in cloudformation.list_stacks()["StackSummaries"] if s["StackStatus"] != "DELETE_COMPLETE"] == []
    assert not saved_table.exists() and not (up.results_dir / "results").exists()

    # WHEN teardown runs again
    again = up.ok("teardown", "--yes")
    # THEN there is nothing to delete
    assert again.stderr.strip() == "nothing to delete: stack watchlist-sentiment does not exist in us-east-1"

    # WHEN `local up` is stopped
    up.process.send_signal(signal.SIGTERM)
    code = up.process.wait(timeout=60)
    # THEN it exits cleanly, forgets its endpoints, and does not write the torn-down watchlist back
    stderr = up.stderr()
    assert code == 0, stderr
    assert "Traceback" not in stderr, stderr
    assert not (up.state_dir / "endpoints.json").exists()
    assert not saved_table.exists()


@pytest.mark.parametrize(
    "args",
    [["make-infra"], ["make-infra", "-p", "LanguageCode=de"], ["run"], ["teardown", "--yes"], ["status"]],
    ids=lambda args: " ".join(args),
)
def test_local_commands_without_a_running_stack_say_how_to_start_one(cli_runner, tmp_path, monkeypatch, args):
    # GIVEN no local stack running (an empty state folder)
    monkeypatch.setenv("CFCLI_LOCAL_STATE_DIR", str(tmp_path / "state"))
    # WHEN a command runs with --local
    result = cli_runner.invoke(cli, ["--local", *args])
    # THEN one line says how to start one, exit 1
    assert result.exit_code == 1
    assert result.stderr.strip() == NO_STACK
    assert result.stdout == ""
