"""Configuration read from the environment the template sets.

Each handler builds its config once per cold start. A missing variable fails fast
with its name instead of falling back to a silent default.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass


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


@dataclass(frozen=True)
class ProducerConfig:
    table_name: str
    queue_url: str

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ProducerConfig:
        env = os.environ if env is None else env
        return cls(table_name=_require(env, "TABLE_NAME"), queue_url=_require(env, "QUEUE_URL"))


@dataclass(frozen=True)
class ConsumerConfig:
    table_name: str
    results_bucket: str
    results_prefix: str
    language_code: str
    text_source_url: str
    user_agent_contact: str
    # The topic label changes are published to; None when the stack's NotifyOnLabelChange is off.
    label_change_topic_arn: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ConsumerConfig:
        env = os.environ if env is None else env
        prefix = _require(env, "RESULTS_PREFIX").strip("/")
        return cls(
            table_name=_require(env, "TABLE_NAME"),
            results_bucket=_require(env, "RESULTS_BUCKET"),
            results_prefix=prefix,
            language_code=_require(env, "LANGUAGE_CODE"),
            text_source_url=_require(env, "TEXT_SOURCE_URL").rstrip("/"),
            # Wikimedia's User-Agent policy asks clients for a contact (URL or e-mail address).
            user_agent_contact=_require(env, "USER_AGENT_CONTACT"),
            label_change_topic_arn=_present(env, "LABEL_CHANGE_TOPIC_ARN"),
        )
