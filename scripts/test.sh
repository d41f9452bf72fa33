#!/usr/bin/env bash
# Runs every test: the Rust workspace (storage suites on SQLite and PostgreSQL, API, plugin
# runtime with guest components built on the fly) and the official Datadog Python client suite
# against a real casebridge process.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

if ! rustup target list --installed | grep -qx wasm32-wasip2; then
  rustup target add wasm32-wasip2
fi

echo "== cargo test"
cargo test --no-fail-fast

echo "== python: official datadog-api-client against casebridge"
cargo build -p casebridge
tests/python/run.sh
