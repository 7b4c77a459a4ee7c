#!/usr/bin/env bash
# Sets up a fresh machine and runs every test: format, lints, unit and root integration tests.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh
cargo fmt --all -- --check
cargo build --workspace --bins
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace --no-fail-fast
