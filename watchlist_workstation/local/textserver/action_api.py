"""Answers to `action=query` as the MediaWiki Action API gives them, for what the pipeline asks.

Each shape follows MediaWiki's documentation (mediawiki.org) and code:
- API:Query and API:Data formats: `formatversion=2`, `query.normalized[{fromencoded, from, to}]`,
  `query.redirects[{from, to}]`, `query.pages` as a list sorted by page id, missing and invalid titles
  first with negative ids ({ns, title, missing: true} and {title, invalidreason, invalid: true}),
  `batchcomplete: true`; multi-value parameters split at "|", or at U+001F when the value starts with it;
  at most 50 titles a request (more is the `toomanyvalues` error);
- API:Info: `contentmodel`, `pagelanguage`, `touched`, `lastrevid`, `length`, and with `inprop=url`
  `fullurl`, `editurl`, `canonicalurl`;
- API:Pageprops: `pageprops: {"disambiguation": ""}` for a disambiguation page (Extension:Disambiguator),
  filtered by `ppprop`;
- Extension:TextExtracts: `extract` for at most `exlimit` pages (20 at most, `max` meaning 20), the rest
  left for `continue: {excontinue: <offset>, continue: "-||info|pageprops"}` (API:Continue); `exintro`
  and `explaintext` are what the pipeline sends and are required here, since the pages hold only an
  intro in plain text;
- Manual:Maxlag_parameter: when the wiki's replication lag exceeds `maxlag`, HTTP 200 with
  `Retry-After`, `X-Database-Lag` and `MediaWiki-API-Error: maxlag`, and the error object
  {code: "maxlag", info, host, lag, type: "db"}.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from watchlist_workstation.local.textserver.store import InvalidTitle, StoredPage, WikiStore, normalize_title

MAX_TITLES = 50
MAX_EXTRACTS = 20
JSON_TYPE = "application/json; charset=utf-8"
DOCREF = "See https://www.mediawiki.org/w/api.php for API usage."


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


def split_values(value: str) -> list[str]:
    """A multi-value parameter: "|"-separated, or U+001F-separated when it starts with U+001F."""
    if value.startswith("\x1f"):
        return value[1:].split("\x1f")
    return value.split("|") if value else []


def error(code: str, info: str, *, status: int = 200, headers: Mapping[str, str] | None = None, **extra: Any) -> Answer:
    body = {"error": {"code": code, "info": info, **extra, "docref": DOCREF}}
    return Answer(status, {"Content-Type": JSON_TYPE, "MediaWiki-API-Error": code, **(headers or {})}, _json(body))


def answer_query(params: Mapping[str, str], store: WikiStore, *, page_url_base: str, lag: float = 0.0) -> Answer:
    """The answer to one api.php request with these (decoded) parameters."""
    if params.get("format") != "json" or params.get("formatversion") != "2":
        return error("badvalue", "This stand-in answers format=json with formatversion=2 only.")
    if params.get("action") != "query":
        return error("badvalue", f'Unrecognized value for parameter "action": {params.get("action")}.')
    maxlag = params.get("maxlag")
    if maxlag is not None and lag > float(maxlag):
        wait = str(max(int(float(maxlag)), 5))
        headers = {"Retry-After": wait, "X-Database-Lag": str(int(lag))}
        info = f"Waiting for 127.0.0.1: {int(lag)} seconds lagged."
        return error("maxlag", info, headers=headers, host="127.0.0.1", lag=int(lag), type="db")
    titles = split_values(params.get("titles", ""))
    if len(titles) > MAX_TITLES:
        return error("toomanyvalues", f'Too many values supplied for parameter "titles". The limit is {MAX_TITLES}.')
    props = set(split_values(params.get("prop", "")))
    if "extracts" in props and not (params.get("exintro") and params.get("explaintext")):
        return error("badvalue", "This stand-in holds plain-text intros only: send exintro and explaintext.")
    query, pages = _resolve(titles, store, follow_redirects="redirects" in params)
    continuation = _fill_pages(query, pages, props, params, page_url_base)
    body: dict[str, Any] = {"batchcomplete": True, "query": query}
    if continuation is not None:
        body["continue"] = {"excontinue": continuation, "continue": "-||info|pageprops"}
    return Answer(200, {"Content-Type": JSON_TYPE}, _json(body))


def _resolve(titles: list[str], store: WikiStore, *, follow_redirects: bool) -> tuple[dict[str, Any], list[Any]]:
    """normalized and redirects, and the pages in the order MediaWiki lists them (by page id, the
    missing and invalid ones first with ids -1, -2, ... in request order)."""
    normalized, redirects = [], []
    found: dict[str, StoredPage] = {}
    absent: list[dict[str, Any]] = []
    for raw in dict.fromkeys(titles):
        try:
            title = normalize_title(raw)
        except InvalidTitle as exc:
            absent.append({"title": raw, "invalidreason": str(exc), "invalid": True})
            continue
        if title != raw:
            normalized.append({"fromencoded": False, "from": raw, "to": title})
        target = store.redirect_target(title) if follow_redirects else None
        if target is not None:
            redirects.append({"from": title, "to": target})
            title = target
        stored = store.get(title)
        if stored is not None:
            found[title] = stored
        elif not any(entry.get("title") == title for entry in absent):
            absent.append({"ns": 0, "title": title, "missing": True})
    query: dict[str, Any] = {}
    if normalized:
        query["normalized"] = normalized
    if redirects:
        query["redirects"] = redirects
    return query, absent + sorted(found.values(), key=lambda page: page.pageid)


def _fill_pages(
    query: dict[str, Any], pages: list[Any], props: set[str], params: Mapping[str, str], page_url_base: str
) -> int | None:
    """query.pages with the asked properties; the `excontinue` offset when extracts stopped short."""
    wanted = set(split_values(params.get("ppprop", ""))) or None
    offset = int(params.get("excontinue", "0") or 0)
    limit = MAX_EXTRACTS if params.get("exlimit", "max") == "max" else min(int(params["exlimit"]), MAX_EXTRACTS)
    # A continued request skips the modules the first answer completed (API:Continue).
    skipped = set(split_values(params.get("continue", "").partition("||")[2])) if "excontinue" in params else set()
    listed: list[dict[str, Any]] = []
    extracted = 0
    continuation = None
    position = -1  # counts the pages that exist: excontinue is an offset among them
    for entry in pages:
        if not isinstance(entry, StoredPage):
            listed.append(entry)
            continue
        position += 1
        page: dict[str, Any] = {"pageid": entry.pageid, "ns": 0, "title": entry.title}
        if "info" in props and "info" not in skipped:
            page.update(_info(entry, params, page_url_base))
        if "pageprops" in props and "pageprops" not in skipped and entry.page.type == "disambiguation":
            if wanted is None or "disambiguation" in wanted:
                page["pageprops"] = {"disambiguation": ""}
        if "extracts" in props and position >= offset:
            if extracted < limit:
                page["extract"] = entry.page.extract
                extracted += 1
            elif continuation is None:
                continuation = position
        listed.append(page)
    query["pages"] = listed
    return continuation


def _info(entry: StoredPage, params: Mapping[str, str], page_url_base: str) -> dict[str, Any]:
    info: dict[str, Any] = {
        "contentmodel": "wikitext",
        "pagelanguage": "en",
        "pagelanguagehtmlcode": "en",
        "pagelanguagedir": "ltr",
        "touched": entry.touched,
        "lastrevid": entry.revision,
        "length": len(entry.page.extract.encode("utf-8")),
    }
    if "url" in split_values(params.get("inprop", "")):
        url = page_url_base + quote(entry.title.replace(" ", "_"), safe=",:/()'!*")
        info.update(fullurl=url, editurl=f"{url}?action=edit", canonicalurl=url)
    return info


def _json(body: Any) -> bytes:
    return json.dumps(body, ensure_ascii=False).encode("utf-8")
