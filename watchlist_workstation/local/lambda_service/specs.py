"""What local mode's Lambda service plays, as deployed: functions, SQS event source mappings, schedules.

Every field is read from the deployed resources (discovery.py), never from template.yml's text, so
local mode runs what was deployed, as Lambda would (docs/design.md, "Local mode").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

# The concurrent batches Lambda starts an SQS mapping with when it has no MaximumConcurrency
# (Lambda developer guide, "Using Lambda with Amazon SQS", scaling and processing).
DEFAULT_MAPPING_CONCURRENCY = 5


class DiscoveryError(RuntimeError):
    """The deployed stack has something the Lambda service cannot play; the message says what."""


@dataclass(frozen=True)
class FunctionSpec:
    """A function as deployed (get_function), with its code and layers unzipped locally."""

    name: str
    logical_id: str
    handler: str
    timeout: float
    memory_mb: int
    environment: dict[str, str]
    code_dir: Path
    layer_dirs: list[Path]  # each layer's python/ folder, in the function's layer order
    arn: str = ""
    runtime: str = ""
    code_sha256: str = ""
    log_group: str = ""
    role_arn: str = ""  # the execution role its invocations run with (docs/local-mode.md, "IAM in local mode")


@dataclass(frozen=True)
class MappingSpec:
    """An SQS event source mapping as deployed, with the settings of its queue."""

    uuid: str
    function: str
    queue_url: str
    queue_arn: str
    batch_size: int
    batching_window: float
    report_batch_item_failures: bool
    maximum_concurrency: int | None
    visibility_timeout: int
    max_receive_count: int | None
    dlq_arn: str | None
    dlq_url: str | None = None
    role_arn: str = ""  # the function's execution role, which the mapping polls with, as Lambda's does

    @property
    def concurrency(self) -> int:
        return self.maximum_concurrency or DEFAULT_MAPPING_CONCURRENCY


@dataclass(frozen=True)
class ScheduleSpec:
    """A scheduled EventBridge rule and the function it targets."""

    rule_name: str
    rule_arn: str
    expression: str
    state: str
    function: str
    period_seconds: float | None  # None for cron(): not ticked locally unless a rate is given
    input: str | None = None  # the target's constant Input, sent instead of the scheduled event


@dataclass(frozen=True)
class Deployment:
    """One reading of the deployed stack: what is played until the stack is read again."""

    version: str | None = None  # the deployment's fingerprint (StackReader.deployed_version); None: no stack
    functions: dict[str, FunctionSpec] = field(default_factory=dict)  # by function name
    mappings: list[MappingSpec] = field(default_factory=list)
    schedules: list[ScheduleSpec] = field(default_factory=list)

    def enabled_schedules(self) -> list[ScheduleSpec]:
        return [rule for rule in self.schedules if rule.state == "ENABLED"]
