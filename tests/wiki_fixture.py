"""The `wiki_server` pytest fixture: the loopback MediaWiki Action API server local mode uses.

The server lives in `watchlist_workstation.local.textserver`, shared with local mode.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from watchlist_workstation.local.textserver import Page, RecordedRequest, Scripted, TextServer

__all__ = ["Page", "RecordedRequest", "Scripted", "TextServer", "wiki_server"]


@pytest.fixture
def wiki_server() -> Iterator[TextServer]:
    """A running server with no pages; configure it in the test, give `api_url` to the client."""
    server = TextServer().start()
    try:
        yield server
    finally:
        server.stop()
    assert not server.errors, "text server handler failed:\n" + "\n".join(server.errors)
