"""What one local run counted, saved for `cost --from-local-run`: the record and how it is read.

`./cfcli.py local run --once` records its tick (watchlist_workstation/local/run_record.py: the AWS
requests the moto process served during the tick by service:operation, what the local Comprehend
endpoint scored and would bill, the bytes the functions logged and wrote to the results bucket, and
the table's size after the run). The record is plain JSON (`<local state dir>/last-run.json`), so a
run can be priced later. Nothing here knows local mode: the cost model reads the record, never the
running stack.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

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
    # Requests the local text source answered during the tick, and the most it had in flight at once
    # (None when the texts came from the real Wikipedia, or in a record written before they were counted).
    text_requests: int | None = None
    text_peak_in_flight: int | None = None
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
