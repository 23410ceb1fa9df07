"""Load with faults: every company analysed or dead-lettered when 5% of the text fetches go wrong.

    .venv/bin/python -m bench.load_faults [--companies 10000] [--fault-rate 0.05] [--seed 11] [--json]

The local stack as bench/local_e2e.py builds it (the stack from template.yml in the moto process,
the executor's worker processes running the real handlers, the Comprehend-compatible endpoint),
with one difference: the consumer reads its texts from a text server this script starts and
points the stack at (the TextSourceUrl parameter), so the script can script faults per title.
No production code knows about the faults.

A seeded random `--fault-rate` share of the companies gets one kind of transient fault (FAULTS):
some the text client's own retries absorb, some outlast them so the record goes back to the queue
and is delivered again, and a few last for every receive the redrive policy allows, so the record
ends in the dead-letter queue. Each company is then accounted for from the stack itself: a row in
the results dataset for this run, a permanent error recorded in the table, or a message in the
dead-letter queue. Receive counts come from the records the executor hands the consumer.

The work queue's visibility timeout (360 s in the template) is lowered in the emulator to
`--visibility-timeout` seconds, so handed-back records come back within the run rather than six
minutes later; the run fails if any invocation took as long as that, since a record could then
have been delivered again while still in flight.

Exit status 1 when a check fails: a company lost, one accounted for twice, a duplicate result row
(same company, text and run), a company dead-lettered that was not scripted to be, the redelivery
path not exercised, or the queue not drained.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import random
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("LOG_LEVEL", "WARNING")

import ddb_ops
from bench.local_e2e import (
    company_pages,
    dead_letter_names,
    result_keys,
    result_rows,
    write_data_folder,
)
from lib.limits import TEXT_MAX_ATTEMPTS, TEXT_MAX_RETRY_AFTER, TEXT_READ_TIMEOUT
from watchlist_workstation.local.lambda_service.poller import PollReport
from watchlist_workstation.local.stack import LocalStack
from watchlist_workstation.local.textserver import Scripted, TextServer

# Past the text client's read timeout, so the attempt times out instead of being merely slow.
SLOW_SECONDS = TEXT_READ_TIMEOUT + 0.5
# Over the longest Retry-After the client will wait, so it hands the record back at once.
LONG_RETRY_AFTER = str(int(TEXT_MAX_RETRY_AFTER * 3))


@dataclass(frozen=True)
class FaultKind:
    key: str
    what: str
    share: float  # of the faulted companies
    answers: int | None  # scripted answers before the page is served; None: enough for every allowed receive
    answer: Scripted
    dead_letter: bool = False  # the expected end
    redelivered: bool = False  # the client's retries cannot absorb it: the queue must deliver it again


FAULTS = (
    FaultKind("500x2", "HTTP 500 twice, absorbed by the client's retries", 0.30, 2, Scripted(500)),
    FaultKind(
        "429-wait",
        "HTTP 429 with Retry-After: 1, waited out by the client",
        0.15,
        1,
        Scripted(429, {"Retry-After": "1"}),
    ),
    FaultKind(
        "resetx2", "connection reset twice, absorbed by the client's retries", 0.15, 2, Scripted.connection_reset()
    ),
    FaultKind(
        "slow",
        f"one answer {SLOW_SECONDS:g} s late, past the {TEXT_READ_TIMEOUT:g} s read timeout",
        0.05,
        1,
        Scripted(500, delay=SLOW_SECONDS),
    ),
    FaultKind(
        f"500x{TEXT_MAX_ATTEMPTS}",
        f"HTTP 500 {TEXT_MAX_ATTEMPTS} times: the client's attempts run out, the queue delivers it again",
        0.15,
        TEXT_MAX_ATTEMPTS,
        Scripted(500),
        redelivered=True,
    ),
    FaultKind(
        "429-long",
        f"HTTP 429 with Retry-After: {LONG_RETRY_AFTER} (over the {TEXT_MAX_RETRY_AFTER:g} s cap): handed back at once",
        0.10,
        1,
        Scripted(429, {"Retry-After": LONG_RETRY_AFTER}),
        redelivered=True,
    ),
    FaultKind(
        f"resetx{TEXT_MAX_ATTEMPTS}",
        f"connection reset {TEXT_MAX_ATTEMPTS} times: the client's attempts run out, the queue delivers it again",
        0.08,
        TEXT_MAX_ATTEMPTS,
        Scripted.connection_reset(),
        redelivered=True,
    ),
    FaultKind(
        "poison",
        "HTTP 500 on every attempt of every receive the redrive policy allows: dead-lettered",
        0.02,
        None,
        Scripted(500),
        dead_letter=True,
        redelivered=True,
    ),
)


def plan_faults(names: list[str], rate: float, seed: int) -> dict[str, FaultKind]:
    """A seeded choice of round(rate * len(names)) companies, split between the kinds by their shares."""
    rng = random.Random(seed)  # noqa: S311 - a reproducible choice of test subjects, not a secret
    chosen = rng.sample(names, round(rate * len(names)))
    # Largest remainder: the kinds' counts add up to exactly the chosen number.
    exact = [kind.share * len(chosen) for kind in FAULTS]
    counts = [int(x) for x in exact]
    for i in sorted(range(len(FAULTS)), key=lambda i: exact[i] - counts[i], reverse=True)[: len(chosen) - sum(counts)]:
        counts[i] += 1
    plan, start = {}, 0
    for kind, count in zip(FAULTS, counts, strict=True):
        plan.update(dict.fromkeys(chosen[start : start + count], kind))
        start += count
    return plan


class DeliveryWatch:
    """What each poll handed the consumer, noted through LocalLambda.watch_polls: receive counts and
    invocation times."""

    def __init__(self) -> None:
        self._seen_lock = threading.Lock()
        self.receives: dict[str, int] = {}  # message id -> highest ApproximateReceiveCount delivered
        self.names: dict[str, str] = {}  # message id -> company
        self.longest_invocation = 0.0
        # First deliveries, and when the last batch holding one ended: the run's pace without the redelivery tail.
        self.first_deliveries = 0
        self.first_pass_done = 0.0

    def __call__(self, report: PollReport) -> None:
        with self._seen_lock:
            for record in report.records:
                count = int(record["attributes"].get("ApproximateReceiveCount", 1))
                self.receives[record["messageId"]] = max(count, self.receives.get(record["messageId"], 0))
                self.names.setdefault(record["messageId"], json.loads(record["body"]).get("name"))
                if count == 1:
                    self.first_deliveries += 1
                    self.first_pass_done = time.monotonic()
            if report.result is not None:
                self.longest_invocation = max(self.longest_invocation, report.result.duration_s)
        return report


def account(
    stack: LocalStack,
    watch: DeliveryWatch,
    text: TextServer,
    names: list[str],
    plan: dict[str, FaultKind],
    run_id: str,
) -> dict[str, Any]:
    """Where each company ended, from the stack: result rows, recorded errors, the dead-letter queue."""
    ddb = stack.client("dynamodb")
    rows = [row for row in result_rows(stack, result_keys(stack)) if row["run_id"] == run_id]
    copies = collections.Counter((row["name"], row["text_sha256"], row["run_id"]) for row in rows)
    analysed = {row["name"] for row in rows}
    errors = {item["name"] for item in ddb_ops.items_list(stack.outputs["TableName"], ddb) if item.get("last_error")}
    dead = set(dead_letter_names(stack))
    wanted = set(names)
    ends = collections.Counter(name for group in (analysed, errors, dead) for name in group & wanted)
    received_again = {watch.names[mid] for mid, count in watch.receives.items() if count > 1}
    requests = collections.Counter(request.title for request in text.requests)
    kinds = {}
    for kind in FAULTS:
        members = {name for name, planned in plan.items() if planned is kind}
        kinds[kind.key] = {
            "what": kind.what,
            "companies": len(members),
            "analysed": len(members & analysed),
            "errors": len(members & errors),
            "dead_lettered": len(members & dead),
            "received_again": len(members & received_again),
            "text_requests": sum(requests[name] for name in members),
        }
    poisoned = {name for name, kind in plan.items() if kind.dead_letter}
    must_come_back = {name for name, kind in plan.items() if kind.redelivered}
    return {
        "companies": len(names),
        "faulted": len(plan),
        "analysed": len(analysed & wanted),
        "errors": len(errors & wanted),
        "dead_lettered": len(dead & wanted),
        "received_again": len(received_again & wanted),
        "receives": sum(watch.receives.values()),
        "duplicate_rows": sum(n - 1 for n in copies.values()),
        "duplicated": sorted({name for (name, _, _), n in copies.items() if n > 1}),
        "accounted_twice": sorted(name for name, n in ends.items() if n > 1),
        "lost": sorted(wanted - set(ends)),
        "dead_lettered_unplanned": sorted((dead & wanted) - poisoned),
        "not_received_again": sorted(must_come_back - received_again),
        "rows": len(rows),
        "text_requests": text.requests_served,
        "kinds": kinds,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--companies", type=int, default=10_000, help="companies on the watchlist (default 10,000)")
    parser.add_argument("--fault-rate", type=float, default=0.05, help="share of them given a fault (default 0.05)")
    parser.add_argument("--seed", type=int, default=11, help="seed of the choice of faulted companies (default 11)")
    parser.add_argument(
        "--visibility-timeout",
        type=int,
        default=30,
        help="the work queue's visibility timeout in the emulator, seconds (default 30; the template's is 360)",
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON as well")
    args = parser.parse_args()
    if args.companies < 1 or not 0 <= args.fault_rate <= 1:
        parser.error("--companies must be at least 1 and --fault-rate between 0 and 1")

    pages = company_pages(args.companies)
    names = list(pages)
    plan = plan_faults(names, args.fault_rate, args.seed)
    with tempfile.TemporaryDirectory(prefix="bench-faults-") as tmp:
        base = Path(tmp)
        write_data_folder(base / "data", pages)
        # Every request kept (request_log_size None): the accounting counts each faulted title's requests.
        text = TextServer.from_folder(base / "data", request_log_size=None).start()
        stack = None
        try:
            started = time.perf_counter()
            stack = LocalStack(
                stack_name="bench-faults",
                state_dir=base / "state",
                results_dir=base / "results",
                data_dir=base / "data",
                text_request_log=100,
                parameters={"TextSourceUrl": text.base_url},
            ).start()
            startup = time.perf_counter() - started
            sqs = stack.client("sqs")
            queue_url = stack.outputs["QueueUrl"]
            attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])["Attributes"]
            template_visibility = int(attributes["VisibilityTimeout"])
            max_receives = int(json.loads(attributes["RedrivePolicy"])["maxReceiveCount"])
            sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"VisibilityTimeout": str(args.visibility_timeout)})
            for name, kind in plan.items():
                # A poison title fails every attempt of every receive until the redrive policy moves it.
                count = kind.answers if kind.answers is not None else TEXT_MAX_ATTEMPTS * max_receives
                text.script(name, *[kind.answer] * count)
            ddb_ops.items_add(stack.outputs["TableName"], names, stack.client("dynamodb"))

            executor = stack.lambda_service
            watch = DeliveryWatch()
            executor.watch_polls(watch)
            with executor:
                for thread in executor.prewarm():
                    thread.join()
                concurrency = max(m.concurrency for m in executor.mappings)
                print(
                    f"stack up in {startup:.1f} s; {len(names):,} companies, {len(plan):,} with a fault",
                    file=sys.stderr,
                )
                ticked = time.monotonic()
                tick, drained = executor.fire_and_drain(timeout=1800)
            if not tick.ok:
                raise SystemExit(f"the producer failed: {tick.error_type}: {tick.error_message}")
            run_id = tick.payload["run_id"]
            figures = account(stack, watch, text, names, plan, run_id)
        finally:
            if stack is not None:
                stack.stop(save=False)
            text.stop()

    seconds = drained.seconds
    figures.update(
        {
            "queued": tick.payload["queued"],
            "seconds": seconds,
            "rate": len(names) / seconds,
            "batches": drained.batches,
            "invoke_errors": drained.invoke_errors,
            "timed_out": drained.timed_out,
            "longest_invocation_seconds": watch.longest_invocation,
            "first_pass_seconds": watch.first_pass_done - ticked,
            "first_deliveries": watch.first_deliveries,
            "visibility_timeout": args.visibility_timeout,
            "template_visibility_timeout": template_visibility,
            "max_receive_count": max_receives,
            "consumer_concurrency": concurrency,
            "fault_rate": args.fault_rate,
            "seed": args.seed,
        }
    )
    report(figures)
    checks = {
        "every queued company analysed, recorded as an error or dead-lettered (lost = 0)": not figures["lost"],
        "queued = companies on the watchlist": figures["queued"] == len(names),
        "no company accounted for twice": not figures["accounted_twice"],
        "no duplicate result rows (same company, text and run)": figures["duplicate_rows"] == 0,
        "only the poison companies dead-lettered": not figures["dead_lettered_unplanned"],
        "every company whose fault outlasts the client's retries was delivered again": not figures[
            "not_received_again"
        ],
        f"longest invocation under the {args.visibility_timeout} s visibility timeout": (
            figures["longest_invocation_seconds"] < args.visibility_timeout
        ),
        "queue drained in time": not figures["timed_out"],
    }
    for name, passed in checks.items():
        print(f"{'PASS' if passed else 'FAIL'}  {name}")
    failed = [name for name, passed in checks.items() if not passed]
    verdict = "PASS" if not failed else f"FAIL ({len(failed)} of {len(checks)} checks)"
    print(
        f"{verdict}: {figures['queued']:,} queued, {figures['analysed']:,} analysed, {figures['errors']} errors, "
        f"{figures['dead_lettered']} dead-lettered, {len(figures['lost'])} lost, "
        f"{figures['duplicate_rows']} duplicate rows, in {seconds:.1f} s"
    )
    if args.json:
        print(json.dumps(figures, sort_keys=True))
    return 0 if not failed else 1


def report(figures: dict[str, Any]) -> None:
    print(
        f"\nLoad with faults ({os.cpu_count()} CPUs): {figures['companies']:,} companies, "
        f"{figures['faulted']:,} ({figures['fault_rate']:.1%}) given a transient fault, seed {figures['seed']}"
    )
    print(
        f"work queue visibility timeout {figures['visibility_timeout']} s in the emulator "
        f"(template: {figures['template_visibility_timeout']} s), maxReceiveCount {figures['max_receive_count']}, "
        f"consumer concurrency {figures['consumer_concurrency']}"
    )
    print(f"\n{'fault':<12}{'companies':>10}{'analysed':>10}{'errors':>8}{'DLQ':>6}{'again':>7}{'requests':>10}  what")
    for key, kind in figures["kinds"].items():
        print(
            f"{key:<12}{kind['companies']:>10,}{kind['analysed']:>10,}{kind['errors']:>8}{kind['dead_lettered']:>6}"
            f"{kind['received_again']:>7}{kind['text_requests']:>10,}  {kind['what']}"
        )
    lines = [
        ("queued", f"{figures['queued']:,}"),
        ("analysed (distinct companies with a row)", f"{figures['analysed']:,}"),
        ("result rows of the run", f"{figures['rows']:,}"),
        ("permanent errors recorded", f"{figures['errors']:,}"),
        ("dead-lettered", f"{figures['dead_lettered']:,}"),
        ("delivered more than once", f"{figures['received_again']:,}"),
        ("receives in all", f"{figures['receives']:,}"),
        ("duplicate rows (company, text, run)", f"{figures['duplicate_rows']:,}"),
        ("lost", f"{len(figures['lost']):,}"),
        ("consumer batches", f"{figures['batches']:,}"),
        ("failed invocations (whole batch kept)", f"{figures['invoke_errors']:,}"),
        ("text requests", f"{figures['text_requests']:,}"),
        ("longest invocation", f"{figures['longest_invocation_seconds']:.1f} s"),
        ("tick to every message delivered once", f"{figures['first_pass_seconds']:.1f} s"),
        ("tick to drained (redeliveries included)", f"{figures['seconds']:.1f} s"),
        ("companies per second, tick to drained", f"{figures['rate']:.1f}"),
    ]
    print()
    for label, value in lines:
        print(f"{label:<42}{value:>12}")
    for label, key in (
        ("lost", "lost"),
        ("accounted for twice", "accounted_twice"),
        ("duplicated", "duplicated"),
        ("dead-lettered without being scripted to", "dead_lettered_unplanned"),
        ("not delivered again", "not_received_again"),
    ):
        if figures[key]:
            shown = ", ".join(figures[key][:10]) + (" ..." if len(figures[key]) > 10 else "")
            print(f"{label}: {shown}")
    print()


if __name__ == "__main__":
    sys.exit(main())
