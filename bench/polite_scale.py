"""Polite at scale: the whole watchlist checked within Wikimedia's limits, counted where the requests arrive.

Everything runs in local mode, offline: the stack from template.yml in the embedded moto server, the
real handlers in worker processes, the loopback Action API (which counts the requests it answers and the
most it had in flight at once) and the loopback Comprehend. The pages are synthetic (bench/local_e2e.py
writes them).

    .venv/bin/python -m bench.polite_scale [--companies 60000] [--small 1000] [--json-out PATH]

Phases:
  1. budget raised (the local text source has no limit): one tick checks all `--companies`, then a
     second tick with nothing changed; wall time, peak RSS of the whole local stack, requests per
     company, peak in flight;
  2. the default budget's plan over the same watchlist, read before: the producer run for each tick of one round
     (`windows` ticks, the event times one period apart) queues every company exactly once, and the
     round is the refresh interval `./cfcli.py status` promises. (The consumers' paced run of a round at
     the default budget would take that interval in real time, about 15 minutes at 60,000; phase 3 runs
     the pace for real on a small watchlist.)
  3. a budget smaller than `--small` companies need, in real time: every company checked within the
     round that status promises, each tick drained within its period, never more than 3 requests in
     flight and never more than the budget in any minute. The companies were read before (their
     revisions are in the table), as in the steady state the promise is about; the consumer's batch
     size is lowered so that a batch's paced requests fit its share of a one-minute tick.

Targets (the "Polite at scale" issue): <= 0.03 Wikipedia requests per company on a tick with nothing
changed; <= 3 in flight; peak RSS <= 1 GiB at 60,000; the second tick with 0 intro requests and 0
Comprehend calls; every company checked within the promised interval, in phases 2 and 3.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("LOG_LEVEL", "WARNING")

import ddb_ops
from bench.local_e2e import PeakRss, company_pages, write_data_folder
from lib import table as watchlist
from lib.limits import WIKI_MAX_IN_FLIGHT
from lib.plan import Budget, part_of
from lib.results import text_sha256
from lib.schedule import period_seconds
from watchlist_workstation.deploy.template import load_template
from watchlist_workstation.local.stack import LocalStack
from watchlist_workstation.project import TEMPLATE

MAX_IN_FLIGHT = WIKI_MAX_IN_FLIGHT  # Wikimedia asks for at most 3 (lib/limits.py)
MAX_REQUESTS_PER_COMPANY = 0.03
TARGET_RSS = 1024**3
RAISED_BUDGET = 100_000
# Phase 3: a budget of 20 requests a minute on a one-minute schedule checks 800 companies a tick, so 1,000 take 2.
SMALL_BUDGET, SMALL_SCHEDULE, SMALL_BATCH = 20, "rate(1 minute)", 4
FIRST_TICK = 6_000_000  # any tick number will do; the benches' event times count from it


def event_time(number: int, period: int) -> str:
    """The schedule event's time of tick `number` (that many periods after the epoch; lib/plan.py tick_number)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(number * period))


def defaults() -> tuple[int, str]:
    parameters = load_template(TEMPLATE)["Parameters"]
    return int(parameters["WikipediaRequestsPerMinute"]["Default"]), parameters["ScheduleExpression"]["Default"]


def start(base: Path, pages: dict, name: str, parameters: dict[str, str]) -> LocalStack:
    data = base / f"data-{name}"
    write_data_folder(data, pages)
    return LocalStack(
        stack_name=f"bench-{name}",
        state_dir=base / f"state-{name}",
        results_dir=base / f"results-{name}",
        data_dir=data,
        text_request_log=None,
        parameters=parameters,
    ).start()


def tick(stack: LocalStack, number: int, timeout: float = 3600) -> dict:
    """Tick number `number` of the stack's schedule (its event time that many periods after the epoch), drained;
    what it cost, counted where it arrived."""
    text, comprehend = stack.text_server, stack.comprehend
    text.reset_counts()
    calls_before, documents_before = stack.aws_calls(), comprehend.stats()["documents_scored"]
    rule = stack.lambda_service.schedules[0]
    when = event_time(number, period_seconds(rule.expression))
    event = {"id": f"bench-tick-{number}", "time": when, "source": "bench", "detail-type": "Scheduled Event"}
    started = time.perf_counter()
    fired = stack.lambda_service.invoke(rule.function, event)
    drained = stack.lambda_service.drain(timeout=timeout)
    if not fired.ok or drained.timed_out or drained.failed:
        raise SystemExit(f"the tick failed: {fired.error_type} {fired.error_message}; drained {drained}")
    calls = stack.aws_calls() - calls_before
    return {
        "seconds": time.perf_counter() - started,
        "queued": fired.payload["queued"],
        "windows": fired.payload["windows"],
        "invocations": drained.batches,
        "text_requests": text.requests_served,
        "intro_requests": sum(r.asks_intros for r in text.requests),
        "peak_in_flight": text.peak_in_flight,
        "documents_scored": comprehend.stats()["documents_scored"] - documents_before,
        "sqs_requests": sum(n for key, n in calls.items() if key.startswith("sqs:")),
        "titles_checked": sorted({t for r in text.requests if not r.asks_intros for t in r.titles}),
        "request_times": [r.received_at for r in text.requests],
    }


def seed_as_read(stack: LocalStack, pages: dict) -> None:
    """Put the companies on the watchlist as if their pages had been read and analysed before."""
    text = stack.text_server
    items = [
        {
            watchlist.KEY: {"S": name},
            watchlist.REVISION: {"N": str(text.revision(name))},
            watchlist.PAGE: {"S": name},
            watchlist.TEXT_SHA256: {"S": text_sha256(entry["extract"])},
        }
        for name, entry in pages.items()
    ]
    watchlist.batch_write(
        stack.client("dynamodb"), stack.outputs["TableName"], [{"PutRequest": {"Item": i}} for i in items]
    )


def phase_scale(base: Path, count: int) -> dict:
    pages = company_pages(count)
    with PeakRss() as rss:
        stack = start(base, pages, "scale", {"WikipediaRequestsPerMinute": str(RAISED_BUDGET)})
        # The text source has read the pages from their folder; the bench keeps only the names.
        names = list(pages)
        del pages
        try:
            ddb_ops.items_add(stack.outputs["TableName"], names, stack.client("dynamodb"))
            first = tick(stack, FIRST_TICK)
            second = tick(stack, FIRST_TICK + 1)
        finally:
            stack.stop(save=False)
    for run in (first, second):
        run.pop("titles_checked")
        run.pop("request_times")
    return {"companies": count, "first": first, "second": second, "peak_rss_bytes": rss.peak}


def phase_plan(base: Path, count: int) -> dict:
    """The producer alone, at the default budget, for one round of ticks: who is queued when."""
    budget_default, schedule = defaults()
    period = period_seconds(schedule)
    budget = Budget(budget_default, period)
    pages = company_pages(count)
    stack = start(base, pages, "plan", {"WikipediaRequestsPerMinute": str(budget_default)})
    try:
        # The promise `status` makes is for a watchlist whose pages were read before (new pages cost intros too).
        seed_as_read(stack, pages)
        sqs, queue = stack.client("sqs"), stack.outputs["QueueUrl"]
        producer = next(s.function for s in stack.lambda_service.schedules)
        windows = budget.windows(count)
        queued: collections.Counter[str] = collections.Counter()
        per_tick = []
        for offset in range(windows):
            number = FIRST_TICK - FIRST_TICK % windows + offset  # a round starts at a multiple of `windows`
            when = event_time(number, period)
            result = stack.lambda_service.invoke(producer, {"id": f"plan-{offset}", "time": when, "source": "bench"})
            names = []
            while got := sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", []):
                for message in got:
                    names.extend(c["name"] for c in json.loads(message["Body"])["companies"])
                entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)]
                sqs.delete_message_batch(QueueUrl=queue, Entries=entries)
            queued.update(names)
            part = {name for name in pages if part_of(name, windows) == number % windows}
            per_tick.append(
                {"queued": len(names), "chunks": result.payload["chunks"], "as_planned": set(names) == part}
            )
    finally:
        stack.stop(save=False)
    return {
        "companies": count,
        "budget": budget_default,
        "period_seconds": period,
        "windows": windows,
        "interval_seconds": budget.refresh_seconds(count),
        "companies_per_tick": budget.companies_per_tick,
        "ticks": per_tick,
        "every_company_once": set(queued) == set(pages) and set(queued.values()) == {1},
        "revision_requests_per_tick_max": max(t["chunks"] for t in per_tick),
        # Parts are equal in size only on average (lib/plan.py): a part a little over the planned share is
        # absorbed by the share kept back, so the bound is the tick's whole budget, and the pace holds the minute.
        "revision_requests_per_tick_planned": budget.planned_requests,
        "revision_requests_per_tick_allowed": int(budget.requests_per_tick),
    }


def phase_small_budget(base: Path, count: int) -> dict:
    """A budget too small for the watchlist, in real time, with the pace."""
    period = period_seconds(SMALL_SCHEDULE)
    budget = Budget(SMALL_BUDGET, period)
    pages = company_pages(count, seed=11)
    parameters = {
        "WikipediaRequestsPerMinute": str(SMALL_BUDGET),
        "ScheduleExpression": SMALL_SCHEDULE,
        "ConsumerBatchSize": str(SMALL_BATCH),
    }
    stack = start(base, pages, "small", parameters)
    try:
        seed_as_read(stack, pages)
        windows = budget.windows(count)
        checked: set[str] = set()
        ticks, times = [], []
        started = time.monotonic()
        for offset in range(windows):
            # Consecutive ticks of the schedule, fired back to back: the event time moves on by a period each time.
            run = tick(stack, FIRST_TICK - FIRST_TICK % windows + offset, timeout=period * 3)
            checked.update(run.pop("titles_checked"))
            times.extend(run.pop("request_times"))
            ticks.append(run)
    finally:
        stack.stop(save=False)
    times.sort()
    busiest = max((sum(1 for t in times if start <= t < start + 60) for start in times), default=0)
    return {
        "companies": count,
        "budget": SMALL_BUDGET,
        "schedule": SMALL_SCHEDULE,
        "windows": windows,
        "interval_seconds": budget.refresh_seconds(count),
        "seconds": time.monotonic() - started,
        "ticks": ticks,
        "every_company_checked": checked == set(pages),
        "each_tick_within_its_period": all(t["seconds"] <= period for t in ticks),
        "peak_in_flight": max(t["peak_in_flight"] for t in ticks),
        "busiest_minute": busiest,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--companies", type=int, default=60_000, help="the large watchlist (default 60,000)")
    parser.add_argument("--small", type=int, default=1_000, help="the watchlist of phase 3 (default 1,000)")
    parser.add_argument("--json-out", type=Path, help="write the figures, checks and verdict as JSON to this file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-polite-") as tmp:
        base = Path(tmp)
        print(f"phase 1: {args.companies:,} companies, budget raised to {RAISED_BUDGET:,} a minute", file=sys.stderr)
        scale = phase_scale(base, args.companies)
        print("phase 2: the default budget's plan over one round", file=sys.stderr)
        plan = phase_plan(base, args.companies)
        print(f"phase 3: {args.small:,} companies on {SMALL_BUDGET} requests a minute, in real time", file=sys.stderr)
        small = phase_small_budget(base, args.small)

    first, second = scale["first"], scale["second"]
    n = scale["companies"]
    print(f"\nPhase 1: {n:,} companies, one tick each, budget raised")
    header = ("seconds", "co./s", "requests", "per co.", "intros", "scored", "peak", "invoc.")
    print(f"{'tick':<28}" + "".join(f"{h:>9}" for h in header))
    for label, run in (("1 (every page new)", first), ("2 (nothing changed)", second)):
        print(
            f"{label:<28}{run['seconds']:>9.1f}{n / run['seconds']:>9.0f}{run['text_requests']:>9,}"
            f"{run['text_requests'] / n:>9.4f}{run['intro_requests']:>9,}{run['documents_scored']:>9,}"
            f"{run['peak_in_flight']:>9}{run['invocations']:>9,}"
        )
    print(f"peak RSS of the local stack: {scale['peak_rss_bytes'] / 1024**2:.0f} MiB")
    print(
        f"\nPhase 2: default budget ({plan['budget']} a minute, {plan['period_seconds']} s ticks): "
        f"{plan['windows']} ticks of at most {plan['companies_per_tick']:,} companies, every company every "
        f"{plan['interval_seconds']} s; queued per tick {[t['queued'] for t in plan['ticks']]}, "
        f"revision requests per tick at most {plan['revision_requests_per_tick_max']} "
        f"(planned {plan['revision_requests_per_tick_planned']}, the tick's budget "
        f"{plan['revision_requests_per_tick_allowed']})"
    )
    print(
        f"\nPhase 3: {small['companies']:,} companies, {small['budget']} requests a minute, {small['schedule']}: "
        f"{small['windows']} ticks promised ({small['interval_seconds']} s); ticks took "
        f"{[round(t['seconds'], 1) for t in small['ticks']]} s, "
        f"requests {[t['text_requests'] for t in small['ticks']]}, "
        f"peak in flight {small['peak_in_flight']}, busiest minute {small['busiest_minute']} requests"
    )
    checks = {
        f"tick with nothing changed: <= {MAX_REQUESTS_PER_COMPANY} requests per company": second["text_requests"] / n
        <= MAX_REQUESTS_PER_COMPANY,
        "tick with nothing changed: 0 intro requests, 0 Comprehend documents": second["intro_requests"] == 0
        and second["documents_scored"] == 0,
        "budget raised: one tick checks every company": first["queued"] == n and first["windows"] == 1,
        f"<= {MAX_IN_FLIGHT} requests in flight": max(
            first["peak_in_flight"], second["peak_in_flight"], small["peak_in_flight"]
        )
        <= MAX_IN_FLIGHT,
        "peak RSS <= 1 GiB": scale["peak_rss_bytes"] <= TARGET_RSS,
        "default budget: every company queued once in the promised round": plan["every_company_once"]
        and all(t["as_planned"] for t in plan["ticks"]),
        "default budget: each tick's revision requests within the tick's budget": plan["revision_requests_per_tick_max"]
        <= plan["revision_requests_per_tick_allowed"],
        "small budget: every company checked within the promised round": small["every_company_checked"],
        "small budget: each tick drained within its period": small["each_tick_within_its_period"],
        "small budget: no 60 s held more requests than the budget": small["busiest_minute"] <= SMALL_BUDGET,
    }
    for name, passed in checks.items():
        print(f"{'PASS' if passed else 'FAIL'}  {name}")
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        result = {"scale": scale, "plan": plan, "small": small, "checks": checks, "passed": all(checks.values())}
        args.json_out.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
