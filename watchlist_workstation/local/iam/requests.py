"""What a request asks IAM for: the (action, resource ARN) pairs of the operations local mode authorises.

The service and region come from the SigV4 credential scope (AWS General Reference, "Signature
Version 4": Credential=KEY/DATE/REGION/SERVICE/aws4_request, in the Authorization header or the
X-Amz-Credential query parameter). Actions and resource types follow the Service Authorization
Reference's pages for DynamoDB, SQS, S3, SNS and CloudWatch Logs. Only the operations the functions
and the event source mapping make are mapped; anything else a role calls is NotEmulated, and the
caller refuses it (fail closed, docs/local-mode.md, "IAM in local mode").
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qs, unquote, urlsplit

_CREDENTIAL = re.compile(r"Credential=([^/\s,]+)/(\d{8})/([^/\s,]+)/([^/\s,]+)/aws4_request")


class NotEmulated(Exception):
    """The request is not one local mode knows how to authorise; the message names it."""


@dataclass(frozen=True)
class Call:
    """One HTTP request as the emulator received it."""

    method: str
    path: str  # decoded
    query: Mapping[str, list[str]] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)  # lower-case names
    body: bytes = b""


@dataclass(frozen=True)
class Scope:
    access_key_id: str
    region: str
    service: str


def credential_scope(authorization: str, query: Mapping[str, list[str]]) -> Scope | None:
    """The access key id, region and service a SigV4 request was signed for; None when unsigned."""
    match = _CREDENTIAL.search(authorization or "")
    if match is None and query.get("X-Amz-Credential"):
        match = _CREDENTIAL.search("Credential=" + query["X-Amz-Credential"][0])
    if match is None:
        return None
    return Scope(match.group(1), match.group(3), match.group(4))


def _json(call: Call) -> dict:
    try:
        body = json.loads(call.body or b"{}")
    except ValueError as exc:
        raise NotEmulated("a JSON request whose body is not JSON") from exc
    return body if isinstance(body, dict) else {}


def _form(call: Call) -> dict[str, str]:
    """Query-protocol parameters: the form body merged over the query string."""
    merged = {key: values[0] for key, values in call.query.items() if values}
    merged.update({k: v[0] for k, v in parse_qs(call.body.decode("utf-8", "replace")).items() if v})
    return merged


# -- DynamoDB ---------------------------------------------------------------------------------------

_DYNAMODB_TABLE_OPS = {"GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan", "DescribeTable"}
_DYNAMODB_BATCH_OPS = {"BatchGetItem", "BatchWriteItem"}


def _dynamodb(call: Call, operation: str, region: str, account: str) -> list[tuple[str, str]]:
    body = _json(call)

    def table_arn(name: str) -> str:
        return f"arn:aws:dynamodb:{region}:{account}:table/{name}"

    if operation in _DYNAMODB_TABLE_OPS:
        return [(f"dynamodb:{operation}", table_arn(str(body.get("TableName", ""))))]
    if operation in _DYNAMODB_BATCH_OPS:
        # One authorisation per table the batch names (Service Authorization Reference: table resource).
        return [(f"dynamodb:{operation}", table_arn(name)) for name in sorted(body.get("RequestItems") or {})]
    raise NotEmulated(f"dynamodb:{operation}")


# -- SQS --------------------------------------------------------------------------------------------

# A batch call is authorised as its single-message action (SQS Developer Guide, "Amazon SQS API
# permissions: Actions and resource reference").
_SQS_ACTIONS = {
    "SendMessage": "SendMessage",
    "SendMessageBatch": "SendMessage",
    "ReceiveMessage": "ReceiveMessage",
    "DeleteMessage": "DeleteMessage",
    "DeleteMessageBatch": "DeleteMessage",
    "ChangeMessageVisibility": "ChangeMessageVisibility",
    "ChangeMessageVisibilityBatch": "ChangeMessageVisibility",
    "GetQueueAttributes": "GetQueueAttributes",
    "GetQueueUrl": "GetQueueUrl",
    "PurgeQueue": "PurgeQueue",
}


def queue_arn(queue_url: str, region: str) -> str:
    """arn:aws:sqs:REGION:ACCOUNT:NAME from https://sqs.REGION.amazonaws.com/ACCOUNT/NAME (any host)."""
    parts = [p for p in urlsplit(queue_url).path.split("/") if p]
    if len(parts) != 2:
        raise NotEmulated(f"a queue URL local mode cannot read: {queue_url}")
    return f"arn:aws:sqs:{region}:{parts[0]}:{parts[1]}"


def _sqs(call: Call, operation: str, params: Mapping, region: str, account: str) -> list[tuple[str, str]]:
    if operation not in _SQS_ACTIONS:
        raise NotEmulated(f"sqs:{operation}")
    if operation == "GetQueueUrl":
        owner = params.get("QueueOwnerAWSAccountId") or account
        return [("sqs:GetQueueUrl", f"arn:aws:sqs:{region}:{owner}:{params.get('QueueName', '')}")]
    return [(f"sqs:{_SQS_ACTIONS[operation]}", queue_arn(str(params.get("QueueUrl", "")), region))]


# -- S3 (path-style, as botocore addresses an IP endpoint) -------------------------------------------

_LIST_PARAMETERS = {
    "list-type",
    "prefix",
    "delimiter",
    "max-keys",
    "continuation-token",
    "start-after",
    "encoding-type",
    "fetch-owner",
    "marker",
}
_OBJECT_SUBRESOURCES = {"tagging", "acl", "uploads", "uploadId", "retention", "legal-hold", "restore", "attributes"}


def _s3(call: Call) -> list[tuple[str, str]]:
    bucket, _, key = call.path.lstrip("/").partition("/")
    if not bucket:
        raise NotEmulated("s3:ListAllMyBuckets")
    bucket_arn = f"arn:aws:s3:::{bucket}"
    if not key:
        if call.method in ("GET", "HEAD") and not set(call.query) - _LIST_PARAMETERS:
            return [("s3:ListBucket", bucket_arn)]  # ListObjects(V2) and HeadBucket
        raise NotEmulated(f"S3 {call.method} on a bucket with {sorted(call.query)}")
    if set(call.query) & _OBJECT_SUBRESOURCES:
        raise NotEmulated(f"S3 {call.method} on an object with {sorted(call.query)}")
    object_arn = f"{bucket_arn}/{key}"
    # HeadObject is authorised as s3:GetObject (Amazon S3 API Reference, HeadObject, "Permissions").
    action = {"GET": "s3:GetObject", "HEAD": "s3:GetObject", "PUT": "s3:PutObject", "DELETE": "s3:DeleteObject"}
    if call.method not in action or (call.method == "PUT" and "x-amz-copy-source" in call.headers):
        raise NotEmulated(f"S3 {call.method} on an object")
    return [(action[call.method], object_arn)]


# -- SNS, CloudWatch Logs, STS ----------------------------------------------------------------------


def _sns(operation: str, params: Mapping) -> list[tuple[str, str]]:
    if operation != "Publish":
        raise NotEmulated(f"sns:{operation}")
    return [("sns:Publish", str(params.get("TopicArn") or params.get("TargetArn") or ""))]


def _logs(call: Call, operation: str, region: str, account: str) -> list[tuple[str, str]]:
    if operation not in ("CreateLogStream", "PutLogEvents"):
        raise NotEmulated(f"logs:{operation}")
    group = _json(call).get("logGroupName", "")
    return [(f"logs:{operation}", f"arn:aws:logs:{region}:{account}:log-group:{group}")]


def requested(call: Call, scope: Scope, account: str) -> list[tuple[str, str]]:
    """The (action, resource) pairs `call` needs allowed; [] when it needs none; NotEmulated otherwise."""
    target = call.headers.get("x-amz-target", "")
    prefix, _, operation = target.partition(".")
    if scope.service == "s3":
        return _s3(call)
    if scope.service == "dynamodb" and prefix.startswith("DynamoDB"):
        return _dynamodb(call, operation, scope.region, account)
    if scope.service == "sqs":
        if target:
            return _sqs(call, operation, _json(call), scope.region, account)
        params = _form(call)
        return _sqs(call, params.get("Action", ""), params, scope.region, account)
    if scope.service == "sns":
        params = _form(call)
        return _sns(params.get("Action", ""), params)
    if scope.service == "logs" and target:
        return _logs(call, operation, scope.region, account)
    if scope.service == "comprehend" and operation in ("DetectSentiment", "BatchDetectSentiment"):
        # Comprehend's Detect* actions have no resource type: "*" (Service Authorization Reference).
        return [(f"comprehend:{operation}", "*")]
    if scope.service == "sts" and _form(call).get("Action") == "GetCallerIdentity":
        return []  # needs no permission (AWS STS API Reference, GetCallerIdentity)
    raise NotEmulated(f"{scope.service}:{operation or _form(call).get('Action') or call.method}")


_VIRTUAL_HOSTED = re.compile(r"^(?P<bucket>.+)\.s3(?:[.-][a-z0-9-]+)?\.amazonaws\.com$")


def call_from_url(method: str, url: str, headers: Mapping[str, str], body: bytes) -> Call:
    """A Call from a request botocore prepared: a virtual-hosted-style S3 address (bucket.s3.amazonaws.com/key,
    Amazon S3 User Guide, "Virtual hosting of buckets") is read as the path-style /bucket/key."""
    parts = urlsplit(url)
    path = unquote(parts.path) or "/"
    hosted = _VIRTUAL_HOSTED.match(parts.hostname or "")
    if hosted:
        path = f"/{hosted.group('bucket')}{path}"
    query = parse_qs(parts.query, keep_blank_values=True)
    text = {k.lower(): v.decode("latin-1") if isinstance(v, bytes) else str(v) for k, v in headers.items()}
    return Call(method, path, query, text, body)


def call_from_environ(environ: Mapping, body: bytes) -> Call:
    """A Call from a WSGI environ and the body already read from it."""
    headers = {
        key[5:].replace("_", "-").lower(): str(value) for key, value in environ.items() if key.startswith("HTTP_")
    }
    if environ.get("CONTENT_TYPE"):
        headers["content-type"] = str(environ["CONTENT_TYPE"])
    query = parse_qs(str(environ.get("QUERY_STRING", "")), keep_blank_values=True)
    # PATH_INFO is already decoded (PEP 3333).
    return Call(str(environ.get("REQUEST_METHOD", "GET")), str(environ.get("PATH_INFO", "")), query, headers, body)
