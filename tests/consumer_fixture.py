"""What the consumer's tests share: a record shaped like Lambda's SQS event, and the `pipeline` fixture, the
consumer wired to moto's resources, the loopback Wikipedia and the fake Comprehend as the template wires it."""

from __future__ import annotations

import csv
import io
import json
import uuid

import boto3
import pytest

from lib.config import ConsumerConfig
from lib.consumer import process_batch
from lib.textsource import TextSource
from tests.conftest import put_companies

REQUESTED_AT = "2026-11-27T12:00:00Z"


def sqs_record(name, run_id="run-1", message_id=None, body=None) -> dict:
    """One record shaped like Lambda's SQS event."""
    body = body if body is not None else json.dumps({"name": name, "run_id": run_id, "requested_at": REQUESTED_AT})
    return {
        "messageId": message_id or str(uuid.uuid4()),
        "receiptHandle": "handle-" + str(uuid.uuid4()),
        "body": body,
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1795780800000"},
        "messageAttributes": {"correlation_id": {"stringValue": run_id, "dataType": "String"}},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:work",
        "awsRegion": "us-east-1",
    }


@pytest.fixture
def pipeline(resources, wiki_server, comprehend_server, monkeypatch):
    """Moto resources, the fake Wikipedia and the fake Comprehend, wired the way the template wires them."""
    env = {
        "TABLE_NAME": resources.table,
        "RESULTS_BUCKET": resources.bucket,
        "RESULTS_PREFIX": "results",
        "LANGUAGE_CODE": "en",
        "TEXT_SOURCE_URL": wiki_server.base_url,
        "USER_AGENT_CONTACT": "https://example.org/contact",
        "LABEL_CHANGE_TOPIC_ARN": "",  # as the template sets it with NotifyOnLabelChange=false
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)

    class Pipeline:
        config = ConsumerConfig.from_env()
        source = TextSource(wiki_server.base_url, "https://example.org/contact", sleep=lambda s: None)
        wiki = wiki_server
        comprehend = comprehend_server
        res = resources

        def run(self, records, **kw):
            return process_batch(records, self.config, self.source, **kw)

        def objects(self):
            s3 = boto3.client("s3")
            return [o["Key"] for o in s3.list_objects_v2(Bucket=resources.bucket).get("Contents", [])]

        def rows(self):
            s3 = boto3.client("s3")
            out = []
            for key in self.objects():
                body = s3.get_object(Bucket=resources.bucket, Key=key)["Body"].read().decode()
                out.extend(csv.DictReader(io.StringIO(body)))
            return out

        def item(self, name):
            return boto3.client("dynamodb").get_item(TableName=resources.table, Key={"name": {"S": name}}).get("Item")

    return Pipeline()


def watch(pipeline, pages: dict[str, str]) -> None:
    put_companies(pipeline.res.table, pages)
    for title, extract in pages.items():
        pipeline.wiki.add_page(title, extract)
