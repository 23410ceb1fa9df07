"""The embedded AWS of local mode: a moto server in its own process, with a request counter.

    moto = MotoProcess(port=0, log_path=state_dir / "moto.log").launch()  # boots while the caller works
    moto.wait_ready().url        # http://127.0.0.1:<port>, once it printed READY <port>
    moto.calls()                 # requests served so far, by service:operation (counting.py)
    moto.stop()

It runs `python -m watchlist_workstation.local.moto_server` (__main__.py), which exits when its stdin
closes (so it never outlives the local stack that started it, even after a crash) or on SIGTERM.

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
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import selectors
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from watchlist_workstation.local.moto_server.counting import CALLS_PATH
from watchlist_workstation.project import ROOT, import_path

START_TIMEOUT_SECONDS = 60.0
# S3 objects larger than this are kept in temporary files by the moto process, not in its memory.
S3_OBJECT_MEMORY_BYTES = 64 * 1024


class MotoServerError(RuntimeError):
    """The moto server process did not start; the message carries the end of its output."""


class MotoProcess:
    """Starts `python -m watchlist_workstation.local.moto_server` and stops it; its output goes to `log_path`."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        log_path: Path | None = None,
        module: str = "watchlist_workstation.local.moto_server",
        module_args: tuple[str, ...] = (),
    ) -> None:
        """`module` (run with `-m`, given `module_args` and --host/--port) must print READY <port> as
        __main__.py does: bench/dataset_seed.py fills moto's S3 before it serves."""
        self.host, self.port, self.log_path = host, port, log_path
        self.module, self.module_args = module, module_args
        self.process: subprocess.Popen | None = None

    def launch(self) -> MotoProcess:
        """Start the process and return at once (it boots while the caller does other work)."""
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        try:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    self.module,
                    *self.module_args,
                    "--host",
                    self.host,
                    "--port",
                    str(self.port),
                ],
                cwd=ROOT,
                # glibc gives each thread that allocates its own malloc arena (up to 8 per core), and waitress
                # answers on many threads; two arenas keep freed memory in fewer places (glibc manual, "Memory
                # Allocation Tunables", glibc.malloc.arena_max / MALLOC_ARENA_MAX). Objects over 64 KiB (the
                # results files of a large watchlist) are kept in temporary files instead of the process's
                # memory (moto's MOTO_S3_DEFAULT_KEY_BUFFER_SIZE, in moto's configuration docs), as S3 keeps
                # them on storage, not in the memory of the caller's machine.
                env={
                    **os.environ,
                    "PYTHONPATH": import_path(),
                    "MALLOC_ARENA_MAX": "2",
                    "MOTO_S3_DEFAULT_KEY_BUFFER_SIZE": str(S3_OBJECT_MEMORY_BYTES),
                },
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
        """Requests served so far, by service:operation (counting.py)."""
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
