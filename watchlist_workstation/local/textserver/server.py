"""A loopback server speaking the MediaWiki Action API (`GET /w/api.php?action=query...`) for local mode and tests.

Local mode points the consumer's text source here instead of at Wikipedia, and the tests use the same
server as their fake. The answers are action_api.py's (each shape there names the documentation page it
follows); the pages and their revisions are store.py's. Faults are scripted per title and served, in
order, to the next requests that ask for that title, before the normal answer. Every request is
recorded, and the server counts the requests it served and the most it had in flight at once.

    server = TextServer({"Apple Inc.": "Apple Inc. is an American technology company."})
    server.add_redirect("Apple", "Apple Inc.")
    server.script("Apple Inc.", Scripted(429, {"Retry-After": "2"}, "Too many requests"), Scripted.connection_reset())
    with server:
        url = server.api_url  # http://127.0.0.1:<port>/w/api.php

    server = TextServer.from_folder(Path("data/companies"))  # the texts the project ships

The pages and the data folders they come from are pages.py's; the command line is cli.py's.
"""

from __future__ import annotations

import logging
import socket
import struct
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

from watchlist_workstation.local.loopback import LoopbackHandler, LoopbackServer
from watchlist_workstation.local.textserver.action_api import Answer, answer_query, split_values
from watchlist_workstation.local.textserver.pages import Page, read_folder
from watchlist_workstation.local.textserver.store import InvalidTitle, StoredPage, WikiStore, normalize_title

API_PATH = "/w/api.php"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Scripted:
    """One response served instead of the normal one.

    `delay` seconds pass before anything is sent (a slow source); `reset` closes the
    connection with a TCP RST instead of answering; `chunked` sends the body with
    chunked transfer encoding and no Content-Length, as a streaming server would.
    A Content-Length header is added unless `chunked` or given in `headers`.
    """

    status: int = 500
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes | str = b""
    delay: float = 0.0
    reset: bool = False
    chunked: bool = False

    @classmethod
    def connection_reset(cls, delay: float = 0.0) -> Scripted:
        return cls(reset=True, delay=delay)


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str  # raw request target, percent-encoding intact
    headers: tuple[tuple[str, str], ...]
    params: tuple[tuple[str, str], ...]  # the decoded query parameters, in order
    received_at: float = 0.0  # time.monotonic() when the request arrived (the benches count requests a minute)

    def header(self, name: str) -> str | None:
        """The first value of a header, matched case-insensitively."""
        wanted = name.lower()
        return next((value for key, value in self.headers if key.lower() == wanted), None)

    def param(self, name: str) -> str | None:
        return dict(self.params).get(name)

    @property
    def titles(self) -> list[str]:
        return split_values(self.param("titles") or "")

    @property
    def asks_intros(self) -> bool:
        return "extracts" in split_values(self.param("prop") or "")


def _title_key(title: str) -> str:
    try:
        return normalize_title(title)
    except InvalidTitle:
        return title


class TextServer(LoopbackServer):
    """A threaded loopback server speaking the Action API; safe to configure while it runs."""

    thread_name = "text-server"
    # A client that gave up (timeout, size cap) leaves a broken pipe behind: expected, not a bug.
    hangups = (OSError,)

    def __init__(
        self,
        pages: Mapping[str, str | Page] | None = None,
        *,
        redirects: Mapping[str, str] | None = None,
        page_url_base: str = "https://en.wikipedia.org/wiki/",
        host: str = "127.0.0.1",
        port: int = 0,
        request_log_size: int | None = None,
    ):
        """`request_log_size` bounds the recorded requests to the newest N; None keeps them all.
        `page_url_base` only names pages (fullurl); nothing fetches it, so the real site's form is fine offline."""
        super().__init__(host, port)
        self.page_url_base = page_url_base
        self.store = WikiStore()
        self.lag = 0.0  # the replication lag the wiki reports: requests with a smaller maxlag get the maxlag error
        self._lock = threading.Lock()
        self._scripts: dict[str, deque[Scripted]] = {}
        self._requests: deque[RecordedRequest] = deque(maxlen=request_log_size)
        self.requests_served = 0  # every request, also those the bounded log has dropped
        self.in_flight = 0
        self.peak_in_flight = 0  # the most requests it was answering at once
        self.errors: list[str] = []  # tracebacks of handler failures, so a server bug cannot pass silently
        for title, page in (pages or {}).items():
            self.add_page(title, page)
        for source, target in (redirects or {}).items():
            self.add_redirect(source, target)

    @classmethod
    def from_folder(cls, folder: Path, **kwargs: Any) -> TextServer:
        """A server, not yet started, holding a data folder's pages and redirects (see `load_pages`)."""
        pages, redirects = read_folder(Path(folder))
        return cls(pages, redirects=redirects, **kwargs)

    # -- configuration -------------------------------------------------------------------

    def add_page(
        self, title: str, extract: str | Page, *, type: str = "standard", description: str | None = None
    ) -> StoredPage:
        """Create or rewrite a page; a new text is a new revision."""
        page = extract if isinstance(extract, Page) else Page(extract, type, description)
        return self.store.put(title, page)

    def touch_page(self, title: str) -> StoredPage:
        """A new revision that leaves the intro as it was."""
        return self.store.touch(title)

    def remove_page(self, title: str) -> None:
        self.store.delete(title)

    def add_redirect(self, source: str, target: str) -> None:
        """`source` becomes a redirect to `target`, reported in query.redirects when a client sends redirects=1."""
        self.store.redirect(source, target)

    def script(self, title: str, *responses: Scripted) -> None:
        """Queue responses served, one each, to the next requests that ask for `title`."""
        with self._lock:
            self._scripts.setdefault(_title_key(title), deque()).extend(responses)

    def reset_counts(self) -> None:
        """Forget the request log and the counts (a bench measures one tick at a time)."""
        with self._lock:
            self._requests.clear()
            self.requests_served = 0
            self.peak_in_flight = self.in_flight

    # -- inspection ----------------------------------------------------------------------

    @property
    def api_url(self) -> str:
        """The endpoint to give a client, like https://en.wikipedia.org/w/api.php."""
        if not self.running:
            raise RuntimeError("the server is not running")
        return self.url + API_PATH

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def requests_for(self, title: str) -> list[RecordedRequest]:
        key = _title_key(title)
        return [r for r in self.requests if key in {_title_key(t) for t in r.titles}]

    def revision(self, title: str) -> int:
        stored = self.store.get(normalize_title(title))
        if stored is None:
            raise KeyError(title)
        return stored.revision

    def page_url(self, title: str) -> str:
        return self.page_url_base + quote(normalize_title(title).replace(" ", "_"), safe=",:/()'!*")

    # -- lifecycle (stop, url and the context manager come from LoopbackServer) ----------------

    def start(self) -> TextServer:
        """Start serving; starting a running server does nothing."""
        if self.running:
            return self
        return super().start()

    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        return _handler_for(self)

    def handler_failed(self, request: Any, client_address: Any) -> None:
        # On stderr, as http.server reports it (the handler records its own failures in `errors`).
        sys.stderr.write(f"{'-' * 40}\nException occurred during processing of request from {client_address}\n")
        traceback.print_exc()
        sys.stderr.write("-" * 40 + "\n")

    # -- what the handler asks -----------------------------------------------------------

    def _enter(self, request: RecordedRequest) -> Scripted | None:
        with self._lock:
            self._requests.append(request)
            self.requests_served += 1
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
            for title in request.titles:
                queue = self._scripts.get(_title_key(title))
                if queue:
                    return queue.popleft()
            return None

    def _leave(self) -> None:
        with self._lock:
            self.in_flight -= 1

    def _answer(self, request: RecordedRequest) -> Answer:
        return answer_query(dict(request.params), self.store, page_url_base=self.page_url_base, lag=self.lag)


def _handler_for(wiki: TextServer) -> type[BaseHTTPRequestHandler]:
    class Handler(LoopbackHandler):
        def log_message(self, format, *args) -> None:
            pass

        def do_GET(self) -> None:
            target = urlsplit(self.path)
            params = tuple(parse_qsl(target.query, keep_blank_values=True))
            request = RecordedRequest("GET", self.path, tuple(self.headers.items()), params, time.monotonic())
            scripted = wiki._enter(request)
            try:
                if scripted is not None:
                    self._serve_scripted(scripted)
                elif target.path != API_PATH:
                    self._send(404, {"Content-Type": "text/plain"}, b"Not Found")
                else:
                    answer = wiki._answer(request)
                    self._send(answer.status, answer.headers, answer.body)
            except OSError:
                raise
            except Exception:
                # Recorded for the test fixture's teardown check, so a server bug fails the test that hit it,
                # and logged for whoever runs the server by hand.
                wiki.errors.append(traceback.format_exc())
                log.error("text server failed to answer %s", self.path, exc_info=True)
                self._send(500, {"Content-Type": "text/plain"}, b"text server error")
            finally:
                wiki._leave()

        def _serve_scripted(self, scripted: Scripted) -> None:
            if scripted.delay and self.server.stopping.wait(scripted.delay):
                self.close_connection = True
                return
            if scripted.reset:
                self._reset()
                return
            body = scripted.body.encode("utf-8") if isinstance(scripted.body, str) else scripted.body
            if scripted.chunked:
                self.send_response(scripted.status)
                for name, value in scripted.headers.items():
                    self.send_header(name, value)
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for start in range(0, len(body), 64 * 1024):
                    piece = body[start : start + 64 * 1024]
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                self.wfile.write(b"0\r\n\r\n")
                return
            self._send(scripted.status, scripted.headers, body)

        def _reset(self) -> None:
            # SO_LINGER with a zero timeout turns close() into an RST instead of an orderly FIN.
            self.request.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.rfile.close()
            self.request.close()
            self.close_connection = True

        def _send(self, status: int, headers: Mapping[str, str], body: bytes | None) -> None:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            if body is not None and not any(name.lower() == "content-length" for name in headers):
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if body:
                self.wfile.write(body)

    return Handler
