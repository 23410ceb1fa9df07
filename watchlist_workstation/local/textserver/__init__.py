"""Local mode's text source: a loopback server speaking the Wikipedia REST API's page summary endpoint.

Local mode points the consumer's `TextSource` here instead of at Wikipedia, and the tests use the
same server as their fake (tests/wiki_fixture.py). Only the standard library is used (local/loopback.py,
which the server is built on, included), so nothing here needs pytest.

    pages.py     the pages served and the data folders they are read from (data/companies/)
    server.py    TextServer: the summary endpoint over HTTP, scripted faults, the request log
    cli.py       python -m watchlist_workstation.local.textserver: serve a data folder until Ctrl-C
"""

from watchlist_workstation.local.textserver.cli import main
from watchlist_workstation.local.textserver.pages import (
    DEFAULT_DATA,
    PAGE_TYPES,
    TONES,
    DataFolderError,
    Page,
    load_pages,
    load_redirects,
    title_file_name,
    title_key,
)
from watchlist_workstation.local.textserver.server import (
    API_PREFIX,
    PROBLEM_CONTENT_TYPE,
    SUMMARY_CONTENT_TYPE,
    SUMMARY_PREFIX,
    RecordedRequest,
    Scripted,
    TextServer,
    WikiServer,
)

__all__ = [
    "API_PREFIX",
    "DEFAULT_DATA",
    "PAGE_TYPES",
    "PROBLEM_CONTENT_TYPE",
    "SUMMARY_CONTENT_TYPE",
    "SUMMARY_PREFIX",
    "TONES",
    "DataFolderError",
    "Page",
    "RecordedRequest",
    "Scripted",
    "TextServer",
    "WikiServer",
    "load_pages",
    "load_redirects",
    "main",
    "title_file_name",
    "title_key",
]
