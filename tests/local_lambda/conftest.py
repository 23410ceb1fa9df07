"""The local stack the Lambda service's tests share, and the fixtures that reset or change it.

One stack per test process (package scope: creating one takes seconds), started the one way every
local stack starts (LocalStack.start), with small mapping settings. Each test starts from empty
queues and an empty watchlist, and a test that changes the deployment puts it back through `change`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from tests.local_lambda.support import BATCH_SIZE, MAX_CONCURRENCY, Account
from watchlist_workstation.local.lambda_service.service import LocalLambda
from watchlist_workstation.local.stack import LocalStack


@pytest.fixture(scope="package")
def account(tmp_path_factory) -> Iterator[Account]:
    base = tmp_path_factory.mktemp("lambda-service")
    stack = LocalStack(
        stack_name=f"executor-{uuid.uuid4().hex[:8]}",
        state_dir=base / "state",
        results_dir=base / "results",
        parameters={
            "ConsumerBatchSize": str(BATCH_SIZE),
            "ConsumerBatchingWindowSeconds": "0",
            "ConsumerMaxConcurrency": str(MAX_CONCURRENCY),
        },
    )
    with pytest.MonkeyPatch.context() as patch:
        # Tests empty the queues between tests with PurgeQueue, which SQS (and moto, by default) allows once
        # a minute per queue; the moto process reads this setting from the environment it starts with.
        patch.setenv("MOTO_SQS_ENFORCE_STRICT_QUEUE_PURGE_BEHAVIOUR", "false")
        stack.start()
    try:
        yield Account(stack)
    finally:
        stack.stop(save=False)


@pytest.fixture(scope="package")
def stack(account: Account) -> SimpleNamespace:
    """The shared stack's name and outputs."""
    return SimpleNamespace(name=account.stack.stack_name, **account.stack.outputs)


@pytest.fixture(scope="package")
def lam(account: Account) -> LocalLambda:
    """The shared stack's Lambda service, discovered when the stack started."""
    return account.stack.lambda_service


@pytest.fixture(autouse=True)
def empty_stack(request) -> Iterator[None]:
    """Each test starts with empty queues and an empty watchlist (tests without the stack skip this)."""
    yield
    if "stack" not in request.fixturenames:
        return
    account, stack = request.getfixturevalue("account"), request.getfixturevalue("stack")
    sqs, ddb = account.client("sqs"), account.client("dynamodb")
    for url in (stack.QueueUrl, stack.DeadLetterQueueUrl):
        sqs.purge_queue(QueueUrl=url)
    for page in ddb.get_paginator("scan").paginate(
        TableName=stack.TableName, ProjectionExpression="#n", ExpressionAttributeNames={"#n": "name"}
    ):
        for item in page["Items"]:
            ddb.delete_item(TableName=stack.TableName, Key={"name": item["name"]})


@pytest.fixture
def change(account: Account, lam: LocalLambda) -> Iterator[SimpleNamespace]:
    """Change the deployed stack for one test, then rediscover; everything is put back afterwards."""
    lambda_, sqs = account.client("lambda"), account.client("sqs")
    undo = []

    def function(name: str, **config: Any) -> None:
        before = lambda_.get_function_configuration(FunctionName=name)
        undo.append(
            lambda: lambda_.update_function_configuration(
                FunctionName=name, Timeout=before["Timeout"], Environment=before["Environment"]
            )
        )
        lambda_.update_function_configuration(FunctionName=name, **config)
        lam.discover()

    def queue(url: str, **attributes: str) -> None:
        before = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=list(attributes))["Attributes"]
        undo.append(lambda: sqs.set_queue_attributes(QueueUrl=url, Attributes=before))
        sqs.set_queue_attributes(QueueUrl=url, Attributes=attributes)
        lam.discover()

    def mapping(uuid_: str, **settings: Any) -> None:
        before = lambda_.get_event_source_mapping(UUID=uuid_)
        undo.append(lambda: lambda_.update_event_source_mapping(UUID=uuid_, **{k: before[k] for k in settings}))
        lambda_.update_event_source_mapping(UUID=uuid_, **settings)
        lam.discover()

    yield SimpleNamespace(function=function, queue=queue, mapping=mapping)
    for step in reversed(undo):
        step()
    if undo:
        lam.discover()
