"""The dataset's schema is a contract (docs/dataset.md, "Columns"): the documented column table is
lib.dataset_layout.SCHEMA, column for column and type for type, and rows as written carry exactly its columns."""

from __future__ import annotations

import json
import re
from dataclasses import asdict
from pathlib import Path

import pytest

from lib.dataset_layout import SCHEMA, SCHEMA_VERSION, encode_rows
from tests.conftest import result_row
from tests.dataset_checks import assert_written_columns

DOC = Path(__file__).resolve().parents[1] / "docs" / "dataset.md"
_ROW = re.compile(r"^\| `([a-z_0-9]+)` \| ([a-z]+) \|")


def documented_schema(text: str) -> list[tuple[str, str]]:
    """(column, type) of each row of the column table under the "Columns" heading, which names the version."""
    section = text.split("## Columns\n", 1)[1].split("\n## ", 1)[0]
    assert f"`schema_version` {SCHEMA_VERSION}" in section
    return [(m.group(1), m.group(2)) for line in section.splitlines() if (m := _ROW.match(line))]


def test_the_documented_columns_and_types_are_the_schema():
    assert documented_schema(DOC.read_text()) == list(SCHEMA)


def test_the_check_notices_a_column_the_doc_lacks_or_types_differently():
    text = DOC.read_text()
    assert documented_schema(text.replace("| `revision` | bigint |", "| `revision` | int |")) != list(SCHEMA)
    assert documented_schema(text.replace("| `mixed` | double |", "| `mixed_score` | double |")) != list(SCHEMA)


def test_a_written_row_has_exactly_the_schemas_columns_and_the_check_refuses_others():
    # GIVEN a row as the consumer writes it (keys of its own beyond the schema are not written)
    body = encode_rows([asdict(result_row("Acme", "2026-11-27T10:00:00.000000Z")) | {"extra": "dropped"}])
    assert_written_columns("results/dt=2026-11-27/part-0.jsonl", body)
    # THEN the check every reader-side test runs (tests/dataset_checks.py) refuses a line with another key
    line = json.loads(body)
    with pytest.raises(AssertionError, match="a row with the columns"):
        assert_written_columns("results/dt=2026-11-27/part-1.jsonl", json.dumps(line | {"extra": 1}).encode())
