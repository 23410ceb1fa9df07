"""Security: TLS-only policies on the stack's bucket and queues, the bucket's public access block, and no
credential in anything a local run writes.

The policies are judged on the transformed template (what CloudFormation receives), not in moto:
moto's CloudFormation skips AWS::S3::BucketPolicy and AWS::SQS::QueuePolicy (MOTO_SKIPS in
tests/test_template_stack.py), and moto's S3 treats a Deny whose Condition it cannot evaluate as an
unconditional deny (see tests/infra_fixture.py), so moto could not show a TLS request passing and a
plain-HTTP one refused. Nor does moto 5.2.5's CloudFormation apply a bucket's
PublicAccessBlockConfiguration (GetPublicAccessBlock on the stack's bucket answers
NoSuchPublicAccessBlockConfiguration), so the public access block is judged on the template too.

Name validation is not repeated here; the CLI refuses a control character or an over-long name
(tests/test_cli_watchlist.py) and the consumer dead-letters the same names sent straight to the
queue (tests/test_faults.py, tests/test_consumer.py).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

import cfcli  # noqa: F401 - registers every command on the group
from tests.test_local_run import watchlist
from watchlist_workstation.cli.app import cli
from watchlist_workstation.local.stack import FAKE_CREDENTIALS, REGION

TLS_CONDITION = {"Bool": {"aws:SecureTransport": "false"}}
PUBLIC_ACCESS_SETTINGS = ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets")

pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse .* not supported by moto:UserWarning")


# ---------------------------------------------------------------------------------------------- template


def resources_of(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {logical_id: r for logical_id, r in template["Resources"].items() if r["Type"] == kind}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def denies_plain_http_to_everyone(statement: dict[str, Any], service: str) -> bool:
    """A Deny on every action of `service` for every principal, whenever the request was not made over TLS."""
    return (
        statement.get("Effect") == "Deny"
        and statement.get("Principal") in ("*", {"AWS": "*"})
        and as_list(statement.get("Action")) == [f"{service}:*"]
        and "NotAction" not in statement
        and "NotPrincipal" not in statement
        and statement.get("Condition") == TLS_CONDITION
    )


def test_every_bucket_denies_requests_not_made_over_tls_on_the_bucket_and_its_objects(transformed):
    buckets = resources_of(transformed, "AWS::S3::Bucket")
    policies = resources_of(transformed, "AWS::S3::BucketPolicy")
    # The results bucket is the one the outputs name: the check cannot pass on a template without it.
    assert transformed["Outputs"]["ResultsBucketName"]["Value"] == {"Ref": "ResultsBucket"}
    assert "ResultsBucket" in buckets
    for bucket in buckets:
        statements = [
            statement
            for policy in policies.values()
            if policy["Properties"]["Bucket"] == {"Ref": bucket}
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]
            if denies_plain_http_to_everyone(statement, "s3")
        ]
        assert statements, f"{bucket} has no TLS-only bucket policy"
        covered = [resource for statement in statements for resource in as_list(statement["Resource"])]
        # The bucket itself (ListBucket, policy and ACL calls) and every object in it.
        assert {"Fn::GetAtt": [bucket, "Arn"]} in covered, bucket
        assert {"Fn::Sub": f"${{{bucket}.Arn}}/*"} in covered, bucket


def test_no_bucket_policy_allows_anyone(transformed):
    for logical_id, policy in resources_of(transformed, "AWS::S3::BucketPolicy").items():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            assert statement["Effect"] == "Deny", f"{logical_id} grants access in its bucket policy: {statement}"


def test_every_bucket_blocks_every_kind_of_public_access(transformed):
    buckets = resources_of(transformed, "AWS::S3::Bucket")
    assert buckets
    for logical_id, bucket in buckets.items():
        block = bucket["Properties"].get("PublicAccessBlockConfiguration", {})
        assert {setting: block.get(setting) for setting in PUBLIC_ACCESS_SETTINGS} == dict.fromkeys(
            PUBLIC_ACCESS_SETTINGS, True
        ), logical_id


def test_every_queue_denies_requests_not_made_over_tls(transformed):
    queues = resources_of(transformed, "AWS::SQS::Queue")
    assert {"WorkQueue", "DeadLetterQueue"} <= set(queues)
    policies = resources_of(transformed, "AWS::SQS::QueuePolicy").values()
    for queue in queues:
        covered = [
            resource
            for policy in policies
            if {"Ref": queue} in policy["Properties"]["Queues"]
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]
            if denies_plain_http_to_everyone(statement, "sqs")
            for resource in as_list(statement["Resource"])
        ]
        assert {"Fn::GetAtt": [queue, "Arn"]} in covered, f"{queue} has no TLS-only queue policy"


# ---------------------------------------------------------------------------------------------- logs

# Credentials a developer may well have in the shell that starts local mode. Local mode must not use
# them (it has its own fake ones), and no log line, file or message may carry them.
CANARY = {
    "AWS_ACCESS_KEY_ID": "AKIACANARY0LOCAL0RUN",
    "AWS_SECRET_ACCESS_KEY": "canarySecretKey0do0not0log0this0anywhere1",
    "AWS_SESSION_TOKEN": "canarySessionToken0do0not0log0this0either2",
}
# Each pattern is a way a credential shows itself in text. Local mode's own fake key and secret are the
# word "local", far too common to search for alone, so they are searched for where a leak would put
# them: after a secret's name and in a SigV4 credential scope.
CREDENTIAL_PATTERNS = {
    "AWS access key id": re.compile(r"(?<![A-Z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Z0-9])"),
    "secret access key by name": re.compile(r"aws_secret_access_key|secretaccesskey", re.IGNORECASE),
    "local mode's fake secret after a secret's name": re.compile(
        r"secret\w*\W{1,5}" + re.escape(FAKE_CREDENTIALS["aws_secret_access_key"]) + r"\b", re.IGNORECASE
    ),
    "SigV4 credential scope": re.compile(
        r"Credential=(?:" + re.escape(FAKE_CREDENTIALS["aws_access_key_id"]) + r"|[A-Z0-9]{16,})/", re.IGNORECASE
    ),
    "Authorization header": re.compile(r"\bAuthorization\b\W{0,4}:|AWS4-HMAC-SHA256", re.IGNORECASE),
    "session token header": re.compile(r"X-Amz-Security-Token", re.IGNORECASE),
    "private key block": re.compile(r"-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----"),
    **{f"the shell's {name}": re.compile(re.escape(value)) for name, value in CANARY.items()},
}


def credential_findings(source: str, text: str) -> list[str]:
    return [
        f"{source} line {number}: {label}"
        for number, line in enumerate(text.splitlines(), 1)
        for label, pattern in CREDENTIAL_PATTERNS.items()
        if pattern.search(line)
    ]


@pytest.mark.parametrize(
    ("label", "leak"),
    [
        ("AWS access key id", "using key ASIAY34FZKBOKMUTVV7A for the call"),
        ("secret access key by name", "env: AWS_SECRET_ACCESS_KEY=whatever"),
        ("local mode's fake secret after a secret's name", '{"aws_secret": "local"}'),
        ("SigV4 credential scope", "Credential=local/20261128/us-east-1/sqs/aws4_request"),
        ("Authorization header", "Authorization: AWS4-HMAC-SHA256 Credential=..."),
        ("session token header", "X-Amz-Security-Token: FQoGZXIvYXdz"),
        ("private key block", "-----BEGIN RSA PRIVATE KEY-----"),
        ("the shell's AWS_SECRET_ACCESS_KEY", f"secret is {CANARY['AWS_SECRET_ACCESS_KEY']}"),
    ],
)
def test_the_scan_finds_each_kind_of_leak(label, leak):
    # A scan that cannot find a leak would pass every log: each pattern is shown one leak of its kind.
    assert f"sample line 2: {label}" in credential_findings("sample", f"an ordinary line\n{leak}\n")


def test_the_scan_passes_ordinary_local_mode_lines():
    lines = '{"message": "company analysed", "company": "Local Motors", "source": "local-mode"}\n'
    assert credential_findings("sample", lines) == []


@pytest.fixture
def local_run(tmp_path, monkeypatch, cli_runner):
    """`./cfcli.py --verbose local run --once` with canary credentials in the environment; its state in tmp_path."""
    for key in [key for key in os.environ if key.startswith("AWS_")]:
        monkeypatch.delenv(key)
    for key, value in {**CANARY, "AWS_DEFAULT_REGION": REGION}.items():
        monkeypatch.setenv(key, value)
    state, results = tmp_path / "state", tmp_path / "results"
    monkeypatch.setenv("CFCLI_LOCAL_STATE_DIR", str(state))
    result = cli_runner.invoke(cli, ["--verbose", "local", "run", "--once", "--results-dir", str(results)])
    assert result.exit_code == 0, result.stderr
    return result, state


def written_files(state: Path) -> list[Path]:
    """What the run wrote in its state folder, without functions/ (the deployed code, unzipped, not output)."""
    return sorted(
        path for path in state.rglob("*") if path.is_file() and "functions" not in path.relative_to(state).parts
    )


@pytest.mark.servers  # local_run: a local stack, with its moto server process
def test_a_local_run_writes_no_credential_in_its_logs_files_or_output(local_run):
    result, state = local_run
    texts = {"stdout": result.stdout, "stderr": result.stderr}
    texts.update({str(path.relative_to(state)): path.read_text(errors="replace") for path in written_files(state)})
    findings = [finding for source, text in texts.items() for finding in credential_findings(source, text)]
    assert findings == []
    # Not vacuous: the three functions' logs were read (the producer's, the consumer's, holding its account of every
    # company of the watchlist, and the compactor's, whose workers start with the stack's).
    logs = "".join(text for source, text in texts.items() if source.startswith("logs/"))
    assert sum(source.startswith("logs/") for source in texts) == 3, sorted(texts)
    batches = [json.loads(line) for line in logs.splitlines() if '"message": "batch done"' in line]
    assert sum(batch["counts"].get("analysed", 0) for batch in batches) == len(watchlist())
    lines = sum(len(text.splitlines()) for text in texts.values())
    assert lines >= 100, f"only {lines} lines read from {sorted(texts)}"
