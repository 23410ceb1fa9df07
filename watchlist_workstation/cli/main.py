"""The `cfcli` command: the click group with every command module registered on it.

`./cfcli.py` in a checkout and the `cfcli` entry point of an installed CLI (pyproject.toml) both run
`main`, so the two have the same commands.
"""

from __future__ import annotations

import os
import sys

# Importing a command module adds its commands to the group.
from watchlist_workstation.cli import (  # noqa: F401
    compact,
    cost,
    deploy,
    diagram,
    local,
    observe,
    query,
    redrive,
    results,
    serve,
    watchlist,
)
from watchlist_workstation.cli.app import PIPE_CLOSED_EXIT, cli


def main(prog_name: str | None = None) -> None:
    """Run the CLI; a reader that closes stdout early (`./cfcli.py list | head -1`) ends it quietly.

    A closed pipe shows up as BrokenPipeError on a write (the group turns it into PipeClosed, exit 141),
    or on the last flush of what stdout still buffers. Either way stdout is pointed at the null device, as
    the Python documentation's "Note on SIGPIPE" advises, so the interpreter's own flush at exit does not
    print an ignored-exception warning, and the exit status is 141, what a shell reports for a process
    SIGPIPE ended (docs/cli.md, "Pipes"). SIGPIPE itself stays ignored: its default action would also end
    the CLI silently on any closed socket to AWS.
    """
    try:
        try:
            cli(prog_name=prog_name)
        finally:
            sys.stdout.flush()
    except BrokenPipeError:
        _detach_stdout()
        sys.exit(PIPE_CLOSED_EXIT)
    except SystemExit as done:
        if done.code == PIPE_CLOSED_EXIT:
            _detach_stdout()
        raise


def _detach_stdout() -> None:
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
