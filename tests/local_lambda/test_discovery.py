"""The Lambda service reads what is deployed (watchlist_workstation/local/lambda_service/discovery.py), one
rule per test: the deployed settings, never template.yml's, and the mappings taken over from moto."""

from __future__ import annotations

from tests.local_lambda.support import (
    BATCH_SIZE,
    send_jobs,
)
from watchlist_workstation.local.lambda_service.discovery import PLAYED_TAG


def test_mapping_settings_are_read_from_the_deployed_mapping_and_its_queue(account, stack, lam):
    # GIVEN a stack created with ConsumerBatchSize=3, no batching window and MaximumConcurrency=2
    deployed = account.client("lambda").get_event_source_mapping(UUID=lam.mappings[0].uuid)
    dlq_arn = account.client("sqs").get_queue_attributes(QueueUrl=stack.DeadLetterQueueUrl, AttributeNames=["QueueArn"])
    # WHEN the executor discovered it
    (mapping,) = lam.mappings
    # THEN every setting is the deployed one, the queue's included
    assert (mapping.batch_size, mapping.batching_window, mapping.maximum_concurrency) == (BATCH_SIZE, 0, 2)
    assert mapping.report_batch_item_failures is True
    assert mapping.queue_arn == deployed["EventSourceArn"]
    assert (mapping.visibility_timeout, mapping.max_receive_count) == (720, 5)
    assert mapping.dlq_arn == dlq_arn["Attributes"]["QueueArn"]


def test_function_settings_are_read_from_the_deployed_function(account, stack, lam):
    # GIVEN the consumer as deployed
    deployed = account.client("lambda").get_function_configuration(FunctionName=stack.ConsumerFunctionName)
    # WHEN the executor discovered it
    spec = lam.functions[stack.ConsumerFunctionName]
    # THEN handler, timeout, memory and environment are the deployed ones, and its code is unzipped
    assert (spec.handler, spec.timeout, spec.memory_mb) == (deployed["Handler"], 120, 256)
    assert spec.environment == deployed["Environment"]["Variables"]
    assert (spec.code_dir / "lambda_function.py").is_file()


def test_discover_takes_each_mapping_over_from_moto(account, stack, lam):
    # GIVEN the executor discovered the stack (moto would otherwise try to run the function in Docker
    # for every message sent, bumping receive counts until messages are dead-lettered)
    lambda_ = account.client("lambda")
    deployed = lambda_.get_event_source_mapping(UUID=lam.mappings[0].uuid)
    # WHEN a message is sent to the mapped queue
    send_jobs(account, stack.QueueUrl, ["Nobody Inc"])
    # THEN moto left it alone: the mapping is disabled and tagged as played, and our first receive is its first
    assert deployed["State"] == "Disabled"
    assert PLAYED_TAG in lambda_.list_tags(Resource=deployed["EventSourceMappingArn"])["Tags"]
    report = lam.poll_once(lam.mappings[0])
    assert report.records[0]["attributes"]["ApproximateReceiveCount"] == "1"


def test_a_restarted_executor_still_plays_the_mappings_it_disabled(account, stack, lam, tmp_path):
    # GIVEN a mapping this executor disabled in moto
    # WHEN a new executor (a restart) discovers the same stack
    with account.lambda_service(work_dir=tmp_path) as again:
        again.discover()
        # THEN it recognises the mapping as its own instead of skipping it as disabled by the user
        assert [m.uuid for m in again.mappings] == [m.uuid for m in lam.mappings]
