"""Local mode's notifications: what the stack's topic sends, printed and appended to a file.

On AWS the stack's notification topic e-mails its subscriber. Locally nobody is mailed: a queue of the
local account (not a stack resource: `<stack>-local-notifications`) is subscribed to the topic, and a
thread reads it, hands each notification to `echo` (the CLI prints it on stderr) and appends it as one
JSON line to a file (`<state dir>/notifications.log`):

    {"received_at": "...Z", "topic_arn": "...", "message_id": "...", "subject": "...", "message": "..."}

The same thread plays CloudWatch's part (watchlist_workstation/local/alarms.py) every ALARM_EVERY_SECONDS, so an alarm's
notification travels the way it does on AWS: alarm -> topic -> subscriber. Each such round first extracts the metrics
the functions' log lines embed (watchlist_workstation/local/log_metrics.py), as CloudWatch Logs does, so the alarms on
them see the latest batches.

    watcher = NotificationWatcher(client, stack_name, log_path, region=..., lambda_errors=executor.errors,
                                  echo=print)
    watcher.subscribe()  # what the topic sends from now on is kept
    watcher.flush()      # evaluate the alarms now and take in everything the topic delivered so far
    watcher.start()      # or do that in the background, every few seconds (`local up`)
    watcher.stop()       # one last flush; the thread, if any, ends

`local run --once` only flushes, after its tick: a thread polling meanwhile would add its own calls to
the ones the run counts.

The topic is read from the stack's outputs (NotificationTopicArn) on every alarm round, so a stack that
make-infra --local re-created gets its new topic subscribed; while there is no stack nothing happens.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from lib.log import get_logger
from watchlist_workstation.limits import SQS_RECEIVE_MAX
from watchlist_workstation.local.alarms import LocalAlarms
from watchlist_workstation.local.log_metrics import LogMetrics

log = get_logger("local.notifications")

INBOX_EVERY_SECONDS = 1.0
ALARM_EVERY_SECONDS = 5.0
TOPIC_OUTPUT = "NotificationTopicArn"


def describe(record: dict[str, Any]) -> str:
    """A notification as people read it: its subject, then its message (an alarm's JSON as one line)."""
    message = record["message"]
    try:
        alarm = json.loads(message)
    except ValueError:
        alarm = None
    if isinstance(alarm, dict) and "NewStateValue" in alarm:
        lines = [f"{alarm['NewStateValue']} (was {alarm.get('OldStateValue')}): {alarm.get('NewStateReason')}"]
        if alarm.get("AlarmDescription"):
            lines.append(alarm["AlarmDescription"])
    else:
        lines = [line for line in message.splitlines() if line.strip()]
    return "\n".join([f"notification: {record['subject']}", *(f"  {line}" for line in lines)])


class NotificationWatcher:
    def __init__(
        self,
        client: Callable[[str], Any],
        stack_name: str,
        log_path: Path,
        *,
        region: str,
        lambda_errors: Callable[[str, float], int],
        echo: Callable[[str], None] | None = None,
        log_metrics: LogMetrics | None = None,
    ) -> None:
        self.stack_name, self.log_path = stack_name, Path(log_path)
        self.alarms = LocalAlarms(client, stack_name, region=region, lambda_errors=lambda_errors)
        self.log_metrics = log_metrics
        self._cloudformation, self._sqs, self._sns = client("cloudformation"), client("sqs"), client("sns")
        self._echo = echo
        self._topic: str | None = None
        self._queue_url: str | None = None
        self._lock = threading.Lock()  # one round at a time: the thread's, or a flush()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_problem: str | None = None

    # -- the rounds ------------------------------------------------------------------------------

    def flush(self) -> list[dict[str, Any]]:
        """Evaluate the alarms now, then take in every notification delivered so far; returns those taken."""
        with self._lock:
            if self._subscribe():
                self._evaluate()
            return self._read_inbox()

    def _evaluate(self) -> None:
        """One CloudWatch round: the metrics the logs embed, then the alarms."""
        if self.log_metrics is not None:
            self.log_metrics.ingest()
        self.alarms.evaluate()

    def subscribe(self) -> bool:
        """Subscribe the local queue to the stack's topic now; False while there is no stack."""
        with self._lock:
            return self._subscribe()

    def _subscribe(self) -> bool:
        """Subscribe the local queue to the stack's topic (again, when the topic changed); False without a stack."""
        try:
            stack = self._cloudformation.describe_stacks(StackName=self.stack_name)["Stacks"][0]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ValidationError":  # no such stack
                return False
            raise
        if stack["StackStatus"].startswith("DELETE_"):
            return False
        topic = next((o["OutputValue"] for o in stack.get("Outputs", []) if o["OutputKey"] == TOPIC_OUTPUT), None)
        if topic is None:
            return False
        if topic != self._topic:
            if self._queue_url is None:
                self._queue_url = self._sqs.create_queue(QueueName=f"{self.stack_name}-local-notifications")["QueueUrl"]
            attributes = self._sqs.get_queue_attributes(QueueUrl=self._queue_url, AttributeNames=["QueueArn"])
            self._sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=attributes["Attributes"]["QueueArn"])
            self._topic = topic
            log.info("notifications subscribed", extra={"topic": topic, "log": str(self.log_path)})
        return True

    def _read_inbox(self) -> list[dict[str, Any]]:
        if self._queue_url is None:
            return []
        taken = []
        while True:
            messages = self._sqs.receive_message(QueueUrl=self._queue_url, MaxNumberOfMessages=SQS_RECEIVE_MAX).get(
                "Messages", []
            )
            if not messages:
                return taken
            for message in messages:
                envelope = json.loads(message["Body"])  # SNS's envelope: the subscription is not raw
                record = {
                    "received_at": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                    "topic_arn": envelope.get("TopicArn"),
                    "message_id": envelope.get("MessageId"),
                    "subject": envelope.get("Subject"),
                    "message": envelope.get("Message", ""),
                }
                # Written before the delete: a crash in between repeats a line, never loses one.
                self.log_path.parent.mkdir(parents=True, exist_ok=True)
                with self.log_path.open("a", encoding="utf-8") as out:
                    out.write(json.dumps(record, ensure_ascii=False) + "\n")
                if self._echo is not None:
                    self._echo(describe(record))
                self._sqs.delete_message(QueueUrl=self._queue_url, ReceiptHandle=message["ReceiptHandle"])
                taken.append(record)

    # -- the thread ------------------------------------------------------------------------------

    def start(self) -> NotificationWatcher:
        """Subscribe now (what the topic sends from here on is kept), then flush every few seconds."""
        self.subscribe()
        self._thread = threading.Thread(target=self._run, name="local-notifications", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        rounds_per_alarm = max(1, round(ALARM_EVERY_SECONDS / INBOX_EVERY_SECONDS))
        round_no = 0
        while not self._stop.wait(INBOX_EVERY_SECONDS):
            round_no += 1
            try:
                with self._lock:
                    if round_no % rounds_per_alarm == 0 and self._subscribe():
                        self._evaluate()
                    self._read_inbox()
                self._last_problem = None
            except (ClientError, BotoCoreError, OSError, ValueError) as exc:
                # moto busy or the stack half-made: try again next round, and say so once.
                if repr(exc) != self._last_problem:
                    log.warning("notifications round failed; trying again", extra={"error": repr(exc)})
                self._last_problem = repr(exc)

    def stop(self) -> None:
        """End the thread after one last flush, so what the last moments sent is not left unread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        try:
            self.flush()
        except (ClientError, BotoCoreError, OSError, ValueError) as exc:
            log.warning("last notifications round failed", extra={"error": repr(exc)})
