"""Synchronous invocations of the deployed functions, each in a warm execution environment of its own.

Each function has a WorkerPool (workers.py): at most one worker per batch its event source mappings
may have in flight (Lambda starts no more), or UNMAPPED_POOL_SIZE for a function no mapping feeds.
A worker starts with what a Lambda execution environment of the function sees in os.environ (see
`_environment`), and the function's output goes to `<log_dir>/<function name>.log`, with the START,
END and REPORT lines Lambda's platform writes. An invocation that passes the function's timeout is
stopped as Lambda stops it: its worker is killed, the invocation fails with Sandbox.Timedout, and the
next invocation gets a new worker (Lambda developer guide, "Configure Lambda function timeout").

Each worker holds its function's execution role's credentials, assumed through the emulated STS, as
Lambda gives them to an execution environment; a function whose role may not write to its log group
has its output dropped, as Lambda drops it (docs/local-mode.md, "IAM in local mode").

Failed invocations (an error raised, a timeout, a crash) are remembered per function, as Lambda's
Errors metric counts them, for local mode's alarms (watchlist_workstation/local/alarms.py).
"""

from __future__ import annotations

import collections
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from watchlist_workstation.local.iam.client import RoleAccess
from watchlist_workstation.local.lambda_service.specs import FunctionSpec, MappingSpec
from watchlist_workstation.local.lambda_service.workers import (
    EXIT_ERROR,
    INIT_TIMEOUT_SECONDS,
    InitFailed,
    Worker,
    WorkerExited,
    WorkerPool,
    WorkerTimeout,
)
from watchlist_workstation.project import import_path

# Warm workers kept for a function no mapping feeds (the scheduled producer): ticks rarely
# overlap, and each idle worker holds some 50 MB.
UNMAPPED_POOL_SIZE = 2
# Failed invocations remembered per function for errors() (a long `local up` must not grow without bound).
ERRORS_KEPT = 10_000
TIMEOUT_ERROR = "Sandbox.Timedout"
# What Lambda needs of the execution role to send a function's output to its log group (Lambda
# developer guide, "Sending Lambda function logs to CloudWatch Logs"); without them the logs are lost.
LOG_ACTIONS = ("logs:CreateLogStream", "logs:PutLogEvents")


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


class Invoker:
    """The functions' worker pools and their invocations; safe to call from many threads."""

    def __init__(
        self, *, stack_name: str, region: str, extra_env: dict[str, str], log_dir: Path, roles: RoleAccess
    ) -> None:
        self.stack_name, self.region, self.extra_env, self.log_dir = stack_name, region, extra_env, log_dir
        self.roles = roles
        self._log_paths: dict[str, str] = {}  # function name -> its log file, or os.devnull
        self._lock = threading.Lock()
        self._specs: dict[str, FunctionSpec] = {}
        self._pools: dict[str, WorkerPool] = {}
        self._active: dict[str, int] = {}
        self._errors: dict[str, collections.deque[float]] = {}  # function name -> when its invocations failed
        self.peak_concurrency: dict[str, int] = {}
        self.closed = False

    # -- the functions played ---------------------------------------------------------------------

    def deploy(self, functions: dict[str, FunctionSpec], mappings: list[MappingSpec]) -> list[WorkerPool]:
        """Play these functions from now on; returns the pools to retire (a function whose configuration
        or pool size changed gets a new pool, so its next invocations run in fresh workers)."""
        retired = []
        with self._lock:
            for name, spec in functions.items():
                size = sum(m.concurrency for m in mappings if m.function == name) or UNMAPPED_POOL_SIZE
                old = self._pools.get(name)
                if old is not None and self._specs.get(name) == spec and old.size == size:
                    continue
                if old is not None:
                    retired.append(old)
                self._pools[name] = WorkerPool(self._spawner(spec), size)
            retired.extend(self._pools.pop(name) for name in set(self._pools) - set(functions))
            self._specs = dict(functions)
        return retired

    def forget(self) -> list[WorkerPool]:
        """Play no function any more; returns every pool, for the caller to retire."""
        with self._lock:
            pools, self._pools, self._specs = list(self._pools.values()), {}, {}
        return pools

    def spec(self, function: str) -> FunctionSpec:
        """The function by name, ARN or logical id; KeyError when the stack as last read has none such."""
        for spec in list(self._specs.values()):
            if function in (spec.name, spec.logical_id, spec.arn):
                return spec
        raise KeyError(f"no function {function!r} in stack {self.stack_name} (did discover() run?)")

    def pool(self, function: str) -> WorkerPool:
        """The warm workers of a function (by name, ARN or logical id)."""
        name = self.spec(function).name
        with self._lock:
            return self._pools[name]

    def prewarm(self, per_function: int, mapped: set[str]) -> list[threading.Thread]:
        """Start up to `per_function` workers of each function in `mapped`, one of every other, in the
        background; returns the starting threads."""
        with self._lock:
            pools = list(self._pools.items())
        return [
            thread
            for name, pool in pools
            for thread in pool.prewarm(per_function if name in mapped else min(1, per_function))
        ]

    # -- invocations ------------------------------------------------------------------------------

    def invoke(self, function: str, event: Any) -> InvokeResult:
        """Invoke synchronously (RequestResponse); the function's failures are in the result, never raised."""
        if self.closed:
            raise RuntimeError("this LocalLambda is closed")
        spec = self.spec(function)
        result = self._invoke(spec, event)
        if not result.ok:
            # What Lambda counts in the function's Errors metric: a raised error, a timeout, a crash.
            with self._lock:
                self._errors.setdefault(spec.name, collections.deque(maxlen=ERRORS_KEPT)).append(time.monotonic())
        return result

    def errors(self, function: str, within_seconds: float) -> int:
        """Failed invocations of `function` (its name) in the last `within_seconds`."""
        since = time.monotonic() - within_seconds
        with self._lock:
            return sum(1 for at in self._errors.get(function, ()) if at >= since)

    def inspect(self, function: str, modules: Iterable[str] = ()) -> dict[str, Any]:
        """Ask a warm worker of `function` for its import path and where the named modules come from."""
        pool = self.pool(function)
        worker = pool.acquire()
        try:
            answer = worker.call({"op": "inspect", "modules": list(modules)}, INIT_TIMEOUT_SECONDS)
        except (WorkerTimeout, WorkerExited):
            pool.release(worker, healthy=False)
            raise
        pool.release(worker, healthy=True)
        return answer

    def close(self) -> None:
        """Stop every worker: all are told first, then waited for, so they shut down side by side."""
        self.closed = True
        with self._lock:
            pools, self._pools = list(self._pools.values()), {}
        stopping = [worker for pool in pools for worker in pool.retire(wait=False)]
        for worker in stopping:
            worker.close()

    def _invoke(self, spec: FunctionSpec, event: Any) -> InvokeResult:
        with self._lock:
            pool = self._pools[spec.name]
        request_id = str(uuid.uuid4())
        try:
            worker = pool.acquire()
        except InitFailed as exc:
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
        except WorkerTimeout:
            # Lambda stops the execution environment at the timeout; the next invocation gets a new one.
            worker.kill()
            pool.release(worker, healthy=False)
            message = f"RequestId: {request_id} Error: Task timed out after {spec.timeout:.2f} seconds"
            self._log_line(spec, f"{_utc_stamp()} {message}")
            return failed(TIMEOUT_ERROR, message, timed_out=True)
        except WorkerExited:
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

    # -- execution environments -------------------------------------------------------------------

    def _spawner(self, spec: FunctionSpec) -> Callable[[], Worker]:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = Path(self._log_path(spec))
        env = self._environment(spec)
        return lambda: Worker(spec, env, log_path)

    def log_path(self, function: str) -> Path | None:
        """Where the function's output goes; None when its role may not write its logs (they are dropped)."""
        path = self._log_paths.get(self.spec(function).name)
        return None if path in (None, os.devnull) else Path(path)

    def _log_path(self, spec: FunctionSpec) -> str:
        if spec.role_arn and spec.arn:
            _, _, _, region, account, _ = spec.arn.split(":", 5)
            group = f"arn:aws:logs:{region}:{account}:log-group:{spec.log_group}"
            for action in LOG_ACTIONS:
                if not self.roles.decide(action=action, resource=group, role_arn=spec.role_arn).allowed:
                    self._log_paths[spec.name] = os.devnull
                    return os.devnull
        self._log_paths[spec.name] = str(self.log_dir / f"{spec.name}.log")
        return self._log_paths[spec.name]

    def _environment(self, spec: FunctionSpec) -> dict[str, str]:
        """What a Lambda execution environment of this function sees in os.environ.

        Nothing of this process's own environment leaks in (it could hold real credentials or a
        profile). The function's variables come first; `extra_env` (the local account: endpoints,
        fake credentials) overrides them, so no function setting can point a call at a real
        endpoint; Lambda's reserved variables override both, as in Lambda (Lambda developer guide,
        "Defined runtime environment variables").
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
            # Only so that `python -m watchlist_workstation.local.lambda_service.runtime` finds its module;
            # the runtime removes it.
            "PYTHONPATH": import_path(),
        }
        # The execution role's keys, as Lambda's reserved AWS_ACCESS_KEY_ID, ..._SECRET_..., AWS_SESSION_TOKEN.
        credentials = self.roles.credentials(spec.role_arn, spec.name) if spec.role_arn else {}
        return {**base, **spec.environment, **self.extra_env, **reserved, **credentials}

    def _log_line(self, spec: FunctionSpec, text: str) -> None:
        with open(self._log_paths.get(spec.name) or os.devnull, "a", encoding="utf-8") as handle:
            handle.write(text + "\n")


def _utc_stamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
