"""The text source's pages: what a page is, and the data folders they are read from.

A data folder holds one JSON file per title, named after the title (`title_file_name`):

    {"title": "Netflix", "description": "...", "tone": "positive", "extract": "Netflix is ..."}
    {"title": "Mercury", "type": "disambiguation", "tone": "neutral", "extract": "Mercury may refer to ..."}
    {"title": "Facebook, Inc.", "redirect": "Meta Platforms"}

`load_pages` and `load_redirects` read such a folder. `tone` is the tone the text's author
meant it to carry, kept for tests and docs; it is never served. One file per title rather
than one big file: adding, editing or reviewing a company touches one small file, so
parallel edits do not conflict and a load error names the file.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from watchlist_workstation.project import COMPANIES_DIR

PAGE_TYPES = ("standard", "disambiguation", "no-extract")
TONES = ("positive", "negative", "neutral", "mixed")
# The texts this project ships; found from this file so the entry point works from any directory.
DEFAULT_DATA = COMPANIES_DIR


@dataclass(frozen=True, slots=True)  # slots: a large local watchlist holds one per company
class Page:
    """One page the server knows. `type` is "standard", "disambiguation" or "no-extract".

    `tone` is what the author of a shipped text meant it to convey (one of TONES); it is
    metadata for tests and docs and never appears in the served JSON.
    """

    extract: str
    type: str = "standard"
    description: str | None = None
    tone: str | None = None


def title_key(title: str) -> str:
    """Titles are compared as MediaWiki shows them: underscores are spaces."""
    return title.replace("_", " ").strip()


class DataFolderError(ValueError):
    """A data folder the server cannot serve; the message names the file and what is wrong with it."""


_PAGE_KEYS = frozenset({"title", "type", "extract", "description", "tone"})
_REDIRECT_KEYS = frozenset({"title", "redirect"})


def title_file_name(title: str) -> str:
    """The file a title's entry lives in: "Tesla, Inc." -> "tesla-inc.json"."""
    return re.sub(r"[^a-z0-9]+", "-", title_key(title).lower()).strip("-") + ".json"


def load_pages(folder: Path) -> dict[str, Page]:
    """The pages of a data folder (`*.json`, one entry per file), keyed by title; redirects are left out.

    The whole folder is checked, redirects included, so a folder that loads here also serves.
    """
    return read_folder(Path(folder))[0]


def load_redirects(folder: Path) -> dict[str, str]:
    """The redirects of a data folder: source title -> target title, every target a page of the folder."""
    return read_folder(Path(folder))[1]


def read_folder(folder: Path) -> tuple[dict[str, Page], dict[str, str]]:
    """(pages, redirects) of a data folder, the whole folder checked (see load_pages and load_redirects)."""
    if not folder.is_dir():
        raise DataFolderError(f"{folder}: not a folder")
    files = sorted(folder.glob("*.json"))
    if not files:
        raise DataFolderError(f"{folder}: no *.json files")
    pages: dict[str, Page] = {}
    redirects: dict[str, str] = {}
    origin: dict[str, Path] = {}
    for path in files:
        entry = _read_entry(path)
        key = title_key(entry["title"])
        if key in origin:
            raise DataFolderError(f"{path}: title {key!r} is already in {origin[key].name}")
        origin[key] = path
        if "redirect" in entry:
            redirects[key] = title_key(entry["redirect"])
        else:
            pages[key] = _page_from(path, entry)
    for source, target in redirects.items():
        # MediaWiki does not follow a redirect to a redirect either; a chain here is a data mistake.
        if target not in pages:
            raise DataFolderError(f"{origin[source]}: redirect target {target!r} is not a page in {folder}")
    return pages, redirects


def _read_entry(path: Path) -> dict[str, Any]:
    try:
        entry = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise DataFolderError(f"{path}: cannot read it ({exc.strerror or exc})") from exc
    except ValueError as exc:
        # ValueError covers bad UTF-8 (UnicodeDecodeError) as well as bad JSON.
        raise DataFolderError(f"{path}: not UTF-8 JSON ({exc})") from exc
    if not isinstance(entry, dict):
        raise DataFolderError(f"{path}: expected a JSON object")
    if not _is_text(entry.get("title")):
        raise DataFolderError(f"{path}: 'title' must be a non-empty string")
    allowed = _REDIRECT_KEYS if "redirect" in entry else _PAGE_KEYS
    unknown = sorted(set(entry) - allowed)
    if unknown:
        kind = "a redirect" if "redirect" in entry else "a page"
        raise DataFolderError(f"{path}: unknown keys for {kind}: {', '.join(unknown)}")
    if "redirect" in entry and not _is_text(entry["redirect"]):
        raise DataFolderError(f"{path}: 'redirect' must be a non-empty title")
    return entry


def _page_from(path: Path, entry: dict[str, Any]) -> Page:
    page_type = entry.get("type", "standard")
    if page_type not in PAGE_TYPES:
        raise DataFolderError(f"{path}: 'type' must be one of {', '.join(PAGE_TYPES)}, got {page_type!r}")
    extract = entry.get("extract", "" if page_type == "no-extract" else None)
    if not isinstance(extract, str) or (page_type != "no-extract" and not extract.strip()):
        raise DataFolderError(f"{path}: 'extract' must be a non-empty string")
    description = entry.get("description")
    if description is not None and not _is_text(description):
        raise DataFolderError(f"{path}: 'description' must be a non-empty string when given")
    tone = entry.get("tone")
    if tone is not None and tone not in TONES:
        raise DataFolderError(f"{path}: 'tone' must be one of {', '.join(TONES)}, got {tone!r}")
    return Page(extract, page_type, description, tone)


def _is_text(value: object) -> bool:
    return isinstance(value, str) and bool(value.strip())
