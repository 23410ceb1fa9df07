"""A small W3C WebDriver client for the browser tests: Debian's chromium driven by its chromedriver.

Only what the tests use: open a session, navigate, find elements by CSS selector, read text and
attributes, click, take screenshots, and wait. The protocol is JSON over HTTP on loopback, so the
standard library is enough and no driver download can happen behind the test's back (selenium would
do as well, but brings a dozen packages and a driver manager that reaches for the network when a path
is missing; this is the part of it the tests need).

Waiting follows selenium's WebDriverWait: a condition is polled until it holds or a bounded timeout
runs out, and "no such element" or "stale element reference" while polling only means "not yet". A
timeout raises WaitTimeout naming what was awaited and the last thing seen. `find` and `find_all`
wait for their elements; after a click that navigates, `wait_for_url` waits for the new page and for
its document to finish loading. No test sleeps.

Chromium is told not to reach anything but loopback: every host name but 127.0.0.1 and localhost
resolves to nothing, and its background services (updates, sync, metrics) are off.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

# Debian's packages by default; CHROMIUM and CHROMEDRIVER point elsewhere (e.g. a CI image's Chrome).
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")
ELEMENT_KEY = "element-6066-11e4-a52e-4f735466cecf"  # the W3C spec's name for an element reference
T = TypeVar("T")

CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",  # the tests run as root in CI, where chromium's sandbox cannot start
    "--disable-dev-shm-usage",
    "--disable-gpu",
    "--window-size=1280,900",
    "--hide-scrollbars",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-domain-reliability",
    "--disable-client-side-phishing-detection",
    "--disable-features=Translate,OptimizationHints,MediaRouter",
    "--metrics-recording-only",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost",
]


# How long a wait may take by default, and how often it looks again.
WAIT_SECONDS = 15.0
POLL_SECONDS = 0.1
# W3C error codes that mean "not there yet" while a page is still loading or changing.
NOT_YET = frozenset({"no such element", "stale element reference"})


class WebDriverError(RuntimeError):
    def __init__(self, message: str, error: str | None = None) -> None:
        super().__init__(message)
        self.error = error  # the W3C error code, e.g. "no such element"


class WaitTimeout(WebDriverError):
    """A condition did not hold within its timeout."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Element:
    def __init__(self, browser: Browser, reference: str) -> None:
        self.browser, self.reference = browser, reference

    def _path(self, suffix: str) -> str:
        return f"/element/{self.reference}/{suffix}"

    @property
    def text(self) -> str:
        return self.browser._session_call("GET", self._path("text"))

    def attribute(self, name: str) -> str | None:
        return self.browser._session_call("GET", self._path(f"attribute/{name}"))

    def click(self) -> None:
        self.browser._session_call("POST", self._path("click"), {})

    def find_all(self, selector: str, *, at_least: int = 1) -> list[Element]:
        """The descendants matching `selector`, once there are at least `at_least` of them."""

        def found() -> list[Element] | None:
            items = self.browser._session_call("POST", self._path("elements"), _css(selector))
            return [Element(self.browser, item[ELEMENT_KEY]) for item in items] if len(items) >= at_least else None

        return self.browser.wait_until(found, f"at least {at_least} of {selector!r} inside an element")


class Browser:
    """One headless chromium session; use as a context manager so the driver always stops."""

    def __init__(self, *, timeout: float = 30.0) -> None:
        for program in (CHROMIUM, CHROMEDRIVER):
            if not shutil.which(program):
                raise WebDriverError(f"{program} is missing: install Debian's chromium and chromium-driver")
        self.timeout = timeout
        self.port = _free_port()
        self._driver: subprocess.Popen | None = None
        self.session_id: str | None = None

    def __enter__(self) -> Browser:
        self._driver = subprocess.Popen(
            [CHROMEDRIVER, f"--port={self.port}", "--allowed-ips=127.0.0.1"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            self._wait_ready()
            capabilities = {"browserName": "chrome", "goog:chromeOptions": {"binary": CHROMIUM, "args": CHROMIUM_ARGS}}
            created = self._call("POST", "/session", {"capabilities": {"alwaysMatch": capabilities}})
            self.session_id = created["sessionId"]
        except BaseException:
            self._stop_driver()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            if self.session_id:
                self._call("DELETE", f"/session/{self.session_id}")
        finally:
            self._stop_driver()

    # -- commands -------------------------------------------------------------------------

    def get(self, url: str) -> None:
        self._session_call("POST", "/url", {"url": url})

    @property
    def current_url(self) -> str:
        return self._session_call("GET", "/url")

    def find(self, selector: str) -> Element:
        """The first element matching `selector`, once there is one."""
        found = self.wait_until(lambda: self._session_call("POST", "/element", _css(selector)), repr(selector))
        return Element(self, found[ELEMENT_KEY])

    def find_all(self, selector: str, *, at_least: int = 1) -> list[Element]:
        """Every element matching `selector`, once there are at least `at_least` of them."""

        def found() -> list[Element] | None:
            items = self._session_call("POST", "/elements", _css(selector))
            return [Element(self, item[ELEMENT_KEY]) for item in items] if len(items) >= at_least else None

        return self.wait_until(found, f"at least {at_least} of {selector!r}")

    def wait_until(self, condition: Callable[[], T], what: str, *, timeout: float = WAIT_SECONDS) -> T:
        """Poll `condition` until it returns something truthy, and return that; WaitTimeout after `timeout` s."""
        deadline = time.monotonic() + timeout
        last: object = None
        while True:
            try:
                value = condition()
            except WebDriverError as exc:
                if exc.error not in NOT_YET:
                    raise
                value, last = None, exc
            else:
                last = value
            if value:
                return value
            if time.monotonic() >= deadline:
                raise WaitTimeout(f"waited {timeout:.0f} s for {what}; last seen: {str(last)[:200]}")
            time.sleep(POLL_SECONDS)

    def wait_for_url(self, suffix: str, *, timeout: float = WAIT_SECONDS) -> str:
        """After a click that navigates: wait until the page's URL ends with `suffix` and its document has loaded."""

        def arrived() -> str | None:
            url = self.current_url
            return url if url.endswith(suffix) and self.script("return document.readyState") == "complete" else None

        return self.wait_until(arrived, f"a loaded page whose URL ends with {suffix!r}", timeout=timeout)

    def script(self, source: str, *args: Any) -> Any:
        """Run a script in the page (WebDriver's own channel; the page itself carries no script)."""
        wire = [{ELEMENT_KEY: arg.reference} if isinstance(arg, Element) else arg for arg in args]
        return self._session_call("POST", "/execute/sync", {"script": source, "args": wire})

    def screenshot(self, path: Path) -> Path:
        return _write_png(path, self._session_call("GET", "/screenshot"))

    def resize(self, width: int, height: int) -> None:
        self._session_call("POST", "/window/rect", {"width": width, "height": height})

    # -- transport ------------------------------------------------------------------------

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self._driver is not None and self._driver.poll() is not None:
                raise WebDriverError(f"chromedriver exited with status {self._driver.returncode}")
            try:
                if self._call("GET", "/status").get("ready"):
                    return
            except (OSError, WebDriverError):
                pass
            time.sleep(0.1)
        raise WebDriverError(f"chromedriver was not ready within {self.timeout:.0f} s")

    def _session_call(self, method: str, path: str, body: Any = None) -> Any:
        return self._call(method, f"/session/{self.session_id}{path}", body)

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                answer = json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            detail = json.loads(exc.read() or b"{}").get("value", {})
            error = detail.get("error")
            raise WebDriverError(f"{method} {path}: {error}: {detail.get('message', '')[:300]}", error) from exc
        return answer.get("value")

    def _stop_driver(self) -> None:
        if self._driver is not None and self._driver.poll() is None:
            self._driver.terminate()
            try:
                self._driver.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._driver.kill()
                self._driver.wait()


def _css(selector: str) -> dict[str, str]:
    return {"using": "css selector", "value": selector}


def _write_png(path: Path, encoded: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(base64.b64decode(encoded))
    return path
