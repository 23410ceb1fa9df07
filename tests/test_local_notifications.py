"""Local mode's notifications: alarms evaluated the way CloudWatch would, and what the stack's topic sends
printed and appended to `<state dir>/notifications.log` (watchlist_workstation/local/alarms.py,
watchlist_workstation/local/notifications.py).

Everything runs for real on loopback: the local stack (moto in its own process, with the template's
alarms), the executor running the handlers, the local Comprehend endpoint and text server.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import cfcli  # noqa: F401 - registers every command on the group
import ddb_ops
from watchlist_workstation.cli.app import cli
from watchlist_workstation.local.lambda_service.service import LocalLambda
from watchlist_workstation.local.stack import Endpoints, LocalStack, default_state_dir, local_client

REGION_NAME = "US East (N. Virginia)"
# Opposite tones for the local model (VADER): a company's new text flips its label.
CHEERFUL = "{name} is a wonderful, excellent and beloved success; customers love its great products."
GLOOMY = "{name} is a terrible, awful failure; it was fined for fraud and its customers hate it."


def records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def alarm_of(record: dict) -> tuple[str, str]:
    """(logical id of the alarm, its new state) of an alarm notification."""
    alarm = json.loads(record["message"])
    return alarm["AlarmName"].split("-")[-2], alarm["NewStateValue"]


# --- through the CLI: a run that ends with a dead letter -------------------------------------------


@pytest.fixture
def local_dirs(tmp_path, monkeypatch, aws_credentials):
    monkeypatch.setenv("CFCLI_LOCAL_STATE_DIR", str(tmp_path / "state"))
    return tmp_path


def test_a_run_that_dead_letters_a_message_prints_and_logs_the_alarm(cli_runner, local_dirs, monkeypatch):
    # GIVEN a two-company watchlist, and a poison message waiting on a work queue that gives up after two
    # tries two seconds apart (instead of five tries six minutes apart)
    (local_dirs / "state").mkdir()
    saved = [{"name": {"S": name}} for name in ("Netflix", "IBM")]  # the saved watchlist a start restores
    (local_dirs / "state" / "table.json").write_text(json.dumps(saved))
    real_fire_and_drain = LocalLambda.fire_and_drain

    def fire_and_drain_with_poison(self, *args, **kwargs):
        sqs = local_client("sqs", Endpoints.read(default_state_dir()).aws)
        mapping = self.mappings[0]
        redrive = json.dumps({"deadLetterTargetArn": mapping.dlq_arn, "maxReceiveCount": 2})
        sqs.set_queue_attributes(
            QueueUrl=mapping.queue_url, Attributes={"VisibilityTimeout": "2", "RedrivePolicy": redrive}
        )
        sqs.send_message(QueueUrl=mapping.queue_url, MessageBody="poison")
        return real_fire_and_drain(self, *args, **kwargs)

    monkeypatch.setattr(LocalLambda, "fire_and_drain", fire_and_drain_with_poison)
    # WHEN the demo runs once
    result = cli_runner.invoke(cli, ["local", "run", "--once", "--json", "--results-dir", str(local_dirs / "results")])
    # THEN it fails because of the dead letter, after the companies were analysed
    assert result.exit_code == 1, result.stderr
    assert json.loads(result.stdout)["dead_lettered"] == 1
    # AND the startup lines said where notifications go
    log_path = local_dirs / "state" / "notifications.log"
    assert f"notifications     {log_path} (also printed here)" in result.stderr.splitlines()
    # AND the dead-letter alarm's notification was appended to the log, once, shaped like CloudWatch's
    logged = records(log_path)
    dead_letter = [r for r in logged if alarm_of(r)[0] == "DeadLetterQueueAlarm"]
    assert [alarm_of(r) for r in dead_letter] == [("DeadLetterQueueAlarm", "ALARM")]
    (record,) = dead_letter
    alarm = json.loads(record["message"])
    assert record["subject"] == f'ALARM: "{alarm["AlarmName"]}" in {REGION_NAME}'
    assert alarm["AlarmActions"] == [record["topic_arn"]] and alarm["OldStateValue"] == "OK"
    assert alarm["NewStateReason"] == "Threshold Crossed: 1 datapoint [1] was greater than the threshold (0)."
    assert alarm["Trigger"]["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert alarm["Trigger"]["Dimensions"][0]["value"].startswith("watchlist-sentiment-DeadLetterQueue-")
    # AND it was printed, subject first, then the new state and the alarm's description
    printed = result.stderr.splitlines()
    at = printed.index(f"notification: {record['subject']}")
    assert printed[at + 1 : at + 3] == [
        f"  ALARM (was OK): {alarm['NewStateReason']}",
        f"  {alarm['AlarmDescription']}",
    ]
    # AND every notification of the run is an alarm going off (the poison also failed whole batches)
    assert {state for _, state in map(alarm_of, logged)} == {"ALARM"}


@pytest.mark.parametrize("command", [["run", "--once"], ["up"]])
def test_local_commands_refuse_a_parameter_the_template_does_not_have(cli_runner, local_dirs, command):
    # GIVEN a misspelt parameter  WHEN a local stack would be created with it  THEN usage error, nothing started
    result = cli_runner.invoke(cli, ["local", *command, "--parameter", "NotifyOnLabelChanges=true"])
    assert result.exit_code == 2
    assert "NotifyOnLabelChanges is not a parameter of template.yml" in result.stderr
    assert not (local_dirs / "state").exists()


# --- the local stack in this process --------------------------------------------------------------


@dataclass
class Local:
    stack: LocalStack
    executor: LocalLambda
    printed: list[str]
    seen: int = 0  # notifications in the log that notified() has returned

    @property
    def table(self) -> str:
        return self.stack.outputs["TableName"]

    def client(self, service: str):
        return self.stack.client(service)

    def labels(self) -> dict[str, str]:
        return {i["name"]: i["sentiment"] for i in ddb_ops.items_list(self.table, self.client("dynamodb"))}

    def notified(self) -> list[dict]:
        """Evaluate now, then every notification taken since the last call: by this flush, or by the watcher's
        own round (it evaluates the alarms every few seconds in the background) if that came first. Both write
        each one they take to the notifications log."""
        self.stack.notifications.flush()
        everything = records(self.stack.notifications_log)
        new, self.seen = everything[self.seen :], len(everything)
        return new


@pytest.fixture
def local(tmp_path, aws_credentials) -> Iterator[Local]:
    """A local stack created with NotifyOnLabelChange=true, its executor, and what the watcher printed."""
    stack = LocalStack(
        state_dir=tmp_path / "state", results_dir=tmp_path / "results", parameters={"NotifyOnLabelChange": "true"}
    )
    printed: list[str] = []
    stack.start(watch_notifications=True, echo=printed.append)
    try:
        yield Local(stack, stack.lambda_service, printed)
    finally:
        stack.stop(save=False)


def test_label_changes_between_two_ticks_make_one_notification_per_batch(local):
    # GIVEN three companies analysed by a first tick (a first analysis notifies nothing)
    names = ["Netflix", "IBM", "Intel"]
    ddb_ops.items_add(local.table, names, local.client("dynamodb"))
    tick, drained = local.executor.fire_and_drain(timeout=120)
    assert tick.ok and drained.records == 1 and drained.failed == 0  # one chunk of three
    assert local.notified() == []
    first = local.labels()
    # AND new texts that flip the labels of two of them
    for name in ("Netflix", "IBM"):
        text = GLOOMY if first[name] in ("POSITIVE", "NEUTRAL") else CHEERFUL
        local.stack.text_server.add_page(name, text.format(name=name))
    # WHEN the next tick is drained in one batch
    tick, drained = local.executor.fire_and_drain(timeout=120)
    assert tick.ok and drained.batches == 1 and drained.failed == 0
    taken = local.notified()
    # THEN exactly one notification lists exactly the two changes, in the log and on screen
    second = local.labels()
    assert {n for n in names if first[n] != second[n]} == {"Netflix", "IBM"}
    assert records(local.stack.notifications_log) == taken
    (record,) = taken
    assert record["subject"] == "Sentiment label changed for 2 companies"
    assert record["topic_arn"] == local.stack.outputs["NotificationTopicArn"]
    listed = [line for line in record["message"].splitlines() if " -> " in line]
    assert [line.split(" (")[0] for line in listed] == [
        f"IBM: {first['IBM']} -> {second['IBM']}",
        f"Netflix: {first['Netflix']} -> {second['Netflix']}",
    ]
    assert local.printed[0].splitlines()[:2] == [
        "notification: Sentiment label changed for 2 companies",
        "  2 companies on the watchlist have a new sentiment label:",
    ]


def test_a_whole_batch_failure_sets_off_the_consumer_errors_alarm(local):
    # GIVEN a message the consumer cannot read, alone on the work queue
    mapping = local.executor.mappings[0]
    local.client("sqs").send_message(QueueUrl=mapping.queue_url, MessageBody="not json")
    # WHEN the mapping delivers it once (the consumer raises: the invocation counts as an error)
    polled = local.executor.poll_once(mapping)
    assert polled.result is not None and polled.result.error_type == "BatchFailed"
    # THEN the next evaluation notifies the consumer-errors alarm, and only it
    (record,) = local.notified()
    assert alarm_of(record) == ("ConsumerErrorsAlarm", "ALARM")
    trigger = json.loads(record["message"])["Trigger"]
    assert (trigger["MetricName"], trigger["Statistic"], trigger["Period"]) == ("Errors", "SUM", 300)
    assert trigger["Dimensions"] == [{"value": mapping.function, "name": "FunctionName"}]
    # AND an unchanged state notifies nothing more
    assert local.notified() == []


def test_the_dead_letter_alarm_notifies_again_when_the_queue_is_empty(local):
    # GIVEN the dead-letter alarm went off for a message in the dead-letter queue
    sqs = local.client("sqs")
    dlq_url = local.stack.outputs["DeadLetterQueueUrl"]
    sqs.send_message(QueueUrl=dlq_url, MessageBody="given up on")
    assert [alarm_of(r) for r in local.notified()] == [("DeadLetterQueueAlarm", "ALARM")]
    # WHEN the message is dealt with (removed from the dead-letter queue)
    (message,) = sqs.receive_message(QueueUrl=dlq_url)["Messages"]
    sqs.delete_message(QueueUrl=dlq_url, ReceiptHandle=message["ReceiptHandle"])
    # THEN the alarm's OK is notified, and the alarm's state in CloudWatch follows
    (record,) = local.notified()
    assert alarm_of(record) == ("DeadLetterQueueAlarm", "OK")
    assert record["subject"].startswith('OK: "watchlist-sentiment-DeadLetterQueueAlarm-')
    (alarm,) = local.client("cloudwatch").describe_alarms(AlarmNamePrefix="watchlist-sentiment-DeadLetter")[
        "MetricAlarms"
    ]
    assert alarm["StateValue"] == "OK"


def test_a_new_bad_name_sets_off_the_new_permanent_errors_alarm_once(local):
    # GIVEN a name no page answers for, on the watchlist
    ddb_ops.items_add(local.table, ["Nowhere Holdings"], local.client("dynamodb"))
    # WHEN a tick checks it
    tick, drained = local.executor.fire_and_drain(timeout=120)
    assert tick.ok and drained.records == 1 and drained.failed == 0
    # THEN the consumer's log line became the stack's metric in the emulated CloudWatch
    cloudwatch, now = local.client("cloudwatch"), datetime.now(UTC)

    def summed(metric: str) -> float:
        answer = cloudwatch.get_metric_statistics(
            Namespace="WatchlistSentiment",
            MetricName=metric,
            Dimensions=[{"Name": "Stack", "Value": local.stack.stack_name}],
            StartTime=now - timedelta(minutes=10),
            EndTime=datetime.now(UTC) + timedelta(minutes=1),
            Period=60,
            Statistics=["Sum"],
        )
        return sum(point["Sum"] for point in answer["Datapoints"])

    (record,) = local.notified()
    assert summed("NewPermanentErrors") == 1 and summed("PermanentErrors") == 1
    # AND the alarm on new permanent errors went off, and only it
    assert alarm_of(record) == ("NewPermanentErrorsAlarm", "ALARM")
    assert json.loads(record["message"])["NewStateReason"] == (
        "Threshold Crossed: 1 datapoint [1] was greater than the threshold (0)."
    )
    # WHEN the next tick finds the same name failing the same way
    tick, drained = local.executor.fire_and_drain(timeout=120)
    assert tick.ok and drained.failed == 0
    # THEN it is a permanent error again, but not a new one, and nothing is notified within the period
    assert local.notified() == []
    assert summed("NewPermanentErrors") == 1 and summed("PermanentErrors") == 2
    # AND once the period that saw the new error is over, the alarm is OK again though the name is still bad
    # (2 s past the period: the emulator cuts the window's start to a whole second, and both ticks may fall
    # within one second on a fast machine)
    local.stack.notifications.alarms.clock = lambda: datetime.now(UTC) + timedelta(seconds=300 + 2)
    (record,) = local.notified()
    assert alarm_of(record) == ("NewPermanentErrorsAlarm", "OK")
