"""Configuration read from the environment the template sets.

Each handler builds its config once per cold start. A missing variable fails fast
with its name instead of falling back to a silent default.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from lib.dataset_layout import MANIFESTS_PREFIX
from lib.metrics import MetricsTarget
from lib.schedule import ScheduleError, period_seconds
from lib.wikipedia import api_url


class ConfigError(RuntimeError):
    """A required environment variable is missing or empty."""


def _require(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise ConfigError(f"environment variable {name} is not set")
    return value


def _present(env: Mapping[str, str], name: str) -> str | None:
    """A variable the template always sets but may leave empty to switch a feature off (None then)."""
    if name not in env:
        raise ConfigError(f"environment variable {name} is not set")
    return env[name].strip() or None


def _positive_int(env: Mapping[str, str], name: str) -> int:
    value = _require(env, name)
    if not value.isdigit() or int(value) < 1:
        raise ConfigError(f"environment variable {name} must be a positive whole number, not {value!r}")
    return int(value)


@dataclass(frozen=True)
class ProducerConfig:
    table_name: str
    queue_url: str
    requests_per_minute: int  # the operator's Wikipedia request budget (lib/plan.py)
    period_seconds: int  # the schedule's period, from its rate(...) expression

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ProducerConfig:
        env = os.environ if env is None else env
        expression = _require(env, "SCHEDULE_EXPRESSION")
        try:
            period = period_seconds(expression)
        except ScheduleError as exc:
            raise ConfigError(f"SCHEDULE_EXPRESSION: {exc}") from exc
        if period is None:
            raise ConfigError("SCHEDULE_EXPRESSION must be a rate(...): a cron schedule has no period to budget by")
        return cls(
            table_name=_require(env, "TABLE_NAME"),
            queue_url=_require(env, "QUEUE_URL"),
            requests_per_minute=_positive_int(env, "WIKI_REQUESTS_PER_MINUTE"),
            period_seconds=period,
        )


@dataclass(frozen=True)
class ConsumerConfig:
    table_name: str
    results_bucket: str
    results_prefix: str
    language_code: str
    # The Action API endpoint (api.php); empty in the environment means the Wikipedia of language_code.
    text_source_url: str
    user_agent_contact: str
    requests_per_minute: int  # the operator's Wikipedia request budget, shared by ...
    max_concurrency: int  # ... this many consumer instances at most (the event source mapping's cap)
    # The topic label changes are published to; None when the stack's NotifyOnLabelChange is off.
    label_change_topic_arn: str | None = None
    # Where the batch's outcome counts go as metrics (lib/metrics.py); None logs the counts only.
    metrics: MetricsTarget | None = None
    # Where compaction's manifests are (docs/dataset.md): the recovery check reads them.
    manifests_prefix: str = MANIFESTS_PREFIX

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ConsumerConfig:
        env = os.environ if env is None else env
        prefix = _require(env, "RESULTS_PREFIX").strip("/")
        return cls(
            table_name=_require(env, "TABLE_NAME"),
            results_bucket=_require(env, "RESULTS_BUCKET"),
            results_prefix=prefix,
            language_code=_require(env, "LANGUAGE_CODE"),
            text_source_url=_present(env, "TEXT_SOURCE_URL") or api_url(_require(env, "LANGUAGE_CODE")),
            # Wikimedia's User-Agent policy asks clients for a contact (URL or e-mail address).
            user_agent_contact=_require(env, "USER_AGENT_CONTACT"),
            requests_per_minute=_positive_int(env, "WIKI_REQUESTS_PER_MINUTE"),
            max_concurrency=_positive_int(env, "CONSUMER_MAX_CONCURRENCY"),
            label_change_topic_arn=_present(env, "LABEL_CHANGE_TOPIC_ARN"),
            metrics=MetricsTarget(_require(env, "METRICS_NAMESPACE"), _require(env, "STACK_NAME")),
            manifests_prefix=(env.get("MANIFESTS_PREFIX", "").strip("/") or MANIFESTS_PREFIX),
        )


@dataclass(frozen=True)
class CompactorConfig:
    results_bucket: str
    results_prefix: str
    manifests_prefix: str

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> CompactorConfig:
        env = os.environ if env is None else env
        return cls(
            results_bucket=_require(env, "RESULTS_BUCKET"),
            results_prefix=_require(env, "RESULTS_PREFIX").strip("/"),
            manifests_prefix=_require(env, "MANIFESTS_PREFIX").strip("/"),
        )
