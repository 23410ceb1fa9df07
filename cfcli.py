#!/bin/sh
# Runs with the project's .venv when it exists (after `make install`), else with python3.
''''true
venv="$(dirname "$0")/.venv/bin/python"
if [ -x "$venv" ]; then exec "$venv" "$0" "$@"; fi
exec python3 "$0" "$@"
'''

# cfcli: deploy the watchlist sentiment pipeline, manage its watchlist, read its results, tear it down.
# The commands live in watchlist_workstation/cli/; this file assembles them. `./cfcli.py --help` lists them.
# (The string above is a shell prologue that Python reads as the module's docstring.)

import sys

# Importing a command module adds its commands to the group.
import watchlist_workstation.cli.cost
import watchlist_workstation.cli.deploy
import watchlist_workstation.cli.diagram
import watchlist_workstation.cli.local
import watchlist_workstation.cli.observe
import watchlist_workstation.cli.serve
import watchlist_workstation.cli.watchlist  # noqa: F401
from watchlist_workstation.cli.app import cli


def main() -> None:
    cli(prog_name="cfcli.py")


if __name__ == "__main__":
    sys.exit(main())
