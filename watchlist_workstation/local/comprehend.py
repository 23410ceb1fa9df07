"""A loopback Amazon Comprehend sentiment endpoint backed by a real local model (VADER).

Local mode points `AWS_ENDPOINT_URL_COMPREHEND` here, so the handlers' unchanged boto3
calls reach it (docs/design.md, "Local mode": moto's Comprehend has no BatchDetectSentiment).

    with ComprehendServer() as server:
        os.environ["AWS_ENDPOINT_URL_COMPREHEND"] = server.url
        ...
        print(server.stats())  # {"calls": {...}, "documents_scored": n, "characters": c, "billed_units": u, ...}

    python -m watchlist_workstation.local.comprehend --port 4599   # serves until Ctrl-C, URL on stderr

Protocol: what botocore's "json" protocol (awsJson1.1) sends and parses. POST with
`X-Amz-Target: Comprehend_20171127.<Operation>` and an `application/x-amz-json-1.1` JSON
body; success is 200 with a JSON body. An error is 400 (500 for InternalServerException)
with body `{"__type": code, "Message": text}` and the same code in an `x-amzn-ErrorType`
header: botocore's JSONParser takes the code from `__type` only (its RestJSONParser would
prefer the header), and real AWS endpoints send both, so both carry the same value.
SigV4 headers are accepted and not verified. Every response has an `x-amzn-RequestId`.

Operations: DetectSentiment and BatchDetectSentiment. Anything else, including the other
Comprehend operations, gets `UnknownOperationException` (400), the code AWS JSON-protocol
services return for an X-Amz-Target they do not serve.

Validation, with the error codes declared on these operations in botocore's service model
(`botocore/data/comprehend/2017-11-27/service-2.json`; both operations declare
InvalidRequestException, TextSizeLimitExceededException, UnsupportedLanguageException,
InternalServerException, and the batch one BatchSizeLimitExceededException):

- a missing parameter, a wrong type, an empty TextList, an empty string document:
  `InvalidRequestException` for the whole call. The model (and the API reference) put
  "minimum length 1" on Text, on each TextList member and on TextList itself; that is a
  request constraint, so it fails the request, not one document. botocore enforces the
  same minimums client-side (ParamValidationError, nothing sent) unless parameter
  validation is switched off. A whitespace-only document is valid and scores NEUTRAL.
- more than 25 documents (COMPREHEND_BATCH): `BatchSizeLimitExceededException`.
- a language outside the sentiment languages: `UnsupportedLanguageException`.
- a document over 5,000 UTF-8 bytes (COMPREHEND_MAX_DOC_BYTES): in DetectSentiment
  `TextSizeLimitExceededException`; in BatchDetectSentiment an ErrorList entry with
  ErrorCode `TEXT_SIZE_LIMIT_EXCEEDED` while the other documents are scored. The
  per-document code is not documented (the model types BatchItemError.ErrorCode as a
  plain string); this is the code the project's test fake (tests/comprehend_fixture.py)
  uses, kept the same so the two stand-ins agree.
- a request body over 10 MiB is not read: `TextSizeLimitExceededException`, whole call.
- an unreadable JSON body: `SerializationException`, which AWS JSON-protocol services
  return for a body they cannot deserialize.
- an unexpected failure while scoring: `InternalServerException`, 500 (botocore's
  standard retry mode retries it, as it would the real service's).

Scoring. Comprehend scores only the first 500 characters of a document for sentiment
(Comprehend developer guide, "Guidelines and quotas"); so does this endpoint: the size
limit is checked on the whole document, then `text[:500]` (500 code points) is scored.
VADER (vaderSentiment 3.3.2, lexicon inside the package, offline) returns `pos`, `neg`,
`neu` (the shares of the text carrying each polarity, summing to 1) and `compound` (the
net valence, normalised to [-1, 1]). They map to Comprehend's four scores like this:

- Mixed: evidence that the text carries both polarities: the balance between them
  (weaker share / stronger share) times how much of the text the weaker one covers
  (saturating at 15%): `mixed = (min(pos, neg) / max(pos, neg)) * min(1, min(pos, neg) / 0.15)`.
  "love the culture and hate the pay" is Mixed; a warm text with one "decline" is not.
- The rest, `1 - mixed`, is split between the compound's side (Positive when compound
  > 0, Negative when < 0) and Neutral by `share = |compound| ** k`, a curve through
  (0, 0), (0.05, 0.5) and (1, 1) (k = ln 0.5 / ln 0.05 ~ 0.231): `polar = (1 - mixed) * share`.
  So the polar score passes Neutral exactly at VADER's documented threshold |compound| =
  0.05, and clearly-valenced text gets Comprehend-like confidences (compound 0.9 -> 0.98).
- The opposite polarity scores 0: compound is already net of it, and its presence is
  what Mixed measures.
- Neutral is the remainder, `1 - mixed - polar`, clamped at 0, so the four sum to 1.
- The label is the argmax: MIXED when mixed beats both other scores; else POSITIVE or
  NEGATIVE when |compound| >= 0.05 (VADER's inclusive threshold, which also settles the
  exact tie at 0.05); else NEUTRAL. Text with no scorable tokens is NEUTRAL with 1.0.

VADER is English-only. Every language Comprehend supports for sentiment is accepted and
scored by the same model, so non-English text mostly comes out NEUTRAL (its words are
not in the lexicon); that is a limit of local mode, not of the pipeline.

One SentimentIntensityAnalyzer serves every request: after __init__ its polarity_scores
only reads the instance's lexicon and emoji dicts and keeps its per-call state in locals
(vaderSentiment 3.3.2 source), so concurrent calls need no lock; only its creation does.
"""

from __future__ import annotations

import argparse
import json
import math
import signal
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any

from lib.limits import COMPREHEND_BATCH, COMPREHEND_MAX_DOC_BYTES
from lib.log import get_logger
from watchlist_workstation.cost.units import comprehend_units
from watchlist_workstation.local.loopback import LoopbackHandler, LoopbackServer

log = get_logger("local.comprehend")

TARGET_PREFIX = "Comprehend_20171127"  # the service model's metadata.targetPrefix
CONTENT_TYPE = "application/x-amz-json-1.1"
# The languages Comprehend analyses sentiment in (the LanguageCode enum of both operations).
SENTIMENT_LANGUAGES = frozenset({"en", "es", "fr", "de", "it", "pt", "ar", "hi", "ja", "ko", "zh", "zh-TW"})
# Comprehend scores the first 500 characters for sentiment (lib/limits.py says the same in a comment;
# it has no constant for it yet).
SCORED_CHARS = 500
# Not a Comprehend limit: a cap on what this endpoint reads. The largest valid request (25 documents of
# 5,000 bytes, even if every byte were JSON-escaped to six) is under 1 MiB; 10 MiB leaves room for
# oversized documents, which must still reach the per-document check.
MAX_REQUEST_BYTES = 10 * 1024 * 1024
# Per-document ErrorCode for a document over COMPREHEND_MAX_DOC_BYTES in BatchDetectSentiment.
DOCUMENT_TOO_LARGE = "TEXT_SIZE_LIMIT_EXCEEDED"

# VADER's own rule: compound >= 0.05 positive, <= -0.05 negative, otherwise neutral.
POLARITY_THRESHOLD = 0.05
# The share of the text the weaker polarity must cover for Mixed evidence to be full.
MIXED_SATURATION = 0.15
# share = |compound| ** k passes through (threshold, 0.5): the polar score ties Neutral there.
_SHARE_EXPONENT = math.log(0.5) / math.log(POLARITY_THRESHOLD)

# An idle keep-alive connection is closed after this long, so a client that never hangs up
# cannot hold a handler thread forever; botocore reopens one transparently.
_IDLE_SECONDS = 60.0

Scorer = Callable[[str], Mapping[str, float]]


class ComprehendError(Exception):
    """A whole-call error, answered as Comprehend would: HTTP status, error code, message."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


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


@dataclass(frozen=True)
class _Outcome:
    status: int
    body: dict[str, Any]
    documents: int = 0
    scored: int = 0
    error_code: str | None = None
    document_errors: tuple[str, ...] = ()
    # Characters of the scored documents and the units Comprehend would bill for them (3-unit minimum each).
    characters: int = 0
    billed_units: int = 0


# --- scoring ---------------------------------------------------------------------------------------

_analyzer: Any = None
_analyzer_lock = threading.Lock()


def _vader_scores(text: str) -> Mapping[str, float]:
    """VADER's polarity scores from the one shared analyzer, created on first use (never at import)."""
    global _analyzer
    if _analyzer is None:
        with _analyzer_lock:
            if _analyzer is None:
                # Imported here: the package is a workstation dependency (requirements-dev.txt) and loading
                # its lexicon takes a moment that importing this module should not pay.
                from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

                _analyzer = SentimentIntensityAnalyzer()
    return _analyzer.polarity_scores(text)


def sentiment_from_vader(vader: Mapping[str, float]) -> dict[str, Any]:
    """Comprehend's {Sentiment, SentimentScore} from VADER's {pos, neg, neu, compound} (module docstring)."""
    pos, neg, compound = float(vader["pos"]), float(vader["neg"]), float(vader["compound"])
    weaker, stronger = min(pos, neg), max(pos, neg)
    mixed = (weaker / stronger) * min(1.0, weaker / MIXED_SATURATION) if stronger > 0 else 0.0
    polar = (1.0 - mixed) * abs(compound) ** _SHARE_EXPONENT
    positive = polar if compound > 0 else 0.0
    negative = polar if compound < 0 else 0.0
    # The remainder, so the four sum to 1; the clamp absorbs a rounding step below zero.
    neutral = max(0.0, 1.0 - mixed - positive - negative)
    if mixed > max(polar, neutral):
        label = "MIXED"
    elif abs(compound) >= POLARITY_THRESHOLD:
        label = "POSITIVE" if compound > 0 else "NEGATIVE"
    else:
        label = "NEUTRAL"
    return {
        "Sentiment": label,
        "SentimentScore": {"Positive": positive, "Negative": negative, "Neutral": neutral, "Mixed": mixed},
    }


def score_text(text: str, scorer: Scorer | None = None) -> dict[str, Any]:
    """Comprehend's sentiment answer for one document: only its first 500 characters count."""
    return sentiment_from_vader((scorer or _vader_scores)(text[:SCORED_CHARS]))


# --- the API ---------------------------------------------------------------------------------------


def _language(request: Mapping[str, Any]) -> str:
    language = request.get("LanguageCode")
    if not isinstance(language, str):
        raise ComprehendError("InvalidRequestException", "LanguageCode is required and must be a string")
    return language


def _check_language(language: str) -> None:
    if language not in SENTIMENT_LANGUAGES:
        raise ComprehendError(
            "UnsupportedLanguageException",
            f"Sentiment analysis does not support the language {language!r}; "
            f"supported: {', '.join(sorted(SENTIMENT_LANGUAGES))}",
        )


def _detect_sentiment(request: Mapping[str, Any], scorer: Scorer | None) -> _Outcome:
    text = request.get("Text")
    if not isinstance(text, str) or not text:
        raise ComprehendError("InvalidRequestException", "Text is required and must be a string of length >= 1")
    language = _language(request)
    _check_language(language)
    size = len(text.encode("utf-8"))
    if size > COMPREHEND_MAX_DOC_BYTES:
        raise ComprehendError(
            "TextSizeLimitExceededException",
            f"Input text size exceeds limit. Max length of request text allowed is {COMPREHEND_MAX_DOC_BYTES} "
            f"bytes while in this request the text size is {size} bytes",
        )
    return _Outcome(
        200,
        score_text(text, scorer),
        documents=1,
        scored=1,
        characters=len(text),
        billed_units=comprehend_units(len(text)),
    )


def _batch_detect_sentiment(request: Mapping[str, Any], scorer: Scorer | None) -> _Outcome:
    texts = request.get("TextList")
    if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
        raise ComprehendError("InvalidRequestException", "TextList is required and must be a list of strings")
    if not texts:
        raise ComprehendError("InvalidRequestException", "TextList must contain at least 1 document")
    empty = [i for i, t in enumerate(texts) if not t]
    if empty:
        raise ComprehendError("InvalidRequestException", f"TextList members must have length >= 1 (index {empty[0]})")
    if len(texts) > COMPREHEND_BATCH:
        raise ComprehendError(
            "BatchSizeLimitExceededException",
            f"The number of documents in the request ({len(texts)}) exceeds the limit of {COMPREHEND_BATCH}",
        )
    language = _language(request)
    _check_language(language)
    results, errors, scored_lengths = [], [], []
    for index, text in enumerate(texts):
        size = len(text.encode("utf-8"))
        if size > COMPREHEND_MAX_DOC_BYTES:
            errors.append(
                {
                    "Index": index,
                    "ErrorCode": DOCUMENT_TOO_LARGE,
                    "ErrorMessage": f"Document size {size} bytes exceeds the limit of {COMPREHEND_MAX_DOC_BYTES} bytes",
                }
            )
        else:
            results.append({"Index": index, **score_text(text, scorer)})
            scored_lengths.append(len(text))
    return _Outcome(
        200,
        {"ResultList": results, "ErrorList": errors},
        documents=len(texts),
        scored=len(results),
        document_errors=tuple(e["ErrorCode"] for e in errors),
        characters=sum(scored_lengths),
        billed_units=sum(comprehend_units(n) for n in scored_lengths),
    )


_OPERATIONS: dict[str, Callable[[Mapping[str, Any], Scorer | None], _Outcome]] = {
    "DetectSentiment": _detect_sentiment,
    "BatchDetectSentiment": _batch_detect_sentiment,
}


def _operation_name(target: str | None) -> str:
    """The operation X-Amz-Target names after Comprehend's prefix; the raw header for any other target."""
    prefix, dot, name = (target or "").partition(".")
    return name if dot and prefix == TARGET_PREFIX else (target or "")


def _answer(target: str | None, body: bytes, scorer: Scorer | None) -> _Outcome:
    """The whole request -> response step, independent of HTTP plumbing."""
    prefix, _, operation = (target or "").partition(".")
    handler = _OPERATIONS.get(operation) if prefix == TARGET_PREFIX else None
    try:
        if handler is None:
            raise ComprehendError("UnknownOperationException", f"Operation {target!r} is not served by this endpoint")
        try:
            # botocore always sends at least "{}"; an empty body is read the same way.
            request = json.loads(body.decode("utf-8")) if body.strip() else {}
        except (UnicodeDecodeError, ValueError) as exc:
            raise ComprehendError("SerializationException", f"The request body is not valid JSON: {exc}") from exc
        if not isinstance(request, dict):
            raise ComprehendError("SerializationException", "The request body must be a JSON object")
        return handler(request, scorer)
    except ComprehendError as exc:
        return _error(exc)
    except Exception:
        # The service boundary: an unexpected failure is the server's fault (500, retryable), never a
        # silent success; the traceback goes to the log for whoever runs local mode.
        log.exception("local comprehend failed to answer", extra={"operation": operation})
        return _error(ComprehendError("InternalServerException", "An internal error occurred", status=500))


def _error(exc: ComprehendError) -> _Outcome:
    return _Outcome(exc.status, {"__type": exc.code, "Message": exc.message}, error_code=exc.code)


# --- the server ------------------------------------------------------------------------------------


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

    # Lifecycle (start, stop, url and the context manager come from LoopbackServer).

    def start(self) -> ComprehendServer:
        if self._scorer is None:
            _vader_scores("")  # load the lexicon now, not inside the first timed call
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

    def _answer(self, target: str | None, body: bytes) -> _Outcome:
        return _answer(target, body, self._scorer)

    def _record(self, target: str | None, outcome: _Outcome, seconds: float) -> None:
        operation = _operation_name(target)
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
            outcome = _error(
                ComprehendError(
                    "TextSizeLimitExceededException",
                    f"The request body exceeds this endpoint's limit of {MAX_REQUEST_BYTES} bytes",
                )
            )
        else:
            outcome = self.server.endpoint._answer(target, body)
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

    def _send(self, outcome: _Outcome) -> None:
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


# --- command line ----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m watchlist_workstation.local.comprehend",
        description="Serve a local Comprehend sentiment endpoint (VADER) until Ctrl-C.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to bind (default 0: any free port)")
    parser.add_argument("--log-calls", action="store_true", help="one line per call on stderr")
    args = parser.parse_args(argv)

    def log_call(record: CallRecord) -> None:
        detail = record.error_code or f"{record.scored}/{record.documents} scored"
        sys.stderr.write(f"{record.operation or '-'} {record.status} {detail} {record.seconds * 1000:.1f} ms\n")

    try:
        server = ComprehendServer(args.host, args.port, on_call=log_call if args.log_calls else None)
    except ValueError as exc:
        parser.error(str(exc))  # a non-loopback host is a usage error: exit 2
    try:
        server.start()
    except OSError as exc:
        sys.stderr.write(f"error: cannot serve on {args.host}:{args.port}: {exc}\n")
        return 1
    stop = threading.Event()
    # SIGTERM (a supervisor stopping us) ends the loop the same way Ctrl-C does.
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    sys.stderr.write(f"local Comprehend listening on {server.url}\n")
    sys.stderr.write(f"  export AWS_ENDPOINT_URL_COMPREHEND={server.url}\n")
    sys.stderr.flush()
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    sys.stderr.write(json.dumps(server.stats()) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
