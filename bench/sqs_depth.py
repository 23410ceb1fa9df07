"""SQS calls on a deep queue through moto's server: moto 5.2.5 as shipped vs local mode's SQS patch.

The patch is watchlist_workstation/local/moto_server/sqs_patch.py.

For each queue depth (default 1,000 and 10,000) and each variant, a fresh process starts a
ThreadedMotoServer on 127.0.0.1 (the shipped variant never imports the patch), fills one standard
queue, then repeats a round of ReceiveMessage(10), DeleteMessageBatch(10) of what it received,
SendMessageBatch(10) and GetQueueAttributes(All) through boto3, so the depth stays put, plus a
ListQueues, which touches no message: the floor any call costs through the server (HTTP, werkzeug,
moto's dispatch, boto3; about 8 ms on a 2-core machine). It prints the median milliseconds of each
call and the speed-up.

The queue is filled in-process (moto's Message objects appended to the queue's list, as
SendMessage does), the same way for both variants: through unpatched moto each send reads the
queue's attributes, three scans of the queue, so filling 10,000 would take minutes. One
GetQueueAttributes before the rounds opens the connection (and builds the patch's index).

Target: local mode pushes 100 companies a second through one queue, 10 a batch: 10 rounds of
SendMessageBatch + ReceiveMessage + DeleteMessageBatch a second, so each patched call must take
well under 33 ms at 10,000 deep; the bench fails above 20 ms.

    .venv/bin/python -m bench.sqs_depth [--depths 1000 10000] [--calls 30] [--shipped-calls 3] [--json-out PATH]
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CALLS = (
    "ReceiveMessage(10)",
    "DeleteMessageBatch(10)",
    "SendMessageBatch(10)",
    "GetQueueAttributes(All)",
    "ListQueues (floor)",  # touches no message: what any call costs through the server and boto3
)
TARGET_MS = 20.0
BODY = json.dumps({"company": "Example Corporation", "correlation_id": str(uuid.UUID(int=0))})


def measure(variant: str, depth: int, rounds: int) -> dict[str, list[float]]:
    """Runs in the child process: one server, one queue `depth` deep, `rounds` rounds of calls."""
    import boto3
    from moto.server import ThreadedMotoServer

    if variant == "patched":
        from watchlist_workstation.local.moto_server import sqs_patch

        sqs_patch.apply()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        sqs = boto3.client(
            "sqs",
            endpoint_url=f"http://{host}:{port}",
            region_name="us-east-1",
            aws_access_key_id="bench",
            aws_secret_access_key="bench",  # noqa: S106 - moto takes any credentials
        )
        url = sqs.create_queue(QueueName=f"depth-{depth}")["QueueUrl"]
        fill(url, depth)
        sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])
        times: dict[str, list[float]] = {call: [] for call in CALLS}

        def timed(call: str, fn, **kwargs):
            started = time.perf_counter()
            response = fn(**kwargs)
            times[call].append((time.perf_counter() - started) * 1000)
            return response

        for round_ in range(rounds):
            received = timed(
                CALLS[0], sqs.receive_message, QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=600
            )["Messages"]
            entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(received)]
            deleted = timed(CALLS[1], sqs.delete_message_batch, QueueUrl=url, Entries=entries)
            assert len(deleted["Successful"]) == len(received), deleted.get("Failed")  # noqa: S101
            batch = [{"Id": str(i), "MessageBody": f"{round_}-{i}-{BODY}"} for i in range(10)]
            timed(CALLS[2], sqs.send_message_batch, QueueUrl=url, Entries=batch)
            timed(CALLS[3], sqs.get_queue_attributes, QueueUrl=url, AttributeNames=["All"])
            timed(CALLS[4], sqs.list_queues)
        return times
    finally:
        server.stop()


def fill(url: str, depth: int) -> None:
    from moto.sqs.models import Message, sqs_backends

    _, account, name = url.rsplit("/", 2)
    queue = sqs_backends[account]["us-east-1"].get_queue(name)
    with queue._messages_lock:
        for i in range(depth):
            message = Message(str(uuid.uuid4()), f"fill-{i}-{BODY}")
            message.mark_sent()
            queue._messages.append(message)


def run_child(variant: str, depth: int, rounds: int) -> dict[str, float]:
    command = [
        sys.executable,
        "-m",
        "bench.sqs_depth",
        "--child",
        variant,
        "--depth",
        str(depth),
        "--calls",
        str(rounds),
    ]
    done = subprocess.run(command, cwd=ROOT, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depths", type=int, nargs="+", default=[1000, 10000], help="queue depths to measure")
    parser.add_argument("--calls", type=int, default=30, help="rounds of calls with the patch")
    parser.add_argument(
        "--shipped-calls", type=int, default=3, help="rounds with moto as shipped (slow: seconds a call when deep)"
    )
    parser.add_argument("--json-out", type=Path, help="also write the medians and the verdict as JSON")
    parser.add_argument("--child", choices=["shipped", "patched"], help=argparse.SUPPRESS)
    parser.add_argument("--depth", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        times = measure(args.child, args.depth, args.calls)
        print(json.dumps({call: statistics.median(values) for call, values in times.items()}))
        return 0

    print(f"SQS calls through moto's server, median ms ({args.shipped_calls} rounds shipped, {args.calls} patched)")
    print(f"{'depth':>7}  {'call':<26}{'shipped':>10}{'patched':>10}{'speed-up':>10}")
    worst = 0.0
    results = {}
    for depth in args.depths:
        shipped = run_child("shipped", depth, args.shipped_calls)
        patched = run_child("patched", depth, args.calls)
        results[depth] = {"shipped": shipped, "patched": patched}
        for call in CALLS:
            ratio = shipped[call] / patched[call]
            print(f"{depth:>7,}  {call:<26}{shipped[call]:>10.1f}{patched[call]:>10.1f}{ratio:>9.0f}x")
        worst = max(worst, *patched.values())
    passed = worst <= TARGET_MS
    print(f"{'PASS' if passed else 'FAIL'}  slowest patched call {worst:.1f} ms (target <= {TARGET_MS:.0f} ms)")
    print(json.dumps(results, sort_keys=True))
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        result = {
            "depths": {str(depth): figures for depth, figures in results.items()},
            "rounds": {"shipped": args.shipped_calls, "patched": args.calls},
            "slowest_patched_ms": worst,
            "target_ms": TARGET_MS,
            "passed": passed,
        }
        args.json_out.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
