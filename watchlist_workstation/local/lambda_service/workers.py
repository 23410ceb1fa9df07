"""Execution environments: worker processes running one function's handler, and a pool of warm ones per function.

A worker is `python -m watchlist_workstation.local.lambda_service.runtime` (runtime.py) started with the
function's environment, cwd = its unzipped code and its layers on the import path; the two talk JSON
lines over a pair of pipes, and the handler's stdout and stderr go to the function's log file. Like a
Lambda execution environment, a worker does one invocation at a time, imports the handler once (its
init phase, bounded by INIT_TIMEOUT_SECONDS), and is killed, process group and all, when an
invocation passes the function's timeout (Lambda developer guide, "Lambda execution environment").
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from watchlist_workstation.local.lambda_service.specs import FunctionSpec
from watchlist_workstation.project import ROOT

# Lambda's limit on the init phase of an on-demand function (Lambda developer guide, "Execution environment").
INIT_TIMEOUT_SECONDS = 10.0
# How Lambda names a runtime that exited or failed to start (its errorType for the invocation).
EXIT_ERROR = "Runtime.ExitError"


class WorkerTimeout(Exception):
    """The worker did not answer before the deadline."""


class WorkerExited(Exception):
    """The worker's process is gone."""


class InitFailed(Exception):
    """The worker could not start: Lambda's error object for the invocation is in `error`."""

    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(error.get("errorMessage"))
        self.error = error


class Worker:
    """One execution environment: a runtime.py process and its two pipes."""

    def __init__(self, spec: FunctionSpec, env: dict[str, str], log_path: Path) -> None:
        self.spec = spec
        self._buffer = b""
        request_read, self._requests = os.pipe()
        self._replies, reply_write = os.pipe()
        command = [
            sys.executable,
            "-m",
            "watchlist_workstation.local.lambda_service.runtime",
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
                # in the terminal reaches the Lambda service (which shuts workers down) rather than each worker.
                start_new_session=True,
            )
        os.close(request_read)
        os.close(reply_write)
        self.pid = self.process.pid
        try:
            ready = self._read(time.monotonic() + INIT_TIMEOUT_SECONDS)
        except (WorkerTimeout, WorkerExited) as exc:
            self.kill()
            what = "did not finish its init phase" if isinstance(exc, WorkerTimeout) else "exited during init"
            raise InitFailed({"errorType": EXIT_ERROR, "errorMessage": f"the runtime {what}"}) from exc
        if not ready.get("ready"):
            self.kill()
            raise InitFailed(ready.get("error") or {"errorType": EXIT_ERROR, "errorMessage": "init failed"})
        self.init_ms = float(ready.get("init_ms", 0.0))

    def call(self, message: dict[str, Any], timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        data = json.dumps(message).encode("utf-8") + b"\n"
        try:
            while data:
                data = data[os.write(self._requests, data) :]
        except OSError as exc:  # BrokenPipeError: the worker is gone
            raise WorkerExited() from exc
        return self._read(deadline)

    def _read(self, deadline: float) -> dict[str, Any]:
        poller = select.poll()
        poller.register(self._replies, select.POLLIN)
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise WorkerTimeout()
            if not poller.poll(remaining * 1000):
                continue
            chunk = os.read(self._replies, 1 << 20)
            if not chunk:
                raise WorkerExited()
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


class WorkerPool:
    """Warm workers of one function version, at most `size` of them, each doing one invocation at a time."""

    def __init__(self, spawn: Callable[[], Worker], size: int) -> None:
        self._spawn, self.size = spawn, size
        self._cond = threading.Condition()
        self._idle: list[Worker] = []
        self._count = 0
        self._retired = False
        self.started = 0  # workers ever started, prewarmed ones included

    def idle_pids(self) -> set[int]:
        """The process ids of the warm workers waiting for an invocation."""
        with self._cond:
            return {worker.pid for worker in self._idle}

    def acquire(self) -> Worker:
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

    def release(self, worker: Worker, healthy: bool) -> None:
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

    def retire(self, *, wait: bool = True) -> list[Worker]:
        """Stop the idle workers now and each busy one when its invocation ends (a new version is live).

        The idle ones are all told to stop before any is waited for, so they exit together; with
        `wait=False` the caller waits (`Worker.close`) for the returned workers."""
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
