"""template.yml loaded and transformed offline: the short forms read in long form, plain CloudFormation out, code
at the given URIs; and what each parameter changes in the result (notifications, alarms, RetainData).

The linters (tests/test_template_lint.py), the stack in moto (tests/test_template_stack.py) and the roles
(tests/test_template_iam.py) have files of their own; the fixtures they share are in tests/template_fixture.py.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest

from lib.metrics import METRIC_NAMES, STACK_DIMENSION
from tests.template_fixture import (
    ARTIFACT_BUCKET,
    REGION,
    code_uris,
    resolve_ifs,
    role_statements,
    with_required,
)
from watchlist_workstation.deploy.template import (
    TemplateError,
    condition_values,
    resolve_language_extensions,
    transform,
)

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
        "Compactor": {"S3Bucket": ARTIFACT_BUCKET, "S3Key": "Compactor.zip"},
    }
    content = sorted(
        r["Properties"]["Content"]["S3Key"] for r in resources.values() if r["Type"] == "AWS::Lambda::LayerVersion"
    )
    assert content == ["DepsLayer.zip", "SharedLayer.zip"]


def test_transform_refuses_a_missing_code_uri(template: dict[str, Any]) -> None:
    # GIVEN no URI for the consumer  WHEN transformed  THEN it fails naming the function, not later in CloudFormation
    uris = {lid: uri for lid, uri in code_uris().items() if lid != "ProducerAI"}
    with pytest.raises(TemplateError, match="ProducerAI"):
        transform(template, with_required({}), REGION, uris)


def test_functions_keep_arm64_layers_and_own_log_group_in_transformed_template(transformed: dict[str, Any]) -> None:
    # GIVEN the transformed template (moto drops these three properties, so they are checked here)
    # THEN each function runs on arm64 with both layers and logs to its own log group
    resources = transformed["Resources"]
    layer_ids = sorted(lid for lid, r in resources.items() if r["Type"] == "AWS::Lambda::LayerVersion")
    for function_id in ("ServerlessProducer", "ProducerAI"):
        properties = resources[function_id]["Properties"]
        assert properties["Architectures"] == ["arm64"]
        assert sorted(layer["Ref"] for layer in properties["Layers"]) == layer_ids
        assert properties["LoggingConfig"]["LogGroup"] == {"Ref": f"{function_id}LogGroup"}
    # AND the consumer's log format is Text, which keeps its metric lines as written
    assert resources["ProducerAI"]["Properties"]["LoggingConfig"]["LogFormat"] == "Text"


# ---------------------------------------------------------------------------------------------- parameters


@pytest.mark.parametrize(("email", "subscribed"), [("", False), ("ops@example.com", True)])
def test_email_subscription_exists_only_with_a_notification_email(
    template: dict[str, Any], email: str, subscribed: bool
) -> None:
    # GIVEN NotificationEmail empty or set  WHEN transformed  THEN the subscription's condition follows it
    cloudformation = transform(template, with_required({"NotificationEmail": email}), REGION, code_uris())
    subscriptions = {lid: r for lid, r in cloudformation["Resources"].items() if r["Type"] == "AWS::SNS::Subscription"}
    assert list(subscriptions) == ["EmailSubscription"]
    subscription = subscriptions["EmailSubscription"]
    assert (subscription["Condition"], subscription["Properties"]["Protocol"]) == ("HasNotificationEmail", "email")
    assert subscription["Properties"]["TopicArn"] == {"Ref": "NotificationTopic"}
    conditions = condition_values(cloudformation, with_required({"NotificationEmail": email}))
    assert conditions["HasNotificationEmail"] is subscribed


@pytest.mark.parametrize("alarm_id", ["DeadLetterQueueAlarm", "ConsumerErrorsAlarm", "NewPermanentErrorsAlarm"])
def test_every_alarm_notifies_the_topic_on_alarm_and_on_recovery(transformed: dict[str, Any], alarm_id: str) -> None:
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


def test_new_permanent_errors_alarm_watches_the_metric_the_consumer_emits(transformed: dict[str, Any]) -> None:
    # GIVEN the transformed template  THEN the alarm reads the namespace and stack dimension the consumer's
    # environment names (lib/metrics.py), summed over a period, and treats a period without batches as fine
    resources = transformed["Resources"]
    alarm = resources["NewPermanentErrorsAlarm"]["Properties"]
    variables = resources["ProducerAI"]["Properties"]["Environment"]["Variables"]
    assert alarm["Namespace"] == variables["METRICS_NAMESPACE"]
    assert alarm["MetricName"] == "NewPermanentErrors" and "NewPermanentErrors" in METRIC_NAMES
    assert alarm["Dimensions"] == [{"Name": STACK_DIMENSION, "Value": {"Ref": "AWS::StackName"}}]
    assert variables["STACK_NAME"] == {"Ref": "AWS::StackName"}
    assert (alarm["Statistic"], alarm["TreatMissingData"]) == ("Sum", "notBreaching")


@pytest.mark.parametrize(("setting", "topic"), [("false", ""), ("true", {"Ref": "NotificationTopic"})])
def test_notify_on_label_change_gives_the_consumer_the_topic_and_publish_on_it_alone(
    template: dict[str, Any], setting: str, topic: Any
) -> None:
    # GIVEN NotifyOnLabelChange off or on  WHEN transformed
    parameters = {"NotifyOnLabelChange": setting}
    cloudformation = transform(template, with_required(parameters), REGION, code_uris())
    conditions = condition_values(cloudformation, with_required(parameters))
    variables = cloudformation["Resources"]["ProducerAI"]["Properties"]["Environment"]["Variables"]
    # THEN the consumer's LABEL_CHANGE_TOPIC_ARN is the topic, or empty
    assert resolve_ifs(variables["LABEL_CHANGE_TOPIC_ARN"], conditions) == topic
    # AND sns:Publish is granted to the consumer's role only when on, and only on that topic
    publish = [(lid, s) for lid, s in role_statements(cloudformation, parameters) if "sns:" in json.dumps(s["Action"])]
    if setting == "true":
        assert publish == [
            (
                "ProducerAIRole",
                {"Sid": "NotifyLabelChanges", "Effect": "Allow", "Action": "sns:Publish", "Resource": topic},
            )
        ]
    else:
        assert publish == []


def test_notify_on_label_change_refuses_a_value_outside_its_allowed_values(template: dict[str, Any]) -> None:
    with pytest.raises(TemplateError, match="NotifyOnLabelChange"):
        resolve_language_extensions(template, {"NotifyOnLabelChange": "yes"})


@pytest.mark.parametrize(("parameters", "policy"), [({}, "Delete"), ({"RetainData": "true"}, "Retain")])
def test_retain_data_decides_what_survives_stack_deletion(
    template: dict[str, Any], parameters: dict[str, str], policy: str
) -> None:
    # GIVEN RetainData default or "true"  WHEN transformed  THEN table and bucket get that deletion policy
    resources = transform(template, with_required(parameters), REGION, code_uris())["Resources"]
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
