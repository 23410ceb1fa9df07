"""The invocation metrics Lambda publishes for every function, put into the emulated CloudWatch.

For each invocation Lambda sends `Invocations` (1) and `Errors` (1 for a function error: an error the code
raised, or one the runtime reports, such as a timeout; else 0) in the `AWS/Lambda` namespace with the
dimension `FunctionName`, stamped with the time the function was invoked (AWS Lambda developer guide,
"Types of metrics for Lambda functions", Invocation metrics). `status` reads them to find the producer's
last tick (docs/cli.md, "status --check").

They are the Lambda service's own writes, not calls the stack makes: each request carries SERVICE_HEADER,
and the moto server's request counter (watchlist_workstation/local/moto_server/counting.py) leaves such
requests out, so a run's counted calls (`cost --from-local-run`) stay the stack's. A failed publish is
logged and never fails the invocation.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from lib.log import get_logger
from watchlist_workstation.local.lambda_service.invoker import InvokeResult
from watchlist_workstation.local.moto_server.counting import SERVICE_HEADER

log = get_logger("local.lambda_metrics")
NAMESPACE = "AWS/Lambda"


def mark_as_service(cloudwatch: Any) -> Any:
    """The client, its requests marked as the Lambda service's own (not counted as the stack's calls)."""

    def add_header(request: Any, **_: Any) -> None:
        request.headers[SERVICE_HEADER] = "lambda"

    cloudwatch.meta.events.register("before-sign.cloudwatch.PutMetricData", add_header)
    return cloudwatch


def publish_invocation(cloudwatch: Any, function_name: str, result: InvokeResult) -> None:
    """Invocations and Errors for one invocation of `function_name` (its physical name)."""
    invoked_at = datetime.now(UTC) - timedelta(seconds=result.duration_s)
    dimensions = [{"Name": "FunctionName", "Value": function_name}]
    data = [
        {"MetricName": name, "Dimensions": dimensions, "Timestamp": invoked_at, "Value": value, "Unit": "Count"}
        for name, value in (("Invocations", 1.0), ("Errors", 0.0 if result.ok else 1.0))
    ]
    try:
        cloudwatch.put_metric_data(Namespace=NAMESPACE, MetricData=data)
    except (ClientError, BotoCoreError) as exc:
        log.warning("invocation metrics not published", extra={"function": function_name, "error": repr(exc)})
