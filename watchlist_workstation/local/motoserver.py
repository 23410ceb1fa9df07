"""The embedded AWS of local mode: a moto server in its own process, with a request counter.

    python -m watchlist_workstation.local.motoserver [--host 127.0.0.1] [--port 0]

prints `READY <port>` on stdout once it serves, and exits when its stdin closes (so it never
outlives the local stack that started it, even after a crash) or on SIGTERM.

Why a process of its own: moto answers every AWS call of the pipeline (each consumer batch makes
a DynamoDB UpdateItem per company, among others) and spends several milliseconds of Python per
request. In the process that also runs the executor's pollers, the Comprehend endpoint and the
text source, all of them shared one interpreter lock, so local mode could never use more than one
of the machine's cores for them; in its own process moto gets a core of its own.

It serves through waitress, not moto's own server (werkzeug's development server): werkzeug
closes the connection after every response, so each call costs a new TCP connection and a new
thread, and about twice waitress's time outside the application (1.6 against 0.8 ms of CPU per
request for a trivial application, measured here with boto3 as the client); waitress keeps
connections alive and hands requests to a fixed pool of threads. One difference matters to moto:
waitress drops request headers whose names contain an underscore (moto's own handler keeps them
for S3 user metadata spelled with underscores); nothing in this project sends such headers.

`GET /_local/calls` answers the number of requests served so far by service:operation, as JSON
(JSON-protocol services by their X-Amz-Target, S3 by HTTP method), so a run can report the calls
its functions made without hooking into their processes.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import functools
import json
import logging
import os
import selectors
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import warnings
from pathlib import Path
from typing import Any

from watchlist_workstation.project import ROOT, import_path

CALLS_PATH = "/_local/calls"
# waitress's worker threads: enough for every concurrent caller of a local run (pollers, consumer
# instances with their parallel writes, the CLI) to be served, not queued; idle ones cost nothing.
SERVER_THREADS = 16
CONNECTION_LIMIT = 1000
START_TIMEOUT_SECONDS = 60.0


class MotoServerError(RuntimeError):
    """The moto server process did not start; the message carries the end of its output."""


class MotoProcess:
    """Starts `python -m watchlist_workstation.local.motoserver` and stops it; its output goes to `log_path`."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, log_path: Path | None = None) -> None:
        self.host, self.port, self.log_path = host, port, log_path
        self.process: subprocess.Popen | None = None

    def launch(self) -> MotoProcess:
        """Start the process and return at once (it boots while the caller does other work)."""
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        try:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "watchlist_workstation.local.motoserver",
                    "--host",
                    self.host,
                    "--port",
                    str(self.port),
                ],
                cwd=ROOT,
                env={**os.environ, "PYTHONPATH": import_path()},
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                # Ctrl-C in the terminal reaches the CLI, which stops this process itself.
                start_new_session=True,
            )
        finally:
            if log is not subprocess.DEVNULL:
                log.close()
        return self

    def wait_ready(self, timeout: float = START_TIMEOUT_SECONDS) -> MotoProcess:
        process = self._require()
        deadline = time.monotonic() + timeout
        line = b""
        with selectors.DefaultSelector() as selector:
            selector.register(process.stdout, selectors.EVENT_READ)
            while not line.endswith(b"\n"):
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not selector.select(remaining):
                    self.stop()
                    raise MotoServerError(f"the moto server did not start within {timeout:.0f} s{self._log_tail()}")
                chunk = os.read(process.stdout.fileno(), 256)
                if not chunk:
                    process.wait()
                    raise MotoServerError(f"the moto server exited with status {process.returncode}{self._log_tail()}")
                line += chunk
        self.port = int(line.split()[1])
        return self

    def start(self, timeout: float = START_TIMEOUT_SECONDS) -> MotoProcess:
        return self.launch().wait_ready(timeout)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def calls(self) -> collections.Counter[str]:
        """Requests served so far, by service:operation (see the module docstring)."""
        with urllib.request.urlopen(self.url + CALLS_PATH, timeout=10) as response:  # noqa: S310 - loopback
            return collections.Counter(json.loads(response.read()))

    def stop(self, timeout: float = 0.5) -> None:
        """Close its stdin (it shuts down), then kill it if it takes longer than `timeout` (the
        emulated account is in memory only, so nothing is lost either way)."""
        process = self.process
        if process is None or process.returncode is not None:
            return
        with contextlib.suppress(OSError):
            process.stdin.close()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        with contextlib.suppress(OSError):
            process.stdout.close()

    def _require(self) -> subprocess.Popen:
        if self.process is None:
            raise MotoServerError("the moto server was not launched")
        return self.process

    def _log_tail(self) -> str:
        if not self.log_path or not self.log_path.exists():
            return ""
        lines = self.log_path.read_text(errors="replace").strip().splitlines()
        return f": {lines[-1]}" if lines else ""


class CountingApp:
    """WSGI middleware: counts each request by service:operation and serves the counts."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.counts: collections.Counter[str] = collections.Counter()
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        path = environ.get("PATH_INFO", "")
        if path == CALLS_PATH:
            with self._lock:
                body = json.dumps(dict(self.counts), sort_keys=True).encode()
            start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return [body]
        if not path.startswith("/moto-api"):
            key = operation_key(environ)
            with self._lock:
                self.counts[key] += 1
        return self.app(environ, start_response)


def operation_key(environ: dict[str, Any]) -> str:
    """service:operation of a request: DynamoDB_20120810.UpdateItem -> dynamodb:UpdateItem."""
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target:
        prefix, _, operation = target.partition(".")
        service = {"AmazonSQS": "sqs", "Logs_20140328": "logs", "AWSEvents": "events"}.get(prefix)
        if service is None:
            service = "dynamodb" if prefix.startswith("DynamoDB") else prefix
        return f"{service}:{operation}"
    # Query-protocol services name the action in the query or form; S3 (REST) by its method.
    return f"http:{environ.get('REQUEST_METHOD', '?')}"


def _replace_once(module: Any, name: str, cached: Any) -> None:
    """Put `cached(module.name)` in place of `module.name`, unless that was done already."""
    current = getattr(module, name)
    if getattr(current, "cached", False):
        return
    replacement = cached(current)
    replacement.cached = True
    setattr(module, name, replacement)


def cache_module_list() -> None:
    """moto looks up the backend of every request by listing its own package folder on disk
    (moto.backends.list_of_moto_modules: a listdir and an isdir per entry, about 13% of the moto
    process's time in a local run); the folder does not change while it serves, so list it once."""
    from moto import backends

    def listed_once(list_modules: Any) -> Any:
        modules = tuple(list_modules())
        return lambda: modules

    _replace_once(backends, "list_of_moto_modules", listed_once)


def cache_method_names() -> None:
    """moto finds the method of every request's action by listing its response class's functions
    (moto.core.utils.method_names_from_class: `inspect.getmembers`, about 6% of an UpdateItem once
    watchlist_workstation/local/motoddb.py is applied); the classes do not change while it serves, so list each once."""
    from moto.core import responses

    _replace_once(responses, "method_names_from_class", functools.cache)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)

    import waitress
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    from watchlist_workstation.local import moto_fixes, motoddb, motosqs

    motosqs.apply()
    motoddb.apply()
    moto_fixes.apply()
    cache_module_list()
    cache_method_names()
    # moto's notes on resource types it skips, and waitress's on a queue of waiting requests (a
    # busy moment, not a fault), would only fill the log.
    for name in ("moto", "waitress", "waitress.queue"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", category=UserWarning)

    app = CountingApp(DomainDispatcherApplication(create_backend_app))
    server = waitress.create_server(
        app,
        host=args.host,
        port=args.port,
        threads=SERVER_THREADS,
        connection_limit=CONNECTION_LIMIT,
        asyncore_use_poll=True,  # no select() limit on descriptors
        ident="moto (local mode)",
    )

    def stop(*_: object) -> None:
        raise SystemExit(0)  # in the main thread: waitress's loop catches it and shuts its threads down

    signal.signal(signal.SIGTERM, stop)

    def watch_stdin() -> None:
        sys.stdin.read()  # returns at EOF: whoever started this process is gone or asked it to stop
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch_stdin, name="stdin-watch", daemon=True).start()
    sys.stdout.write(f"READY {server.effective_port}\n")
    sys.stdout.flush()
    server.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
