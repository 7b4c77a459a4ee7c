#!/usr/bin/env bash
# What a test run must not leave behind, compared with the machine before the run.
#   leftovers.sh snapshot FILE   records the machine's state
#   leftovers.sh check FILE      exits 1 naming everything the run added since the snapshot
# Kinds: cgroup directories (every hierarchy), mount points, network namespaces, network links,
# iptables rules, forwarding sysctls, runtime state dirs, and processes of the stack and of the
# services tests start.
# No -e: an empty section (grep finding nothing) is a normal state, not an error.
set -uo pipefail

# Services and runtimes tests start; one of these still running after the run was left behind.
PROCS='containerd|containerd-shim|dm-runc|dm-content|dm-snapshotter|dm-image|dm-registry|dockermindd|docker-registry|dockerd|conmon|podman|runc|crun|youki'
# Per-namespace and default state roots of the runtimes and shims.
STATE_DIRS=(/run/dm-runc /run/runc /run/crun /run/containerd/runc /run/containerd/dockermind
            /run/containerd/s /run/netns /var/run/netns)

state() {
  echo "## cgroups"
  # The supervisor makes a directory per command it runs directly under memory/process_api;
  # those come and go with it. Anything deeper (ours nest under our own cgroup) counts.
  find /sys/fs/cgroup -mindepth 2 -type d 2>/dev/null \
    | grep -Ev '^/sys/fs/cgroup/memory/process_api(/[^/]+)?$' | sort
  echo "## mounts"
  # Counted, so a mount stacked on an existing mount point shows too.
  awk '{print $5}' /proc/self/mountinfo | sort | uniq -c
  echo "## netns"
  ip netns list 2>/dev/null | awk '{print $1}' | sort
  echo "## links"
  ip -o link 2>/dev/null | awk -F': ' '{print $2}' | sed 's/@.*//' | sort
  echo "## iptables"
  for t in filter nat mangle; do
    iptables -w -t "$t" -S 2>/dev/null | sed "s/^/$t /" || true
  done | sort
  echo "## sysctls"
  # Host-wide switches a network test or a dockerd could turn and forget.
  for k in net.ipv4.ip_forward net.ipv4.conf.all.route_localnet net.ipv4.conf.all.forwarding \
           net.bridge.bridge-nf-call-iptables net.ipv6.conf.all.forwarding; do
    v=$(sysctl -n "$k" 2>/dev/null) && echo "$k=$v"
  done
  echo "## state"
  for d in "${STATE_DIRS[@]}"; do
    [ -d "$d" ] && find "$d" -mindepth 1 -maxdepth 1 2>/dev/null
  done | sort
  echo "## processes"
  # comm is at most 15 characters: match on the full command's program name instead.
  ps -eo pid=,args= | awk -v re="^($PROCS)\$" '{n=$2; sub(".*/", "", n); if (n ~ re) print $1, n}' | sort
}

case "${1:-}" in
  snapshot)
    state >"$2"
    ;;
  check)
    now=$(mktemp)
    trap 'rm -f "$now"' EXIT
    state >"$now"
    # Lines present now that were not before, each named by its kind's heading.
    added=$(awk 'NR==FNR {seen[$0]=1; next} /^## / {kind=$2; next} !seen[$0] {print "  " kind ": " $0}' \
      "$2" "$now")
    if [ -n "$added" ]; then
      echo "leftovers: the test run left these behind:" >&2
      echo "$added" >&2
      exit 1
    fi
    echo "leftovers: none (cgroups, mounts, netns, links, iptables, sysctls, state dirs, processes)"
    ;;
  *)
    echo "usage: $0 snapshot|check FILE" >&2
    exit 2
    ;;
esac
