#!/usr/bin/env bash
# Step 5: delete the stack and everything it created (nothing else); safe to run twice.
#   scripts/5-cleanup.sh --yes      (without --yes it asks, and refuses when stdin is not a terminal)
# Stack, region, profile: CFCLI_STACK_NAME, CFCLI_REGION (or AWS_DEFAULT_REGION), CFCLI_PROFILE.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [[ ! -x .venv/bin/python ]]; then
    echo "5-cleanup: .venv is missing; run 'make install' first" >&2
    exit 1
fi
exec ./cfcli.py teardown "$@"
