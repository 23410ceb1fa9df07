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

A data folder holds one JSON file per title, named after the title (`title_file_name`):

    {"title": "Netflix", "description": "...", "tone": "positive", "extract": "Netflix is ..."}
    {"title": "Mercury", "type": "disambiguation", "tone": "neutral", "extract": "Mercury may refer to ..."}
    {"title": "Facebook, Inc.", "redirect": "Meta Platforms"}

`load_pages` and `load_redirects` read such a folder. `tone` is the tone the text's author
meant it to carry, kept for tests and docs; it is never served. One file per title rather
than one big file: adding, editing or reviewing a company touches one small file, so
parallel edits do not conflict and a load error names the file.

    python -m watchlist_workstation.local.textserver --port 8081 [--data data/companies]

serves a folder on 127.0.0.1 until Ctrl-C (or SIGTERM), printing the base URL on stderr.
Only the standard library is used (local/loopback.py, the server it is built on, included), so nothing here
needs pytest.
"""

from __future__ import annotations

import argparse
import hashlib
import html
import json
import logging
import re
import signal
import socket
import struct
import sys
import threading
import traceback
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from watchlist_workstation.local.loopback import LoopbackHandler, LoopbackServer
from watchlist_workstation.project import COMPANIES_DIR

API_PREFIX = "/api/rest_v1"
SUMMARY_PREFIX = f"{API_PREFIX}/page/summary/"
SUMMARY_CONTENT_TYPE = 'application/json; charset=utf-8; profile="https://www.mediawiki.org/wiki/Specs/Summary/1.5.0"'
PROBLEM_CONTENT_TYPE = "application/problem+json"

PAGE_TYPES = ("standard", "disambiguation", "no-extract")
TONES = ("positive", "negative", "neutral", "mixed")
# The texts this project ships; found from this file so the entry point works from any directory.
DEFAULT_DATA = COMPANIES_DIR
# A server left running for days must not grow without bound; tests keep every request.
_CLI_REQUEST_LOG_SIZE = 1000

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Page:
    """One page the server knows. `type` is "standard", "disambiguation" or "no-extract".

    `tone` is what the author of a shipped text meant it to convey (one of TONES); it is
    metadata for tests and docs and never appears in the served JSON.
    """

    extract: str
    type: str = "standard"
    description: str | None = None
    tone: str | None = None


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


def title_key(title: str) -> str:
    """Titles are compared as MediaWiki shows them: underscores are spaces."""
    return title.replace("_", " ").strip()


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
        pages, redirects = _read_folder(Path(folder))
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


# -- data folders ------------------------------------------------------------------------


class DataFolderError(ValueError):
    """A data folder the server cannot serve; the message names the file and what is wrong with it."""


_PAGE_KEYS = frozenset({"title", "type", "extract", "description", "tone"})
_REDIRECT_KEYS = frozenset({"title", "redirect"})


def title_file_name(title: str) -> str:
    """The file a title's entry lives in: "Tesla, Inc." -> "tesla-inc.json"."""
    return re.sub(r"[^a-z0-9]+", "-", title_key(title).lower()).strip("-") + ".json"


def load_pages(folder: Path) -> dict[str, Page]:
    """The pages of a data folder (`*.json`, one entry per file), keyed by title; redirects are left out.

    The whole folder is checked, redirects included, so a folder that loads here also serves.
    """
    return _read_folder(Path(folder))[0]


def load_redirects(folder: Path) -> dict[str, str]:
    """The redirects of a data folder: source title -> target title, every target a page of the folder."""
    return _read_folder(Path(folder))[1]


def _read_folder(folder: Path) -> tuple[dict[str, Page], dict[str, str]]:
    if not folder.is_dir():
        raise DataFolderError(f"{folder}: not a folder")
    files = sorted(folder.glob("*.json"))
    if not files:
        raise DataFolderError(f"{folder}: no *.json files")
    pages: dict[str, Page] = {}
    redirects: dict[str, str] = {}
    origin: dict[str, Path] = {}
    for path in files:
        entry = _read_entry(path)
        key = title_key(entry["title"])
        if key in origin:
            raise DataFolderError(f"{path}: title {key!r} is already in {origin[key].name}")
        origin[key] = path
        if "redirect" in entry:
            redirects[key] = title_key(entry["redirect"])
        else:
            pages[key] = _page_from(path, entry)
    for source, target in redirects.items():
        # MediaWiki does not follow a redirect to a redirect either; a chain here is a data mistake.
        if target not in pages:
            raise DataFolderError(f"{origin[source]}: redirect target {target!r} is not a page in {folder}")
    return pages, redirects


def _read_entry(path: Path) -> dict[str, Any]:
    try:
        entry = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise DataFolderError(f"{path}: cannot read it ({exc.strerror or exc})") from exc
    except ValueError as exc:
        # ValueError covers bad UTF-8 (UnicodeDecodeError) as well as bad JSON.
        raise DataFolderError(f"{path}: not UTF-8 JSON ({exc})") from exc
    if not isinstance(entry, dict):
        raise DataFolderError(f"{path}: expected a JSON object")
    if not _is_text(entry.get("title")):
        raise DataFolderError(f"{path}: 'title' must be a non-empty string")
    allowed = _REDIRECT_KEYS if "redirect" in entry else _PAGE_KEYS
    unknown = sorted(set(entry) - allowed)
    if unknown:
        kind = "a redirect" if "redirect" in entry else "a page"
        raise DataFolderError(f"{path}: unknown keys for {kind}: {', '.join(unknown)}")
    if "redirect" in entry and not _is_text(entry["redirect"]):
        raise DataFolderError(f"{path}: 'redirect' must be a non-empty title")
    return entry


def _page_from(path: Path, entry: dict[str, Any]) -> Page:
    page_type = entry.get("type", "standard")
    if page_type not in PAGE_TYPES:
        raise DataFolderError(f"{path}: 'type' must be one of {', '.join(PAGE_TYPES)}, got {page_type!r}")
    extract = entry.get("extract", "" if page_type == "no-extract" else None)
    if not isinstance(extract, str) or (page_type != "no-extract" and not extract.strip()):
        raise DataFolderError(f"{path}: 'extract' must be a non-empty string")
    description = entry.get("description")
    if description is not None and not _is_text(description):
        raise DataFolderError(f"{path}: 'description' must be a non-empty string when given")
    tone = entry.get("tone")
    if tone is not None and tone not in TONES:
        raise DataFolderError(f"{path}: 'tone' must be one of {', '.join(TONES)}, got {tone!r}")
    return Page(extract, page_type, description, tone)


def _is_text(value: object) -> bool:
    return isinstance(value, str) and bool(value.strip())


# -- command line ------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m watchlist_workstation.local.textserver",
        description="Serve a folder of page summaries on 127.0.0.1 as the Wikipedia REST summary API.",
    )
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: 0, any free port)")
    parser.add_argument(
        "--data", type=Path, default=DEFAULT_DATA, help="folder of *.json page entries (default: data/companies)"
    )
    args = parser.parse_args(argv)
    if not 0 <= args.port <= 65535:
        parser.error(f"--port must be 0-65535, got {args.port}")
    try:
        pages, redirects = _read_folder(args.data)
    except DataFolderError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 1
    server = TextServer(pages, redirects=redirects, port=args.port, request_log_size=_CLI_REQUEST_LOG_SIZE)
    try:
        server.start()
    except OSError as exc:
        sys.stderr.write(f"error: cannot listen on 127.0.0.1:{args.port}: {exc.strerror or exc}\n")
        return 1
    # SIGTERM (a supervisor stopping us) ends the server the same orderly way as Ctrl-C.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        # The URL alone on the first line, so a script can read it; then a line for people.
        sys.stderr.write(f"{server.base_url}\n")
        sys.stderr.write(f"serving {len(pages)} pages and {len(redirects)} redirects from {args.data}; Ctrl-C stops\n")
        sys.stderr.flush()
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
