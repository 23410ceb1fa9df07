"""WSGI middleware in the moto server process: every request signed with an assumed-role key is
authorised against its role's policies and the resource's own policy before moto sees it.

    app = IamApp(DomainDispatcherApplication(create_backend_app))

- A key that is not an assumed-role key (the CLI's and the tests' fake credentials) is the
  account's administrator: passed through unchecked.
- A role's request is mapped to (action, resource ARN) pairs (requests.py) and evaluated
  (policy.py); an operation not mapped is refused ("not emulated"), never let through.
- A GetObject or HeadObject allowed on a key that does not exist answers 403 unless s3:ListBucket
  is allowed on the bucket (Amazon S3 API Reference, HeadObject and GetObject, "Permissions").
- POST AUTHORIZE_PATH (loopback callers only) answers one decision as JSON, for the other parts of
  local mode: the Comprehend endpoint (by the caller's access key) and the Lambda service's deploy
  and logging checks (by a role ARN). See docs/local-mode.md, "IAM in local mode".
"""

from __future__ import annotations

import io
import json
from typing import Any

from watchlist_workstation.local.iam.client import AUTHORIZE_PATH
from watchlist_workstation.local.iam.errors import INVALID_TOKEN_MESSAGE, Response, access_denied, invalid_token
from watchlist_workstation.local.iam.policy import Decision, Policies, Principal, denial_message, evaluate
from watchlist_workstation.local.iam.requests import (
    Call,
    NotEmulated,
    Scope,
    call_from_environ,
    credential_scope,
    requested,
)

# The prefix of the temporary access keys STS issues (IAM User Guide, "IAM identifiers", unique ID prefixes: AKIA for
# long-term keys, ASIA for temporary ones).
TEMPORARY_KEY_PREFIX = "ASIA"
# Local endpoints are plain http; policies see the request as the SDK's default (https to AWS) would be.
SECURE_TRANSPORT = "true"


def request_context(who: Principal, region: str) -> dict[str, str]:
    """The global condition keys local mode supplies (IAM User Guide, "AWS global condition context keys")."""
    return {
        "aws:SecureTransport": SECURE_TRANSPORT,
        "aws:PrincipalArn": who.role_arn,
        "aws:PrincipalAccount": who.account,
        "aws:userid": who.session_arn.rsplit("/", 1)[-1],
        "aws:RequestedRegion": region,
    }


class Authorizer:
    """Decisions for one principal's action on one resource, from the account's state."""

    def __init__(self, account: Any) -> None:
        self.account = account

    def decide(self, who: Principal, action: str, resource: str, region: str) -> Decision:
        policies = Policies(
            identity=self.account.identity_policies(who),
            resource=self.account.resource_policies(resource),
            context=request_context(who, region),
        )
        return evaluate(who, action, resource, policies)

    def missing_object_denial(self, who: Principal, resource: str, region: str) -> str | None:
        """For an allowed GetObject of a key that does not exist: the denial S3 answers without ListBucket."""
        bucket, _, key = resource.removeprefix("arn:aws:s3:::").partition("/")
        if self.account.object_exists(bucket, key):
            return None
        bucket_arn = f"arn:aws:s3:::{bucket}"
        decision = self.decide(who, "s3:ListBucket", bucket_arn, region)
        return None if decision.allowed else denial_message(who, "s3:ListBucket", bucket_arn, decision)

    def check(self, call: Call, scope: Scope, who: Principal) -> Response | None:
        """None when `who` may make `call`; otherwise the service's access denied answer."""
        try:
            pairs = requested(call, scope, who.account)
        except NotEmulated as exc:
            message = f"User: {who.session_arn} is not authorized to perform: {exc} (not emulated by local mode)"
            return access_denied(scope.service, message, method=call.method)
        for action, resource in pairs:
            decision = self.decide(who, action, resource, scope.region)
            message = None if decision.allowed else denial_message(who, action, resource, decision)
            if message is None and action == "s3:GetObject":
                message = self.missing_object_denial(who, resource, scope.region)
            if message is not None:
                json_protocol = bool(call.headers.get("x-amz-target"))
                return access_denied(scope.service, message, method=call.method, json_protocol=json_protocol)
        return None


class IamApp:
    """The middleware (see the module docstring)."""

    def __init__(self, app: Any, account: Any) -> None:
        self.app = app
        self.authorizer = Authorizer(account)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("PATH_INFO") == AUTHORIZE_PATH:
            return self._serve_decision(environ, start_response)
        call = call_from_environ(environ, b"")
        scope = credential_scope(call.headers.get("authorization", ""), call.query)
        if scope is None:
            return self.app(environ, start_response)
        if not scope.access_key_id.startswith(TEMPORARY_KEY_PREFIX):
            # Only STS hands out ASIA keys: any other key (the CLI's, the tests') is the administrator, and
            # needs no look-up among the sessions.
            return self.app(environ, start_response)
        who = self.authorizer.account.session(scope.access_key_id)
        if who is None:
            # A temporary key STS did not hand out here (or no longer knows): never an administrator.
            json_protocol = bool(call.headers.get("x-amz-target"))
            return _send(start_response, invalid_token(scope.service, method=call.method, json_protocol=json_protocol))
        body = b"" if scope.service == "s3" else _read_body(environ)
        denied = self.authorizer.check(call_from_environ(environ, body), scope, who)
        if denied is not None:
            return _send(start_response, denied)
        return self.app(environ, start_response)

    def _serve_decision(self, environ: dict[str, Any], start_response: Any) -> Any:
        """{"access_key_id" | "role_arn", "action", "resource", "region"} -> {"allowed", "message"}."""
        if environ.get("REMOTE_ADDR") not in ("127.0.0.1", "::1") or environ.get("REQUEST_METHOD") != "POST":
            return _send(start_response, Response("403 Forbidden", [("Content-Length", "0")], b""))
        asked = json.loads(_read_body(environ) or b"{}")
        account = self.authorizer.account
        if asked.get("role_arn"):
            who = account.role_session(asked["role_arn"], asked.get("session_name") or "local-mode-check")
        else:
            who = account.session(asked.get("access_key_id", ""))
        if who is None:
            answer = {"allowed": True, "administrator": True, "message": ""}
            if str(asked.get("access_key_id", "")).startswith(TEMPORARY_KEY_PREFIX):
                answer = {"allowed": False, "administrator": False, "message": INVALID_TOKEN_MESSAGE}
        else:
            decision = self.authorizer.decide(who, asked["action"], asked["resource"], asked.get("region", ""))
            message = "" if decision.allowed else denial_message(who, asked["action"], asked["resource"], decision)
            answer = {"allowed": decision.allowed, "administrator": False, "message": message}
        body = json.dumps(answer).encode()
        headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        return _send(start_response, Response("200 OK", headers, body))


def _read_body(environ: dict[str, Any]) -> bytes:
    """Read the request body and put it back, so moto reads the same bytes."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    body = environ["wsgi.input"].read(length) if length > 0 else b""
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def _send(start_response: Any, response: Response) -> list[bytes]:
    start_response(response.status, response.headers)
    return [response.body]
