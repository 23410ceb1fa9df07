"""JSON over HTTP GET with the manners a shared public API asks for: the MediaWiki Action API's transport.

What it does for every request (docs/design.md, "Reading Wikipedia politely"):
- a User-Agent naming the tool, its version and a contact (Wikimedia's User-Agent policy);
- the process-wide pace (lib/pace.py) before each attempt, so requests go in series at the rate the
  operator's budget allows;
- bounded attempts with jittered backoff, and the server's Retry-After on 429 and on the Action API's
  `maxlag` error (which MediaWiki sends with HTTP 200, Retry-After and X-Database-Lag: mediawiki.org,
  Manual:Maxlag_parameter), each wait refused when it would pass the caller's deadline;
- a capped body, so a huge or endless answer cannot exhaust the function's memory.

Every failure surfaces as a TextSourceError: permanent ones (retrying will not help) are recorded
against the company, transient ones send the work back to the queue.

Only the standard library and urllib3 are used: the Lambda runtime ships urllib3 as botocore's
dependency, so the layer needs nothing extra for this module.
"""

from __future__ import annotations

import email.utils
import http.client
import json
import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC
from typing import Any
from urllib.parse import urlencode, urlsplit

import urllib3
from urllib3.exceptions import DecodeError, HTTPError, NewConnectionError
from urllib3.exceptions import TimeoutError as Urllib3Timeout

from lib import PROJECT_NAME, __version__
from lib.limits import (
    TEXT_CONNECT_TIMEOUT,
    TEXT_MAX_ATTEMPTS,
    TEXT_MAX_BODY_BYTES,
    TEXT_MAX_RETRY_AFTER,
    TEXT_READ_TIMEOUT,
)
from lib.pace import Pace, PaceDeadline

# A child of lib.log's "pipeline" logger, so lines go out through its JSON handler with the
# correlation id, without this module importing python-json-logger.
log = logging.getLogger("pipeline.webclient")

_BACKOFF_BASE = 0.5
_CHUNK_BYTES = 64 * 1024
# Error bodies up to this size are read off so the kept-alive connection can be reused.
_DRAIN_MAX_BYTES = 64 * 1024
_POOL_MAXSIZE = 4


class TextSourceError(Exception):
    """A request that produced no usable answer; `reason` is a short stable code for logs and state."""

    def __init__(self, reason: str, message: str, *, status: int | None = None, retry_after: float | None = None):
        # args stay (reason, message) so the exception still pickles and reprs sensibly.
        super().__init__(reason, message)
        self.reason = reason
        self.message = message
        self.status = status
        self.retry_after = retry_after

    def __str__(self) -> str:
        return f"{self.reason}: {self.message}"


class PermanentTextError(TextSourceError):
    """Retrying soon will not help: the page is missing, ambiguous, empty or unusable."""


class TransientTextError(TextSourceError):
    """The source could not answer now; the work should go back to the queue."""


class _Retryable(TextSourceError):
    """An attempt failed in a way another attempt may fix; never leaves this module."""


def user_agent(contact: str) -> str:
    """The User-Agent Wikimedia's policy asks for: tool name/version plus a way to reach its operator."""
    contact = contact.strip()
    if not contact:
        raise ValueError("a User-Agent contact (URL or e-mail address) is required by Wikimedia's policy")
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in contact):
        raise ValueError("the User-Agent contact must not contain control characters")
    return f"{PROJECT_NAME}/{__version__} ({contact}) urllib3/{urllib3.__version__}"


def retry_after_seconds(value: str | None, now: Callable[[], float] = time.time) -> float | None:
    """Seconds to wait per a Retry-After header (delay-seconds or HTTP-date); None when absent or unreadable."""
    if value is None:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        # HTTP-dates are always GMT; "-0000" parses as naive.
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now())


class WebClient:
    """GETs JSON from one HTTP(S) endpoint; one instance per process, safe to share between threads."""

    def __init__(
        self,
        url: str,
        contact: str,
        *,
        pace: Pace | None = None,
        pool: urllib3.PoolManager | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        connect_timeout: float = TEXT_CONNECT_TIMEOUT,
        read_timeout: float = TEXT_READ_TIMEOUT,
    ):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query:
            raise ValueError(f"the text source must be an http(s) URL without a query, got {url!r}")
        self.url = url
        self._headers = {
            "User-Agent": user_agent(contact),
            "Accept": "application/json",
            # identity keeps the size cap a cap on bytes received, with no decompression step whose
            # memory use depends on the urllib3 version in the runtime.
            "Accept-Encoding": "identity",
        }
        self._pace = pace or Pace(0.0, clock=clock, sleep=sleep)
        self._pool = pool
        self._pool_lock = threading.Lock()
        self._sleep, self._clock = sleep, clock
        self._connect_timeout, self._read_timeout = connect_timeout, read_timeout
        self.requests = 0  # attempts sent by this client (the benches count them)

    def get_json(self, params: Mapping[str, str], deadline: float | None = None) -> dict[str, Any]:
        """GET url?params and return the JSON object; `deadline` is a value of this client's clock, and no
        attempt starts and no wait begins that would end after it."""
        target = f"{self.url}?{urlencode(params)}"
        attempt = 0
        while True:
            attempt += 1
            try:
                self._pace.wait(deadline)
            except PaceDeadline as exc:
                raise TransientTextError("deadline", str(exc)) from exc
            timeout = self._attempt_timeout(deadline)
            try:
                return self._attempt(target, timeout)
            except _Retryable as failure:
                last = failure
            if attempt >= TEXT_MAX_ATTEMPTS:
                raise TransientTextError(
                    last.reason, f"{last.message} (after {attempt} attempts)", status=last.status
                ) from last.__cause__
            wait = self._wait_for(last, attempt)
            if deadline is not None and self._clock() + wait > deadline:
                raise TransientTextError(
                    "deadline", f"waiting {wait:.2f} s after {last.reason} would pass the deadline", status=last.status
                )
            log.info("text source retrying", extra={"attempt": attempt, "reason": last.reason, "wait_seconds": wait})
            self._sleep(wait)

    def close(self) -> None:
        """Drop pooled connections (tests and local mode; a Lambda just freezes)."""
        with self._pool_lock:
            if self._pool is not None:
                self._pool.clear()

    @staticmethod
    def _wait_for(failure: TextSourceError, attempt: int) -> float:
        if failure.retry_after is None:
            return _backoff_seconds(attempt)
        if failure.retry_after > TEXT_MAX_RETRY_AFTER:
            raise TransientTextError(
                "retry_after_too_long",
                f"source asked to wait {failure.retry_after:.0f} s, more than {TEXT_MAX_RETRY_AFTER:.0f} s",
                status=failure.status,
                retry_after=failure.retry_after,
            )
        return failure.retry_after

    def _pool_manager(self) -> urllib3.PoolManager:
        with self._pool_lock:
            if self._pool is None:
                self._pool = urllib3.PoolManager(
                    maxsize=_POOL_MAXSIZE, block=False, retries=False, cert_reqs="CERT_REQUIRED"
                )
            return self._pool

    def _attempt_timeout(self, deadline: float | None) -> urllib3.Timeout:
        if deadline is None:
            return urllib3.Timeout(connect=self._connect_timeout, read=self._read_timeout)
        remaining = deadline - self._clock()
        if remaining <= 0:
            raise TransientTextError("deadline", "no time left for a request")
        # A request must not outlive the deadline either, or a stalled source eats the invocation.
        return urllib3.Timeout(connect=min(self._connect_timeout, remaining), read=min(self._read_timeout, remaining))

    def _attempt(self, target: str, timeout: urllib3.Timeout) -> dict[str, Any]:
        """One attempt; raises _Retryable for what the next attempt may fix."""
        self.requests += 1
        try:
            response = self._pool_manager().request(
                "GET", target, headers=self._headers, timeout=timeout, retries=False, redirect=False,
                preload_content=False,
            )  # fmt: skip
            try:
                if response.status != 200:
                    raise _status_error(response.status, response.headers)
                return _api_answer(_read_capped(response), response.headers)
            finally:
                _release(response)
        except NewConnectionError as exc:
            # Checked before the timeout branch: urllib3 derives NewConnectionError from ConnectTimeoutError.
            raise _Retryable("connection", f"cannot connect: {exc}") from exc
        except Urllib3Timeout as exc:
            raise _Retryable("timeout", f"timed out: {exc}") from exc
        except DecodeError as exc:
            raise _Retryable("malformed", f"unreadable response: {exc}") from exc
        except (HTTPError, http.client.HTTPException, OSError) as exc:
            raise _Retryable("connection", f"connection failed: {exc}") from exc


def _backoff_seconds(attempt: int) -> float:
    # "Equal jitter": half the exponential step is fixed so retries always spread out, half is random.
    step = _BACKOFF_BASE * 2 ** (attempt - 1)
    return step / 2 + random.uniform(0, step / 2)  # noqa: S311 - jitter, not a secret


def _status_error(status: int, headers: Any) -> TextSourceError:
    """What a non-200 answer means. The Action API answers its own errors with 200; other statuses come from
    the servers in front of it (Wikimedia's API gateway sends 429 with Retry-After and a text/plain body)."""
    if status == 429 or 500 <= status <= 599:
        reason = "http_429" if status == 429 else "http_5xx"
        return _Retryable(
            reason, f"HTTP {status}", status=status, retry_after=retry_after_seconds(headers.get("Retry-After"))
        )
    if 300 <= status <= 399:
        return PermanentTextError("redirected", f"HTTP {status}: the API endpoint moved", status=status)
    return PermanentTextError(f"http_{status}", f"HTTP {status}", status=status)


def _api_answer(body: bytes, headers: Any) -> dict[str, Any]:
    """The JSON object of a 200 answer; the Action API's `maxlag` error becomes a retry after Retry-After."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise _Retryable("malformed", "the answer is not JSON") from exc
    if not isinstance(data, dict):
        raise _Retryable("malformed", "the answer is not a JSON object")
    error = data.get("error")
    if isinstance(error, dict):
        code = str(error.get("code") or "unknown")
        if code == "maxlag":
            # MediaWiki asks for at least 5 s (Retry-After); a lagged replica usually recovers within that.
            wait = retry_after_seconds(headers.get("Retry-After"))
            raise _Retryable("maxlag", f"database lag {error.get('lag')} s", retry_after=max(wait or 0.0, 5.0))
        raise TransientTextError(f"api_{code}"[:64], str(error.get("info") or code)[:200])
    return data


def _read_capped(response: Any) -> bytes:
    """The body, refused as soon as it is known to exceed TEXT_MAX_BODY_BYTES."""
    declared = response.headers.get("Content-Length")
    if declared is not None and declared.strip().isdigit() and int(declared) > TEXT_MAX_BODY_BYTES:
        response.close()
        raise PermanentTextError("too_large", f"Content-Length {declared} exceeds {TEXT_MAX_BODY_BYTES} bytes")
    chunks: list[bytes] = []
    size = 0
    for chunk in response.stream(_CHUNK_BYTES):
        size += len(chunk)
        if size > TEXT_MAX_BODY_BYTES:
            response.close()
            raise PermanentTextError("too_large", f"body exceeds {TEXT_MAX_BODY_BYTES} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _release(response: Any) -> None:
    """Give the connection back to the pool, or drop it when reading it clean would cost too much."""
    try:
        drained = 0
        for chunk in response.stream(_CHUNK_BYTES):
            drained += len(chunk)
            if drained > _DRAIN_MAX_BYTES:
                response.close()
                break
    except (HTTPError, http.client.HTTPException, OSError):
        response.close()
    finally:
        response.release_conn()
