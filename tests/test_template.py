"""template.yml: linters and security scan, the offline SAM transform, and the stack in moto's CloudFormation.

Everything runs offline. The linters run as subprocesses with fake credentials and with the
version checks and telemetry of SAM CLI and checkov switched off; in-process code may only open
loopback sockets (see `_loopback_only` in conftest.py).
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
import warnings
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from watchlist_workstation.deploy.template import (
    TemplateError,
    condition_values,
    load_template,
    resolve_language_extensions,
    transform,
)

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE_PATH = ROOT / "template.yml"
BIN = Path(sys.executable).parent
REGION = "us-east-1"
ARTIFACT_BUCKET = "pipeline-artifacts-test"
CODE_IDS = ("ServerlessProducer", "ProducerAI", "SharedLayer", "DepsLayer")
FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    # No credential lookup may fall through to the EC2 metadata endpoint.
    "AWS_EC2_METADATA_DISABLED": "true",
}
# moto 5.2.5's CloudFormation has no model for these types (moto/cloudformation/parsing.py warns
# and skips them), so the stack reaches CREATE_COMPLETE without them. Listed here so a new type
# that moto silently skips fails a test instead of passing unnoticed.
MOTO_SKIPS = {"AWS::CloudWatch::Alarm", "AWS::S3::BucketPolicy", "AWS::SQS::QueuePolicy", "AWS::SNS::Subscription"}
COMPREHEND_DETECT_PREFIXES = ("comprehend:Detect", "comprehend:BatchDetect")
LOCAL_TEXT_SOURCE = "http://127.0.0.1:8765/api/rest_v1"

# The deploy helper records moto's "not supported" warnings itself (Deployed.skipped_types); moto
# repeats them on every later describe call, which would only clutter the summary.
pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse .* not supported by moto:UserWarning")


# ---------------------------------------------------------------------------------------------- fixtures


@pytest.fixture
def tool_env(tmp_path: Path) -> dict[str, str]:
    """Environment for the CLI tools: fake credentials, no telemetry, no update checks."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    env.update(FAKE_AWS_ENV)
    # SAM CLI asks PyPI for a newer version unless its last check is recent; its config dir can be moved.
    sam_dir = tmp_path / "sam-cli"
    sam_dir.mkdir()
    (sam_dir / "metadata.json").write_text(json.dumps({"telemetryEnabled": False, "lastVersionCheck": time.time()}))
    env.update({"__SAM_CLI_APP_DIR": str(sam_dir), "SAM_CLI_TELEMETRY": "0", "BC_SKIP_MAPPING": "TRUE"})
    return env


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template(TEMPLATE_PATH)


def _code_uris() -> dict[str, str]:
    return {logical_id: f"s3://{ARTIFACT_BUCKET}/{logical_id}.zip" for logical_id in CODE_IDS}


@pytest.fixture(scope="module")
def transformed(template: dict[str, Any]) -> dict[str, Any]:
    """The default deployment as plain CloudFormation."""
    return transform(template, {}, REGION, _code_uris())


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
                cloudformation_template = transform(template, parameters, REGION, _code_uris())
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


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)


# ---------------------------------------------------------------------------------------------- linters, scan


@pytest.mark.slow
def test_cfn_lint_reports_no_findings(tool_env: dict[str, str]) -> None:
    # GIVEN the template  WHEN cfn-lint checks it  THEN it finds nothing at all, warnings included
    result = _run([str(BIN / "cfn-lint"), str(TEMPLATE_PATH)], tool_env)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


@pytest.mark.slow
@pytest.mark.parametrize("extra", [[], ["--lint"]], ids=["validate", "validate-lint"])
def test_sam_validate_accepts_template(tool_env: dict[str, str], extra: list[str]) -> None:
    # GIVEN the template  WHEN `sam validate [--lint]` checks it  THEN it exits 0
    result = _run([str(BIN / "sam"), "validate", "--region", REGION, "-t", str(TEMPLATE_PATH), *extra], tool_env)
    assert result.returncode == 0, result.stdout + result.stderr


# checkov's banner asks PyPI for a newer version when checkov.main is imported, with no switch to
# turn it off; this stub replaces that one function. --skip-download keeps it off Prisma Cloud.
_CHECKOV = (
    "import sys\n"
    "import checkov.common.version_manager as version_manager\n"
    "version_manager.check_for_update = lambda package, version: None\n"
    "from checkov.main import Checkov\n"
    "sys.exit(Checkov(sys.argv[1:]).run())\n"
)


def _checkov(path: Path, env: dict[str, str]) -> dict[str, Any]:
    args = [sys.executable, "-c", _CHECKOV, "-f", str(path), "--framework", "cloudformation"]
    result = _run([*args, "--skip-download", "--quiet", "--compact", "-o", "json"], env)
    assert result.returncode in (0, 1), result.stderr
    report = json.loads(result.stdout)
    # checkov prints an empty list when a file has no resource it knows: that must not pass as clean.
    assert isinstance(report, dict) and report["summary"]["resource_count"] > 0, result.stdout
    return report


@pytest.mark.slow
def test_checkov_fails_no_check_on_the_template(tool_env: dict[str, str]) -> None:
    # GIVEN the template  WHEN checkov scans it  THEN no check fails (skips carry reasons)
    report = _checkov(TEMPLATE_PATH, tool_env)
    failed = [(c["check_id"], c["resource"]) for c in report["results"].get("failed_checks", [])]
    assert failed == []
    assert report["summary"]["parsing_errors"] == 0


@pytest.mark.slow
def test_checkov_fails_no_check_on_the_transformed_template(
    tool_env: dict[str, str], transformed: dict[str, Any], tmp_path: Path
) -> None:
    # GIVEN the plain CloudFormation SAM produces  WHEN checkov scans it  THEN no check fails there either
    path = tmp_path / "transformed.json"
    path.write_text(json.dumps(transformed))
    report = _checkov(path, tool_env)
    assert [(c["check_id"], c["resource"]) for c in report["results"].get("failed_checks", [])] == []


def test_every_checkov_skip_gives_a_reason(template: dict[str, Any]) -> None:
    # GIVEN the template's checkov skips  THEN each names a check and says why it does not apply
    skips = [
        (logical_id, skip)
        for logical_id, resource in template["Resources"].items()
        for skip in (resource.get("Metadata", {}).get("checkov", {}).get("skip", []))
    ]
    assert skips
    assert [
        (lid, s) for lid, s in skips if not s.get("id", "").startswith("CKV_") or len(s.get("comment", "")) < 20
    ] == []


# ---------------------------------------------------------------------------------------------- loading, transform


def test_load_template_reads_short_form_tags_in_long_form(template: dict[str, Any]) -> None:
    # GIVEN template.yml's !GetAtt/!Sub/!If short forms  WHEN loaded  THEN they are CloudFormation's long form
    resources = template["Resources"]
    assert template["AWSTemplateFormatVersion"] == "2010-09-09"
    assert resources["WorkQueue"]["Properties"]["RedrivePolicy"]["deadLetterTargetArn"] == {
        "Fn::GetAtt": ["DeadLetterQueue", "Arn"]
    }
    assert resources["ServerlessProducerLogGroup"]["Properties"]["LogGroupName"] == {
        "Fn::Sub": "/aws/lambda/${AWS::StackName}/ServerlessProducer"
    }
    assert resources["WatchlistTable"]["DeletionPolicy"] == {"Fn::If": ["RetainDataOnDelete", "Retain", "Delete"]}


def test_transform_leaves_plain_cloudformation(transformed: dict[str, Any]) -> None:
    # GIVEN the SAM template  WHEN transformed offline  THEN no SAM type, transform or Fn::If policy is left
    types = {resource["Type"] for resource in transformed["Resources"].values()}
    assert not any(t.startswith("AWS::Serverless::") for t in types)
    assert "Transform" not in transformed
    policies = {
        (lid, attribute, resource[attribute])
        for lid, resource in transformed["Resources"].items()
        for attribute in ("DeletionPolicy", "UpdateReplacePolicy")
        if attribute in resource
    }
    assert all(isinstance(value, str) for _, _, value in policies)


def test_transform_points_code_at_the_given_uris(transformed: dict[str, Any]) -> None:
    # GIVEN s3:// URIs per function and layer  WHEN transformed  THEN Code/Content name those objects
    resources = transformed["Resources"]
    code = {lid: r["Properties"]["Code"] for lid, r in resources.items() if r["Type"] == "AWS::Lambda::Function"}
    assert code == {
        "ServerlessProducer": {"S3Bucket": ARTIFACT_BUCKET, "S3Key": "ServerlessProducer.zip"},
        "ProducerAI": {"S3Bucket": ARTIFACT_BUCKET, "S3Key": "ProducerAI.zip"},
    }
    content = sorted(
        r["Properties"]["Content"]["S3Key"] for r in resources.values() if r["Type"] == "AWS::Lambda::LayerVersion"
    )
    assert content == ["DepsLayer.zip", "SharedLayer.zip"]


def test_transform_refuses_a_missing_code_uri(template: dict[str, Any]) -> None:
    # GIVEN no URI for the consumer  WHEN transformed  THEN it fails naming the function, not later in CloudFormation
    uris = {lid: uri for lid, uri in _code_uris().items() if lid != "ProducerAI"}
    with pytest.raises(TemplateError, match="ProducerAI"):
        transform(template, {}, REGION, uris)


def test_functions_keep_arm64_layers_and_own_log_group_in_transformed_template(transformed: dict[str, Any]) -> None:
    # GIVEN the transformed template (moto drops these three properties, so they are checked here)
    # THEN each function runs on arm64 with both layers and logs to its own log group
    resources = transformed["Resources"]
    layer_ids = sorted(lid for lid, r in resources.items() if r["Type"] == "AWS::Lambda::LayerVersion")
    for function_id in ("ServerlessProducer", "ProducerAI"):
        properties = resources[function_id]["Properties"]
        assert properties["Architectures"] == ["arm64"]
        assert sorted(layer["Ref"] for layer in properties["Layers"]) == layer_ids
        assert properties["LoggingConfig"] == {"LogGroup": {"Ref": f"{function_id}LogGroup"}}


# ---------------------------------------------------------------------------------------------- the stack in moto


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


@pytest.mark.parametrize("output_key", ["ProducerFunctionName", "ConsumerFunctionName"])
def test_functions_run_python313_with_the_template_settings(deployed: Deployed, output_key: str) -> None:
    # GIVEN the stack  THEN each function runs python3.13 through lambda_function.lambda_handler, 60 s, 256 MB
    config = _function_config(deployed, output_key)
    assert (config["Runtime"], config["Handler"]) == ("python3.13", "lambda_function.lambda_handler")
    assert (config["Timeout"], config["MemorySize"]) == (60, 256)
    assert config["Role"].split("/")[-1].startswith("watchlist-test-")


def test_producer_environment_names_the_deployed_table_and_queue(deployed: Deployed) -> None:
    # GIVEN the stack  THEN the producer's environment holds exactly what its config reads
    variables = _function_config(deployed, "ProducerFunctionName")["Environment"]["Variables"]
    assert variables == {
        "TABLE_NAME": deployed.outputs["TableName"],
        "QUEUE_URL": deployed.outputs["QueueUrl"],
        "LOG_LEVEL": "INFO",
    }


def test_consumer_environment_names_the_deployed_resources(deployed: Deployed) -> None:
    # GIVEN a stack with a loopback text source and no contact  THEN the consumer gets both, as given or defaulted
    variables = _function_config(deployed, "ConsumerFunctionName")["Environment"]["Variables"]
    assert variables == {
        "TABLE_NAME": deployed.outputs["TableName"],
        "RESULTS_BUCKET": deployed.outputs["ResultsBucketName"],
        "RESULTS_PREFIX": "results",
        "LANGUAGE_CODE": "en",
        "TEXT_SOURCE_URL": LOCAL_TEXT_SOURCE,
        "USER_AGENT_CONTACT": "contact-not-configured",
        "LABEL_CHANGE_TOPIC_ARN": "",
        "LOG_LEVEL": "INFO",
    }


def test_consumer_reads_the_work_queue_with_partial_batch_failures(deployed: Deployed) -> None:
    # GIVEN the stack  THEN one mapping feeds the consumer from the work queue with the parameters' settings
    client = boto3.client("lambda", region_name=REGION)
    mappings = client.list_event_source_mappings(FunctionName=deployed.outputs["ConsumerFunctionName"])
    (mapping,) = mappings["EventSourceMappings"]
    assert mapping["EventSourceArn"] == _queue_attributes(deployed, "QueueUrl")["QueueArn"]
    assert (mapping["BatchSize"], mapping["MaximumBatchingWindowInSeconds"]) == (25, 5)
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["ScalingConfig"] == {"MaximumConcurrency": 5}
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
    }


def test_outputs_name_every_resource_the_tools_need(deployed: Deployed) -> None:
    # GIVEN the stack  THEN its outputs are exactly the ones the CLI and local mode read, all non-empty
    assert set(deployed.outputs) == {
        "TableName",
        "QueueUrl",
        "DeadLetterQueueUrl",
        "ResultsBucketName",
        "ProducerFunctionName",
        "ConsumerFunctionName",
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


def test_user_agent_contact_falls_back_to_the_notification_email(moto_account: Deploy) -> None:
    # GIVEN a stack with a notification e-mail and no UserAgentContact
    stack = moto_account("watchlist-email", {"NotificationEmail": "ops@example.com"})
    # THEN the consumer's contact is that e-mail and its text source the Wikipedia edition of the language
    variables = _function_config(stack, "ConsumerFunctionName")["Environment"]["Variables"]
    assert variables["USER_AGENT_CONTACT"] == "ops@example.com"
    assert variables["TEXT_SOURCE_URL"] == "https://en.wikipedia.org/api/rest_v1"


# ---------------------------------------------------------------------------------------------- IAM


_NO_VALUE = object()


def _resolve_ifs(node: Any, conditions: dict[str, bool]) -> Any:
    """The node with each Fn::If replaced by its chosen branch, and AWS::NoValue left out, as CloudFormation does."""
    if isinstance(node, dict):
        if node == {"Ref": "AWS::NoValue"}:
            return _NO_VALUE
        if set(node) == {"Fn::If"}:
            name, when_true, when_false = node["Fn::If"]
            return _resolve_ifs(when_true if conditions[name] else when_false, conditions)
        return {k: v for k, v in ((k, _resolve_ifs(v, conditions)) for k, v in node.items()) if v is not _NO_VALUE}
    if isinstance(node, list):
        return [v for v in (_resolve_ifs(item, conditions) for item in node) if v is not _NO_VALUE]
    return node


def _statements(
    transformed: dict[str, Any], parameters: dict[str, str] | None = None
) -> list[tuple[str, dict[str, Any]]]:
    """Every role's policy statements as deployed with `parameters` (the defaults when None)."""
    conditions = condition_values(transformed, parameters or {})
    found = []
    for lid, resource in transformed["Resources"].items():
        if resource["Type"] == "AWS::IAM::Role":
            for policy in resource["Properties"].get("Policies", []):
                statements = _resolve_ifs(policy["PolicyDocument"]["Statement"], conditions)
                found.extend((lid, s) for s in (statements if isinstance(statements, list) else [statements]))
    return found


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_every_iam_action_is_a_specific_action(transformed: dict[str, Any]) -> None:
    # GIVEN the roles' statements  THEN each action is service:Action, no wildcard, no NotAction
    statements = _statements(transformed)
    assert statements
    for _, statement in statements:
        assert "NotAction" not in statement and "NotResource" not in statement
        assert statement["Effect"] == "Allow"
        assert all(":" in action and "*" not in action for action in _as_list(statement["Action"]))


def test_star_resource_only_for_comprehend_detect_actions(transformed: dict[str, Any]) -> None:
    # GIVEN the roles' statements  THEN Resource "*" appears only where Comprehend's Detect* leave no choice
    for _, statement in _statements(transformed):
        if "*" in _as_list(statement["Resource"]):
            assert all(a.startswith(COMPREHEND_DETECT_PREFIXES) for a in _as_list(statement["Action"]))


def test_log_permissions_only_on_the_functions_own_log_groups(transformed: dict[str, Any]) -> None:
    # GIVEN each function, its role and its log group  THEN the role may write logs to that group alone
    resources = transformed["Resources"]
    for function_id in ("ServerlessProducer", "ProducerAI"):
        properties = resources[function_id]["Properties"]
        role_id = properties["Role"]["Fn::GetAtt"][0]
        log_group_id = properties["LoggingConfig"]["LogGroup"]["Ref"]
        log_statements = [
            s for lid, s in _statements(transformed) if lid == role_id and "logs:" in json.dumps(s["Action"])
        ]
        assert log_statements
        for statement in log_statements:
            assert _as_list(statement["Resource"]) == [{"Fn::GetAtt": [log_group_id, "Arn"]}]
            assert sorted(_as_list(statement["Action"])) == ["logs:CreateLogStream", "logs:PutLogEvents"]


def test_each_function_has_its_own_role_without_managed_policies(transformed: dict[str, Any]) -> None:
    # GIVEN the functions  THEN each has its own role, assumable by Lambda only, with no managed policy
    resources = transformed["Resources"]
    functions = [r for r in resources.values() if r["Type"] == "AWS::Lambda::Function"]
    role_ids = [f["Properties"]["Role"]["Fn::GetAtt"][0] for f in functions]
    assert len(functions) == 2 and len(set(role_ids)) == len(functions)
    for role_id in role_ids:
        role = resources[role_id]["Properties"]
        assert "ManagedPolicyArns" not in role and "RoleName" not in role
        (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
        assert trust["Principal"] == {"Service": "lambda.amazonaws.com"}
    assert not [r for r in resources.values() if r["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy")]


def test_roles_grant_exactly_the_actions_the_code_needs(transformed: dict[str, Any]) -> None:
    # GIVEN the two roles  THEN each grants exactly the agreed actions, each on the agreed resource
    granted: dict[str, set[tuple[str, str]]] = {}
    for role_id, statement in _statements(transformed):
        for action in _as_list(statement["Action"]):
            for resource in _as_list(statement["Resource"]):
                granted.setdefault(role_id, set()).add((action, json.dumps(resource, sort_keys=True)))

    def arn(logical_id: str) -> str:
        return json.dumps({"Fn::GetAtt": [logical_id, "Arn"]})

    results = json.dumps({"Fn::Sub": "${ResultsBucket.Arn}/results/*"})
    assert granted["ServerlessProducerRole"] == {
        ("dynamodb:Scan", arn("WatchlistTable")),
        ("sqs:SendMessage", arn("WorkQueue")),
        ("logs:CreateLogStream", arn("ServerlessProducerLogGroup")),
        ("logs:PutLogEvents", arn("ServerlessProducerLogGroup")),
    }
    assert granted["ProducerAIRole"] == {
        ("sqs:ReceiveMessage", arn("WorkQueue")),
        ("sqs:DeleteMessage", arn("WorkQueue")),
        ("sqs:GetQueueAttributes", arn("WorkQueue")),
        ("sqs:ChangeMessageVisibility", arn("WorkQueue")),
        ("dynamodb:BatchGetItem", arn("WatchlistTable")),
        ("dynamodb:GetItem", arn("WatchlistTable")),
        ("dynamodb:UpdateItem", arn("WatchlistTable")),
        ("s3:PutObject", results),
        ("s3:GetObject", results),
        ("comprehend:BatchDetectSentiment", '"*"'),
        ("comprehend:DetectSentiment", '"*"'),
        ("logs:CreateLogStream", arn("ProducerAILogGroup")),
        ("logs:PutLogEvents", arn("ProducerAILogGroup")),
    }


def test_results_write_permission_matches_the_results_prefix(transformed: dict[str, Any]) -> None:
    # GIVEN the consumer's RESULTS_PREFIX and its s3:PutObject grant  THEN both name the same prefix
    prefix = transformed["Resources"]["ProducerAI"]["Properties"]["Environment"]["Variables"]["RESULTS_PREFIX"]
    (put,) = [s for _, s in _statements(transformed) if "s3:PutObject" in _as_list(s["Action"])]
    assert put["Resource"] == {"Fn::Sub": f"${{ResultsBucket.Arn}}/{prefix}/*"}


# ---------------------------------------------------------------------------------------------- parameters


@pytest.mark.parametrize(("email", "subscribed"), [("", False), ("ops@example.com", True)])
def test_email_subscription_exists_only_with_a_notification_email(
    template: dict[str, Any], email: str, subscribed: bool
) -> None:
    # GIVEN NotificationEmail empty or set  WHEN transformed  THEN the subscription's condition follows it
    cloudformation = transform(template, {"NotificationEmail": email}, REGION, _code_uris())
    subscriptions = {lid: r for lid, r in cloudformation["Resources"].items() if r["Type"] == "AWS::SNS::Subscription"}
    assert list(subscriptions) == ["EmailSubscription"]
    subscription = subscriptions["EmailSubscription"]
    assert (subscription["Condition"], subscription["Properties"]["Protocol"]) == ("HasNotificationEmail", "email")
    assert subscription["Properties"]["TopicArn"] == {"Ref": "NotificationTopic"}
    assert condition_values(cloudformation, {"NotificationEmail": email})["HasNotificationEmail"] is subscribed


@pytest.mark.parametrize("alarm_id", ["DeadLetterQueueAlarm", "ConsumerErrorsAlarm"])
def test_both_alarms_notify_the_topic_on_alarm_and_on_recovery(transformed: dict[str, Any], alarm_id: str) -> None:
    # GIVEN the transformed template  THEN each alarm sends its ALARM and its OK to the notification topic
    properties = transformed["Resources"][alarm_id]["Properties"]
    assert properties["AlarmActions"] == properties["OKActions"] == [{"Ref": "NotificationTopic"}]
    assert (properties["Threshold"], properties["ComparisonOperator"]) == (0, "GreaterThanThreshold")


def test_alarms_watch_the_dead_letter_queue_depth_and_the_consumer_errors(transformed: dict[str, Any]) -> None:
    resources = transformed["Resources"]
    dead_letters, errors = (
        resources["DeadLetterQueueAlarm"]["Properties"],
        resources["ConsumerErrorsAlarm"]["Properties"],
    )
    assert (dead_letters["Namespace"], dead_letters["MetricName"]) == ("AWS/SQS", "ApproximateNumberOfMessagesVisible")
    assert dead_letters["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": ["DeadLetterQueue", "QueueName"]}}
    ]
    assert (errors["Namespace"], errors["MetricName"], errors["Statistic"]) == ("AWS/Lambda", "Errors", "Sum")
    assert errors["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": "ProducerAI"}}]


@pytest.mark.parametrize(("setting", "topic"), [("false", ""), ("true", {"Ref": "NotificationTopic"})])
def test_notify_on_label_change_gives_the_consumer_the_topic_and_publish_on_it_alone(
    template: dict[str, Any], setting: str, topic: Any
) -> None:
    # GIVEN NotifyOnLabelChange off or on  WHEN transformed
    parameters = {"NotifyOnLabelChange": setting}
    cloudformation = transform(template, parameters, REGION, _code_uris())
    conditions = condition_values(cloudformation, parameters)
    variables = cloudformation["Resources"]["ProducerAI"]["Properties"]["Environment"]["Variables"]
    # THEN the consumer's LABEL_CHANGE_TOPIC_ARN is the topic, or empty
    assert _resolve_ifs(variables["LABEL_CHANGE_TOPIC_ARN"], conditions) == topic
    # AND sns:Publish is granted to the consumer's role only when on, and only on that topic
    publish = [(lid, s) for lid, s in _statements(cloudformation, parameters) if "sns:" in json.dumps(s["Action"])]
    if setting == "true":
        assert publish == [
            (
                "ProducerAIRole",
                {"Sid": "NotifyLabelChanges", "Effect": "Allow", "Action": "sns:Publish", "Resource": topic},
            )
        ]
    else:
        assert publish == []


def test_a_stack_with_notify_on_label_change_hands_the_consumer_the_topic_arn(moto_account: Deploy) -> None:
    # GIVEN a stack created with NotifyOnLabelChange=true  THEN the consumer's variable holds the deployed topic's ARN
    stack = moto_account("watchlist-notify", {"NotifyOnLabelChange": "true"})
    variables = _function_config(stack, "ConsumerFunctionName")["Environment"]["Variables"]
    assert variables["LABEL_CHANGE_TOPIC_ARN"] == stack.outputs["NotificationTopicArn"]
    assert stack.outputs["NotificationTopicArn"].startswith("arn:aws:sns:us-east-1:")


def test_notify_on_label_change_refuses_a_value_outside_its_allowed_values(template: dict[str, Any]) -> None:
    with pytest.raises(TemplateError, match="NotifyOnLabelChange"):
        resolve_language_extensions(template, {"NotifyOnLabelChange": "yes"})


@pytest.mark.parametrize(("parameters", "policy"), [({}, "Delete"), ({"RetainData": "true"}, "Retain")])
def test_retain_data_decides_what_survives_stack_deletion(
    template: dict[str, Any], parameters: dict[str, str], policy: str
) -> None:
    # GIVEN RetainData default or "true"  WHEN transformed  THEN table and bucket get that deletion policy
    resources = transform(template, parameters, REGION, _code_uris())["Resources"]
    for logical_id in ("WatchlistTable", "ResultsBucket"):
        assert (resources[logical_id]["DeletionPolicy"], resources[logical_id]["UpdateReplacePolicy"]) == (
            policy,
            policy,
        )


def test_retain_data_refuses_a_value_outside_its_allowed_values(template: dict[str, Any]) -> None:
    # GIVEN RetainData="True" (capitalised)  WHEN resolved  THEN it fails instead of quietly deleting data
    with pytest.raises(TemplateError, match="RetainData"):
        resolve_language_extensions(template, {"RetainData": "True"})


def test_resolver_refuses_language_extensions_it_cannot_evaluate(template: dict[str, Any]) -> None:
    # GIVEN a template using Fn::Length  WHEN resolved offline  THEN it fails naming where, instead of passing it on
    variant = json.loads(json.dumps(template))
    variant["Outputs"]["Count"] = {"Value": {"Fn::Length": [1, 2]}}
    with pytest.raises(TemplateError, match="Outputs/Count/Value/Fn::Length"):
        resolve_language_extensions(variant, {})


def test_offline_deploy_packs_the_shared_layer_from_lib_as_it_is_now(template: dict[str, Any], tmp_path: Path) -> None:
    # GIVEN a stale build of the shared layer that lacks a module lib/ has now
    from watchlist_workstation.deploy.offline import code_bundles

    root = tmp_path / "project"
    (root / "lib").mkdir(parents=True)
    for name in ("__init__.py", "consumer.py", "clock.py"):
        (root / "lib" / name).write_text(f"# {name}\n")
    (root / "lib" / "parts").mkdir()
    (root / "lib" / "parts" / "__init__.py").write_text("# a subpackage of lib ships too\n")
    (root / "watchlist_workstation").mkdir()
    (root / "watchlist_workstation" / "__init__.py").write_text("# workstation only\n")
    stale = root / "build" / "layers" / "shared" / "python" / "lib"
    stale.mkdir(parents=True)
    (stale / "consumer.py").write_text("# old\n")
    # WHEN the offline deploy packs the code
    bundles = code_bundles(template, root)
    # THEN the shared layer holds lib as it is now under python/lib/, and nothing else
    shared = zipfile.ZipFile(io.BytesIO(bundles["SharedLayer"]))
    assert sorted(shared.namelist()) == [
        "python/lib/__init__.py",
        "python/lib/clock.py",
        "python/lib/consumer.py",
        "python/lib/parts/__init__.py",
    ]
    assert shared.read("python/lib/consumer.py") == b"# consumer.py\n"
