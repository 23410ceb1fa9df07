"""Local mode's CloudWatch Logs metric extraction: embedded-metric-format lines in the functions' logs become
metrics in the emulated CloudWatch, as CloudWatch Logs makes them on AWS.

On AWS, CloudWatch Logs extracts metrics from every log event of a function that follows the embedded metric
format (CloudWatch user guide, "Using the embedded metric format with Lambda"). Locally the functions' output
goes to `<log dir>/<function name>.log` (lambda_service/invoker.py), so this reads what those files gained
since the last round and sends the metrics it finds to the emulated CloudWatch with PutMetricData, where the
local alarms (alarms.py) read them back with GetMetricStatistics:

    metrics = LogMetrics(cloudwatch_client, log_dir)   # starts at the files' current ends
    metrics.ingest()                                    # the datapoints put since the last call

A line is a metric document when it is a JSON object whose `_aws` member holds `Timestamp` (milliseconds since
the epoch) and `CloudWatchMetrics`, a list of directives, each with a `Namespace`, `Dimensions` (lists of at
most 30 dimension keys) and `Metrics` (at most 100 definitions, each a `Name` and an optional `Unit`); every
dimension key must name a root member holding a string, every metric name a root member holding a number or a
list of at most 100 numbers (CloudWatch user guide, "Specification: Embedded metric format"). A line that
claims to be one (it has `_aws`) but breaks a rule yields no metric and is logged, as CloudWatch counts such
events as EMFValidationErrors instead of extracting them; any other line is an ordinary log line.

Not emulated: StorageResolution (every metric is stored at 60 s), and the size limit of a log event.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lib.limits import EMF_MAX_DIMENSIONS, EMF_MAX_METRICS
from lib.log import get_logger
from watchlist_workstation.limits import CLOUDWATCH_PUT_METRIC_DATA_MAX

log = get_logger("local.log_metrics")

# Values one metric member may hold as a list (same specification, "Target members").
_MAX_VALUES = 100


class NotMetricDocument(ValueError):
    """A line with `_aws` metadata that breaks the specification; the message says which rule."""


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def metric_data(document: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The (namespace, MetricDatum) pairs an embedded-metric-format document defines; NotMetricDocument if invalid."""
    metadata = document.get("_aws")
    if not isinstance(metadata, dict):
        raise NotMetricDocument("_aws is not an object")
    timestamp, directives = metadata.get("Timestamp"), metadata.get("CloudWatchMetrics")
    if not _number(timestamp):
        raise NotMetricDocument("_aws.Timestamp is not a number of milliseconds")
    if not isinstance(directives, list):
        raise NotMetricDocument("_aws.CloudWatchMetrics is not a list")
    at = datetime.fromtimestamp(timestamp / 1000, UTC)
    data: list[tuple[str, dict[str, Any]]] = []
    for directive in directives:
        if not isinstance(directive, dict) or not isinstance(directive.get("Namespace"), str):
            raise NotMetricDocument("a directive has no Namespace")
        dimension_sets, definitions = directive.get("Dimensions"), directive.get("Metrics")
        if not isinstance(dimension_sets, list) or not isinstance(definitions, list):
            raise NotMetricDocument("a directive's Dimensions or Metrics is not a list")
        if len(definitions) > EMF_MAX_METRICS:
            raise NotMetricDocument(f"a directive defines more than {EMF_MAX_METRICS} metrics")
        dimensions = [_dimensions(document, keys) for keys in dimension_sets]
        for definition in definitions:
            name = definition.get("Name") if isinstance(definition, dict) else None
            values = document.get(name) if isinstance(name, str) else None
            values = values if isinstance(values, list) else [values]
            if not values or len(values) > _MAX_VALUES or not all(_number(v) for v in values):
                raise NotMetricDocument(f"metric {name!r} has no numeric root member")
            for dimension_set in dimensions:
                for value in values:
                    datum = {"MetricName": name, "Dimensions": dimension_set, "Timestamp": at, "Value": float(value)}
                    if isinstance(definition.get("Unit"), str):
                        datum["Unit"] = definition["Unit"]
                    data.append((directive["Namespace"], datum))
    return data


def _dimensions(document: dict[str, Any], keys: Any) -> list[dict[str, str]]:
    if not isinstance(keys, list) or len(keys) > EMF_MAX_DIMENSIONS:
        raise NotMetricDocument(f"a dimension set is not a list of at most {EMF_MAX_DIMENSIONS} keys")
    if not all(isinstance(key, str) and isinstance(document.get(key), str) for key in keys):
        raise NotMetricDocument("a dimension key names no string root member")
    return [{"Name": key, "Value": document[key]} for key in keys]


class LogMetrics:
    """Reads the functions' log files from where it last stopped and puts the metrics their lines embed."""

    def __init__(self, cloudwatch: Any, log_dir: Path) -> None:
        self._cloudwatch, self.log_dir = cloudwatch, Path(log_dir)
        # Lines written before local mode started belong to an earlier emulated account: start at the ends.
        self._offsets = {path: path.stat().st_size for path in self._files()}

    def _files(self) -> list[Path]:
        return sorted(self.log_dir.glob("*.log")) if self.log_dir.is_dir() else []

    def _new_lines(self) -> Iterator[str]:
        for path in self._files():
            start = self._offsets.get(path, 0)
            if path.stat().st_size < start:
                start = 0  # the file was replaced
            with path.open("rb") as handle:
                handle.seek(start)
                data = handle.read()
            complete = data[: data.rfind(b"\n") + 1]  # a line still being written waits for the next round
            self._offsets[path] = start + len(complete)
            yield from complete.decode("utf-8", errors="replace").splitlines()

    def ingest(self) -> int:
        """Put the metrics of every complete line written since the last call; the number of datapoints put."""
        by_namespace: dict[str, list[dict[str, Any]]] = {}
        for line in self._new_lines():
            if not line.startswith("{") or '"_aws"' not in line:
                continue
            try:
                document = json.loads(line)
                if not isinstance(document, dict):
                    continue
                pairs = metric_data(document)
            except (ValueError, NotMetricDocument) as exc:
                log.warning("log line not extracted as metrics", extra={"reason": str(exc)})
                continue
            for namespace, datum in pairs:
                by_namespace.setdefault(namespace, []).append(datum)
        put = 0
        for namespace, data in by_namespace.items():
            for start in range(0, len(data), CLOUDWATCH_PUT_METRIC_DATA_MAX):
                batch = data[start : start + CLOUDWATCH_PUT_METRIC_DATA_MAX]
                self._cloudwatch.put_metric_data(Namespace=namespace, MetricData=batch)
                put += len(batch)
        return put
