"""What a local stack keeps across restarts: the watchlist (with each company's latest state) and the results.

The emulated account lives in the moto process and ends with it, so LocalStack saves the table to
`<state dir>/table.json` and mirrors the results bucket into `<results dir>/results/`, and puts both
back into the next stack it creates. The functions take the clients they use, so nothing here needs
to know where the account runs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from lib import table as watchlist

TABLE_FILE = "table.json"


def snapshot(ddb: Any, s3: Any, outputs: dict[str, str], state_dir: Path, results_dir: Path) -> dict:
    """Save the watchlist with its latest state, and mirror every results object to `results_dir`."""
    items = []
    for page in ddb.get_paginator("scan").paginate(TableName=outputs["TableName"]):
        items.extend(page["Items"])
    state_dir.mkdir(parents=True, exist_ok=True)
    tmp = state_dir / f"{TABLE_FILE}.tmp"
    tmp.write_text(json.dumps(items, sort_keys=True))
    tmp.replace(state_dir / TABLE_FILE)
    mirrored = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=outputs["ResultsBucketName"]):
        for obj in page.get("Contents", []):
            target = results_dir / obj["Key"]
            if target.exists() and target.stat().st_size == obj["Size"]:
                continue  # keys are content-addressed: same key and size is the same object
            target.parent.mkdir(parents=True, exist_ok=True)
            body = s3.get_object(Bucket=outputs["ResultsBucketName"], Key=obj["Key"])["Body"].read()
            target.write_bytes(body)
            mirrored += 1
    return {"items": len(items), "results_mirrored": mirrored}


def deployed_outputs(cloudformation: Any, stack_name: str) -> dict[str, str] | None:
    """The stack's outputs as deployed now; None when there is no such stack (or only its deleted record)."""
    try:
        stack = cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ValidationError":  # "Stack with id ... does not exist"
            return None
        raise
    if stack["StackStatus"].startswith("DELETE_"):
        return None
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def restore(ddb: Any, s3: Any, outputs: dict[str, str], state_dir: Path, results_dir: Path) -> dict:
    """Put a saved watchlist and the mirrored results back into a freshly created stack."""
    items: list[dict] = []
    saved = state_dir / TABLE_FILE
    if saved.exists():
        items = json.loads(saved.read_text())
    watchlist.batch_write(ddb, outputs["TableName"], [{"PutRequest": {"Item": item}} for item in items])
    uploaded = 0
    base = results_dir / "results"
    if base.is_dir():
        for path in sorted(base.rglob("*.csv")):
            key = path.relative_to(results_dir).as_posix()
            s3.put_object(Bucket=outputs["ResultsBucketName"], Key=key, Body=path.read_bytes())
            uploaded += 1
    return {"items": len(items), "results": uploaded}
