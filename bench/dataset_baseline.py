"""The baseline of bench/dataset.py: the dataset read by the code as it was before the dataset issue.

    PYTHONPATH=<a copy of that commit's tree> python bench/dataset_baseline.py --url URL --bucket NAME --box 120

Run as a file, with the older tree first on the import path, so every module it imports is the old one.
Then `results` and the dashboard's main page read the dataset the same way: watchlist_workstation.
analysis.dataset.load_results over every object under results/, then dedupe (the dashboard's
ResultsData._read is exactly that, and its company pages use the same snapshot). The read is given
`--box` seconds; one that has not ended by then is reported with the GETs it made so far, and the bench
extrapolates to the whole bucket. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time

import boto3


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--bucket", required=True)
    parser.add_argument("--box", type=float, default=120.0)
    args = parser.parse_args()

    from watchlist_workstation.analysis import dataset

    s3 = boto3.client(
        "s3",
        endpoint_url=args.url,
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench",  # noqa: S106 - the local moto server's throwaway key
    )
    calls = {"get": 0, "list": 0}

    def count(model, **_):
        calls["get" if model.name == "GetObject" else "list"] += 1

    s3.meta.events.register("before-call.s3", count)
    outcome: dict = {}

    def read() -> None:
        started = time.perf_counter()
        rows = dataset.dedupe(dataset.load_results(s3, args.bucket, "results"))
        latest = dataset.latest_per_company(rows)
        outcome.update(seconds=time.perf_counter() - started, rows=len(rows), companies=len(latest))

    started = time.perf_counter()
    worker = threading.Thread(target=read, daemon=True)
    worker.start()
    worker.join(args.box)
    report = {
        "finished": "seconds" in outcome,
        "seconds": outcome.get("seconds", time.perf_counter() - started),
        "gets": calls["get"],
        "lists": calls["list"],
        **{k: v for k, v in outcome.items() if k != "seconds"},
    }
    print(json.dumps(report), flush=True)
    os._exit(0)  # the read may still be running: stop here, with it


if __name__ == "__main__":
    main()
