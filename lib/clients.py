"""Cached boto3 client getters.

Clients are created on first use, never at import time, so tests can start moto
or point `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_<SERVICE>` somewhere first; botocore
reads those variables itself, which is how local mode redirects every call
without a branch in this code.
"""

from __future__ import annotations

import functools
from typing import Any

import boto3
from botocore.config import Config

# "standard" retry mode retries throttling and transient errors with jittered exponential
# backoff; Comprehend throttles first, so it gets more attempts than the rest.
_DEFAULT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=30)
_SERVICE_CONFIG = {
    "comprehend": Config(retries={"mode": "standard", "max_attempts": 8}, connect_timeout=5, read_timeout=30),
}


@functools.cache
def client(service: str) -> Any:
    """One client per service per process (boto3 clients are thread-safe)."""
    session = boto3.session.Session()
    return session.client(service, config=_SERVICE_CONFIG.get(service, _DEFAULT_CONFIG))


def reset() -> None:
    """Forget cached clients (tests that switch endpoints or credentials call this)."""
    client.cache_clear()
