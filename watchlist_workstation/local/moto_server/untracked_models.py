"""moto's server keeps no list of every model object it ever made (a patch of moto 5.2.5's BaseModel).

moto's BaseModel appends each new instance to a class-wide list (`instances_tracked`), for its dashboard's
view of all state (`/moto-api/data.json`) and for S3's reset. Nothing ever removes an entry. So every copy
moto makes to answer a request stays alive for as long as the server runs: each item a Scan, Query or
GetItem returns is a deep copy (moto's DynamoDB `Item`), and so is each SQS message. In local mode that
is the whole table once per tick: at 60,000 companies the moto process grew by about 200 MB on a tick that
changed nothing (docs/benchmarks.md, "Polite at scale"). Local mode uses neither the dashboard nor moto's
reset, so new instances are no longer listed. What moto answers is unchanged: the list feeds no response.

Objects that belong to the emulated account (a table's items, a bucket's keys, a queue's messages) are
held by their backends, as before; only the extra, never-released references go.
"""

from __future__ import annotations

from typing import Any

from watchlist_workstation.local.moto_server.version import require_supported_moto


def apply() -> None:
    """Stop listing new model instances in this process; calling it again does nothing."""
    require_supported_moto(
        "watchlist_workstation/local/moto_server/untracked_models.py",
        "moto/core/common_models.py (BaseModel.__new__) and moto/core/base_backend.py (InstanceTrackerMeta)",
    )
    from moto.core.common_models import BaseModel

    if getattr(BaseModel.__new__, "untracked", False):
        return

    def new_untracked(cls: type, *args: Any, **kwargs: Any) -> Any:
        # object.__new__ takes the class alone; moto's own __new__ passes nothing else on either.
        return object.__new__(cls)

    new_untracked.untracked = True  # type: ignore[attr-defined]
    BaseModel.__new__ = staticmethod(new_untracked)  # type: ignore[method-assign, assignment]
