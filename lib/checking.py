"""What changed for each company of a batch: one revision request per 50 pages, intros only for the pages
whose revision moved, and a verdict per company (docs/design.md, "Reading Wikipedia politely").

- the same revision (and page) as the snapshot: unchanged, nothing to write;
- a new revision whose intro hashes the same as the analysed text: only the revision is recorded;
- a new intro: it goes to Comprehend;
- a missing or invalid title, a disambiguation page, a page without an intro: a permanent problem;
- a request that failed (after its retries): the company's messages go back to the queue.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from lib.limits import WIKI_EXTRACTS_PER_QUERY, WIKI_TITLES_PER_QUERY
from lib.message import Company
from lib.results import text_sha256
from lib.webclient import PermanentTextError, TransientTextError
from lib.wikipedia import PageRevision, PageText, Wikipedia


@dataclass(frozen=True)
class Unchanged:
    pass


@dataclass(frozen=True)
class NewRevision:
    """The page moved to a new revision but its intro is the text already analysed."""

    page: PageRevision


@dataclass(frozen=True)
class NewText:
    page: PageText
    # Read again because the row this revision's analysis recorded is missing: the revision may be the stored one.
    repair: bool = False


@dataclass(frozen=True)
class Problem:
    reason: str  # a short stable code: not_found, disambiguation, no_extract, invalid_title, too_large, ...


@dataclass(frozen=True)
class Failed:
    reason: str  # why the request failed; the work goes back to the queue


Verdict = Unchanged | NewRevision | NewText | Problem | Failed


def check(
    companies: Mapping[str, Company],
    wiki: Wikipedia,
    *,
    groups: Iterable[Iterable[str]],
    deadline: float | None = None,
    force: Iterable[str] = (),
) -> dict[str, Verdict]:
    """The verdict for each company (by name). The revisions are asked for by `groups` of names (each chunk's
    companies: a request that fails then costs only its own chunk). Names in `force` are
    read again and analysed whatever the snapshot says (their recorded results object is missing)."""
    forced = set(force)
    verdicts: dict[str, Verdict] = {}
    titles = {name: company.page_title for name, company in companies.items()}
    revisions: dict[str, Any] = {}
    for group in groups:
        wanted_titles = sorted({titles[name] for name in group} - set(revisions))
        revisions.update(_each_request(wiki.revisions, wanted_titles, WIKI_TITLES_PER_QUERY, deadline))
    wanted: dict[str, PageRevision] = {}
    for name, company in companies.items():
        answer = revisions[titles[name]]
        if isinstance(answer, Failed | Problem):
            verdicts[name] = answer
        elif name in forced or answer.revision != company.revision or answer.title != company.page:
            wanted[name] = answer
        else:
            verdicts[name] = Unchanged()
    if not wanted:
        return verdicts
    # Intros are asked for by the page title the revision request resolved (redirects already followed).
    pages = sorted({page.title for page in wanted.values()})
    intros = _each_request(wiki.intros, pages, WIKI_EXTRACTS_PER_QUERY, deadline)
    for name, revision in wanted.items():
        answer = intros[revision.title]
        if isinstance(answer, Failed | Problem):
            verdicts[name] = answer
        elif name not in forced and text_sha256(answer.text) == companies[name].text_sha256:
            verdicts[name] = NewRevision(answer)
        else:
            verdicts[name] = NewText(answer, repair=name in forced)
    return verdicts


def _each_request(
    read: Callable[[list[str], float | None], Mapping[str, Any]], titles: list[str], size: int, deadline: float | None
) -> dict[str, Any]:
    """Each title's answer from `read` (Wikipedia.revisions or .intros), `size` titles a request. A request that
    fails makes every one of its titles Failed (or Problem), and costs no other request its answers."""
    answers: dict[str, Any] = {}
    for start in range(0, len(titles), size):
        group = titles[start : start + size]
        try:
            found = read(group, deadline)
        except TransientTextError as exc:
            answers.update(dict.fromkeys(group, Failed(exc.reason)))
            continue
        except PermanentTextError as exc:
            answers.update(dict.fromkeys(group, Problem(exc.reason)))
            continue
        for title, answer in found.items():
            answers[title] = Problem(answer.reason) if isinstance(answer, PermanentTextError) else answer
    return answers
