#!/usr/bin/env bash
# Installs the Debian packages dockermind builds and tests with. Idempotent; run as root.
set -euo pipefail
PKGS=(busybox-static runc crun containerd podman conmon skopeo umoci docker-registry
      containernetworking-plugins iptables libseccomp-dev protobuf-compiler hyperfine strace
      iproute2 procps libprotobuf-dev openssl docker.io buildah
      dbus-daemon)  # dbus-daemon: the private bus of the systemd cgroup driver tests
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# Debian's containerd, docker-registry and docker.io packages start services; tests start their
# own (docker.io is here for its CLI only: dockermindd is the daemon it talks to).
systemctl disable --now containerd docker-registry docker.service docker.socket >/dev/null 2>&1 || true
if [ -r /var/run/docker.pid ]; then kill "$(cat /var/run/docker.pid)" 2>/dev/null || true; fi
# Debian 13's containerd 1.7 (diff proxy) and docker CLI 26, unpacked privately (scripts/trixie.sh).
"$(dirname "$0")/trixie.sh" containerd docker-cli
