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

# The moto server's region and a throwaway key (any key that is not a role's is moto's default account).
LOCAL = {"region_name": "us-east-1", "aws_access_key_id": "bench", "aws_secret_access_key": "bench"}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--bucket", required=True)
    parser.add_argument("--box", type=float, default=120.0)
    parser.add_argument("--objects", type=int, required=True, help="objects in the bucket, to extrapolate")
    parser.add_argument("--sample-day", required=True, help="a partition whose objects time one read")
    parser.add_argument("--sample", type=int, default=400)
    args = parser.parse_args()

    from concurrent.futures import ThreadPoolExecutor

    from watchlist_workstation.analysis import dataset

    s3 = boto3.client("s3", endpoint_url=args.url, **LOCAL)
    calls = {"GetObject": 0, "ListObjectsV2": 0}
    list_seconds: list[float] = []

    def before(model, context, **_):
        calls[model.name] = calls.get(model.name, 0) + 1
        context["bench_started"] = time.perf_counter()

    def after(model, context, **_):
        if model.name == "ListObjectsV2":
            list_seconds.append(time.perf_counter() - context["bench_started"])

    s3.meta.events.register("before-call.s3", before)
    s3.meta.events.register("after-call.s3", after)
    outcome: dict = {}

    def read() -> None:
        began = time.perf_counter()
        rows = dataset.dedupe(dataset.load_results(s3, args.bucket, "results"))
        latest = dataset.latest_per_company(rows)
        outcome.update(seconds=time.perf_counter() - began, rows=len(rows), companies=len(latest))

    started = time.perf_counter()
    worker = threading.Thread(target=read, daemon=True)
    worker.start()
    worker.join(args.box)
    report = {
        "finished": "seconds" in outcome,
        "seconds": outcome.get("seconds", time.perf_counter() - started),
        "gets": calls["GetObject"],
        "list_pages": calls["ListObjectsV2"],
        **{k: v for k, v in outcome.items() if k != "seconds"},
    }
    if not report["finished"]:
        # The same read of one object as load_results (a GET, then parse_csv), on `--sample` objects of one
        # partition with the same pool; with the listing's pace, it extrapolates the whole read.
        sampler = boto3.client("s3", endpoint_url=args.url, **LOCAL)
        page = sampler.list_objects_v2(Bucket=args.bucket, Prefix=f"results/dt={args.sample_day}/")
        keys = [entry["Key"] for entry in page.get("Contents", [])][: args.sample]

        def one(key: str) -> None:
            dataset.parse_csv(sampler.get_object(Bucket=args.bucket, Key=key)["Body"].read())

        began = time.perf_counter()
        with ThreadPoolExecutor(max_workers=dataset.READ_WORKERS) as pool:
            list(pool.map(one, keys))
        per_object = (time.perf_counter() - began) / len(keys)
        pages = -(-args.objects // 1000)
        per_page = sum(list_seconds) / len(list_seconds)
        report.update(
            sampled_objects=len(keys),
            seconds_per_object=per_object,
            seconds_per_list_page=per_page,
            extrapolated_seconds=pages * per_page + args.objects * per_object,
            extrapolated_gets=args.objects,
            extrapolated_list_pages=pages,
        )
    print(json.dumps(report), flush=True)
    os._exit(0)  # the read may still be running: stop here, with it


if __name__ == "__main__":
    main()
