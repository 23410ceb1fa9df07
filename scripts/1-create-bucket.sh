#!/usr/bin/env bash
# Step 1: print the stack's artifact bucket (where sam deploy uploads code and the template),
# creating it on first use: private, encrypted, TLS-only, old artifacts expire, tagged with the stack.
#   scripts/1-create-bucket.sh [--json]
# Stack, region, profile: CFCLI_STACK_NAME, CFCLI_REGION (or AWS_DEFAULT_REGION), CFCLI_PROFILE.
# Step 3 (make-infra) does this itself; run it alone to know the name before deploying.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [[ ! -x .venv/bin/python ]]; then
    echo "1-create-bucket: .venv is missing; run 'make install' first" >&2
    exit 1
fi
exec ./cfcli.py artifact-bucket "$@"
