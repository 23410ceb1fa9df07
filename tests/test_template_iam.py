"""The roles in template.yml: each function its own role, specific actions on specific resources, exactly what
the code needs; judged on the transformed template, with Fn::If resolved as CloudFormation would."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.template_fixture import (
    as_list,
    role_statements,
)

COMPREHEND_DETECT_PREFIXES = ("comprehend:Detect", "comprehend:BatchDetect")


def test_every_iam_action_is_a_specific_action(transformed: dict[str, Any]) -> None:
    # GIVEN the roles' statements  THEN each action is service:Action, no wildcard, no NotAction
    statements = role_statements(transformed)
    assert statements
    for _, statement in statements:
        assert "NotAction" not in statement and "NotResource" not in statement
        assert statement["Effect"] == "Allow"
        assert all(":" in action and "*" not in action for action in as_list(statement["Action"]))


def test_star_resource_only_for_comprehend_detect_actions(transformed: dict[str, Any]) -> None:
    # GIVEN the roles' statements  THEN Resource "*" appears only where Comprehend's Detect* leave no choice
    for _, statement in role_statements(transformed):
        if "*" in as_list(statement["Resource"]):
            assert all(a.startswith(COMPREHEND_DETECT_PREFIXES) for a in as_list(statement["Action"]))


def test_log_permissions_only_on_the_functions_own_log_groups(transformed: dict[str, Any]) -> None:
    # GIVEN each function, its role and its log group  THEN the role may write logs to that group alone
    resources = transformed["Resources"]
    for function_id in ("ServerlessProducer", "ProducerAI"):
        properties = resources[function_id]["Properties"]
        role_id = properties["Role"]["Fn::GetAtt"][0]
        log_group_id = properties["LoggingConfig"]["LogGroup"]["Ref"]
        log_statements = [
            s for lid, s in role_statements(transformed) if lid == role_id and "logs:" in json.dumps(s["Action"])
        ]
        assert log_statements
        for statement in log_statements:
            assert as_list(statement["Resource"]) == [{"Fn::GetAtt": [log_group_id, "Arn"]}]
            assert sorted(as_list(statement["Action"])) == ["logs:CreateLogStream", "logs:PutLogEvents"]


def test_each_function_has_its_own_role_without_managed_policies(transformed: dict[str, Any]) -> None:
    # GIVEN the functions  THEN each has its own role, assumable by Lambda only, with no managed policy
    resources = transformed["Resources"]
    functions = [r for r in resources.values() if r["Type"] == "AWS::Lambda::Function"]
    role_ids = [f["Properties"]["Role"]["Fn::GetAtt"][0] for f in functions]
    assert len(functions) == 3 and len(set(role_ids)) == len(functions)
    for role_id in role_ids:
        role = resources[role_id]["Properties"]
        assert "ManagedPolicyArns" not in role and "RoleName" not in role
        (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
        assert trust["Principal"] == {"Service": "lambda.amazonaws.com"}
    assert not [r for r in resources.values() if r["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy")]


def test_roles_grant_exactly_the_actions_the_code_needs(transformed: dict[str, Any]) -> None:
    # GIVEN the two roles  THEN each grants exactly the agreed actions, each on the agreed resource
    granted: dict[str, set[tuple[str, str]]] = {}
    for role_id, statement in role_statements(transformed):
        for action in as_list(statement["Action"]):
            for resource in as_list(statement["Resource"]):
                granted.setdefault(role_id, set()).add((action, json.dumps(resource, sort_keys=True)))

    def arn(logical_id: str) -> str:
        return json.dumps({"Fn::GetAtt": [logical_id, "Arn"]})

    results = json.dumps({"Fn::Sub": "${ResultsBucket.Arn}/results/*"})
    manifests = json.dumps({"Fn::Sub": "${ResultsBucket.Arn}/manifests/*"})
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
        ("s3:GetObject", manifests),
        ("s3:ListBucket", arn("ResultsBucket")),
        ("comprehend:BatchDetectSentiment", '"*"'),
        ("comprehend:DetectSentiment", '"*"'),
        ("logs:CreateLogStream", arn("ProducerAILogGroup")),
        ("logs:PutLogEvents", arn("ProducerAILogGroup")),
    }
    assert granted["CompactorRole"] == {
        ("s3:ListBucket", arn("ResultsBucket")),
        ("s3:GetObject", results),
        ("s3:PutObject", results),
        ("s3:DeleteObject", results),
        ("s3:GetObject", manifests),
        ("s3:PutObject", manifests),
        ("logs:CreateLogStream", arn("CompactorLogGroup")),
        ("logs:PutLogEvents", arn("CompactorLogGroup")),
    }


@pytest.mark.parametrize(("function", "role"), [("ProducerAI", "ProducerAIRole"), ("Compactor", "CompactorRole")])
def test_results_write_permission_matches_the_results_prefix(transformed: dict[str, Any], function, role) -> None:
    # GIVEN a function's RESULTS_PREFIX and its role's s3:PutObject grants  THEN the data grant names that prefix
    variables = transformed["Resources"][function]["Properties"]["Environment"]["Variables"]
    puts = [
        s["Resource"] for r, s in role_statements(transformed) if r == role and "s3:PutObject" in as_list(s["Action"])
    ]
    assert {"Fn::Sub": f"${{ResultsBucket.Arn}}/{variables['RESULTS_PREFIX']}/*"} in puts
    # AND the compactor's manifest grant names its MANIFESTS_PREFIX; the consumer writes no manifest
    if function == "Compactor":
        assert {"Fn::Sub": f"${{ResultsBucket.Arn}}/{variables['MANIFESTS_PREFIX']}/*"} in puts and len(puts) == 2
    else:
        assert len(puts) == 1
