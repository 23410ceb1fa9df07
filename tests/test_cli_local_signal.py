"""Exit codes operators can act on, in local mode and through a real pipe: `status --check`, `redrive`, and a
reader that closes stdout early."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

import cfcli  # noqa: F401 - registers every command on the group
import ddb_ops
from tests.stack_fixture import ROOT
from watchlist_workstation.cli.app import PIPE_CLOSED_EXIT, cli
from watchlist_workstation.cli.observe import CHECK_FAILED_EXIT
from watchlist_workstation.local.stack import LocalStack

pytestmark = pytest.mark.servers


@pytest.fixture
def local(tmp_path, monkeypatch, aws_credentials) -> Iterator[LocalStack]:
    """A local stack running in this process, which `--local` commands (and child processes) find."""
    monkeypatch.setenv("CFCLI_LOCAL_STATE_DIR", str(tmp_path / "state"))
    stack = LocalStack(results_dir=tmp_path / "results")
    stack.start(watch_notifications=True, echo=lambda _: None)
    try:
        yield stack
    finally:
        stack.stop(save=False)


def check_lines(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("check ")]


def test_check_names_the_dead_letter_queue_and_the_alarm_it_set_off_then_passes_after_a_redrive(local, cli_runner):
    # GIVEN a message in the dead-letter queue, and the local alarms evaluated (the dead-letter alarm goes off)
    sqs = local.client("sqs")
    attributes = {"correlation_id": {"DataType": "String", "StringValue": "run-1"}}
    sqs.send_message(
        QueueUrl=local.outputs["DeadLetterQueueUrl"], MessageBody="given up on", MessageAttributes=attributes
    )
    local.notifications.flush()
    # WHEN status --check runs against the local stack
    result = cli_runner.invoke(cli, ["--local", "status", "--check"])
    # THEN it exits 3 with one line for the queue and one for the alarm, which it found among the stack's alarms
    assert result.exit_code == CHECK_FAILED_EXIT, result.stderr
    dlq_line, alarm_line = check_lines(result)
    assert dlq_line.startswith("check failed: dead-letter queue: holds 1 message ")
    assert alarm_line.startswith(f"check failed: alarm {local.stack_name}-DeadLetterQueueAlarm-")
    assert " is in ALARM since " in alarm_line and "Threshold Crossed" in alarm_line
    resources = local.client("cloudformation").list_stack_resources(StackName=local.stack_name)
    alarms = [r for r in resources["StackResourceSummaries"] if r["ResourceType"] == "AWS::CloudWatch::Alarm"]
    assert f"alarms:            {len(alarms)}, in ALARM: " in result.stdout

    # WHEN a dry run of redrive, then redrive, run
    dry = cli_runner.invoke(cli, ["--local", "redrive", "--dry-run", "--json"])
    moved = cli_runner.invoke(cli, ["--local", "redrive", "--json"])
    # THEN the dry run counted the message and left it; redrive put it back on the work queue, attributes and all
    assert dry.exit_code == 0 and json.loads(dry.stdout)["would_move"] == 1
    assert moved.exit_code == 0, moved.stderr
    assert json.loads(moved.stdout) == {"moved": 1, "refused": [], "not_deleted": []}
    (message,) = sqs.receive_message(
        QueueUrl=local.outputs["QueueUrl"], MessageAttributeNames=["All"], WaitTimeSeconds=1
    )["Messages"]
    assert message["Body"] == "given up on"
    assert message["MessageAttributes"]["correlation_id"]["StringValue"] == "run-1"

    # WHEN the alarms are evaluated again and the check runs
    local.notifications.flush()
    again = cli_runner.invoke(cli, ["--local", "status", "--check"])
    # THEN it passes
    assert again.exit_code == 0, again.stderr
    assert check_lines(again) == [
        "check passed: the dead-letter queue is empty, no alarm is in ALARM, the last tick did not fail"
    ]


def test_check_sees_a_failed_tick_through_the_metrics_local_lambda_publishes(local, cli_runner):
    # GIVEN a tick whose producer fails: the work queue is gone while it sends (then made again, empty)
    sqs = local.client("sqs")
    queue_url = local.outputs["QueueUrl"]
    ddb_ops.items_add(local.outputs["TableName"], ["Netflix"], local.client("dynamodb"))
    sqs.delete_queue(QueueUrl=queue_url)
    calls_before = local.aws_calls()
    tick = local.lambda_service.fire_schedule()
    calls = local.aws_calls() - calls_before
    sqs.create_queue(QueueName=queue_url.rsplit("/", 1)[1])
    assert not tick.ok
    # WHEN status --check runs against the local stack
    result = cli_runner.invoke(cli, ["--local", "status", "--check", "--json"])
    # THEN the last tick is that failed invocation, read from the AWS/Lambda metrics, and the check fails on it
    assert result.exit_code == CHECK_FAILED_EXIT, result.stderr
    last = json.loads(result.stdout)["last_tick"]
    assert (last["invocations"], last["errors"], last["failed"]) == (1, 1, True)
    assert check_lines(result) == [
        f"check failed: last tick: the producer's invocation at {last['at']} failed (1 error in 1 invocation; "
        "see its log)"
    ]
    # AND publishing the metrics was the Lambda service's own doing: not counted among the stack's calls
    assert calls["sqs:SendMessageBatch"] >= 1 and not [key for key in calls if key.endswith(":PutMetricData")]


def test_local_list_piped_into_a_reader_that_stops_after_one_line_ends_quietly(local):
    # GIVEN 3,000 companies: their list is far more than a pipe holds, so the writer meets the closed pipe
    names = [f"Company {n:05d}" for n in range(3000)]
    ddb_ops.items_add(local.outputs["TableName"], names, local.client("dynamodb"))
    # WHEN `./cfcli.py --local list` is read one line, then the reader closes the pipe (as `| head -1` does)
    child = subprocess.Popen(
        [sys.executable, str(ROOT / "cfcli.py"), "--local", "list"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
        env=os.environ.copy(),
    )
    first = child.stdout.readline()
    child.stdout.close()
    stderr = child.stderr.read()
    child.wait(timeout=60)
    # THEN the reader got the header, and the CLI ended with 141 and nothing on stderr: no traceback, no "Error:"
    assert first.split()[0] == b"name"
    assert stderr == b""
    assert child.returncode == PIPE_CLOSED_EXIT


@pytest.mark.parametrize("verbose", [[], ["--verbose"]])
def test_a_pipe_closed_before_the_first_write_ends_any_command_quietly(verbose, aws_credentials):
    # GIVEN a pipe whose reader is already gone
    read_end, write_end = os.pipe()
    os.close(read_end)
    # WHEN a command that prints data writes to it (even with --verbose, which shows tracebacks)
    try:
        done = subprocess.run(
            [sys.executable, str(ROOT / "cfcli.py"), *verbose, "cost", "--prices"],
            stdout=write_end,
            stderr=subprocess.PIPE,
            cwd=ROOT,
            timeout=60,
        )
    finally:
        os.close(write_end)
    # THEN it ends with 141 and says nothing
    assert done.stderr == b""
    assert done.returncode == PIPE_CLOSED_EXIT
