"""Local mode's text source: a loopback server speaking the MediaWiki Action API.

Local mode points the consumer's text source here instead of at Wikipedia, and the tests use the same
server as their fake (tests/wiki_fixture.py). Only the standard library is used (local/loopback.py,
which the server is built on, included), so nothing here needs pytest.

    pages.py       the pages served and the data folders they are read from (data/companies/)
    store.py       the wiki: pages with page ids and growing revision ids, redirects, title rules
    action_api.py  the answers to action=query, shaped as MediaWiki documents them
    server.py      TextServer: the API over HTTP, scripted faults, the request log, the in-flight count
    cli.py         python -m watchlist_workstation.local.textserver: serve a data folder until Ctrl-C
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
from watchlist_workstation.local.textserver.server import API_PATH, RecordedRequest, Scripted, TextServer
from watchlist_workstation.local.textserver.store import InvalidTitle, WikiStore, normalize_title

__all__ = [
    "API_PATH",
    "DEFAULT_DATA",
    "PAGE_TYPES",
    "TONES",
    "DataFolderError",
    "InvalidTitle",
    "Page",
    "RecordedRequest",
    "Scripted",
    "TextServer",
    "WikiStore",
    "load_pages",
    "load_redirects",
    "main",
    "normalize_title",
    "title_file_name",
    "title_key",
]
