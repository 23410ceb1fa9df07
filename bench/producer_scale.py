"""The producer at scale: one invocation scans a watchlist of 100,000 companies and queues them within its timeout.

    .venv/bin/python -m bench.producer_scale [--companies 100000] [--json-out PATH]

The local stack from template.yml (bench/polite_scale.py starts it the same way), the watchlist seeded as read
before, and the real producer handler invoked once in its worker with the schedule's event, twice:
  1. the template's default budget: the producer scans everything and queues this tick's part (the budget decides);
  2. the budget raised (the local text source has no limit): it scans and queues every company.
Each invocation is timed by the local Lambda service, which enforces the function's Timeout from the template.

Targets (the "Polite at scale" issue): both scans complete, every company queued in the raised run, and each
invocation within the producer's Timeout. The scan runs against local mode's moto, which pages a scan far more
slowly than DynamoDB (it walks the table from the start for every page), so AWS leaves more room.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("LOG_LEVEL", "WARNING")

from bench.local_e2e import company_pages
from bench.polite_scale import FIRST_TICK, defaults, event_time, seed_as_read, start
from lib.schedule import period_seconds
from watchlist_workstation.deploy.template import load_template
from watchlist_workstation.project import TEMPLATE

RAISED_BUDGET = 100_000


def producer_timeout() -> int:
    return int(load_template(TEMPLATE)["Resources"]["ServerlessProducer"]["Properties"]["Timeout"])


def run(base: Path, pages: dict, name: str, budget: int) -> dict:
    stack = start(base, pages, name, {"WikipediaRequestsPerMinute": str(budget)})
    try:
        seed_as_read(stack, pages)
        rule = stack.lambda_service.schedules[0]
        when = event_time(FIRST_TICK, period_seconds(rule.expression))
        result = stack.lambda_service.invoke(rule.function, {"id": name, "time": when, "source": "bench"})
    finally:
        stack.stop(save=False)
    if not result.ok:
        raise SystemExit(f"the producer failed: {result.error_type} {result.error_message}")
    summary = result.payload
    return {"budget": budget, "seconds": result.duration_s, "timed_out": result.timed_out, **summary}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--companies", type=int, default=100_000)
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args()
    pages = company_pages(args.companies)
    timeout = producer_timeout()
    budget, _ = defaults()
    with tempfile.TemporaryDirectory(prefix="bench-producer-") as base:
        runs = [run(Path(base), pages, "default", budget), run(Path(base), pages, "raised", RAISED_BUDGET)]
    print(f"The producer, one invocation, {args.companies:,} companies read before (Timeout {timeout} s)")
    columns = ("seconds", 8), ("scanned", 9), ("complete", 9), ("parts", 6), ("queued", 8), ("chunks", 7)
    print(f"{'budget a minute':>16} " + " ".join(f"{name:>{width}}" for name, width in columns))
    for r in runs:
        print(
            f"{r['budget']:>16,} {r['seconds']:>8.1f} {r['companies']:>9,} {str(r['scan_complete']):>9} "
            f"{r['windows']:>6} {r['queued']:>8,} {r['chunks']:>7,}"
        )
    checks = {
        "every scan complete": all(r["scan_complete"] for r in runs),
        "budget raised: every company queued": runs[1]["queued"] == args.companies and runs[1]["failed"] == 0,
        f"each invocation within the Timeout ({timeout} s)": all(
            not r["timed_out"] and r["seconds"] < timeout for r in runs
        ),
    }
    for what, ok in checks.items():
        print(f"{'PASS' if ok else 'FAIL'}  {what}")
    passed = all(checks.values())
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        result = {"companies": args.companies, "timeout_seconds": timeout, "runs": runs, "checks": checks}
        args.json_out.write_text(json.dumps({**result, "passed": passed}, indent=2, sort_keys=True) + "\n")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
