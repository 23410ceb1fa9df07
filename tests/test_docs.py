"""The documentation: a short README that is the door into docs/, and links that lead somewhere.

Relative links (and images) in README.md and docs/*.md must name a file of the repository, and an
anchor must name a heading of the page it points into, spelt the way GitHub turns headings into
anchors. External http(s) and mailto links are not fetched: the suite stays offline.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
PAGES = [README, *DOCS]
README_MAX_LINES = 300

_FENCE = re.compile(r"^\s*(```|~~~)")
_CODE_SPAN = re.compile(r"(`+)(.+?)\1")
_INLINE_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_REFERENCE_LINK = re.compile(r"^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+\"[^\"]*\")?\s*$")
_HTML_LINK = re.compile(r"<(?:a|img)\s[^>]*?(?:href|src)=\"([^\"]+)\"", re.I)
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.I)  # http:, https:, mailto:, ...


def prose_lines(text: str) -> list[str]:
    """The page's lines outside fenced code blocks, with inline code spans blanked out."""
    lines, in_fence = [], False
    for line in text.splitlines():
        if _FENCE.match(line):
            in_fence = not in_fence
            continue
        if not in_fence:
            lines.append(_CODE_SPAN.sub("code", line))
    return lines


def links(text: str) -> list[str]:
    """Every link target of a markdown page, in order: inline, reference-style and HTML ones."""
    found: list[str] = []
    for line in prose_lines(text):
        found += _INLINE_LINK.findall(line) + _HTML_LINK.findall(line)
        found += _REFERENCE_LINK.findall(line)
    return found


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading: the text without markup, lower case, punctuation dropped
    (hyphens and underscores kept), each space a hyphen."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link counts as its text
    text = re.sub(r"[`*]", "", text).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(text: str) -> set[str]:
    """The anchors of a page's headings; a repeated heading gets -1, -2, ... as on GitHub."""
    seen: dict[str, int] = {}
    result = set()
    in_fence = False
    for line in text.splitlines():
        if _FENCE.match(line):
            in_fence = not in_fence
            continue
        match = None if in_fence else _HEADING.match(line)
        if match:
            base = slug(match.group(2))
            count = seen.get(base, 0)
            seen[base] = count + 1
            result.add(base if count == 0 else f"{base}-{count}")
    return result


def problems(page: Path, root: Path = ROOT) -> list[str]:
    """What is wrong with the relative links of one page: missing files, files outside the
    repository, and anchors that name no heading of the markdown page they point into."""
    found = []
    for target in links(page.read_text()):
        if _EXTERNAL.match(target):
            continue
        path_part, _, anchor = target.partition("#")
        destination = (page.parent / unquote(path_part)).resolve() if path_part else page
        if not destination.is_relative_to(root.resolve()):
            found.append(f"{target}: outside the repository")
        elif not destination.is_file():
            found.append(f"{target}: no such file")
        elif anchor and destination.suffix == ".md" and unquote(anchor) not in anchors(destination.read_text()):
            found.append(f"{target}: no heading '{anchor}' in {destination.relative_to(root.resolve())}")
    return found


def test_readme_is_a_door_of_at_most_300_lines():
    # GIVEN the README WHEN its lines are counted THEN there are no more than the door allows
    count = len(README.read_text().splitlines())
    assert count <= README_MAX_LINES, f"README.md has {count} lines; move detail into docs/"


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_every_relative_link_leads_to_a_file_and_heading_of_the_repository(page: Path):
    # GIVEN a page of the documentation WHEN each relative link is followed
    broken = problems(page)
    # THEN it reaches a file of the repository, and its anchor (if any) a heading there
    assert broken == [], f"{page.relative_to(ROOT)}: " + "; ".join(broken)


def test_readme_leads_to_every_docs_page():
    # GIVEN the README's links WHEN they are resolved
    reached = {(README.parent / t.partition("#")[0]).resolve() for t in links(README.read_text())}
    # THEN every page in docs/ is one of them: the README is the door into all of docs/
    assert [p.name for p in DOCS if p.resolve() not in reached] == []


def test_the_checker_reports_missing_files_escapes_and_unknown_anchors(tmp_path: Path):
    # GIVEN a page with one good link and one of each kind of broken link
    (tmp_path / "other.md").write_text("# Other page\n\n## The `make-infra` step: build, upload\n")
    page = tmp_path / "page.md"
    page.write_text(
        "[good](other.md#the-make-infra-step-build-upload) [gone](missing.md) [escape](../outside.md)\n"
        "[bad anchor](other.md#nowhere) [own](#top) [web](https://example.com/x)\n# Top\n"
    )
    # WHEN the page is checked
    found = problems(page, root=tmp_path)
    # THEN each broken link is reported once, and the good, own-page and external links are not
    assert found == [
        "missing.md: no such file",
        "../outside.md: outside the repository",
        "other.md#nowhere: no heading 'nowhere' in other.md",
    ]


def test_links_inside_code_are_not_links():
    # GIVEN links written inside a fenced block and inside inline code
    text = "Use `[x](nope.md)` here.\n\n```\n[y](nope.md)\n```\n\n[z](real.md)\n"
    # WHEN the page's links are listed THEN only the one in prose counts
    assert links(text) == ["real.md"]


def test_anchors_follow_githubs_spelling_and_number_repeated_headings():
    # GIVEN headings with code, punctuation and a repeat
    text = "# `local run` and `local up`: on this machine\n## Notes\n## Notes\n### The other commands with `--local`\n"
    # WHEN their anchors are made THEN they match what GitHub links to
    assert anchors(text) == {
        "local-run-and-local-up-on-this-machine",
        "notes",
        "notes-1",
        "the-other-commands-with---local",
    }
