"""What template.yml deploys, as the cost model needs it: the schedule, each function's memory and
architecture (the Compactor's too: the function on a cron() schedule), the consumer's batch size and concurrency,
the Wikipedia request budget, log retention, alarms, the consumer's metrics namespace, point-in-time recovery;
parameters at their defaults, Lambda's own defaults for what the template leaves out."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from watchlist_workstation.project import TEMPLATE

# Lambda's defaults for what a template leaves out (Lambda developer guide; SAM's SQS event).
LAMBDA_DEFAULT_MEMORY_MB = 128
LAMBDA_DEFAULT_ARCHITECTURE = "x86_64"
SQS_EVENT_DEFAULT_BATCH_SIZE = 10


@dataclass(frozen=True)
class FunctionSettings:
    logical_id: str
    memory_mb: int
    architecture: str

    @property
    def memory_gb(self) -> float:
        return self.memory_mb / 1024


@dataclass(frozen=True)
class Deployment:
    """What template.yml deploys, with its parameters at their defaults."""

    schedule: str
    producer: FunctionSettings
    consumer: FunctionSettings
    batch_size: int
    # The Wikipedia request budget the functions are given (WIKI_REQUESTS_PER_MINUTE) and the most consumer
    # instances the mapping runs (ScalingConfig.MaximumConcurrency): together they set the pace
    # (docs/design.md, "Reading Wikipedia politely").
    requests_per_minute: int
    max_concurrency: int
    log_retention_days: int | None  # None: logs never expire
    alarms: int
    point_in_time_recovery: bool
    # The namespace the consumer's outcome metrics go to (its METRICS_NAMESPACE), None when it emits none.
    metrics_namespace: str | None = None
    # The function on a daily cron() schedule that compacts the dataset (None: the template has none).
    compactor: FunctionSettings | None = None


def _resolved(value: Any, parameters: Mapping[str, Any]) -> Any:
    """A literal, or a `!Ref` to a parameter resolved to its default."""
    if isinstance(value, Mapping) and set(value) == {"Ref"} and value["Ref"] in parameters:
        return parameters[value["Ref"]].get("Default")
    return value


def deployment_from_template(template: Mapping[str, Any] | None = None) -> Deployment:
    if template is None:
        from watchlist_workstation.deploy.template import load_template

        template = load_template(TEMPLATE)
    parameters = template.get("Parameters") or {}
    resources = template.get("Resources") or {}
    function_globals = (template.get("Globals") or {}).get("Function") or {}

    def settings(logical_id: str) -> FunctionSettings:
        props = resources[logical_id].get("Properties") or {}
        memory = _resolved(props.get("MemorySize", function_globals.get("MemorySize")), parameters)
        architectures = props.get("Architectures", function_globals.get("Architectures")) or [
            LAMBDA_DEFAULT_ARCHITECTURE
        ]
        return FunctionSettings(logical_id, int(memory or LAMBDA_DEFAULT_MEMORY_MB), str(architectures[0]))

    producer = consumer = compactor = None
    schedule = batch_size = concurrency = None
    for logical_id, resource in resources.items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        for event in ((resource.get("Properties") or {}).get("Events") or {}).values():
            props = event.get("Properties") or {}
            expression = _resolved(props.get("Schedule"), parameters) if event.get("Type") == "Schedule" else None
            # The producer ticks at a rate(); the compactor's daily cron() rule is not the pipeline's tick.
            if expression is not None and not str(expression).startswith("cron("):
                producer, schedule = logical_id, expression
            elif expression is not None:
                compactor = logical_id
            elif event.get("Type") == "SQS":
                consumer = logical_id
                batch_size = _resolved(props.get("BatchSize", SQS_EVENT_DEFAULT_BATCH_SIZE), parameters)
                concurrency = _resolved((props.get("ScalingConfig") or {}).get("MaximumConcurrency"), parameters)
    if producer is None or consumer is None or not schedule:
        raise ValueError("template.yml has no scheduled function or no SQS-fed function")
    environment = ((resources[consumer].get("Properties") or {}).get("Environment") or {}).get("Variables") or {}
    budget = _resolved(environment.get("WIKI_REQUESTS_PER_MINUTE"), parameters)
    if budget is None or concurrency is None:
        raise ValueError("template.yml gives the consumer no WIKI_REQUESTS_PER_MINUTE or no MaximumConcurrency")
    retention = [
        _resolved((r.get("Properties") or {}).get("RetentionInDays"), parameters)
        for r in resources.values()
        if r.get("Type") == "AWS::Logs::LogGroup"
    ]
    tables = [r.get("Properties") or {} for r in resources.values() if r.get("Type") == "AWS::DynamoDB::Table"]
    pitr = any((t.get("PointInTimeRecoverySpecification") or {}).get("PointInTimeRecoveryEnabled") for t in tables)
    return Deployment(
        schedule=str(schedule),
        producer=settings(producer),
        consumer=settings(consumer),
        batch_size=int(batch_size),
        requests_per_minute=int(budget),
        max_concurrency=int(concurrency),
        log_retention_days=None if not retention or None in retention else max(int(r) for r in retention),
        alarms=sum(1 for r in resources.values() if r.get("Type") == "AWS::CloudWatch::Alarm"),
        point_in_time_recovery=bool(pitr),
        metrics_namespace=environment.get("METRICS_NAMESPACE") or None,
        compactor=settings(compactor) if compactor else None,
    )
