"""What the Lambda service's tests share: the local account they run in, and helpers that read or feed it.

Everything runs for real on loopback: a local stack (moto in its own process holding a stack created
from template.yml, the Comprehend-compatible endpoint, the text server with the shipped company
pages) and the handlers in worker processes. conftest.py starts it; these helpers only talk to it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from watchlist_workstation.deploy.offline import deploy_offline
from watchlist_workstation.local.lambda_service.service import LocalLambda
from watchlist_workstation.local.stack import REGION, LocalStack
from watchlist_workstation.local.textserver import TextServer

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "tests" / "events"
# The pages of the shipped watchlist (the title after a bar, else the name), used here as the companies' names.
WATCHLIST = [
    line.split("|", 1)[-1].strip()
    for line in (ROOT / "data" / "watchlist.txt").read_text(encoding="utf-8").splitlines()
    if line.strip() and not line.startswith("#")
]
# The shared stack's mapping settings: small, so batching and the concurrency cap show with few messages.
BATCH_SIZE, MAX_CONCURRENCY = 3, 2


@dataclass
class Account:
    """The emulated account of the tests' local stack, and the helpers it started, all on 127.0.0.1."""

    stack: LocalStack

    def client(self, service: str) -> Any:
        return self.stack.client(service)

    @property
    def text(self) -> TextServer:
        text = self.stack.text_server
        assert text is not None, "the tests' local stack serves its own texts"
        return text

    def deploy(self, name: str, parameters: dict[str, str], template: Path = ROOT / "template.yml") -> dict[str, str]:
        """Another stack in the same account, its texts from the same text server; its outputs."""
        return deploy_offline(
            name,
            {**self.stack.endpoints.stack_parameters(), **parameters},
            region=REGION,
            artifact_bucket="executor-test-artifacts",
            cloudformation=self.client("cloudformation"),
            s3=self.client("s3"),
            template_path=template,
        )

    def lambda_service(self, stack_name: str | None = None, *, work_dir: Path) -> LocalLambda:
        """A second Lambda service on this account (a restart, or another stack); the caller closes it."""
        return self.stack.lambda_service_for(stack_name, work_dir=work_dir)


def add_companies(account: Account, stack: SimpleNamespace, names: list[str]) -> None:
    ddb = account.client("dynamodb")
    for name in names:
        ddb.put_item(TableName=stack.TableName, Item={"name": {"S": name}})


def send_jobs(account: Account, queue_url: str, names: list[str], run_id: str = "run-1") -> list[str]:
    """Queue the producer's message for each name; returns the message ids."""
    sqs, ids = account.client("sqs"), []
    for name in names:
        body = json.dumps({"name": name, "run_id": run_id, "requested_at": "2026-11-27T12:00:00Z"})
        attributes = {"correlation_id": {"DataType": "String", "StringValue": run_id}}
        ids.append(sqs.send_message(QueueUrl=queue_url, MessageBody=body, MessageAttributes=attributes)["MessageId"])
    return ids


def send_raw(account: Account, queue_url: str, body: str) -> str:
    return account.client("sqs").send_message(QueueUrl=queue_url, MessageBody=body)["MessageId"]


def counts(account: Account, queue_url: str) -> dict[str, int]:
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    got = account.client("sqs").get_queue_attributes(QueueUrl=queue_url, AttributeNames=names)["Attributes"]
    return {"visible": int(got[names[0]]), "in_flight": int(got[names[1]])}


def consumer(lam: LocalLambda) -> str:
    return lam.mappings[0].function


def producer(lam: LocalLambda) -> str:
    return lam.schedules[0].function


def last_error(account: Account, stack: SimpleNamespace, name: str) -> str | None:
    item = account.client("dynamodb").get_item(TableName=stack.TableName, Key={"name": {"S": name}}).get("Item", {})
    return item.get("last_error", {}).get("S")


def log_lines(lam: LocalLambda, function: str, since: int = 0) -> list[str]:
    path = lam.log_dir / f"{function}.log"
    return path.read_bytes()[since:].decode("utf-8").splitlines() if path.exists() else []


def log_size(lam: LocalLambda, function: str) -> int:
    path = lam.log_dir / f"{function}.log"
    return path.stat().st_size if path.exists() else 0


@contextlib.contextmanager
def trickling_endpoint() -> Iterator[str]:
    """A loopback port whose answers never end: a byte every 0.2 s, so no read timeout ever fires. The one
    dependency the functions' deadline cannot bound (docs/design.md rule 11), hence one that hangs them."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.2)
    stop = threading.Event()

    def trickle(connection: socket.socket) -> None:
        with connection:
            try:
                connection.sendall(b"HTTP/1.1 200 OK\r\nX-Trickle: ")
                while not stop.wait(0.2):
                    connection.sendall(b"a")
            except OSError:  # the function's worker was killed: its end of the connection is gone
                return

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=trickle, args=(connection,), daemon=True).start()

    server = threading.Thread(target=serve, daemon=True)
    server.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        server.join(timeout=5)
        listener.close()


def is_alive(pid: int | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def worker_processes(function: str) -> int:
    """Live runtime processes serving `function`, counted by ps, independently of the executor."""
    ps = shutil.which("ps") or "/bin/ps"
    listing = subprocess.run([ps, "-eo", "args="], capture_output=True, text=True, check=True).stdout
    return sum(
        1
        for line in listing.splitlines()
        if "watchlist_workstation.local.lambda_service.runtime" in line and f"--function {function} " in line
    )
