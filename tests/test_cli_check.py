"""`status --check` and `redrive` against a stack created from template.yml in moto (in-process).

moto's CloudFormation creates no alarms (tests/test_cli_local_signal.py checks them on a local stack,
whose moto server models them); the dead-letter queue and the producer's last tick are checked here.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from botocore.exceptions import ClientError

import cfcli  # noqa: F401  (registers every command on the group)
from watchlist_workstation.cli import health, redrive
from watchlist_workstation.cli.app import cli
from watchlist_workstation.cli.observe import CHECK_FAILED_EXIT


def invoke(runner, *args: str):
    return runner.invoke(cli, list(args), catch_exceptions=False)


def check_lines(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("check ")]


def producer_minute(stack, minutes_ago: int, *, invocations: int, errors: int) -> None:
    """What Lambda publishes for the producer: its invocations and errors in one minute."""
    at = datetime.now(UTC).replace(second=30, microsecond=0) - timedelta(minutes=minutes_ago)
    dimensions = [{"Name": "FunctionName", "Value": stack.outputs["ProducerFunctionName"]}]
    boto3.client("cloudwatch").put_metric_data(
        Namespace="AWS/Lambda",
        MetricData=[
            {"MetricName": "Invocations", "Dimensions": dimensions, "Timestamp": at, "Value": invocations},
            {"MetricName": "Errors", "Dimensions": dimensions, "Timestamp": at, "Value": errors},
        ],
    )


@pytest.fixture
def no_mapping(stack):
    """moto "delivers" each send to an enabled SQS mapping and counts a receive; these tests move messages."""
    lam = boto3.client("lambda")
    for mapping in lam.list_event_source_mappings()["EventSourceMappings"]:
        lam.update_event_source_mapping(UUID=mapping["UUID"], Enabled=False)
    return stack


def messages(queue_url: str) -> list[dict]:
    sqs = boto3.client("sqs")
    got = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"])
    return got.get("Messages", [])


# ---------------------------------------------------------------- status --check
def test_check_of_a_healthy_stack_exits_0_and_says_so(stack, cli_runner):
    # GIVEN a fresh stack: empty dead-letter queue, no alarm, a last tick that succeeded
    producer_minute(stack, 2, invocations=1, errors=0)
    # WHEN status --check runs
    result = invoke(cli_runner, "status", "--check")
    # THEN it exits 0, shows the tick as ok, and says the check passed
    assert result.exit_code == 0, result.stderr
    assert "last tick:" in result.stdout and result.stdout.split("last tick:")[1].split("\n")[0].endswith(", ok")
    assert check_lines(result) == [
        "check passed: the dead-letter queue is empty, no alarm is in ALARM, the last tick did not fail"
    ]


def test_check_fails_when_the_dead_letter_queue_holds_messages(no_mapping, cli_runner):
    # GIVEN two messages in the dead-letter queue
    sqs = boto3.client("sqs")
    for n in range(2):
        sqs.send_message(QueueUrl=no_mapping.dlq_url, MessageBody=json.dumps({"n": n}))
    # WHEN status runs without and with --check
    plain = invoke(cli_runner, "status")
    checked = invoke(cli_runner, "status", "--check")
    # THEN plain status is informational (exit 0); --check exits 3 with one line saying why, the report still on stdout
    assert plain.exit_code == 0 and check_lines(plain) == []
    assert checked.exit_code == CHECK_FAILED_EXIT
    assert checked.stdout == plain.stdout
    assert check_lines(checked) == [
        "check failed: dead-letter queue: holds 2 messages (find why in the consumer's log, then './cfcli.py redrive')"
    ]


def test_check_fails_when_the_last_tick_failed_and_says_when(stack, cli_runner):
    # GIVEN a good tick 12 minutes ago, then a tick whose invocation failed 2 minutes ago
    producer_minute(stack, 12, invocations=1, errors=0)
    producer_minute(stack, 2, invocations=1, errors=1)
    # WHEN status --check --json runs
    result = invoke(cli_runner, "status", "--check", "--json")
    # THEN it exits 3, the JSON report carries the tick and the problem, and stderr says it in one line
    assert result.exit_code == CHECK_FAILED_EXIT
    report = json.loads(result.stdout)
    tick = report["last_tick"]
    assert (tick["invocations"], tick["errors"], tick["failed"]) == (1, 1, True)
    (problem,) = report["check"]["problems"]
    assert problem.startswith(f"last tick: the producer's invocation at {tick['at']} failed (1 error in 1 invocation")
    assert check_lines(result) == [f"check failed: {problem}"]


def test_a_tick_retried_successfully_after_a_failure_passes_the_check(stack, cli_runner):
    # GIVEN a failed invocation 3 minutes ago and Lambda's successful retry 1 minute ago
    producer_minute(stack, 3, invocations=1, errors=1)
    producer_minute(stack, 1, invocations=1, errors=0)
    # WHEN status --check runs
    result = invoke(cli_runner, "status", "--check")
    # THEN the last tick is the retry, and it succeeded
    assert result.exit_code == 0, result.stderr


def test_a_failed_tick_older_than_the_lookback_is_not_the_last_tick(stack, cli_runner):
    # GIVEN a failed invocation 3 hours ago, and none since (a 5-minute schedule looks back 1 hour)
    producer_minute(stack, 180, invocations=1, errors=1)
    # WHEN status --check runs
    result = invoke(cli_runner, "status", "--check")
    # THEN no tick is known, which is not a failure
    assert result.exit_code == 0, result.stderr
    assert "last tick:         none in the last 1 hour" in result.stdout.splitlines()


def test_a_part_that_cannot_be_read_fails_the_check(aws, cli_runner):
    # GIVEN a stack without outputs (so its dead-letter queue cannot be found)
    template = {"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}}
    boto3.client("cloudformation").create_stack(StackName="bare", TemplateBody=json.dumps(template))
    # WHEN status --check runs
    result = invoke(cli_runner, "--stack-name", "bare", "status", "--check")
    # THEN a check that could not be made is not a pass
    assert result.exit_code == CHECK_FAILED_EXIT
    assert check_lines(result) == [
        "check failed: dead-letter queue: cannot be checked (the stack has no output DeadLetterQueueUrl)"
    ]


def test_problems_name_every_alarm_in_alarm_whatever_it_watches():
    # GIVEN a report with three alarms of the stack, two of them in ALARM (one the template might add tomorrow)
    report = {
        "dead_letter_queue": {"waiting": 0, "in_flight": 0, "delayed": 0},
        "alarms": [
            {"name": "s-ConsumerErrorsAlarm-1", "state": "OK", "reason": "fine", "since": None},
            {"name": "s-DeadLetterQueueAlarm-2", "state": "ALARM", "reason": "Threshold Crossed", "since": "T1"},
            {"name": "s-AnyNewAlarm-3", "state": "ALARM", "reason": None, "since": None},
        ],
        "last_tick": None,
    }
    # WHEN the problems are listed  THEN each alarm in ALARM is one line, with its reason when it has one
    assert health.problems(report) == [
        "alarm s-DeadLetterQueueAlarm-2 is in ALARM since T1: Threshold Crossed",
        "alarm s-AnyNewAlarm-3 is in ALARM",
    ]


# ---------------------------------------------------------------- redrive
def test_redrive_dry_run_counts_and_moves_nothing(no_mapping, cli_runner):
    # GIVEN three dead-lettered messages
    sqs = boto3.client("sqs")
    for n in range(3):
        sqs.send_message(QueueUrl=no_mapping.dlq_url, MessageBody=json.dumps({"n": n}))
    # WHEN redrive --dry-run runs
    result = invoke(cli_runner, "redrive", "--dry-run", "--json")
    # THEN it counts them, and they are all still in the dead-letter queue (none received: none hidden)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {"would_move": 3, "in_flight": 0, "delayed": 0}
    assert "(dry run)" in result.stderr
    assert len(messages(no_mapping.dlq_url)) == 3 and messages(no_mapping.queue_url) == []


def test_redrive_moves_every_message_with_its_body_and_attributes(no_mapping, cli_runner):
    # GIVEN 23 dead-lettered messages carrying the correlation id attribute the consumer reads
    sqs = boto3.client("sqs")
    attributes = {"correlation_id": {"DataType": "String", "StringValue": "run-7"}}
    for n in range(23):
        sqs.send_message(QueueUrl=no_mapping.dlq_url, MessageBody=json.dumps({"n": n}), MessageAttributes=attributes)
    # WHEN redrive runs
    result = invoke(cli_runner, "redrive", "--json")
    # THEN all 23 are on the work queue, each once, with body and attribute; the dead-letter queue is empty
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {"moved": 23, "refused": [], "not_deleted": []}
    assert "moved 23 message(s) to the work queue" in result.stderr.splitlines()
    moved = []
    while batch := messages(no_mapping.queue_url):
        moved += batch
        for message in batch:
            sqs.delete_message(QueueUrl=no_mapping.queue_url, ReceiptHandle=message["ReceiptHandle"])
    assert sorted(json.loads(m["Body"])["n"] for m in moved) == list(range(23))
    assert all(m["MessageAttributes"]["correlation_id"]["StringValue"] == "run-7" for m in moved)
    assert messages(no_mapping.dlq_url) == []


class RefusingSqs:
    """The SQS client, except that the work queue refuses the entries whose body holds "refuse"."""

    def __init__(self, sqs):
        self.sqs = sqs

    def __getattr__(self, name):
        return getattr(self.sqs, name)

    def send_message_batch(self, QueueUrl, Entries):
        refused = [e for e in Entries if "refuse" in e["MessageBody"]]
        taken = [e for e in Entries if e not in refused]
        answer = self.sqs.send_message_batch(QueueUrl=QueueUrl, Entries=taken) if taken else {}
        failed = [{"Id": e["Id"], "Code": "InternalError", "SenderFault": False} for e in refused]
        return {"Successful": answer.get("Successful", []), "Failed": failed}


def test_a_message_the_work_queue_refuses_stays_in_the_dead_letter_queue(no_mapping):
    # GIVEN two dead-lettered messages, one of which the work queue will refuse
    sqs = boto3.client("sqs")
    sqs.send_message(QueueUrl=no_mapping.dlq_url, MessageBody="take me")
    sqs.send_message(QueueUrl=no_mapping.dlq_url, MessageBody="refuse me")
    # WHEN they are moved
    report = redrive.move_messages(RefusingSqs(sqs), no_mapping.dlq_url, no_mapping.queue_url)
    # THEN one moved; the refused one was not deleted: it waits, hidden for now, in the dead-letter queue
    assert report.moved == 1 and len(report.refused) == 1 and report.refused[0].endswith(": InternalError")
    assert [m["Body"] for m in messages(no_mapping.queue_url)] == ["take me"]
    attributes = sqs.get_queue_attributes(QueueUrl=no_mapping.dlq_url, AttributeNames=["All"])["Attributes"]
    assert attributes["ApproximateNumberOfMessagesNotVisible"] == "1"


def test_redrive_exits_1_in_one_line_when_messages_were_refused(no_mapping, cli_runner, monkeypatch):
    # GIVEN a dead-lettered message the work queue refuses
    boto3.client("sqs").send_message(QueueUrl=no_mapping.dlq_url, MessageBody="refuse me")
    real = redrive.move_messages
    monkeypatch.setattr(redrive, "move_messages", lambda sqs, *args, **kwargs: real(RefusingSqs(sqs), *args, **kwargs))
    # WHEN redrive runs
    result = invoke(cli_runner, "redrive")
    # THEN exit 1 and one error line counting the refused messages
    assert result.exit_code == 1
    (error,) = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert error.startswith("Error: the work queue refused 1 message(s); they stay in the dead-letter queue: ")


def test_a_failed_send_deletes_nothing(no_mapping):
    # GIVEN a dead-lettered message and a work queue that cannot be reached
    sqs = boto3.client("sqs")
    sqs.send_message(QueueUrl=no_mapping.dlq_url, MessageBody="keep me")

    class Unreachable(RefusingSqs):
        def send_message_batch(self, **_):
            raise ConnectionError("no route")

    # WHEN a move is tried  THEN it fails, and the message is still in the dead-letter queue
    with pytest.raises(ConnectionError):
        redrive.move_messages(Unreachable(sqs), no_mapping.dlq_url, no_mapping.queue_url)
    attributes = sqs.get_queue_attributes(QueueUrl=no_mapping.dlq_url, AttributeNames=["All"])["Attributes"]
    assert (
        int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"]) == 1
    )


def test_alarms_the_caller_may_not_read_leave_status_informational_and_fail_the_check(stack, cli_runner, monkeypatch):
    # GIVEN credentials without cloudwatch:DescribeAlarms
    def refused(*_args):
        error = {"Error": {"Code": "AccessDenied", "Message": "not authorized to perform cloudwatch:DescribeAlarms"}}
        raise ClientError(error, "DescribeAlarms")

    monkeypatch.setattr(health, "stack_alarms", refused)
    # WHEN status runs without and with --check
    plain = invoke(cli_runner, "status")
    checked = invoke(cli_runner, "status", "--check")
    # THEN status shows the rest with the alarms unavailable and a note why; the check does not pass
    assert plain.exit_code == 0
    assert "alarms:            unavailable" in plain.stdout.splitlines()
    assert plain.stderr.splitlines() == [
        "cannot read the alarms: AWS DescribeAlarms failed: AccessDenied: not authorized to perform "
        "cloudwatch:DescribeAlarms"
    ]
    assert checked.exit_code == CHECK_FAILED_EXIT
    assert check_lines(checked) == [
        "check failed: alarms: cannot be checked (AWS DescribeAlarms failed: AccessDenied: not authorized to "
        "perform cloudwatch:DescribeAlarms)"
    ]
