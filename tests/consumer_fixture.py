"""The consumer's test rig: moto resources, the loopback Action API and the loopback Comprehend, wired the way the
template wires them, and records shaped like Lambda's SQS event carrying chunks the way the producer builds them."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

import boto3
import pytest

from lib import clients
from lib import table as watchlist
from lib.config import ConsumerConfig
from lib.consumer import process_batch
from lib.message import Company, WorkMessage
from lib.webclient import WebClient
from lib.wikipedia import Wikipedia
from tests.conftest import dataset_rows, object_keys, put_companies, table_item
from tests.iam_gate import RoleGate

REQUESTED_AT = "2026-11-27T12:00:00Z"


def sqs_record(body: str, *, run_id: str = "run-1", message_id: str | None = None, receives: int = 1) -> dict:
    """One record shaped like Lambda's SQS event (Lambda developer guide, the SQS example event)."""
    return {
        "messageId": message_id or str(uuid.uuid4()),
        "receiptHandle": "handle-" + str(uuid.uuid4()),
        "body": body,
        "attributes": {"ApproximateReceiveCount": str(receives), "SentTimestamp": "1795780800000"},
        "messageAttributes": {"correlation_id": {"stringValue": run_id, "dataType": "String"}},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:work",
        "awsRegion": "us-east-1",
    }


def redelivered(record: dict, receives: int = 2) -> dict:
    """The same record as SQS delivers it again: the same message, its receive count raised."""
    return dict(record, attributes={**record["attributes"], "ApproximateReceiveCount": str(receives)})


def chunk(companies: Iterable[Company | str], *, run_id: str = "run-1", **kw) -> dict:
    """A record carrying one chunk; plain names are companies never checked before."""
    entries = tuple(c if isinstance(c, Company) else Company(c) for c in companies)
    return sqs_record(WorkMessage(run_id, REQUESTED_AT, entries).body(), run_id=run_id, **kw)


@pytest.fixture
def pipeline(resources, wiki_server, comprehend_server, monkeypatch):
    """The consumer's world; `run` processes records the way the handler does."""
    env = {
        "TABLE_NAME": resources.table,
        "RESULTS_BUCKET": resources.bucket,
        "RESULTS_PREFIX": "results",
        "LANGUAGE_CODE": "en",
        "TEXT_SOURCE_URL": wiki_server.api_url,
        "USER_AGENT_CONTACT": "https://example.org/contact",
        "WIKI_REQUESTS_PER_MINUTE": "100000",
        "CONSUMER_MAX_CONCURRENCY": "2",
        "METRICS_NAMESPACE": "WatchlistSentiment",
        "STACK_NAME": "tests",
        "LABEL_CHANGE_TOPIC_ARN": "",  # as the template sets it with NotifyOnLabelChange=false
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    # IAM enforced (tests/iam_gate.py): the consumer's calls are judged as template.yml's ProducerAIRole.
    clients.reset()
    gate = RoleGate.from_template(resources)
    gate.install(*(clients.client(service) for service in ("dynamodb", "s3", "comprehend", "sns")))
    yield Pipeline(resources, wiki_server, comprehend_server, ConsumerConfig.from_env(), gate)
    # The cached clients carry the gate (and any hook a test hung on them): none outlives the test.
    clients.reset()


class Pipeline:
    def __init__(self, resources, wiki_server, comprehend_server, config: ConsumerConfig, gate: RoleGate) -> None:
        self.res, self.wiki, self.comprehend, self.config = resources, wiki_server, comprehend_server, config
        self.gate = gate
        self.client = WebClient(wiki_server.api_url, config.user_agent_contact, sleep=lambda s: None)
        self.source = Wikipedia(self.client)

    def run(self, records, config: ConsumerConfig | None = None, **kw):
        config = config or self.config
        # The consumer's role as the template grants it for this configuration (sns:Publish with a topic).
        self.gate.deploy(config.label_change_topic_arn or None)
        with self.gate.acting("ProducerAIRole"):
            return process_batch(records, config, self.source, **kw)

    def watch(self, pages: dict[str, str], **attributes: str) -> None:
        """Companies named after their pages, on the watchlist and on the wiki."""
        put_companies(self.res.table, pages, **attributes)
        for title, extract in pages.items():
            self.wiki.add_page(title, extract)

    def snapshot(self, names: Iterable[str]) -> list[Company]:
        """The companies as the producer's scan would carry them now."""
        ddb = boto3.client("dynamodb")
        items = [ddb.get_item(TableName=self.res.table, Key=watchlist.key(name))["Item"] for name in names]
        return [watchlist.company_of(item) for item in items]

    def objects(self) -> list[str]:
        return object_keys(self.res.bucket)

    def rows(self) -> list[dict[str, str]]:
        return dataset_rows(self.res.bucket)

    def item(self, name: str) -> dict | None:
        return table_item(self.res.table, name)

    def intro_requests(self) -> int:
        return sum(r.asks_intros for r in self.wiki.requests)
