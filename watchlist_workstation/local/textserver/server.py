"""A loopback server speaking the Wikipedia REST API's page summary endpoint.

Local mode points the consumer's `TextSource` here instead of at Wikipedia, and the tests use
the same server as their fake. It answers `GET /api/rest_v1/page/summary/{title}` the way the
real endpoint does in the respects the pipeline relies on: the summary JSON shape, a strong
ETag derived from the content with 304 for a matching If-None-Match, a problem+json 404,
disambiguation pages, 302 redirects with a relative Location, HTTP/1.1 keep-alive. Faults are
scripted per title and served before the normal answer. Every request is recorded.

    server = TextServer({"Apple Inc.": "Apple Inc. is an American technology company."})
    server.add_redirect("Apple", "Apple Inc.")
    server.script("Apple Inc.", Scripted(429, {"Retry-After": "2"}), Scripted.connection_reset())
    with server:
        url = server.base_url  # http://127.0.0.1:<port>/api/rest_v1

    server = TextServer.from_folder(Path("data/companies"))  # the texts the project ships

The pages and the data folders they come from are pages.py's; the command line is cli.py's.
"""

from __future__ import annotations

import hashlib
import html
import json
import logging
import socket
import struct
import sys
import threading
import traceback
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from watchlist_workstation.local.loopback import LoopbackHandler, LoopbackServer
from watchlist_workstation.local.textserver.pages import Page, read_folder, title_key

API_PREFIX = "/api/rest_v1"
SUMMARY_PREFIX = f"{API_PREFIX}/page/summary/"
SUMMARY_CONTENT_TYPE = 'application/json; charset=utf-8; profile="https://www.mediawiki.org/wiki/Specs/Summary/1.5.0"'
PROBLEM_CONTENT_TYPE = "application/problem+json"


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
    title: str | None  # the decoded title (spaces, not underscores) for summary paths

    def header(self, name: str) -> str | None:
        """The first value of a header, matched case-insensitively."""
        wanted = name.lower()
        return next((value for key, value in self.headers if key.lower() == wanted), None)


def _strip_weak(tag: str) -> str:
    return tag.removeprefix("W/")


class TextServer(LoopbackServer):
    """A threaded loopback server speaking the summary endpoint; safe to configure while it runs."""

    thread_name = "text-server"
    # A client that gave up (timeout, size cap) leaves a broken pipe behind: expected, not a bug.
    hangups = (OSError,)

    def __init__(
        self,
        pages: Mapping[str, str | Page] | None = None,
        *,
        redirects: Mapping[str, str] | None = None,
        lang: str = "en",
        page_url_base: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        request_log_size: int | None = None,
    ):
        """`request_log_size` bounds the recorded requests to the newest N; None keeps them all."""
        super().__init__(host, port)
        self.lang = lang
        # content_urls only name the page; nothing fetches them, so the real site's form is fine offline.
        self.page_url_base = page_url_base or f"https://{lang}.wikipedia.org/wiki/"
        self._lock = threading.Lock()
        self._pages: dict[str, Page] = {}
        self._redirects: dict[str, str] = {}
        self._scripts: dict[str, deque[Scripted]] = {}
        self._requests: deque[RecordedRequest] = deque(maxlen=request_log_size)
        self.requests_served = 0  # every request, also those the bounded log has dropped
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

    def add_page(self, title: str, extract: str | Page, *, type: str = "standard", description: str | None = None):
        page = extract if isinstance(extract, Page) else Page(extract, type, description)
        with self._lock:
            self._pages[title_key(title)] = page

    def remove_page(self, title: str) -> None:
        with self._lock:
            self._pages.pop(title_key(title), None)

    def add_redirect(self, source: str, target: str) -> None:
        """Requests for `source` get a 302 to `target` (relative Location, as the real API sends)."""
        with self._lock:
            self._redirects[title_key(source)] = title_key(target)

    def script(self, title: str, *responses: Scripted) -> None:
        """Queue responses for `title`, each served to one request before normal behaviour resumes."""
        with self._lock:
            self._scripts.setdefault(title_key(title), deque()).extend(responses)

    # -- inspection ----------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """The REST API root to give a client, like https://en.wikipedia.org/api/rest_v1."""
        if not self.running:
            raise RuntimeError("the server is not running")
        return self.url + API_PREFIX

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def requests_for(self, title: str) -> list[RecordedRequest]:
        key = title_key(title)
        return [r for r in self.requests if r.title == key]

    def page_json(self, title: str) -> bytes:
        """The exact body served for a page (the ETag is derived from it)."""
        key = title_key(title)
        with self._lock:
            page = self._pages[key]
        return self._summary_body(key, page)

    def etag_for(self, title: str) -> str:
        return '"' + hashlib.sha256(self.page_json(title)).hexdigest()[:32] + '"'

    def page_url(self, title: str) -> str:
        return self.page_url_base + quote(title_key(title).replace(" ", "_"), safe="")

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

    def _record(self, request: RecordedRequest) -> Scripted | None:
        with self._lock:
            self._requests.append(request)
            self.requests_served += 1
            queue = self._scripts.get(request.title) if request.title is not None else None
            return queue.popleft() if queue else None

    def _resolve(self, key: str) -> tuple[str, Page | str | None]:
        """("page", Page) | ("redirect", target) | ("missing", None)."""
        with self._lock:
            if key in self._redirects:
                return "redirect", self._redirects[key]
            page = self._pages.get(key)
        return ("page", page) if page is not None else ("missing", None)

    def _summary_body(self, title: str, page: Page) -> bytes:
        canonical = title.replace(" ", "_")
        display = f'<span class="mw-page-title-main">{html.escape(title)}</span>'
        url = self.page_url_base + quote(canonical, safe="")
        payload = {
            "type": page.type,
            "title": title,
            "displaytitle": display,
            "namespace": {"id": 0, "text": ""},
            "titles": {"canonical": canonical, "normalized": title, "display": display},
            "lang": self.lang,
            "dir": "ltr",
            "content_urls": {
                "desktop": {"page": url},
                "mobile": {"page": url.replace(".wikipedia.org/", ".m.wikipedia.org/", 1)},
            },
            "extract": page.extract,
            "extract_html": f"<p>{html.escape(page.extract)}</p>" if page.extract else "",
        }
        if page.description is not None:
            payload["description"] = page.description
        return json.dumps(payload, ensure_ascii=False, sort_keys=True).encode("utf-8")


# The name the tests and the benchmark knew it by before local mode shared it.
WikiServer = TextServer


def _handler_for(wiki: TextServer) -> type[BaseHTTPRequestHandler]:
    class Handler(LoopbackHandler):
        def log_message(self, format, *args) -> None:
            pass

        def do_GET(self) -> None:
            try:
                self._get()
            except OSError:
                raise
            except Exception:
                # Recorded for the test fixture's teardown check, so a server bug fails the test that hit it,
                # and logged for whoever runs the server by hand.
                wiki.errors.append(traceback.format_exc())
                log.error("text server failed to answer %s", self.path, exc_info=True)
                self._send(500, {"Content-Type": "text/plain"}, b"text server error")

        def _get(self) -> None:
            path = self.path
            title = None
            if path.startswith(SUMMARY_PREFIX):
                title = title_key(unquote(path[len(SUMMARY_PREFIX) :].split("?", 1)[0]))
            scripted = wiki._record(RecordedRequest("GET", path, tuple(self.headers.items()), title))
            if scripted is not None:
                self._serve_scripted(scripted)
                return
            if not title:
                self._not_found(path)
                return
            kind, found = wiki._resolve(title)
            if kind == "redirect":
                # Relative and fully encoded, like the real API: a bare ":" here would read as a scheme.
                self._send(302, {"Location": quote(str(found).replace(" ", "_"), safe="")}, b"")
                return
            if kind == "missing":
                self._not_found(path)
                return
            body = wiki._summary_body(title, found)
            etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
            if self._matches(self.headers.get("If-None-Match"), etag):
                self._send(304, {"ETag": etag}, None)
                return
            self._send(200, {"Content-Type": SUMMARY_CONTENT_TYPE, "ETag": etag, "Cache-Control": "max-age=0"}, body)

        @staticmethod
        def _matches(if_none_match: str | None, etag: str) -> bool:
            if not if_none_match:
                return False
            # If-None-Match uses the weak comparison (RFC 9110, 13.1.2).
            tags = [tag.strip() for tag in if_none_match.split(",")]
            return "*" in tags or any(_strip_weak(tag) == _strip_weak(etag) for tag in tags)

        def _not_found(self, path: str) -> None:
            problem = {
                "type": "https://mediawiki.org/wiki/HyperSwitch/errors/not_found",
                "title": "Not found.",
                "method": "get",
                "detail": "Page or revision not found.",
                "uri": path,
            }
            self._send(404, {"Content-Type": PROBLEM_CONTENT_TYPE}, json.dumps(problem).encode())

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
