"""What a stack's status allows: whether CloudFormation would accept a deploy of it now, and if not, why."""

from __future__ import annotations

from typing import Any

# Statuses in which CloudFormation accepts neither an update nor a deletion: wait for them to end.
_BUSY_SUFFIX = "_IN_PROGRESS"


def deploy_blocker(stack: dict[str, Any] | None) -> str | None:
    """Why CloudFormation would refuse to update the stack now (one line), or None when it can deploy."""
    if stack is None:
        return None
    name, status = stack["StackName"], stack["StackStatus"]
    if status == "ROLLBACK_COMPLETE":
        return (
            f"stack {name} is ROLLBACK_COMPLETE (its first deploy failed, and CloudFormation cannot update it): "
            "delete it with './cfcli.py teardown --yes', then run make-infra again"
        )
    if status == "DELETE_FAILED":
        return f"stack {name} is DELETE_FAILED: finish deleting it with './cfcli.py teardown --yes' first"
    if status.endswith(_BUSY_SUFFIX) and status != "REVIEW_IN_PROGRESS":
        return f"stack {name} is {status}: wait until CloudFormation has finished, then run make-infra again"
    return None
