"""API calls per company for one pipeline run, counted with a botocore event hook.

Runs the real producer and consumer code against moto (in-process), a loopback
Wikipedia and a loopback Comprehend, for N companies (default 100), twice: the
second run sees unchanged texts and must not call Comprehend. The harness plays
the Lambda service (receive, shape records, delete what succeeded) with its own
clients, so only the pipeline's own calls are counted.

    .venv/bin/python -m bench.api_calls [--companies 100] [--json-out PATH]
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import sys
import time
from pathlib import Path

# The pipeline's JSON log lines would bury the table; set before lib configures its logger.
os.environ.setdefault("LOG_LEVEL", "WARNING")

import boto3
from moto import mock_aws

from lib import clients
from lib.config import ConsumerConfig, ProducerConfig
from lib.consumer import process_batch
from lib.producer import queue_companies
from lib.textsource import TextSource
from tests.comprehend_fixture import FakeComprehend, serve_fake_comprehend
from tests.wiki_fixture import WikiServer
from watchlist_workstation.deploy.template import load_template

ROOT = Path(__file__).resolve().parents[1]

TARGETS = {"sqs:SendMessageBatch": 0.1, "comprehend:*": 0.1}


def template_default(name: str) -> int:
    return int(load_template(ROOT / "template.yml")["Parameters"][name]["Default"])


def counting(counts: collections.Counter):
    def hook(event_name: str, **_):
        _, service, operation = event_name.split(".", 2)
        counts[f"{service}:{operation}"] += 1

    for service in ("dynamodb", "sqs", "s3", "comprehend"):
        clients.client(service).meta.events.register("before-call", hook)


def drain_like_lambda(queue_url: str, batch_size: int, config: ConsumerConfig, source: TextSource) -> int:
    """Receive up to batch_size records at a time, run the consumer, delete what did not fail."""
    sqs = boto3.client("sqs")  # the harness's own client: not counted
    failures = 0
    while True:
        messages = []
        while len(messages) < batch_size:
            got = sqs.receive_message(
                QueueUrl=queue_url,
                MaxNumberOfMessages=min(10, batch_size - len(messages)),
                MessageAttributeNames=["All"],
                AttributeNames=["All"],
            ).get("Messages", [])
            if not got:
                break
            messages.extend(got)
        if not messages:
            return failures
        records = [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m.get("Attributes", {}),
                "messageAttributes": {
                    k: {"stringValue": v.get("StringValue"), "dataType": v["DataType"]}
                    for k, v in m.get("MessageAttributes", {}).items()
                },
                "md5OfBody": m["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:work",
                "awsRegion": "us-east-1",
            }
            for m in messages
        ]
        failed = set(process_batch(records, config, source).failures)
        failures += len(failed)
        done = [m for m in messages if m["MessageId"] not in failed]
        for start in range(0, len(done), 10):
            sqs.delete_message_batch(
                QueueUrl=queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done[start : start + 10])
                ],
            )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--companies", type=int, default=100)
    parser.add_argument("--json-out", type=Path, help="also write the figures and checks as JSON to this file")
    args = parser.parse_args()
    n = args.companies
    batch_size = template_default("ConsumerBatchSize")
    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1")  # noqa: S106 - moto only
    words = ["record growth", "a lawsuit and layoffs", "an ordinary year"]
    pages = {f"Company {i:04d}": f"Company {i:04d} had {words[i % 3]}." for i in range(n)}
    wiki = WikiServer(pages).start()
    with serve_fake_comprehend(FakeComprehend()) as comprehend_url, mock_aws():
        os.environ["AWS_ENDPOINT_URL_COMPREHEND"] = comprehend_url
        clients.reset()
        ddb, sqs, s3 = boto3.client("dynamodb"), boto3.client("sqs"), boto3.client("s3")
        ddb.create_table(
            TableName="watchlist",
            KeySchema=[{"AttributeName": "name", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "name", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        for name in pages:
            ddb.put_item(TableName="watchlist", Item={"name": {"S": name}})
        queue_url = sqs.create_queue(QueueName="work", Attributes={"VisibilityTimeout": "360"})["QueueUrl"]
        s3.create_bucket(Bucket="results-bench")
        producer = ProducerConfig("watchlist", queue_url)
        consumer = ConsumerConfig("watchlist", "results-bench", "results", "en", wiki.base_url, "bench")
        source = TextSource(wiki.base_url, "bench")
        runs = []
        for run in (1, 2):
            counts: collections.Counter = collections.Counter()
            counting(counts)
            started = time.perf_counter()
            queue_companies(producer, f"run-{run}", "2026-11-27T12:00:00Z")
            failures = drain_like_lambda(queue_url, batch_size, consumer, source)
            runs.append((counts, time.perf_counter() - started, failures))
            clients.reset()
    wiki.stop()

    ok = True
    print(f"API calls per company, {n} companies, consumer batch size {batch_size} (template default)")
    operations = sorted(set().union(*(c for c, _, _ in runs)))
    print(f"{'service:operation':<32}{'run 1':>10}{'per co.':>10}{'run 2':>10}{'per co.':>10}")
    for op in operations:
        a, b = runs[0][0][op], runs[1][0][op]
        print(f"{op:<32}{a:>10}{a / n:>10.3f}{b:>10}{b / n:>10.3f}")
    for label, (counts, seconds, failures) in zip(("run 1", "run 2 (unchanged texts)"), runs, strict=True):
        comprehend = sum(v for k, v in counts.items() if k.startswith("comprehend:"))
        puts = counts["s3:PutObject"]
        batches = -(-n // batch_size)
        print(
            f"{label}: {seconds:.2f} s, failed records {failures}, SendMessageBatch/company "
            f"{counts['sqs:SendMessageBatch'] / n:.3f}, Comprehend/company {comprehend / n:.3f}, "
            f"PutObject {puts} for {batches} batches"
        )
    first, second = runs[0][0], runs[1][0]
    figures = {
        "sqs:SendMessageBatch": first["sqs:SendMessageBatch"] / n,
        "comprehend:*": sum(v for k, v in first.items() if k.startswith("comprehend:")) / n,
        "comprehend:* (run 2)": sum(v for k, v in second.items() if k.startswith("comprehend:")) / n,
    }
    checks = {
        **{
            f"{label} <= {TARGETS[key]} per company": figures[key] <= TARGETS[key]
            for key, label in (("sqs:SendMessageBatch", "SQS sends"), ("comprehend:*", "Comprehend calls"))
        },
        "one S3 PUT per batch": first["s3:PutObject"] == -(-n // batch_size),
        "second run: 0 Comprehend calls": not any(k.startswith("comprehend:") for k in second),
        "no failed records": all(f == 0 for _, _, f in runs),
    }
    for name, passed in checks.items():
        print(f"{'PASS' if passed else 'FAIL'}  {name}")
        ok &= passed
    print(json.dumps({"companies": n, "run1": dict(first), "run2": dict(second)}, sort_keys=True))
    if args.json_out:
        # What bench/report.py reads: the per-company figures beside the targets and verdicts they were held to.
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        result = {
            "companies": n,
            "batch_size": batch_size,
            "run1": dict(first),
            "run2": dict(second),
            "per_company": figures,
            "targets_per_company": TARGETS,
            "checks": checks,
            "passed": ok,
        }
        args.json_out.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
