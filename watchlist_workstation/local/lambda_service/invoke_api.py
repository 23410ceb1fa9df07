"""Local mode's Lambda API endpoint: Invoke runs the function in the `local up` process.

moto stores the stack's functions but runs function code only through Docker, so a Lambda client
pointed at moto cannot run the producer. `./cfcli.py local up` serves this endpoint on 127.0.0.1
and records it in `<state dir>/endpoints.json` (`lambda_`); `--local` gives it to the CLI's
`lambda` client as that service's endpoint, so `./cfcli.py run` makes the same boto3 Invoke call
in local mode as on AWS (docs/design.md rule 1: local mode changes endpoints, not code paths).

    with InvokeServer(lambda_service, forward_to="http://127.0.0.1:4566") as server:
        boto3.client("lambda", endpoint_url=server.url, ...).invoke(FunctionName=name, Payload=b"{}")

Protocol: what botocore's rest-json Lambda client sends and parses (Lambda API reference, "Invoke").

- `POST /2015-03-31/functions/{FunctionName}/invocations`. FunctionName is a name, a
  `name:qualifier`, a partial ARN (`account:function:name`) or a full ARN; the qualifier (in the
  name or as `?Qualifier=`) may only be `$LATEST`: local mode plays no versions or aliases.
- `X-Amz-Invocation-Type`: `RequestResponse` (default) answers 200 with the function's return
  value, JSON-encoded, as the body; `DryRun` answers 204 once the function is known; `Event`
  answers 202 and runs the function in the background (not retried, as Lambda would twice).
- A function error (an exception, a crash, a timeout) is still 200, with
  `X-Amz-Function-Error: Unhandled` and Lambda's error object `{"errorType", "errorMessage"}`
  as the body. Every answer from the function carries `X-Amz-Executed-Version: $LATEST` and an
  `x-amzn-RequestId` (the invocation's request id).
- Service errors are JSON `{"Type": "User", "message": ...}` with the code in `x-amzn-ErrorType`,
  where botocore's RestJSONParser reads it: 404 `ResourceNotFoundException` for a function the
  stack does not have (after one look at whether the stack changed since it was last read), 400
  `InvalidRequestContentException` for a payload that is not JSON. `LogType=Tail` is accepted;
  no log tail is returned (the functions' logs are in `<state dir>/logs/`).
- Every other Lambda API request (GetFunction, ListFunctions, ...) is forwarded unchanged to
  `forward_to` (the moto server holding the functions), so this is one whole Lambda endpoint. No
  signature is checked, so the server binds to loopback only.

The backend (service.py's LocalLambda) has `has_function(name)`, `invoke(name, event) -> InvokeResult`
(KeyError for a function it does not know) and `refresh() -> bool` (read the stack again if its
deployment changed; True when it did).
"""

from __future__ import annotations

import http.client
import json
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any, Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from lib.log import get_logger
from watchlist_workstation.local.loopback import LoopbackHandler, LoopbackServer, require_loopback

log = get_logger("local.invoke_api")

INVOKE_PREFIX = "/2015-03-31/functions/"
INVOKE_SUFFIX = "/invocations"
LATEST = "$LATEST"
CONTENT_TYPE = "application/json"
# Lambda's limit on a synchronous invocation's request payload (Lambda developer guide, "Quotas").
MAX_PAYLOAD_BYTES = 6 * 1024 * 1024
# An idle keep-alive connection is closed after this long; botocore reopens one transparently.
_IDLE_SECONDS = 60.0
# Headers that describe one hop, not the message: never copied between the client and moto.
_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade", "content-length"}
)


class Invoker(Protocol):
    def has_function(self, function: str) -> bool: ...

    def invoke(self, function: str, event: Any) -> Any: ...

    def refresh(self) -> bool: ...


@dataclass
class _Answer:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


def _service_error(status: int, code: str, message: str) -> _Answer:
    body = json.dumps({"Type": "User", "message": message}).encode("utf-8")
    return _Answer(status, body, {"Content-Type": CONTENT_TYPE, "x-amzn-ErrorType": code})


def function_name(path_name: str, qualifier: str | None) -> tuple[str, str | None]:
    """(function name, qualifier) from the path's FunctionName, in any of the forms Invoke accepts."""
    name = unquote(path_name)
    parts = name.split(":")
    if name.startswith("arn:"):
        # arn:aws:lambda:region:account:function:name[:qualifier]
        name, in_name = parts[6] if len(parts) > 6 else "", parts[7] if len(parts) > 7 else None
    elif len(parts) >= 3 and parts[1] == "function":
        # account:function:name[:qualifier]
        name, in_name = parts[2], parts[3] if len(parts) > 3 else None
    else:
        name, in_name = parts[0], parts[1] if len(parts) > 1 else None
    return name, qualifier or in_name


class InvokeServer(LoopbackServer):
    """The Lambda API on a loopback port: Invoke runs the backend's function; the rest goes to moto."""

    thread_name = "local-lambda-api"

    def __init__(
        self, backend: Invoker, *, forward_to: str | None = None, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        super().__init__(host, port)
        if forward_to is not None:
            # Forwarded requests carry no checked signature either: moto must be on this machine too.
            target = urlsplit(forward_to)
            require_loopback(target.hostname or "", "InvokeServer")
            self._forward: tuple[str, int] | None = (str(target.hostname), int(target.port or 80))
        else:
            self._forward = None
        self.backend = backend

    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        return _Handler

    def handler_failed(self, request: Any, client_address: Any) -> None:
        log.exception("local Lambda API handler failed", extra={"client": client_address[0]})

    # -- answers ---------------------------------------------------------------------------------

    def answer_invoke(self, path_name: str, query: Mapping[str, list[str]], headers: Any, body: bytes) -> _Answer:
        name, qualifier = function_name(path_name, (query.get("Qualifier") or [None])[0])
        if qualifier not in (None, LATEST):
            return _service_error(
                404, "ResourceNotFoundException", f"Function not found: {name}:{qualifier} (local mode runs $LATEST)"
            )
        invocation_type = headers.get("X-Amz-Invocation-Type") or "RequestResponse"
        if invocation_type not in ("RequestResponse", "Event", "DryRun"):
            return _service_error(
                400, "InvalidParameterValueException", f"InvocationType {invocation_type!r} is not valid"
            )
        try:
            event = json.loads(body) if body.strip() else {}
        except ValueError as exc:
            message = f"Could not parse request body into json: {exc}"
            return _service_error(400, "InvalidRequestContentException", message)
        if not self._knows(name):
            return _service_error(404, "ResourceNotFoundException", f"Function not found: {name}")
        if invocation_type == "DryRun":
            return _Answer(204, headers={"x-amzn-RequestId": str(uuid.uuid4())})
        if invocation_type == "Event":
            threading.Thread(target=self._invoke_async, args=(name, event), name="invoke-event", daemon=True).start()
            return _Answer(202, headers={"x-amzn-RequestId": str(uuid.uuid4())})
        try:
            result = self.backend.invoke(name, event)
        except KeyError:  # the stack changed between the check and the call
            return _service_error(404, "ResourceNotFoundException", f"Function not found: {name}")
        answer_headers = {
            "Content-Type": CONTENT_TYPE,
            "X-Amz-Executed-Version": LATEST,
            "x-amzn-RequestId": result.request_id or str(uuid.uuid4()),
        }
        if result.ok:
            return _Answer(200, json.dumps(result.payload).encode("utf-8"), answer_headers)
        error = result.payload if isinstance(result.payload, dict) and "errorType" in result.payload else {}
        error = error or {"errorType": result.error_type, "errorMessage": result.error_message}
        answer_headers["X-Amz-Function-Error"] = "Unhandled"
        return _Answer(200, json.dumps(error).encode("utf-8"), answer_headers)

    def _knows(self, name: str) -> bool:
        """Whether the backend has the function, looking again once if the stack changed since it was read."""
        if self.backend.has_function(name):
            return True
        try:
            changed = self.backend.refresh()
        except Exception as exc:  # the stack could not be read now; the function is unknown either way
            log.warning("could not re-read the stack", extra={"error": repr(exc)})
            return False
        return changed and self.backend.has_function(name)

    def _invoke_async(self, name: str, event: Any) -> None:
        try:
            result = self.backend.invoke(name, event)
        except Exception as exc:
            log.error("asynchronous invocation failed", extra={"function": name, "error": repr(exc)})
            return
        if not result.ok:
            log.error("asynchronous invocation failed", extra={"function": name, "error": result.error_type})

    def forward(self, method: str, target: str, headers: Any, body: bytes) -> _Answer:
        """Send a request that is not an Invoke to moto's Lambda, unchanged, and return its answer."""
        if self._forward is None:
            return _service_error(404, "UnknownOperationException", f"{method} {urlsplit(target).path} is not served")
        connection = http.client.HTTPConnection(*self._forward, timeout=120)
        try:
            sent = {k: v for k, v in headers.items() if k.lower() not in _HOP_BY_HOP and k.lower() != "host"}
            sent["Host"] = f"{self._forward[0]}:{self._forward[1]}"
            connection.request(method, target, body=body if body or method in ("POST", "PUT") else None, headers=sent)
            response = connection.getresponse()
            data = response.read()
            kept = {k: v for k, v in response.getheaders() if k.lower() not in _HOP_BY_HOP}
            return _Answer(response.status, data, kept)
        except OSError as exc:
            return _service_error(503, "ServiceException", f"the local AWS endpoint did not answer: {exc}")
        finally:
            connection.close()


class _Handler(LoopbackHandler):
    timeout = _IDLE_SECONDS

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("local Lambda API http", extra={"detail": format % args})

    def do_POST(self) -> None:
        self._serve("POST")

    def do_GET(self) -> None:
        self._serve("GET")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def _serve(self, method: str) -> None:
        body = self._read_body()
        endpoint = self.server.endpoint
        if body is None:
            answer = _service_error(413, "RequestTooLargeException", "Request must be smaller than 6291456 bytes")
        else:
            parts = urlsplit(self.path)
            path = parts.path
            if method == "POST" and path.startswith(INVOKE_PREFIX) and path.endswith(INVOKE_SUFFIX):
                name = path[len(INVOKE_PREFIX) : -len(INVOKE_SUFFIX)]
                answer = endpoint.answer_invoke(name, parse_qs(parts.query), self.headers, body)
            else:
                answer = endpoint.forward(method, self.path, self.headers, body)
        self._send(answer)

    def _read_body(self) -> bytes | None:
        """The request body; None when it is over Lambda's payload limit (the connection then closes)."""
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            self.close_connection = True
            return b""
        if length < 0 or length > MAX_PAYLOAD_BYTES:
            self.close_connection = True
            return None
        return self.rfile.read(length) if length else b""

    def _send(self, answer: _Answer) -> None:
        self.send_response(answer.status)
        for key, value in answer.headers.items():
            self.send_header(key, value)
        if "x-amzn-requestid" not in {k.lower() for k in answer.headers}:
            self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        self.send_header("Content-Length", str(len(answer.body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if answer.body:
            self.wfile.write(answer.body)
