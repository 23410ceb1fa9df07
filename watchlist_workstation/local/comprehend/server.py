"""Local mode's Comprehend endpoint on a loopback port: HTTP plumbing, call counters and the on_call hook.

What it answers is protocol.py's; how it scores, scoring.py's. See the package docstring.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any

from lib.log import get_logger
from watchlist_workstation.local.comprehend.protocol import (
    CONTENT_TYPE,
    MAX_REQUEST_BYTES,
    ComprehendError,
    Outcome,
    answer,
    error_outcome,
    operation_name,
)
from watchlist_workstation.local.comprehend.scoring import Scorer, vader_scores
from watchlist_workstation.local.iam.errors import INVALID_TOKEN_MESSAGE
from watchlist_workstation.local.iam.requests import credential_scope
from watchlist_workstation.local.loopback import LoopbackHandler, LoopbackServer

log = get_logger("local.comprehend")

# An idle keep-alive connection is closed after this long, so a client that never hangs up
# cannot hold a handler thread forever; botocore reopens one transparently.
_IDLE_SECONDS = 60.0
# (access key id, action) -> None when allowed, else AWS's access denied message.
Authorize = Callable[[str, str], str | None]


@dataclass(frozen=True)
class CallRecord:
    """One answered call, as the `on_call` hook sees it."""

    operation: str  # what X-Amz-Target named after the prefix ("" when it named nothing)
    status: int
    documents: int  # documents in the request (0 when it could not be read)
    scored: int  # documents that got a result
    error_code: str | None  # the whole call's error code, if it failed
    document_errors: tuple[str, ...]  # ErrorList codes, in Index order
    seconds: float  # from the request headers being parsed to the answer being ready (sending excluded)


class ComprehendServer(LoopbackServer):
    """Comprehend's sentiment API on a loopback port, scored by VADER; thread-safe call counters.

    `on_call`, if given, receives a CallRecord for each call on the handler thread, just
    before the response is sent (so a caller holding its answer knows the hook has seen
    it); it must be thread-safe and quick. `scorer` replaces VADER (text -> {pos, neg, neu,
    compound}); None means the shared VADER analyzer.
    """

    thread_name = "local-comprehend"

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        on_call: Callable[[CallRecord], None] | None = None,
        scorer: Scorer | None = None,
    ) -> None:
        super().__init__(host, port)
        self._on_call = on_call
        self._scorer = scorer
        self._lock = threading.Lock()
        self._calls: Counter[str] = Counter()
        self._errors: Counter[str] = Counter()
        self._documents_scored = 0
        self._characters = self._billed_units = 0
        # Set by the local stack once the emulated account serves (docs/local-mode.md, "IAM in local mode"):
        # every call is then authorised for its signer's key, as comprehend:<operation> on "*".
        self.authorize: Authorize | None = None

    # Lifecycle (start, stop, url and the context manager come from LoopbackServer).

    def start(self) -> ComprehendServer:
        if self._scorer is None:
            vader_scores("")  # load the lexicon now, not inside the first timed call
        return super().start()

    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        return _Handler

    def handler_failed(self, request: Any, client_address: Any) -> None:
        log.exception("local comprehend handler failed", extra={"client": client_address[0]})

    # Counters.

    @property
    def calls(self) -> dict[str, int]:
        """Calls received per operation (as X-Amz-Target named it), failed ones included."""
        with self._lock:
            return dict(self._calls)

    @property
    def documents_scored(self) -> int:
        with self._lock:
            return self._documents_scored

    @property
    def errors(self) -> dict[str, int]:
        """Whole-call error codes and per-document ErrorList codes, with how often each was answered."""
        with self._lock:
            return dict(self._errors)

    def stats(self) -> dict[str, Any]:
        """One consistent snapshot of every counter, JSON-ready."""
        with self._lock:
            return {
                "calls": dict(self._calls),
                "documents_scored": self._documents_scored,
                "characters": self._characters,
                "billed_units": self._billed_units,
                "errors": dict(self._errors),
            }

    def reset_counters(self) -> None:
        with self._lock:
            self._calls.clear()
            self._errors.clear()
            self._documents_scored = 0
            self._characters = self._billed_units = 0

    # Called by the handler.

    def _answer(self, target: str | None, body: bytes, authorization: str = "") -> Outcome:
        authorize = self.authorize
        if authorize is not None:
            scope = credential_scope(authorization, {})
            # Comprehend's Detect* actions have no resource type: IAM authorises them on "*"
            # (Service Authorization Reference, Amazon Comprehend).
            denied = authorize(scope.access_key_id if scope else "", f"comprehend:{operation_name(target)}")
            if denied is not None:
                # AccessDeniedException, 400 (botocore's comprehend model; Comprehend API Reference, Common Errors);
                # a key nobody issued is UnrecognizedClientException (docs/local-mode.md, "IAM in local mode").
                code = "UnrecognizedClientException" if denied == INVALID_TOKEN_MESSAGE else "AccessDeniedException"
                return error_outcome(ComprehendError(code, denied))
        return answer(target, body, self._scorer)

    def _record(self, target: str | None, outcome: Outcome, seconds: float) -> None:
        operation = operation_name(target)
        with self._lock:
            self._calls[operation] += 1
            self._documents_scored += outcome.scored
            self._characters += outcome.characters
            self._billed_units += outcome.billed_units
            if outcome.error_code:
                self._errors[outcome.error_code] += 1
            self._errors.update(outcome.document_errors)
        if self._on_call is None:
            return
        record = CallRecord(
            operation=operation,
            status=outcome.status,
            documents=outcome.documents,
            scored=outcome.scored,
            error_code=outcome.error_code,
            document_errors=outcome.document_errors,
            seconds=seconds,
        )
        try:
            self._on_call(record)
        except Exception:
            # The hook only observes: its failure is logged, and the caller still gets its answer.
            log.exception("local comprehend on_call hook failed", extra={"operation": operation})


class _Handler(LoopbackHandler):
    timeout = _IDLE_SECONDS

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("local comprehend http", extra={"detail": format % args})

    def do_POST(self) -> None:
        started = time.perf_counter()
        target = self.headers.get("X-Amz-Target")
        body = self._read_body()
        if body is None:
            outcome = error_outcome(
                ComprehendError(
                    "TextSizeLimitExceededException",
                    f"The request body exceeds this endpoint's limit of {MAX_REQUEST_BYTES} bytes",
                )
            )
        else:
            outcome = self.server.endpoint._answer(target, body, self.headers.get("Authorization", ""))
        # Counted before the answer leaves: a caller that has its answer then reads counters that include it.
        self.server.endpoint._record(target, outcome, time.perf_counter() - started)
        self._send(outcome)

    def _read_body(self) -> bytes | None:
        """The request body, or None when it is too large to read."""
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            # No usable length (botocore always sends one): the body's end is unknown, so the
            # connection cannot carry another request.
            self.close_connection = True
            return b""
        if length < 0 or length > MAX_REQUEST_BYTES:
            # Unread bytes would be taken for the next request: hang up after answering.
            self.close_connection = True
            return None
        return self.rfile.read(length)

    def _send(self, outcome: Outcome) -> None:
        payload = json.dumps(outcome.body, separators=(",", ":")).encode("utf-8")
        self.send_response(outcome.status)
        self.send_header("Content-Type", CONTENT_TYPE)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        if outcome.error_code:
            self.send_header("x-amzn-ErrorType", outcome.error_code)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(payload)
