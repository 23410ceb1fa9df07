"""The local wiki's pages as MediaWiki keeps them: each page with a page id and a current revision id.

Revision ids come from one counter for the whole wiki and only grow, as MediaWiki's do, so rewriting a
page's text (or touching it, an edit outside its intro) gives it a new, larger `lastrevid`. Redirects
are pages of their own in MediaWiki; here they are kept apart and resolved once, as `redirects=1`
resolves them (a redirect to a redirect is not followed).

Titles are normalised the way MediaWiki normalises them for the main namespace of a "first-letter"
wiki (mediawiki.org, Manual:Page title): underscores are spaces, runs of spaces are one, leading and
trailing spaces go, and the first letter is upper case. A title holding one of MediaWiki's illegal
characters (`#<>[]|{}`, control characters) or empty after normalising is invalid.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from watchlist_workstation.local.textserver.pages import Page

# $wgLegalTitleChars leaves these out; a title holding one is invalid (Manual:$wgLegalTitleChars).
_ILLEGAL = re.compile(r"[#<>\[\]|{}\x00-\x1f\x7f]")
MAX_TITLE_BYTES = 255  # MediaWiki refuses longer titles (Manual:Page title)
FIRST_REVISION = 1_000_000


class InvalidTitle(ValueError):
    """Not a valid page title; the message is the `invalidreason` MediaWiki-style."""


def normalize_title(raw: str) -> str:
    """The title MediaWiki would report in `normalized.to` for `raw`; InvalidTitle when it has none."""
    title = re.sub(r"[ _]+", " ", raw).strip()
    if not title:
        raise InvalidTitle("The requested page title is empty or contains only the name of a namespace.")
    illegal = _ILLEGAL.search(title)
    if illegal:
        raise InvalidTitle(f'The requested page title contains invalid characters: "{illegal.group()}".')
    if len(title.encode("utf-8")) > MAX_TITLE_BYTES:
        raise InvalidTitle(f"The requested page title is too long. It must be no longer than {MAX_TITLE_BYTES} bytes.")
    return title[0].upper() + title[1:]


@dataclass(frozen=True, slots=True)  # slots: one per page, 60,000 in the scale bench
class StoredPage:
    title: str
    page: Page
    pageid: int
    revision: int
    touched: str  # when the current revision was saved, ISO 8601 to the second, as `touched` is


class WikiStore:
    """The pages and redirects of the local wiki; safe to change while the server answers."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pages: dict[str, StoredPage] = {}
        self._redirects: dict[str, str] = {}
        self._next_revision = FIRST_REVISION
        self._next_pageid = 1

    def put(self, title: str, page: Page) -> StoredPage:
        """Create or rewrite a page: a new text (or type) is a new revision; the same text keeps the revision."""
        title = normalize_title(title)
        with self._lock:
            current = self._pages.get(title)
            if current is not None and current.page == page:
                return current
            stored = StoredPage(
                title,
                page,
                current.pageid if current is not None else self._take_pageid(),
                self._take_revision(),
                _now(),
            )
            self._pages[title] = stored
            self._redirects.pop(title, None)
            return stored

    def touch(self, title: str) -> StoredPage:
        """An edit that leaves the intro as it was (a later section changed): a new revision, the same text."""
        title = normalize_title(title)
        with self._lock:
            stored = replace(self._pages[title], revision=self._take_revision(), touched=_now())
            self._pages[title] = stored
            return stored

    def delete(self, title: str) -> None:
        with self._lock:
            self._pages.pop(normalize_title(title), None)

    def redirect(self, source: str, target: str) -> None:
        """Make `source` a redirect to `target` (a page that exists, or will)."""
        source, target = normalize_title(source), normalize_title(target)
        with self._lock:
            self._pages.pop(source, None)
            self._redirects[source] = target

    def redirect_target(self, title: str) -> str | None:
        with self._lock:
            return self._redirects.get(title)

    def get(self, title: str) -> StoredPage | None:
        with self._lock:
            return self._pages.get(title)

    def titles(self) -> list[str]:
        with self._lock:
            return sorted(self._pages)

    def _take_revision(self) -> int:
        self._next_revision += 1
        return self._next_revision

    def _take_pageid(self) -> int:
        self._next_pageid += 1
        return self._next_pageid


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
