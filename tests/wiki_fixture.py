"""The `wiki_server` pytest fixture over the loopback summary API server.

The server lives in `watchlist_workstation.local.textserver`, shared with local mode; its names are
re-exported here so tests and the benchmark keep importing them from this module.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from watchlist_workstation.local.textserver import (
    API_PREFIX,
    PROBLEM_CONTENT_TYPE,
    SUMMARY_CONTENT_TYPE,
    SUMMARY_PREFIX,
    Page,
    RecordedRequest,
    Scripted,
    TextServer,
    WikiServer,
    title_key,
)

__all__ = [
    "API_PREFIX",
    "PROBLEM_CONTENT_TYPE",
    "SUMMARY_CONTENT_TYPE",
    "SUMMARY_PREFIX",
    "Page",
    "RecordedRequest",
    "Scripted",
    "TextServer",
    "WikiServer",
    "title_key",
    "wiki_server",
]


@pytest.fixture
def wiki_server() -> Iterator[TextServer]:
    """A running server with no pages; configure it in the test, read `base_url` for the client."""
    server = TextServer().start()
    try:
        yield server
    finally:
        server.stop()
    assert not server.errors, "text server handler failed:\n" + "\n".join(server.errors)
