"""A stack created from template.yml in moto, for tests of the CLI and of anything that reads outputs."""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
from click.testing import CliRunner

from tests.template_fixture import REQUIRED_PARAMETERS
from watchlist_workstation.deploy.offline import deploy_offline

REGION = "us-east-1"
ROOT = Path(__file__).resolve().parents[1]
_unique = itertools.count(1)


@dataclass(frozen=True)
class Stack:
    name: str
    outputs: dict[str, str]

    @property
    def table(self) -> str:
        return self.outputs["TableName"]

    @property
    def bucket(self) -> str:
        return self.outputs["ResultsBucketName"]

    @property
    def queue_url(self) -> str:
        return self.outputs["QueueUrl"]

    @property
    def dlq_url(self) -> str:
        return self.outputs["DeadLetterQueueUrl"]

    def names(self) -> list[str]:
        """Every name on the watchlist, sorted (read straight from the table, not through the CLI)."""
        ddb = boto3.client("dynamodb", region_name=REGION)
        items = []
        for page in ddb.get_paginator("scan").paginate(TableName=self.table):
            items.extend(item["name"]["S"] for item in page["Items"])
        return sorted(items)

    def items(self) -> dict[str, dict]:
        ddb = boto3.client("dynamodb", region_name=REGION)
        out = {}
        for page in ddb.get_paginator("scan").paginate(TableName=self.table):
            out.update({item["name"]["S"]: item for item in page["Items"]})
        return out


@pytest.fixture
def stack(aws, monkeypatch) -> Iterator[Stack]:
    """A freshly created stack in moto; CFCLI_STACK_NAME points the CLI at it."""
    name = f"cli-test-{next(_unique)}"
    cloudformation = boto3.client("cloudformation", region_name=REGION)
    s3 = boto3.client("s3", region_name=REGION)
    with warnings.catch_warnings():
        # moto skips a few resource types it does not model (alarms, policies); the stack is still created.
        warnings.simplefilter("ignore")
        outputs = deploy_offline(
            name,
            dict(REQUIRED_PARAMETERS),
            region=REGION,
            artifact_bucket="artifacts-cli-tests",
            cloudformation=cloudformation,
            s3=s3,
        )
    monkeypatch.setenv("CFCLI_STACK_NAME", name)
    monkeypatch.delenv("CFCLI_TABLE_NAME", raising=False)
    yield Stack(name, outputs)


@pytest.fixture
def cli_runner() -> CliRunner:
    """stdout and stderr kept apart, so tests can tell data from diagnostics."""
    return CliRunner(mix_stderr=False)
