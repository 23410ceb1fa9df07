"""The template's `Rules`, evaluated on the workstation before a deploy, as CloudFormation evaluates them.

CloudFormation checks a template's Rules against the parameter values before it creates or updates anything,
and refuses the stack with the failed assertion's AssertDescription (AWS CloudFormation User Guide, "Rules
syntax"). moto's CloudFormation ignores the section, so local mode would accept what AWS refuses; and on AWS
the refusal comes only after the build and the upload. So make-infra, `make-infra --local` and local mode's
stack evaluate the rules here first and refuse in one line (docs/deploying.md, "What the template refuses").

The rule functions follow the User Guide's "Rule functions" page:
- `Fn::And` and `Fn::Or`: 2 to 10 conditions; `Fn::Not`: one; `Fn::Equals`: two values;
- `Fn::Contains [list, string]`: the string is one of the list's members;
- `Fn::EachMemberEquals [list, string]`: every member is the string;
- `Fn::EachMemberIn [list, list]`: every member of the first is a member of the second;
- `Ref`: a parameter's value (a list for CommaDelimitedList and List<...> types) or a pseudo parameter.
`Fn::ValueOf`, `Fn::ValueOfAll` and `Fn::RefAll` read attributes of AWS resources in the account (a VPC's
tags, every subnet id), which no offline check can know: a rule using them is refused as unreadable here
rather than passed unchecked.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# Pseudo parameters a rule may reference that the caller knows before a deploy.
_PSEUDO = {"AWS::Region", "AWS::AccountId", "AWS::StackName", "AWS::Partition", "AWS::URLSuffix"}
_NEEDS_THE_ACCOUNT = {"Fn::ValueOf", "Fn::ValueOfAll", "Fn::RefAll"}


class RuleError(ValueError):
    """A rule this evaluator cannot read: malformed, or needing a look at the account."""


@dataclass(frozen=True)
class RuleViolation(Exception):
    """A rule whose assertion failed: what CloudFormation would refuse the stack with."""

    rule: str
    description: str

    def __str__(self) -> str:
        return f"{self.description} (template rule {self.rule})"


def violations(
    template: Mapping[str, Any], parameters: Mapping[str, str], pseudo: Mapping[str, str]
) -> list[RuleViolation]:
    """Every rule of `template` whose assertion fails for these parameter values (each a string, as
    CloudFormation passes them, defaults filled in) and pseudo parameters (AWS::Region, ...), in template
    order; a rule whose RuleCondition is false is skipped, as CloudFormation skips it."""
    declared = template.get("Parameters") or {}
    values: dict[str, Any] = {
        name: _typed(value, (declared.get(name) or {}).get("Type")) for name, value in parameters.items()
    }
    for name, value in pseudo.items():
        if name not in _PSEUDO:
            raise RuleError(f"{name} is not a pseudo parameter a rule can know before a deploy")
        values[name] = value
    found = []
    for rule, body in (template.get("Rules") or {}).items():
        if not isinstance(body, Mapping) or not isinstance(body.get("Assertions"), list):
            raise RuleError(f"rule {rule}: a rule has a list of Assertions")
        if "RuleCondition" in body and not _condition(body["RuleCondition"], values, rule):
            continue
        for assertion in body["Assertions"]:
            if not isinstance(assertion, Mapping) or "Assert" not in assertion:
                raise RuleError(f"rule {rule}: each assertion has an Assert")
            if not _condition(assertion["Assert"], values, rule):
                description = str(assertion.get("AssertDescription") or "the template's rule refuses these values")
                found.append(RuleViolation(rule, " ".join(description.split())))
    return found


def check(template: Mapping[str, Any], parameters: Mapping[str, str], region: str) -> None:
    """Raise the first RuleViolation of the template's rules for these values in `region`."""
    failed = violations(template, parameters, {"AWS::Region": region})
    if failed:
        raise failed[0]


def _typed(value: str, parameter_type: str | None) -> Any:
    """A parameter's value as a rule function sees it: list types are lists."""
    if parameter_type == "CommaDelimitedList" or str(parameter_type or "").startswith("List<"):
        return value.split(",") if value else []
    return value


def _condition(expression: Any, values: Mapping[str, Any], rule: str) -> bool:
    result = _evaluate(expression, values, rule)
    if not isinstance(result, bool):
        raise RuleError(f"rule {rule}: {expression!r} is a value, not a condition")
    return result


def _evaluate(expression: Any, values: Mapping[str, Any], rule: str) -> Any:
    """A condition's truth, or a value: a string, or a list of strings."""
    if isinstance(expression, list):
        return [_scalar(_evaluate(item, values, rule), rule) for item in expression]
    if not isinstance(expression, Mapping):
        return _scalar(expression, rule)
    if len(expression) != 1:
        raise RuleError(f"rule {rule}: {expression!r} is not one rule function")
    ((function, argument),) = expression.items()
    if function == "Ref":
        if argument not in values:
            raise RuleError(f"rule {rule}: Ref {argument} is not a parameter with a value")
        return values[argument]
    if function in _NEEDS_THE_ACCOUNT:
        raise RuleError(f"rule {rule}: {function} reads the account's resources and cannot be checked offline")
    arguments = argument if isinstance(argument, list) else None
    if function == "Fn::Not":
        _count(function, arguments, 1, 1, rule)
        return not _condition(arguments[0], values, rule)
    if function in ("Fn::And", "Fn::Or"):
        _count(function, arguments, 2, 10, rule)
        results = [_condition(item, values, rule) for item in arguments]
        return all(results) if function == "Fn::And" else any(results)
    if function == "Fn::Equals":
        _count(function, arguments, 2, 2, rule)
        return _evaluate(arguments[0], values, rule) == _evaluate(arguments[1], values, rule)
    if function in ("Fn::Contains", "Fn::EachMemberEquals", "Fn::EachMemberIn"):
        _count(function, arguments, 2, 2, rule)
        first, second = (_evaluate(item, values, rule) for item in arguments)
        if not isinstance(first, list):
            raise RuleError(f"rule {rule}: {function} takes a list first")
        if function == "Fn::Contains":
            return _string(second, function, rule) in first
        if function == "Fn::EachMemberEquals":
            return all(member == _string(second, function, rule) for member in first)
        if not isinstance(second, list):
            raise RuleError(f"rule {rule}: Fn::EachMemberIn takes two lists")
        return all(member in second for member in first)
    raise RuleError(f"rule {rule}: {function} is not a rule function")


def _count(function: str, arguments: list | None, least: int, most: int, rule: str) -> None:
    if arguments is None or not least <= len(arguments) <= most:
        wanted = f"{least}" if least == most else f"{least} to {most}"
        raise RuleError(f"rule {rule}: {function} takes a list of {wanted}")


def _string(value: Any, function: str, rule: str) -> str:
    if not isinstance(value, str):
        raise RuleError(f"rule {rule}: {function} takes a string second")
    return value


def _scalar(value: Any, rule: str) -> Any:
    """A literal as CloudFormation reads it: a string (numbers and booleans in their JSON spelling)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        return str(value)
    if isinstance(value, list):
        return value
    raise RuleError(f"rule {rule}: {value!r} is not a value a rule function takes")
