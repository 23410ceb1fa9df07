"""Records what one tick of a running local stack did, for `cost --from-local-run` to price.

    recorder = RunRecorder.begin(stack)           # a started LocalStack (local/stack.py)
    tick, drained = stack.lambda_service.fire_and_drain()
    recorder.end(queued=..., batches=drained.batches, records=drained.records).write(path)

The record's format, and reading it back, are the cost model's (watchlist_workstation/cost/localrun.py):
local mode writes what the cost model reads, and the cost model never imports local mode.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lib.clock import iso, utc_now
from watchlist_workstation.cost.localrun import LocalRun
from watchlist_workstation.cost.units import item_bytes

if TYPE_CHECKING:
    from watchlist_workstation.local.stack import LocalStack


def _log_sizes(log_dir: Path) -> Counter[str]:
    return Counter({p.name: p.stat().st_size for p in log_dir.glob("*.log")}) if log_dir.is_dir() else Counter()


def _bucket_bytes(s3: Any, bucket: str) -> tuple[int, int]:
    objects = size = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for obj in page.get("Contents", []):
            objects += 1
            size += obj["Size"]
    return objects, size


class RunRecorder:
    """Counts what one tick of a running local stack did: `begin` right before it, `end` right after.

    The bucket is listed before the baseline of the request counter is taken and after its final
    reading, so the recorder's own requests are not counted as the tick's.
    """

    def __init__(self, stack: LocalStack) -> None:
        self.stack = stack
        self._s3 = stack.client("s3")
        self._ddb = stack.client("dynamodb")
        self._bucket = stack.outputs["ResultsBucketName"]
        self._objects, self._bytes = _bucket_bytes(self._s3, self._bucket)
        self._logs = _log_sizes(stack.lambda_service.log_dir)
        self._comprehend = stack.comprehend.stats()
        self._calls = stack.aws_calls()
        self._text = stack.text_server
        if self._text is not None:
            self._text.reset_counts()  # the peak in flight is the tick's own

    @classmethod
    def begin(cls, stack: LocalStack) -> RunRecorder:
        return cls(stack)

    def end(self, *, queued: int, batches: int, records: int) -> LocalRun:
        calls = self.stack.aws_calls() - self._calls
        comprehend_now = self.stack.comprehend.stats()
        logs = _log_sizes(self.stack.lambda_service.log_dir) - self._logs
        objects, size = _bucket_bytes(self._s3, self._bucket)
        items = []
        for page in self._ddb.get_paginator("scan").paginate(TableName=self.stack.outputs["TableName"]):
            items.extend(page["Items"])
        before = self._comprehend
        comprehend = {
            "calls": dict(Counter(comprehend_now["calls"]) - Counter(before["calls"])),
            "documents": comprehend_now["documents_scored"] - before["documents_scored"],
            "characters": comprehend_now["characters"] - before["characters"],
            "billed_units": comprehend_now["billed_units"] - before["billed_units"],
        }
        schedules = [s.expression for s in self.stack.lambda_service.schedules if s.state == "ENABLED"]
        return LocalRun(
            recorded_at=iso(utc_now()),
            stack_name=self.stack.stack_name,
            schedule=schedules[0] if schedules else None,
            companies_queued=int(queued or 0),
            batches=batches,
            records=records,
            aws_calls=dict(sorted(calls.items())),
            comprehend=comprehend,
            table_items=len(items),
            table_bytes=sum(item_bytes(item) for item in items),
            results_objects=objects - self._objects,
            results_bytes=size - self._bytes,
            log_bytes=sum(logs.values()),
            text_requests=self._text.requests_served if self._text is not None else None,
            text_peak_in_flight=self._text.peak_in_flight if self._text is not None else None,
        )
