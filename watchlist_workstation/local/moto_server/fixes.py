"""Narrow fixes to moto (5.2.5) that local mode needs, applied in the process that runs the moto server.

Bucket policies: moto's S3 checks an object request against the bucket policy itself, ignoring its
Condition block, so the template's DenyInsecureTransport statement (a Deny on aws:SecureTransport
"false") would refuse every object request, the administrator's included. Local mode evaluates
bucket policies, conditions included, in its IAM layer (watchlist_workstation/local/iam/, docs/local-mode.md,
"IAM in local mode"); the fix makes moto's own check neutral.

A stack update that changes a function with layers fails in moto's CloudFormation (HTTP 500,
`'LayerVersion' object has no attribute 'replace'`): moto's LayerVersion model has no physical
resource id, so a `Ref` to an AWS::Lambda::LayerVersion resolves to the model object itself, and
the function update reads that as a layer ARN. In CloudFormation, `Ref` of a layer version returns
its ARN (AWS::Lambda::LayerVersion, "Return values"); the fix gives moto's model exactly that
physical id. Creating a stack is unaffected (moto creates a function from CloudFormation without
its Layers), so only `make-infra --local` updates depend on it.

    from watchlist_workstation.local.moto_server import fixes
    fixes.apply()   # before the first stack update; idempotent

moto's CloudFormation also has no model for AWS::CloudWatch::Alarm: it skips the template's alarms
with a warning, so the local account would have none for watchlist_workstation/local/alarms.py to evaluate. The second
fix gives it one that creates, updates and deletes the alarm in moto's own CloudWatch (PutMetricAlarm's
backend), with the properties CloudFormation resolved, so DescribeAlarms shows them as deployed. Only
metric alarms on one metric are modelled (no Metrics math), which is what template.yml declares.

The third fix: moto's CloudFormation resolves a `Ref` to a Number parameter as a number, and hands it on
to a function's environment as one. CloudFormation passes it as a string ("when you use the parameter
elsewhere in your template, for example with Ref, the parameter value becomes a string": CloudFormation
user guide, Parameters, type Number), and Lambda's environment variables are strings (Lambda API
reference, Environment). The fix turns a function's environment values into strings as moto's
CloudFormation creates or updates the function, so GetFunctionConfiguration answers as Lambda does.
"""

from __future__ import annotations

from typing import Any

from watchlist_workstation.local.moto_server.version import require_supported_moto


def layer_version_physical_id(layer_version: Any) -> str:
    """What CloudFormation's Ref returns for a layer version: its ARN."""
    return str(layer_version.arn)


_MODELS: list[type] = []


def _flag(value: Any, default: bool) -> bool:
    # A resolved template keeps booleans as CloudFormation received them: true, "true" or "True".
    return default if value is None else str(value).lower() == "true"


def put_alarm_from_properties(backend: Any, name: str, properties: dict[str, Any]) -> None:
    """PutMetricAlarm on moto's CloudWatch backend from an AWS::CloudWatch::Alarm's resolved Properties."""
    if properties.get("Metrics"):
        raise ValueError(f"alarm {name}: metric math (Metrics) is not modelled locally")

    def number(key: str, kind: type) -> Any:
        return None if properties.get(key) is None else kind(properties[key])

    backend.put_metric_alarm(
        name=name,
        namespace=properties.get("Namespace"),
        metric_name=properties.get("MetricName"),
        comparison_operator=properties["ComparisonOperator"],
        evaluation_periods=int(properties["EvaluationPeriods"]),
        datapoints_to_alarm=number("DatapointsToAlarm", int),
        period=number("Period", int),
        threshold=number("Threshold", float),
        statistic=properties.get("Statistic"),
        extended_statistic=properties.get("ExtendedStatistic"),
        description=properties.get("AlarmDescription"),
        dimensions=properties.get("Dimensions") or [],
        alarm_actions=properties.get("AlarmActions") or [],
        ok_actions=properties.get("OKActions") or [],
        insufficient_data_actions=properties.get("InsufficientDataActions") or [],
        unit=properties.get("Unit"),
        actions_enabled=_flag(properties.get("ActionsEnabled"), True),
        treat_missing_data=properties.get("TreatMissingData"),
        evaluate_low_sample_count_percentile=properties.get("EvaluateLowSampleCountPercentile"),
    )


def _alarm_model() -> type:
    """A CloudFormation model for AWS::CloudWatch::Alarm (moto finds models as CloudFormationModel subclasses)."""
    from moto.cloudwatch.models import cloudwatch_backends
    from moto.core.common_models import CloudFormationModel

    class StackAlarm(CloudFormationModel):
        """The stack's handle on an alarm; the alarm itself lives in moto's CloudWatch backend."""

        def __init__(self, account_id: str, region_name: str, name: str) -> None:
            self.account_id, self.region_name, self.name = account_id, region_name, name

        @staticmethod
        def cloudformation_type() -> str:
            return "AWS::CloudWatch::Alarm"

        @staticmethod
        def cloudformation_name_type() -> str:
            return "AlarmName"

        @property
        def physical_resource_id(self) -> str:
            return self.name  # Ref of an alarm is its name

        @classmethod
        def has_cfn_attr(cls, attr: str) -> bool:
            return attr == "Arn"

        def get_cfn_attribute(self, attribute_name: str) -> str:
            from moto.cloudformation.exceptions import UnformattedGetAttTemplateException

            if attribute_name == "Arn":
                return cloudwatch_backends[self.account_id][self.region_name].alarms[self.name].alarm_arn
            raise UnformattedGetAttTemplateException()

        @classmethod
        def create_from_cloudformation_json(  # type: ignore[override]
            cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any
        ) -> StackAlarm:
            backend = cloudwatch_backends[account_id][region_name]
            put_alarm_from_properties(backend, resource_name, cloudformation_json["Properties"])
            return cls(account_id, region_name, resource_name)

        @classmethod
        def update_from_cloudformation_json(  # type: ignore[override]
            cls,
            original_resource: Any,
            new_resource_name: str,
            cloudformation_json: Any,
            account_id: str,
            region_name: str,
        ) -> StackAlarm:
            # An alarm keeps its name (and so its state) across updates unless AlarmName itself changes.
            name = cloudformation_json["Properties"].get("AlarmName") or original_resource.name
            backend = cloudwatch_backends[account_id][region_name]
            if name != original_resource.name:
                backend.delete_alarms([original_resource.name])
            put_alarm_from_properties(backend, name, cloudformation_json["Properties"])
            return cls(account_id, region_name, name)

        @classmethod
        def delete_from_cloudformation_json(  # type: ignore[override]
            cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str
        ) -> None:
            cloudwatch_backends[account_id][region_name].delete_alarms([resource_name])

        def delete(self, account_id: str, region_name: str) -> None:
            cloudwatch_backends[account_id][region_name].delete_alarms([self.name])

    return StackAlarm


def string_environment(cloudformation_json: Any) -> Any:
    """A function's resource with its Environment.Variables values as strings (see the module docstring)."""
    variables = ((cloudformation_json.get("Properties") or {}).get("Environment") or {}).get("Variables")
    if isinstance(variables, dict):
        cloudformation_json["Properties"]["Environment"]["Variables"] = {
            key: value if isinstance(value, str) else str(value) for key, value in variables.items()
        }
    return cloudformation_json


def _string_environments(model: Any) -> None:
    for name in ("create_from_cloudformation_json", "update_from_cloudformation_json"):
        shipped = getattr(model, name).__func__

        def wrapped(cls, *args: Any, _shipped: Any = shipped, _name: str = name, **kwargs: Any) -> Any:
            # The resource's template is the third positional argument of create (name, json, ...) and the fourth of
            # update (original, new name, json, ...).
            position = 1 if _name.startswith("create") else 2
            args = list(args)
            if len(args) > position:
                args[position] = string_environment(args[position])
            elif "cloudformation_json" in kwargs:
                kwargs["cloudformation_json"] = string_environment(kwargs["cloudformation_json"])
            return _shipped(cls, *args, **kwargs)

        setattr(model, name, classmethod(wrapped))
    model._string_environments = True


def apply() -> None:
    """Apply the fixes in this process; each is skipped if moto already has it (fixed there, or applied)."""
    require_supported_moto(
        "watchlist_workstation/local/moto_server/fixes.py",
        "moto/awslambda/models.py (LayerVersion), moto/cloudformation/parsing.py (its model listings) "
        "and moto/s3/models.py (FakeBucket.get_permission)",
    )
    from moto.awslambda.models import LambdaFunction, LayerVersion
    from moto.cloudformation import parsing
    from moto.iam.access_control import PermissionResult
    from moto.s3.models import FakeBucket

    FakeBucket.get_permission = lambda bucket, action, resource: PermissionResult.NEUTRAL  # type: ignore[method-assign]

    if not getattr(LambdaFunction, "_string_environments", False):
        _string_environments(LambdaFunction)

    if "physical_resource_id" not in vars(LayerVersion):  # moto fixed it itself, or already applied
        LayerVersion.physical_resource_id = property(layer_version_physical_id)  # type: ignore[attr-defined]
    if "AWS::CloudWatch::Alarm" not in parsing.get_model_map():  # moto models it itself, or already applied
        # __subclasses__ holds its classes weakly: this module keeps the model alive.
        _MODELS.append(_alarm_model())
        # moto lists its models once (lru_cache); the new subclass must be seen.
        for listing in (parsing.get_model_list, parsing.get_model_map, parsing.get_name_type_map):
            listing.cache_clear()
