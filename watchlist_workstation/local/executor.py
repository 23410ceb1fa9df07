"""Local mode's Lambda service: runs the deployed stack's functions, fires its schedules, polls its queues.

moto stores functions, event source mappings and EventBridge rules but runs function code only
through Docker, which local mode does not have. This module plays the part of the Lambda service
(and of EventBridge's scheduler) against a moto *server*, reading every setting from the deployed
resources, never from the template's text:

    lam = LocalLambda(session, "http://127.0.0.1:5000", "watchlist-sentiment",
                      extra_env={"AWS_ENDPOINT_URL": ..., "AWS_ENDPOINT_URL_COMPREHEND": ..., ...},
                      work_dir=Path(".local-state/lambda"), log_dir=Path(".local-state/logs"))
    lam.discover()            # functions, mappings, schedules; code and layers unzipped into work_dir
    tick, report = lam.fire_and_drain()  # one EventBridge tick to the producer while every mapping
                                         # polls, until each queue is empty and nothing is in flight
    lam.close()

Functions run in worker processes (watchlist_workstation/local/runtime.py), one invocation at a time each, like
Lambda execution environments: started with the function's deployed environment plus `extra_env`,
cwd = the unzipped code, the layers on the import path; the handler's stdout and stderr go to
`<log_dir>/<function name>.log`. A worker that passes the function's timeout is killed.

What follows Lambda, and where each rule comes from (Lambda developer guide, "Using Lambda with
Amazon SQS" and "Handling errors for an SQS event source in Lambda"):

- A batch is up to BatchSize records, gathered with ReceiveMessage calls of at most 10 for up to
  MaximumBatchingWindowInSeconds. Records are shaped like Lambda's SQS event.
- Success deletes the batch. With ReportBatchItemFailures, the records the function lists in
  `batchItemFailures` stay and the others are deleted; a response that cannot be read as a
  partial batch response (not an object, a list entry without a valid `itemIdentifier`, an id
  not in the batch) fails the whole batch. An exception, a crash or a timeout deletes nothing.
- Visibility is never changed here: a record that is not deleted comes back when the queue's
  own visibility timeout ends, and the queue's redrive policy moves it to the dead-letter queue
  after maxReceiveCount receives. moto implements that move itself (on the receive that finds
  the count reached, as SQS does), so the executor does not.
- At most ScalingConfig.MaximumConcurrency batches of one mapping are in flight; without it, 5,
  the number of concurrent batches Lambda starts an SQS mapping with.

The executor calls SQS from several pollers at once, so it needs the SQS local mode's moto server
runs: watchlist_workstation/local/moto_server/sqs_patch.py patches moto 5.2.5's (which scans the whole queue
several times per call and can hand out a message twice, undo a delete or lose a message sent during a delete under
concurrent calls) so that each call is cheap and holds its queue's lock. The executor still backs
idle pollers off and checks queue depth less often when the check is slow.

moto's own SQS-to-Lambda path would fight this: for every message sent to a queue with an
*enabled* mapping, moto receives a batch and tries to invoke the function in Docker; without
Docker that fails, the messages' receive counts grow, and they end in the dead-letter queue
untouched. So `discover` disables each enabled mapping in moto and tags it (PLAYED_TAG) to
record that this executor plays it; a later `discover` (a restart) recognises the tag. `close`
leaves them disabled, since re-enabling would let moto dead-letter every message sent meanwhile.

Known differences from Lambda: the workers run this machine's Python (not the function's
runtime version or architecture); memory is reported in the log's REPORT line but not limited;
the 6 MB invocation payload limit, FilterCriteria, non-SQS event sources and cron schedules are
not played (cron rules can be fired by hand or ticked at a given rate); an error in a scheduled
invocation is not retried (EventBridge's asynchronous invoke would retry twice; here the next
tick re-reads the whole watchlist anyway).
"""

from __future__ import annotations

import base64
import collections
import contextlib
import hashlib
import io
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
import zipfile
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from lib.log import get_logger
from watchlist_workstation.limits import SQS_DELETE_BATCH, SQS_RECEIVE_MAX
from watchlist_workstation.project import ROOT
from watchlist_workstation.schedule import period_seconds

log = get_logger("local.executor")


# Tag put on an event source mapping this executor took over from moto (see the module docstring).
PLAYED_TAG = "local-mode:executor"
PLAYED_VALUE = "plays-this-mapping"

# Lambda's limit on the init phase of an on-demand function (Lambda developer guide, "Execution environment").
INIT_TIMEOUT_SECONDS = 10.0
# The concurrent batches Lambda starts an SQS mapping with when it has no MaximumConcurrency.
DEFAULT_MAPPING_CONCURRENCY = 5
# Warm workers kept for a function no mapping feeds (the scheduled producer): ticks rarely
# overlap, and each idle worker holds some 50 MB.
UNMAPPED_POOL_SIZE = 2
# How soon an idle poller asks an empty queue again (doubling up to the maximum while it stays empty),
# and how often drain checks the queues: short enough that drain ends promptly, long enough not to
# keep moto busy (moto scans the whole queue for every ReceiveMessage and GetQueueAttributes).
IDLE_POLL_SECONDS = 0.05
IDLE_POLL_MAX_SECONDS = 0.8
DRAIN_CHECK_SECONDS = 0.2
# ... and how often while a queue still holds a few full rounds of batches: its end is no nearer
# than that, and each check is one more call for moto to serve among the pipeline's own.
DRAIN_BUSY_CHECK_SECONDS = 1.0
DRAIN_BUSY_ROUNDS = 4
# How often `run` looks at whether the stack was updated, re-created or deleted (make-infra --local,
# teardown --local): one DescribeStacks, so a stack deleted under the pollers is noticed soon. The
# processed template (a larger answer for moto to build) is read again only when the description
# changed or TEMPLATE_RECHECK_SECONDS passed: an update that changes only the template shows then.
STACK_WATCH_SECONDS = 0.5
TEMPLATE_RECHECK_SECONDS = 3.0

# Failed invocations remembered per function for errors() (a long `local up` must not grow without bound).
ERRORS_KEPT = 10_000
TIMEOUT_ERROR = "Sandbox.Timedout"
EXIT_ERROR = "Runtime.ExitError"


class DiscoveryError(RuntimeError):
    """The deployed stack has something the executor cannot play; the message says what."""


@dataclass(frozen=True)
class FunctionSpec:
    """A function as deployed (get_function), with its code and layers unzipped locally."""

    name: str
    logical_id: str
    handler: str
    timeout: float
    memory_mb: int
    environment: dict[str, str]
    code_dir: Path
    layer_dirs: list[Path]  # each layer's python/ folder, in the function's layer order
    arn: str = ""
    runtime: str = ""
    code_sha256: str = ""
    log_group: str = ""


@dataclass(frozen=True)
class MappingSpec:
    """An SQS event source mapping as deployed, with the settings of its queue."""

    uuid: str
    function: str
    queue_url: str
    queue_arn: str
    batch_size: int
    batching_window: float
    report_batch_item_failures: bool
    maximum_concurrency: int | None
    visibility_timeout: int
    max_receive_count: int | None
    dlq_arn: str | None
    dlq_url: str | None = None

    @property
    def concurrency(self) -> int:
        return self.maximum_concurrency or DEFAULT_MAPPING_CONCURRENCY


@dataclass(frozen=True)
class ScheduleSpec:
    """A scheduled EventBridge rule and the function it targets."""

    rule_name: str
    rule_arn: str
    expression: str
    state: str
    function: str
    period_seconds: float | None  # None for cron(): not ticked locally unless a rate is given
    input: str | None = None  # the target's constant Input, sent instead of the scheduled event


@dataclass(frozen=True)
class InvokeResult:
    ok: bool
    payload: Any  # the handler's return value, or Lambda's error object when not ok
    error_type: str | None
    error_message: str | None
    duration_s: float
    timed_out: bool
    request_id: str = ""
    worker_pid: int | None = None  # the process that ran it (None if none could start)


@dataclass
class PollReport:
    mapping: str  # the mapping's UUID
    received: int = 0
    deleted: int = 0
    failed: int = 0  # records left on the queue (their visibility timeout decides what comes next)
    result: InvokeResult | None = None  # None when nothing was received
    malformed_response: bool = False
    gather_seconds: float = 0.0  # from the first record to the invocation: time spent filling the batch
    records: list[dict[str, Any]] = field(default_factory=list)  # the event's records, as delivered
    delete_errors: list[str] = field(default_factory=list)


@dataclass
class DrainReport:
    batches: int = 0
    records: int = 0
    deleted: int = 0
    failed: int = 0
    dead_lettered: int = 0  # growth of the mapped queues' dead-letter queues
    invoke_errors: int = 0
    timeouts: int = 0
    ticks: int = 0  # schedule ticks fired (run and fire_and_drain)
    seconds: float = 0.0
    timed_out: bool = False
    remaining: dict[str, dict[str, int]] = field(default_factory=dict)  # queue URL -> its counts at the end

    def add(self, report: PollReport) -> None:
        if not report.received:
            return
        self.batches += 1
        self.records += report.received
        self.deleted += report.deleted
        self.failed += report.failed
        if report.result is not None and not report.result.ok:
            self.invoke_errors += 1
            self.timeouts += int(report.result.timed_out)


def schedule_event(rule: ScheduleSpec, now: datetime | None = None) -> dict[str, Any]:
    """The event EventBridge sends a target when a scheduled rule fires."""
    _, _, _, region, account, _ = rule.rule_arn.split(":", 5)
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": account,
        "time": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [rule.rule_arn],
        "detail": {},
    }


def sqs_record(message: dict[str, Any], queue_arn: str) -> dict[str, Any]:
    """One record of Lambda's SQS event, from a ReceiveMessage message (as boto3 returns it)."""
    attributes = {}
    for name, value in (message.get("MessageAttributes") or {}).items():
        attribute: dict[str, Any] = {}
        if "StringValue" in value:
            attribute["stringValue"] = value["StringValue"]
        if "BinaryValue" in value:
            attribute["binaryValue"] = base64.b64encode(value["BinaryValue"]).decode("ascii")
        attribute["stringListValues"] = list(value.get("StringListValues") or [])
        attribute["binaryListValues"] = [
            base64.b64encode(v).decode("ascii") for v in value.get("BinaryListValues") or []
        ]
        attribute["dataType"] = value["DataType"]
        attributes[name] = attribute
    record = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": dict(message.get("Attributes") or {}),
        "messageAttributes": attributes,
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": queue_arn.split(":")[3],
    }
    if message.get("MD5OfMessageAttributes"):
        # Lambda adds it when the message has attributes (the SQS event schemas mark it optional).
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    return record


def batch_item_failures(payload: Any, message_ids: Iterable[str]) -> set[str] | None:
    """The message ids a partial batch response names; None when Lambda would fail the whole batch.

    Success: no response, an empty object, or a null or empty `batchItemFailures`. Whole-batch
    failure: anything else that is not an object holding a list of {"itemIdentifier": <id of a
    record of this batch>}.
    """
    if payload is None:
        return set()
    if not isinstance(payload, dict):
        return None
    failures = payload.get("batchItemFailures")
    if failures is None:
        return set()
    if not isinstance(failures, list):
        return None
    known = set(message_ids)
    named: set[str] = set()
    for item in failures:
        identifier = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not isinstance(identifier, str) or identifier not in known:
            return None
        named.add(identifier)
    return named


# --- worker processes ---------------------------------------------------------------------------


class _WorkerTimeout(Exception):
    pass


class _WorkerExited(Exception):
    pass


class _InitFailed(Exception):
    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(error.get("errorMessage"))
        self.error = error


class _Worker:
    """One execution environment: a `python -m watchlist_workstation.local.runtime` process and its two pipes."""

    def __init__(self, spec: FunctionSpec, env: dict[str, str], log_path: Path) -> None:
        self.spec = spec
        self._buffer = b""
        request_read, self._requests = os.pipe()
        self._replies, reply_write = os.pipe()
        command = [
            sys.executable,
            "-m",
            "watchlist_workstation.local.runtime",
            "--function",
            spec.name,
            "--handler",
            spec.handler,
            "--task-root",
            str(spec.code_dir),
            # Later layers first: Lambda unpacks them in order into /opt, so on a clash the later wins.
            *[arg for layer in reversed(spec.layer_dirs) for arg in ("--layer", str(layer))],
            "--fallback",
            str(ROOT),
            "--in-fd",
            str(request_read),
            "--out-fd",
            str(reply_write),
        ]
        with open(log_path, "ab") as log_file:
            self.process = subprocess.Popen(
                command,
                cwd=spec.code_dir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=log_file,
                pass_fds=(request_read, reply_write),
                # Its own process group: a timeout kills whatever the handler started too, and Ctrl-C
                # in the terminal reaches the executor (which shuts workers down) rather than each worker.
                start_new_session=True,
            )
        os.close(request_read)
        os.close(reply_write)
        self.pid = self.process.pid
        try:
            ready = self._read(time.monotonic() + INIT_TIMEOUT_SECONDS)
        except (_WorkerTimeout, _WorkerExited) as exc:
            self.kill()
            what = "did not finish its init phase" if isinstance(exc, _WorkerTimeout) else "exited during init"
            raise _InitFailed({"errorType": EXIT_ERROR, "errorMessage": f"the runtime {what}"}) from exc
        if not ready.get("ready"):
            self.kill()
            raise _InitFailed(ready.get("error") or {"errorType": EXIT_ERROR, "errorMessage": "init failed"})
        self.init_ms = float(ready.get("init_ms", 0.0))

    def call(self, message: dict[str, Any], timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        data = json.dumps(message).encode("utf-8") + b"\n"
        try:
            while data:
                data = data[os.write(self._requests, data) :]
        except OSError as exc:  # BrokenPipeError: the worker is gone
            raise _WorkerExited() from exc
        return self._read(deadline)

    def _read(self, deadline: float) -> dict[str, Any]:
        poller = select.poll()
        poller.register(self._replies, select.POLLIN)
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise _WorkerTimeout()
            if not poller.poll(remaining * 1000):
                continue
            chunk = os.read(self._replies, 1 << 20)
            if not chunk:
                raise _WorkerExited()
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return json.loads(line)

    def kill(self) -> str:
        """Kill the worker's process group; how the worker ended, as Lambda words it ("exit status 1")."""
        if self.process.returncode is None:
            # Not reaped yet (a zombie still holds its pid), so the group id cannot belong to anyone else.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)
        self._close_pipes()
        code = self.process.returncode
        if code is None:
            return "unknown"
        return (
            f"signal: {signal.Signals(-code).name.removeprefix('SIG').lower()}" if code < 0 else f"exit status {code}"
        )

    def close(self) -> None:
        """Shut down gently: closing the request pipe ends the runtime's loop."""
        self._close_pipes()
        try:
            self.process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            self.kill()

    def _close_pipes(self) -> None:
        for name in ("_requests", "_replies"):
            fd = getattr(self, name, None)
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
                setattr(self, name, None)


class _Pool:
    """Warm workers of one function version, at most `size` of them, each doing one invocation at a time."""

    def __init__(self, spawn: Callable[[], _Worker], size: int) -> None:
        self._spawn, self.size = spawn, size
        self._cond = threading.Condition()
        self._idle: list[_Worker] = []
        self._count = 0
        self._retired = False
        self.started = 0

    def acquire(self) -> _Worker:
        with self._cond:
            while not self._idle and self._count >= self.size:
                self._cond.wait()
            if self._idle:
                return self._idle.pop()
            self._count += 1
            self.started += 1
        try:
            return self._spawn()
        except BaseException:
            with self._cond:
                self._count -= 1
                self._cond.notify()
            raise

    def release(self, worker: _Worker, healthy: bool) -> None:
        with self._cond:
            keep = healthy and not self._retired
            if keep:
                self._idle.append(worker)
            else:
                self._count -= 1
            self._cond.notify()
        if not keep:
            # An unhealthy worker was killed by the caller; a healthy one of a retired pool shuts down gently.
            worker.close() if healthy else worker.kill()

    def retire(self, *, wait: bool = True) -> list[_Worker]:
        """Stop the idle workers now and each busy one when its invocation ends (a new version is live).

        The idle ones are all told to stop before any is waited for, so they exit together; with
        `wait=False` the caller waits (`_Worker.close`) for the returned workers."""
        with self._cond:
            self._retired = True
            idle, self._idle = self._idle, []
            self._count -= len(idle)
            self._cond.notify_all()
        for worker in idle:
            worker._close_pipes()
        if wait:
            for worker in idle:
                worker.close()
        return idle

    def prewarm(self, count: int) -> list[threading.Thread]:
        """Start up to `count` more workers in the background; each joins the idle ones when ready."""
        with self._cond:
            count = max(0, min(count, self.size - self._count))
            self._count += count
            self.started += count

        def start_one() -> None:
            try:
                worker = self._spawn()
            except BaseException:  # a failing init shows again, with its error, on the first invocation
                with self._cond:
                    self._count -= 1
                    self._cond.notify()
                return
            self.release(worker, healthy=True)

        threads = [threading.Thread(target=start_one, name="prewarm", daemon=True) for _ in range(count)]
        for thread in threads:
            thread.start()
        return threads


# --- the service --------------------------------------------------------------------------------


class LocalLambda:
    """Plays Lambda (and EventBridge's scheduler) for one stack deployed in a moto server."""

    def __init__(
        self,
        session: boto3.Session,
        endpoint_url: str,
        stack_name: str,
        *,
        extra_env: dict[str, str],
        work_dir: Path,
        log_dir: Path | None = None,
    ) -> None:
        self.stack_name = stack_name
        self.extra_env = dict(extra_env)
        self.work_dir = Path(work_dir)
        self.log_dir = Path(log_dir) if log_dir is not None else self.work_dir / "logs"
        self.region = session.region_name
        if not self.region:
            raise ValueError("the session has no region")
        # Pollers share these clients (boto3 clients are thread-safe; sessions are not, so all are made
        # here); the pool must hold a connection for every poller. A slow read is moto scanning a deep
        # queue, not a lost request: a retry after a timeout would receive a second batch and strand the
        # first in flight until its visibility timeout, so reads get time rather than retries.
        config = Config(
            retries={"mode": "standard", "max_attempts": 3},
            connect_timeout=5,
            read_timeout=120,
            max_pool_connections=64,
        )
        self._clients = {
            service: session.client(service, endpoint_url=endpoint_url, config=config)
            for service in ("cloudformation", "lambda", "s3", "sqs", "events")
        }
        self.functions: dict[str, FunctionSpec] = {}
        self.mappings: list[MappingSpec] = []
        self.schedules: list[ScheduleSpec] = []
        self._pools: dict[str, _Pool] = {}
        self._lock = threading.Lock()
        self._active: dict[str, int] = {}
        self._errors: dict[str, collections.deque[float]] = {}  # function name -> when its invocations failed
        self.peak_concurrency: dict[str, int] = {}
        self._closed = False
        # The deployment discover() last read (deployed_version), and one refresh at a time.
        self._version: str | None = None
        self._refresh_lock = threading.Lock()
        # deployed_version's last template read: (stack description digest, when, version).
        self._template_seen: tuple[str, float, str] | None = None

    @classmethod
    def for_stack(cls, stack: Any) -> LocalLambda:
        """The Lambda service of a started local.stack.LocalStack: its account, its functions' extra
        environment, and the functions' code and logs under its state folder."""
        from watchlist_workstation.local.stack import (
            local_session,  # the stack module is the one that knows about us, not the reverse
        )

        return cls(
            local_session(stack.endpoints.region),
            stack.endpoints.aws,
            stack.stack_name,
            extra_env=stack.function_env(),
            work_dir=stack.state_dir / "functions",
            log_dir=stack.state_dir / "logs",
        )

    # -- discovery -------------------------------------------------------------------------------

    def discover(self) -> None:
        """Read the stack's functions, mappings and schedules from the deployed resources.

        Safe to call again after the deployment changed (code, environment, timeout, a mapping's
        settings): functions whose configuration changed get fresh workers.
        """
        # Read first: a change made while the resources are read shows as a new version on the next refresh.
        version = self.deployed_version()
        resources = self._stack_resources()
        template = self._deployed_template()
        layer_index = self._layer_index(template)
        functions = {
            physical: self._function_spec(physical, logical, template, layer_index)
            for logical, (kind, physical) in resources.items()
            if kind == "AWS::Lambda::Function"
        }
        mappings = [
            m
            for kind, physical in resources.values()
            if kind == "AWS::Lambda::EventSourceMapping"
            for m in [self._mapping_spec(physical, functions)]
            if m is not None
        ]
        schedules = [
            s
            for kind, physical in resources.values()
            if kind == "AWS::Events::Rule"
            for s in [self._schedule_spec(physical, functions)]
            if s is not None
        ]
        retired = []
        with self._lock:
            for name, spec in functions.items():
                size = sum(m.concurrency for m in mappings if m.function == name) or UNMAPPED_POOL_SIZE
                old = self._pools.get(name)
                if old is not None and self.functions.get(name) == spec and old.size == size:
                    continue
                if old is not None:
                    retired.append(old)
                self._pools[name] = _Pool(self._spawner(spec), size)
            retired.extend(self._pools.pop(name) for name in set(self._pools) - set(functions))
            self.functions, self.mappings, self.schedules = functions, mappings, schedules
            self._version = version
        for pool in retired:  # outside the lock: stopping idle workers takes a moment
            pool.retire()
        log.info(
            "stack discovered",
            extra={
                "stack": self.stack_name,
                "functions": sorted(functions),
                "mappings": [m.uuid for m in mappings],
                "schedules": [s.rule_name for s in schedules],
            },
        )

    def deployed_version(self, *, template_recheck: float = 0.0) -> str | None:
        """A fingerprint of the deployment (stack id, parameters, processed template); None when there
        is no stack to play: none of that name, deleted, or rolled back after a failed create.

        While CloudFormation is busy with the stack the version last read stands: its resources are
        half-way between two deployments. `template_recheck`: seconds for which a template read
        stands while the stack's description is unchanged (0: read it every time).
        """
        cloudformation = self._clients["cloudformation"]
        try:
            stack = cloudformation.describe_stacks(StackName=self.stack_name)["Stacks"][0]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ValidationError":  # "Stack ... does not exist"
                return None
            raise
        status = stack["StackStatus"]
        if status.startswith("DELETE_") or status in ("CREATE_FAILED", "ROLLBACK_COMPLETE", "ROLLBACK_FAILED"):
            return None
        if status.endswith("_IN_PROGRESS"):
            return self._version
        parameters = sorted((p["ParameterKey"], p.get("ParameterValue", "")) for p in stack.get("Parameters", []))
        described = json.dumps([stack["StackId"], status, parameters, stack.get("LastUpdatedTime")], default=str)
        seen, now = self._template_seen, time.monotonic()
        if seen is not None and seen[0] == described and now - seen[1] < template_recheck:
            return seen[2]
        template = cloudformation.get_template(StackName=stack["StackId"], TemplateStage="Processed")["TemplateBody"]
        fingerprint = json.dumps([stack["StackId"], parameters, template], sort_keys=True, default=str)
        version = hashlib.sha256(fingerprint.encode("utf-8")).hexdigest()
        self._template_seen = (described, now, version)
        return version

    def refresh(self, *, template_recheck: float = 0.0) -> bool:
        """Read the stack again if its deployment changed since discover(); True when it changed.

        A new deployment (make-infra --local updated or re-created the stack) is discovered; when
        the stack is gone (teardown) every function is forgotten and its workers stop, so nothing is
        invoked, polled or fired until a stack of this name is deployed again. Raises what discover()
        raises; the version stays the old one then, so the next refresh tries again.
        `template_recheck`: see deployed_version.
        """
        with self._refresh_lock:
            version = self.deployed_version(template_recheck=template_recheck)
            if version == self._version:
                return False
            if version is None:
                self._forget()
                log.info("stack gone; nothing is played until it is deployed again", extra={"stack": self.stack_name})
            else:
                self.discover()
            return True

    def _forget(self) -> None:
        with self._lock:
            pools, self._pools = list(self._pools.values()), {}
            self.functions, self.mappings, self.schedules = {}, [], []
            self._version = None
        # Workers stop in the background, so run() can stop the pollers of the deleted queues at once.
        threading.Thread(target=lambda: [pool.retire() for pool in pools], name="retire", daemon=True).start()

    def has_function(self, function: str) -> bool:
        """Whether the stack as last read has this function (by name, ARN or logical id)."""
        try:
            self._spec(function)
        except KeyError:
            return False
        return True

    def _stack_resources(self) -> dict[str, tuple[str, str]]:
        """logical id -> (type, physical id), for resources that have a physical id."""
        found = {}
        paginator = self._clients["cloudformation"].get_paginator("list_stack_resources")
        for page in paginator.paginate(StackName=self.stack_name):
            for resource in page["StackResourceSummaries"]:
                # moto leaves some out (types it skips) or without a physical id (layer versions).
                if resource.get("LogicalResourceId") and resource.get("PhysicalResourceId"):
                    found[resource["LogicalResourceId"]] = (resource["ResourceType"], resource["PhysicalResourceId"])
        return found

    def _deployed_template(self) -> dict[str, Any]:
        # "Processed": after the SAM transform, where the code's S3 locations are (the original stage
        # would be template.yml's CodeUri folders).
        body = self._clients["cloudformation"].get_template(StackName=self.stack_name, TemplateStage="Processed")[
            "TemplateBody"
        ]
        if isinstance(body, str):
            try:
                body = json.loads(body)
            except ValueError as exc:
                raise DiscoveryError(
                    f"stack {self.stack_name}: its template is not JSON; deploy it transformed"
                ) from exc
        return dict(body)

    def _download(self, location: dict[str, Any], what: str) -> bytes:
        if "ZipFile" in location:  # inline code: CloudFormation zips it as index.py
            return _zip_bytes({"index.py": str(location["ZipFile"]).encode("utf-8")})
        try:
            bucket, key = location["S3Bucket"], location["S3Key"]
        except (KeyError, TypeError) as exc:
            raise DiscoveryError(f"{what}: no S3Bucket/S3Key in the deployed template") from exc
        extra = {"VersionId": location["S3ObjectVersion"]} if location.get("S3ObjectVersion") else {}
        return self._clients["s3"].get_object(Bucket=bucket, Key=key, **extra)["Body"].read()

    def _layer_index(self, template: dict[str, Any]) -> dict[str, tuple[str, Path]]:
        """logical id -> (CodeSha256, unzipped folder) of each layer version the stack publishes.

        moto's GetLayerVersion answers Content.Location "s3://" (no object), so the bytes come from
        the S3 object the deployed template points to.
        """
        index = {}
        for logical, resource in template.get("Resources", {}).items():
            if resource.get("Type") != "AWS::Lambda::LayerVersion":
                continue
            data = self._download(resource.get("Properties", {}).get("Content", {}), f"layer {logical}")
            sha = _sha256_b64(data)
            index[logical] = (sha, self._unzip(data, self.work_dir / "layers" / _folder_name(sha)))
        return index

    def _function_spec(
        self, name: str, logical: str, template: dict[str, Any], layer_index: dict[str, tuple[str, Path]]
    ) -> FunctionSpec:
        deployed = self._clients["lambda"].get_function(FunctionName=name)
        config = deployed["Configuration"]
        if config.get("PackageType", "Zip") != "Zip":
            raise DiscoveryError(f"function {name}: only .zip functions can run locally")
        properties = template.get("Resources", {}).get(logical, {}).get("Properties", {})
        # moto's GetFunction gives Code.Location as a URL that serves nothing; the template names the
        # S3 object. Its hash must match the deployed CodeSha256, so only the deployed code ever runs.
        data = self._download(properties.get("Code", {}), f"function {name}")
        sha = _sha256_b64(data)
        if sha != config.get("CodeSha256"):
            raise DiscoveryError(
                f"function {name}: its deployed code (CodeSha256 {config.get('CodeSha256')}) is not the object the "
                f"stack's template names ({sha}); it was updated outside the stack, and local mode cannot fetch it"
            )
        code_dir = self._unzip(data, self.work_dir / "functions" / name / _folder_name(sha))
        layers = self._function_layers(name, config, properties, layer_index)
        return FunctionSpec(
            name=name,
            logical_id=logical,
            handler=config["Handler"],
            timeout=float(config.get("Timeout", 3)),
            memory_mb=int(config.get("MemorySize", 128)),
            environment=dict((config.get("Environment") or {}).get("Variables") or {}),
            code_dir=code_dir,
            layer_dirs=[layer / "python" for layer in layers if (layer / "python").is_dir()],
            arn=config["FunctionArn"],
            runtime=config.get("Runtime", ""),
            code_sha256=sha,
            log_group=(config.get("LoggingConfig") or {}).get("LogGroup") or f"/aws/lambda/{name}",
        )

    def _function_layers(
        self,
        name: str,
        config: dict[str, Any],
        properties: dict[str, Any],
        layer_index: dict[str, tuple[str, Path]],
    ) -> list[Path]:
        by_sha = dict(layer_index.values())
        attached = config.get("Layers") or []
        if attached:
            # The configuration names layer version ARNs; find each one's bytes by its hash.
            folders = []
            for layer in attached:
                # GetLayerVersion by name and number: moto's server does not implement GetLayerVersionByArn.
                layer_arn, _, number = layer["Arn"].rpartition(":")
                version = self._clients["lambda"].get_layer_version(LayerName=layer_arn, VersionNumber=int(number))
                folder = by_sha.get(version["Content"].get("CodeSha256", ""))
                if folder is None:
                    raise DiscoveryError(
                        f"function {name}: layer {layer['Arn']} is not one this stack publishes; "
                        "local mode can fetch only the stack's own layers"
                    )
                folders.append(folder)
            return folders
        # moto creates a function from CloudFormation without its Layers (it copies only some
        # properties), so an empty list may be moto's omission: the deployed template says which.
        folders = []
        for reference in properties.get("Layers") or []:
            logical = reference.get("Ref") if isinstance(reference, dict) else None
            if logical not in layer_index:
                raise DiscoveryError(f"function {name}: layer {reference!r} is not one this stack publishes")
            folders.append(layer_index[logical][1])
        return folders

    def _unzip(self, data: bytes, target: Path) -> Path:
        """Unpack once per content hash; a half-written folder never takes the final name."""
        if target.is_dir():
            return target
        staging = target.with_name(f".{target.name}.{uuid.uuid4().hex}")
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for member in archive.namelist():
                # Zip slip: no member may land outside the folder.
                if member.startswith("/") or ".." in Path(member).parts:
                    raise DiscoveryError(f"zip member {member!r} points outside its folder")
            archive.extractall(staging)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            staging.rename(target)
        except OSError:  # another discover unpacked the same content first
            shutil.rmtree(staging, ignore_errors=True)
        return target

    def _mapping_spec(self, uuid_: str, functions: dict[str, FunctionSpec]) -> MappingSpec | None:
        lam, sqs = self._clients["lambda"], self._clients["sqs"]
        mapping = lam.get_event_source_mapping(UUID=uuid_)
        source = mapping.get("EventSourceArn", "")
        function = mapping["FunctionArn"].split(":")[6]
        if not source.startswith("arn:") or source.split(":")[2] != "sqs":
            log.warning("event source not played locally (only SQS is)", extra={"mapping": uuid_, "source": source})
            return None
        if function not in functions:
            log.warning("mapping feeds a function outside the stack; not played", extra={"mapping": uuid_})
            return None
        if mapping.get("FilterCriteria"):
            raise DiscoveryError(f"mapping {uuid_}: FilterCriteria are not played locally")
        arn = (
            mapping.get("EventSourceMappingArn")
            or f"{mapping['FunctionArn'].rsplit(':function:', 1)[0]}:event-source-mapping:{uuid_}"
        )
        tags = lam.list_tags(Resource=arn).get("Tags", {})
        played = tags.get(PLAYED_TAG) == PLAYED_VALUE
        state = mapping.get("State", "Enabled")
        if not played and state in ("Disabled", "Disabling"):
            log.info("mapping is disabled; not played", extra={"mapping": uuid_})
            return None
        if not played:
            # Tag first: if we stop between the two calls, the next discover still knows the mapping is ours.
            lam.tag_resource(Resource=arn, Tags={PLAYED_TAG: PLAYED_VALUE})
        if state not in ("Disabled", "Disabling"):
            lam.update_event_source_mapping(UUID=uuid_, Enabled=False)
        _, _, _, region, account, queue_name = source.split(":", 5)
        queue_url = sqs.get_queue_url(QueueName=queue_name, QueueOwnerAWSAccountId=account)["QueueUrl"]
        attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])["Attributes"]
        redrive = json.loads(attributes.get("RedrivePolicy") or "{}")
        dlq_arn = redrive.get("deadLetterTargetArn")
        dlq_url = None
        if dlq_arn:
            _, _, _, _, dlq_account, dlq_name = dlq_arn.split(":", 5)
            dlq_url = sqs.get_queue_url(QueueName=dlq_name, QueueOwnerAWSAccountId=dlq_account)["QueueUrl"]
        scaling = mapping.get("ScalingConfig") or {}
        return MappingSpec(
            uuid=uuid_,
            function=function,
            queue_url=queue_url,
            queue_arn=source,
            batch_size=int(mapping.get("BatchSize") or 10),  # Lambda's default for SQS
            batching_window=float(mapping.get("MaximumBatchingWindowInSeconds") or 0),
            report_batch_item_failures="ReportBatchItemFailures" in (mapping.get("FunctionResponseTypes") or []),
            maximum_concurrency=int(scaling["MaximumConcurrency"]) if scaling.get("MaximumConcurrency") else None,
            visibility_timeout=int(attributes.get("VisibilityTimeout", 30)),
            max_receive_count=int(redrive["maxReceiveCount"]) if "maxReceiveCount" in redrive else None,
            dlq_arn=dlq_arn,
            dlq_url=dlq_url,
        )

    def _schedule_spec(self, rule_name: str, functions: dict[str, FunctionSpec]) -> ScheduleSpec | None:
        events = self._clients["events"]
        rule = events.describe_rule(Name=rule_name)
        expression = rule.get("ScheduleExpression")
        if not expression:
            return None  # an event-pattern rule: nothing to tick
        targets = [
            t
            for t in events.list_targets_by_rule(Rule=rule_name)["Targets"]
            if t["Arn"].split(":")[2] == "lambda" and t["Arn"].split(":")[6] in functions
        ]
        if not targets:
            log.warning("schedule targets no function of the stack; not played", extra={"rule": rule_name})
            return None
        if len(targets) > 1:
            raise DiscoveryError(f"rule {rule_name}: more than one Lambda target is not played locally")
        target = targets[0]
        if target.get("InputPath") or target.get("InputTransformer"):
            raise DiscoveryError(f"rule {rule_name}: InputPath and InputTransformer are not played locally")
        return ScheduleSpec(
            rule_name=rule_name,
            rule_arn=rule["Arn"],
            expression=expression,
            state=rule.get("State", "ENABLED"),
            function=target["Arn"].split(":")[6],
            period_seconds=period_seconds(expression),
            input=target.get("Input"),
        )

    # -- invocation ------------------------------------------------------------------------------

    def _spawner(self, spec: FunctionSpec) -> Callable[[], _Worker]:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / f"{spec.name}.log"
        env = self._environment(spec)
        return lambda: _Worker(spec, env, log_path)

    def _environment(self, spec: FunctionSpec) -> dict[str, str]:
        """What a Lambda execution environment of this function sees in os.environ.

        Nothing of this process's own environment leaks in (it could hold real credentials or a
        profile). The function's variables come first; `extra_env` (the local account: endpoints,
        fake credentials) overrides them, so no function setting can point a call at a real
        endpoint; Lambda's reserved variables override both, as in Lambda.
        """
        region = spec.arn.split(":")[3] if spec.arn else self.region
        base = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "en_US.UTF-8",
            # Lambda has no ~/.aws files and no instance metadata; neither may leak in from this machine.
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
        }
        reserved = {
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
            "AWS_LAMBDA_FUNCTION_NAME": spec.name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
            "AWS_LAMBDA_LOG_GROUP_NAME": spec.log_group or f"/aws/lambda/{spec.name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": f"local/[$LATEST]{uuid.uuid4().hex}",
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{spec.runtime}" if spec.runtime else "AWS_Lambda_python",
            "LAMBDA_TASK_ROOT": str(spec.code_dir),
            "_HANDLER": spec.handler,
            "TZ": ":UTC",
            # Only so that `python -m watchlist_workstation.local.runtime` finds its module; the runtime removes it.
            "PYTHONPATH": str(ROOT),
        }
        return {**base, **spec.environment, **self.extra_env, **reserved}

    def _spec(self, function: str) -> FunctionSpec:
        for spec in self.functions.values():
            if function in (spec.name, spec.logical_id, spec.arn):
                return spec
        raise KeyError(f"no function {function!r} in stack {self.stack_name} (did discover() run?)")

    def prewarm(self, per_function: int = 2) -> list[threading.Thread]:
        """Start execution environments ahead of the first invocations, in the background, as
        provisioned concurrency would: up to `per_function` workers of each function an event
        source mapping feeds (never more than its concurrency), one of every other function (a
        schedule invokes it once a tick). Returns the starting threads (join them to wait)."""
        with self._lock:
            mapped = {m.function for m in self.mappings}
            pools = list(self._pools.items())
        return [
            thread
            for name, pool in pools
            for thread in pool.prewarm(per_function if name in mapped else min(1, per_function))
        ]

    def invoke(self, function: str, event: Any) -> InvokeResult:
        """Invoke synchronously (RequestResponse); the function's failures are in the result, never raised."""
        if self._closed:
            raise RuntimeError("this LocalLambda is closed")
        spec = self._spec(function)
        result = self._invoke(spec, event)
        if not result.ok:
            # What Lambda counts in the function's Errors metric: a raised error, a timeout, a crash.
            with self._lock:
                self._errors.setdefault(spec.name, collections.deque(maxlen=ERRORS_KEPT)).append(time.monotonic())
        return result

    def errors(self, function: str, within_seconds: float) -> int:
        """Failed invocations of `function` (its name) in the last `within_seconds`: the Errors metric's
        Sum over that period, which local mode's alarms (watchlist_workstation/local/alarms.py) read."""
        since = time.monotonic() - within_seconds
        with self._lock:
            return sum(1 for at in self._errors.get(function, ()) if at >= since)

    def _invoke(self, spec: FunctionSpec, event: Any) -> InvokeResult:
        with self._lock:
            pool = self._pools[spec.name]
        request_id = str(uuid.uuid4())
        try:
            worker = pool.acquire()
        except _InitFailed as exc:
            error = exc.error
            return InvokeResult(False, error, error.get("errorType"), error.get("errorMessage"), 0.0, False, request_id)
        with self._lock:
            active = self._active[spec.name] = self._active.get(spec.name, 0) + 1
            self.peak_concurrency[spec.name] = max(self.peak_concurrency.get(spec.name, 0), active)
        started = time.monotonic()

        def failed(error_type: str, message: str, timed_out: bool = False) -> InvokeResult:
            error = {"errorType": error_type, "errorMessage": message}
            duration = time.monotonic() - started
            return InvokeResult(False, error, error_type, message, duration, timed_out, request_id, worker.pid)

        try:
            reply = worker.call(
                {
                    "op": "invoke",
                    "request_id": request_id,
                    "deadline_ms": int(time.time() * 1000 + spec.timeout * 1000),
                    "invoked_function_arn": spec.arn,
                    "event": event,
                },
                spec.timeout,
            )
        except _WorkerTimeout:
            # Lambda stops the execution environment at the timeout; the next invocation gets a new one.
            worker.kill()
            pool.release(worker, healthy=False)
            message = f"RequestId: {request_id} Error: Task timed out after {spec.timeout:.2f} seconds"
            self._log_line(spec, f"{_utc_stamp()} {message}")
            return failed(TIMEOUT_ERROR, message, timed_out=True)
        except _WorkerExited:
            message = f"RequestId: {request_id} Error: Runtime exited with error: {worker.kill()}"
            pool.release(worker, healthy=False)
            return failed(EXIT_ERROR, message)
        except BaseException:
            # An unreadable reply or an interrupt: the worker's state is unknown, so it is not reused.
            worker.kill()
            pool.release(worker, healthy=False)
            raise
        finally:
            with self._lock:
                self._active[spec.name] -= 1
        pool.release(worker, healthy=True)
        duration = time.monotonic() - started
        if reply.get("ok"):
            return InvokeResult(True, reply.get("payload"), None, None, duration, False, request_id, worker.pid)
        error = reply.get("error") or {}
        error_type, message = error.get("errorType"), error.get("errorMessage")
        return InvokeResult(False, error, error_type, message, duration, False, request_id, worker.pid)

    def inspect(self, function: str, modules: Iterable[str] = ()) -> dict[str, Any]:
        """Ask a warm worker of `function` for its import path and where the named modules come from."""
        spec = self._spec(function)
        with self._lock:
            pool = self._pools[spec.name]
        worker = pool.acquire()
        try:
            answer = worker.call({"op": "inspect", "modules": list(modules)}, INIT_TIMEOUT_SECONDS)
        except (_WorkerTimeout, _WorkerExited):
            pool.release(worker, healthy=False)
            raise
        pool.release(worker, healthy=True)
        return answer

    def _log_line(self, spec: FunctionSpec, text: str) -> None:
        with open(self.log_dir / f"{spec.name}.log", "a", encoding="utf-8") as handle:
            handle.write(text + "\n")

    # -- schedules -------------------------------------------------------------------------------

    def _schedule(self, rule_name: str | None) -> ScheduleSpec:
        if rule_name is not None:
            for rule in self.schedules:
                if rule.rule_name == rule_name:
                    return rule
            raise KeyError(f"no schedule rule {rule_name!r} in stack {self.stack_name}")
        enabled = [rule for rule in self.schedules if rule.state == "ENABLED"]
        if len(enabled) != 1:
            names = ", ".join(rule.rule_name for rule in enabled) or "none"
            raise KeyError(f"name the rule to fire: the stack has {len(enabled)} enabled schedules ({names})")
        return enabled[0]

    def fire_schedule(self, rule_name: str | None = None) -> InvokeResult:
        """One tick of a schedule rule (the stack's only enabled one by default), sent to its target."""
        rule = self._schedule(rule_name)
        event = json.loads(rule.input) if rule.input is not None else schedule_event(rule)
        result = self.invoke(rule.function, event)
        log.info("schedule fired", extra={"rule": rule.rule_name, "ok": result.ok, "error_type": result.error_type})
        return result

    # -- SQS -------------------------------------------------------------------------------------

    def _receive(self, mapping: MappingSpec, count: int, wait_seconds: float = 0.0) -> list[dict[str, Any]]:
        """Up to `count` messages, waiting up to `wait_seconds` for the first (short polls with a
        backoff, so that a poller never blocks a request thread of moto's server)."""
        deadline = time.monotonic() + wait_seconds
        pause = IDLE_POLL_SECONDS
        while True:
            response = self._clients["sqs"].receive_message(
                QueueUrl=mapping.queue_url,
                MaxNumberOfMessages=count,
                WaitTimeSeconds=0,
                MessageSystemAttributeNames=["All"],
                MessageAttributeNames=["All"],
            )
            messages = response.get("Messages", [])
            remaining = deadline - time.monotonic()
            if messages or remaining <= 0:
                return messages
            time.sleep(min(pause, remaining))
            pause = min(IDLE_POLL_MAX_SECONDS, pause * 2)

    def poll_once(
        self, mapping: MappingSpec, *, wait_seconds: float = 0.0, flush_when_empty: bool = False
    ) -> PollReport:
        """One batch of `mapping`: gather, invoke, delete what succeeded. Empty report if the queue had nothing.

        `wait_seconds`: how long to wait for a first record (Lambda's pollers long-poll; 0 asks once).
        `flush_when_empty`: send a partial batch as soon as the queue has nothing visible instead of
        waiting out the batching window (drain's mode: at most one tick is still sending, so the
        wait would mostly add time; batches may then be smaller than Lambda's, the rules are the same).
        """
        report = PollReport(mapping=mapping.uuid)
        messages = self._receive(mapping, min(SQS_RECEIVE_MAX, mapping.batch_size), wait_seconds)
        if not messages:
            return report
        # The batching window runs from the first record; the batch goes when it is full or the window ends.
        first_record_at = time.monotonic()
        window_end = first_record_at + mapping.batching_window
        last_full = len(messages) == min(SQS_RECEIVE_MAX, mapping.batch_size)
        while len(messages) < mapping.batch_size:
            want = min(SQS_RECEIVE_MAX, mapping.batch_size - len(messages))
            if mapping.batching_window <= 0:
                # No window: keep receiving only while the queue hands out full answers.
                if not last_full:
                    break
                more = self._receive(mapping, want)
                if not more:
                    break
                last_full = len(more) == want
            else:
                remaining = window_end - time.monotonic()
                if remaining <= 0:
                    break
                more = self._receive(mapping, want, 0.0 if flush_when_empty else remaining)
                if not more and flush_when_empty:
                    break
            messages.extend(more)

        report.gather_seconds = time.monotonic() - first_record_at
        records = [sqs_record(m, mapping.queue_arn) for m in messages]
        report.records, report.received = records, len(records)
        result = self.invoke(mapping.function, {"Records": records})
        report.result = result
        if not result.ok:
            keep = {r["messageId"] for r in records}  # exception, crash or timeout: the whole batch stays
        elif not mapping.report_batch_item_failures:
            keep = set()
        else:
            named = batch_item_failures(result.payload, (r["messageId"] for r in records))
            report.malformed_response = named is None
            keep = {r["messageId"] for r in records} if named is None else named
        if report.malformed_response:
            log.warning("response is not a valid partial batch response; batch kept", extra={"mapping": mapping.uuid})
        to_delete = [r for r in records if r["messageId"] not in keep]
        report.deleted, report.delete_errors = self._delete(mapping, to_delete)
        report.failed = report.received - report.deleted
        return report

    def _delete(self, mapping: MappingSpec, records: list[dict[str, Any]]) -> tuple[int, list[str]]:
        deleted, errors = 0, []
        for start in range(0, len(records), SQS_DELETE_BATCH):
            chunk = records[start : start + SQS_DELETE_BATCH]
            entries = [{"Id": str(i), "ReceiptHandle": r["receiptHandle"]} for i, r in enumerate(chunk)]
            try:
                response = self._clients["sqs"].delete_message_batch(QueueUrl=mapping.queue_url, Entries=entries)
            except (ClientError, BotoCoreError) as exc:
                # Not deleted means delivered again later: a duplicate, never a loss.
                errors.extend(f"{r['messageId']}: {exc}" for r in chunk)
                continue
            deleted += len(response.get("Successful", []))
            errors.extend(f"{chunk[int(f['Id'])]['messageId']}: {f.get('Code')}" for f in response.get("Failed", []))
        if errors:
            log.warning("some records were not deleted", extra={"mapping": mapping.uuid, "count": len(errors)})
        return deleted, errors

    def _queue_counts(self, url: str) -> dict[str, int]:
        names = [
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        ]
        attributes = self._clients["sqs"].get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
        return {
            "visible": int(attributes.get(names[0], 0)),
            "in_flight": int(attributes.get(names[1], 0)),
            "delayed": int(attributes.get(names[2], 0)),
        }

    def _dead_letter_depth(self) -> int:
        urls = {m.dlq_url for m in self.mappings if m.dlq_url}
        return sum(sum(self._queue_counts(url).values()) for url in urls)

    def _poll_loop(
        self, mapping: MappingSpec, stop: threading.Event, report: DrainReport, flush_when_empty: bool = False
    ) -> None:
        idle_wait = IDLE_POLL_SECONDS
        while not stop.is_set():
            try:
                polled = self.poll_once(mapping, flush_when_empty=flush_when_empty)
            except Exception as exc:
                # A poller that died would leave drain waiting for its timeout; its records are not lost
                # (whatever it received comes back after the visibility timeout), so log and go on.
                log.warning("poll failed; retrying", extra={"mapping": mapping.uuid, "error": repr(exc)})
                stop.wait(1.0)
                continue
            if polled.received:
                idle_wait = IDLE_POLL_SECONDS
                with self._lock:
                    report.add(polled)
            else:
                # Back off while the queue has nothing visible: each ReceiveMessage makes moto scan every
                # message of the queue, in flight included, so eager idle pollers would slow the busy ones.
                stop.wait(idle_wait)
                idle_wait = min(IDLE_POLL_MAX_SECONDS, idle_wait * 2)

    def _start_pollers(
        self, stop: threading.Event, report: DrainReport, flush_when_empty: bool = False
    ) -> ThreadPoolExecutor:
        mappings = list(self.mappings)
        pool = ThreadPoolExecutor(max_workers=max(1, sum(m.concurrency for m in mappings)), thread_name_prefix="poller")
        for mapping in mappings:
            # One poller per batch allowed in flight: MaximumConcurrency caps the mapping exactly.
            for _ in range(mapping.concurrency):
                pool.submit(self._poll_loop, mapping, stop, report, flush_when_empty)
        return pool

    def drain(self, *, timeout: float = 300, idle_rounds: int = 2) -> DrainReport:
        """Poll every mapping until each queue shows nothing visible, in flight or delayed on
        `idle_rounds` checks in a row, or `timeout` seconds pass.

        A record that failed stays in flight until the queue's visibility timeout ends, so drain
        waits for its retries (and its move to the dead-letter queue) like Lambda would. Drain
        expects nothing else to be sending, so a batch goes as soon as the queue has nothing
        visible, without waiting out the batching window (see poll_once).
        """
        return self._drain(timeout, idle_rounds)

    def fire_and_drain(
        self, rule_name: str | None = None, *, timeout: float = 300, idle_rounds: int = 2
    ) -> tuple[InvokeResult, DrainReport]:
        """One schedule tick (fire_schedule) with the pollers already running, then drain.

        On AWS the event source mapping polls while the producer sends, so the queue drains as it
        fills; firing first and draining after would add the producer's whole run to the time a
        batch of companies takes (about a third of it at 3,000 companies). The idle checks start
        once the tick has returned, so a queue still empty at the start does not end the drain.
        The tick's result comes back even when it failed: whatever it queued is drained anyway.
        """
        ticks: list[InvokeResult] = []
        report = self._drain(timeout, idle_rounds, first=lambda: ticks.append(self.fire_schedule(rule_name)))
        report.ticks = len(ticks)
        return ticks[0], report

    def _drain(self, timeout: float, idle_rounds: int, first: Callable[[], object] | None = None) -> DrainReport:
        """drain(), running `first` once the pollers are up and before the first idle check."""
        started = time.monotonic()
        report = DrainReport()
        dead_before = self._dead_letter_depth()
        stop = threading.Event()
        pool = self._start_pollers(stop, report, flush_when_empty=True)
        idle = 0
        try:
            if first is not None:
                first()
            while True:
                checked = time.monotonic()
                counts = {m.queue_url: self._queue_counts(m.queue_url) for m in self.mappings}
                idle = idle + 1 if all(not any(c.values()) for c in counts.values()) else 0
                if idle >= idle_rounds:
                    break
                if time.monotonic() - started > timeout:
                    report.timed_out = True
                    break
                # Check less often while the queues hold several rounds of full batches, and when
                # the check itself is slow (never more than a fifth of the time on checking).
                busy = bool(self.mappings) and all(
                    counts[m.queue_url]["visible"] >= DRAIN_BUSY_ROUNDS * m.concurrency * m.batch_size
                    for m in self.mappings
                )
                pause = DRAIN_BUSY_CHECK_SECONDS if busy else DRAIN_CHECK_SECONDS
                time.sleep(max(pause, 4 * (time.monotonic() - checked)))
        finally:
            stop.set()
            pool.shutdown(wait=True)
        report.remaining = {m.queue_url: self._queue_counts(m.queue_url) for m in self.mappings}
        report.dead_lettered = self._dead_letter_depth() - dead_before
        report.seconds = time.monotonic() - started
        log.info("drained", extra={"batches": report.batches, "records": report.records, "timed_out": report.timed_out})
        return report

    def run(
        self,
        stop: threading.Event,
        *,
        rate_seconds: float | None = None,
        fire_now: bool = False,
        watch_seconds: float = STACK_WATCH_SECONDS,
    ) -> DrainReport:
        """Fire each enabled schedule every period (its own, or `rate_seconds`) and poll every mapping,
        until `stop` is set. The first tick comes one period after the start, as for a new rule,
        unless `fire_now`. A cron() rule needs `rate_seconds`: cron is not ticked locally.

        Every `watch_seconds` the stack is read again (refresh): when make-infra --local updated or
        re-created it, pollers and schedules restart on what is deployed now (a rule that stays
        keeps its ticking; a new one first ticks one period later); while there is no stack
        (after teardown) nothing is polled or fired, quietly, until one is deployed again.
        """
        for rule in self._enabled_schedules():
            if rate_seconds is None and rule.period_seconds is None:
                raise ValueError(f"rule {rule.rule_name} runs on {rule.expression}; cron is not ticked locally")
        started = time.monotonic()
        report = DrainReport()
        # rule name -> when it ticks next (monotonic), kept across redeployments.
        next_ticks = {rule.rule_name: started for rule in self._enabled_schedules()} if fire_now else {}
        unreadable: str | None = None
        while not stop.is_set():
            played = self._version
            phase = threading.Event()  # ends this deployment's pollers and tickers
            pollers = self._start_pollers(phase, report)
            tickers = []
            for rule in self._enabled_schedules():
                period = rate_seconds or rule.period_seconds
                if period is None:
                    log.error("cron is not ticked locally; rule not played", extra={"rule": rule.rule_name})
                    continue
                next_ticks.setdefault(rule.rule_name, time.monotonic() + period)
                tickers.append(
                    threading.Thread(
                        target=self._tick_loop,
                        args=(rule, period, phase, report, next_ticks),
                        name=f"tick-{rule.rule_name}",
                        daemon=True,
                    )
                )
            for ticker in tickers:
                ticker.start()
            try:
                while not stop.wait(watch_seconds):
                    try:
                        self.refresh(template_recheck=TEMPLATE_RECHECK_SECONDS)
                        unreadable = None
                    except Exception as exc:
                        # moto busy or the stack half-made: keep playing what was read, say so once.
                        if repr(exc) != unreadable:
                            log.warning("could not read the stack; trying again", extra={"error": repr(exc)})
                        unreadable = repr(exc)
                    if self._version != played:
                        break
            finally:
                phase.set()
                for ticker in tickers:
                    ticker.join()
                pollers.shutdown(wait=True)
        report.seconds = time.monotonic() - started
        return report

    def _enabled_schedules(self) -> list[ScheduleSpec]:
        return [rule for rule in self.schedules if rule.state == "ENABLED"]

    def _tick_loop(
        self,
        rule: ScheduleSpec,
        period: float,
        stop: threading.Event,
        report: DrainReport,
        next_ticks: dict[str, float],
    ) -> None:
        """Fire `rule` at next_ticks[rule name], then every `period`, until `stop`; the time of the next
        tick is left in `next_ticks` for the loop that plays the next deployment."""
        while not stop.wait(max(0.0, next_ticks[rule.rule_name] - time.monotonic())):
            try:
                result = self.fire_schedule(rule.rule_name)
            except (KeyError, ClientError, BotoCoreError) as exc:
                # The stack changed under the tick (the rule or its function is gone); run() catches up.
                log.warning("schedule not fired", extra={"rule": rule.rule_name, "error": repr(exc)})
            else:
                with self._lock:
                    report.ticks += 1
                if not result.ok:
                    log.error("scheduled invocation failed", extra={"rule": rule.rule_name, "error": result.error_type})
            # Ticks missed while one ran long are skipped, not fired in a burst.
            while next_ticks[rule.rule_name] <= time.monotonic():
                next_ticks[rule.rule_name] += period

    # -- lifecycle -------------------------------------------------------------------------------

    def close(self) -> None:
        """Stop every worker. Mappings stay disabled in moto (see the module docstring)."""
        self._closed = True
        with self._lock:
            pools, self._pools = list(self._pools.values()), {}
        # Every worker is told first, then waited for: they shut down side by side.
        stopping = [worker for pool in pools for worker in pool.retire(wait=False)]
        for worker in stopping:
            worker.close()

    def __enter__(self) -> LocalLambda:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _sha256_b64(data: bytes) -> str:
    """Lambda's CodeSha256: the base64 of the zip's SHA-256."""
    return base64.b64encode(hashlib.sha256(data).digest()).decode("ascii")


def _folder_name(sha: str) -> str:
    return base64.b64decode(sha).hex()[:16]


def _zip_bytes(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _utc_stamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
