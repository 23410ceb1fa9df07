"""The access denied error each service answers, in its own protocol's shape.

Sources (docs/local-mode.md, "IAM in local mode"): DynamoDB's "Error handling with DynamoDB"
(400, AccessDeniedException in the JSON body's __type); Amazon SQS API Reference, "Common errors"
(AccessDenied; the JSON protocol carries the query-compatible code in the x-amzn-query-error header);
Amazon S3 API Reference, "Error responses" (403, AccessDenied in an <Error> document; a HEAD answer
has no body); Amazon SNS API Reference, Publish, "Errors" (AuthorizationError, 403); CloudWatch
Logs and Comprehend, "Common errors" (AccessDeniedException, 400, JSON).
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


def access_denied(service: str, message: str, *, method: str = "POST", json_protocol: bool = True) -> Response:
    """The service's access denied answer carrying `message` (AWS's "User: ... is not authorized" text)."""
    text = escape(message)
    request_id = str(uuid.uuid4())
    if service == "dynamodb":
        return _json(
            "400 Bad Request",
            "application/x-amz-json-1.0",
            "com.amazonaws.dynamodb.v20120810#AccessDeniedException",
            message,
            [],
        )
    if service == "sqs":
        if json_protocol:
            return _json(
                "403 Forbidden",
                "application/x-amz-json-1.0",
                "com.amazonaws.sqs#AccessDenied",
                message,
                [("x-amzn-query-error", "AccessDenied;Sender")],
            )
        return _xml(
            "403 Forbidden",
            f"<Response><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>{text}</Message>"
            f"</Error><RequestId>{request_id}</RequestId></Response>",
        )
    if service == "s3":
        return _xml(
            "403 Forbidden",
            f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code><Message>{text}</Message>'
            f"<RequestId>{request_id}</RequestId></Error>",
            head=method == "HEAD",
        )
    if service == "sns":
        return _xml(
            "403 Forbidden",
            '<Response xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><Error><Type>Sender</Type>'
            f"<Code>AuthorizationError</Code><Message>{text}</Message></Error>"
            f"<RequestId>{request_id}</RequestId></Response>",
        )
    # CloudWatch Logs, Comprehend and anything else on a JSON protocol.
    return _json("400 Bad Request", "application/x-amz-json-1.1", "AccessDeniedException", message, [])
