"""`./cfcli.py results`: each company's latest analysis from the watchlist table, or a range of its history from S3.

The latest view reads the table only (docs/cli.md, "results"); `--all` and `--since` read the day partitions in
their range (docs/cli.md, "Reading the dataset").
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import click

from lib.dataset_layout import RESULTS_PREFIX
from lib.names import InvalidName, validate_name
from watchlist_workstation.cli.app import cli
from watchlist_workstation.cli.context import AppContext, emit_json, emit_table, note
from watchlist_workstation.limits import HISTORY_DEFAULT_DAYS

TABLE_COLUMNS = ["name", "sentiment", "positive", "negative", "neutral", "mixed", "analyzed_at"]
SCORE_COLUMNS = ("positive", "negative", "neutral", "mixed")


def now() -> datetime:
    """The UTC time the history's ranges count back from, and which days are finished at."""
    return datetime.now(UTC)


class SinceParam(click.ParamType):
    name = "DATE|TIME"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> datetime:
        if isinstance(value, datetime):
            return value
        # Imported here, not at the top: watchlist_workstation.analysis loads pandas, which no other command
        # should wait for.
        from watchlist_workstation.analysis.dataset import parse_since

        try:
            return parse_since(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


def _names_param(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> tuple[str, ...]:
    try:
        return tuple(validate_name(value) for value in values)
    except InvalidName as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from exc


@cli.command()
@click.option(
    "--since",
    type=SinceParam(),
    help="Only rows analysed at or after this UTC date (YYYY-MM-DD) or ISO-8601 time (reads the history).",
)
@click.option(
    "--name",
    "names",
    multiple=True,
    callback=_names_param,
    help="Only this company (repeatable; case and extra spaces do not matter).",
)
@click.option("--all", "show_all", is_flag=True, help="Every row (each company's history), not just its latest.")
@click.option(
    "--days",
    type=click.IntRange(min=1),
    help=f"With --all: read the day partitions of the last N days (default with --name: since the company was "
    f"added, at most {HISTORY_DEFAULT_DAYS} days; without --name: every day).",
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["table", "csv", "json"]),
    default=None,
    help="table (default: the scores, no text), or csv / json with every column (the latest view has no text).",
)
@click.option("--json", "as_json", is_flag=True, help="Same as --format json.")
@click.pass_obj
def results(
    app: AppContext,
    since: datetime | None,
    names: tuple[str, ...],
    show_all: bool,
    days: int | None,
    output_format: str | None,
    as_json: bool,
) -> None:
    """Show the latest sentiment of each company (from the watchlist table), or its history (from S3) with --all."""
    context = click.get_current_context()
    if as_json and output_format not in (None, "json"):
        raise click.UsageError(f"--json contradicts --format {output_format}", context)
    if days is not None and since is not None:
        raise click.UsageError("--days contradicts --since (--since sets the range)", context)
    if days is not None and not show_all:
        raise click.UsageError("--days needs --all (the latest view reads the table, not the history)", context)
    output_format = "json" if as_json else (output_format or "table")

    # pandas takes about a second to import: only this command pays for it.
    from watchlist_workstation.analysis import dataset
    from watchlist_workstation.analysis.latest import read_watchlist

    if not show_all and since is None:
        frame = read_watchlist(app.client("dynamodb"), app.table_name()).latest
        empty_note = "no results yet"
    else:
        # Named companies' spelling and added date come from the table; the whole history needs neither.
        added = read_watchlist(app.client("dynamodb"), app.table_name()).added if names else {}
        frame = _history(app, dataset, added, since, names, days, show_all)
        empty_note = f"no results since {dataset.format_time(since)}" if since else "no results yet"
    if names:
        frame = dataset.filter_names(frame, names)
        found = {dataset.name_key(n) for n in frame["name"]}
        missing = [n for n in names if dataset.name_key(n) not in found]
        if missing:
            note("no results for: " + ", ".join(missing))
    elif frame.empty:
        note(empty_note)
    if frame.empty:
        if output_format == "json":
            emit_json([])
        return
    _emit(frame, output_format, dataset)


def _history(
    app: AppContext,
    dataset: Any,
    added: dict[str, date | None],
    since: datetime | None,
    names: tuple[str, ...],
    days: int | None,
    show_all: bool,
) -> Any:
    """The de-duplicated rows of the range (every row with --all, else each company's latest of them)."""
    from watchlist_workstation.analysis import partitions

    bucket = app.output("ResultsBucketName")
    last = now().date()
    wanted: list[str] | None = None
    if names:
        # The reader matches names exactly (a compacted day is found by the exact name): take the watchlist's
        # spelling; a name no longer on it is looked for as given.
        keys = {dataset.name_key(n) for n in names}
        on_list = [name for name in added if dataset.name_key(name) in keys]
        found = {dataset.name_key(name) for name in on_list}
        wanted = on_list + [n for n in names if dataset.name_key(n) not in found]
    if since is not None:
        days_range = dataset.since_range(since)
    elif wanted is not None:
        first = partitions.history_first_day([added.get(name) for name in wanted], days, last)
        days_range = dataset.DayRange(first=first)
    else:
        days_range = dataset.DayRange(first=last - timedelta(days=days - 1) if days else None)

    def skipped(key: str, reason: str) -> None:
        note(f"skipped s3://{bucket}/{key}: {reason}")

    if wanted is not None and len(wanted) == 1 and days_range.first is not None:
        # One company: its objects are found through its table item and the days' manifests, no listing
        # (watchlist_workstation/analysis/company_history.py).
        from watchlist_workstation.analysis.company_history import load_company
        from watchlist_workstation.analysis.partitions import RequestCount

        frame = load_company(
            app.client("s3"),
            app.client("dynamodb"),
            app.table_name(),
            bucket,
            RESULTS_PREFIX,
            wanted[0],
            days_range.first,
            now=now(),
            since=since,
            counts=RequestCount(),
            on_skip=skipped,
        )
    else:
        frame = dataset.load_results(
            app.client("s3"), bucket, RESULTS_PREFIX, since, days=days_range, names=wanted, on_skip=skipped
        )
    frame = dataset.dedupe(frame)
    return dataset.sort_by_name(frame) if show_all else dataset.latest_per_company(frame)


def _emit(frame: Any, output_format: str, dataset: Any) -> None:
    if output_format == "table":
        rows = [
            {
                **{column: row[column] for column in ("name", "sentiment")},
                **{column: f"{row[column]:.3f}" for column in SCORE_COLUMNS},
                "analyzed_at": dataset.format_time(row["analyzed_at"]),
            }
            for row in frame.to_dict("records")
        ]
        emit_table(rows, TABLE_COLUMNS)
        return
    frame = frame.assign(analyzed_at=frame["analyzed_at"].map(dataset.format_time))
    if output_format == "csv":
        click.echo(frame.to_csv(index=False, lineterminator="\n"), nl=False)
    else:
        records = [
            {k: (float(v) if k in SCORE_COLUMNS else _plain(v)) for k, v in r.items()} for r in frame.to_dict("records")
        ]
        emit_json(records)


def _plain(value: Any) -> Any:
    """A JSON-able value: a missing revision (pandas' NA) becomes null, a numpy integer an int."""
    import pandas as pd

    if value is None or value is pd.NA:
        return None
    return value.item() if hasattr(value, "item") else value
