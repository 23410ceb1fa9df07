"""template.yml offline: load it, resolve what AWS::LanguageExtensions would, and run the SAM transform.

Local mode and the tests create the stack in moto from the same template that goes to AWS. Neither
samtranslator nor moto knows the AWS::LanguageExtensions transform, so the one feature of it the
template uses (a `Fn::If` as DeletionPolicy/UpdateReplacePolicy) is resolved here first, exactly as
the service would with the same parameter values. Nothing in this module talks to the network.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import boto3
import yaml
from samtranslator.parser.parser import Parser
from samtranslator.translator.arn_generator import ArnGenerator
from samtranslator.translator.translator import Translator
from samtranslator.utils.py27hash_fix import to_py27_compatible_template, undo_mark_unicode_str_in_template

LANGUAGE_EXTENSIONS = "AWS::LanguageExtensions"
_POLICY_ATTRIBUTES = ("DeletionPolicy", "UpdateReplacePolicy")
# LanguageExtensions features this module does not evaluate; meeting one is an error, not a silent pass-through.
_UNSUPPORTED_INTRINSICS = ("Fn::ForEach::", "Fn::Length", "Fn::ToJsonString")
# The property holding each SAM resource's code, which transform() points at an uploaded zip.
_CODE_PROPERTY = {"AWS::Serverless::Function": "CodeUri", "AWS::Serverless::LayerVersion": "ContentUri"}


class TemplateError(ValueError):
    """The template or the parameter values cannot be resolved offline; the message says where."""


# ---------------------------------------------------------------------------------------------- loading


class _CloudFormationLoader(yaml.SafeLoader):
    """SafeLoader that reads CloudFormation's short-form tags and keeps dates as strings.

    A subclass, so the tag constructor is not registered on yaml.SafeLoader for the whole
    process (samtranslator's yaml_parse does that).
    """


# CloudFormation reads `AWSTemplateFormatVersion: 2010-09-09` as a string; YAML 1.1 would make it a date.
_CloudFormationLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _construct_intrinsic(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    key = tag_suffix if tag_suffix in ("Ref", "Condition") else f"Fn::{tag_suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if tag_suffix == "GetAtt":
            # `!GetAtt Resource.Attribute`; attributes may contain dots themselves (Endpoint.Address).
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {key: value}


_CloudFormationLoader.add_multi_constructor("!", _construct_intrinsic)


def load_template(path: str | Path) -> dict[str, Any]:
    """Parse a CloudFormation/SAM template (YAML or JSON) into long-form intrinsics (`{"Ref": ...}`).

    Each call returns its own copy, so callers may change it freely.
    """
    text = Path(path).read_text(encoding="utf-8")
    return copy.deepcopy(_parse(text, str(path)))


@functools.lru_cache(maxsize=8)
def _parse(text: str, where: str) -> dict[str, Any]:
    # Parsing the template is the slowest step of an offline deploy; the cache is keyed by the
    # text itself, so an edited file is parsed again.
    template = yaml.load(text, Loader=_CloudFormationLoader)  # noqa: S506 - a SafeLoader subclass
    if not isinstance(template, dict):
        raise TemplateError(f"{where}: a template is a mapping at the top level")
    return template


# ---------------------------------------------------------------------------------------------- conditions


def parameter_values_with_defaults(template: Mapping[str, Any], parameter_values: Mapping[str, Any]) -> dict[str, str]:
    """Every parameter's value as CloudFormation passes it around (a string), defaults filled in.

    Unknown names and values outside AllowedValues are refused: CloudFormation would refuse them
    too, and a typo such as RetainData=True must not quietly become "delete my data".
    """
    declared = template.get("Parameters") or {}
    unknown = sorted(set(parameter_values) - set(declared))
    if unknown:
        raise TemplateError(f"unknown parameters: {', '.join(unknown)}")
    values: dict[str, str] = {}
    for name, spec in declared.items():
        if name in parameter_values:
            value = _as_string(parameter_values[name])
        elif "Default" in spec:
            value = _as_string(spec["Default"])
        else:
            raise TemplateError(f"parameter {name} has no default and no value was given")
        allowed = spec.get("AllowedValues")
        if allowed is not None and value not in [_as_string(v) for v in allowed]:
            raise TemplateError(f"parameter {name}={value!r} is not one of {allowed}")
        values[name] = value
    return values


def condition_values(template: Mapping[str, Any], parameter_values: Mapping[str, Any]) -> dict[str, bool]:
    """Evaluate every entry of the template's Conditions section for the given parameter values.

    Supports what Conditions may contain: Fn::Equals, Fn::Not, Fn::And, Fn::Or and Condition
    references, over parameter Refs and literals.
    """
    params = parameter_values_with_defaults(template, parameter_values)
    conditions = template.get("Conditions") or {}
    resolved: dict[str, bool] = {}

    def condition(name: str, stack: tuple[str, ...]) -> bool:
        if name in stack:
            raise TemplateError(f"condition {name} refers to itself through {' -> '.join(stack)}")
        if name not in resolved:
            if name not in conditions:
                raise TemplateError(f"unknown condition {name}")
            resolved[name] = evaluate(conditions[name], (*stack, name))
        return resolved[name]

    def operand(value: Any) -> str:
        if isinstance(value, dict):
            if set(value) == {"Ref"} and value["Ref"] in params:
                return params[value["Ref"]]
            raise TemplateError(f"unsupported operand in a condition: {value!r}")
        return _as_string(value)

    def evaluate(expression: Any, stack: tuple[str, ...]) -> bool:
        if not isinstance(expression, dict) or len(expression) != 1:
            raise TemplateError(f"unsupported condition expression: {expression!r}")
        (function, args), *_ = expression.items()
        if function == "Condition":
            return condition(args, stack)
        if function == "Fn::Equals":
            left, right = args
            return operand(left) == operand(right)
        if function == "Fn::Not":
            (inner,) = args
            return not evaluate(inner, stack)
        if function == "Fn::And":
            return all(evaluate(inner, stack) for inner in args)
        if function == "Fn::Or":
            return any(evaluate(inner, stack) for inner in args)
        raise TemplateError(f"unsupported condition function {function}")

    return {name: condition(name, ()) for name in conditions}


def _as_string(value: Any) -> str:
    # Parameters reach conditions as strings; YAML may have typed a literal as bool or number.
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# ---------------------------------------------------------------------------------------------- LanguageExtensions


def resolve_language_extensions(template: Mapping[str, Any], parameter_values: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of `template` with DeletionPolicy/UpdateReplacePolicy `Fn::If`s resolved and the
    AWS::LanguageExtensions transform removed, for tools that know neither (samtranslator, moto).
    """
    resolved = copy.deepcopy(dict(template))
    unsupported = [path for path in _intrinsic_paths(resolved) if path[-1].startswith(_UNSUPPORTED_INTRINSICS)]
    if unsupported:
        where = ", ".join("/".join(path) for path in unsupported)
        raise TemplateError(f"LanguageExtensions features this offline resolver does not evaluate: {where}")

    conditions = condition_values(resolved, parameter_values)
    for logical_id, resource in (resolved.get("Resources") or {}).items():
        for attribute in _POLICY_ATTRIBUTES:
            if attribute in resource:
                resource[attribute] = _resolve_policy(resource[attribute], conditions, f"{logical_id}/{attribute}")

    transforms = resolved.get("Transform")
    names = [transforms] if isinstance(transforms, str) else list(transforms or [])
    names = [name for name in names if name != LANGUAGE_EXTENSIONS]
    if not names:
        resolved.pop("Transform", None)
    else:
        resolved["Transform"] = names[0] if len(names) == 1 else names
    return resolved


def _resolve_policy(value: Any, conditions: Mapping[str, bool], where: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and set(value) == {"Fn::If"}:
        name, when_true, when_false = value["Fn::If"]
        if name not in conditions:
            raise TemplateError(f"{where}: unknown condition {name}")
        return _resolve_policy(when_true if conditions[name] else when_false, conditions, where)
    raise TemplateError(f"{where}: only a literal or Fn::If can be resolved offline, got {value!r}")


def _intrinsic_paths(node: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield (*path, str(key))
            yield from _intrinsic_paths(value, (*path, str(key)))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _intrinsic_paths(value, (*path, str(index)))


# ---------------------------------------------------------------------------------------------- SAM transform


def _no_managed_policies() -> dict[str, str]:
    # With an explicit Role per function, SAM never resolves a managed policy name. If that
    # changes, the real service would call IAM here; offline we refuse rather than guess ARNs.
    raise TemplateError("the offline transform cannot resolve managed policy names; give each function a Role")


def transform(
    template: Mapping[str, Any],
    parameter_values: Mapping[str, Any],
    region: str,
    code_uris: Mapping[str, str],
) -> dict[str, Any]:
    """Plain CloudFormation from the SAM template, as the service's transform would produce it.

    `code_uris` maps each AWS::Serverless::Function / AWS::Serverless::LayerVersion logical id to
    the `s3://bucket/key` of its uploaded zip; all of them must be given, and no others.
    """
    sam_template = copy.deepcopy(dict(template))
    resources = sam_template.get("Resources") or {}
    code_ids = {logical_id for logical_id, r in resources.items() if r.get("Type") in _CODE_PROPERTY}
    missing, extra = sorted(code_ids - set(code_uris)), sorted(set(code_uris) - code_ids)
    if missing or extra:
        raise TemplateError(f"code_uris: missing {missing or 'none'}, not in the template {extra or 'none'}")
    for logical_id in code_ids:
        uri = code_uris[logical_id]
        if not uri.startswith("s3://") or "/" not in uri[len("s3://") :]:
            raise TemplateError(f"code_uris[{logical_id}] is not an s3://bucket/key URI: {uri!r}")
        resource = resources[logical_id]
        resource.setdefault("Properties", {})[_CODE_PROPERTY[resource["Type"]]] = uri

    sam_template = resolve_language_extensions(sam_template, parameter_values)
    sam_parameters = {name: _as_string(value) for name, value in parameter_values.items()}
    sam_parameters["AWS::Region"] = region

    # samtranslator's transform() takes the region from the process environment; building the
    # Translator with a session for `region` keeps the caller's region explicit. Its constructor
    # stores that region on ArnGenerator (a class attribute), which is put back afterwards.
    previous_region = ArnGenerator.BOTO_SESSION_REGION_NAME
    try:
        translator = Translator(None, Parser(), boto_session=boto3.session.Session(region_name=region))
        to_py27_compatible_template(sam_template, sam_parameters)
        translated = translator.translate(
            sam_template, parameter_values=sam_parameters, get_managed_policy_map=_no_managed_policies
        )
    finally:
        ArnGenerator.BOTO_SESSION_REGION_NAME = previous_region
    return undo_mark_unicode_str_in_template(translated)
