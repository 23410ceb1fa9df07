"""Load with faults: every company analysed, recorded as an error or dead-lettered when 5% of the pages misbehave.

    .venv/bin/python -m bench.load_faults [--companies 10000] [--fault-rate 0.05] [--seed 11]
        [--visibility-timeout 60] [--json] [--json-out PATH]

The local stack as bench/local_e2e.py builds it (the stack from template.yml in the moto process, the
Lambda service's worker processes running the real handlers, the loopback Comprehend and the loopback
Action API), with the request budget local mode deploys with (watchlist_workstation/local/stack.py,
LOCAL_PARAMETERS), so one tick queues the whole watchlist in chunks of 50 companies. Faults are scripted
per title on the loopback Action API, or are page changes on it; no production code knows about them.

A seeded random `--fault-rate` share of the companies gets one kind of fault (FAULTS): some the web
client's own retries absorb (500 twice, 429 with a short Retry-After, the `maxlag` error, a reset),
some outlast them (500 four times, a Retry-After over the 10 s cap), a few last for every receive the
redrive policy allows (poison), and some are permanent (the page deleted, or made a disambiguation page).

One revision request asks for a whole chunk's 50 titles, and the loopback server answers a request
with the next scripted answer of the first of its titles that has one (docs/design.md, "How it
behaves"), so a chunk's fate is that of its faults together: two "absorbed" faults in one chunk may
outlast the client's 4 attempts, and one poison title dead-letters its 49 neighbours with it. After
the run, each delivered chunk's script is replayed against the web client's rules (predict_receives) to
say how many receives its revision request needs, or that it never gets an answer; each company's
expected end follows: a result row of this run, its permanent error in the table, or its chunk in the
dead-letter queue. The checks compare that with where every company ended and how often each chunk
was delivered (the records the Lambda service handed the consumer).

The work queue's visibility timeout (720 s in the template) is lowered in the emulator to
`--visibility-timeout` seconds, so handed-back chunks come back within the run rather than twelve
minutes later; the run fails if any invocation took as long as that, since a chunk could then have
been delivered again while still in flight.

Exit status 1 when a check fails: a company lost or accounted for twice, a duplicate result row, a
company ending elsewhere than its chunk's script says, a chunk delivered more or fewer times than
predicted, the redelivery or dead-letter path not exercised, a failed invocation, the queue not drained.
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
from bench.local_e2e import company_pages, dead_letter_chunks, result_keys, result_rows, write_data_folder
from lib.limits import TEXT_MAX_ATTEMPTS, TEXT_MAX_RETRY_AFTER, WIKI_MAXLAG_SECONDS
from watchlist_workstation.local.lambda_service.poller import PollReport
from watchlist_workstation.local.stack import LocalStack
from watchlist_workstation.local.textserver import Scripted, TextServer
from watchlist_workstation.local.textserver.action_api import error as api_error

# Over the longest Retry-After the client waits (lib/limits.py): it hands the chunk back at once.
LONG_RETRY_AFTER = str(int(TEXT_MAX_RETRY_AFTER * 3))


def maxlag_answer(lag: int = 7) -> Scripted:
    """The Action API's maxlag error as MediaWiki sends it (HTTP 200, Retry-After, X-Database-Lag)."""
    answer = api_error(
        "maxlag",
        f"Waiting for 127.0.0.1: {lag} seconds lagged.",
        headers={"Retry-After": str(WIKI_MAXLAG_SECONDS), "X-Database-Lag": str(lag)},
        host="127.0.0.1",
        lag=lag,
        type="db",
    )
    return Scripted(answer.status, answer.headers, answer.body)


@dataclass(frozen=True)
class FaultKind:
    key: str
    what: str
    share: float  # of the faulted companies
    answer: Scripted | None = None  # served instead of the page, `answers` times
    answers: int | None = 0  # None: enough for every attempt of every receive the redrive policy allows
    gives_up: bool = False  # the client hands the chunk back on this answer without another attempt
    permanent: str | None = None  # a page change instead: the error code the company must end with


FAULTS = (
    FaultKind("500x2", "HTTP 500 twice: the client's retries absorb it", 0.25, Scripted(500), 2),
    FaultKind("429", "HTTP 429, Retry-After: 1: waited out", 0.14, Scripted(429, {"Retry-After": "1"}), 1),
    FaultKind("maxlag", "the maxlag error (Retry-After: 5): waited out", 0.04, maxlag_answer(), 1),
    FaultKind("reset", "connection reset once: retried", 0.10, Scripted.connection_reset(), 1),
    FaultKind(
        f"500x{TEXT_MAX_ATTEMPTS}",
        f"HTTP 500 {TEXT_MAX_ATTEMPTS} times: the client's attempts run out, the chunk comes back",
        0.15,
        Scripted(500),
        TEXT_MAX_ATTEMPTS,
    ),
    FaultKind(
        "429-long",
        f"HTTP 429, Retry-After: {LONG_RETRY_AFTER} (over the {TEXT_MAX_RETRY_AFTER:g} s cap): handed back at once",
        0.12,
        Scripted(429, {"Retry-After": LONG_RETRY_AFTER}),
        1,
        gives_up=True,
    ),
    FaultKind(
        "poison", "HTTP 500 on every attempt of every receive: its chunk is dead-lettered", 0.01, Scripted(500), None
    ),
    FaultKind("deleted", "page deleted: not_found recorded on the company", 0.10, permanent="not_found"),
    FaultKind("disambig", "made a disambiguation page: recorded on the company", 0.09, permanent="disambiguation"),
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


def answers_of(kind: FaultKind, max_receives: int) -> int:
    return TEXT_MAX_ATTEMPTS * max_receives if kind.answers is None else kind.answers


def apply_faults(text: TextServer, plan: dict[str, FaultKind], max_receives: int) -> None:
    for title, kind in plan.items():
        if kind.permanent == "not_found":
            text.remove_page(title)
        elif kind.permanent == "disambiguation":
            text.add_page(title, f"{title} may refer to several companies.", type="disambiguation")
        elif kind.answer is not None:
            text.script(title, *[kind.answer] * answers_of(kind, max_receives))


def predict_receives(titles: list[str], plan: dict[str, FaultKind], max_receives: int) -> int | None:
    """The receive on which a chunk's revision request is answered, or None when none of `max_receives` is.

    Replays lib/webclient.py's rules on the chunk's scripts: the titles go in sorted order (lib/checking.py),
    each attempt is served the next scripted answer of the first title that still has one, an attempt
    without one is answered, and a receive ends after TEXT_MAX_ATTEMPTS failed attempts or on an answer the
    client gives up on (a Retry-After over its cap)."""
    queues = [
        collections.deque([plan[t]] * answers_of(plan[t], max_receives))
        for t in sorted(titles)
        if t in plan and plan[t].answer is not None
    ]
    for receive in range(1, max_receives + 1):
        for _attempt in range(TEXT_MAX_ATTEMPTS):
            queue = next((q for q in queues if q), None)
            if queue is None:
                return receive
            if queue.popleft().gives_up:
                break
    return None


class DeliveryWatch:
    """What each poll handed the consumer, noted through LocalLambda.watch_polls: each chunk's companies and
    receives, and invocation times."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.started = time.monotonic()
        self.chunks: dict[str, list[str]] = {}  # message id -> its companies
        self.receives: dict[str, int] = {}  # message id -> highest ApproximateReceiveCount delivered
        self.deliveries = 0
        self.longest_invocation = 0.0
        self.failed_invocations: list[str] = []  # errors other than BatchFailed, timeouts, crashes
        self.all_handed_back = 0  # invocations that raised BatchFailed: every record failed (lib/batch.py)
        self.first_pass_done = 0.0  # when the last batch holding a first delivery ended

    def __call__(self, report: PollReport) -> None:
        with self._lock:
            for record in report.records:
                message_id = record["messageId"]
                count = int(record["attributes"].get("ApproximateReceiveCount", 1))
                self.deliveries += 1
                self.receives[message_id] = max(count, self.receives.get(message_id, 0))
                if message_id not in self.chunks:
                    self.chunks[message_id] = [c["name"] for c in json.loads(record["body"])["companies"]]
                if count == 1:
                    self.first_pass_done = time.monotonic() - self.started
            if report.result is not None:
                self.longest_invocation = max(self.longest_invocation, report.result.duration_s)
                result = report.result
                if not result.ok and result.error_type == "BatchFailed" and not result.timed_out:
                    self.all_handed_back += 1
                elif not result.ok:
                    self.failed_invocations.append(f"{result.error_type}: {result.error_message}")


def account(
    stack: LocalStack,
    watch: DeliveryWatch,
    names: list[str],
    plan: dict[str, FaultKind],
    run_id: str,
    max_receives: int,
) -> dict[str, Any]:
    """Where each company ended, from the stack (result rows, recorded errors, the dead-letter queue), beside
    where its chunk's script says it must end."""
    rows = [row for row in result_rows(stack, result_keys(stack)) if row["run_id"] == run_id]
    copies = collections.Counter((row["name"], row["text_sha256"], row["run_id"]) for row in rows)
    items = ddb_ops.items_list(stack.outputs["TableName"], stack.client("dynamodb"))
    errors = {item["name"]: item["last_error"] for item in items if item.get("last_error")}
    dead_chunks = dead_letter_chunks(stack)
    ends: dict[str, list[str]] = collections.defaultdict(list)
    for name in {row["name"] for row in rows}:
        ends[name].append("analysed")
    for name, code in errors.items():
        ends[name].append(f"error:{code}")
    for chunk in dead_chunks:
        for name in chunk:
            ends[name].append("dead_lettered")
    predicted = {mid: predict_receives(chunk, plan, max_receives) for mid, chunk in watch.chunks.items()}
    expected: dict[str, str] = {}
    for mid, chunk in watch.chunks.items():
        for name in chunk:
            kind = plan.get(name)
            if predicted[mid] is None:
                expected[name] = "dead_lettered"
            else:
                expected[name] = f"error:{kind.permanent}" if kind and kind.permanent else "analysed"
    wanted = set(names)
    settled = {name: where[0] for name, where in ends.items() if len(where) == 1}
    wrong_receives = sorted(
        f"{mid}: predicted {predicted[mid] or max_receives}{'' if predicted[mid] else ' (dead-lettered)'}, "
        f"received {watch.receives[mid]}"
        for mid in watch.chunks
        if watch.receives[mid] != (predicted[mid] or max_receives)
    )
    again = {name for mid, chunk in watch.chunks.items() if watch.receives[mid] > 1 for name in chunk}
    requests = collections.Counter(title for request in stack.text_server.requests for title in request.titles)
    kinds = {}
    for kind in FAULTS:
        members = {name for name, planned in plan.items() if planned is kind}
        got = collections.Counter(settled.get(name, "?").partition(":")[0] for name in members)
        kinds[kind.key] = {
            "what": kind.what,
            "companies": len(members),
            **{end: got[end] for end in ("analysed", "error", "dead_lettered")},
            "in_chunks_received_again": len(members & again),
            "text_requests": sum(requests[name] for name in members),
        }
    dead_names = [name for chunk in dead_chunks for name in chunk]
    return {
        "companies": len(names),
        "faulted": len(plan),
        "chunks": len(watch.chunks),
        "analysed": sum(1 for name in wanted if "analysed" in ends.get(name, ())),
        "errors": len(wanted & set(errors)),
        "dead_lettered_chunks": len(dead_chunks),
        "dead_lettered": len(wanted & set(dead_names)),
        "chunks_received_again": sum(1 for count in watch.receives.values() if count > 1),
        "companies_received_again": len(again & wanted),
        "deliveries": watch.deliveries,
        "redeliveries": watch.deliveries - len(watch.chunks),
        "predicted_redelivered_chunks": sum(1 for p in predicted.values() if p != 1),
        "predicted_dead_lettered_chunks": sum(1 for p in predicted.values() if p is None),
        "rows": len(rows),
        "duplicate_rows": sum(n - 1 for n in copies.values()),
        "duplicated": sorted({name for (name, _, _), n in copies.items() if n > 1}),
        "accounted_twice": sorted(name for name, where in ends.items() if len(where) > 1 and name in wanted),
        "lost": sorted(wanted - set(ends)),
        "never_delivered": sorted(wanted - set(expected)),
        "dead_letter_messages_twice": len(dead_names) - len(set(dead_names)),
        "unexpected_end": sorted(
            f"{name}: {settled[name]}, expected {expected[name]}"
            for name in wanted & set(settled) & set(expected)
            if settled[name] != expected[name]
        ),
        "wrong_receives": wrong_receives,
        "text_requests": stack.text_server.requests_served,
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
        default=60,
        help="the work queue's visibility timeout in the emulator, seconds (default 60; the template's is 720)",
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON as well")
    parser.add_argument("--json-out", type=Path, help="write the figures, checks and verdict as JSON to this file")
    args = parser.parse_args()
    if args.companies < 1 or not 0 <= args.fault_rate <= 1:
        parser.error("--companies must be at least 1 and --fault-rate between 0 and 1")

    wall_started = time.perf_counter()
    pages = company_pages(args.companies)
    names = list(pages)
    plan = plan_faults(names, args.fault_rate, args.seed)
    with tempfile.TemporaryDirectory(prefix="bench-faults-") as tmp:
        base = Path(tmp)
        write_data_folder(base / "data", pages)
        # Every request kept (text_request_log None): the accounting counts each faulted title's requests.
        stack = LocalStack(
            stack_name="bench-faults",
            state_dir=base / "state",
            results_dir=base / "results",
            data_dir=base / "data",
            text_request_log=None,
        ).start()
        try:
            startup = time.perf_counter() - wall_started
            sqs, queue_url = stack.client("sqs"), stack.outputs["QueueUrl"]
            attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])["Attributes"]
            template_visibility = int(attributes["VisibilityTimeout"])
            max_receives = int(json.loads(attributes["RedrivePolicy"])["maxReceiveCount"])
            sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"VisibilityTimeout": str(args.visibility_timeout)})
            apply_faults(stack.text_server, plan, max_receives)
            ddb_ops.items_add(stack.outputs["TableName"], names, stack.client("dynamodb"))
            executor = stack.lambda_service
            for thread in executor.prewarm():
                thread.join()
            concurrency = max(m.concurrency for m in executor.mappings)
            print(f"stack up in {startup:.1f} s; {len(names):,} companies, {len(plan):,} with a fault", file=sys.stderr)
            watch = DeliveryWatch()
            executor.watch_polls(watch)
            tick, drained = executor.fire_and_drain(timeout=3600)
            if not tick.ok:
                raise SystemExit(f"the producer failed: {tick.error_type}: {tick.error_message}")
            figures = account(stack, watch, names, plan, tick.payload["run_id"], max_receives)
        finally:
            stack.stop(save=False)

    figures.update(
        {
            "queued": tick.payload["queued"],
            "windows": tick.payload["windows"],
            "seconds": drained.seconds,
            "rate": len(names) / drained.seconds,
            "wall_seconds": time.perf_counter() - wall_started,
            "startup_seconds": startup,
            "batches": drained.batches,
            "failed_invocations": watch.failed_invocations,
            "all_handed_back_invocations": watch.all_handed_back,
            "timed_out": drained.timed_out,
            "longest_invocation_seconds": watch.longest_invocation,
            "first_pass_seconds": watch.first_pass_done,
            "visibility_timeout": args.visibility_timeout,
            "template_visibility_timeout": template_visibility,
            "max_receive_count": max_receives,
            "consumer_concurrency": concurrency,
            "fault_rate": args.fault_rate,
            "seed": args.seed,
            "cpus": os.cpu_count(),
        }
    )
    report(figures)
    checks = {
        "the whole watchlist queued in one tick": figures["queued"] == len(names) and figures["windows"] == 1,
        "every company analysed, recorded as an error or dead-lettered (lost = 0)": not figures["lost"],
        "no company accounted for twice": not figures["accounted_twice"] and not figures["dead_letter_messages_twice"],
        "no duplicate result rows (same company, text and run)": figures["duplicate_rows"] == 0,
        "every company ended where its chunk's script says": not figures["unexpected_end"]
        and not figures["never_delivered"],
        "every chunk delivered as often as its script says": not figures["wrong_receives"],
        "the redelivery path exercised, and the dead-letter path when a title is poison": (
            figures["chunks_received_again"] > 0 or not plan
        )
        and (figures["dead_lettered_chunks"] > 0 or not figures["kinds"]["poison"]["companies"]),
        "no invocation failed but by handing back every record (BatchFailed)": not figures["failed_invocations"],
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
        f"{figures['dead_lettered']} dead-lettered in {figures['dead_lettered_chunks']} chunks, "
        f"{len(figures['lost'])} lost, {figures['duplicate_rows']} duplicate rows; "
        f"{figures['seconds']:.1f} s tick to drained, {figures['rate']:.1f} companies/s"
    )
    if args.json:
        print(json.dumps(figures, sort_keys=True))
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        result = {**figures, "checks": checks, "passed": not failed}
        args.json_out.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    return 0 if not failed else 1


def report(figures: dict[str, Any]) -> None:
    print(
        f"\nLoad with faults ({figures['cpus']} CPUs): {figures['companies']:,} companies, "
        f"{figures['faulted']:,} ({figures['fault_rate']:.1%}) given a fault, seed {figures['seed']}"
    )
    print(
        f"work queue visibility timeout {figures['visibility_timeout']} s in the emulator "
        f"(template: {figures['template_visibility_timeout']} s), maxReceiveCount {figures['max_receive_count']}, "
        f"consumer concurrency {figures['consumer_concurrency']}"
    )
    print(f"\n{'fault':<10}{'companies':>10}{'analysed':>10}{'errors':>8}{'DLQ':>6}{'again':>7}{'requests':>10}  what")
    for key, kind in figures["kinds"].items():
        print(
            f"{key:<10}{kind['companies']:>10,}{kind['analysed']:>10,}{kind['error']:>8}{kind['dead_lettered']:>6}"
            f"{kind['in_chunks_received_again']:>7}{kind['text_requests']:>10,}  {kind['what']}"
        )
    print("(again: in a chunk delivered more than once; requests: Action API requests naming the title)")
    lines = [
        ("queued (companies)", f"{figures['queued']:,}"),
        ("chunks (work messages)", f"{figures['chunks']:,}"),
        ("analysed (a result row this run)", f"{figures['analysed']:,}"),
        ("result rows of the run", f"{figures['rows']:,}"),
        ("permanent errors recorded", f"{figures['errors']:,}"),
        (
            "dead-lettered chunks",
            f"{figures['dead_lettered_chunks']:,} (predicted {figures['predicted_dead_lettered_chunks']})",
        ),
        ("dead-lettered companies", f"{figures['dead_lettered']:,}"),
        (
            "chunks delivered more than once",
            f"{figures['chunks_received_again']:,} (predicted {figures['predicted_redelivered_chunks']})",
        ),
        ("companies in those chunks", f"{figures['companies_received_again']:,}"),
        ("redeliveries (deliveries - chunks)", f"{figures['redeliveries']:,}"),
        ("duplicate rows (company, text, run)", f"{figures['duplicate_rows']:,}"),
        ("lost", f"{len(figures['lost']):,}"),
        ("consumer invocations", f"{figures['batches']:,}"),
        ("invocations handing back every record", f"{figures['all_handed_back_invocations']:,}"),
        ("other failed invocations", f"{len(figures['failed_invocations']):,}"),
        ("Action API requests", f"{figures['text_requests']:,}"),
        ("longest invocation", f"{figures['longest_invocation_seconds']:.1f} s"),
        ("tick to every chunk delivered once", f"{figures['first_pass_seconds']:.1f} s"),
        ("tick to drained (redeliveries included)", f"{figures['seconds']:.1f} s"),
        ("companies per second, tick to drained", f"{figures['rate']:.1f}"),
        ("wall time, stack start to accounted", f"{figures['wall_seconds']:.1f} s"),
    ]
    print()
    for label, value in lines:
        print(f"{label:<42}{value:>22}")
    for label, key in (
        ("lost", "lost"),
        ("accounted for twice", "accounted_twice"),
        ("duplicated", "duplicated"),
        ("never delivered", "never_delivered"),
        ("ended elsewhere than its chunk's script says", "unexpected_end"),
        ("delivered other than predicted", "wrong_receives"),
        ("failed invocations", "failed_invocations"),
    ):
        if figures[key]:
            shown = "; ".join(figures[key][:10]) + (" ..." if len(figures[key]) > 10 else "")
            print(f"{label}: {shown}")
    print()


if __name__ == "__main__":
    sys.exit(main())
