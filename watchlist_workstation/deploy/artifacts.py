"""The stack's artifact bucket, where `sam deploy` uploads code and the template.

It is this stack's own: created once per stack and region with the same protections as the results
bucket, tagged `cfcli:stack=<stack>` / `cfcli:purpose=artifacts`, recorded in `.cfcli/<stack>.json`,
and found again by its tags on a machine without that record. Teardown
(watchlist_workstation/deploy/teardown.py) deletes a bucket only when its tags say this stack created it.

Every function takes its S3 client as a parameter, so the commands hand in the one the CLI's context
built (region, profile, endpoint) and tests hand in moto's.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

TAG_STACK = "cfcli:stack"
TAG_PURPOSE = "cfcli:purpose"
ARTIFACTS_PURPOSE = "artifacts"
# sam uploads artifacts named by content hash and skips an upload when the object exists, so an
# expired artifact is simply uploaded again by the next deploy. The one thing expiry can break is a
# rollback to a version whose code was uploaded earlier than this; 90 days keeps that unlikely.
ARTIFACT_EXPIRATION_DAYS = 90
# S3 bucket names: 3-63 characters of lower-case letters, digits, dots and hyphens.
_BUCKET_NAME_MAX = 63
_RANDOM_HEX = 8


# ---------------------------------------------------------------------------------------------- local record


def record_path(state_dir: Path, stack_name: str) -> Path:
    return state_dir / f"{stack_name}.json"


def read_record(state_dir: Path, stack_name: str) -> dict[str, Any]:
    path = record_path(state_dir, stack_name)
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError):
        # A damaged record only costs a lookup by tags; the buckets' tags are the truth.
        return {}
    return record if isinstance(record, dict) else {}


def write_record(state_dir: Path, stack_name: str, region: str, bucket: str) -> None:
    record = read_record(state_dir, stack_name)
    buckets = record.get("artifact_buckets") if isinstance(record.get("artifact_buckets"), dict) else {}
    buckets[region] = bucket
    state_dir.mkdir(parents=True, exist_ok=True)
    path = record_path(state_dir, stack_name)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(
        json.dumps({"stack_name": stack_name, "artifact_buckets": buckets}, indent=2, sort_keys=True) + "\n",
        encoding="utf-8",
    )
    partial.replace(path)


def recorded_bucket(state_dir: Path, stack_name: str, region: str) -> str | None:
    buckets = read_record(state_dir, stack_name).get("artifact_buckets")
    value = buckets.get(region) if isinstance(buckets, dict) else None
    return value if isinstance(value, str) and value else None


# ---------------------------------------------------------------------------------------------- bucket


def artifact_bucket_prefix(stack_name: str) -> str:
    """`<stack>-artifacts-`, lower-case, the stack part cut so a random suffix still fits in 63 characters."""
    room = _BUCKET_NAME_MAX - len("-artifacts-") - _RANDOM_HEX
    stem = stack_name.lower()[:room].rstrip("-")
    return f"{stem}-artifacts-"


def new_artifact_bucket_name(stack_name: str) -> str:
    return artifact_bucket_prefix(stack_name) + secrets.token_hex(_RANDOM_HEX // 2)


def error_code(exc: ClientError) -> str:
    """The AWS error code of a failed call ("404" for a HeadBucket, which has no body)."""
    return str(exc.response.get("Error", {}).get("Code", ""))


def bucket_tags(s3: Any, bucket: str) -> dict[str, str] | None:
    """The bucket's tags; None when it does not exist or is not ours to read (another account's)."""
    try:
        tag_set = s3.get_bucket_tagging(Bucket=bucket)["TagSet"]
    except ClientError as exc:
        code = error_code(exc)
        if code in ("NoSuchTagSet", "NoSuchTagSetError"):
            return {}
        if code in ("NoSuchBucket", "AccessDenied", "403", "404", "AllAccessDisabled"):
            return None
        raise
    return {tag["Key"]: tag["Value"] for tag in tag_set}


def is_artifact_bucket_of(s3: Any, bucket: str, stack_name: str) -> bool:
    """True only when the bucket's tags say this stack created it for its artifacts."""
    tags = bucket_tags(s3, bucket)
    return bool(tags) and tags.get(TAG_STACK) == stack_name and tags.get(TAG_PURPOSE) == ARTIFACTS_PURPOSE


def bucket_region(s3: Any, bucket: str) -> str:
    constraint = s3.get_bucket_location(Bucket=bucket).get("LocationConstraint")
    # GetBucketLocation answers null for us-east-1 and the legacy "EU" for eu-west-1.
    return {None: "us-east-1", "": "us-east-1", "EU": "eu-west-1"}.get(constraint, constraint)


def _bucket_names(s3: Any) -> Iterator[tuple[str, Any]]:
    if s3.can_paginate("list_buckets"):
        pages: Iterable[dict[str, Any]] = s3.get_paginator("list_buckets").paginate()
    else:
        pages = [s3.list_buckets()]
    for page in pages:
        for bucket in page.get("Buckets", []):
            yield bucket["Name"], bucket.get("CreationDate")


def discover_artifact_bucket(s3: Any, stack_name: str, region: str) -> str | None:
    """A bucket this stack created in `region` earlier, found by name prefix and confirmed by its tags."""
    prefix = artifact_bucket_prefix(stack_name)
    found = []
    for name, created in _bucket_names(s3):
        if (
            name.startswith(prefix)
            and is_artifact_bucket_of(s3, name, stack_name)
            and bucket_region(s3, name) == region
        ):
            found.append((str(created or ""), name))
    # Two can exist only if two machines created one at the same moment; the oldest wins, always the same one.
    return min(found)[1] if found else None


def find_artifact_bucket(s3: Any, stack_name: str, region: str, state_dir: Path) -> str | None:
    """The stack's artifact bucket: the recorded one if its tags still confirm it, else one found by tags."""
    recorded = recorded_bucket(state_dir, stack_name, region)
    if recorded and is_artifact_bucket_of(s3, recorded, stack_name):
        return recorded
    return discover_artifact_bucket(s3, stack_name, region)


def create_artifact_bucket(s3: Any, stack_name: str, region: str) -> str:
    name = new_artifact_bucket_name(stack_name)
    if region == "us-east-1":
        s3.create_bucket(Bucket=name)
    else:
        s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": region})
    # Tagged first: a creation interrupted after this point is still found, reused and torn down.
    s3.put_bucket_tagging(
        Bucket=name,
        Tagging={"TagSet": [{"Key": TAG_STACK, "Value": stack_name}, {"Key": TAG_PURPOSE, "Value": ARTIFACTS_PURPOSE}]},
    )
    s3.put_public_access_block(
        Bucket=name,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    s3.put_bucket_encryption(
        Bucket=name,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}, "BucketKeyEnabled": True}]
        },
    )
    s3.put_bucket_policy(Bucket=name, Policy=json.dumps(tls_only_policy(name)))
    s3.put_bucket_lifecycle_configuration(
        Bucket=name,
        LifecycleConfiguration={
            "Rules": [
                {
                    "ID": "ExpireOldArtifacts",
                    "Status": "Enabled",
                    "Filter": {},
                    "Expiration": {"Days": ARTIFACT_EXPIRATION_DAYS},
                    "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
                }
            ]
        },
    )
    return name


def tls_only_policy(bucket: str) -> dict[str, Any]:
    arn = f"arn:aws:s3:::{bucket}"
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [arn, f"{arn}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ],
    }


def ensure_artifact_bucket(s3: Any, stack_name: str, region: str, state_dir: Path) -> tuple[str, bool]:
    """(bucket, created): the stack's artifact bucket in `region`, created on first use, always recorded."""
    bucket = find_artifact_bucket(s3, stack_name, region, state_dir)
    created = bucket is None
    if bucket is None:
        bucket = create_artifact_bucket(s3, stack_name, region)
    write_record(state_dir, stack_name, region, bucket)
    return bucket, created
