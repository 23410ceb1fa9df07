"""`./cfcli.py serve`: the results dashboard, read-only, on this machine."""

from __future__ import annotations

from datetime import datetime

import click

from lib.dataset_layout import RESULTS_PREFIX
from watchlist_workstation.cli.app import cli
from watchlist_workstation.cli.context import AppContext, CliError, aws_error_message, note
from watchlist_workstation.cli.results import SinceParam

# Threads answering requests: the main page waits on the table at most once per snapshot, a company page reads its
# history in a pool of its own, so a few are plenty.
SERVER_THREADS = 4


@cli.command()
@click.option(
    "--host", default="127.0.0.1", show_default=True, help="Address to listen on (default: this machine only)."
)
@click.option("--port", type=click.IntRange(0, 65535), default=8050, show_default=True, help="Port (0: any free port).")
@click.option("--since", type=SinceParam(), help="Only rows analysed at or after this UTC date or ISO-8601 time.")
@click.option(
    "--max-age",
    type=click.FloatRange(min=0),
    default=30.0,
    show_default=True,
    help="Seconds a read of the watchlist table (the main page) is reused before the table is read again.",
)
@click.pass_obj
def serve(app: AppContext, host: str, port: int, since: datetime | None, max_age: float) -> None:
    """Serve the results dashboard: latest sentiment per company (from the table), each company's history (from S3),
    JSON under /api/.

    Read-only; Ctrl-C stops it. With --local it shows the local stack's results.
    """
    bucket = app.output("ResultsBucketName")  # one clear line when the stack does not exist
    # flask, waitress and pandas load only for this command.
    from waitress import create_server

    from watchlist_workstation.dashboard.app import create_app
    from watchlist_workstation.dashboard.data import ResultsData

    data = ResultsData(
        app.client("s3"),
        bucket,
        RESULTS_PREFIX,
        ddb=app.client("dynamodb"),
        table=app.table_name(),
        since=since,
        max_age=max_age,
    )
    dashboard = create_app(data, explain=aws_error_message)
    try:
        server = create_server(dashboard, host=host, port=port, threads=SERVER_THREADS, ident="cfcli-dashboard")
    except OSError as exc:
        raise CliError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    shown_host = f"[{host}]" if ":" in host else host
    note(f"dashboard for {data.location} at http://{shown_host}:{server.effective_port}/ (Ctrl-C stops)")
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
