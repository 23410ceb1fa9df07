"""The dataset at 90 days: what the latest view, a company's page and compaction cost, against the code before.

    .venv/bin/python -m bench.dataset [--companies 1000] [--days 90] [--rate 0.01] [--json-out PATH]

A moto server like local mode's (watchlist_workstation/local/moto_server) holds the seeded bucket of
bench/dataset_seed.py: `--days` days of results for `--companies` companies at a text change rate of
`--rate` per 5-minute tick, in the objects the pipeline wrote before this issue (a CSV per batch). The
watchlist table holds each company as the consumer left it: its rows of the last two days were recorded
through lib.state.save_analysis in the order they were analysed.

Phases, each a median of `--repeat` runs unless said otherwise; S3 requests counted on the reader's client:
  1. baseline, the code of BASELINE_COMMIT (bench/dataset_baseline.py): `results` and the dashboard's main
     page read every object; one run, stopped after --baseline-box seconds and extrapolated if unfinished;
  2. the latest view now: `results` (its default view) and the dashboard's main page, from the table;
  3. compaction of every finished day (lib/compaction.py, as the Compactor function runs it): objects per
     finished day and rows, before and after;
  4. a company's page and `results --name`, after compaction, with its S3 requests.

Targets (the "dataset" issue): phase 2 makes 0 S3 GETs and answers in <= 1 s; phase 4 answers in <= 2 s;
after compaction every finished day has <= 24 objects and the row count is unchanged. Exit status 1 when
one is missed.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

os.environ.setdefault("LOG_LEVEL", "WARNING")

import boto3

from bench.dataset_seed import company_names
from lib.clock import iso
from lib.dataset_layout import MAX_OBJECTS_PER_DAY
from lib.results import ResultRow
from lib.state import save_analysis
from lib.wikipedia import PageRevision
from watchlist_workstation.local.moto_server.process import MotoProcess

ROOT = Path(__file__).resolve().parents[1]
# main before the dataset issue: the code whose reads are the baseline.
BASELINE_COMMIT = "23a4502"
BUCKET, TABLE = "bench-results", "bench-watchlist"
LATEST_TARGET_SECONDS, COMPANY_TARGET_SECONDS = 1.0, 2.0
SEED_START_SECONDS = 900.0


class Counted:
    """An S3 client whose calls are counted by operation (botocore's before-call event)."""

    def __init__(self, client: Any) -> None:
        self.client, self.calls = client, Counter()
        client.meta.events.register("before-call.s3", lambda model, **_: self.calls.update([model.name]))

    def take(self) -> dict[str, int]:
        taken = dict(self.calls)
        self.calls.clear()
        return taken


def clients(url: str) -> tuple[Any, Any]:
    kwargs = {
        "endpoint_url": url,
        "region_name": "us-east-1",
        "aws_access_key_id": "bench",
        "aws_secret_access_key": "bench",
    }
    return boto3.client("s3", **kwargs), boto3.client("dynamodb", **kwargs)


def timed(run: Callable[[], Any], repeat: int, s3: Counted) -> dict[str, Any]:
    """Median and spread of `repeat` runs, and the S3 requests of one run."""
    times, calls = [], {}
    for _ in range(repeat):
        s3.take()
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
        calls = s3.take()
    return {"median": statistics.median(times), "min": min(times), "max": max(times), "s3": calls}


def seed_table(ddb: Any, rows_path: Path, companies: int, added_at: str) -> int:
    """The watchlist as the consumer left it: each company, then its recent rows recorded in analysis order."""
    ddb.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "name", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "name", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    for name in company_names(companies):
        ddb.put_item(TableName=TABLE, Item={"name": {"S": name}, "added_at": {"S": added_at}})
    entries = [json.loads(line) for line in rows_path.read_text(encoding="utf-8").splitlines()]
    entries.sort(key=lambda entry: entry["row"]["analyzed_at"])
    for entry in entries:
        row = entry["row"]
        page = PageRevision(title=row["name"], revision=row["revision"], url=row["source_url"])
        save_analysis(TABLE, ResultRow(**row), page, entry["key"], ddb)
    return len(entries)


def baseline(url: str, box: float, objects: int, sample_day: str, work: Path) -> dict[str, Any]:
    """bench/dataset_baseline.py on the tree of BASELINE_COMMIT (git archive, so nothing of now is imported)."""
    tree = work / "baseline"
    tree.mkdir()
    git = shutil.which("git") or "git"
    archive = subprocess.run(
        [git, "archive", "--format=tar", BASELINE_COMMIT], cwd=ROOT, check=True, capture_output=True
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(tree, filter="data")
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "dataset_baseline.py"),
            "--url",
            url,
            "--bucket",
            BUCKET,
            "--box",
            str(box),
            "--objects",
            str(objects),
            "--sample-day",
            sample_day,
        ],
        env={**os.environ, "PYTHONPATH": str(tree)},
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def run(args: argparse.Namespace) -> dict[str, Any]:
    now = datetime.now(UTC)
    work = Path(tempfile.mkdtemp(prefix="bench-dataset-"))
    rows_path, counts_path = work / "rows.jsonl", work / "counts.json"
    seed_args = ("--bucket", BUCKET, "--companies", str(args.companies), "--days", str(args.days))
    seed_args += ("--rate", str(args.rate), "--now", now.isoformat())
    seed_args += ("--rows-out", str(rows_path), "--counts-out", str(counts_path))
    print(f"seeding {args.days} days x {args.companies} companies at rate {args.rate} ...", file=sys.stderr)
    started = time.perf_counter()
    moto = MotoProcess(module="bench.dataset_seed", module_args=seed_args, log_path=work / "moto.log")
    moto.start(timeout=SEED_START_SECONDS)
    report: dict[str, Any] = {"seed": {**json.loads(counts_path.read_text()), "seconds": time.perf_counter() - started}}
    try:
        s3, ddb = clients(moto.url)
        first_day = now.date().toordinal() - args.days + 1
        added_at = iso(datetime.fromordinal(first_day).replace(tzinfo=UTC))
        report["seed"]["table_rows_recorded"] = seed_table(ddb, rows_path, args.companies, added_at)
        print(f"seeded: {report['seed']}", file=sys.stderr)
        print("baseline (the code before) ...", file=sys.stderr)
        report["baseline"] = baseline(
            moto.url, args.baseline_box, report["seed"]["objects"], (now - timedelta(days=2)).date().isoformat(), work
        )
        print(f"baseline: {report['baseline']}", file=sys.stderr)
        counted = Counted(s3)
        report.update(measure_now(counted, ddb, args, now))
    finally:
        moto.stop()
    return report


def measure_now(s3: Counted, ddb: Any, args: argparse.Namespace, now: datetime) -> dict[str, Any]:
    """Phases 2 to 4: the readers and the compaction of this issue, on the same bucket."""
    from lib.compaction import Place, compact_days, finished, partition_days
    from watchlist_workstation.analysis.company_history import load_company
    from watchlist_workstation.analysis.latest import read_watchlist
    from watchlist_workstation.analysis.partitions import RequestCount
    from watchlist_workstation.cli.context import aws_error_message
    from watchlist_workstation.dashboard.app import create_app
    from watchlist_workstation.dashboard.data import ResultsData

    data = ResultsData(s3.client, BUCKET, "results", ddb=ddb, table=TABLE, max_age=0.0, now=lambda: now)
    page = create_app(data, explain=aws_error_message).test_client()

    def get(path: str) -> None:
        response = page.get(path)
        if response.status_code != 200:
            raise RuntimeError(f"{path} answered {response.status_code}")

    print("latest view ...", file=sys.stderr)
    report: dict[str, Any] = {
        "results_latest": timed(lambda: read_watchlist(ddb, TABLE), args.repeat, s3),
        "dashboard_main": timed(lambda: get("/"), args.repeat, s3),
    }
    place = Place(BUCKET, "results", "manifests")
    days = partition_days(s3.client, place)
    due = [day for day in days if finished(day, now)]
    print(f"compacting {len(due)} finished days ...", file=sys.stderr)
    started = time.perf_counter()
    reports, left = compact_days(s3.client, place, due)
    s3.take()
    report["compaction"] = {
        "seconds": time.perf_counter() - started,
        "days": len(reports),
        "not_started": left,
        "objects_before": sum(r.objects_before for r in reports),
        "objects_after": sum(r.objects_after for r in reports),
        "max_objects_after_per_day": max((r.objects_after for r in reports), default=0),
        "rows_before": sum(r.rows_before for r in reports),
        "rows_after": sum(r.rows_after for r in reports),
        "per_day": [r.as_dict() for r in reports],
    }
    name = company_names(args.companies)[args.companies // 2]
    path = "/companies/" + name.replace(" ", "%20")
    print(f"company page of {name} ...", file=sys.stderr)
    first = (now - timedelta(days=args.days - 1)).date()
    report["company_page"] = timed(lambda: get(path), args.repeat, s3)
    report["company_page"]["header"] = page.get(path).headers.get("X-S3-Requests")
    s3.take()

    def by_name() -> None:
        load_company(s3.client, ddb, TABLE, BUCKET, "results", name, first, now=now, counts=RequestCount())

    report["results_name_all"] = timed(by_name, args.repeat, s3)
    report["company"] = name
    return report


def verdict(report: dict[str, Any]) -> dict[str, bool]:
    compaction = report["compaction"]
    return {
        "latest_no_gets": all(report[k]["s3"].get("GetObject", 0) == 0 for k in ("results_latest", "dashboard_main")),
        "latest_within_1s": all(
            report[k]["median"] <= LATEST_TARGET_SECONDS for k in ("results_latest", "dashboard_main")
        ),
        "company_within_2s": report["company_page"]["median"] <= COMPANY_TARGET_SECONDS,
        "objects_per_day": compaction["max_objects_after_per_day"] <= MAX_OBJECTS_PER_DAY,
        "rows_kept": compaction["rows_before"] == compaction["rows_after"] and not compaction["not_started"],
    }


def report_rows(data: dict[str, Any]) -> list[tuple[str, str, str, str, str, bool]]:
    """bench/report.py's rows of this bench (what, ours, baseline, ratio, target, passed)."""
    base, checks, seed = data["baseline"], data["checks"], data["seed"]
    old = base["seconds"] if base["finished"] else base["extrapolated_seconds"]
    old_text = f"{old:,.0f} s{'' if base['finished'] else ' (extrapolated)'}, {seed['objects']:,} GETs"
    rows = []
    for key, what in (("results_latest", "`results`, latest view"), ("dashboard_main", "Dashboard main page")):
        figure = data[key]
        gets = figure["s3"].get("GetObject", 0)
        rows.append(
            (
                f"{what}, {seed['rows']:,} rows over 90 days (median of runs)",
                f"{figure['median']:.2f} s, {gets} GETs",
                old_text,
                f"{old / figure['median']:,.0f}x faster",
                "0 GETs, <= 1 s",
                checks["latest_no_gets"] and figure["median"] <= LATEST_TARGET_SECONDS,
            )
        )
    page = data["company_page"]
    rows.append(
        (
            "A company's page after compaction (median of runs)",
            f"{page['median']:.2f} s, S3 {page['header']}",
            old_text,
            f"{old / page['median']:,.0f}x faster",
            "<= 2 s",
            checks["company_within_2s"],
        )
    )
    compaction = data["compaction"]
    rows.append(
        (
            f"Compaction of {compaction['days']} finished days",
            f"{compaction['objects_before']:,} -> {compaction['objects_after']:,} objects (at most "
            f"{compaction['max_objects_after_per_day']} a day); rows {compaction['rows_before']:,} -> "
            f"{compaction['rows_after']:,}",
            "—",
            "—",
            "<= 24 objects a day, rows equal",
            checks["objects_per_day"] and checks["rows_kept"],
        )
    )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.dataset", description=__doc__.splitlines()[0])
    parser.add_argument("--companies", type=int, default=1000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--rate", type=float, default=0.01)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--baseline-box", type=float, default=120.0, help="seconds the baseline's read may take")
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args(argv)
    report = run(args)
    report["checks"] = verdict(report)
    report["passed"] = all(report["checks"].values())
    text = json.dumps(report, indent=2)
    print(text)
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(text + "\n")
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
