#!/usr/bin/env bash
# Step 3: build, ensure the artifact bucket, sam deploy the stack, print its outputs.
#   scripts/3-deploy.sh [--parameter KEY=VALUE ...] [--json]
# Stack, region, profile: CFCLI_STACK_NAME, CFCLI_REGION (or AWS_DEFAULT_REGION), CFCLI_PROFILE.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [[ ! -x .venv/bin/python ]]; then
    echo "3-deploy: .venv is missing; run 'make install' first" >&2
    exit 1
fi
exec ./cfcli.py make-infra "$@"
