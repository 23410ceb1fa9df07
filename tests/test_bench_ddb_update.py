"""The UpdateItem bench drives the consumer's own write (lib/state.py) against shipped and patched moto."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

# The bench starts moto servers as processes.
pytestmark = pytest.mark.servers

ROOT = Path(__file__).resolve().parents[1]


def test_the_bench_writes_through_the_consumers_save_and_every_write_is_accepted(tmp_path):
    # GIVEN a short run WHEN the bench runs against both servers
    out = tmp_path / "ddb_update.json"
    command = [sys.executable, "-m", "bench.ddb_update", "--items", "20", "--seconds", "1", "--json-out", str(out)]
    finished = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    # THEN it measured calls on both (its CPU verdict is the bench's, not this test's: one second is too short)
    assert out.is_file(), finished.stderr
    figures = json.loads(out.read_text())
    assert figures["figures"]["shipped"]["calls"] > 0 and figures["figures"]["local mode"]["calls"] > 0
    # AND every write passed the consumer's conditions, so what it timed is the write the consumer makes
    assert figures["refused_writes"] == 0, finished.stdout
