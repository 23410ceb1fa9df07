"""A loopback stand-in for Amazon Comprehend's sentiment API, for tests.

It speaks Comprehend's JSON protocol (X-Amz-Target, application/x-amz-json-1.1), so
a real boto3 client pointed at it parses its answers with botocore's own parser.
Scores come from a tiny word list: good enough to tell positive from negative
text in a test, and deterministic. Faults are scripted per call.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

_POSITIVE = {"growth", "award", "loved", "record", "best", "success", "strong", "innovative", "leading", "popular"}
_NEGATIVE = {"lawsuit", "fraud", "loss", "scandal", "bankrupt", "fine", "decline", "failure", "worst", "layoffs"}
_LANGUAGES = {"en", "es", "fr", "de", "it", "pt", "ar", "hi", "ja", "ko", "zh", "zh-TW"}
MAX_DOCS = 25
MAX_BYTES = 5000


def score(text: str) -> dict:
    words = [w.strip(".,;:!?()\"'").lower() for w in text.split()]
    pos = sum(w in _POSITIVE for w in words)
    neg = sum(w in _NEGATIVE for w in words)
    if pos and neg:
        label, scores = "MIXED", (0.2, 0.2, 0.1, 0.5)
    elif pos:
        label, scores = "POSITIVE", (0.85, 0.05, 0.08, 0.02)
    elif neg:
        label, scores = "NEGATIVE", (0.05, 0.85, 0.08, 0.02)
    else:
        label, scores = "NEUTRAL", (0.05, 0.05, 0.88, 0.02)
    return {
        "Sentiment": label,
        "SentimentScore": dict(zip(("Positive", "Negative", "Neutral", "Mixed"), scores, strict=True)),
    }


@dataclass
class FakeComprehend:
    url: str = ""
    calls: list[dict] = field(default_factory=list)
    # Each entry answers one call instead of the normal behaviour: (http status, error type).
    faults: deque = field(default_factory=deque)
    # Document texts (exact) that get a per-document ErrorList entry with this code.
    document_errors: dict[str, str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def operations(self) -> list[str]:
        return [c["operation"] for c in self.calls]


def _handler_for(state: FakeComprehend):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # keep test output clean
            pass

        def _reply(self, status: int, payload: dict) -> None:
            body = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/x-amz-json-1.1")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _error(self, status: int, error_type: str, message: str) -> None:
            self._reply(status, {"__type": error_type, "Message": message})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            request = json.loads(self.rfile.read(length) or b"{}")
            operation = self.headers.get("X-Amz-Target", "").rpartition(".")[2]
            with state.lock:
                state.calls.append({"operation": operation, "request": request})
                fault = state.faults.popleft() if state.faults else None
            if fault:
                self._error(fault[0], fault[1], "injected by the test")
                return
            language = request.get("LanguageCode")
            if language not in _LANGUAGES:
                self._error(400, "UnsupportedLanguageException", f"language {language} is not supported")
                return
            if operation == "DetectSentiment":
                text = request.get("Text", "")
                if len(text.encode()) > MAX_BYTES:
                    self._error(400, "TextSizeLimitExceededException", "text too large")
                    return
                self._reply(200, score(text))
            elif operation == "BatchDetectSentiment":
                texts = request.get("TextList", [])
                if len(texts) > MAX_DOCS:
                    self._error(400, "BatchSizeLimitExceededException", f"{len(texts)} documents; the limit is 25")
                    return
                results, errors = [], []
                for index, text in enumerate(texts):
                    if text in state.document_errors:
                        errors.append({"Index": index, "ErrorCode": state.document_errors[text], "ErrorMessage": "x"})
                    elif len(text.encode()) > MAX_BYTES:
                        errors.append({"Index": index, "ErrorCode": "TEXT_SIZE_LIMIT_EXCEEDED", "ErrorMessage": "x"})
                    else:
                        results.append({"Index": index, **score(text)})
                self._reply(200, {"ResultList": results, "ErrorList": errors})
            else:
                self._error(400, "InvalidRequestException", f"unknown operation {operation}")

    return Handler


@contextlib.contextmanager
def serve_fake_comprehend(state: FakeComprehend) -> Iterator[str]:
    """Serve `state` on a free loopback port until the block ends; yields (and sets state.url to) its URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(state))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield state.url
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def comprehend_server(monkeypatch):
    """A running fake Comprehend; AWS_ENDPOINT_URL_COMPREHEND points every new client at it."""
    state = FakeComprehend()
    with serve_fake_comprehend(state) as url:
        monkeypatch.setenv("AWS_ENDPOINT_URL_COMPREHEND", url)
        yield state
