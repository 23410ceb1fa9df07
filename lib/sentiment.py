"""Sentiment through Amazon Comprehend's BatchDetectSentiment."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from lib.clients import client
from lib.limits import COMPREHEND_BATCH, COMPREHEND_MAX_DOC_BYTES, COMPREHEND_SCORED_CHARS
from lib.log import get_logger

log = get_logger("sentiment")


@dataclass(frozen=True)
class Sentiment:
    label: str  # POSITIVE | NEGATIVE | NEUTRAL | MIXED
    positive: float
    negative: float
    neutral: float
    mixed: float


@dataclass(frozen=True)
class SentimentError:
    code: str
    message: str


def truncate_utf8(text: str, max_bytes: int = COMPREHEND_MAX_DOC_BYTES) -> str:
    """Cut `text` to at most `max_bytes` UTF-8 bytes without splitting a character."""
    encoded = text.encode("utf-8")
    if len(encoded) <= max_bytes:
        return text
    # errors="ignore" drops only the partial multi-byte sequence left at the cut.
    return encoded[:max_bytes].decode("utf-8", errors="ignore")


def scored_part(text: str) -> str:
    """What is sent to Comprehend: the first COMPREHEND_SCORED_CHARS characters, the part it scores
    (lib/limits.py says why), and never more than its per-document byte limit."""
    return truncate_utf8(text[:COMPREHEND_SCORED_CHARS])


def _from_result(item: dict[str, Any]) -> Sentiment:
    score = item["SentimentScore"]
    return Sentiment(
        label=item["Sentiment"],
        positive=float(score["Positive"]),
        negative=float(score["Negative"]),
        neutral=float(score["Neutral"]),
        mixed=float(score["Mixed"]),
    )


def detect_sentiments(
    texts: Sequence[str], language_code: str, comprehend: Any = None
) -> list[Sentiment | SentimentError]:
    """One answer per text, in order: a Sentiment, or a SentimentError for that document.

    Texts go to Comprehend in chunks of 25, each cut to the 500 characters it scores. Throttling is
    retried with backoff by the client's retry mode; a chunk that still fails gives
    each of its documents a SentimentError instead of failing the other chunks.
    """
    comprehend = comprehend or client("comprehend")
    answers: list[Sentiment | SentimentError | None] = [None] * len(texts)
    batch: list[int] = []
    for index, text in enumerate(texts):
        if not text.strip():
            answers[index] = SentimentError("EMPTY_TEXT", "text is empty")
        else:
            batch.append(index)
    for start in range(0, len(batch), COMPREHEND_BATCH):
        chunk = batch[start : start + COMPREHEND_BATCH]
        try:
            response = comprehend.batch_detect_sentiment(
                TextList=[scored_part(texts[i]) for i in chunk], LanguageCode=language_code
            )
        except ClientError as exc:
            error = exc.response.get("Error", {})
            failure = SentimentError(error.get("Code", "ClientError"), error.get("Message", str(exc)))
            log.error("comprehend batch failed", extra={"error_code": failure.code, "documents": len(chunk)})
            for i in chunk:
                answers[i] = failure
            continue
        except BotoCoreError as exc:
            failure = SentimentError(type(exc).__name__, str(exc))
            log.error("comprehend batch failed", extra={"error_code": failure.code, "documents": len(chunk)})
            for i in chunk:
                answers[i] = failure
            continue
        for item in response.get("ResultList", []):
            answers[chunk[item["Index"]]] = _from_result(item)
        for item in response.get("ErrorList", []):
            answers[chunk[item["Index"]]] = SentimentError(
                item.get("ErrorCode", "UNKNOWN"), item.get("ErrorMessage", "")
            )
    # A document Comprehend neither scored nor reported must not pass as analysed.
    return [a if a is not None else SentimentError("MISSING_RESULT", "no result for document") for a in answers]
