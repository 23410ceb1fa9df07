"""The `cfcli` command: the click group with every command module registered on it.

`./cfcli.py` in a checkout and the `cfcli` entry point of an installed CLI (pyproject.toml) both run
`main`, so the two have the same commands.
"""

from __future__ import annotations

# Importing a command module adds its commands to the group.
from watchlist_workstation.cli import cost, deploy, diagram, local, observe, serve, watchlist  # noqa: F401
from watchlist_workstation.cli.app import cli


def main(prog_name: str | None = None) -> None:
    cli(prog_name=prog_name)
