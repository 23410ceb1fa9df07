"""Company text from the Wikipedia REST API's page summary endpoint.

One `TextSource` lives per cold start and is shared by the consumer's fetch threads.
Every failure surfaces as a `TextSourceError`: permanent ones (the page is missing or
useless) are recorded against the company, transient ones send the message back to
the queue. Waiting is bounded twice: by the attempt budget and by the caller's deadline,
so a throttled source costs queue delay rather than Lambda time.

Only the standard library and urllib3 are used: the Lambda runtime ships urllib3 as
botocore's dependency, so the layer needs nothing extra for this module.
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
from dataclasses import dataclass
from datetime import UTC
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

import urllib3
from urllib3.exceptions import DecodeError, HTTPError, LocationValueError, NewConnectionError
from urllib3.exceptions import TimeoutError as Urllib3Timeout

from lib import PROJECT_NAME, __version__
from lib.limits import (
    TEXT_CONNECT_TIMEOUT,
    TEXT_MAX_ATTEMPTS,
    TEXT_MAX_BODY_BYTES,
    TEXT_MAX_REDIRECTS,
    TEXT_MAX_RETRY_AFTER,
    TEXT_READ_TIMEOUT,
)

# A child of lib.log's "pipeline" logger, so lines go out through its JSON handler with the
# correlation id, without this module importing python-json-logger.
log = logging.getLogger("pipeline.textsource")

_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_BACKOFF_BASE = 0.5
_CHUNK_BYTES = 64 * 1024
# Error and redirect bodies up to this size are read off so the kept-alive connection can be
# reused; a longer one costs a new connection instead of the wait.
_DRAIN_MAX_BYTES = 64 * 1024
# The consumer fetches with 8 threads; a pool slot for each plus headroom avoids throwaway connections.
_POOL_MAXSIZE = 10


@dataclass(frozen=True)
class Summary:
    """A fresh page summary."""

    title: str  # the page title after redirects (the JSON "title")
    text: str  # the JSON "extract"
    etag: str | None  # the ETag response header, for If-None-Match next time
    source_url: str  # content_urls.desktop.page from the JSON, else the URL fetched


@dataclass(frozen=True)
class NotModified:
    """304: the stored text is still current."""

    etag: str | None


class TextSourceError(Exception):
    """A fetch that produced no usable text; `reason` is a short stable code for logs and state."""

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
    """The source could not answer now; the message should go back to the queue."""


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


def summary_url(base_url: str, title: str) -> str:
    """The summary endpoint URL for a title, with every reserved character of the title encoded.

    Nothing is left safe: an unencoded "/" would address a subpage, "?" and "#" would end
    the path, and a ":" in a relative redirect would read as a URL scheme.
    """
    title = title.strip()
    if not title:
        raise PermanentTextError("bad_title", "the title is empty")
    return f"{base_url.rstrip('/')}/page/summary/{quote(title.replace(' ', '_'), safe='')}"


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


class TextSource:
    """Fetches page summaries; one instance per process, safe to share between threads."""

    def __init__(
        self,
        base_url: str,
        contact: str,
        *,
        pool: urllib3.PoolManager | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        connect_timeout: float = TEXT_CONNECT_TIMEOUT,
        read_timeout: float = TEXT_READ_TIMEOUT,
    ):
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"text source base URL must be an http(s) URL, got {base_url!r}")
        self._base_url = base_url.rstrip("/")
        self._headers = {
            "User-Agent": user_agent(contact),
            "Accept": "application/json",
            # Summaries are a few KB; identity keeps the size cap a cap on bytes received, with
            # no decompression step whose memory use depends on the urllib3 version in the runtime.
            "Accept-Encoding": "identity",
        }
        self._pool = pool
        self._pool_lock = threading.Lock()
        self._sleep = sleep
        self._clock = clock
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout

    def fetch_summary(
        self, title: str, etag: str | None = None, deadline: float | None = None
    ) -> Summary | NotModified:
        """Fetch one title's summary, conditionally when `etag` is given.

        `deadline` is a value of this source's `clock`; no attempt starts and no wait is
        begun that would end after it.
        """
        url = summary_url(self._base_url, title)
        headers = dict(self._headers)
        if etag:
            headers["If-None-Match"] = etag
        attempt = 0
        while True:
            attempt += 1
            timeout = self._attempt_timeout(title, deadline)
            try:
                return self._attempt(url, title, headers, etag, timeout)
            except _Retryable as failure:
                last = failure
            if attempt >= TEXT_MAX_ATTEMPTS:
                raise TransientTextError(
                    last.reason,
                    f"{last.message} (after {attempt} attempts)",
                    status=last.status,
                    retry_after=last.retry_after,
                ) from last.__cause__
            if last.retry_after is not None:
                if last.retry_after > TEXT_MAX_RETRY_AFTER:
                    raise TransientTextError(
                        "retry_after_too_long",
                        f"source asked to wait {last.retry_after:.0f} s, more than {TEXT_MAX_RETRY_AFTER:.0f} s",
                        status=last.status,
                        retry_after=last.retry_after,
                    )
                wait = last.retry_after
            else:
                wait = _backoff(attempt)
            if deadline is not None and self._clock() + wait > deadline:
                raise TransientTextError(
                    "deadline",
                    f"waiting {wait:.2f} s after {last.reason} would pass the deadline",
                    status=last.status,
                    retry_after=last.retry_after,
                )
            log.info(
                "text fetch retrying",
                extra={"page_title": title, "attempt": attempt, "reason": last.reason, "wait_seconds": round(wait, 3)},
            )
            self._sleep(wait)

    def close(self) -> None:
        """Drop pooled connections (tests and local mode; a Lambda just freezes)."""
        with self._pool_lock:
            if self._pool is not None:
                self._pool.clear()

    def _pool_manager(self) -> urllib3.PoolManager:
        pool = self._pool
        if pool is None:
            with self._pool_lock:
                if self._pool is None:
                    self._pool = urllib3.PoolManager(
                        maxsize=_POOL_MAXSIZE, block=False, retries=False, cert_reqs="CERT_REQUIRED"
                    )
                pool = self._pool
        return pool

    def _attempt_timeout(self, title: str, deadline: float | None) -> urllib3.Timeout:
        if deadline is None:
            return urllib3.Timeout(connect=self._connect_timeout, read=self._read_timeout)
        remaining = deadline - self._clock()
        if remaining <= 0:
            raise TransientTextError("deadline", f"no time left to fetch {title!r}")
        # A request must not outlive the deadline either, or a stalled source eats the invocation.
        return urllib3.Timeout(connect=min(self._connect_timeout, remaining), read=min(self._read_timeout, remaining))

    def _attempt(
        self, url: str, title: str, headers: Mapping[str, str], etag: str | None, timeout: urllib3.Timeout
    ) -> Summary | NotModified:
        """One attempt, redirects included; raises _Retryable for what the next attempt may fix."""
        current = url
        try:
            for _hop in range(TEXT_MAX_REDIRECTS + 1):
                # Redirects are followed here, not by urllib3, to count them and to vet each Location.
                response = self._pool_manager().request(
                    "GET",
                    current,
                    headers=headers,
                    timeout=timeout,
                    retries=False,
                    redirect=False,
                    preload_content=False,
                )
                try:
                    status = response.status
                    if status in _REDIRECT_STATUSES:
                        current = _redirect_target(current, response.headers.get("Location"), status)
                        continue
                    if status == 200:
                        return _parse_summary(_read_capped(response), title, response.headers.get("ETag"), current)
                    return _non_200(status, response.headers, etag)
                finally:
                    _release(response)
        except NewConnectionError as exc:
            # Checked before the timeout branch: urllib3 derives NewConnectionError from ConnectTimeoutError.
            raise _Retryable("connection", f"cannot connect: {exc}") from exc
        except Urllib3Timeout as exc:
            raise _Retryable("timeout", f"timed out: {exc}") from exc
        except (DecodeError, LocationValueError) as exc:
            raise TransientTextError("malformed", f"unreadable response: {exc}") from exc
        except (HTTPError, http.client.HTTPException, OSError) as exc:
            raise _Retryable("connection", f"connection failed: {exc}") from exc
        raise PermanentTextError("too_many_redirects", f"more than {TEXT_MAX_REDIRECTS} redirects from {url}")


def _backoff(attempt: int) -> float:
    # "Equal jitter": half the exponential step is fixed so retries always spread out,
    # half is random so threads throttled together do not return together.
    step = _BACKOFF_BASE * 2 ** (attempt - 1)
    return step / 2 + random.uniform(0, step / 2)  # noqa: S311 - jitter, not a secret


def _redirect_target(current: str, location: str | None, status: int) -> str:
    if not location:
        raise PermanentTextError("bad_redirect", f"HTTP {status} without a Location", status=status)
    target = urljoin(current, location)
    scheme = urlsplit(target).scheme
    if scheme not in ("http", "https"):
        raise PermanentTextError("bad_redirect", f"redirect to a {scheme or 'schemeless'} URL", status=status)
    if urlsplit(current).scheme == "https" and scheme == "http":
        raise PermanentTextError("bad_redirect", "redirect from https down to http", status=status)
    return target


def _non_200(status: int, headers: Any, etag: str | None) -> NotModified:
    if status == 304:
        if not etag:
            # A 304 to an unconditional request leaves the caller with no text at all.
            raise TransientTextError("malformed", "304 to a request without If-None-Match", status=status)
        return NotModified(etag=headers.get("ETag") or etag)
    if status == 404:
        raise PermanentTextError("not_found", "no such page", status=status)
    if status == 429 or 500 <= status <= 599:
        reason = "http_429" if status == 429 else "http_5xx"
        raise _Retryable(
            reason, f"HTTP {status}", status=status, retry_after=retry_after_seconds(headers.get("Retry-After"))
        )
    if 400 <= status <= 499:
        raise PermanentTextError(f"http_{status}", f"HTTP {status}", status=status)
    raise TransientTextError("malformed", f"unexpected HTTP {status}", status=status)


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


def _parse_summary(body: bytes, requested: str, etag: str | None, fetched_url: str) -> Summary:
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as exc:
        # ValueError covers bad JSON and bad UTF-8; RecursionError, absurdly nested arrays.
        raise TransientTextError("malformed", "summary is not JSON") from exc
    if not isinstance(data, dict):
        raise TransientTextError("malformed", "summary is not a JSON object")
    page_type = data.get("type")
    if page_type == "disambiguation":
        raise PermanentTextError("disambiguation", "the title names a disambiguation page")
    extract = data.get("extract")
    if page_type == "no-extract" or extract is None or (isinstance(extract, str) and not extract.strip()):
        raise PermanentTextError("no_extract", "the page has no summary text")
    if not isinstance(extract, str):
        raise TransientTextError("malformed", "summary extract is not a string")
    title = data.get("title")
    if not isinstance(title, str) or not title:
        title = requested.strip()
    return Summary(title=title, text=extract, etag=etag, source_url=_desktop_url(data) or fetched_url)


def _desktop_url(data: dict[str, Any]) -> str | None:
    urls = data.get("content_urls")
    desktop = urls.get("desktop") if isinstance(urls, dict) else None
    page = desktop.get("page") if isinstance(desktop, dict) else None
    return page if isinstance(page, str) and page else None
