#!/usr/bin/env bash
# The docker workflow on dockermind's own parts: starts dockermindd (private root and socket)
# and a local dm-registry holding a busybox image, then drives them with the `dockermind` CLI:
# pull, run, run -d + logs, exec, ps, build (and run the result), stop, rm. Stops
# everything and removes what it made. DM_DEMO_KEEP=1 leaves it running for a look around.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "${DM_DEMO_NO_DEPS:-}" = 1 ] || ./scripts/deps.sh
profile=${DM_DEMO_PROFILE:-release}
flag=--release; [ "$profile" = debug ] && flag=
cargo build $flag -q -p dm-daemon -p dm-shim -p dm-runtime -p dm-registry -p dm-cli --bins
bin=$PWD/target/x86_64-unknown-linux-gnu/$profile
export PATH="$bin:$PATH"

d=$(mktemp -d /tmp/dm-demo.XXXXXX)
sock=$d/dockermind.sock
cgroup=/dm-demo-$$
pids=()
cleanup() {
  set +e
  # Containers first (their shims and cgroups), then the daemon and the registry.
  if [ -S "$sock" ]; then
    ids=$(dockermind -H "unix://$sock" ps -aq 2>/dev/null)
    [ -n "$ids" ] && dockermind -H "unix://$sock" rm -f $ids >/dev/null 2>&1
  fi
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
  # Anything still mounted below the scratch dir (a daemon killed mid-way), deepest first.
  awk -v d="$d" 'index($5, d) == 1 {print $5}' /proc/self/mountinfo | sort -r \
    | while read -r m; do umount -l "$m"; done
  for h in /sys/fs/cgroup/*/; do
    [ -d "$h${cgroup#/}" ] && find "$h${cgroup#/}" -depth -type d -exec rmdir {} + 2>/dev/null
  done
  rm -rf "$d"
}
trap cleanup EXIT
step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }

# A busybox image from the host's static busybox (as the runtime demo's rootfs), pushed into a
# local registry so `pull` has somewhere real to pull from.
mkdir -p "$d/rootfs/bin" "$d/rootfs/proc" "$d/rootfs/dev" "$d/rootfs/sys" "$d/rootfs/tmp" "$d/rootfs/etc"
cp /bin/busybox "$d/rootfs/bin/busybox"
for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -sf busybox "$d/rootfs/bin/$a"; done
echo 'root:x:0:0:root:/root:/bin/sh' >"$d/rootfs/etc/passwd"
echo 'root:x:0:' >"$d/rootfs/etc/group"
umoci init --layout "$d/layout"
umoci new --image "$d/layout:latest"
umoci unpack --image "$d/layout:latest" "$d/bundle" >/dev/null
cp -a "$d/rootfs/." "$d/bundle/rootfs/"
umoci repack --image "$d/layout:latest" "$d/bundle" >/dev/null
umoci config --image "$d/layout:latest" --config.cmd sh \
  --config.env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin >/dev/null

: >"$d/registry.out"
dm-registry --root "$d/registry" --listen 127.0.0.1:0 >"$d/registry.out" 2>"$d/registry.log" &
pids+=($!)
for _ in $(seq 100); do grep -q listening "$d/registry.out" && break; sleep 0.1; done
reg=$(sed -n 's/^dm-registry listening on //p' "$d/registry.out")
[ -n "$reg" ] || { echo "dm-registry did not start:"; cat "$d/registry.log"; exit 1; }
skopeo --insecure-policy copy -q --dest-tls-verify=false "oci:$d/layout:latest" "docker://$reg/busybox:latest"

echo '{}' >"$d/registries.json"
# --bridge none: the demo leaves the host's networking alone (containers get loopback only).
dockermindd --bridge none --host "unix://$sock" --root "$d/root" --exec-root "$d/run" --cgroup-parent "$cgroup" \
  --registry-config "$d/registries.json" >"$d/daemon.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.1; done
[ -S "$sock" ] || { echo "dockermindd did not start:"; cat "$d/daemon.log"; exit 1; }
export DOCKERMIND_HOST=unix://$sock
img=$reg/busybox

step dockermind version;             dockermind version
step dockermind pull "$img";         dockermind pull "$img"
step dockermind images;              dockermind images
step dockermind run --rm "$img" sh -c 'echo hello from $(hostname), pid $$; uname -sr'
dockermind run --rm "$img" sh -c 'echo hello from $(hostname), pid $$; uname -sr'
step dockermind run --rm "$img" sh -c 'exit 3'
code=0; dockermind run --rm "$img" sh -c 'exit 3' || code=$?; echo "exit code: $code"
step dockermind run -d --name ticker "$img" sh -c 'i=0; while true; do echo tick $i; i=$((i+1)); sleep 1; done'
dockermind run -d --name ticker "$img" sh -c 'i=0; while true; do echo tick $i; i=$((i+1)); sleep 1; done'
step dockermind exec ticker sh -c 'echo exec in $(hostname): $(ps | wc -l) processes'
dockermind exec ticker sh -c 'echo exec in $(hostname): $(ps | wc -l) processes'
step dockermind logs ticker;         dockermind logs ticker
step dockermind ps;                  dockermind ps
mkdir "$d/ctx"
printf 'FROM %s\nRUN echo built by dockermind >/built\nCMD ["cat", "/built"]\n' "$img" >"$d/ctx/Dockerfile"
step dockermind build -t demo-built ctx; dockermind build -t demo-built "$d/ctx"
step dockermind run --rm demo-built;      dockermind run --rm demo-built
step dockermind history demo-built;       dockermind history demo-built
step dockermind stop -t 1 ticker;    dockermind stop -t 1 ticker
step dockermind ps -a;               dockermind ps -a
step dockermind rm ticker;           dockermind rm ticker
if [ "${DM_DEMO_KEEP:-}" = 1 ]; then
  echo; echo "export DOCKERMIND_HOST=unix://$sock   # Enter stops everything"; read -r _
fi
