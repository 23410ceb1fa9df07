"""Small pieces of lib: names, UTF-8 cuts, result keys and CSV, sentiment batching, logs, clients."""

from __future__ import annotations

import csv
import io
import json
import logging

import boto3
import pytest

from lib import clients
from lib.config import ConfigError, ConsumerConfig
from lib.limits import COMPREHEND_MAX_DOC_BYTES, MAX_NAME_CHARS
from lib.log import correlation, get_logger
from lib.names import InvalidName, validate_name
from lib.results import COLUMNS, ResultRow, batch_key, to_csv
from lib.sentiment import Sentiment, SentimentError, detect_sentiments, truncate_utf8


def row(name="Netflix", sha="a" * 64, run="run-1", text="text") -> ResultRow:
    return ResultRow(
        name, "POSITIVE", 0.9, 0.05, 0.04, 0.01, text, sha, "https://x/wiki/N", "2026-11-27T12:00:05Z", run
    )


# --- names -----------------------------------------------------------------------------------------


def test_name_whitespace_is_normalised():
    assert validate_name("  Meta   Platforms\t") == "Meta Platforms"


@pytest.mark.parametrize(
    "bad", ["", "   ", "x" * (MAX_NAME_CHARS + 1), "Acme\x00", "Acme\nCorp", "Ac\u200eme", 42, None]
)
def test_invalid_names_are_refused(bad):
    with pytest.raises(InvalidName):
        validate_name(bad)


# --- UTF-8 cut ---------------------------------------------------------------------------------------


def test_truncate_keeps_short_text_whole():
    assert truncate_utf8("héllo", 100) == "héllo"


def test_truncate_never_splits_a_character():
    # GIVEN 3,000 two-byte characters (6,000 bytes)
    text = "é" * 3000
    # WHEN cut to Comprehend's limit THEN the result is valid UTF-8 at most 5,000 bytes, and as long as possible
    cut = truncate_utf8(text)
    assert len(cut.encode("utf-8")) == COMPREHEND_MAX_DOC_BYTES
    cut_odd = truncate_utf8("a" + text)  # the limit now falls inside a character
    assert len(cut_odd.encode("utf-8")) == COMPREHEND_MAX_DOC_BYTES - 1
    assert cut_odd.endswith("é")


# --- result keys and CSV -------------------------------------------------------------------------------


def test_batch_key_is_deterministic_and_order_free():
    a, b = row("A"), row("B")
    assert batch_key("results", [a, b], "2026-11-27") == batch_key("results", [b, a], "2026-11-27")


def test_batch_key_differs_for_other_content_and_is_safe():
    key = batch_key("results", [row("Procter & Gamble [x]")], "2026-11-27")
    assert key != batch_key("results", [row("Other")], "2026-11-27")
    assert key.startswith("results/dt=2026-11-27/part-") and key.endswith(".jsonl")
    assert all(ch.isalnum() or ch in "/=-._" for ch in key)


def test_csv_has_the_documented_columns_and_quotes_text():
    text = 'Line one, with comma\nline "two"'
    parsed = list(csv.DictReader(io.StringIO(to_csv([row(text=text)]).decode())))
    assert tuple(parsed[0]) == COLUMNS
    assert parsed[0]["text"] == text and parsed[0]["positive"] == "0.9"


# --- sentiment -----------------------------------------------------------------------------------------


def test_sentiment_goes_in_chunks_of_25(aws_credentials, comprehend_server):
    # GIVEN 60 texts
    texts = [f"record growth number {i}" for i in range(60)]
    # WHEN their sentiment is detected
    answers = detect_sentiments(texts, "en", boto3.client("comprehend"))
    # THEN three batch calls of 25, 25 and 10 documents answered all 60 in order
    assert [len(c["request"]["TextList"]) for c in comprehend_server.calls] == [25, 25, 10]
    assert all(isinstance(a, Sentiment) and a.label == "POSITIVE" for a in answers)


def test_long_texts_are_cut_before_sending(aws_credentials, comprehend_server):
    detect_sentiments(["ü" * 4000], "en", boto3.client("comprehend"))
    (call,) = comprehend_server.calls
    assert len(call["request"]["TextList"][0].encode()) <= COMPREHEND_MAX_DOC_BYTES


def test_document_error_is_reported_for_that_document_only(aws_credentials, comprehend_server):
    comprehend_server.document_errors["broken text"] = "INTERNAL_SERVER_ERROR"
    answers = detect_sentiments(["fraud and loss", "broken text", "plain words"], "en", boto3.client("comprehend"))
    assert answers[0] == Sentiment("NEGATIVE", 0.05, 0.85, 0.08, 0.02)
    assert answers[1] == SentimentError("INTERNAL_SERVER_ERROR", "x")
    assert isinstance(answers[2], Sentiment) and answers[2].label == "NEUTRAL"


def test_throttling_is_retried_by_the_client(aws_credentials, comprehend_server):
    # GIVEN Comprehend throttles twice, then answers
    comprehend_server.faults.extend([(400, "ThrottlingException"), (400, "ThrottlingException")])
    # WHEN sentiment is asked through the pipeline's own client
    answers = detect_sentiments(["best success"], "en", clients.client("comprehend"))
    # THEN the third call succeeded
    assert comprehend_server.operations() == ["BatchDetectSentiment"] * 3
    assert isinstance(answers[0], Sentiment)


def test_failed_chunk_does_not_fail_the_others(aws_credentials, comprehend_server):
    comprehend_server.faults.append((400, "InvalidRequestException"))
    answers = detect_sentiments([f"text {i}" for i in range(30)], "en", boto3.client("comprehend"))
    assert all(isinstance(a, SentimentError) and a.code == "InvalidRequestException" for a in answers[:25])
    assert all(isinstance(a, Sentiment) for a in answers[25:])


def test_empty_text_is_not_sent(aws_credentials, comprehend_server):
    answers = detect_sentiments(["   "], "en", boto3.client("comprehend"))
    assert answers == [SentimentError("EMPTY_TEXT", "text is empty")] and comprehend_server.calls == []


# --- config, logs, clients ----------------------------------------------------------------------------------


def test_consumer_config_names_the_missing_variable():
    env = {"TABLE_NAME": "t", "RESULTS_BUCKET": "b", "RESULTS_PREFIX": "results", "LANGUAGE_CODE": "en"}
    with pytest.raises(ConfigError, match="TEXT_SOURCE_URL"):
        ConsumerConfig.from_env(env)


def test_log_lines_are_json_with_correlation_id(capsys):
    log = get_logger("test")
    with correlation("corr-42"):
        log.info("hello", extra={"company": "Netflix"})
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["message"] == "hello" and line["company"] == "Netflix" and line["correlation_id"] == "corr-42"
    assert line["level"] == "INFO" and "timestamp" in line


def test_pipeline_logger_leaves_the_root_logger_alone():
    get_logger()
    assert logging.getLogger("pipeline").propagate is False
    assert not any(
        getattr(h, "formatter", None).__class__.__name__ == "JsonFormatter" for h in logging.getLogger().handlers
    )


def test_clients_honour_service_endpoint_variables(aws_credentials, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL_COMPREHEND", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:8")
    clients.reset()
    assert clients.client("comprehend").meta.endpoint_url == "http://127.0.0.1:9"
    assert clients.client("s3").meta.endpoint_url == "http://127.0.0.1:8"


def test_clients_are_cached(aws_credentials):
    assert clients.client("sqs") is clients.client("sqs")
