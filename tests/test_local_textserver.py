"""The local text server and the company texts the project ships for it.

The shipped folder is checked as data (every watchlisted company present, intro-sized, a mix of
tones) and served to the real Action API client, so local mode's demo cannot drift from what the
consumer expects of the MediaWiki Action API. The answers' shapes are checked in
tests/test_local_action_api.py.
"""

from __future__ import annotations

import json
import re
import select
import signal
import socket
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from lib.webclient import PermanentTextError, WebClient
from lib.wikipedia import PageText, Wikipedia
from watchlist_workstation.local.textserver import (
    DEFAULT_DATA,
    TONES,
    DataFolderError,
    Page,
    TextServer,
    load_pages,
    load_redirects,
    main,
    title_file_name,
)

REPO = Path(__file__).resolve().parents[1]
WATCHLIST = REPO / "data" / "watchlist.txt"
CONTACT = "https://example.org/watchlist-pipeline; ops@example.org"
# Long enough to say what a company does and why it is known, short enough that Comprehend,
# which scores only a document's first 500 characters, sees nearly all of it.
EXTRACT_MIN, EXTRACT_MAX = 250, 600
API_URL_LINE = re.compile(r"http://127\.0\.0\.1:\d+/w/api\.php")


def watchlist_titles() -> list[str]:
    """The page each entry of the sample watchlist reads: its title after a bar, else its name."""
    lines = (line.strip() for line in WATCHLIST.read_text(encoding="utf-8").splitlines())
    entries = [line for line in lines if line and not line.startswith("#")]
    return [entry.split("|", 1)[-1].strip() for entry in entries]


@pytest.fixture(scope="module")
def pages():
    return load_pages(DEFAULT_DATA)


@pytest.fixture
def server():
    text_server = TextServer.from_folder(DEFAULT_DATA).start()
    try:
        yield text_server
    finally:
        text_server.stop()
    assert not text_server.errors, "text server handler failed:\n" + "\n".join(text_server.errors)


@pytest.fixture
def source(server):
    client = WebClient(server.api_url, CONTACT)
    yield Wikipedia(client)
    client.close()


def write_entries(folder: Path, *entries: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for number, entry in enumerate(entries):
        (folder / f"entry-{number}.json").write_text(json.dumps(entry), encoding="utf-8")
    return folder


# -- the shipped texts -----------------------------------------------------------------------


def test_every_watchlisted_company_has_a_standard_page(pages):
    # GIVEN the sample watchlist the demo loads
    names = watchlist_titles()
    assert len(names) == 28
    # THEN each page it names is a page with text (not missing, not a disambiguation)
    assert [name for name in names if name not in pages] == []
    assert [name for name in names if pages[name].type != "standard"] == []


def test_every_extract_is_summary_sized(pages):
    outside = {title: len(page.extract) for title, page in pages.items()}
    outside = {title: size for title, size in outside.items() if not EXTRACT_MIN <= size <= EXTRACT_MAX}
    assert outside == {}, f"extracts outside {EXTRACT_MIN}-{EXTRACT_MAX} characters"


def test_every_page_says_which_tone_its_author_intended(pages):
    assert {title: page.tone for title, page in pages.items() if page.tone not in TONES} == {}


def test_tones_are_a_deliberate_mix(pages):
    tones = Counter(page.tone for page in pages.values() if page.type == "standard")
    assert tones["positive"] >= 5
    assert tones["negative"] >= 5
    assert tones["neutral"] + tones["mixed"] >= 5


def test_the_folder_exercises_disambiguation_and_redirects(pages):
    assert any(page.type == "disambiguation" for page in pages.values())
    redirects = load_redirects(DEFAULT_DATA)
    assert redirects
    assert all(target in pages for target in redirects.values())


def test_each_file_is_named_after_its_title():
    misnamed = {}
    for path in sorted(DEFAULT_DATA.glob("*.json")):
        title = json.loads(path.read_text(encoding="utf-8"))["title"]
        if path.name != title_file_name(title):
            misnamed[path.name] = title_file_name(title)
    assert misnamed == {}


# -- served to the real client ---------------------------------------------------------------


def test_a_page_is_served_with_its_intro_revision_and_page_url(server, source, pages):
    # GIVEN a title whose parentheses and space must survive URL encoding
    title = "Amazon (company)"
    # WHEN the client reads its intro
    result = source.intros([title])[title]
    # THEN the answer carries the shipped text, the page's revision and its URL
    assert result == PageText(title, server.revision(title), server.page_url(title), pages[title].extract)
    assert result.url == "https://en.wikipedia.org/wiki/Amazon_(company)"


def test_the_whole_watchlist_is_served_in_two_intro_requests(server, source, pages):
    titles = watchlist_titles()
    fetched = source.intros(titles)
    assert {title: answer.text for title, answer in fetched.items()} == {
        title: pages[title].extract for title in titles
    }
    assert len(server.requests) == 2  # 28 intros, 20 a request


def test_a_disambiguation_page_is_a_permanent_problem(source):
    assert source.revisions(["Mercury"])["Mercury"].reason == "disambiguation"


def test_a_redirect_resolves_to_its_target(server, source, pages):
    # GIVEN a former company name that the folder redirects
    result = source.intros(["Facebook, Inc."])["Facebook, Inc."]
    # THEN one request resolved it and got the current article
    assert result.title == "Meta Platforms"
    assert result.text == pages["Meta Platforms"].extract
    assert len(server.requests) == 1


def test_an_unknown_title_is_not_found(source):
    answer = source.revisions(["Pets.com"])["Pets.com"]
    assert isinstance(answer, PermanentTextError) and answer.reason == "not_found"


# -- reading a folder ------------------------------------------------------------------------


def test_pages_and_redirects_load_apart(tmp_path):
    # GIVEN a folder with one page (written with an underscore) and one redirect to it
    folder = write_entries(
        tmp_path / "texts",
        {"title": "Acme_Corp", "extract": "Acme makes anvils.", "tone": "neutral", "description": "Anvil maker"},
        {"title": "Acme", "redirect": "Acme Corp"},
    )
    # THEN titles are keyed as MediaWiki shows them, and each kind loads on its own
    assert load_pages(folder) == {
        "Acme Corp": Page("Acme makes anvils.", "standard", description="Anvil maker", tone="neutral")
    }
    assert load_redirects(folder) == {"Acme": "Acme Corp"}


@pytest.mark.parametrize(
    ("entries", "complaint"),
    [
        pytest.param([{"title": "Acme", "extact": "typo"}], "unknown keys for a page: extact", id="unknown-key"),
        pytest.param([{"title": "Acme", "extract": " "}], "'extract' must be a non-empty string", id="no-extract"),
        pytest.param([{"title": "Acme", "extract": "x", "tone": "upbeat"}], "'tone' must be one of", id="bad-tone"),
        pytest.param([{"title": "Acme", "extract": "x", "type": "list"}], "'type' must be one of", id="bad-type"),
        pytest.param([{"extract": "x"}], "'title' must be a non-empty string", id="no-title"),
        pytest.param([["Acme"]], "expected a JSON object", id="not-an-object"),
        pytest.param(
            [{"title": "Acme", "extract": "x"}, {"title": "Acme", "extract": "y"}],
            "title 'Acme' is already in entry-0.json",
            id="duplicate-title",
        ),
        pytest.param(
            [{"title": "Acme", "redirect": "Acme Corp"}], "redirect target 'Acme Corp' is not a page", id="dangling"
        ),
        pytest.param(
            [{"title": "A", "extract": "x"}, {"title": "B", "redirect": "A"}, {"title": "C", "redirect": "B"}],
            "redirect target 'B' is not a page",
            id="redirect-chain",
        ),
    ],
)
def test_a_bad_entry_fails_naming_its_file(tmp_path, entries, complaint):
    folder = write_entries(tmp_path / "texts", *entries)
    with pytest.raises(DataFolderError) as exc:
        load_pages(folder)
    assert str(folder / "entry-") in str(exc.value)
    assert complaint in str(exc.value)


def test_invalid_json_fails_naming_its_file(tmp_path):
    (tmp_path / "acme.json").write_text('{"title": "Acme",', encoding="utf-8")
    with pytest.raises(DataFolderError, match=r"acme\.json: not UTF-8 JSON"):
        load_pages(tmp_path)


def test_a_folder_without_entries_fails(tmp_path):
    with pytest.raises(DataFolderError, match=r"no \*\.json files"):
        load_pages(tmp_path)


# -- the command line ------------------------------------------------------------------------


def test_cli_serves_the_shipped_texts_until_terminated():
    # GIVEN the server started as a program on any free port
    process = subprocess.Popen(
        [sys.executable, "-m", "watchlist_workstation.local.textserver", "--port", "0"],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        ready, _, _ = select.select([process.stderr], [], [], 30)
        assert ready, "the server printed nothing within 30 s"
        # THEN its first stderr line is the api.php URL alone, and a client can read from it
        api_url = process.stderr.readline().strip()
        assert API_URL_LINE.fullmatch(api_url), api_url
        client = WebClient(api_url, CONTACT)
        try:
            assert Wikipedia(client).revisions(["Enron"])["Enron"].title == "Enron"
        finally:
            client.close()
        # WHEN it is told to stop
        process.send_signal(signal.SIGTERM)
        _, rest = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    # THEN it stops cleanly, without a traceback
    assert process.returncode == 0
    assert "Traceback" not in rest


def test_cli_with_a_bad_data_folder_prints_one_line_and_exits_1(tmp_path, capsys):
    assert main(["--port", "0", "--data", str(tmp_path)]) == 1
    captured = capsys.readouterr()
    assert captured.err == f"error: {tmp_path}: no *.json files\n"


def test_cli_on_a_busy_port_prints_one_line_and_exits_1(capsys):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["--port", str(port)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: cannot listen on 127.0.0.1:{port}: ")
    assert err.count("\n") == 1


def test_cli_rejects_an_impossible_port(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--port", "70000"])
    assert exc.value.code == 2
    assert "--port must be 0-65535" in capsys.readouterr().err


def test_the_server_module_does_not_need_pytest():
    probe = "import sys, watchlist_workstation.local.textserver; sys.exit('pytest' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", probe], cwd=REPO, check=False).returncode == 0
