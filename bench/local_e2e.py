"""Local mode end to end: companies per second, peak memory, and the prototype's call pattern beside ours.

Everything runs on this machine, offline, the way `./cfcli.py local run --once` runs it: the
stack created from template.yml in an embedded moto server, the executor playing Lambda (real
worker processes running the real handlers), the Comprehend-compatible endpoint and the local
text source. The bench writes its own synthetic company pages (the shipped data/ has 33).

    .venv/bin/python -m bench.local_e2e [--companies 10000] [--small 1000] [--json] [--json-out PATH]

Phases, each timed from the schedule tick to a drained queue:
  1. `--small` companies through the pipeline (the 1,000-company figure);
  2. those are removed and `--companies` fresh ones added and run (the 10,000-company figure);
  3. the prototype's call pattern over the same `--small` companies as phase 1, against the same
     endpoints: per company one GetQueueUrl + SendMessage, then per record a new Comprehend
     client and one DetectSentiment, one DeleteMessage, and one PutObject per batch, with
     `MaximumConcurrency` consumer threads (so both designs get the same parallelism).
API calls are counted where they arrive (the moto server, the Comprehend endpoint, the text
source), so the workers' calls count too. Peak RSS is the sum over this process and every
worker process, sampled every 0.2 s. Every company must be accounted for: a results row, the
dead-letter queue, or an error recorded in the table.

Targets (the local-mode issue): >= 100 companies/s sustained at 10,000, peak RSS <= 1 GiB,
nothing unaccounted for. Exit status 1 when one is missed.
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures
import json
import os
import random
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("LOG_LEVEL", "WARNING")

import urllib3

import ddb_ops
from lib.dataset_layout import batch_object, compacted_object, decode_object
from watchlist_workstation.local.stack import LocalStack, local_session

TARGET_RATE = 100.0
TARGET_RSS = 1024**3

# Sentences for the synthetic pages: each page takes one opening, two tone sentences, one closing.
OPENINGS = [
    "{name} is a company founded in {year} with its head office in {city}.",
    "{name} was started in {year} in {city} and now trades worldwide.",
    "{name}, based in {city}, has operated since {year}.",
]
TONES = {
    "positive": [
        "Its products are praised by customers and its profits have grown every year.",
        "Analysts admire its excellent management and its strong, healthy balance sheet.",
        "The firm won several awards for innovation and is a popular employer.",
        "Its latest results beat expectations and its shares rose sharply.",
    ],
    "negative": [
        "It faces lawsuits over faulty products and heavy losses.",
        "Regulators fined it for fraud, and thousands of workers were laid off.",
        "Its debts grew while sales collapsed, and critics blame poor leadership.",
        "A data breach and a failed merger badly damaged its reputation.",
    ],
    "neutral": [
        "It makes industrial parts that are sold to other manufacturers.",
        "The company publishes an annual report and holds a general meeting each spring.",
        "Its operations are divided into three business units.",
        "It employs staff in several countries and lists its shares on a stock exchange.",
    ],
}
CLOSINGS = ["Its chief executive is {person}.", "It is listed as {ticker}.", "Its chair is {person}."]
CITIES = ["Lisbon", "Osaka", "Denver", "Leeds", "Perth", "Lyon", "Quebec City", "Tampere"]
PEOPLE = ["Ana Ruiz", "Kenji Mori", "Dana Holt", "Sam Okafor", "Lena Berg", "Ravi Shah"]


def company_pages(count: int, seed: int = 7) -> dict[str, dict[str, str]]:
    """`count` synthetic companies, deterministic for a seed: name -> data/ entry."""
    rng = random.Random(seed)  # noqa: S311 - synthetic test data, not secrets
    pages = {}
    for i in range(count):
        name = f"Benchmark Company {i:05d}"
        tone = ("positive", "negative", "neutral")[i % 3]
        fields = {
            "name": name,
            "year": rng.randint(1900, 2020),
            "city": rng.choice(CITIES),
            "person": rng.choice(PEOPLE),
            "ticker": f"BC{i:05d}",
        }
        sentences = [rng.choice(OPENINGS), *rng.sample(TONES[tone], 2), rng.choice(CLOSINGS)]
        pages[name] = {
            "title": name,
            "description": "synthetic company for the local benchmark",
            "tone": tone,
            "extract": " ".join(s.format(**fields) for s in sentences),
        }
    return pages


def write_data_folder(folder: Path, pages: dict[str, dict[str, str]]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i, entry in enumerate(pages.values()):
        (folder / f"c{i:05d}.json").write_text(json.dumps(entry))


# --- counting and sampling ------------------------------------------------------------------


class ServerCalls:
    """Counts the calls each phase makes, where they arrive: the moto process, the Comprehend
    endpoint and the text source (so the worker processes' calls count too)."""

    def __init__(self, stack: LocalStack) -> None:
        self.stack = stack
        self._last = self._now()

    def _now(self) -> collections.Counter[str]:
        counts = self.stack.aws_calls()
        for operation, n in self.stack.comprehend.stats()["calls"].items():
            counts[f"comprehend:{operation}"] += n
        counts["text:GET"] += self.stack.text_server.requests_served
        return counts

    def take(self) -> collections.Counter[str]:
        """The calls since the last take()."""
        now = self._now()
        delta = collections.Counter({key: now[key] - self._last[key] for key in now if now[key] != self._last[key]})
        self._last = now
        return delta


def _descendants(root: int) -> set[int]:
    """`root` and every process below it, from /proc (a walk of every process: about 6 ms)."""
    children: dict[int, list[int]] = collections.defaultdict(list)
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                parent = int(handle.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children[parent].append(int(entry))
    found, todo = set(), [root]
    while todo:
        pid = todo.pop()
        found.add(pid)
        todo.extend(children.get(pid, []))
    return found


def _rss(pids: set[int]) -> int:
    """Resident bytes of `pids` together (those that have exited count 0)."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/statm") as handle:
                total += int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, IndexError, ValueError):
            continue
    return total


class PeakRss:
    """Peak resident memory of this process and all below it: every `interval` the processes
    known are read, and every `discover_every` samples the process tree is walked again to find
    new ones (the walk costs ten times a sample; the benchmark's workers start before the runs)."""

    def __init__(self, interval: float = 0.2, discover_every: int = 5) -> None:
        self.peak, self._interval, self._every, self._stop = 0, interval, discover_every, threading.Event()
        self._pids: set[int] = set()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self, n: int) -> None:
        if n % self._every == 0:
            self._pids = _descendants(os.getpid())
        self.peak = max(self.peak, _rss(self._pids))

    def _run(self) -> None:
        n = 1
        while not self._stop.wait(self._interval):
            self._sample(n)
            n += 1

    def __enter__(self) -> PeakRss:
        self._sample(0)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample(0)


# --- the two designs ------------------------------------------------------------------------


def run_pipeline(stack: LocalStack, names: list[str], calls: ServerCalls) -> dict:
    """Put `names` (and only them) on the watchlist, tick once, drain; return figures and accounting."""
    outputs = stack.outputs
    ddb = stack.client("dynamodb")
    table = outputs["TableName"]
    present = [item["name"] for item in ddb_ops.items_list(table, ddb)]
    if present:
        ddb_ops.items_delete(table, present, ddb)
    ddb_ops.items_add(table, names, ddb)
    before_keys = result_keys(stack)
    calls.take()
    started = time.perf_counter()
    # The pollers run while the producer sends, as the event source mapping does on AWS.
    tick, drained = stack.lambda_service.fire_and_drain(timeout=3600)
    if not tick.ok:
        raise SystemExit(f"the producer failed: {tick.error_type}: {tick.error_message}")
    seconds = time.perf_counter() - started
    counts = calls.take()
    rows = result_rows(stack, result_keys(stack) - before_keys)
    analysed = collections.Counter(row["name"] for row in rows)
    errors = {item["name"]: item.get("last_error") for item in ddb_ops.items_list(table, ddb) if item.get("last_error")}
    dead = [name for chunk in dead_letter_chunks(stack) for name in chunk]
    wanted = set(names)
    accounted = (set(analysed) | set(errors) | set(dead)) & wanted
    return {
        "companies": len(names),
        "seconds": seconds,
        "rate": len(names) / seconds,
        "queued": (tick.payload or {}).get("queued"),
        "batches": drained.batches,
        "analysed": len(set(analysed) & wanted),
        "errors": len(set(errors) & wanted),
        "dead_lettered": len(set(dead) & wanted),
        "unaccounted": len(wanted - accounted),
        "duplicate_rows": sum(n - 1 for n in analysed.values() if n > 1),
        "timed_out": drained.timed_out,
        "calls": counts,
    }


def result_keys(stack: LocalStack) -> set[str]:
    s3 = stack.client("s3")
    keys = set()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=stack.outputs["ResultsBucketName"]):
        keys.update(obj["Key"] for obj in page.get("Contents", []))
    return keys


def result_rows(stack: LocalStack, keys: set[str]) -> list[dict[str, Any]]:
    """The rows of the dataset objects among `keys`, in any of its layouts (lib/dataset_layout.py)."""
    s3 = stack.client("s3")
    rows = []
    for key in sorted(keys):
        if not (batch_object(key) or compacted_object(key)):
            continue
        body = s3.get_object(Bucket=stack.outputs["ResultsBucketName"], Key=key)["Body"].read()
        rows.extend(decode_object(key, body))
    return rows


def dead_letter_chunks(stack: LocalStack) -> list[list[str]]:
    """The companies of each message in the dead-letter queue (each received once, then hidden for the run)."""
    sqs, chunks = stack.client("sqs"), []
    while got := sqs.receive_message(
        QueueUrl=stack.outputs["DeadLetterQueueUrl"], MaxNumberOfMessages=10, VisibilityTimeout=900
    ).get("Messages", []):
        chunks.extend([c["name"] for c in json.loads(m["Body"])["companies"]] for m in got)
    return chunks


def run_prototype(stack: LocalStack, names: list[str], concurrency: int, calls: ServerCalls) -> dict:
    """The prototype's call pattern over `names`, against the same local endpoints."""
    endpoints = stack.endpoints
    session = local_session(endpoints.region)
    sqs = stack.client("sqs")
    s3 = stack.client("s3")
    queue_name = "prototype-pattern"
    sqs.create_queue(QueueName=queue_name, Attributes={"VisibilityTimeout": "360"})
    bucket = stack.outputs["ResultsBucketName"]
    http = urllib3.PoolManager(maxsize=concurrency)
    client_lock = threading.Lock()
    calls.take()
    started = time.perf_counter()
    for name in names:  # the producer: a GetQueueUrl and a SendMessage per company
        url = sqs.get_queue_url(QueueName=queue_name)["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"name": name}))
    url = sqs.get_queue_url(QueueName=queue_name)["QueueUrl"]
    done = collections.Counter()

    def consume() -> None:
        while True:
            messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
            if not messages:
                return
            rows = []
            for message in messages:
                name = json.loads(message["Body"])["name"]
                # One Action API request per company for its intro, as the prototype's library asked.
                fields = {"action": "query", "format": "json", "formatversion": "2", "prop": "extracts"}
                fields.update(exintro="1", explaintext="1", redirects="1", titles=name)
                page = http.request("GET", endpoints.text_source, fields=fields)
                text = json.loads(page.data)["query"]["pages"][0]["extract"]
                with client_lock:  # a new client per company, as the prototype made them
                    comprehend = session.client(
                        "comprehend", endpoint_url=endpoints.comprehend, region_name=endpoints.region
                    )
                label = comprehend.detect_sentiment(Text=text, LanguageCode="en")["Sentiment"]
                rows.append(f"{name},{label}")
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            s3.put_object(Bucket=bucket, Key=f"prototype/{messages[0]['MessageId']}.csv", Body="\n".join(rows))
            with client_lock:
                done["rows"] += len(rows)

    with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
        for future in [pool.submit(consume) for _ in range(concurrency)]:
            future.result()
    seconds = time.perf_counter() - started
    counts = calls.take()
    return {
        "companies": len(names),
        "seconds": seconds,
        "rate": len(names) / seconds,
        "rows": done["rows"],
        "calls": counts,
    }


# --- report ---------------------------------------------------------------------------------


def per_company(counts: collections.Counter[str], n: int) -> dict[str, float]:
    return {key: round(value / n, 3) for key, value in sorted(counts.items()) if value}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--companies", type=int, default=10_000, help="the large run (default 10,000)")
    parser.add_argument("--small", type=int, default=1_000, help="the small run and the prototype's (default 1,000)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON as well")
    parser.add_argument("--json-out", type=Path, help="write the figures, checks and verdict as JSON to this file")
    args = parser.parse_args()

    pages = company_pages(args.small + args.companies)
    names = list(pages)
    small, large = names[: args.small], names[args.small :]
    with tempfile.TemporaryDirectory(prefix="bench-local-") as tmp:
        base = Path(tmp)
        write_data_folder(base / "data", pages)
        with PeakRss() as rss:
            started = time.perf_counter()
            stack = LocalStack(
                stack_name="bench-local",
                state_dir=base / "state",
                results_dir=base / "results",
                data_dir=base / "data",
                text_request_log=100,
            ).start()
            try:
                startup = time.perf_counter() - started
                calls = ServerCalls(stack)
                for thread in stack.lambda_service.prewarm():
                    thread.join()
                concurrency = max(m.concurrency for m in stack.lambda_service.mappings)
                print(f"stack up in {startup:.1f} s; running {len(small):,} companies", file=sys.stderr)
                first = run_pipeline(stack, small, calls)
                print(f"running {len(large):,} companies", file=sys.stderr)
                second = run_pipeline(stack, large, calls)
                # The pipeline's workers stop here: the prototype's pattern runs without them.
                stack.lambda_service.close()
                print(f"running the prototype's pattern over the same {len(small):,} companies", file=sys.stderr)
                proto = run_prototype(stack, small, concurrency, calls)
            finally:
                stack.stop(save=False)

    print(f"\nLocal mode end to end ({os.cpu_count()} CPUs), consumer concurrency {concurrency}")
    print(f"{'run':<34}{'companies':>10}{'seconds':>10}{'co./s':>10}{'analysed':>10}{'errors':>8}{'DLQ':>6}{'lost':>6}")
    for label, run in ((f"pipeline, {len(small):,}", first), (f"pipeline, {len(large):,}", second)):
        print(
            f"{label:<34}{run['companies']:>10,}{run['seconds']:>10.1f}{run['rate']:>10.1f}"
            f"{run['analysed']:>10,}{run['errors']:>8}{run['dead_lettered']:>6}{run['unaccounted']:>6}"
        )
    print(
        f"{'prototype pattern, ' + format(len(small), ','):<34}"
        f"{proto['companies']:>10,}{proto['seconds']:>10.1f}{proto['rate']:>10.1f}"
    )
    print(f"\nAPI calls per company ({len(small):,} companies each)")
    ours, theirs = per_company(first["calls"], len(small)), per_company(proto["calls"], len(small))
    print(f"{'service:operation':<34}{'pipeline':>10}{'prototype':>10}")
    for key in sorted(set(ours) | set(theirs)):
        print(f"{key:<34}{ours.get(key, 0):>10.3f}{theirs.get(key, 0):>10.3f}")
    total_ours = sum(v for k, v in ours.items() if not k.startswith("text:"))
    total_theirs = sum(v for k, v in theirs.items() if not k.startswith("text:"))
    print(f"{'AWS calls, total':<34}{total_ours:>10.3f}{total_theirs:>10.3f}")
    print(f"\nprototype / pipeline, AWS calls per company: {total_theirs / total_ours:.1f}x")
    print(f"pipeline / prototype, companies per second at {len(small):,}: {first['rate'] / proto['rate']:.1f}x")
    print(f"peak RSS (this process and its workers): {rss.peak / 1024**2:.0f} MiB")

    checks = {
        f">= {TARGET_RATE:.0f} companies/s at {len(large):,}": second["rate"] >= TARGET_RATE,
        "peak RSS <= 1 GiB": rss.peak <= TARGET_RSS,
        "every company accounted for": first["unaccounted"] == 0 and second["unaccounted"] == 0,
        "no duplicate result rows": first["duplicate_rows"] == 0 and second["duplicate_rows"] == 0,
        "drained in time": not (first["timed_out"] or second["timed_out"]),
    }
    for name, passed in checks.items():
        print(f"{'PASS' if passed else 'FAIL'}  {name}")
    figures = {
        "small": {**first, "calls": dict(first["calls"])},
        "large": {**second, "calls": dict(second["calls"])},
        "prototype": {**proto, "calls": dict(proto["calls"])},
        "peak_rss_bytes": rss.peak,
    }
    if args.json:
        print(json.dumps(figures, sort_keys=True))
    if args.json_out:
        # bench/report.py reads this: the per-company figures as printed above (so its totals match
        # this table's), and the targets beside the verdicts.
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        result = {
            **figures,
            "cpus": os.cpu_count(),
            "consumer_concurrency": concurrency,
            "per_company": {"pipeline": ours, "prototype": theirs},
            "aws_calls_per_company": {"pipeline": total_ours, "prototype": total_theirs},
            "targets": {"rate_at_large": TARGET_RATE, "peak_rss_bytes": TARGET_RSS},
            "checks": checks,
            "passed": all(checks.values()),
        }
        args.json_out.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
