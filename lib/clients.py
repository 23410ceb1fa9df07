"""Cached boto3 client getters, each call bounded by the invocation's deadline.

Clients are created on first use, never at import time, so tests can start moto
or point `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_<SERVICE>` somewhere first; botocore
reads those variables itself, which is how local mode redirects every call
without a branch in this code.

The deadline (docs/design.md rule 11): a botocore Config fixes its timeouts and attempts when the client is
made, and one call may retry for longer than an invocation has left. So two hooks on each client hold every
attempt to the deadline that `bounded_by` set for the code running now (a context variable:
lib/concurrency.py's threads inherit it):
- before an attempt is sent: it starts only with time for its connect timeout and a short read, and its read
  timeout becomes the time left after connecting, when that is less than the configured one (botocore takes
  a per-request `read_timeout` from the request's context);
- before botocore retries: the retry goes ahead only when the longest backoff botocore may wait, and the
  shortest attempt after it, fit.
Otherwise the call raises DeadlineReached (a BotoCoreError, so callers that hand work back on a failed call
do so here too), and nothing more is sent.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import os
from collections.abc import Iterator
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError
from botocore.retries.standard import RetryContext, StandardRetryConditions

from lib.clock import Deadline
from lib.limits import (
    AWS_CONNECT_TIMEOUT,
    AWS_MAX_ATTEMPTS,
    AWS_MIN_ATTEMPT_SECONDS,
    AWS_READ_TIMEOUT,
    COMPREHEND_MAX_ATTEMPTS,
)

# "standard" retry mode retries throttling and transient errors with jittered exponential
# backoff; Comprehend throttles first, so it gets more attempts than the rest.
_ATTEMPTS = {"comprehend": COMPREHEND_MAX_ATTEMPTS}
# botocore's standard mode waits rand(0, 1) * min(2 ** (attempt - 1), 20) s after a throttle (less after other
# errors), plus up to 5 s more when the service sends x-amz-retry-after (botocore/retries/standard.py,
# ExponentialBackoff); the guard counts the longest of these.
_MAX_BACKOFF = 20.0
_RETRY_AFTER_EXTRA = 5.0

_deadline: contextvars.ContextVar[Deadline | None] = contextvars.ContextVar("aws_call_deadline", default=None)


class DeadlineReached(BotoCoreError):
    fmt = "no time left for {what}: {left:.1f} s to the deadline, {needed:.1f} s needed"


@contextlib.contextmanager
def bounded_by(deadline: Deadline | None) -> Iterator[None]:
    """Calls made by lib.clients' clients inside the block (on any thread lib.concurrency starts) end by
    `deadline`; None lifts the bound."""
    token = _deadline.set(deadline)
    try:
        yield
    finally:
        _deadline.reset(token)


def longest_backoff(attempt: int, retry_after: bool = False) -> float:
    """The longest wait botocore's standard mode may take after failed attempt number `attempt` (1-based)."""
    return min(2.0 ** (attempt - 1), _MAX_BACKOFF) + (_RETRY_AFTER_EXTRA if retry_after else 0.0)


# Local mode only: its moto answers a 1 MB Scan page in up to about 9 s when the producer's four segments
# ask at once (DynamoDB answers in milliseconds), so local mode sets this variable to give its functions a
# longer read timeout (docs/local-mode.md). The deadline bounds every attempt either way; the template
# never sets it.
READ_TIMEOUT_VARIABLE = "PIPELINE_READ_TIMEOUT_SECONDS"


def read_timeout() -> float:
    """Seconds one attempt may wait for its answer: AWS_READ_TIMEOUT unless READ_TIMEOUT_VARIABLE says more."""
    try:
        value = float(os.environ.get(READ_TIMEOUT_VARIABLE, ""))
    except ValueError:
        return AWS_READ_TIMEOUT
    return value if value > 0 else AWS_READ_TIMEOUT


class _Guard:
    """The two hooks of one client (botocore calls each hook with keyword arguments only)."""

    def __init__(self, total_attempts: int, read_seconds: float) -> None:
        self._conditions = StandardRetryConditions(max_attempts=total_attempts)
        self._read_seconds = read_seconds

    def before_send(self, request: Any = None, **_: Any) -> None:
        deadline = _deadline.get()
        if deadline is None:
            return
        left = deadline.left()
        if left < AWS_MIN_ATTEMPT_SECONDS:
            raise DeadlineReached(what="an attempt", left=left, needed=AWS_MIN_ATTEMPT_SECONDS)
        request.context["read_timeout"] = min(self._read_seconds, left - AWS_CONNECT_TIMEOUT)

    def needs_retry(self, **kwargs: Any) -> None:
        deadline = _deadline.get()
        if deadline is None or isinstance(kwargs.get("caught_exception"), DeadlineReached):
            return
        http_response, parsed = kwargs["response"] if kwargs.get("response") is not None else (None, None)
        context = RetryContext(
            attempt_number=kwargs["attempts"],
            operation_model=kwargs.get("operation"),
            http_response=http_response,
            parsed_response=parsed,
            caught_exception=kwargs.get("caught_exception"),
        )
        if not self._conditions.is_retryable(context):
            return  # a success, or an error botocore hands back as it is
        retry_after = http_response is not None and "x-amz-retry-after" in http_response.headers
        needed = longest_backoff(kwargs["attempts"], retry_after) + AWS_MIN_ATTEMPT_SECONDS
        if not deadline.allows(needed):
            raise DeadlineReached(what="a retry", left=deadline.left(), needed=needed)


@functools.cache
def client(service: str) -> Any:
    """One client per service per process (boto3 clients are thread-safe)."""
    attempts = _ATTEMPTS.get(service, AWS_MAX_ATTEMPTS)
    read_seconds = read_timeout()
    config = Config(
        retries={"mode": "standard", "max_attempts": attempts},
        connect_timeout=AWS_CONNECT_TIMEOUT,
        read_timeout=read_seconds,
    )
    made = boto3.session.Session().client(service, config=config)
    # botocore counts the first attempt too: max_attempts retries are total_max_attempts attempts.
    guard = _Guard(made.meta.config.retries["total_max_attempts"], read_seconds)
    # First, so that nothing (moto's in-process mock answers in a before-send hook) runs a refused attempt.
    made.meta.events.register_first("before-send", guard.before_send)
    made.meta.events.register("needs-retry", guard.needs_retry)
    return made


def reset() -> None:
    """Forget cached clients (tests that switch endpoints or credentials call this)."""
    client.cache_clear()
