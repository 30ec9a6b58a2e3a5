#!/usr/bin/env bash
# Run redtail's demo: a private Redis with a realistic workload, and the TUI on it.
set -euo pipefail
cd "$(dirname "$0")/.."
REDTAIL_WITH_VALKEY=0 bash scripts/ensure-deps.sh
exec cargo run --release --quiet -- demo "$@"
