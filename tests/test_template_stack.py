"""The stack in moto's CloudFormation: template.yml transformed offline and created from uploaded code zips,
then each resource read back as deployed."""

from __future__ import annotations

import io
import json
import os
import warnings
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto import mock_aws

from tests.template_fixture import (
    ARTIFACT_BUCKET,
    CODE_IDS,
    FAKE_AWS_ENV,
    REGION,
    code_uris,
    with_required,
)
from watchlist_workstation.deploy.template import (
    condition_values,
    transform,
)

# moto 5.2.5's CloudFormation has no model for these types (moto/cloudformation/parsing.py warns
# and skips them), so the stack reaches CREATE_COMPLETE without them. Listed here so a new type
# that moto silently skips fails a test instead of passing unnoticed.
# Glue and Athena too: local mode makes them through their APIs (watchlist_workstation/local/catalog.py).
MOTO_SKIPS = {
    "AWS::CloudWatch::Alarm",
    "AWS::S3::BucketPolicy",
    "AWS::SQS::QueuePolicy",
    "AWS::SNS::Subscription",
    "AWS::Glue::Database",
    "AWS::Glue::Table",
    "AWS::Athena::WorkGroup",
}
LOCAL_TEXT_SOURCE = "http://127.0.0.1:8765/w/api.php"
# The deploy helper records moto's "not supported" warnings itself (Deployed.skipped_types); moto
# repeats them on every later describe call, which would only clutter the summary.
pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse .* not supported by moto:UserWarning")


@dataclass
class Deployed:
    name: str
    parameters: dict[str, str]
    status: str
    outputs: dict[str, str]
    resources: list[dict[str, Any]]
    skipped_types: set[str]
    template: dict[str, Any]


Deploy = Callable[[str, dict[str, str]], Deployed]


@pytest.fixture(scope="module")
def moto_account(template: dict[str, Any]) -> Iterator[Deploy]:
    """A moto account holding the uploaded code zips; yields a function that deploys a stack into it."""
    with pytest.MonkeyPatch.context() as patch:
        for key in [key for key in os.environ if key.startswith("AWS_")]:
            # An endpoint override would send boto3 around moto's mock to a real host.
            patch.delenv(key)
        for key, value in FAKE_AWS_ENV.items():
            patch.setenv(key, value)
        with mock_aws():
            s3 = boto3.client("s3", region_name=REGION)
            s3.create_bucket(Bucket=ARTIFACT_BUCKET)
            for logical_id in CODE_IDS:
                s3.put_object(Bucket=ARTIFACT_BUCKET, Key=f"{logical_id}.zip", Body=_dummy_zip())

            def deploy(name: str, parameters: dict[str, str]) -> Deployed:
                parameters = with_required(parameters)
                cloudformation_template = transform(template, parameters, REGION, code_uris())
                cloudformation = boto3.client("cloudformation", region_name=REGION)
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    cloudformation.create_stack(
                        StackName=name,
                        TemplateBody=json.dumps(cloudformation_template),
                        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
                        Capabilities=["CAPABILITY_IAM"],
                    )
                stack = cloudformation.describe_stacks(StackName=name)["Stacks"][0]
                return Deployed(
                    name=name,
                    parameters=parameters,
                    status=stack["StackStatus"],
                    outputs={o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])},
                    resources=cloudformation.describe_stack_resources(StackName=name)["StackResources"],
                    skipped_types={
                        text.split("Tried to parse ")[1].split(" ")[0]
                        for text in (str(w.message) for w in caught)
                        if "not supported by moto's CloudFormation" in text
                    },
                    template=cloudformation_template,
                )

            yield deploy


@pytest.fixture(scope="module")
def deployed(moto_account: Deploy) -> Deployed:
    """The stack as local mode deploys it: defaults, text source on loopback."""
    return moto_account("watchlist-test", {"TextSourceUrl": LOCAL_TEXT_SOURCE})


def _dummy_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("lambda_function.py", "def lambda_handler(event, context):\n    return {}\n")
    return buffer.getvalue()


def _function_config(deployed: Deployed, output_key: str) -> dict[str, Any]:
    client = boto3.client("lambda", region_name=REGION)
    return client.get_function_configuration(FunctionName=deployed.outputs[output_key])


def _queue_attributes(deployed: Deployed, output_key: str) -> dict[str, str]:
    client = boto3.client("sqs", region_name=REGION)
    return client.get_queue_attributes(QueueUrl=deployed.outputs[output_key], AttributeNames=["All"])["Attributes"]


def test_stack_reaches_create_complete_with_every_resource(deployed: Deployed) -> None:
    # GIVEN the transformed template  WHEN moto's CloudFormation creates it
    # THEN the stack and each resource are CREATE_COMPLETE, and only the types moto cannot model are missing
    assert deployed.status == "CREATE_COMPLETE"
    created = {r["LogicalResourceId"]: r["ResourceStatus"] for r in deployed.resources if r.get("LogicalResourceId")}
    assert set(created.values()) == {"CREATE_COMPLETE"}
    conditions = condition_values(deployed.template, deployed.parameters)
    wanted = {
        lid: resource["Type"]
        for lid, resource in deployed.template["Resources"].items()
        if conditions.get(resource.get("Condition", ""), True)
    }
    assert set(created) == {lid for lid, type_ in wanted.items() if type_ not in MOTO_SKIPS}
    assert deployed.skipped_types == {type_ for type_ in wanted.values() if type_ in MOTO_SKIPS}


def test_table_is_keyed_by_name_and_billed_on_demand(deployed: Deployed) -> None:
    # GIVEN the stack  WHEN the watchlist table is described  THEN its key is `name` (S), billed per request
    table = boto3.client("dynamodb", region_name=REGION).describe_table(TableName=deployed.outputs["TableName"])
    table = table["Table"]
    assert table["KeySchema"] == [{"AttributeName": "name", "KeyType": "HASH"}]
    assert table["AttributeDefinitions"] == [{"AttributeName": "name", "AttributeType": "S"}]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert table["TableName"].startswith("watchlist-test-")


def test_work_queue_redrives_to_the_dead_letter_queue_after_five_receives(deployed: Deployed) -> None:
    # GIVEN the stack  WHEN the work queue is described  THEN poison messages move to the DLQ on the 5th receive
    redrive = json.loads(_queue_attributes(deployed, "QueueUrl")["RedrivePolicy"])
    dead_letter_arn = _queue_attributes(deployed, "DeadLetterQueueUrl")["QueueArn"]
    assert redrive == {"deadLetterTargetArn": dead_letter_arn, "maxReceiveCount": 5}


def test_work_queue_visibility_is_at_least_six_consumer_timeouts(deployed: Deployed) -> None:
    # GIVEN the deployed queue and consumer  THEN a record stays hidden for 6 x the consumer's timeout
    visibility = int(_queue_attributes(deployed, "QueueUrl")["VisibilityTimeout"])
    assert visibility >= 6 * _function_config(deployed, "ConsumerFunctionName")["Timeout"]


def test_queues_are_encrypted_and_dead_letters_kept_fourteen_days(deployed: Deployed) -> None:
    # GIVEN the stack  THEN both queues use SSE-SQS and the DLQ keeps messages for SQS's maximum
    work, dead = _queue_attributes(deployed, "QueueUrl"), _queue_attributes(deployed, "DeadLetterQueueUrl")
    assert (work["SqsManagedSseEnabled"], dead["SqsManagedSseEnabled"]) == ("true", "true")
    assert dead["MessageRetentionPeriod"] == "1209600"


def test_results_bucket_exists_with_default_encryption(deployed: Deployed) -> None:
    # GIVEN the stack  THEN its results bucket exists, named after the stack, encrypted with SSE-S3
    bucket = deployed.outputs["ResultsBucketName"]
    encryption = boto3.client("s3", region_name=REGION).get_bucket_encryption(Bucket=bucket)
    rule = encryption["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert bucket.startswith("watchlist-test-")


@pytest.mark.parametrize(("output_key", "timeout"), [("ProducerFunctionName", 60), ("ConsumerFunctionName", 120)])
def test_functions_run_python313_with_the_template_settings(deployed: Deployed, output_key: str, timeout: int) -> None:
    # GIVEN the stack  THEN each function runs python3.13 through lambda_function.lambda_handler with 256 MB; the
    # consumer has 120 s, room for a batch of ten chunks' paced Wikipedia requests (docs/design.md)
    config = _function_config(deployed, output_key)
    assert (config["Runtime"], config["Handler"]) == ("python3.13", "lambda_function.lambda_handler")
    assert (config["Timeout"], config["MemorySize"]) == (timeout, 256)
    assert config["Role"].split("/")[-1].startswith("watchlist-test-")


def _environment(deployed: Deployed, output_key: str) -> dict[str, str]:
    # Lambda hands every variable over as a string; moto keeps a resolved Number parameter as a number.
    variables = _function_config(deployed, output_key)["Environment"]["Variables"]
    return {name: str(value) for name, value in variables.items()}


def test_producer_environment_names_the_deployed_table_and_queue(deployed: Deployed) -> None:
    # GIVEN the stack  THEN the producer's environment holds exactly what its config reads: where, and the
    # budget and schedule it plans a tick by
    assert _environment(deployed, "ProducerFunctionName") == {
        "TABLE_NAME": deployed.outputs["TableName"],
        "QUEUE_URL": deployed.outputs["QueueUrl"],
        "WIKI_REQUESTS_PER_MINUTE": "100",
        "SCHEDULE_EXPRESSION": "rate(5 minutes)",
        "LOG_LEVEL": "INFO",
    }


def test_consumer_environment_names_the_deployed_resources(deployed: Deployed) -> None:
    # GIVEN a stack with a loopback text source and the required contact  THEN the consumer gets both, with the
    # budget it shares among its instances
    assert _environment(deployed, "ConsumerFunctionName") == {
        "TABLE_NAME": deployed.outputs["TableName"],
        "RESULTS_BUCKET": deployed.outputs["ResultsBucketName"],
        "RESULTS_PREFIX": "results",
        "LANGUAGE_CODE": "en",
        "TEXT_SOURCE_URL": LOCAL_TEXT_SOURCE,
        "USER_AGENT_CONTACT": "tests@example.invalid",
        "WIKI_REQUESTS_PER_MINUTE": "100",
        "CONSUMER_MAX_CONCURRENCY": "2",
        "LABEL_CHANGE_TOPIC_ARN": "",
        "METRICS_NAMESPACE": "WatchlistSentiment",
        "STACK_NAME": deployed.name,
        "LOG_LEVEL": "INFO",
    }


def test_consumer_reads_the_work_queue_with_partial_batch_failures(deployed: Deployed) -> None:
    # GIVEN the stack  THEN one mapping feeds the consumer from the work queue with the parameters' settings
    client = boto3.client("lambda", region_name=REGION)
    mappings = client.list_event_source_mappings(FunctionName=deployed.outputs["ConsumerFunctionName"])
    (mapping,) = mappings["EventSourceMappings"]
    assert mapping["EventSourceArn"] == _queue_attributes(deployed, "QueueUrl")["QueueArn"]
    assert (mapping["BatchSize"], mapping["MaximumBatchingWindowInSeconds"]) == (10, 5)
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["ScalingConfig"] == {"MaximumConcurrency": 2}
    assert mapping["State"] == "Enabled"


def test_schedule_rule_starts_the_producer_every_five_minutes(deployed: Deployed) -> None:
    # GIVEN the stack  THEN the rule named in the outputs is enabled, on rate(5 minutes), targeting the producer
    events = boto3.client("events", region_name=REGION)
    rule = events.describe_rule(Name=deployed.outputs["ScheduleRuleName"])
    assert (rule["ScheduleExpression"], rule["State"]) == ("rate(5 minutes)", "ENABLED")
    (target,) = events.list_targets_by_rule(Rule=rule["Name"])["Targets"]
    assert target["Arn"] == _function_config(deployed, "ProducerFunctionName")["FunctionArn"]


def test_log_groups_are_named_after_the_stack_and_expire(deployed: Deployed) -> None:
    # GIVEN the stack  THEN each function's log group exists under the stack's name with 14 days' retention
    logs = boto3.client("logs", region_name=REGION)
    groups = logs.describe_log_groups(logGroupNamePrefix="/aws/lambda/watchlist-test/")["logGroups"]
    assert {(g["logGroupName"], g["retentionInDays"]) for g in groups} == {
        ("/aws/lambda/watchlist-test/ServerlessProducer", 14),
        ("/aws/lambda/watchlist-test/ProducerAI", 14),
        ("/aws/lambda/watchlist-test/Compactor", 14),
    }


def test_the_compactor_runs_its_own_handler_daily_on_the_dataset(deployed: Deployed) -> None:
    # GIVEN the stack  THEN the compactor runs compact_function from the consumer's folder, with Lambda's longest
    # timeout, on the results bucket's two prefixes, fired at 01:30 UTC by a cron rule of its own (docs/dataset.md)
    config = _function_config(deployed, "CompactorFunctionName")
    assert (config["Handler"], config["Timeout"], config["MemorySize"]) == (
        "compact_function.lambda_handler",
        900,
        1024,
    )
    assert _environment(deployed, "CompactorFunctionName") == {
        "RESULTS_BUCKET": deployed.outputs["ResultsBucketName"],
        "RESULTS_PREFIX": "results",
        "MANIFESTS_PREFIX": "manifests",
        "LOG_LEVEL": "INFO",
    }
    events = boto3.client("events", region_name=REGION)
    rules = [events.describe_rule(Name=r["Name"]) for r in events.list_rules()["Rules"]]
    daily = [r for r in rules if r.get("ScheduleExpression") == "cron(30 1 * * ? *)"]
    assert [events.list_targets_by_rule(Rule=r["Name"])["Targets"][0]["Arn"] for r in daily] == [config["FunctionArn"]]


def test_outputs_name_every_resource_the_tools_need(deployed: Deployed) -> None:
    # GIVEN the stack  THEN its outputs are exactly the ones the CLI and local mode read, all non-empty
    assert set(deployed.outputs) == {
        "TableName",
        "QueueUrl",
        "DeadLetterQueueUrl",
        "ResultsBucketName",
        "ProducerFunctionName",
        "ConsumerFunctionName",
        "CompactorFunctionName",
        "NotificationTopicArn",
        "ScheduleRuleName",
    }
    assert all(deployed.outputs.values())


def test_two_stacks_from_one_template_fit_in_one_account(deployed: Deployed, moto_account: Deploy) -> None:
    # GIVEN one stack already deployed  WHEN a second stack is created from the same template
    second = moto_account("watchlist-other", {})
    # THEN both are complete and share no physical name
    assert (deployed.status, second.status) == ("CREATE_COMPLETE", "CREATE_COMPLETE")
    assert set(deployed.outputs.values()).isdisjoint(second.outputs.values())
    first_ids = {r["PhysicalResourceId"] for r in deployed.resources if r.get("PhysicalResourceId")}
    second_ids = {r["PhysicalResourceId"] for r in second.resources if r.get("PhysicalResourceId")}
    assert first_ids.isdisjoint(second_ids)


def test_a_stack_without_a_text_source_reads_the_wikipedia_of_its_language(moto_account: Deploy) -> None:
    # GIVEN a stack with no TextSourceUrl  THEN the consumer's variable is empty, which lib/config.py reads as the
    # Action API of the LanguageCode's Wikipedia
    stack = moto_account("watchlist-default-source", {})
    variables = _environment(stack, "ConsumerFunctionName")
    assert (variables["TEXT_SOURCE_URL"], variables["LANGUAGE_CODE"]) == ("", "en")


def test_a_stack_with_notify_on_label_change_hands_the_consumer_the_topic_arn(moto_account: Deploy) -> None:
    # GIVEN a stack created with NotifyOnLabelChange=true  THEN the consumer's variable holds the deployed topic's ARN
    stack = moto_account("watchlist-notify", {"NotifyOnLabelChange": "true"})
    variables = _function_config(stack, "ConsumerFunctionName")["Environment"]["Variables"]
    assert variables["LABEL_CHANGE_TOPIC_ARN"] == stack.outputs["NotificationTopicArn"]
    assert stack.outputs["NotificationTopicArn"].startswith("arn:aws:sns:us-east-1:")
