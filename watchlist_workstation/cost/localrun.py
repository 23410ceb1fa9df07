"""What one local run counted, saved for `cost --from-local-run`.

`./cfcli.py local run --once` wraps its tick in a RunRecorder: the AWS requests the moto process
served during the tick (by service:operation), what the local Comprehend endpoint scored and would
bill, the bytes the functions logged and wrote to the results bucket, and the table's size after
the run. The record is plain JSON (`<local state dir>/last-run.json`), so a run can be priced later.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from lib.clock import iso, utc_now
from watchlist_workstation.cost.units import item_bytes

RECORD_NAME = "last-run.json"
RECORD_FORMAT = 1


class LocalRunError(ValueError):
    """The record cannot be read; the message says what to do."""


@dataclass(frozen=True)
class LocalRun:
    recorded_at: str
    stack_name: str
    schedule: str | None  # the deployed rule's expression
    companies_queued: int
    batches: int  # consumer invocations that received records
    records: int
    aws_calls: dict[str, int]  # service:operation -> requests the moto process served during the tick
    comprehend: dict[str, Any]  # calls by operation, documents, characters, billed_units
    table_items: int
    table_bytes: int  # sum of the items' sizes as DynamoDB counts them, after the run
    results_objects: int  # objects the tick added to the results bucket
    results_bytes: int
    log_bytes: int  # bytes the functions wrote to their logs during the tick
    format: int = RECORD_FORMAT
    notes: list[str] = field(default_factory=list)

    @property
    def invocations(self) -> dict[str, int]:
        """Lambda invocations of the tick: the producer once, the consumer once per batch."""
        return {"producer": 1, "consumer": self.batches}

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        partial.write_text(self.to_json())
        partial.replace(path)


def read_run(path: Path) -> LocalRun:
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise LocalRunError(f"no local run recorded at {path}: run './cfcli.py local run --once' first") from None
    except (OSError, ValueError) as exc:
        raise LocalRunError(f"cannot read {path}: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != RECORD_FORMAT:
        raise LocalRunError(f"{path} is not a local run record of format {RECORD_FORMAT}")
    try:
        return LocalRun(**data)
    except TypeError as exc:
        raise LocalRunError(f"{path} is not a local run record: {exc}") from None


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

    def __init__(self, stack: Any, executor: Any) -> None:
        from watchlist_workstation.local.stack import local_client

        self.stack, self.executor = stack, executor
        self._s3 = local_client("s3", stack.endpoints.aws)
        self._ddb = local_client("dynamodb", stack.endpoints.aws)
        self._bucket = stack.outputs["ResultsBucketName"]
        self._objects, self._bytes = _bucket_bytes(self._s3, self._bucket)
        self._logs = _log_sizes(executor.log_dir)
        self._comprehend = stack.comprehend.stats()
        self._calls = stack.aws_calls()

    @classmethod
    def begin(cls, stack: Any, executor: Any) -> RunRecorder:
        return cls(stack, executor)

    def end(self, *, queued: int, batches: int, records: int) -> LocalRun:
        calls = self.stack.aws_calls() - self._calls
        comprehend_now = self.stack.comprehend.stats()
        logs = _log_sizes(self.executor.log_dir) - self._logs
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
        schedules = [s.expression for s in self.executor.schedules if s.state == "ENABLED"]
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
        )
