#!/usr/bin/env bash
# The test command: setup, fmt check, clippy, `cargo test` against a throwaway PostgreSQL, then
# Schemathesis against a live server (tests/schemathesis/run.sh).
# Extra arguments go to `cargo test`, e.g. `scripts/test.sh store` runs tests matching "store"
# (and leaves Schemathesis out).
set -euo pipefail

cd "$(dirname "$0")/.."
repo=$(pwd)

banner() {
  printf '\n==> %s\n' "$*"
}

# A CI run builds once from clean: incremental caches would only take disk
# (several hundred MB per test binary).
if [[ -n "${CI:-}" ]]; then
  export CARGO_INCREMENTAL=0
fi

banner "setup (scripts/setup.sh test)"
bash scripts/setup.sh test

banner "cargo fmt --all -- --check"
cargo fmt --all -- --check

banner "cargo clippy --all-targets --locked -- -D warnings"
cargo clippy --all-targets --locked -- -D warnings

banner "start PostgreSQL"
# shellcheck source=scripts/postgres.sh
source scripts/postgres.sh
trap pg_stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
if ! pg_start; then
  echo "test.sh: PostgreSQL failed to start; the tests need it, refusing to go on" >&2
  exit 1
fi
export SWITCHYARD_TEST_POSTGRES_URL=$PG_URL
export SWITCHYARD_PEERS_DIR=$repo/tests/peers

banner "cargo test --locked --all-targets $*"
cargo test --locked --all-targets "$@"

# The debug binary `cargo test` built, fuzzed live: the OpenAPI document must
# describe every answer. Only with the whole suite (no filter given).
if (($# == 0)); then
  banner "schemathesis (tests/schemathesis/run.sh)"
  cargo build --locked
  bash tests/schemathesis/run.sh
fi
