#!/usr/bin/env bash
# Sets up a fresh machine, builds dm-runc and runs a busybox container that prints and exits.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh
cargo build --release -p dm-runtime
bin=$PWD/target/x86_64-unknown-linux-gnu/release/dm-runc
b=$(mktemp -d /tmp/dm-demo.XXXXXX)
trap 'rm -rf "$b"' EXIT
mkdir -p "$b/rootfs/bin" "$b/rootfs/proc" "$b/rootfs/dev" "$b/rootfs/sys" "$b/rootfs/tmp"
cp /bin/busybox "$b/rootfs/bin/busybox"
for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -sf busybox "$b/rootfs/bin/$a"; done
cd "$b"
"$bin" spec
# Not a terminal unless we have one; print who we are from inside the container.
sed -i 's/"terminal": true/"terminal": false/; s/"sh"$/"sh", "-c", "echo hello from $(hostname), pid $$; uname -sr"/' config.json
"$bin" --root "$b/state" run "demo-$$"
