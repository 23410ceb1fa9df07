"""Requests per company per tick, counted with botocore event hooks on the pipeline's own clients.

Runs the real producer and consumer code in this process against moto, the loopback Action API and
a loopback Comprehend, for N companies (default 1,000), twice: the first tick analyses every page,
the second finds nothing changed. The harness plays the Lambda service (receive up to the template's
batch size, shape the records, delete what succeeded) with its own clients, so only the pipeline's
calls are counted. DynamoDB read units are the producer's scan (billed by the size of every item it
reads, half a unit per 4 KB eventually consistent) plus any BatchGetItem of redelivered chunks.

    .venv/bin/python -m bench.api_calls [--companies 1000] [--json-out PATH]

Targets (the "Polite at scale" issue), on the second tick: Wikipedia requests per company <= 0.03,
SQS requests per company <= 0.02, DynamoDB read units per company <= 0.1, consumer invocations per
tick <= 3 at 1,000 companies, and no Comprehend call.
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
from lib.producer import queue_tick
from lib.webclient import WebClient
from lib.wikipedia import Wikipedia
from tests.comprehend_fixture import FakeComprehend, serve_fake_comprehend
from watchlist_workstation.cost.units import item_bytes, scan_read_units
from watchlist_workstation.deploy.template import load_template
from watchlist_workstation.local.textserver import TextServer

ROOT = Path(__file__).resolve().parents[1]

TARGETS = {"wikipedia": 0.03, "sqs": 0.02, "dynamodb_read_units": 0.1}
MAX_INVOCATIONS_AT_1000 = 3
BUDGET = 100_000  # requests a minute: the bench measures counts, not the pace
TICKS = ("2026-11-27T12:00:00Z", "2026-11-27T12:05:00Z")


def template_default(name: str) -> int:
    return int(load_template(ROOT / "template.yml")["Parameters"][name]["Default"])


def counting(counts: collections.Counter) -> None:
    def hook(event_name: str, **_):
        _, service, operation = event_name.split(".", 2)
        counts[f"{service}:{operation}"] += 1

    def batch_get_keys(params, **_):
        # A strongly consistent read of an item under 4 KB is one read unit (DynamoDB read capacity units).
        counts["dynamodb:BatchGetItem keys"] += sum(len(r["Keys"]) for r in params["RequestItems"].values())

    for service in ("dynamodb", "sqs", "s3", "comprehend"):
        clients.client(service).meta.events.register("before-call", hook)
    clients.client("dynamodb").meta.events.register("before-parameter-build.dynamodb.BatchGetItem", batch_get_keys)


def drain_like_lambda(
    queue_url: str, batch_size: int, config: ConsumerConfig, wiki: Wikipedia, counts: collections.Counter
) -> tuple[int, int]:
    """Receive up to batch_size records at a time, run the consumer, delete what did not fail; the mapping's own
    SQS requests are billed too, so they are counted under "mapping sqs:...". Returns (invocations, failed records)."""
    sqs = boto3.client("sqs")
    sqs.meta.events.register(
        "before-call", lambda event_name, **_: counts.update([f"mapping sqs:{event_name.split('.', 2)[2]}"])
    )
    invocations = failures = 0
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
            return invocations, failures
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
        invocations += 1
        failed = set(process_batch(records, config, wiki).failures)
        failures += len(failed)
        done = [m for m in messages if m["MessageId"] not in failed]
        for start in range(0, len(done), 10):
            entries = [
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done[start : start + 10])
            ]
            sqs.delete_message_batch(QueueUrl=queue_url, Entries=entries)


def table_read_units(table: str) -> float:
    """What one scan of the whole table costs in read units (the harness's own client reads the items)."""
    items = [
        item
        for page in boto3.client("dynamodb").get_paginator("scan").paginate(TableName=table)
        for item in page["Items"]
    ]
    return scan_read_units(sum(item_bytes(item) for item in items))


def run_ticks(n: int, batch_size: int) -> list[dict]:
    words = ["record growth", "a lawsuit and layoffs", "an ordinary year"]
    pages = {f"Company {i:05d}": f"Company {i:05d} had {words[i % 3]}." for i in range(n)}
    wiki_server = TextServer(pages).start()
    runs = []
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
        queue_url = sqs.create_queue(QueueName="work", Attributes={"VisibilityTimeout": "720"})["QueueUrl"]
        s3.create_bucket(Bucket="results-bench")
        producer = ProducerConfig("watchlist", queue_url, BUDGET, 300)
        consumer = ConsumerConfig(
            "watchlist", "results-bench", "results", "en", wiki_server.api_url, "bench@example.invalid", BUDGET, 2
        )
        wiki = Wikipedia(WebClient(wiki_server.api_url, "bench@example.invalid"))
        for number, tick_time in enumerate(TICKS, start=1):
            counts: collections.Counter = collections.Counter()
            counting(counts)
            read_units = table_read_units("watchlist")  # what the producer's scan is about to be billed
            wiki_server.reset_counts()
            started = time.perf_counter()
            summary = queue_tick(producer, f"run-{number}", tick_time)
            invocations, failures = drain_like_lambda(queue_url, batch_size, consumer, wiki, counts)
            runs.append(
                {
                    "seconds": time.perf_counter() - started,
                    "queued": summary["queued"],
                    "calls": dict(counts),
                    "wikipedia_requests": wiki_server.requests_served,
                    "intro_requests": sum(r.asks_intros for r in wiki_server.requests),
                    "peak_in_flight": wiki_server.peak_in_flight,
                    "invocations": invocations,
                    "failures": failures,
                    "dynamodb_read_units": read_units + counts.pop("dynamodb:BatchGetItem keys", 0),
                }
            )
            clients.reset()
    wiki_server.stop()
    return runs


def per_company(run: dict, n: int) -> dict[str, float]:
    sqs = sum(v for k, v in run["calls"].items() if k.startswith(("sqs:", "mapping sqs:")))
    comprehend = sum(v for k, v in run["calls"].items() if k.startswith("comprehend:"))
    return {
        "wikipedia": run["wikipedia_requests"] / n,
        "sqs": sqs / n,
        "dynamodb_read_units": run["dynamodb_read_units"] / n,
        "comprehend": comprehend / n,
        "aws": sum(run["calls"].values()) / n,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--companies", type=int, default=1000)
    parser.add_argument("--json-out", type=Path, help="also write the figures and checks as JSON to this file")
    args = parser.parse_args()
    n = args.companies
    batch_size = template_default("ConsumerBatchSize")
    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1")  # noqa: S106 - moto only
    runs = run_ticks(n, batch_size)
    first, second = runs
    print(f"Requests per company per tick, {n:,} companies, consumer batch size {batch_size} (template default)")
    operations = sorted(set(first["calls"]) | set(second["calls"]))
    print(f"{'service:operation':<32}{'tick 1':>10}{'per co.':>10}{'tick 2':>10}{'per co.':>10}")
    for op in operations:
        a, b = first["calls"].get(op, 0), second["calls"].get(op, 0)
        print(f"{op:<32}{a:>10}{a / n:>10.3f}{b:>10}{b / n:>10.3f}")
    for label, key in (("Wikipedia requests", "wikipedia_requests"), ("  of them intro requests", "intro_requests")):
        print(f"{label:<32}{first[key]:>10}{first[key] / n:>10.3f}{second[key]:>10}{second[key] / n:>10.3f}")
    a, b = first["dynamodb_read_units"], second["dynamodb_read_units"]
    print(f"{'DynamoDB read units':<32}{a:>10.1f}{a / n:>10.3f}{b:>10.1f}{b / n:>10.3f}")
    for label, run in (("tick 1", first), ("tick 2 (nothing changed)", second)):
        print(
            f"{label}: {run['seconds']:.2f} s, {run['invocations']} consumer invocations, "
            f"peak {run['peak_in_flight']} Wikipedia requests in flight, failed records {run['failures']}"
        )
    figures = {"tick1": per_company(first, n), "tick2": per_company(second, n)}
    checks = {
        **{
            f"tick 2: {key} <= {target} per company": figures["tick2"][key] <= target for key, target in TARGETS.items()
        },
        "tick 2: 0 intro requests and 0 Comprehend calls": second["intro_requests"] == 0
        and figures["tick2"]["comprehend"] == 0,
        "tick 1: every company analysed, one PutObject per invocation": first["calls"].get("s3:PutObject")
        == first["invocations"],
        "no failed records": first["failures"] == second["failures"] == 0,
    }
    if n <= 1000:
        checks[f"consumer invocations per tick <= {MAX_INVOCATIONS_AT_1000}"] = all(
            run["invocations"] <= MAX_INVOCATIONS_AT_1000 for run in runs
        )
    for name, passed in checks.items():
        print(f"{'PASS' if passed else 'FAIL'}  {name}")
    ok = all(checks.values())
    if args.json_out:
        # What bench/report.py reads: the per-company figures beside the targets and verdicts they were held to.
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        result = {
            "companies": n,
            "batch_size": batch_size,
            "ticks": runs,
            "per_company": figures,
            "targets_per_company": TARGETS,
            "checks": checks,
            "passed": ok,
        }
        args.json_out.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
