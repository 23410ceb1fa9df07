"""template.yml's Rules, evaluated by watchlist_workstation/deploy/rules.py as CloudFormation evaluates them
(AWS CloudFormation User Guide, "Rules syntax" and "Rule functions"): each rule refuses what AWS would refuse
and passes what it accepts; the evaluator's functions each behave as the Rule functions page says."""

from __future__ import annotations

import pytest

from watchlist_workstation.deploy import rules
from watchlist_workstation.deploy.template import load_template, parameter_values_with_defaults
from watchlist_workstation.project import TEMPLATE

CONTACT = {"UserAgentContact": "ops@example.com"}
# The regions the template names (dated and sourced in its comment).
COMPREHEND_REGIONS = [
    "us-east-1", "us-east-2", "us-west-2", "ca-central-1", "eu-central-1", "eu-west-1", "eu-west-2",
    "ap-south-1", "ap-northeast-1", "ap-northeast-2", "ap-southeast-1", "ap-southeast-2", "us-gov-west-1",
]  # fmt: skip


@pytest.fixture(scope="module")
def template():
    return load_template(TEMPLATE)


def refusals(template, region="us-east-1", **parameters) -> list[rules.RuleViolation]:
    values = parameter_values_with_defaults(template, {**CONTACT, **parameters})
    return rules.violations(template, values, {"AWS::Region": region})


def description(template, rule: str) -> str:
    return " ".join(template["Rules"][rule]["Assertions"][0]["AssertDescription"].split())


# -- the template's rules ----------------------------------------------------------------------------


@pytest.mark.parametrize("region", COMPREHEND_REGIONS)
def test_every_region_with_comprehend_is_accepted_with_the_defaults(template, region):
    assert refusals(template, region) == []


@pytest.mark.parametrize("region", ["eu-north-1", "sa-east-1", "af-south-1", "us-west-1", "cn-north-1"])
def test_a_region_without_comprehend_is_refused_with_the_rules_description(template, region):
    (refused,) = refusals(template, region)
    assert refused.rule == "ComprehendRegion"
    assert refused.description == description(template, "ComprehendRegion")
    assert "Amazon Comprehend is not available in this region" in str(refused)


def test_a_batch_over_ten_without_a_batching_window_is_refused(template):
    (refused,) = refusals(template, ConsumerBatchSize="25", ConsumerBatchingWindowSeconds="0")
    assert refused.rule == "BatchingWindowForLargeBatches"
    assert refused.description == description(template, "BatchingWindowForLargeBatches")


@pytest.mark.parametrize(
    ("batch", "window"), [("25", "1"), ("10000", "300"), ("10", "0"), ("1", "0"), ("25", "5")]
)  # fmt: skip
def test_batches_lambda_accepts_pass(template, batch, window):
    assert refusals(template, ConsumerBatchSize=batch, ConsumerBatchingWindowSeconds=window) == []


def test_both_refusals_are_reported_in_template_order(template):
    refused = refusals(template, "eu-north-1", ConsumerBatchSize="11", ConsumerBatchingWindowSeconds="0")
    assert [r.rule for r in refused] == ["ComprehendRegion", "BatchingWindowForLargeBatches"]


def test_check_raises_the_first_refusal_as_one_line(template):
    values = parameter_values_with_defaults(template, CONTACT)
    with pytest.raises(rules.RuleViolation) as refused:
        rules.check(template, values, "sa-east-1")
    assert "\n" not in str(refused.value) and str(refused.value).endswith("(template rule ComprehendRegion)")


def test_the_batch_rule_guards_the_parameters_the_mapping_reads(template):
    # The rule is only worth having while the event source mapping takes its numbers from these parameters.
    mapping = template["Resources"]["ProducerAI"]["Properties"]["Events"]["WorkQueue"]["Properties"]
    assert mapping["BatchSize"] == {"Ref": "ConsumerBatchSize"}
    assert mapping["MaximumBatchingWindowInSeconds"] == {"Ref": "ConsumerBatchingWindowSeconds"}


# -- the evaluator, function by function --------------------------------------------------------------

PARAMETERS = {
    "Env": {"Type": "String"},
    "Subnets": {"Type": "List<AWS::EC2::Subnet::Id>"},
    "Names": {"Type": "CommaDelimitedList"},
}


def evaluate(assertion, condition=None, **values) -> list[rules.RuleViolation]:
    rule = {"Assertions": [{"Assert": assertion, "AssertDescription": "refused"}]}
    if condition is not None:
        rule["RuleCondition"] = condition
    template = {"Parameters": PARAMETERS, "Rules": {"R": rule}}
    given = {"Env": "prod", "Subnets": "subnet-1,subnet-2", "Names": "a,b", **values}
    return rules.violations(template, given, {"AWS::Region": "us-east-1"})


def passes(assertion, condition=None, **values) -> bool:
    return evaluate(assertion, condition, **values) == []


def test_equals_compares_two_values():
    assert passes({"Fn::Equals": [{"Ref": "Env"}, "prod"]})
    assert not passes({"Fn::Equals": [{"Ref": "Env"}, "test"]})
    assert passes({"Fn::Equals": [{"Ref": "AWS::Region"}, "us-east-1"]})


def test_literals_are_compared_as_strings():
    assert passes({"Fn::Equals": [{"Ref": "Env"}, 0]}, Env="0")
    assert passes({"Fn::Equals": ["true", True]})


def test_not_and_or():
    yes, no = {"Fn::Equals": ["a", "a"]}, {"Fn::Equals": ["a", "b"]}
    assert passes({"Fn::Not": [no]}) and not passes({"Fn::Not": [yes]})
    assert passes({"Fn::And": [yes, yes]}) and not passes({"Fn::And": [yes, no]})
    assert passes({"Fn::Or": [no, yes]}) and not passes({"Fn::Or": [no, no]})


def test_contains_asks_whether_the_string_is_a_member():
    assert passes({"Fn::Contains": [["prod", "test"], {"Ref": "Env"}]})
    assert not passes({"Fn::Contains": [["dev", "test"], {"Ref": "Env"}]})


def test_each_member_equals_asks_whether_every_member_is_the_string():
    assert passes({"Fn::EachMemberEquals": [{"Ref": "Names"}, "a"]}, Names="a,a")
    assert not passes({"Fn::EachMemberEquals": [{"Ref": "Names"}, "a"]}, Names="a,b")


def test_each_member_in_asks_whether_every_member_of_the_first_list_is_in_the_second():
    assert passes({"Fn::EachMemberIn": [{"Ref": "Subnets"}, ["subnet-1", "subnet-2", "subnet-3"]]})
    assert not passes({"Fn::EachMemberIn": [{"Ref": "Subnets"}, ["subnet-1"]]})


def test_a_false_rule_condition_skips_the_rule():
    refuse = {"Fn::Equals": ["a", "b"]}
    assert passes(refuse, condition={"Fn::Equals": [{"Ref": "Env"}, "test"]})
    assert not passes(refuse, condition={"Fn::Equals": [{"Ref": "Env"}, "prod"]})


@pytest.mark.parametrize(
    "assertion",
    [
        {"Fn::ValueOf": ["Subnets", "VpcId"]},  # needs the account's resources
        {"Fn::Whatever": ["a", "b"]},  # not a rule function
        {"Fn::And": [{"Fn::Equals": ["a", "a"]}]},  # And takes 2 to 10
        {"Fn::Equals": [{"Ref": "Missing"}, "a"]},  # no such parameter
        {"Ref": "Env"},  # a value, not a condition
    ],
)
def test_what_cannot_be_evaluated_is_refused_as_unreadable_not_passed(assertion):
    with pytest.raises(rules.RuleError):
        evaluate(assertion)
