"""Watchlist commands: add, remove, update (rename) and list the companies the pipeline watches.

Thin over ddb_ops: this module reads and checks the names people give, asks before
deleting, and reports; ddb_ops does the DynamoDB work. The table comes from the
stack's outputs (or CFCLI_TABLE_NAME).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import click

import ddb_ops
from lib.limits import DDB_BATCH_WRITE
from lib.names import InvalidName, validate_name
from watchlist_workstation.cli.app import OneLineUsageError, cli
from watchlist_workstation.cli.context import AppContext, CliError, emit_json, emit_table, is_interactive, note
from watchlist_workstation.cli.progress import Progress, stage

# Inputs above this many names report their progress on stderr (watchlist_workstation/cli/progress.py).
PROGRESS_FROM = 4 * DDB_BATCH_WRITE


# "Name | Page title": the page to read for a name that alone is ambiguous. A MediaWiki title cannot
# hold "|" (mediawiki.org, Manual:Page title), so the bar can never be part of a title.
TITLE_SEPARATOR = "|"


@dataclass(frozen=True)
class NameInput:
    names: list[str]  # normal forms, first-seen order, no duplicates
    folded: int  # how many entries were duplicates of an earlier one
    source: str  # for messages: the file, "stdin" or "--item"
    titles: dict[str, str]  # the page titles named with "Name | Title", by name


def _file_entries(path: str) -> tuple[str, list[tuple[str, str]]]:
    """(source, [(where, raw line)]) for the lines that are neither blank nor a # comment."""
    source = "stdin" if path == "-" else path
    entries = []
    try:
        # utf-8-sig: a byte order mark (Windows editors add one) is not part of the first name.
        with click.open_file(path, "r", encoding="utf-8-sig", errors="strict") as stream:
            # Iterating splits at line ends only; str.splitlines would also split at \x1c, \x85, \u2028...
            # and so hide control characters that must be refused.
            for number, line in enumerate(stream, start=1):
                raw = line.rstrip("\r\n")
                if number == 1:
                    raw = raw.removeprefix("\ufeff")
                if not raw.strip() or raw.lstrip().startswith("#"):
                    continue
                entries.append((f"{source} line {number}", raw))
    except UnicodeDecodeError as exc:
        raise CliError(f"{source} is not UTF-8 text ({exc.reason}); save it as UTF-8") from exc
    except OSError as exc:
        raise CliError(f"cannot read {source}: {exc.strerror or exc}") from exc
    return source, entries


def read_names(items: tuple[str, ...], path: str | None, verb: str) -> NameInput:
    """The names to work on, from --item or --file; every bad one is reported before anything is written."""
    if items and path is not None:
        raise OneLineUsageError("give the names with --item or with --file, not both", click.get_current_context())
    if not items and path is None:
        raise OneLineUsageError(
            "no names given: use --item NAME (repeatable) or --file FILE ('-' for stdin)", click.get_current_context()
        )
    if path is not None:
        source, entries = _file_entries(path)
    else:
        source, entries = "--item", [(f"--item {n}", raw) for n, raw in enumerate(items, start=1)]

    names: dict[str, None] = {}
    titles: dict[str, str] = {}
    problems = []
    folded = 0
    for where, raw in entries:
        try:
            name, title = _name_and_title(raw)
        except InvalidName as exc:
            problems.append(f"{where}: {exc}")
            continue
        if name in names:
            folded += 1
        names[name] = None
        if title is not None:
            titles[name] = title
    if problems:
        # One line per refused name, so each can be found and fixed; the last one ends the command.
        for problem in problems[:-1]:
            note(f"Error: {problem}; nothing {verb}")
        raise CliError(f"{problems[-1]}; nothing {verb}")
    if not names:
        raise CliError(f"no company names in {source}")
    if folded:
        note(f"folded {folded} duplicate name{'s' if folded != 1 else ''}")
    return NameInput(list(names), folded, source, titles)


def _name_and_title(raw: str) -> tuple[str, str | None]:
    """ "Name" or "Name | Page title", each part checked like a name."""
    if TITLE_SEPARATOR not in raw:
        return validate_name(raw), None
    name, title = raw.split(TITLE_SEPARATOR, 1)
    if TITLE_SEPARATOR in title:
        raise InvalidName(f"more than one {TITLE_SEPARATOR!r} (give 'Name | Page title')")
    try:
        return validate_name(name), validate_name(title)
    except InvalidName as exc:
        raise InvalidName(f"{exc} (in 'Name | Page title')") from exc


@contextlib.contextmanager
def _progress(verb: str, total: int, first: str | None = None) -> Iterator[Callable[[int, int], None] | None]:
    """What ddb_ops reports each written chunk to: progress on stderr for inputs over PROGRESS_FROM names,
    after the line `first` (what happens before the first write)."""
    if total <= PROGRESS_FROM:
        yield None
        return
    if first:
        stage(first)
    with Progress(verb) as progress:
        yield lambda done, of: progress.update(done, total=of)


@contextlib.contextmanager
def _watchlist_errors(verb: str) -> Iterator[None]:
    try:
        yield
    except (ddb_ops.WatchlistError, InvalidName) as exc:
        raise CliError(f"{exc}; nothing {verb}") from exc


def _name_options(command):
    command = click.option(
        "--file",
        "-f",
        "path",
        type=click.Path(exists=True, dir_okay=False, readable=True, allow_dash=True),
        help="A file of company names, one a line ('Name' or 'Name | Page title'; '-' for stdin); "
        "blank lines and '#' comments are skipped.",
    )(command)
    command = click.option(
        "--item",
        "-i",
        "items",
        multiple=True,
        metavar="NAME",
        help="A company name, or 'Name | Page title' (repeat for more).",
    )(command)
    return command


_json_option = click.option("--json", "as_json", is_flag=True, help="Machine-readable output on stdout.")


def _report(
    names: list[str],
    done: tuple[str, list[str]],
    other: tuple[str, str, list[str]],
    dry_run: bool,
    as_json: bool,
) -> None:
    """Print what add/remove did (or would do): a table or JSON on stdout, a one-line summary on stderr.

    `done` is (verb, names), e.g. ("add", [...]); `other` is (label, json key, names), e.g. the
    names already present. A dry run says "would add" and uses the key "would_add".
    """
    verb, changed = done
    label, key, rest = other
    word = f"would {verb}" if dry_run else f"{verb.rstrip('e')}ed"
    if as_json:
        emit_json({word.replace(" ", "_"): changed, key: rest})
    else:
        status = dict.fromkeys(changed, word) | dict.fromkeys(rest, label)
        emit_table([{"name": n, "result": status[n]} for n in names], ["name", "result"])
    note(f"{word} {len(changed)}, {label} {len(rest)}" + (" (dry run)" if dry_run else ""))


@cli.command("add")
@_name_options
@click.option("--dry-run", is_flag=True, help="Show what would be added; write nothing.")
@_json_option
@click.pass_obj
def add(app: AppContext, items: tuple[str, ...], path: str | None, dry_run: bool, as_json: bool) -> None:
    """Put companies on the watchlist; names already there are reported and left as they are.

    A name that alone is ambiguous can name its Wikipedia page: 'Amazon | Amazon (company)'.
    Names are trimmed and inner whitespace collapsed; the same name given twice is added once.
    Any name over the length limit or holding a control character stops the command before
    anything is written.
    """
    wanted = read_names(items, path, "written")
    table = app.table_name()
    ddb = app.client("dynamodb")
    with _watchlist_errors("written"):
        if dry_run:
            present = ddb_ops.existing_names(table, wanted.names, ddb)
            report = ddb_ops.AddReport(
                added=[n for n in wanted.names if n not in present], present=[n for n in wanted.names if n in present]
            )
        else:
            first = f"checking {len(wanted.names)} names against the watchlist, then writing {DDB_BATCH_WRITE} a call"
            with _progress("added", len(wanted.names), first) as progress:
                report = ddb_ops.items_add(table, wanted.names, ddb, titles=wanted.titles, progress=progress)
    _report(wanted.names, ("add", report.added), ("already present", "present", report.present), dry_run, as_json)


@cli.command("remove")
@_name_options
@click.option("--dry-run", is_flag=True, help="Show what would be removed; delete nothing.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@_json_option
@click.pass_obj
def remove(app: AppContext, items: tuple[str, ...], path: str | None, dry_run: bool, yes: bool, as_json: bool) -> None:
    """Take companies off the watchlist. Their results in S3 are history and are kept.

    Names that are not on the watchlist are reported as not found; that is not an error.
    """
    wanted = read_names(items, path, "removed")
    table = app.table_name()
    ddb = app.client("dynamodb")
    with _watchlist_errors("removed"):
        present = ddb_ops.existing_names(table, wanted.names, ddb)
        if present and not dry_run and not yes:
            _confirm_removal(len(present), table, names_from_stdin=path == "-")
        if dry_run:
            report = ddb_ops.DeleteReport(
                removed=[n for n in wanted.names if n in present],
                not_found=[n for n in wanted.names if n not in present],
            )
        else:
            with _progress("removed", len(present)) as progress:
                report = ddb_ops.items_delete(table, wanted.names, ddb, progress=progress)
    _report(wanted.names, ("remove", report.removed), ("not found", "not_found", report.not_found), dry_run, as_json)


def _confirm_removal(count: int, table: str, *, names_from_stdin: bool) -> None:
    what = "1 company" if count == 1 else f"{count} companies"
    if names_from_stdin or not is_interactive():
        reason = "the names came from stdin" if names_from_stdin else "stdin is not a terminal"
        raise CliError(f"not removing {what} without confirmation ({reason}): pass --yes")
    if not click.confirm(f"Remove {what} from the watchlist {table}? (results in S3 are kept)", err=True):
        raise CliError("cancelled; nothing removed")


@cli.command("update")
@click.option("--old", "-o", required=True, metavar="NAME", help="The name on the watchlist now.")
@click.option("--new", "-n", required=True, metavar="NAME", help="The name it should have.")
@_json_option
@click.pass_obj
def update(app: AppContext, old: str, new: str, as_json: bool) -> None:
    """Rename a company in one atomic step.

    The renamed entry keeps when it was added and starts with no sentiment: the new name is
    a different page, analysed on the next run. Results already in S3 stay under the old name.
    """
    checked = {}
    for option, raw in (("--old", old), ("--new", new)):
        try:
            checked[option] = validate_name(raw)
        except InvalidName as exc:
            raise CliError(f"{option}: {exc}; nothing renamed") from exc
    old, new = checked["--old"], checked["--new"]
    table = app.table_name()
    with _watchlist_errors("renamed"):
        ddb_ops.item_update(table, old, new, app.client("dynamodb"))
    if as_json:
        emit_json({"old": old, "new": new})
    else:
        click.echo(f"renamed {old} -> {new}")


@cli.command("list")
@_json_option
@click.pass_obj
def list_(app: AppContext, as_json: bool) -> None:
    """Every company on the watchlist, sorted, with its latest sentiment and when it was analysed."""
    rows = ddb_ops.items_list(app.table_name(), app.client("dynamodb"))
    if not rows:
        note("the watchlist is empty")
    if as_json:
        # An empty watchlist is still valid JSON ([]), so scripts need no special case.
        emit_json(rows)
    else:
        emit_table(rows, list(ddb_ops.LIST_ATTRIBUTES))
