#!/usr/bin/env bash
# Builds (release) and runs the Switchyard server; arguments go to `switchyard serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh build
exec cargo run --release --locked -- serve "$@"
