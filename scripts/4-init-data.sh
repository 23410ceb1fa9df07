#!/usr/bin/env bash
# Step 4: put the sample watchlist (data/watchlist.txt) into the deployed stack's table.
#   scripts/4-init-data.sh [more options of 'cfcli.py add', e.g. --dry-run]
# Stack, region, profile: CFCLI_STACK_NAME, CFCLI_REGION (or AWS_DEFAULT_REGION), CFCLI_PROFILE.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [[ ! -x .venv/bin/python ]]; then
    echo "4-init-data: .venv is missing; run 'make install' first" >&2
    exit 1
fi
exec ./cfcli.py add -f data/watchlist.txt "$@"
