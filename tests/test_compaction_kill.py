"""Compaction killed at every step (docs/dataset.md, "Compaction"): a run in its own process against a moto
server SIGKILLs itself after its n-th PutObject or DeleteObject (tests/compaction_runner.py), for every n from 1
to the run's total; at the kill, and after a second run to completion, a reader reads exactly the rows it read
before, none twice, and once finished each day holds at most 24 objects, only those its manifest names."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from lib.compaction import Place, compact_day
from lib.results import batch_key, put_results, to_csv
from tests.conftest import result_row
from tests.dataset_checks import assert_compacted, assert_dataset_invariants
from watchlist_workstation.local.moto_server.process import MotoProcess

pytestmark = pytest.mark.servers

REPO_ROOT = Path(__file__).resolve().parents[1]
FRESH, AGAIN = "2026-11-26", "2026-11-27"  # a day never compacted; a day compacted once, with batches since
TARGET = 2000  # bytes: small, so that each day is cut into a few objects


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory) -> Iterator[str]:
    server = MotoProcess(log_path=tmp_path_factory.mktemp("moto") / "moto.log").start()
    yield server.url
    server.stop()


def client(endpoint: str):
    return boto3.client(
        "s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="t"
    )


def seeded(endpoint: str, name: str) -> Place:
    """A bucket holding: FRESH with four batch objects (one in the older CSV layout), texts of two paragraphs;
    AGAIN compacted once, then two more batch objects."""
    s3 = client(endpoint)
    s3.create_bucket(Bucket=name)
    place = Place(name, "results", "manifests")

    def batch(day: str, rows, csv: bool = False) -> None:
        key = batch_key("results", rows, day)
        if csv:
            s3.put_object(Bucket=name, Key=key.replace(".jsonl", ".csv"), Body=to_csv(rows))
        else:
            put_results(name, key, rows, s3=s3)

    at = f"{FRESH}T08:00:00.000000Z"
    for b in range(3):
        batch(FRESH, [result_row(f"Fresh {b}-{i}", at, text=f"Para one {b}.\n\nPara two {i}.") for i in range(3)])
    batch(FRESH, [result_row("Fresh legacy", at), result_row("Fresh older", at)], csv=True)
    later = f"{AGAIN}T09:00:00.000000Z"
    batch(AGAIN, [result_row(f"Again {i}", later) for i in range(4)])
    compact_day(s3, place, AGAIN, target=TARGET)
    batch(AGAIN, [result_row("Again late 1", later, run_id="run-2")])
    batch(AGAIN, [result_row("Again late 2", later, run_id="run-2"), result_row("Again 0", later, run_id="run-2")])
    return place


def compaction(endpoint: str, place: Place, kill_after: int) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.compaction_runner",
            endpoint,
            place.bucket,
            str(TARGET),
            str(kill_after),
            FRESH,
            AGAIN,
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "t"},
    )


def by_identity(rows) -> dict:
    return {(r["name"], r["text_sha256"], r["run_id"]): {**r, "schema_version": None} for r in rows}


def test_a_compaction_killed_after_any_write_or_delete_then_run_again_loses_and_duplicates_nothing(endpoint):
    # GIVEN the number of mutating calls a whole run makes on the seeded bucket
    whole = compaction(endpoint, seeded(endpoint, "kill-count"), 0)
    assert whole.returncode == 0, whole.stderr
    total = int(whole.stdout.split()[-1])
    assert total >= 10  # several objects written and deleted on both days: every step below is a kill point
    for n in range(1, total + 1):
        place = seeded(endpoint, f"kill-{n}")
        before = by_identity(assert_dataset_invariants(place, client(endpoint)))
        # WHEN a run is killed right after its n-th mutating call
        killed = compaction(endpoint, place, n)
        assert killed.returncode == -signal.SIGKILL, (n, killed.stderr[-500:])
        # THEN a reader already sees each row exactly once
        assert by_identity(assert_dataset_invariants(place, client(endpoint))) == before, n
        # AND a run to completion leaves the same rows, each day at most 24 objects, all named by its manifest
        finished = compaction(endpoint, place, 0)
        assert finished.returncode == 0, (n, finished.stderr[-500:])
        assert by_identity(assert_dataset_invariants(place, client(endpoint))) == before, n
        assert_compacted(place, [FRESH, AGAIN], client(endpoint))
