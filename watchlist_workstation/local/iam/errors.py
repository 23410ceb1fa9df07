"""The access denied error each service answers, in its own protocol's shape.

Sources (docs/local-mode.md, "IAM in local mode"): DynamoDB's "Error handling with DynamoDB"
(400, AccessDeniedException in the JSON body's __type); Amazon SQS API Reference, "Common errors"
(AccessDenied; the JSON protocol carries the query-compatible code in the x-amzn-query-error header);
Amazon S3 API Reference, "Error responses" (403, AccessDenied in an <Error> document; a HEAD answer
has no body); Amazon SNS API Reference, Publish, "Errors" (AuthorizationError, 403); CloudWatch
Logs and Comprehend, "Common errors" (AccessDeniedException, 400, JSON).
An unknown key (a temporary key STS never issued here) gets the service's invalid-credentials error
instead: DynamoDB's UnrecognizedClientException (400, "Error handling with DynamoDB"); the common
InvalidClientTokenId (403) of SQS and SNS ("Common Errors" of their API references); S3's
InvalidAccessKeyId (403, "Error responses", list of error codes); UnrecognizedClientException (400)
for CloudWatch Logs and Comprehend (their botocore error shapes).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from xml.sax.saxutils import escape


@dataclass(frozen=True)
class Response:
    status: str  # "403 Forbidden"
    headers: list[tuple[str, str]]
    body: bytes


def _json(status: str, content_type: str, type_: str, message: str, extra: list[tuple[str, str]]) -> Response:
    body = json.dumps({"__type": type_, "message": message, "Message": message}).encode()
    headers = [("Content-Type", content_type), ("x-amzn-RequestId", str(uuid.uuid4())), *extra]
    return Response(status, [*headers, ("Content-Length", str(len(body)))], body)


def _xml(status: str, document: str, *, head: bool = False) -> Response:
    body = b"" if head else document.encode()
    headers = [("Content-Type", "application/xml"), ("x-amz-request-id", uuid.uuid4().hex[:16].upper())]
    return Response(status, [*headers, ("Content-Length", str(len(body)))], body)


# service -> (access denied code, invalid key code, HTTP status of each); JSON services unless noted.
_CODES = {
    "dynamodb": (
        ("com.amazonaws.dynamodb.v20120810#AccessDeniedException", "400 Bad Request"),
        ("com.amazonaws.dynamodb.v20120810#UnrecognizedClientException", "400 Bad Request"),
    ),
    "sqs": (("AccessDenied", "403 Forbidden"), ("InvalidClientTokenId", "403 Forbidden")),
    "s3": (("AccessDenied", "403 Forbidden"), ("InvalidAccessKeyId", "403 Forbidden")),
    "sns": (("AuthorizationError", "403 Forbidden"), ("InvalidClientTokenId", "403 Forbidden")),
}
# CloudWatch Logs, Comprehend and anything else on a JSON protocol.
_OTHER = (("AccessDeniedException", "400 Bad Request"), ("UnrecognizedClientException", "400 Bad Request"))
INVALID_TOKEN_MESSAGE = "The security token included in the request is invalid."  # noqa: S105 - an error text


def access_denied(service: str, message: str, *, method: str = "POST", json_protocol: bool = True) -> Response:
    """The service's access denied answer carrying `message` (AWS's "User: ... is not authorized" text)."""
    return _refusal(service, 0, message, method=method, json_protocol=json_protocol)


def invalid_token(service: str, *, method: str = "POST", json_protocol: bool = True) -> Response:
    """The service's answer to a request signed with a key it does not know."""
    return _refusal(service, 1, INVALID_TOKEN_MESSAGE, method=method, json_protocol=json_protocol)


def _refusal(service: str, kind: int, message: str, *, method: str, json_protocol: bool) -> Response:
    code, status = _CODES.get(service, _OTHER)[kind]
    text = escape(message)
    request_id = str(uuid.uuid4())
    if service == "dynamodb":
        return _json(status, "application/x-amz-json-1.0", code, message, [])
    if service == "sqs":
        if json_protocol:
            return _json(
                status,
                "application/x-amz-json-1.0",
                f"com.amazonaws.sqs#{code}",
                message,
                [("x-amzn-query-error", f"{code};Sender")],
            )
        return _xml(
            status,
            f"<Response><Error><Type>Sender</Type><Code>{code}</Code><Message>{text}</Message>"
            f"</Error><RequestId>{request_id}</RequestId></Response>",
        )
    if service == "s3":
        return _xml(
            status,
            f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{text}</Message>'
            f"<RequestId>{request_id}</RequestId></Error>",
            head=method == "HEAD",
        )
    if service == "sns":
        return _xml(
            status,
            '<Response xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><Error><Type>Sender</Type>'
            f"<Code>{code}</Code><Message>{text}</Message></Error>"
            f"<RequestId>{request_id}</RequestId></Response>",
        )
    return _json(status, "application/x-amz-json-1.1", code, message, [])
