"""The moto server's request counter: WSGI middleware that counts each request by service:operation.

`GET /_local/calls` answers the number of requests served so far by service:operation, as JSON
(JSON-protocol services by their X-Amz-Target, S3 by HTTP method), so a run can report the calls
its functions made without hooking into their processes (MotoProcess.calls reads it).
"""

from __future__ import annotations

import collections
import json
import threading
from typing import Any

CALLS_PATH = "/_local/calls"
# A request with this header is an emulated service's own write (the Lambda service's invocation metrics), not a
# call the stack made: it is served but not counted.
SERVICE_HEADER = "X-Local-Service"
_SERVICE_ENVIRON_KEY = "HTTP_" + SERVICE_HEADER.upper().replace("-", "_")


class CountingApp:
    """WSGI middleware: counts each request by service:operation and serves the counts."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.counts: collections.Counter[str] = collections.Counter()
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        path = environ.get("PATH_INFO", "")
        if path == CALLS_PATH:
            with self._lock:
                body = json.dumps(dict(self.counts), sort_keys=True).encode()
            start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return [body]
        # moto's own API and local mode's internal endpoints (the IAM decisions) are not AWS calls.
        if not path.startswith(("/moto-api", "/_local/")) and _SERVICE_ENVIRON_KEY not in environ:
            key = operation_key(environ)
            with self._lock:
                self.counts[key] += 1
        return self.app(environ, start_response)


def operation_key(environ: dict[str, Any]) -> str:
    """service:operation of a request: DynamoDB_20120810.UpdateItem -> dynamodb:UpdateItem."""
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target:
        prefix, _, operation = target.partition(".")
        service = {"AmazonSQS": "sqs", "Logs_20140328": "logs", "AWSEvents": "events"}.get(prefix)
        if service is None:
            service = "dynamodb" if prefix.startswith("DynamoDB") else prefix
        return f"{service}:{operation}"
    # Query-protocol services name the action in the query or form; S3 (REST) by its method.
    return f"http:{environ.get('REQUEST_METHOD', '?')}"
