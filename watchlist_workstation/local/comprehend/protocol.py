"""The wire side of local mode's Comprehend endpoint: requests in, answers out, as the real service words them.

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

`answer(target, body, scorer)` is the whole request -> response step, independent of HTTP; the
server (server.py) adds the HTTP plumbing and the counters.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from lib.limits import COMPREHEND_BATCH, COMPREHEND_MAX_DOC_BYTES
from lib.log import get_logger
from watchlist_workstation.cost.units import comprehend_units
from watchlist_workstation.local.comprehend.scoring import Scorer, score_text

log = get_logger("local.comprehend")

TARGET_PREFIX = "Comprehend_20171127"  # the service model's metadata.targetPrefix
CONTENT_TYPE = "application/x-amz-json-1.1"
# The languages Comprehend analyses sentiment in (the LanguageCode enum of both operations).
SENTIMENT_LANGUAGES = frozenset({"en", "es", "fr", "de", "it", "pt", "ar", "hi", "ja", "ko", "zh", "zh-TW"})
# Not a Comprehend limit: a cap on what this endpoint reads. The largest valid request (25 documents of
# 5,000 bytes, even if every byte were JSON-escaped to six) is under 1 MiB; 10 MiB leaves room for
# oversized documents, which must still reach the per-document check.
MAX_REQUEST_BYTES = 10 * 1024 * 1024
# Per-document ErrorCode for a document over COMPREHEND_MAX_DOC_BYTES in BatchDetectSentiment.
DOCUMENT_TOO_LARGE = "TEXT_SIZE_LIMIT_EXCEEDED"


class ComprehendError(Exception):
    """A whole-call error, answered as Comprehend would: HTTP status, error code, message."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


@dataclass(frozen=True)
class Outcome:
    """One answer: its status and body, and what the counters take from it."""

    status: int
    body: dict[str, Any]
    documents: int = 0
    scored: int = 0
    error_code: str | None = None
    document_errors: tuple[str, ...] = ()
    # Characters of the scored documents and the units Comprehend would bill for them (3-unit minimum each).
    characters: int = 0
    billed_units: int = 0


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


def _detect_sentiment(request: Mapping[str, Any], scorer: Scorer | None) -> Outcome:
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
    return Outcome(
        200,
        score_text(text, scorer),
        documents=1,
        scored=1,
        characters=len(text),
        billed_units=comprehend_units(len(text)),
    )


def _batch_detect_sentiment(request: Mapping[str, Any], scorer: Scorer | None) -> Outcome:
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
    return Outcome(
        200,
        {"ResultList": results, "ErrorList": errors},
        documents=len(texts),
        scored=len(results),
        document_errors=tuple(e["ErrorCode"] for e in errors),
        characters=sum(scored_lengths),
        billed_units=sum(comprehend_units(n) for n in scored_lengths),
    )


_OPERATIONS: dict[str, Callable[[Mapping[str, Any], Scorer | None], Outcome]] = {
    "DetectSentiment": _detect_sentiment,
    "BatchDetectSentiment": _batch_detect_sentiment,
}


def operation_name(target: str | None) -> str:
    """The operation X-Amz-Target names after Comprehend's prefix; the raw header for any other target."""
    prefix, dot, name = (target or "").partition(".")
    return name if dot and prefix == TARGET_PREFIX else (target or "")


def answer(target: str | None, body: bytes, scorer: Scorer | None) -> Outcome:
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
        return error_outcome(exc)
    except Exception:
        # The service boundary: an unexpected failure is the server's fault (500, retryable), never a
        # silent success; the traceback goes to the log for whoever runs local mode.
        log.exception("local comprehend failed to answer", extra={"operation": operation})
        return error_outcome(ComprehendError("InternalServerException", "An internal error occurred", status=500))


def error_outcome(exc: ComprehendError) -> Outcome:
    return Outcome(exc.status, {"__type": exc.code, "Message": exc.message}, error_code=exc.code)
