"""Company pages from the MediaWiki Action API: revision ids for many titles per request, intro extracts
only for the pages whose revision moved.

Requests follow the Action API's own documentation (mediawiki.org, API:Query, API:Info, API:Pageprops,
Extension:TextExtracts, API:Continue, Manual:Maxlag_parameter, API:Etiquette):
- `action=query&format=json&formatversion=2`, `redirects=1` (a redirect is followed once and reported
  in `query.redirects`), titles normalised by the server and reported in `query.normalized`;
- revisions: `prop=info|pageprops` (`lastrevid`; `inprop=url` for the page's `fullurl`; `ppprop=
  disambiguation`), up to WIKI_TITLES_PER_QUERY titles a request;
- intros: `prop=info|extracts|pageprops` with `exintro`, `explaintext`, `exlimit=max`, up to
  WIKI_EXTRACTS_PER_QUERY titles a request, following `continue` until the extracts are complete;
  `lastrevid` comes back in the same answer, so a page edited between the two requests is recorded
  with the revision its extract belongs to;
- `maxlag=5` on every request (lib/webclient.py waits and retries when the server answers `maxlag`);
- `variant` where the language has one (zh-TW is zh.wikipedia.org read in its zh-tw variant: the
  zh-tw wiki was closed in 2004).

In formatversion 2, `query.pages` is a list in page-id order, not request order, so every answer is
mapped back to the requested titles through `normalized`, `redirects` and the page titles.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from lib.limits import WIKI_EXTRACTS_PER_QUERY, WIKI_MAXLAG_SECONDS, WIKI_TITLES_PER_QUERY
from lib.webclient import PermanentTextError, TransientTextError, WebClient

# Each language Comprehend scores (the template's LanguageCode values) -> (wiki host, variant).
WIKIS: dict[str, tuple[str, str | None]] = {
    "en": ("en.wikipedia.org", None),
    "es": ("es.wikipedia.org", None),
    "fr": ("fr.wikipedia.org", None),
    "de": ("de.wikipedia.org", None),
    "it": ("it.wikipedia.org", None),
    "pt": ("pt.wikipedia.org", None),
    "ar": ("ar.wikipedia.org", None),
    "hi": ("hi.wikipedia.org", None),
    "ja": ("ja.wikipedia.org", None),
    "ko": ("ko.wikipedia.org", None),
    # Comprehend's zh is simplified Chinese, zh-TW traditional; both read the one Chinese Wikipedia.
    "zh": ("zh.wikipedia.org", "zh-hans"),
    "zh-TW": ("zh.wikipedia.org", "zh-tw"),
}
# How many `continue` rounds one extracts request may take before the answer counts as malformed.
_MAX_CONTINUES = 10


def api_url(language_code: str) -> str:
    """The Action API endpoint of the Wikipedia edition for a language code."""
    return f"https://{_wiki(language_code)[0]}/w/api.php"


def variant(language_code: str) -> str | None:
    return _wiki(language_code)[1]


def _wiki(language_code: str) -> tuple[str, str | None]:
    try:
        return WIKIS[language_code]
    except KeyError:
        raise ValueError(f"no Wikipedia edition is known for language code {language_code!r}") from None


@dataclass(frozen=True)
class PageRevision:
    title: str  # the page's title after normalisation and redirects
    revision: int  # lastrevid
    url: str  # fullurl


@dataclass(frozen=True)
class PageText(PageRevision):
    text: str  # the plain-text intro (everything before the first section heading)


Answer = PageRevision | PermanentTextError


class Wikipedia:
    """Reads revisions and intros through one WebClient (whose Pace spaces the requests)."""

    def __init__(self, client: WebClient, variant: str | None = None) -> None:
        self.client, self.variant = client, variant

    def revisions(self, titles: Sequence[str], deadline: float | None = None) -> dict[str, Answer]:
        """Each requested title's current revision, or the permanent reason it has none; TransientTextError
        when a request fails (the caller hands the work back)."""
        answers: dict[str, Answer] = {}
        for group in _groups(titles, WIKI_TITLES_PER_QUERY):
            query = self._query(group, {"prop": "info|pageprops"}, deadline)
            answers.update(_pages_for(group, query, with_text=False))
        return answers

    def intros(self, titles: Sequence[str], deadline: float | None = None) -> dict[str, PageText | PermanentTextError]:
        """Each requested title's intro with the revision it belongs to, or the permanent reason it has none."""
        answers: dict[str, Any] = {}
        for group in _groups(titles, WIKI_EXTRACTS_PER_QUERY):
            answers.update(self._intros(group, deadline))
        return answers

    def _intros(self, group: list[str], deadline: float | None) -> dict[str, Any]:
        params = {"prop": "info|extracts|pageprops", "exintro": "1", "explaintext": "1", "exlimit": "max"}
        try:
            query = self._query(group, params, deadline, follow_continue=True)
        except PermanentTextError as exc:
            if exc.reason != "too_large" or len(group) == 1:
                return dict.fromkeys(group, exc)
            # One long intro must not cost the others theirs: halve the request until it fits.
            middle = len(group) // 2
            return {**self._intros(group[:middle], deadline), **self._intros(group[middle:], deadline)}
        return _pages_for(group, query, with_text=True)

    def _query(
        self, titles: list[str], params: dict[str, str], deadline: float | None, *, follow_continue: bool = False
    ) -> dict[str, Any]:
        request = {
            "action": "query",
            "format": "json",
            "formatversion": "2",
            "redirects": "1",
            "inprop": "url",
            "ppprop": "disambiguation",
            "maxlag": str(WIKI_MAXLAG_SECONDS),
            "titles": _join_titles(titles),
            **params,
        }
        if self.variant:
            request["variant"] = self.variant
        data = self.client.get_json(request, deadline)
        query = _query_of(data)
        rounds = 0
        while follow_continue and isinstance(data.get("continue"), dict):
            rounds += 1
            if rounds > _MAX_CONTINUES:
                raise TransientTextError("malformed", f"extracts did not complete in {_MAX_CONTINUES} rounds")
            # API:Continue: send every key of `continue` back unchanged with the original request.
            data = self.client.get_json({**request, **{k: str(v) for k, v in data["continue"].items()}}, deadline)
            query = _merge_extracts(query, _query_of(data))
        return query


def _groups(titles: Sequence[str], size: int) -> Iterator[list[str]]:
    unique = list(dict.fromkeys(titles))
    for start in range(0, len(unique), size):
        yield unique[start : start + size]


def _join_titles(titles: list[str]) -> str:
    # A multi-value parameter is separated by "|", or by U+001F when the value starts with U+001F
    # (API:Data formats), which a title containing "|" needs (it is then reported as invalid, alone).
    if any("|" in title for title in titles):
        return "\x1f" + "\x1f".join(titles)
    return "|".join(titles)


def _query_of(data: dict[str, Any]) -> dict[str, Any]:
    query = data.get("query")
    if not isinstance(query, dict) or not isinstance(query.get("pages"), list):
        raise TransientTextError("malformed", "the answer has no query.pages list")
    return query


def _merge_extracts(first: dict[str, Any], later: dict[str, Any]) -> dict[str, Any]:
    """A continued answer repeats the pages; keep the first answer's fields and add the extracts it lacked."""
    extracts = {p.get("title"): p["extract"] for p in later["pages"] if isinstance(p, dict) and "extract" in p}
    pages = []
    for page in first["pages"]:
        if isinstance(page, dict) and "extract" not in page and page.get("title") in extracts:
            page = {**page, "extract": extracts[page["title"]]}
        pages.append(page)
    return {**first, "pages": pages}


def _pages_for(requested: list[str], query: dict[str, Any], *, with_text: bool) -> dict[str, Any]:
    """Map an answer back to the requested titles (normalized, then redirects, then the page's title)."""
    normalized = {
        unquote(n["from"]) if n.get("fromencoded") else n["from"]: n["to"]
        for n in query.get("normalized") or []
        if isinstance(n, dict) and "from" in n and "to" in n
    }
    redirects = {r["from"]: r["to"] for r in query.get("redirects") or [] if isinstance(r, dict) and "from" in r}
    pages = {p["title"]: p for p in query["pages"] if isinstance(p, dict) and isinstance(p.get("title"), str)}
    answers: dict[str, Any] = {}
    for title in requested:
        resolved = normalized.get(title, title)
        resolved = redirects.get(resolved, resolved)
        page = pages.get(resolved) or pages.get(title)
        if page is None:
            raise TransientTextError("malformed", f"the answer holds no page for {title!r}")
        answers[title] = _answer(page, with_text)
    return answers


def _answer(page: dict[str, Any], with_text: bool) -> Any:
    if page.get("invalid"):
        return PermanentTextError("invalid_title", str(page.get("invalidreason") or "not a valid page title")[:200])
    if page.get("missing"):
        return PermanentTextError("not_found", "no such page")
    if "disambiguation" in (page.get("pageprops") or {}):
        return PermanentTextError("disambiguation", "the title names a disambiguation page")
    revision, url = page.get("lastrevid"), page.get("fullurl")
    if not isinstance(revision, int) or isinstance(revision, bool) or not isinstance(url, str):
        raise TransientTextError("malformed", f"page {page['title']!r} has no lastrevid or fullurl")
    if not with_text:
        return PageRevision(page["title"], revision, url)
    text = page.get("extract")
    if not isinstance(text, str) or not text.strip():
        return PermanentTextError("no_extract", "the page has no intro text")
    return PageText(page["title"], revision, url, text)
