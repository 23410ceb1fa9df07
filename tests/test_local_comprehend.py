"""The local Comprehend endpoint, judged by a real boto3 client: botocore parses every answer."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, ParamValidationError

from lib import clients
from lib.limits import COMPREHEND_BATCH, COMPREHEND_MAX_DOC_BYTES
from lib.sentiment import Sentiment, detect_sentiments
from watchlist_workstation.local.comprehend import (
    SCORED_CHARS,
    CallRecord,
    ComprehendServer,
    sentiment_from_vader,
)

ROOT = Path(__file__).resolve().parent.parent

POSITIVE = "Acme Corp is an award-winning, innovative company loved by customers and praised for excellent products."
NEGATIVE = "Acme Corp faces a fraud scandal, massive layoffs and a lawsuit after a terrible, disastrous year."
NEUTRAL = "Acme Corp is an American technology company headquartered in Cupertino, California."
MIXED = "Employees love the culture and hate the pay."
LABELS = ("POSITIVE", "NEGATIVE", "NEUTRAL", "MIXED")


@pytest.fixture
def endpoint(aws_credentials):
    with ComprehendServer() as server:
        yield server


def make_client(url: str, **config):
    # One attempt: a retry must never hide a bad answer from the test.
    return boto3.client(
        "comprehend",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
        config=Config(retries={"total_max_attempts": 1}, **config),
    )


@pytest.fixture
def comprehend(endpoint):
    return make_client(endpoint.url)


def error_code(exc_info) -> str:
    return exc_info.value.response["Error"]["Code"]


def raw_post(url: str, target: str | None, body: bytes) -> tuple[int, dict[str, str], dict]:
    """A bare request: no SigV4 headers at all, to see the wire answer botocore would parse."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
    headers = {"Content-Type": "application/x-amz-json-1.1"}
    if target is not None:
        headers["X-Amz-Target"] = target
    try:
        connection.request("POST", "/", body=body, headers=headers)
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, json.loads(response.read())
    finally:
        connection.close()


# --- labels and scores -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "label"),
    [(POSITIVE, "POSITIVE"), (NEGATIVE, "NEGATIVE"), (NEUTRAL, "NEUTRAL"), (MIXED, "MIXED")],
    ids=["positive", "negative", "neutral", "mixed"],
)
def test_clear_texts_get_the_expected_label(comprehend, text, label):
    # GIVEN a text whose sentiment is plain WHEN it is scored in a batch THEN the label says so
    response = comprehend.batch_detect_sentiment(TextList=[text], LanguageCode="en")

    assert response["ErrorList"] == []
    assert response["ResultList"][0]["Sentiment"] == label


def test_scores_are_a_distribution_whose_argmax_is_the_label(comprehend):
    texts = [POSITIVE, NEGATIVE, NEUTRAL, MIXED, "   ", "The product is great but the service was terrible.", "ok"]

    response = comprehend.batch_detect_sentiment(TextList=texts, LanguageCode="en")

    assert [r["Index"] for r in response["ResultList"]] == list(range(len(texts)))
    for result in response["ResultList"]:
        scores = result["SentimentScore"]
        assert set(scores) == {"Positive", "Negative", "Neutral", "Mixed"}
        assert all(0.0 <= value <= 1.0 for value in scores.values())
        assert sum(scores.values()) == pytest.approx(1.0, abs=1e-9)
        assert scores[result["Sentiment"].capitalize()] == pytest.approx(max(scores.values()), abs=1e-9)


@pytest.mark.parametrize(
    ("compound", "label"),
    [(0.05, "POSITIVE"), (0.0499, "NEUTRAL"), (-0.0499, "NEUTRAL"), (-0.05, "NEGATIVE")],
)
def test_vader_threshold_decides_polar_versus_neutral(compound, label):
    # GIVEN VADER scores with one polarity only, right at VADER's +-0.05 rule
    vader = {"pos": 0.2 if compound > 0 else 0.0, "neg": 0.2 if compound < 0 else 0.0, "neu": 0.8, "compound": compound}

    answer = sentiment_from_vader(vader)

    assert answer["Sentiment"] == label
    assert sum(answer["SentimentScore"].values()) == pytest.approx(1.0, abs=1e-12)


def test_text_without_scorable_words_is_fully_neutral():
    answer = sentiment_from_vader({"pos": 0.0, "neg": 0.0, "neu": 0.0, "compound": 0.0})

    assert answer == {
        "Sentiment": "NEUTRAL",
        "SentimentScore": {"Positive": 0.0, "Negative": 0.0, "Neutral": 1.0, "Mixed": 0.0},
    }


def test_only_the_first_500_characters_are_scored(comprehend):
    # GIVEN a positive head of exactly 500 characters and a strongly negative tail
    head = ("Acme is a wonderful, admired and brilliant company. " * 20)[:SCORED_CHARS]
    tail = " It is a disgusting, horrible fraud; a terrible, hateful disaster. " * 5
    assert comprehend.detect_sentiment(Text=tail, LanguageCode="en")["Sentiment"] == "NEGATIVE"

    whole = comprehend.detect_sentiment(Text=head + tail, LanguageCode="en")
    head_only = comprehend.detect_sentiment(Text=head, LanguageCode="en")

    # THEN the tail changes nothing
    assert head_only["Sentiment"] == "POSITIVE"
    assert (whole["Sentiment"], whole["SentimentScore"]) == (head_only["Sentiment"], head_only["SentimentScore"])


def test_detect_sentiment_agrees_with_the_batch_answer(comprehend):
    batch = comprehend.batch_detect_sentiment(TextList=[NEUTRAL, MIXED], LanguageCode="en")["ResultList"][1]

    single = comprehend.detect_sentiment(Text=MIXED, LanguageCode="en")

    assert single["Sentiment"] == batch["Sentiment"]
    assert single["SentimentScore"] == batch["SentimentScore"]


def test_every_sentiment_language_is_answered_non_english_by_the_english_model(comprehend):
    response = comprehend.batch_detect_sentiment(TextList=["Acme es una empresa muy querida."], LanguageCode="es")

    assert response["ResultList"][0]["Sentiment"] in LABELS


# --- Comprehend's limits and errors ----------------------------------------------------------------


def test_25_documents_are_all_scored(comprehend):
    response = comprehend.batch_detect_sentiment(TextList=[POSITIVE] * COMPREHEND_BATCH, LanguageCode="en")

    assert [r["Index"] for r in response["ResultList"]] == list(range(COMPREHEND_BATCH))
    assert response["ErrorList"] == []


def test_26_documents_fail_the_call_with_batch_size_limit_exceeded(comprehend, endpoint):
    with pytest.raises(ClientError) as exc:
        comprehend.batch_detect_sentiment(TextList=[POSITIVE] * (COMPREHEND_BATCH + 1), LanguageCode="en")

    assert error_code(exc) == "BatchSizeLimitExceededException"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert endpoint.documents_scored == 0


def test_oversized_document_gets_an_error_entry_while_its_neighbours_are_scored(comprehend):
    # GIVEN a document one UTF-8 byte over the limit between documents within it ("é" is 2 bytes)
    at_limit = "é" * (COMPREHEND_MAX_DOC_BYTES // 2)
    over_limit = at_limit + "a"
    texts = [POSITIVE, over_limit, NEGATIVE, at_limit]

    response = comprehend.batch_detect_sentiment(TextList=texts, LanguageCode="en")

    assert [(r["Index"], r["Sentiment"]) for r in response["ResultList"]] == [
        (0, "POSITIVE"),
        (2, "NEGATIVE"),
        (3, "NEUTRAL"),
    ]
    [error] = response["ErrorList"]
    assert (error["Index"], error["ErrorCode"]) == (1, "TEXT_SIZE_LIMIT_EXCEEDED")
    assert "5001" in error["ErrorMessage"]


def test_oversized_text_fails_detect_sentiment_with_text_size_limit_exceeded(comprehend):
    with pytest.raises(ClientError) as exc:
        comprehend.detect_sentiment(Text="a" * (COMPREHEND_MAX_DOC_BYTES + 1), LanguageCode="en")

    assert error_code(exc) == "TextSizeLimitExceededException"


@pytest.mark.parametrize("operation", ["batch", "single"])
def test_unsupported_language_fails_the_call(comprehend, operation):
    with pytest.raises(ClientError) as exc:
        if operation == "batch":
            comprehend.batch_detect_sentiment(TextList=[POSITIVE], LanguageCode="ru")
        else:
            comprehend.detect_sentiment(Text=POSITIVE, LanguageCode="ru")

    assert error_code(exc) == "UnsupportedLanguageException"


def test_botocore_refuses_an_empty_document_before_sending(comprehend, endpoint):
    # botocore enforces the model's minimum length of 1 itself: nothing reaches the endpoint.
    with pytest.raises(ParamValidationError):
        comprehend.batch_detect_sentiment(TextList=[POSITIVE, ""], LanguageCode="en")

    assert endpoint.calls == {}


@pytest.mark.parametrize(
    "params",
    [
        {"TextList": [POSITIVE, ""], "LanguageCode": "en"},
        {"TextList": [], "LanguageCode": "en"},
        {"LanguageCode": "en"},
        {"TextList": [POSITIVE]},
    ],
    ids=["empty-document", "empty-list", "no-text-list", "no-language"],
)
def test_invalid_parameters_fail_with_invalid_request_when_the_client_does_not_validate(endpoint, params):
    unvalidated = make_client(endpoint.url, parameter_validation=False)

    with pytest.raises(ClientError) as exc:
        unvalidated.batch_detect_sentiment(**params)

    assert error_code(exc) == "InvalidRequestException"


def test_an_operation_not_served_fails_with_unknown_operation(comprehend):
    with pytest.raises(ClientError) as exc:
        comprehend.detect_entities(Text=POSITIVE, LanguageCode="en")

    assert error_code(exc) == "UnknownOperationException"


def test_error_type_header_and_body_agree_and_no_signature_is_needed(endpoint):
    body = json.dumps({"TextList": [POSITIVE], "LanguageCode": "xx"}).encode()

    status, headers, payload = raw_post(endpoint.url, "Comprehend_20171127.BatchDetectSentiment", body)

    assert status == 400
    assert headers["content-type"] == "application/x-amz-json-1.1"
    assert headers["x-amzn-errortype"] == payload["__type"] == "UnsupportedLanguageException"
    assert payload["Message"]
    assert headers["x-amzn-requestid"]


def test_unsigned_request_is_answered(endpoint):
    body = json.dumps({"Text": POSITIVE, "LanguageCode": "en"}).encode()

    status, headers, payload = raw_post(endpoint.url, "Comprehend_20171127.DetectSentiment", body)

    assert status == 200
    assert "x-amzn-errortype" not in headers
    assert payload["Sentiment"] == "POSITIVE"


@pytest.mark.parametrize(
    ("target", "body", "code"),
    [
        ("Comprehend_20171127.DetectSentiment", b"{not json", "SerializationException"),
        (None, b"{}", "UnknownOperationException"),
        ("DynamoDB_20120810.DetectSentiment", b"{}", "UnknownOperationException"),
    ],
    ids=["malformed-json", "no-target", "other-service"],
)
def test_requests_botocore_would_never_send_get_a_protocol_error(endpoint, target, body, code):
    status, _, payload = raw_post(endpoint.url, target, body)

    assert (status, payload["__type"]) == (400, code)


def test_a_scoring_failure_is_an_internal_server_error(aws_credentials):
    def broken(text):
        raise RuntimeError("model exploded")

    with ComprehendServer(scorer=broken) as server:
        with pytest.raises(ClientError) as exc:
            make_client(server.url).detect_sentiment(Text=POSITIVE, LanguageCode="en")

    assert error_code(exc) == "InternalServerException"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500


# --- server behaviour ------------------------------------------------------------------------------


def test_counters_count_calls_documents_and_errors(comprehend, endpoint):
    comprehend.batch_detect_sentiment(TextList=[POSITIVE, NEGATIVE, "a" * 5001], LanguageCode="en")
    comprehend.detect_sentiment(Text=NEUTRAL, LanguageCode="en")
    with pytest.raises(ClientError):
        comprehend.batch_detect_sentiment(TextList=[POSITIVE], LanguageCode="ru")

    assert endpoint.stats() == {
        "calls": {"BatchDetectSentiment": 2, "DetectSentiment": 1},
        "documents_scored": 3,
        # Only scored documents count; each of the three is under 300 characters, so bills the 3-unit minimum.
        "characters": len(POSITIVE) + len(NEGATIVE) + len(NEUTRAL),
        "billed_units": 9,
        "errors": {"TEXT_SIZE_LIMIT_EXCEEDED": 1, "UnsupportedLanguageException": 1},
    }
    endpoint.reset_counters()
    assert endpoint.stats() == {"calls": {}, "documents_scored": 0, "characters": 0, "billed_units": 0, "errors": {}}


def test_call_hook_sees_every_answered_call(aws_credentials):
    records: list[CallRecord] = []
    with ComprehendServer(on_call=records.append) as server:
        client = make_client(server.url)
        client.batch_detect_sentiment(TextList=[POSITIVE, "a" * 5001], LanguageCode="en")
        with pytest.raises(ClientError):
            client.detect_sentiment(Text=POSITIVE, LanguageCode="ru")

    first, second = records
    assert (first.operation, first.status, first.documents, first.scored) == ("BatchDetectSentiment", 200, 2, 1)
    assert first.document_errors == ("TEXT_SIZE_LIMIT_EXCEEDED",)
    assert (second.operation, second.status) == ("DetectSentiment", 400)
    assert second.error_code == "UnsupportedLanguageException"
    assert first.seconds >= 0


def test_concurrent_callers_are_all_answered_and_counted(comprehend, endpoint):
    # GIVEN 8 threads sharing one client (boto3 clients are thread-safe), 20 calls each
    def caller(_: int) -> list[int]:
        texts = [POSITIVE, NEGATIVE, MIXED]
        return [
            len(comprehend.batch_detect_sentiment(TextList=texts, LanguageCode="en")["ResultList"]) for _ in range(20)
        ]

    with ThreadPoolExecutor(max_workers=8) as pool:
        answered = [n for batch in pool.map(caller, range(8)) for n in batch]

    assert answered == [3] * 160
    assert endpoint.calls == {"BatchDetectSentiment": 160}
    assert endpoint.documents_scored == 480


def test_pipeline_reaches_it_through_the_endpoint_variable(endpoint, monkeypatch):
    # GIVEN local mode's wiring: AWS_ENDPOINT_URL_COMPREHEND and the project's own client getter
    monkeypatch.setenv("AWS_ENDPOINT_URL_COMPREHEND", endpoint.url)
    clients.reset()
    texts = [POSITIVE, NEGATIVE, NEUTRAL] * 20

    answers = detect_sentiments(texts, "en")

    # THEN 60 texts take 3 calls of at most 25, and every one comes back scored
    assert endpoint.calls == {"BatchDetectSentiment": 3}
    assert endpoint.documents_scored == 60
    assert all(isinstance(a, Sentiment) for a in answers)
    assert [a.label for a in answers[:3]] == ["POSITIVE", "NEGATIVE", "NEUTRAL"]


def test_stop_closes_kept_alive_connections(aws_credentials):
    # GIVEN a client whose pooled keep-alive connection is open to a running server
    server = ComprehendServer().start()
    client = make_client(server.url)
    client.detect_sentiment(Text=POSITIVE, LanguageCode="en")

    server.stop()

    # THEN the old connection is not served by a lingering handler thread
    with pytest.raises(BotoCoreError):
        client.detect_sentiment(Text=POSITIVE, LanguageCode="en")
    assert server.calls == {"DetectSentiment": 1}


def test_refuses_to_listen_beyond_loopback():
    with pytest.raises(ValueError, match="loopback"):
        ComprehendServer(host="192.0.2.10")


def test_url_needs_a_running_server():
    with pytest.raises(RuntimeError):
        _ = ComprehendServer().url


def test_command_line_serves_until_interrupted(aws_credentials):
    # GIVEN the CLI on a free port WHEN it is called and then sent Ctrl-C (SIGINT)
    process = subprocess.Popen(
        [sys.executable, "-m", "watchlist_workstation.local.comprehend", "--port", "0"],
        cwd=ROOT,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        line = process.stderr.readline()
        url = line.split()[-1]
        assert url.startswith("http://127.0.0.1:")
        answer = make_client(url).detect_sentiment(Text=POSITIVE, LanguageCode="en")
        process.send_signal(signal.SIGINT)
        _, rest = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    # THEN it answered, exits 0 and prints its counters on stderr
    assert answer["Sentiment"] == "POSITIVE"
    assert process.returncode == 0
    assert json.loads(rest.strip().splitlines()[-1])["calls"] == {"DetectSentiment": 1}


def test_counters_are_consistent_under_concurrent_reads(endpoint, comprehend):
    # Readers snapshot while writers count: every snapshot is internally consistent.
    stop = threading.Event()
    snapshots: list[dict] = []

    def reader() -> None:
        # The wait yields the GIL between snapshots, so the writers are not starved.
        while not stop.wait(0.001):
            snapshots.append(endpoint.stats())

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for _ in range(20):
            comprehend.batch_detect_sentiment(TextList=[POSITIVE, NEGATIVE], LanguageCode="en")
    finally:
        stop.set()
        thread.join()

    assert snapshots
    assert all(s["documents_scored"] == 2 * s["calls"].get("BatchDetectSentiment", 0) for s in snapshots)
    assert endpoint.stats()["documents_scored"] == 40


def test_a_failing_call_hook_does_not_cost_the_caller_its_answer(aws_credentials):
    def broken_hook(record: CallRecord) -> None:
        raise RuntimeError("observer bug")

    with ComprehendServer(on_call=broken_hook) as server:
        answer = make_client(server.url).detect_sentiment(Text=POSITIVE, LanguageCode="en")

        assert answer["Sentiment"] == "POSITIVE"
        assert server.calls == {"DetectSentiment": 1}
