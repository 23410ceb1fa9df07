"""The one HTTP server local mode's stand-ins are built on: bound to loopback, served from a thread.

The Comprehend endpoint (local/comprehend/), the text source (local/textserver/) and the Lambda API
(local/lambda_service/invoke_api.py) check no credentials and no signatures, so each must listen on
this machine only: the host must be an IPv4 loopback address (or "localhost"), and port 0 takes a
free port, so servers started side by side (parallel tests, two local stacks) never collide.

    class MyServer(LoopbackServer):
        thread_name = "my-server"

        def handler_class(self) -> type[BaseHTTPRequestHandler]:
            return MyHandler  # a LoopbackHandler; it reaches this object as self.server.endpoint

    with MyServer(port=0) as server:
        urllib.request.urlopen(server.url + "/path")

`stop()` also shuts down the sockets of kept-alive connections: a client's pooled connection (botocore
and urllib3 keep them) would otherwise hold its handler thread in a read until the client hangs up.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

# The standard library's logging only: the text source imports nothing beyond the standard library.
log = logging.getLogger(__name__)


def require_loopback(host: str, what: str) -> None:
    """Refuse any address but an IPv4 loopback one: nothing served here checks who is asking."""
    try:
        loopback = host == "localhost" or ipaddress.IPv4Address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ValueError(f"{what} binds only to an IPv4 loopback address, not {host!r}")


class LoopbackServer:
    """An HTTP server on a loopback port, run by a daemon thread; `url` once started.

    Subclasses give `handler_class()`; they may set `thread_name`, `hangups` (the errors of a
    client that hung up, which are not reported) and override `handler_failed`.
    """

    thread_name = "loopback-http"
    # A client that hung up mid-answer (a timeout, Ctrl-C on the CLI, a stopped benchmark) is expected, not a bug.
    hangups: tuple[type[BaseException], ...] = (ConnectionError,)

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        require_loopback(host, type(self).__name__)
        self._address = (host, port)
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        raise NotImplementedError

    def handler_failed(self, request: Any, client_address: Any) -> None:
        """A handler raised something other than a hang-up; called while the exception is being handled."""
        log.exception("%s: handler failed for a request from %s", self.thread_name, client_address[0])

    @property
    def running(self) -> bool:
        return self._httpd is not None

    def start(self) -> Self:
        if self._httpd is not None:
            raise RuntimeError(f"{type(self).__name__} is already running")
        self._httpd = _HTTPServer(self._address, self.handler_class(), self)
        # A short poll keeps stop() quick: shutdown() waits for the loop's next poll.
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name=self.thread_name, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close open keep-alive connections; a pooled client connection must not outlive us."""
        httpd, thread = self._httpd, self._thread
        if httpd is None:
            return
        self._httpd = self._thread = None
        httpd.stopping.set()
        httpd.shutdown()
        httpd.drop_connections()
        httpd.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """http://127.0.0.1:<port>, the port the server got."""
        if self._httpd is None:
            raise RuntimeError(f"{type(self).__name__} is not running; call start() first")
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"


class LoopbackHandler(BaseHTTPRequestHandler):
    """What every loopback stand-in's handler shares."""

    # Keep-alive, as the real endpoints allow: botocore and urllib3 reuse their pooled connections.
    protocol_version = "HTTP/1.1"
    # Headers and body leave in two writes; with Nagle on, the body waits for the client's delayed ACK
    # (about 40 ms a response on Linux loopback). TCP_NODELAY sends it at once.
    disable_nagle_algorithm = True
    server: _HTTPServer


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], endpoint: LoopbackServer
    ) -> None:
        self.endpoint = endpoint
        # Set when stop() begins, so a handler waiting on purpose (a scripted delay) can give up at once.
        self.stopping = threading.Event()
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(address, handler)

    def process_request(self, request, client_address) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request, client_address) -> None:
        if isinstance(sys.exc_info()[1], self.endpoint.hangups):
            return
        self.endpoint.handler_failed(request, client_address)

    def drop_connections(self) -> None:
        with self._open_lock:
            connections = list(self._open)
        for connection in connections:
            with contextlib.suppress(OSError):  # the peer already hung up
                connection.shutdown(socket.SHUT_RDWR)
