"""The API-call benchmark's own checks hold on a small run (the figures in docs/benchmarks.md use 100 companies)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.servers  # the benchmark runs as a process of its own, with its own loopback servers
def test_api_call_budget_holds_for_fifty_companies():
    # GIVEN 50 companies WHEN the benchmark runs both runs THEN every budget it checks passes
    result = subprocess.run(
        [sys.executable, "-m", "bench.api_calls", "--companies", "50"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "FAIL" not in result.stdout
    assert "PASS  second run: 0 Comprehend calls" in result.stdout
