"""The consumer's table write through moto's server: moto 5.2.5 as shipped vs local mode's moto.

Each variant runs in a fresh server process on 127.0.0.1:
  shipped     `python -m moto.server`: moto's own werkzeug server, no patch;
  local mode  `python -m watchlist_workstation.local.moto_server`: waitress,
              watchlist_workstation/local/moto_server/ddb_patch.py and the lookup caches.
A table holds `--items` companies; `--threads` boto3 threads then repeat the consumer's own write
(lib.state.save_analysis: one conditional UpdateItem of a dozen attributes) for `--seconds`. The
bench prints calls per second and the server process's CPU milliseconds per call (from
/proc/<pid>/stat), and the ratio. The clients share the machine with the server, as the pipeline's
workers do in local mode.

Target: local mode's server spends at most half the CPU per call that shipped moto spends.

    .venv/bin/python -m bench.ddb_update [--items 1000] [--threads 4] [--seconds 8] [--json-out PATH]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
from botocore.config import Config

from lib import state
from lib.clock import iso
from lib.results import ResultRow
from lib.wikipedia import PageRevision
from watchlist_workstation.local.moto_server.process import MotoProcess

TABLE = "bench-watchlist"
TARGET_RATIO = 2.0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _start_shipped() -> tuple[subprocess.Popen, str]:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(url + "/moto-api/", timeout=2):  # noqa: S310 - loopback
                return process, url
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                raise SystemExit("the shipped moto server did not start") from None
            time.sleep(0.2)


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# Each write is a newer revision and a later analysis than the one before it, so every UpdateItem passes the
# consumer's conditions and writes, as the consumer's own writes do (lib/state.py, save_analysis).
_WRITES = itertools.count(1)
_START = datetime(2026, 11, 28, 12, tzinfo=UTC)
# What save_analysis answered other than "written": a refused write would measure a different request.
REFUSED: list[str] = []


def _write(ddb, name: str) -> None:
    n = next(_WRITES)
    page = PageRevision(title=name, revision=n, url=f"http://127.0.0.1/wiki/{name.replace(' ', '_')}")
    row = _row(name, iso(_START + timedelta(microseconds=n)))
    outcome = state.save_analysis(TABLE, row, page, "key", ddb=ddb)
    if outcome != state.WRITTEN:
        REFUSED.append(f"{name}: {outcome}")


def _row(name: str, analyzed_at: str) -> ResultRow:
    return ResultRow(
        name=name,
        sentiment="POSITIVE",
        positive=0.81,
        negative=0.02,
        neutral=0.15,
        mixed=0.02,
        text="",
        text_sha256="ab" * 32,
        source_url=f"http://127.0.0.1/wiki/{name.replace(' ', '_')}",
        analyzed_at=analyzed_at,
        run_id="bench",
    )


def measure(url: str, pid: int, items: int, threads: int, seconds: float) -> dict[str, float]:
    session = boto3.session.Session(
        aws_access_key_id="bench",
        aws_secret_access_key="bench",  # noqa: S106 - moto takes any credentials
        region_name="us-east-1",
    )
    config = Config(retries={"max_attempts": 1}, max_pool_connections=threads)
    ddb = session.client("dynamodb", endpoint_url=url, config=config)
    ddb.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "name", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "name", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    names = [f"Company {i:05d}" for i in range(items)]
    for start in range(0, items, 25):
        batch = [{"PutRequest": {"Item": {"name": {"S": n}}}} for n in names[start : start + 25]]
        ddb.batch_write_item(RequestItems={TABLE: batch})
    for name in names[:20]:  # warm up: connections, moto's caches
        _write(ddb, name)

    counts = [0] * threads
    stop_at = time.monotonic() + seconds

    def work(k: int) -> None:
        i = k
        while time.monotonic() < stop_at:
            _write(ddb, names[i % items])
            counts[k] += 1
            i += threads

    cpu_before, started = _cpu_seconds(pid), time.monotonic()
    workers = [threading.Thread(target=work, args=(k,)) for k in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    elapsed, cpu = time.monotonic() - started, _cpu_seconds(pid) - cpu_before
    calls = sum(counts)
    return {"calls": calls, "per_second": calls / elapsed, "server_cpu_ms": 1000 * cpu / calls}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--json-out", type=Path, help="also write the figures and the verdict as JSON to this file")
    args = parser.parse_args()

    figures = {}
    process, url = _start_shipped()
    try:
        figures["shipped"] = measure(url, process.pid, args.items, args.threads, args.seconds)
    finally:
        process.kill()
        process.wait()
    local = MotoProcess().start()
    try:
        figures["local mode"] = measure(local.url, local.process.pid, args.items, args.threads, args.seconds)
    finally:
        local.stop()

    print(f"UpdateItem of the consumer's shape, {args.threads} client threads, {args.items:,} items")
    print(f"{'server':<12} {'calls':>7} {'calls/s':>8} {'server CPU ms/call':>19}")
    for variant, figure in figures.items():
        print(f"{variant:<12} {figure['calls']:>7,} {figure['per_second']:>8.1f} {figure['server_cpu_ms']:>19.2f}")
    ratio = figures["shipped"]["server_cpu_ms"] / figures["local mode"]["server_cpu_ms"]
    speed = figures["local mode"]["per_second"] / figures["shipped"]["per_second"]
    print(
        f"server CPU per call, shipped / local mode: {ratio:.1f}x; calls per second, local mode / shipped: {speed:.1f}x"
    )
    ok = ratio >= TARGET_RATIO and not REFUSED
    print(
        f"{'PASS' if ratio >= TARGET_RATIO else 'FAIL'}  local mode's server CPU per call at most 1/{TARGET_RATIO:.0f} "
        "of shipped moto's"
    )
    print(
        f"{'FAIL' if REFUSED else 'PASS'}  every write accepted ({len(REFUSED)} refused{': ' if REFUSED else ''}"
        f"{', '.join(REFUSED[:3])})"
    )
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        result = {
            "items": args.items,
            "threads": args.threads,
            "seconds": args.seconds,
            "figures": figures,
            "cpu_ratio": ratio,
            "speed_ratio": speed,
            "target_cpu_ratio": TARGET_RATIO,
            "refused_writes": len(REFUSED),
            "passed": ok,
        }
        args.json_out.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
