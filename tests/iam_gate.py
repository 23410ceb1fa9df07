"""IAM enforced in-process, for the suites that run the handlers under moto's mock_aws (the fault world).

The same evaluator and request mapping as local mode (watchlist_workstation/local/iam/, docs/local-mode.md,
"IAM in local mode") judge every call of the pipeline's clients (lib.clients) as the role of the function
that is running: the policies are the roles' statements in template.yml, resolved against the test's own
table, queue and bucket. A refused call gets the service's own access denied answer, so the handlers meet
exactly what they would meet in AWS; a HeadObject or GetObject of a missing key answers 403 unless the role
may list the bucket.

    gate = RoleGate.from_template(resources)
    gate.install(clients.client("s3"), ...)
    with gate.acting("ProducerAIRole"):
        consumer.lambda_handler(event, None)
"""

from __future__ import annotations

import contextlib
import re
from collections import Counter
from collections.abc import Iterator
from typing import Any

import boto3
from botocore.awsrequest import AWSResponse

from tests.template_fixture import TEMPLATE_PATH, resolve_ifs
from watchlist_workstation.deploy.template import load_template
from watchlist_workstation.local.iam.account import MotoAccount
from watchlist_workstation.local.iam.middleware import Authorizer
from watchlist_workstation.local.iam.policy import Principal
from watchlist_workstation.local.iam.requests import call_from_url, credential_scope

ACCOUNT = "123456789012"  # moto's default account
REFUSED_URL = "http://refused.invalid/"  # RFC 2606: never resolves, and no moto backend claims it
REGION = "us-east-1"


class _Body:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.data


class _TemplateRoles:
    """The identity policies of template.yml's roles; the rest of the account from moto's own state."""

    def __init__(self, policies: dict[str, list[dict[str, Any]]]) -> None:
        self.policies = policies
        self._moto = MotoAccount()

    def identity_policies(self, who: Principal) -> list[dict[str, Any]]:
        return self.policies[who.role_arn.rsplit("/", 1)[-1]]

    def resource_policies(self, resource: str) -> list[dict[str, Any]]:
        return self._moto.resource_policies(resource)

    def object_exists(self, bucket: str, key: str) -> bool:
        return self._moto.object_exists(bucket, key)


class RoleGate:
    def __init__(self, arns: dict[str, str]) -> None:
        self.arns = arns
        self.authorizer = Authorizer(_TemplateRoles(_role_policies(arns, None)))
        self.role: str | None = None
        self.checked: Counter[str] = Counter()  # calls judged, by role
        self.refused: list[str] = []

    @classmethod
    def from_template(cls, resources: Any) -> RoleGate:
        """The template's two roles, their ARNs pointed at the test's table, queue and bucket."""
        queue_arn = boto3.client("sqs").get_queue_attributes(QueueUrl=resources.queue_url, AttributeNames=["QueueArn"])
        arns = {
            "WatchlistTable": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{resources.table}",
            "WorkQueue": queue_arn["Attributes"]["QueueArn"],
            "ResultsBucket": f"arn:aws:s3:::{resources.bucket}",
        }
        return cls(arns)

    def deploy(self, topic_arn: str | None) -> None:
        """The roles as deployed with NotifyOnLabelChange true and this topic (a str), or false (None)."""
        self.authorizer.account.policies = _role_policies(self.arns, topic_arn)

    def install(self, *clients: Any) -> None:
        for client in clients:
            # First: botocore calls every before-send handler and takes the first answer, so the gate must
            # answer before moto's stubber, and a refused request must not reach moto at all.
            client.meta.events.register_first("before-send", self._before_send)

    @contextlib.contextmanager
    def acting(self, role: str) -> Iterator[None]:
        """The pipeline's calls in the block are made by `role` (a logical id of template.yml)."""
        previous, self.role = self.role, role
        try:
            yield
        finally:
            self.role = previous

    def _before_send(self, request: Any, **_: Any) -> AWSResponse | None:
        if self.role is None:
            return None
        body = request.body
        if isinstance(body, str):
            body = body.encode()
        elif not isinstance(body, bytes):
            body = b""  # none, or a streamed upload (no S3 mapping reads the body)
        call = call_from_url(request.method, request.url, dict(request.headers.items()), body)
        scope = credential_scope(call.headers.get("authorization", ""), call.query)
        assert scope is not None, "the pipeline's clients sign their requests"
        who = Principal(
            f"arn:aws:sts::{ACCOUNT}:assumed-role/{self.role}/fault-world",
            f"arn:aws:iam::{ACCOUNT}:role/{self.role}",
            ACCOUNT,
        )
        self.checked[self.role] += 1
        denied = self.authorizer.check(call, scope, who)
        if denied is None:
            return None
        self.refused.append(f"{self.role}: {request.method} {request.url}: {denied.body[:300]!r}")
        status = int(denied.status.split()[0])
        answer = AWSResponse(request.url, status, dict(denied.headers), _Body(denied.body))
        request.url = REFUSED_URL  # moto's stubber serves no such address: the refused call changes nothing
        return answer


def _resolve(node: Any, arns: dict[str, str]) -> Any:
    """Fn::GetAtt X.Arn and Fn::Sub ${X.Arn} of the test's resources; other references get a placeholder ARN
    no request of the test matches (log groups, the topic)."""
    if isinstance(node, list):
        return [_resolve(item, arns) for item in node]
    if not isinstance(node, dict):
        return node
    if set(node) == {"Fn::GetAtt"}:
        return arns.get(node["Fn::GetAtt"][0], f"arn:aws:none:::{node['Fn::GetAtt'][0]}")
    if set(node) == {"Fn::Sub"}:
        return re.sub(r"\$\{([^.}]+)\.Arn\}", lambda m: arns.get(m.group(1), "arn:aws:none"), node["Fn::Sub"])
    if set(node) == {"Ref"}:
        return arns.get(node["Ref"], f"arn:aws:none:::{node['Ref']}")
    return {key: _resolve(value, arns) for key, value in node.items()}


def _role_policies(arns: dict[str, str], topic_arn: str | None) -> dict[str, list[dict[str, Any]]]:
    conditions = {
        "HasNotificationEmail": False,
        "NotifiesLabelChanges": topic_arn is not None,
        "RetainDataOnDelete": False,
    }
    arns = {**arns, "NotificationTopic": topic_arn or "arn:aws:none"}
    policies = {}
    for role, resource in load_template(TEMPLATE_PATH)["Resources"].items():
        if resource["Type"] == "AWS::IAM::Role":
            documents = resolve_ifs(resource["Properties"]["Policies"], conditions)
            policies[role] = [_resolve(p["PolicyDocument"], arns) for p in documents]
    return policies
