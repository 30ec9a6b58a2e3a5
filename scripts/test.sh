#!/usr/bin/env bash
# The one command that runs every test: installs a Redis server if missing, then runs
# the whole suite (unit, integration against real servers, snapshots, pty end-to-end).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-deps.sh
cargo test "$@"
