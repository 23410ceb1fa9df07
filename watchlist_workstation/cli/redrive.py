"""`redrive`: move the dead-lettered messages back to the work queue (docs/operations.md, "The dead-letter queue").

SQS has a redrive API of its own (StartMessageMoveTask), but the local account (moto 5.2.5) does not
implement it, and one code path serves both. So the messages are moved by hand, ten at a time:
receive from the dead-letter queue, SendMessageBatch to the work queue with the same body and message
attributes, and only then DeleteMessageBatch of the ones the work queue accepted. A message is never
deleted before its copy is queued, so none is lost. A delete that fails after its send leaves the
message in both queues: it is counted and reported, and it will be worked on twice, which the
pipeline tolerates (docs/design.md rule 6), as it tolerates SQS's own at-least-once delivery.
A message the work queue refused stays in the dead-letter queue, hidden for REFUSED_HIDDEN_SECONDS so
this run does not receive it again, then visible for the next.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import click

from watchlist_workstation.cli.app import cli
from watchlist_workstation.cli.context import AppContext, CliError, emit_json, note
from watchlist_workstation.cli.observe import json_option, queue_depth
from watchlist_workstation.cli.progress import Progress

# SQS takes at most 10 messages a receive, a send batch and a delete batch (SQS API reference).
SQS_BATCH = 10
# A message being moved is hidden from other readers this long: ample for one send and one delete.
MOVE_VISIBILITY_SECONDS = 60
REFUSED_HIDDEN_SECONDS = 300
# A short long poll: SQS then asks all its servers, so an empty answer means an empty queue.
RECEIVE_WAIT_SECONDS = 1


@dataclass
class MoveReport:
    moved: int = 0
    refused: list[str] = field(default_factory=list)  # "message id: code" the work queue did not accept
    not_deleted: list[str] = field(default_factory=list)  # sent, but still in the dead-letter queue as well

    def as_dict(self) -> dict[str, Any]:
        return {"moved": self.moved, "refused": self.refused, "not_deleted": self.not_deleted}


def move_messages(sqs: Any, source_url: str, target_url: str, progress: Progress | None = None) -> MoveReport:
    """Move every message visible in `source_url` to `target_url`: send first, then delete what was sent."""
    report = MoveReport()
    while True:
        received = sqs.receive_message(
            QueueUrl=source_url,
            MaxNumberOfMessages=SQS_BATCH,
            WaitTimeSeconds=RECEIVE_WAIT_SECONDS,
            VisibilityTimeout=MOVE_VISIBILITY_SECONDS,
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not received:
            return report
        by_id = {str(i): message for i, message in enumerate(received)}
        entries = []
        for entry_id, message in by_id.items():
            entry = {"Id": entry_id, "MessageBody": message["Body"]}
            if message.get("MessageAttributes"):
                entry["MessageAttributes"] = message["MessageAttributes"]
            entries.append(entry)
        sent = sqs.send_message_batch(QueueUrl=target_url, Entries=entries)
        for failure in sent.get("Failed", []):
            message = by_id[failure["Id"]]
            report.refused.append(f"{message['MessageId']}: {failure.get('Code')}")
            sqs.change_message_visibility(
                QueueUrl=source_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=REFUSED_HIDDEN_SECONDS
            )
        done = [by_id[success["Id"]] for success in sent.get("Successful", [])]
        if done:
            deleted = sqs.delete_message_batch(
                QueueUrl=source_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
            )
            report.not_deleted += [done[int(f["Id"])]["MessageId"] for f in deleted.get("Failed", [])]
            report.moved += len(done)
        if progress is not None:
            progress.update(report.moved, detail=f"{len(report.refused)} refused" if report.refused else None)


@cli.command()
@click.option("--dry-run", is_flag=True, help="Count what would be moved; move nothing.")
@json_option
@click.pass_obj
def redrive(app: AppContext, dry_run: bool, as_json: bool) -> None:
    """Move the messages in the dead-letter queue back to the work queue, to be worked on again.

    Fix what made them fail first (docs/operations.md, "The dead-letter queue").
    """
    source, target = app.output("DeadLetterQueueUrl"), app.output("QueueUrl")
    sqs = app.client("sqs")
    depth = queue_depth(sqs, source)
    if dry_run:
        # Counting by receiving would hide the messages from the consumer's next look; SQS's own count is enough.
        result = {"would_move": depth["waiting"], "in_flight": depth["in_flight"], "delayed": depth["delayed"]}
        note(
            f"would move about {depth['waiting']} message(s) from the dead-letter queue to the work queue "
            f"(SQS's approximate count; {depth['in_flight']} in flight, {depth['delayed']} delayed) (dry run)"
        )
        if as_json:
            emit_json(result)
        return
    with Progress("moved", total=depth["waiting"] or None) as progress:
        progress.stage(f"moving about {depth['waiting']} message(s) from the dead-letter queue to the work queue")
        report = move_messages(sqs, source, target, progress)
    if as_json:
        emit_json(report.as_dict())
    note(f"moved {report.moved} message(s) to the work queue")
    if report.not_deleted:
        note(
            f"{len(report.not_deleted)} message(s) were queued again but could not be deleted from the dead-letter "
            f"queue, so they will be worked on twice: {', '.join(report.not_deleted[:10])}"
        )
    if report.refused:
        raise CliError(
            f"the work queue refused {len(report.refused)} message(s); they stay in the dead-letter queue: "
            + ", ".join(report.refused[:10])
        )
