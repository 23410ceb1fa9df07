"""The roles in template.yml: each function its own role, specific actions on specific resources, exactly what
the code needs; judged on the transformed template, with Fn::If resolved as CloudFormation would."""

from __future__ import annotations

import json
from typing import Any

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
    for role_id, statement in role_statements(transformed):
        for action in as_list(statement["Action"]):
            for resource in as_list(statement["Resource"]):
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
        ("s3:ListBucket", arn("ResultsBucket")),
        ("comprehend:BatchDetectSentiment", '"*"'),
        ("comprehend:DetectSentiment", '"*"'),
        ("logs:CreateLogStream", arn("ProducerAILogGroup")),
        ("logs:PutLogEvents", arn("ProducerAILogGroup")),
    }


def test_results_write_permission_matches_the_results_prefix(transformed: dict[str, Any]) -> None:
    # GIVEN the consumer's RESULTS_PREFIX and its s3:PutObject grant  THEN both name the same prefix
    prefix = transformed["Resources"]["ProducerAI"]["Properties"]["Environment"]["Variables"]["RESULTS_PREFIX"]
    (put,) = [s for _, s in role_statements(transformed) if "s3:PutObject" in as_list(s["Action"])]
    assert put["Resource"] == {"Fn::Sub": f"${{ResultsBucket.Arn}}/{prefix}/*"}
