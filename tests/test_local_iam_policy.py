"""Local mode's IAM policy evaluator and request mapping, without servers (docs/local-mode.md, "IAM in local mode")."""

from __future__ import annotations

import json

import pytest

from watchlist_workstation.local.iam.errors import access_denied, invalid_token
from watchlist_workstation.local.iam.policy import (
    ALLOW,
    EXPLICIT_DENY,
    IMPLICIT_DENY,
    Policies,
    Principal,
    denial_message,
    evaluate,
    parse_document,
)
from watchlist_workstation.local.iam.requests import (
    Call,
    NotEmulated,
    Scope,
    call_from_url,
    credential_scope,
    requested,
)

WHO = Principal(
    "arn:aws:sts::123456789012:assumed-role/consumer-role/fn",
    "arn:aws:iam::123456789012:role/consumer-role",
    "123456789012",
)
BUCKET = "arn:aws:s3:::results-bucket"
TLS_ONLY = {
    "Statement": [
        {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [BUCKET, f"{BUCKET}/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
    ]
}


def allow(action, resource, **extra):
    return {"Statement": [{"Effect": "Allow", "Action": action, "Resource": resource, **extra}]}


def decide(action, resource, identity=(), resource_policies=(), context=None):
    context = {"aws:SecureTransport": "true"} if context is None else context
    return evaluate(WHO, action, resource, Policies(list(identity), list(resource_policies), context))


def test_nothing_granted_is_an_implicit_deny():
    assert decide("s3:GetObject", f"{BUCKET}/results/a").effect == IMPLICIT_DENY


def test_an_identity_allow_on_a_matching_resource_allows():
    granted = allow("s3:GetObject", f"{BUCKET}/results/*")
    assert decide("s3:GetObject", f"{BUCKET}/results/dt=1/a.csv", [granted]).effect == ALLOW
    assert decide("s3:GetObject", f"{BUCKET}/other/a.csv", [granted]).effect == IMPLICIT_DENY


def test_action_names_ignore_case_but_arns_do_not():
    # IAM JSON policy elements: Action names are case-insensitive; Resource ARNs are case-sensitive.
    granted = allow("S3:getobject", f"{BUCKET}/Results/*")
    assert decide("s3:GetObject", f"{BUCKET}/Results/a", [granted]).allowed
    assert not decide("s3:GetObject", f"{BUCKET}/results/a", [granted]).allowed


def test_wildcards_in_actions_and_question_marks_in_resources():
    granted = allow("sqs:*Message", "arn:aws:sqs:us-east-1:123456789012:work-?")
    assert decide("sqs:ReceiveMessage", "arn:aws:sqs:us-east-1:123456789012:work-1", [granted]).allowed
    assert not decide("sqs:ReceiveMessage", "arn:aws:sqs:us-east-1:123456789012:work-12", [granted]).allowed
    assert not decide("sqs:GetQueueAttributes", "arn:aws:sqs:us-east-1:123456789012:work-1", [granted]).allowed


def test_explicit_deny_wins_over_any_allow():
    deny = {"Statement": [{"Effect": "Deny", "Action": "s3:PutObject", "Resource": "*"}]}
    decision = decide("s3:PutObject", f"{BUCKET}/results/a", [allow("s3:*", "*"), deny])
    assert decision.effect == EXPLICIT_DENY and decision.where == "identity-based"


def test_not_action_and_not_resource():
    everything_but_delete = {"Statement": [{"Effect": "Allow", "NotAction": "s3:DeleteObject", "NotResource": BUCKET}]}
    assert decide("s3:PutObject", f"{BUCKET}/a", [everything_but_delete]).allowed
    assert not decide("s3:DeleteObject", f"{BUCKET}/a", [everything_but_delete]).allowed
    assert not decide("s3:ListBucket", BUCKET, [everything_but_delete]).allowed


def test_the_tls_only_bucket_policy_does_not_fire_on_secure_transport_true():
    granted = allow("s3:GetObject", f"{BUCKET}/*")
    assert decide("s3:GetObject", f"{BUCKET}/a", [granted], [TLS_ONLY]).allowed
    denied = decide("s3:GetObject", f"{BUCKET}/a", [granted], [TLS_ONLY], {"aws:SecureTransport": "false"})
    assert denied.effect == EXPLICIT_DENY and denied.where == "resource-based" and denied.sid == "DenyInsecureTransport"


def test_secure_transport_is_evaluated_a_policy_denying_true_refuses():
    # GIVEN a policy that denies when the request came over TLS  THEN local mode's "true" makes it fire
    deny_tls = {"Statement": [{**TLS_ONLY["Statement"][0], "Condition": {"Bool": {"aws:SecureTransport": "true"}}}]}
    assert decide("s3:GetObject", f"{BUCKET}/a", [allow("s3:*", "*")], [deny_tls]).effect == EXPLICIT_DENY


def test_a_resource_policy_allow_for_the_role_allows_in_the_same_account():
    queue = "arn:aws:sqs:us-east-1:123456789012:work"
    policy = allow("sqs:SendMessage", queue, Principal={"AWS": WHO.role_arn})
    assert decide("sqs:SendMessage", queue, [], [policy]).effect == ALLOW
    other = allow("sqs:SendMessage", queue, Principal={"AWS": "arn:aws:iam::123456789012:role/other"})
    assert decide("sqs:SendMessage", queue, [], [other]).effect == IMPLICIT_DENY


@pytest.mark.parametrize(
    ("condition", "context", "holds"),
    [
        ({"StringEquals": {"aws:PrincipalAccount": "123456789012"}}, {"aws:PrincipalAccount": "123456789012"}, True),
        ({"StringEquals": {"aws:PrincipalAccount": "1"}}, {"aws:PrincipalAccount": "123456789012"}, False),
        ({"StringNotEquals": {"aws:PrincipalAccount": "1"}}, {"aws:PrincipalAccount": "123456789012"}, True),
        (
            {"StringLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/consumer-*"}},
            {"aws:PrincipalArn": WHO.role_arn},
            True,
        ),
        (
            {"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/producer-*"}},
            {"aws:PrincipalArn": WHO.role_arn},
            False,
        ),
        ({"StringEqualsIgnoreCase": {"aws:RequestedRegion": "US-EAST-1"}}, {"aws:RequestedRegion": "us-east-1"}, True),
        # A key missing from the request: a positive operator does not match, ...IfExists and Null do.
        ({"StringEquals": {"aws:SourceVpc": "vpc-1"}}, {}, False),
        ({"StringEqualsIfExists": {"aws:SourceVpc": "vpc-1"}}, {}, True),
        ({"Null": {"aws:SourceVpc": "true"}}, {}, True),
        # Condition keys are case-insensitive.
        ({"Bool": {"AWS:securetransport": "TRUE"}}, {"aws:SecureTransport": "true"}, True),
        # Not emulated: an unknown operator and the set operators make the statement not match.
        ({"DateGreaterThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}}, {"aws:CurrentTime": "x"}, False),
        ({"ForAnyValue:StringEquals": {"aws:TagKeys": "a"}}, {"aws:TagKeys": ["a"]}, False),
    ],
)
def test_condition_operators(condition, context, holds):
    granted = allow("dynamodb:GetItem", "*", Condition=condition)
    assert (
        decide("dynamodb:GetItem", "arn:aws:dynamodb:us-east-1:1:table/t", [granted], context=context).allowed is holds
    )


def test_moto_s_python_literal_policy_documents_are_read_and_novalue_entries_skipped():
    # moto 5.2.5 keeps a CloudFormation-created inline policy as a dict's repr, with None for Fn::If's NoValue.
    text = (
        "{'Version': '2012-10-17', 'Statement': [None, {'Effect': 'Allow', 'Action': 'sns:Publish', 'Resource': '*'}]}"
    )
    assert decide("sns:Publish", "arn:aws:sns:us-east-1:1:t", [parse_document(text)]).allowed
    assert parse_document(json.dumps({"Statement": []})) == {"Statement": []}


def test_denial_message_has_aws_wording():
    implicit = decide("s3:ListBucket", BUCKET)
    assert denial_message(WHO, "s3:ListBucket", BUCKET, implicit) == (
        f"User: {WHO.session_arn} is not authorized to perform: s3:ListBucket on resource: {BUCKET} "
        "because no identity-based policy allows the s3:ListBucket action"
    )


# -- the request mapping ----------------------------------------------------------------------------

SCOPE = {s: Scope("ASIAEXAMPLE", "us-east-1", s) for s in ("dynamodb", "sqs", "s3", "sns", "logs", "sts", "ec2")}


def test_credential_scope_from_the_authorization_header_and_a_presigned_url():
    header = "AWS4-HMAC-SHA256 Credential=ASIAKEY/20261207/eu-west-1/sqs/aws4_request, SignedHeaders=host, Signature=x"
    assert credential_scope(header, {}) == Scope("ASIAKEY", "eu-west-1", "sqs")
    assert credential_scope("", {"X-Amz-Credential": ["AKIA1/20261207/us-east-1/s3/aws4_request"]}) == Scope(
        "AKIA1", "us-east-1", "s3"
    )
    assert credential_scope("", {}) is None


def dynamodb(operation, body):
    return Call("POST", "/", {}, {"x-amz-target": f"DynamoDB_20120810.{operation}"}, json.dumps(body).encode())


def sqs_json(operation, body):
    return Call("POST", "/", {}, {"x-amz-target": f"AmazonSQS.{operation}"}, json.dumps(body).encode())


@pytest.mark.parametrize(
    ("call", "service", "expected"),
    [
        (
            dynamodb("Scan", {"TableName": "t"}),
            "dynamodb",
            [("dynamodb:Scan", "arn:aws:dynamodb:us-east-1:123:table/t")],
        ),
        (
            dynamodb("BatchGetItem", {"RequestItems": {"b": {}, "a": {}}}),
            "dynamodb",
            [
                ("dynamodb:BatchGetItem", "arn:aws:dynamodb:us-east-1:123:table/a"),
                ("dynamodb:BatchGetItem", "arn:aws:dynamodb:us-east-1:123:table/b"),
            ],
        ),
        (
            sqs_json("SendMessageBatch", {"QueueUrl": "http://127.0.0.1:5000/123/work"}),
            "sqs",
            [("sqs:SendMessage", "arn:aws:sqs:us-east-1:123:work")],
        ),
        (
            sqs_json("DeleteMessageBatch", {"QueueUrl": "https://sqs.us-east-1.amazonaws.com/123/work"}),
            "sqs",
            [("sqs:DeleteMessage", "arn:aws:sqs:us-east-1:123:work")],
        ),
        (
            Call("POST", "/", {}, {}, b"Action=ReceiveMessage&QueueUrl=http%3A%2F%2Fh%2F123%2Fwork"),
            "sqs",
            [("sqs:ReceiveMessage", "arn:aws:sqs:us-east-1:123:work")],
        ),
        (Call("HEAD", "/bkt/results/a.csv"), "s3", [("s3:GetObject", "arn:aws:s3:::bkt/results/a.csv")]),
        (Call("GET", "/bkt/results/a.csv"), "s3", [("s3:GetObject", "arn:aws:s3:::bkt/results/a.csv")]),
        (Call("PUT", "/bkt/results/a.csv"), "s3", [("s3:PutObject", "arn:aws:s3:::bkt/results/a.csv")]),
        (Call("GET", "/bkt", {"list-type": ["2"], "prefix": ["r"]}), "s3", [("s3:ListBucket", "arn:aws:s3:::bkt")]),
        (
            Call("POST", "/", {}, {}, b"Action=Publish&TopicArn=arn%3Aaws%3Asns%3Aus-east-1%3A123%3At&Message=x"),
            "sns",
            [("sns:Publish", "arn:aws:sns:us-east-1:123:t")],
        ),
        (
            Call("POST", "/", {}, {"x-amz-target": "Logs_20140328.PutLogEvents"}, b'{"logGroupName": "/g"}'),
            "logs",
            [("logs:PutLogEvents", "arn:aws:logs:us-east-1:123:log-group:/g")],
        ),
        (Call("POST", "/", {}, {}, b"Action=GetCallerIdentity"), "sts", []),
    ],
)
def test_requests_map_to_actions_and_resources(call, service, expected):
    assert requested(call, SCOPE[service], "123") == expected


@pytest.mark.parametrize(
    ("call", "service"),
    [
        (dynamodb("DeleteTable", {"TableName": "t"}), "dynamodb"),
        (sqs_json("CreateQueue", {"QueueName": "q"}), "sqs"),
        (Call("GET", "/bkt/a", {"tagging": [""]}), "s3"),
        (Call("PUT", "/bkt/a", {}, {"x-amz-copy-source": "/other/b"}), "s3"),
        (Call("GET", "/"), "s3"),
        (Call("POST", "/", {}, {}, b"Action=Subscribe"), "sns"),
        (Call("POST", "/", {}, {}, b"Action=DescribeInstances"), "ec2"),
    ],
)
def test_operations_not_mapped_are_not_emulated(call, service):
    with pytest.raises(NotEmulated):
        requested(call, SCOPE[service], "123")


@pytest.mark.parametrize(
    ("service", "method", "status", "code_field"),
    [
        ("dynamodb", "POST", "400 Bad Request", "__type"),
        ("sqs", "POST", "403 Forbidden", "__type"),
        ("logs", "POST", "400 Bad Request", "__type"),
    ],
)
def test_json_protocol_denials(service, method, status, code_field):
    response = access_denied(service, "User: x is not authorized", method=method)
    assert response.status == status
    assert "AccessDenied" in json.loads(response.body)[code_field]


def test_xml_denials_and_a_bodyless_head():
    s3 = access_denied("s3", "no", method="GET")
    assert s3.status == "403 Forbidden" and b"<Code>AccessDenied</Code>" in s3.body
    assert access_denied("s3", "no", method="HEAD").body == b""
    sns = access_denied("sns", "no")
    assert sns.status == "403 Forbidden" and b"<Code>AuthorizationError</Code>" in sns.body


@pytest.mark.parametrize(
    ("service", "status", "code"),
    [
        ("dynamodb", "400 Bad Request", "com.amazonaws.dynamodb.v20120810#UnrecognizedClientException"),
        ("sqs", "403 Forbidden", "com.amazonaws.sqs#InvalidClientTokenId"),
        ("comprehend", "400 Bad Request", "UnrecognizedClientException"),
    ],
)
def test_an_unknown_key_gets_the_services_invalid_token_error_on_json_protocols(service, status, code):
    response = invalid_token(service)
    assert response.status == status and json.loads(response.body)["__type"] == code


def test_an_unknown_key_gets_the_services_invalid_token_error_on_xml_protocols():
    s3 = invalid_token("s3", method="PUT")
    assert s3.status == "403 Forbidden" and b"<Code>InvalidAccessKeyId</Code>" in s3.body
    sns = invalid_token("sns")
    assert sns.status == "403 Forbidden" and b"<Code>InvalidClientTokenId</Code>" in sns.body


def test_a_virtual_hosted_s3_address_reads_as_path_style():
    call = call_from_url("HEAD", "https://bkt.s3.amazonaws.com/results/dt%3D1/a.csv", {"X-Amz-Target": b"x"}, b"")
    assert call.path == "/bkt/results/dt=1/a.csv" and call.headers["x-amz-target"] == "x"
    assert requested(call, SCOPE["s3"], "123") == [("s3:GetObject", "arn:aws:s3:::bkt/results/dt=1/a.csv")]
