"""SQL over the dataset: in Athena on AWS (athena.py) and with DuckDB over the local stack's objects (local.py),
under the same table name, so one query runs in both (docs/sql.md)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class QueryError(RuntimeError):
    """The query did not run: the engine's reason, in one line."""


def one_line(text: str) -> str:
    """An engine's message on one line (their messages span several, with the query quoted)."""
    return " ".join(str(text).split())


@dataclass(frozen=True)
class QueryResult:
    """A query's columns (name, engine type) and its rows, each a tuple in the columns' order."""

    columns: tuple[tuple[str, str], ...]
    rows: tuple[tuple[Any, ...], ...]

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.columns]
