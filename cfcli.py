#!/bin/sh
# Runs with the project's .venv when it exists (after `make install`), else with python3.
''''true
venv="$(dirname "$0")/.venv/bin/python"
if [ -x "$venv" ]; then exec "$venv" "$0" "$@"; fi
exec python3 "$0" "$@"
'''

# cfcli: deploy the watchlist sentiment pipeline, manage its watchlist, read its results, tear it down.
# The commands live in watchlist_workstation/cli/ (main.py assembles them; an installed CLI runs the same
# main as `cfcli`). `./cfcli.py --help` lists them.
# (The string above is a shell prologue that Python reads as the module's docstring.)

import sys

from watchlist_workstation.cli.main import main

if __name__ == "__main__":
    sys.exit(main(prog_name="cfcli.py"))
