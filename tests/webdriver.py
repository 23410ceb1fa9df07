"""A small W3C WebDriver client for the browser tests: Debian's chromium driven by its chromedriver.

Only what the tests use: open a session, navigate, find elements by CSS selector, read text and
attributes, click, take screenshots. The protocol is JSON over HTTP on loopback, so the standard
library is enough and no driver download can happen behind the test's back.

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
from pathlib import Path
from typing import Any

# Debian's packages by default; CHROMIUM and CHROMEDRIVER point elsewhere (e.g. a CI image's Chrome).
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")
ELEMENT_KEY = "element-6066-11e4-a52e-4f735466cecf"  # the W3C spec's name for an element reference

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


class WebDriverError(RuntimeError):
    pass


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

    def find_all(self, selector: str) -> list[Element]:
        found = self.browser._session_call("POST", self._path("elements"), _css(selector))
        return [Element(self.browser, item[ELEMENT_KEY]) for item in found]


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
        found = self._session_call("POST", "/element", _css(selector))
        return Element(self, found[ELEMENT_KEY])

    def find_all(self, selector: str) -> list[Element]:
        return [Element(self, item[ELEMENT_KEY]) for item in self._session_call("POST", "/elements", _css(selector))]

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
            raise WebDriverError(f"{method} {path}: {detail.get('error')}: {detail.get('message', '')[:300]}") from exc
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
