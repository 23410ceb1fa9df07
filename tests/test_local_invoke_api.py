"""Local mode's Lambda API endpoint, judged by a real boto3 Lambda client: botocore parses every answer.

The backend is a small stand-in for watchlist_workstation.local.lambda_service.service.LocalLambda (the
endpoint only needs its has_function / invoke / refresh), so each answer can be scripted; the end-to-end
test drives the endpoint with the real Lambda service behind it.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from watchlist_workstation.local.lambda_service.invoke_api import InvokeServer, function_name
from watchlist_workstation.local.lambda_service.invoker import InvokeResult

NAME = "stack-ServerlessProducer-ABC123"
ARN = f"arn:aws:lambda:us-east-1:123456789012:function:{NAME}"


@dataclass
class FakeFunctions:
    """Functions by name, each a callable event -> InvokeResult; `after_refresh` appear on refresh()."""

    functions: dict[str, Any] = field(default_factory=dict)
    after_refresh: dict[str, Any] = field(default_factory=dict)
    events: list[tuple[str, Any]] = field(default_factory=list)
    refreshes: int = 0
    invoked: threading.Event = field(default_factory=threading.Event)

    def has_function(self, function: str) -> bool:
        return function in self.functions

    def invoke(self, function: str, event: Any) -> InvokeResult:
        self.events.append((function, event))
        self.invoked.set()
        return self.functions[function](event)

    def refresh(self) -> bool:
        self.refreshes += 1
        changed = bool(self.after_refresh)
        self.functions.update(self.after_refresh)
        self.after_refresh = {}
        return changed


def ok(payload: Any) -> InvokeResult:
    return InvokeResult(True, payload, None, None, 0.01, False, request_id="req-1")


def failed(error_type: str, message: str) -> InvokeResult:
    error = {"errorType": error_type, "errorMessage": message}
    return InvokeResult(False, error, error_type, message, 0.01, False, request_id="req-2")


@pytest.fixture
def backend() -> FakeFunctions:
    return FakeFunctions({NAME: lambda event: ok({"queued": 3, "run_id": event.get("id")})})


@pytest.fixture
def server(backend):
    with InvokeServer(backend) as running:
        yield running


def lambda_client(url: str):
    # One attempt: a retry must never hide a bad answer from the test.
    return boto3.client(
        "lambda",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
        config=Config(retries={"total_max_attempts": 1}),
    )


def invoke(server, function: str = NAME, payload: bytes = b'{"id": "run-1"}', **kwargs):
    return lambda_client(server.url).invoke(FunctionName=function, Payload=payload, **kwargs)


def test_invoke_answers_with_the_functions_return_value(server, backend):
    # GIVEN a function that returns a summary
    # WHEN boto3 invokes it by name
    response = invoke(server)
    # THEN the payload is the return value as JSON, the event reached the function, and Lambda's headers are there
    assert response["StatusCode"] == 200
    assert json.loads(response["Payload"].read()) == {"queued": 3, "run_id": "run-1"}
    assert "FunctionError" not in response
    assert response["ExecutedVersion"] == "$LATEST"
    assert backend.events == [(NAME, {"id": "run-1"})]


def test_invoke_accepts_the_function_arn_and_latest(server, backend):
    # GIVEN a function known by its name
    # WHEN it is invoked by ARN, by ARN with :$LATEST, and with Qualifier=$LATEST
    for function, kwargs in ((ARN, {}), (f"{ARN}:$LATEST", {}), (NAME, {"Qualifier": "$LATEST"})):
        response = invoke(server, function, **kwargs)
        # THEN each reaches the same function
        assert response["StatusCode"] == 200, function
    assert [name for name, _ in backend.events] == [NAME, NAME, NAME]


def test_a_function_error_is_200_with_unhandled_and_lambdas_error_object(server, backend):
    # GIVEN a function that raises
    backend.functions[NAME] = lambda event: failed("ResourceNotFoundException", "Requested resource not found")
    # WHEN it is invoked
    response = invoke(server)
    # THEN botocore reports FunctionError Unhandled and the payload is {"errorType", "errorMessage"}
    assert response["StatusCode"] == 200
    assert response["FunctionError"] == "Unhandled"
    assert json.loads(response["Payload"].read()) == {
        "errorType": "ResourceNotFoundException",
        "errorMessage": "Requested resource not found",
    }


def test_an_unknown_function_is_resource_not_found(server, backend):
    # GIVEN no function of that name, before or after looking at the stack again
    # WHEN it is invoked
    with pytest.raises(ClientError) as exc:
        invoke(server, "no-such-function")
    # THEN botocore raises ResourceNotFoundException (404), after one look at whether the stack changed
    assert exc.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert "no-such-function" in exc.value.response["Error"]["Message"]
    assert backend.refreshes == 1 and backend.events == []


def test_a_function_deployed_since_the_stack_was_read_is_found_after_a_refresh(server, backend):
    # GIVEN a function the backend learns of only when it reads the stack again (make-infra --local just ran)
    backend.after_refresh = {"new-function": lambda event: ok("fresh")}
    # WHEN it is invoked
    response = invoke(server, "new-function")
    # THEN the stack was read again and the new function ran
    assert json.loads(response["Payload"].read()) == "fresh"
    assert backend.refreshes == 1


def test_a_qualifier_other_than_latest_is_not_found(server):
    # GIVEN local mode, which plays no versions or aliases
    # WHEN a version is asked for
    with pytest.raises(ClientError) as exc:
        invoke(server, NAME, Qualifier="3")
    # THEN it is not found, rather than running $LATEST in its place
    assert exc.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_a_payload_that_is_not_json_is_refused(server, backend):
    # GIVEN a payload that is not JSON
    # WHEN it is sent
    with pytest.raises(ClientError) as exc:
        invoke(server, payload=b"{not json")
    # THEN Lambda's InvalidRequestContentException, and the function did not run
    assert exc.value.response["Error"]["Code"] == "InvalidRequestContentException"
    assert backend.events == []


def test_dry_run_checks_the_function_without_running_it(server, backend):
    # GIVEN a known function
    # WHEN it is invoked with InvocationType DryRun
    response = invoke(server, InvocationType="DryRun")
    # THEN 204 and nothing ran
    assert response["StatusCode"] == 204
    assert backend.events == []


def test_an_event_invocation_is_accepted_and_runs_in_the_background(server, backend):
    # GIVEN a known function
    # WHEN it is invoked asynchronously
    response = invoke(server, InvocationType="Event")
    # THEN 202 at once, and the function runs
    assert response["StatusCode"] == 202
    assert backend.invoked.wait(10)
    assert backend.events == [(NAME, {"id": "run-1"})]


class _RecordingLambda(BaseHTTPRequestHandler):
    """Plays moto's Lambda for the forwarding test: answers ListFunctions, records what it was sent."""

    seen: list[tuple[str, str, str | None]] = []

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        type(self).seen.append(("GET", self.path, self.headers.get("Authorization")))
        body = json.dumps({"Functions": [{"FunctionName": NAME}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def test_every_other_lambda_call_is_forwarded_to_the_emulator(backend):
    # GIVEN the endpoint in front of an emulator's Lambda
    _RecordingLambda.seen = []
    emulator = ThreadingHTTPServer(("127.0.0.1", 0), _RecordingLambda)
    thread = threading.Thread(target=emulator.serve_forever, daemon=True)
    thread.start()
    try:
        with InvokeServer(backend, forward_to=f"http://127.0.0.1:{emulator.server_address[1]}") as server:
            # WHEN a call that is not Invoke is made
            functions = lambda_client(server.url).list_functions()["Functions"]
    finally:
        emulator.shutdown()
        emulator.server_close()
    # THEN the emulator received it as sent (signed) and its answer came back
    assert functions == [{"FunctionName": NAME}]
    [(method, path, authorization)] = _RecordingLambda.seen
    assert method == "GET" and path.startswith("/2015-03-31/functions")
    assert authorization and authorization.startswith("AWS4-HMAC-SHA256")


def test_the_endpoint_binds_to_loopback_only(backend):
    # GIVEN a non-loopback address  WHEN a server is made for it  THEN it refuses
    with pytest.raises(ValueError, match="loopback"):
        InvokeServer(backend, host="0.0.0.0")  # noqa: S104 - the address being refused


@pytest.mark.parametrize(
    ("path_name", "qualifier", "expected"),
    [
        (NAME, None, (NAME, None)),
        (f"{NAME}:$LATEST", None, (NAME, "$LATEST")),
        (ARN, None, (NAME, None)),
        (f"{ARN}:7", None, (NAME, "7")),
        (f"123456789012:function:{NAME}", None, (NAME, None)),
        (NAME, "$LATEST", (NAME, "$LATEST")),
        ("arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Af", None, ("f", None)),
    ],
)
def test_function_names_are_read_in_every_form_invoke_accepts(path_name, qualifier, expected):
    assert function_name(path_name, qualifier) == expected
