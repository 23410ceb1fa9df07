"""What the emulated account's IAM knows, read from moto's own state in the moto server process.

An access key id that STS handed out by AssumeRole names an assumed-role session; its role's inline
and attached managed policies are its identity policies; a bucket's policy and a queue's Policy
attribute are the resource-based policies. Imported in the moto server process only (it imports moto).
"""

from __future__ import annotations

import functools
from typing import Any

from moto.iam.models import iam_backends
from moto.s3.models import FakeKey, s3_backends
from moto.sqs.models import sqs_backends
from moto.sts.models import sts_backends

from watchlist_workstation.local.iam.policy import Principal, parse_document

PARTITION = "aws"


class MotoAccount:
    """Read-only views of moto's IAM, STS, S3 and SQS state."""

    def session(self, access_key_id: str) -> Principal | None:
        """The assumed-role session an access key belongs to; None for any other key."""
        for account in list(sts_backends):
            backend = sts_backends[account][PARTITION]
            assumed = backend.get_assumed_role_from_access_key(access_key_id)
            if assumed is not None:
                return Principal(assumed.arn, assumed.role_arn, assumed.account_id)
        return None

    def role_session(self, role_arn: str, session_name: str) -> Principal:
        """A session of `role_arn` that was not assumed (the checks Lambda makes with a function's role)."""
        account, role = role_arn.split(":")[4], role_arn.rsplit("/", 1)[-1]
        return Principal(f"arn:aws:sts::{account}:assumed-role/{role}/{session_name}", role_arn, account)

    def identity_policies(self, who: Principal) -> list[dict[str, Any]]:
        """The role's inline policies and the default versions of its attached managed policies."""
        try:
            role = iam_backends[who.account][PARTITION].get_role_by_arn(who.role_arn)
        except Exception:  # moto raises its own not-found error: the role is gone
            return []
        documents = [_parsed(text) for text in role.policies.values()]
        for managed in role.managed_policies.values():
            default = next((v for v in managed.versions if v.is_default), None)
            if default is not None:
                documents.append(_parsed(default.document))
        return [d for d in documents if d]

    def resource_policies(self, resource: str) -> list[dict[str, Any]]:
        """The bucket policy of an S3 bucket or object ARN; the Policy of an SQS queue ARN."""
        parts = resource.split(":", 5)
        if len(parts) < 6:
            return []
        service, region, account, name = parts[2], parts[3], parts[4], parts[5]
        if service == "s3":
            bucket = self._bucket(name.split("/", 1)[0])
            document = _parsed(bucket.policy) if bucket is not None else None
        elif service == "sqs":
            queue = sqs_backends[account][region].queues.get(name) if account in sqs_backends else None
            document = _parsed(queue.policy) if queue is not None else None
        else:
            document = None
        return [document] if document else []

    def object_exists(self, bucket_name: str, key: str) -> bool:
        """Whether the object's current version is an object (not missing, not a delete marker)."""
        bucket = self._bucket(bucket_name)
        if bucket is None:
            return False
        try:
            return isinstance(bucket.keys[key], FakeKey)
        except KeyError:
            return False

    def _bucket(self, name: str) -> Any:
        for account in list(s3_backends):
            bucket = s3_backends[account][PARTITION].buckets.get(name)
            if bucket is not None:
                return bucket
        return None


def _parsed(text: Any) -> dict[str, Any] | None:
    """A policy document, read once per text: every request of a role is judged against the same few.
    moto keeps some documents as dicts already (those are used as they are)."""
    if isinstance(text, str | bytes):
        return _parsed_text(text)
    return parse_document(text)


@functools.lru_cache(maxsize=256)
def _parsed_text(text: str | bytes) -> dict[str, Any] | None:
    return parse_document(text)
