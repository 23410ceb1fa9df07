"""The dashboard in a real browser: `./cfcli.py --local serve` over a local stack, driven by headless chromium.

The local stack runs the shipped watchlist through the pipeline three times, with three companies'
texts rewritten between runs, so their history has three analyses each. `cfcli.py --local serve`
runs as its own process, as a person would start it. The screenshots are kept as test artifacts in
$TEST_ARTIFACTS_DIR (default test-artifacts/); `make screenshot` writes the ones docs/cli.md shows into docs/.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import ddb_ops
from tests.stack_fixture import ROOT
from tests.webdriver import Browser
from watchlist_workstation.cli.watchlist import read_names
from watchlist_workstation.local.stack import LocalStack

ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS_DIR", ROOT / "test-artifacts"))
LABELS = {"POSITIVE", "NEGATIVE", "NEUTRAL", "MIXED"}
# Three rewrites per company: the tone swings, so the chart's lines move.
REWRITES = {
    "Netflix": [
        "Netflix faced a painful quarter: subscribers left, losses mounted and critics called its plans a failure.",
        "Netflix recovered strongly; its acclaimed shows delighted viewers and its growth impressed investors.",
    ],
    "Intel": [
        "Intel celebrated record demand, praised products and an excellent, successful year for its factories.",
        "Intel suffered layoffs, delays and heavy losses, and regulators criticised its troubled, failing plans.",
    ],
    "Nokia": [
        "Nokia's network business struggled with weak sales, lawsuits and disappointing, costly mistakes.",
        "Nokia's networks won admired contracts and its research earned awards and enthusiastic praise.",
    ],
}
DRAIN_SECONDS = 180
SERVE_START_SECONDS = 60


@pytest.fixture(scope="module")
def analysed(tmp_path_factory) -> Iterator[tuple[LocalStack, list[str], Path]]:
    """A local stack whose results hold the sample watchlist once, and REWRITES' companies three times."""
    base = tmp_path_factory.mktemp("dashboard-browser")
    state_dir = base / "state"
    stack = LocalStack(state_dir=state_dir, results_dir=base / "results").start()
    try:
        sample = read_names((), str(ROOT / "data" / "watchlist.txt"), "add")
        names = sample.names
        assert set(REWRITES) <= set(names)
        ddb_ops.items_add(stack.outputs["TableName"], names, stack.client("dynamodb"), titles=sample.titles)
        for round_ in range(3):
            if round_:
                for title, texts in REWRITES.items():
                    stack.text_server.add_page(title, texts[round_ - 1])
            tick, drained = stack.lambda_service.fire_and_drain(timeout=DRAIN_SECONDS)
            assert tick.ok and not drained.timed_out and drained.failed == 0
        yield stack, names, state_dir
    finally:
        stack.stop(save=False)


@pytest.fixture(scope="module")
def dashboard_url(analysed) -> Iterator[str]:
    """`cfcli.py --local serve --port 0` as its own process; its URL read from its stderr line."""
    _, _, state_dir = analysed
    env = {**os.environ, "CFCLI_LOCAL_STATE_DIR": str(state_dir)}
    log = state_dir / "serve.stderr"
    with log.open("w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "cfcli.py", "--local", "serve", "--port", "0"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    try:
        deadline = time.monotonic() + SERVE_START_SECONDS
        url = None
        while url is None and time.monotonic() < deadline:
            assert process.poll() is None, f"serve exited: {log.read_text()}"
            found = re.search(r"at (http://127\.0\.0\.1:\d+/) \(Ctrl-C stops\)", log.read_text())
            url = found.group(1) if found else time.sleep(0.2)
        assert url, f"serve printed no URL within {SERVE_START_SECONDS} s: {log.read_text()}"
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with Browser() as session:
        yield session


def test_the_page_lists_every_company_with_its_latest_sentiment(analysed, dashboard_url, browser):
    _, names, _ = analysed
    # WHEN the dashboard opens
    browser.get(dashboard_url)
    # THEN it shows one row per company on the watchlist, each with a label and four scores
    rows = browser.find_all("#latest tbody tr.result", at_least=len(names))
    shown = [row.find_all("td.name a")[0].text for row in rows]
    assert sorted(shown) == sorted(names)
    for row in rows:
        cells = [cell.text for cell in row.find_all("td")]
        assert cells[1] in LABELS
        assert all(0.0 <= float(score) <= 1.0 for score in cells[2:6])
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", cells[6])
    assert f"{len(names)} companies" in browser.find("#summary").text
    browser.resize(1280, 1500)
    path = browser.screenshot(ARTIFACTS / "dashboard.png")
    assert path.stat().st_size > 10_000


def test_a_company_page_charts_its_history(analysed, dashboard_url, browser):
    # GIVEN the list WHEN a company whose text changed twice is clicked
    browser.resize(1280, 900)
    browser.get(dashboard_url)
    netflix = [link for link in browser.find_all("td.name a") if link.text == "Netflix"]
    assert len(netflix) == 1
    netflix[0].click()
    # THEN its page charts three analyses for each of the four scores
    browser.wait_for_url("/companies/Netflix")
    chart = browser.find("svg#history-chart")
    assert chart.attribute("data-analyses") == "3"
    series = chart.find_all("g.series", at_least=4)
    assert sorted(group.attribute("data-score") for group in series) == ["mixed", "negative", "neutral", "positive"]
    for group in series:
        assert len(group.find_all("circle", at_least=3)) == 3 and len(group.find_all("polyline")) == 1
    # AND the chart was laid out by the browser (it has a size), and the table lists the three texts
    size = browser.script("const r = arguments[0].getBoundingClientRect(); return [r.width, r.height];", chart)
    assert size[0] > 300 and size[1] > 100
    texts = [cell.text for cell in browser.find_all("#history td.text", at_least=3)]
    assert texts[0].startswith("Netflix recovered strongly") and texts[1].startswith("Netflix faced")
    path = browser.screenshot(ARTIFACTS / "dashboard-company.png")
    assert path.stat().st_size > 10_000


def test_the_json_view_is_pretty_printed(analysed, dashboard_url, browser):
    # GIVEN a company page WHEN its JSON link is followed
    browser.get(dashboard_url + "companies/Netflix")
    browser.find("#json-link").click()
    # THEN the browser shows indented JSON holding the company's three analyses
    browser.wait_for_url("/api/companies/Netflix")
    raw = browser.find("pre").text
    assert raw.startswith('{\n  "name": "Netflix"')
    data = json.loads(raw)
    assert len(data["history"]) == 3 and data["latest"] == data["history"][-1]
    assert data["latest"]["text"].startswith("Netflix recovered strongly")
    browser.screenshot(ARTIFACTS / "dashboard-json.png")
