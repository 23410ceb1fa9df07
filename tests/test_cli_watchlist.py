"""The watchlist commands (add, remove, update, list) against a stack created from template.yml in moto."""

from __future__ import annotations

import collections
import contextlib
import json
import os

import boto3
import pytest

import cfcli  # noqa: F401  (registers every command on the group)
from lib.limits import DDB_BATCH_WRITE
from watchlist_workstation.cli.app import cli
from watchlist_workstation.cli.context import AppContext

REGION = "us-east-1"

# A representative call of each command, used where every command must fail the same way.
ADD = pytest.param(["add", "-i", "Tesla"], id="add")
REMOVE = pytest.param(["remove", "--yes", "-i", "Apple"], id="remove")
UPDATE = pytest.param(["update", "-o", "Apple", "-n", "Apple Inc."], id="update")
LIST = pytest.param(["list"], id="list")
# add and remove read names through the same function; each refusal is pinned on add, and a usage
# error and a bad name on remove too (each test costs a stack creation, about a second).
ADD_NAMES = [pytest.param(["add"], id="add")]
ADD_AND_REMOVE_NAMES = [*ADD_NAMES, pytest.param(["remove", "--yes"], id="remove")]


def put(stack, name: str, **attributes: str) -> None:
    item = {"name": {"S": name}, **{k: {"S": v} for k, v in attributes.items()}}
    boto3.client("dynamodb", region_name=REGION).put_item(TableName=stack.table, Item=item)


def assert_one_line_failure(result, exit_code: int) -> str:
    """A failure: the exit status, nothing on stdout, one 'Error: ...' line on stderr and no traceback."""
    assert result.exit_code == exit_code, (result.exit_code, result.stdout, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    return lines[0]


@pytest.fixture
def seeded(stack):
    """The stack with one analysed company on its watchlist; returns the table's items for comparison."""
    put(stack, "Apple", sentiment="NEUTRAL", analyzed_at="2026-11-27T12:00:00Z", added_at="2026-01-01T00:00:00Z")
    return stack.items()


@pytest.fixture
def ddb_calls(monkeypatch) -> collections.Counter:
    """Counts the DynamoDB operations the CLI makes, through a botocore event hook on its client."""
    calls: collections.Counter = collections.Counter()
    real_client = AppContext.client

    def client(self, service):
        made = real_client(self, service)
        if service == "dynamodb":
            made.meta.events.register(
                "before-call.dynamodb", lambda model, **_: calls.update([model.name]), unique_id="count-ddb-calls"
            )
        return made

    monkeypatch.setattr(AppContext, "client", client)
    return calls


@contextlib.contextmanager
def aws_environment(tmp_path, *, credentials: bool, region: bool):
    """The process environment with every AWS_* variable gone, empty config files and no metadata service."""
    empty = tmp_path / "empty-aws-file"
    empty.write_text("")
    with pytest.MonkeyPatch.context() as patch:
        for key in list(os.environ):
            if key.startswith("AWS_") or key in ("CFCLI_PROFILE", "CFCLI_REGION"):
                patch.delenv(key)
        patch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty))
        patch.setenv("AWS_CONFIG_FILE", str(empty))
        patch.setenv("AWS_EC2_METADATA_DISABLED", "true")
        if credentials:
            patch.setenv("AWS_ACCESS_KEY_ID", "testing")
            patch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        if region:
            patch.setenv("AWS_DEFAULT_REGION", REGION)
        yield


# --- add ---------------------------------------------------------------------------------------------


def test_add_puts_new_names_on_the_watchlist(stack, cli_runner):
    # WHEN two companies are added
    result = cli_runner.invoke(cli, ["add", "-i", "Netflix", "--item", "  Meta   Platforms "])
    # THEN both are stored in normal form, each reported as added
    assert result.exit_code == 0, result.stderr
    assert stack.names() == ["Meta Platforms", "Netflix"]
    assert result.stdout.splitlines()[1:] == ["Netflix         added", "Meta Platforms  added"]
    assert "added_at" in stack.items()["Netflix"]


def test_add_of_the_same_name_twice_adds_it_once(stack, cli_runner):
    # WHEN one add names the same company twice (once with extra whitespace)
    result = cli_runner.invoke(cli, ["add", "-i", "Netflix", "-i", " Netflix  "])
    # THEN it is added once and the folding is reported
    assert result.exit_code == 0, result.stderr
    assert stack.names() == ["Netflix"]
    assert "folded 1 duplicate name" in result.stderr


def test_add_reports_names_already_present_and_leaves_their_state(seeded, stack, cli_runner):
    # WHEN an analysed company is added again beside a new one
    result = cli_runner.invoke(cli, ["add", "-i", "Apple", "-i", "Tesla"])
    # THEN it is reported as present and its state is untouched
    assert result.exit_code == 0, result.stderr
    assert "Apple  already present" in result.stdout
    assert stack.items()["Apple"] == seeded["Apple"]
    assert stack.names() == ["Apple", "Tesla"]


def test_add_json_lists_added_and_present(seeded, stack, cli_runner):
    result = cli_runner.invoke(cli, ["add", "-i", "Apple", "-i", "Tesla", "--json"])
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {"added": ["Tesla"], "present": ["Apple"]}


def test_add_reads_names_from_stdin_skipping_blank_lines_and_comments(stack, cli_runner):
    # GIVEN names on stdin with a comment, a blank line and Windows line ends
    text = "# watch these\r\nNetflix\r\n\r\n  Tesla  \r\n"
    # WHEN they are added with -f -
    result = cli_runner.invoke(cli, ["add", "-f", "-"], input=text)
    # THEN exactly the names are on the watchlist
    assert result.exit_code == 0, result.stderr
    assert stack.names() == ["Netflix", "Tesla"]


def test_add_of_1000_names_from_a_file_writes_in_chunks_of_25(stack, cli_runner, tmp_path, ddb_calls):
    # GIVEN a file of 1,000 names
    names = [f"Company {i:04d}" for i in range(1000)]
    path = tmp_path / "names.txt"
    path.write_text("\n".join(names) + "\n")
    # WHEN it is added
    result = cli_runner.invoke(cli, ["add", "-f", str(path), "--json"])
    # THEN 40 BatchWriteItem calls wrote all of them, with progress on stderr
    assert result.exit_code == 0, result.stderr
    assert ddb_calls["BatchWriteItem"] == 1000 // DDB_BATCH_WRITE
    assert stack.names() == names
    assert len(json.loads(result.stdout)["added"]) == 1000
    assert "added 1000/1000" in result.stderr


def test_add_dry_run_writes_nothing(seeded, stack, cli_runner):
    # WHEN an add is only tried
    result = cli_runner.invoke(cli, ["add", "--dry-run", "-i", "Apple", "-i", "Tesla", "--json"])
    # THEN it says what would happen and the table is as it was
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {"would_add": ["Tesla"], "present": ["Apple"]}
    assert stack.items() == seeded


# --- add and remove: refused input -------------------------------------------------------------------


@pytest.mark.parametrize("command", ADD_NAMES)
def test_both_file_and_item_is_a_usage_error(seeded, stack, cli_runner, tmp_path, command):
    path = tmp_path / "names.txt"
    path.write_text("Apple\n")
    result = cli_runner.invoke(cli, [*command, "-i", "Apple", "-f", str(path)])
    assert "not both" in assert_one_line_failure(result, 2)
    assert stack.items() == seeded


@pytest.mark.parametrize("command", ADD_AND_REMOVE_NAMES)
def test_neither_file_nor_item_is_a_usage_error(seeded, stack, cli_runner, command):
    result = cli_runner.invoke(cli, command)
    assert "--item NAME" in assert_one_line_failure(result, 2)
    assert stack.items() == seeded


@pytest.mark.parametrize("command", ADD_NAMES)
def test_a_file_that_does_not_exist_is_a_usage_error(seeded, stack, cli_runner, tmp_path, command):
    result = cli_runner.invoke(cli, [*command, "-f", str(tmp_path / "nope.txt")])
    assert "does not exist" in assert_one_line_failure(result, 2)
    assert stack.items() == seeded


@pytest.mark.parametrize("command", ADD_NAMES)
def test_an_empty_file_holds_no_names(seeded, stack, cli_runner, tmp_path, command):
    path = tmp_path / "empty.txt"
    path.write_text("")
    result = cli_runner.invoke(cli, [*command, "-f", str(path)])
    assert assert_one_line_failure(result, 1) == f"Error: no company names in {path}"
    assert stack.items() == seeded


@pytest.mark.parametrize("command", ADD_NAMES)
def test_a_file_of_blank_lines_and_comments_holds_no_names(seeded, stack, cli_runner, tmp_path, command):
    path = tmp_path / "blank.txt"
    path.write_text("\n   \n\t\n# only a comment\n\n")
    result = cli_runner.invoke(cli, [*command, "-f", str(path)])
    assert assert_one_line_failure(result, 1) == f"Error: no company names in {path}"
    assert stack.items() == seeded


@pytest.mark.parametrize("command", ADD_NAMES)
def test_a_1000_character_name_is_refused_naming_its_line(seeded, stack, cli_runner, tmp_path, command):
    # GIVEN a file whose second line is 1,000 characters long
    path = tmp_path / "names.txt"
    path.write_text("Apple\n" + "x" * 1000 + "\nTesla\n")
    # WHEN it is used
    result = cli_runner.invoke(cli, [*command, "-f", str(path)])
    # THEN one line names the line and the limit, and nothing was written (not even the good names)
    line = assert_one_line_failure(result, 1)
    assert f"{path} line 2" in line
    assert "1000 characters" in line
    assert stack.items() == seeded


@pytest.mark.parametrize("command", ADD_AND_REMOVE_NAMES)
def test_a_name_holding_a_control_character_is_refused(seeded, stack, cli_runner, command):
    result = cli_runner.invoke(cli, [*command, "-i", "Tesla", "-i", "Acme\x07Corp"])
    line = assert_one_line_failure(result, 1)
    assert "--item 2" in line
    assert "U+0007" in line
    assert stack.items() == seeded


def test_a_file_that_is_not_utf8_is_refused_in_one_line(seeded, stack, cli_runner, tmp_path):
    # GIVEN a Latin-1 file (as some spreadsheet exports are)
    path = tmp_path / "latin1.txt"
    path.write_bytes("Nestlé\n".encode("latin-1"))
    # WHEN it is added
    result = cli_runner.invoke(cli, ["add", "-f", str(path)])
    # THEN one line says what is wrong with the file, and nothing is written
    assert "is not UTF-8 text" in assert_one_line_failure(result, 1)
    assert stack.items() == seeded


def test_each_refused_name_gets_its_own_line_and_nothing_is_written(seeded, stack, cli_runner):
    result = cli_runner.invoke(cli, ["add", "-f", "-"], input="Tesla\nAc\x00me\n" + "y" * 300 + "\n")
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "Error: stdin line 2: name holds a control character (U+0000); nothing written",
        "Error: stdin line 3: name is 300 characters long; the limit is 255; nothing written",
    ]
    assert stack.items() == seeded


# --- remove ------------------------------------------------------------------------------------------


def test_remove_takes_names_off_and_reports_absent_ones(seeded, stack, cli_runner):
    # GIVEN two companies on the watchlist
    put(stack, "Netflix")
    # WHEN one of them and an absent one are removed
    result = cli_runner.invoke(cli, ["remove", "--yes", "-i", "Apple", "-i", "Zed"])
    # THEN the present one is gone and the absent one is reported, with success
    assert result.exit_code == 0, result.stderr
    assert stack.names() == ["Netflix"]
    assert result.stdout.splitlines()[1:] == ["Apple  removed", "Zed    not found"]


def test_remove_of_an_absent_name_succeeds_and_says_not_found(seeded, stack, cli_runner):
    result = cli_runner.invoke(cli, ["remove", "-i", "Zed", "--json"])
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {"removed": [], "not_found": ["Zed"]}
    assert stack.items() == seeded


def test_remove_reads_names_from_a_file(seeded, stack, cli_runner, tmp_path):
    put(stack, "Netflix")
    path = tmp_path / "gone.txt"
    path.write_text("# leaving\nApple\nNetflix\n")
    result = cli_runner.invoke(cli, ["remove", "-y", "-f", str(path)])
    assert result.exit_code == 0, result.stderr
    assert stack.names() == []


def test_remove_keeps_the_results_in_the_bucket(seeded, stack, cli_runner):
    # GIVEN a result object for the company in the stack's results bucket
    s3 = boto3.client("s3", region_name=REGION)
    key = "results/dt=2026-11-27/part-0123456789abcdef0123456789abcdef.csv"
    s3.put_object(Bucket=stack.bucket, Key=key, Body=b"name,sentiment\nApple,NEUTRAL\n")
    # WHEN the company is removed
    result = cli_runner.invoke(cli, ["remove", "--yes", "-i", "Apple"])
    # THEN it is off the watchlist and its results are still there
    assert result.exit_code == 0, result.stderr
    assert stack.names() == []
    assert s3.get_object(Bucket=stack.bucket, Key=key)["Body"].read() == b"name,sentiment\nApple,NEUTRAL\n"


def test_remove_without_yes_off_a_terminal_refuses(seeded, stack, cli_runner):
    # WHEN remove runs with no terminal to ask on and no --yes
    result = cli_runner.invoke(cli, ["remove", "-i", "Apple"])
    # THEN it refuses in one line instead of hanging, and nothing is removed
    assert "--yes" in assert_one_line_failure(result, 1)
    assert stack.items() == seeded


def test_remove_asks_on_a_terminal_and_a_yes_removes(seeded, stack, cli_runner, monkeypatch):
    monkeypatch.setattr("watchlist_workstation.cli.watchlist.is_interactive", lambda: True)
    result = cli_runner.invoke(cli, ["remove", "-i", "Apple"], input="y\n")
    assert result.exit_code == 0, result.stderr
    assert "Remove 1 company from the watchlist" in result.stderr
    assert stack.names() == []


def test_remove_asks_on_a_terminal_and_a_no_keeps_everything(seeded, stack, cli_runner, monkeypatch):
    monkeypatch.setattr("watchlist_workstation.cli.watchlist.is_interactive", lambda: True)
    result = cli_runner.invoke(cli, ["remove", "-i", "Apple"], input="n\n")
    assert result.exit_code == 1
    assert result.stderr.endswith("[y/N]:Error: cancelled; nothing removed\n")
    assert stack.items() == seeded


def test_remove_dry_run_deletes_nothing(seeded, stack, cli_runner):
    result = cli_runner.invoke(cli, ["remove", "--dry-run", "-i", "Apple", "-i", "Zed", "--json"])
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {"would_remove": ["Apple"], "not_found": ["Zed"]}
    assert stack.items() == seeded


# --- update ------------------------------------------------------------------------------------------


def test_update_renames_atomically_keeping_added_at(seeded, stack, cli_runner):
    # WHEN an analysed company is renamed
    result = cli_runner.invoke(cli, ["update", "--old", "Apple", "--new", "Apple Inc."])
    # THEN the old name is gone, the new one remembers when it was added and waits for its own analysis
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "renamed Apple -> Apple Inc.\n"
    assert stack.items() == {"Apple Inc.": {"name": {"S": "Apple Inc."}, "added_at": {"S": "2026-01-01T00:00:00Z"}}}


def test_update_json_names_old_and_new(seeded, cli_runner):
    result = cli_runner.invoke(cli, ["update", "-o", "Apple", "-n", "Apple Inc.", "--json"])
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {"old": "Apple", "new": "Apple Inc."}


def test_update_keeps_the_results_in_the_bucket(seeded, stack, cli_runner):
    s3 = boto3.client("s3", region_name=REGION)
    key = "results/dt=2026-11-27/part-fedcba9876543210fedcba9876543210.csv"
    s3.put_object(Bucket=stack.bucket, Key=key, Body=b"name\nApple\n")
    result = cli_runner.invoke(cli, ["update", "-o", "Apple", "-n", "Apple Inc."])
    assert result.exit_code == 0, result.stderr
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=stack.bucket)["Contents"]] == [key]


def test_update_with_only_old_is_a_usage_error(seeded, stack, cli_runner):
    result = cli_runner.invoke(cli, ["update", "--old", "Apple"])
    assert "Missing option '--new'" in assert_one_line_failure(result, 2)
    assert stack.items() == seeded


def test_update_of_a_missing_name_fails(seeded, stack, cli_runner):
    result = cli_runner.invoke(cli, ["update", "-o", "Gone", "-n", "Tesla"])
    assert assert_one_line_failure(result, 1) == "Error: 'Gone' is not on the watchlist; nothing renamed"
    assert stack.items() == seeded


def test_update_onto_a_name_that_exists_fails(seeded, stack, cli_runner):
    put(stack, "Netflix", sentiment="POSITIVE")
    before = stack.items()
    result = cli_runner.invoke(cli, ["update", "-o", "Apple", "-n", "Netflix"])
    assert assert_one_line_failure(result, 1) == "Error: 'Netflix' is already on the watchlist; nothing renamed"
    assert stack.items() == before


def test_update_to_an_invalid_name_fails(seeded, stack, cli_runner):
    result = cli_runner.invoke(cli, ["update", "-o", "Apple", "-n", "x" * 1000])
    assert "--new: name is 1000 characters long" in assert_one_line_failure(result, 1)
    assert stack.items() == seeded


# --- list --------------------------------------------------------------------------------------------


def test_list_shows_names_sorted_with_latest_sentiment(seeded, stack, cli_runner):
    # GIVEN an analysed company and one not analysed yet
    put(stack, "Aardvark Ltd")
    # WHEN the watchlist is listed
    result = cli_runner.invoke(cli, ["list"])
    # THEN both appear, sorted, with the analysed one's sentiment and time
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == [
        "name          title  sentiment  analyzed_at           last_error",
        "Aardvark Ltd",
        "Apple                NEUTRAL    2026-11-27T12:00:00Z",
    ]


def test_list_json_is_a_list_of_rows(seeded, cli_runner):
    result = cli_runner.invoke(cli, ["list", "--json"])
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == [
        {
            "name": "Apple",
            "title": None,
            "sentiment": "NEUTRAL",
            "analyzed_at": "2026-11-27T12:00:00Z",
            "last_error": None,
        }
    ]


def test_list_of_an_empty_watchlist_prints_nothing_and_notes_it(stack, cli_runner):
    result = cli_runner.invoke(cli, ["list"])
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    assert result.stderr == "the watchlist is empty\n"


def test_list_json_of_an_empty_watchlist_is_an_empty_list(stack, cli_runner):
    result = cli_runner.invoke(cli, ["list", "--json"])
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == []
    assert "Empty list" not in result.stdout + result.stderr


# --- every command: the environment is missing something ---------------------------------------------


@pytest.mark.parametrize("args", [ADD, REMOVE, UPDATE, LIST])
def test_without_credentials_every_command_fails_in_one_line(seeded, stack, cli_runner, tmp_path, args):
    # GIVEN no credentials anywhere botocore looks (and no metadata service to ask)
    with aws_environment(tmp_path, credentials=False, region=True):
        # WHEN a command runs
        result = cli_runner.invoke(cli, args)
    # THEN one line says so, and the table is unchanged
    assert "no AWS credentials" in assert_one_line_failure(result, 1)
    assert stack.items() == seeded


@pytest.mark.parametrize("args", [ADD, LIST])
def test_without_a_region_every_command_fails_in_one_line(seeded, stack, cli_runner, tmp_path, args):
    with aws_environment(tmp_path, credentials=True, region=False):
        result = cli_runner.invoke(cli, args)
    assert "no AWS region" in assert_one_line_failure(result, 1)
    assert stack.items() == seeded


@pytest.mark.parametrize("args", [REMOVE, UPDATE])
def test_a_stack_that_does_not_exist_fails_in_one_line(seeded, stack, cli_runner, args):
    result = cli_runner.invoke(cli, ["--stack-name", "nope", *args])
    assert "stack nope does not exist" in assert_one_line_failure(result, 1)
    assert stack.items() == seeded


# ---------------------------------------------------------------- a name that names its page
def test_add_takes_a_page_title_after_a_bar_and_list_shows_it(stack, cli_runner):
    # WHEN a name is added with the page it should read
    result = cli_runner.invoke(cli, ["add", "--item", "Amazon | Amazon (company)", "--item", "Netflix"])
    # THEN the company is on the watchlist under its name, with its page title
    assert result.exit_code == 0, result.stderr
    items = stack.items()
    assert items["Amazon"]["title"] == {"S": "Amazon (company)"} and "title" not in items["Netflix"]
    listed = json.loads(cli_runner.invoke(cli, ["list", "--json"]).stdout)
    assert [(row["name"], row["title"]) for row in listed] == [("Amazon", "Amazon (company)"), ("Netflix", None)]


def test_a_file_of_names_with_page_titles_is_read_like_the_sample_watchlist(stack, cli_runner, tmp_path):
    names = tmp_path / "names.txt"
    names.write_text("# a comment\nApple | Apple Inc.\nIBM\n", encoding="utf-8")
    result = cli_runner.invoke(cli, ["add", "--file", str(names)])
    assert result.exit_code == 0, result.stderr
    assert stack.items()["Apple"]["title"] == {"S": "Apple Inc."}


@pytest.mark.parametrize(
    "entry",
    ["Amazon | ", " | Amazon (company)", "A | B | C", "Amazon | Amazon\x07"],
    ids=["no title", "no name", "two bars", "control"],
)
def test_a_malformed_name_and_title_is_refused_and_nothing_is_written(stack, cli_runner, entry):
    result = cli_runner.invoke(cli, ["add", "--item", entry])
    assert result.exit_code == 1 and "nothing written" in result.stderr
    assert stack.names() == []
