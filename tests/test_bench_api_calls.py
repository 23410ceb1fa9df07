"""The request-count benchmark's own checks hold on a small run (docs/benchmarks.md shows it at 1,000 companies)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

# The bench runs as its own process.
pytestmark = pytest.mark.servers

ROOT = Path(__file__).resolve().parents[1]


def test_request_budgets_hold_for_a_thousand_companies():
    # GIVEN 1,000 companies (below that the per-tick calls outweigh the per-company ones) WHEN the benchmark runs
    # both ticks THEN every budget it checks passes
    result = subprocess.run(
        [sys.executable, "-m", "bench.api_calls", "--companies", "1000"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "FAIL" not in result.stdout
    assert "PASS  tick 2: 0 intro requests and 0 Comprehend calls" in result.stdout
    assert "PASS  consumer invocations per tick <= 3" in result.stdout
