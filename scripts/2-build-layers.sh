#!/usr/bin/env bash
# Step 2: build the Lambda layers, the function folders and build/template.yml (no Docker needed),
# and print each function's size against Lambda's limit. Arguments go to the builder:
#   scripts/2-build-layers.sh [--json] [--force-deps] [--out DIR]
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [[ ! -x .venv/bin/python ]]; then
    echo "2-build-layers: .venv is missing; run 'make install' first" >&2
    exit 1
fi
exec .venv/bin/python -m watchlist_workstation.deploy.build "$@"
