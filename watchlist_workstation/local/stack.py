"""The local stack: embedded AWS (moto server), the Comprehend-compatible endpoint and the text
source, all on 127.0.0.1, with the stack created from template.yml and state kept across restarts.

Nothing here talks to AWS or (unless `online`) to Wikipedia. Other commands find a running local
stack through `<state dir>/endpoints.json`.
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from lib import table as watchlist
from watchlist_workstation.deploy.offline import deploy_offline
from watchlist_workstation.limits import DEFAULT_STACK_NAME
from watchlist_workstation.project import COMPANIES_DIR, work_dir

REGION = "us-east-1"
ARTIFACT_BUCKET = "local-artifacts"
# Fake credentials: moto accepts anything, and real ones must never be sent to an emulator.
FAKE_CREDENTIALS = {"aws_access_key_id": "local", "aws_secret_access_key": "local"}
ONLINE_TEXT_SOURCE = "https://en.wikipedia.org/api/rest_v1"
# The local text source remembers this many recent requests (a `local up` may run for days).
TEXT_REQUEST_LOG = 10_000


def default_state_dir() -> Path:
    """Where local mode keeps its endpoints file, saved table and function logs (CFCLI_LOCAL_STATE_DIR)."""
    return Path(os.environ.get("CFCLI_LOCAL_STATE_DIR") or work_dir() / ".local-state")


RESULTS_DIR = work_dir() / "local-results"
# In the state folder: what the stack's notification topic sent (watchlist_workstation/local/notifications.py).
NOTIFICATIONS_LOG = "notifications.log"


class LocalStackError(RuntimeError):
    """Local mode cannot do what was asked; the message says what to do instead."""


@dataclass(frozen=True)
class Endpoints:
    aws: str
    comprehend: str
    text_source: str
    region: str
    stack_name: str
    pid: int
    # The Lambda API whose Invoke runs the functions (local/lambda_service/invoke_api.py); None until it serves.
    lambda_: str | None = None
    # Where the results are mirrored (`--results-dir`), so teardown --local can remove the mirror.
    results_dir: str | None = None

    def write(self, state_dir: Path) -> None:
        state_dir.mkdir(parents=True, exist_ok=True)
        # Through a temporary file: a command reading it meanwhile never sees half of it.
        partial = state_dir / "endpoints.json.partial"
        partial.write_text(json.dumps(asdict(self), indent=2) + "\n")
        partial.replace(state_dir / "endpoints.json")

    def stack_parameters(self) -> dict[str, str]:
        """The template parameters a stack in this local account needs: texts from the local text source."""
        return {"TextSourceUrl": self.text_source, "UserAgentContact": "local-mode"}

    def saved_state(self, state_dir: Path) -> list[Path]:
        """What is kept on this machine for the stack: the saved watchlist and the results mirror (only
        its results/ folder, where snapshot() writes: nothing else in a --results-dir is ours)."""
        paths = [state_dir / "table.json"]
        if self.results_dir:
            paths.append(Path(self.results_dir) / "results")
        return paths

    @classmethod
    def read(cls, state_dir: Path) -> Endpoints | None:
        try:
            data = json.loads((state_dir / "endpoints.json").read_text())
        except (OSError, ValueError):
            return None
        try:
            os.kill(int(data["pid"]), 0)  # is the process that recorded them still alive?
        except (OSError, KeyError, ValueError):
            return None
        return cls(**data)


_SESSIONS: dict[str, boto3.session.Session] = {}
_SESSIONS_LOCK = threading.Lock()


def local_session(region: str = REGION) -> boto3.session.Session:
    """The process's one session for the local account in `region`, with fake credentials.

    Shared because a session caches the service models it has loaded: a client from a fresh
    session reads its model from disk again (about 0.25 s each, a dozen of them per `local run`).
    A session is not thread-safe, so clients are made under a lock (local_client) or from one thread.
    """
    with _SESSIONS_LOCK:
        if region not in _SESSIONS:
            _SESSIONS[region] = boto3.session.Session(region_name=region, **FAKE_CREDENTIALS)
        return _SESSIONS[region]


def local_client(service: str, endpoint: str, region: str = REGION) -> Any:
    config = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=5, read_timeout=60)
    session = local_session(region)
    with _SESSIONS_LOCK:
        return session.client(service, endpoint_url=endpoint, config=config)


def snapshot(endpoint: str, outputs: dict[str, str], state_dir: Path, results_dir: Path, region: str = REGION) -> dict:
    """Save the watchlist with its latest state, and mirror every results object to `results_dir`."""
    ddb, s3 = local_client("dynamodb", endpoint, region), local_client("s3", endpoint, region)
    items = []
    for page in ddb.get_paginator("scan").paginate(TableName=outputs["TableName"]):
        items.extend(page["Items"])
    state_dir.mkdir(parents=True, exist_ok=True)
    tmp = state_dir / "table.json.tmp"
    tmp.write_text(json.dumps(items, sort_keys=True))
    tmp.replace(state_dir / "table.json")
    mirrored = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=outputs["ResultsBucketName"]):
        for obj in page.get("Contents", []):
            target = results_dir / obj["Key"]
            if target.exists() and target.stat().st_size == obj["Size"]:
                continue  # keys are content-addressed: same key and size is the same object
            target.parent.mkdir(parents=True, exist_ok=True)
            body = s3.get_object(Bucket=outputs["ResultsBucketName"], Key=obj["Key"])["Body"].read()
            target.write_bytes(body)
            mirrored += 1
    return {"items": len(items), "results_mirrored": mirrored}


def deployed_outputs(endpoint: str, stack_name: str, region: str = REGION) -> dict[str, str] | None:
    """The stack's outputs as deployed now; None when there is no such stack (or only its deleted record)."""
    try:
        stack = local_client("cloudformation", endpoint, region).describe_stacks(StackName=stack_name)["Stacks"][0]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ValidationError":  # "Stack with id ... does not exist"
            return None
        raise
    if stack["StackStatus"].startswith("DELETE_"):
        return None
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def restore(endpoint: str, outputs: dict[str, str], state_dir: Path, results_dir: Path, region: str = REGION) -> dict:
    """Put a saved watchlist and the mirrored results back into a freshly created stack."""
    ddb, s3 = local_client("dynamodb", endpoint, region), local_client("s3", endpoint, region)
    items: list[dict] = []
    saved = state_dir / "table.json"
    if saved.exists():
        items = json.loads(saved.read_text())
    watchlist.batch_write(ddb, outputs["TableName"], [{"PutRequest": {"Item": item}} for item in items])
    uploaded = 0
    base = results_dir / "results"
    if base.is_dir():
        for path in sorted(base.rglob("*.csv")):
            key = path.relative_to(results_dir).as_posix()
            s3.put_object(Bucket=outputs["ResultsBucketName"], Key=key, Body=path.read_bytes())
            uploaded += 1
    return {"items": len(items), "results": uploaded}


class LocalStack:
    """Start the emulated account and its helpers, create the stack, restore saved state."""

    def __init__(
        self,
        *,
        stack_name: str = DEFAULT_STACK_NAME,
        state_dir: Path | None = None,
        results_dir: Path = RESULTS_DIR,
        port: int = 0,
        online: bool = False,
        data_dir: Path = COMPANIES_DIR,
        text_request_log: int | None = TEXT_REQUEST_LOG,
        parameters: dict[str, str] | None = None,
    ):
        self.stack_name, self.state_dir, self.results_dir = stack_name, state_dir or default_state_dir(), results_dir
        self.port, self.online, self.data_dir = port, online, data_dir
        self.text_request_log = text_request_log
        # Template parameters the stack is created with, over the ones local mode sets (stack_parameters).
        self.parameters = dict(parameters or {})
        self.outputs: dict[str, str] = {}
        self._moto = self._comprehend = self._text = None
        self.endpoints: Endpoints | None = None
        self.notifications = None  # a NotificationWatcher once watch_notifications() ran

    def start(self) -> LocalStack:
        from watchlist_workstation.local.comprehend import ComprehendServer
        from watchlist_workstation.local.moto_server.process import MotoProcess
        from watchlist_workstation.local.textserver import TextServer

        started = time.perf_counter()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        # moto boots in its own process (local/moto_server/process.py says why) while the helpers start here.
        self._moto = MotoProcess(port=self.port, log_path=self.state_dir / "moto.log").launch()
        try:
            self._comprehend = ComprehendServer().start()
            if self.online:
                text_url = ONLINE_TEXT_SOURCE
            else:
                self._text = TextServer.from_folder(self.data_dir, request_log_size=self.text_request_log).start()
                text_url = self._text.base_url
            aws = self._moto.wait_ready().url
        except BaseException:
            self._stop_servers()
            raise
        endpoints = Endpoints(aws, self._comprehend.url, text_url, REGION, self.stack_name, os.getpid())
        self.outputs = deploy_offline(
            self.stack_name,
            {**endpoints.stack_parameters(), **self.parameters},
            region=REGION,
            artifact_bucket=ARTIFACT_BUCKET,
            cloudformation=local_client("cloudformation", aws),
            s3=local_client("s3", aws),
        )
        self.restored = restore(aws, self.outputs, self.state_dir, self.results_dir)
        self.endpoints = endpoints
        self.endpoints.write(self.state_dir)
        self.startup_seconds = time.perf_counter() - started
        return self

    @property
    def notifications_log(self) -> Path:
        """Where watch_notifications() appends what the stack's topic sends, one JSON line each."""
        return self.state_dir / NOTIFICATIONS_LOG

    def watch_notifications(self, lambda_errors, echo=None):
        """Subscribe to the stack's topic, so that what it sends is printed through `echo` and appended to
        notifications_log, and play CloudWatch's alarms (local/notifications.py): on each flush(), or
        in the background once started. `lambda_errors(function, seconds)` counts failed invocations for
        the alarms on Lambda's Errors metric (LocalLambda.errors)."""
        from watchlist_workstation.local.notifications import NotificationWatcher

        aws = self._require_started().aws
        self.notifications = NotificationWatcher(
            lambda service: local_client(service, aws),
            self.stack_name,
            self.notifications_log,
            region=REGION,
            lambda_errors=lambda_errors,
            echo=echo,
        )
        self.notifications.subscribe()
        return self.notifications

    def aws_calls(self):
        """The AWS requests the emulated account has served so far, by service:operation (a Counter)."""
        if self._moto is None:
            raise LocalStackError("the local stack is not started")
        return self._moto.calls()

    def function_env(self) -> dict[str, str]:
        """What the local account adds to every function's environment: endpoints and fake credentials."""
        endpoints = self._require_started()
        return {
            "AWS_ENDPOINT_URL": endpoints.aws,
            "AWS_ENDPOINT_URL_COMPREHEND": endpoints.comprehend,
            "AWS_ACCESS_KEY_ID": FAKE_CREDENTIALS["aws_access_key_id"],
            "AWS_SECRET_ACCESS_KEY": FAKE_CREDENTIALS["aws_secret_access_key"],
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
        }

    def save(self) -> dict:
        """Save the stack as deployed now (make-infra --local may have updated or re-created it).

        Nothing is written when the stack is gone: teardown --local removed its saved state, and
        writing it again would bring a torn-down watchlist back on the next start.
        """
        aws = self._require_started().aws
        outputs = deployed_outputs(aws, self.stack_name)
        if outputs is None:
            return {"items": 0, "results_mirrored": 0}
        self.outputs = outputs
        try:
            saved = snapshot(aws, outputs, self.state_dir, self.results_dir)
        except ClientError:
            if deployed_outputs(aws, self.stack_name) is not None:
                raise
            saved = {"items": 0, "results_mirrored": 0}  # torn down while it was being read
        if deployed_outputs(aws, self.stack_name) is None:
            (self.state_dir / "table.json").unlink(missing_ok=True)  # torn down while it was being written
        return saved

    def _require_started(self) -> Endpoints:
        if self.endpoints is None:
            raise LocalStackError("the local stack is not started")
        return self.endpoints

    def stop(self, *, save: bool = True) -> None:
        try:
            if self.notifications is not None:
                self.notifications.stop()  # its last round needs the emulator still up
            if save and self.endpoints is not None:
                self.save()
        finally:
            # The emulated account lives in the moto process and ends with it.
            self._stop_servers()
            (self.state_dir / "endpoints.json").unlink(missing_ok=True)

    def _stop_servers(self) -> None:
        for server in (self._text, self._comprehend, self._moto):
            if server is not None:
                server.stop()
