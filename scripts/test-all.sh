#!/usr/bin/env bash
# Sets up a fresh machine and runs every test: format, lints, unit and root integration tests,
# then checks that the run left nothing behind on the machine.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh
cargo fmt --all -- --check
cargo build --workspace --bins
cargo clippy --workspace --all-targets -- -D warnings
before=$(mktemp)
trap 'rm -f "$before"' EXIT
./scripts/leftovers.sh snapshot "$before"
status=0
cargo test --workspace --no-fail-fast || status=$?
# The containerd integration tests again under Debian 13's containerd 1.7 (deps.sh unpacks it).
DM_CONTAINERD=1.7 cargo test -p dm-integration --no-fail-fast || status=$?
./scripts/leftovers.sh check "$before" || status=1
exit "$status"
