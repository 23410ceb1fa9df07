"""A compaction run in a process of its own, for the kill tests (tests/test_compaction_kill.py):

    python -m tests.compaction_runner ENDPOINT BUCKET TARGET_BYTES KILL_AFTER DAY [DAY ...]

It compacts DAYs against the S3 endpoint ENDPOINT (a moto server) with lib.compaction, through an S3 client
this script wraps: after its KILL_AFTER-th mutating call (PutObject or DeleteObject) has been answered, the
process SIGKILLs itself, so nothing after that call runs. KILL_AFTER 0 never kills, and the run prints the
number of mutating calls it made. No kill hook lives in the production code.
"""

from __future__ import annotations

import os
import signal
import sys
import threading

import boto3

from lib.compaction import Place, compact_days

MUTATING = ("PutObject", "DeleteObject")


def main(argv: list[str]) -> int:
    endpoint, bucket, target, kill_after, *days = argv
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    calls = 0
    lock = threading.Lock()  # deletes run on several threads

    def counted(**_: object) -> None:
        nonlocal calls
        with lock:
            calls += 1
            if calls == int(kill_after):
                os.kill(os.getpid(), signal.SIGKILL)

    for operation in MUTATING:
        s3.meta.events.register(f"after-call.s3.{operation}", counted)
    compact_days(s3, Place(bucket, "results", "manifests"), days, target=int(target))
    print(calls)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
