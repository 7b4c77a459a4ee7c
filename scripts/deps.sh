#!/usr/bin/env bash
# Installs the Debian packages dockermind builds and tests with. Idempotent; run as root.
set -euo pipefail
PKGS=(busybox-static runc crun containerd podman conmon skopeo umoci docker-registry
      containernetworking-plugins iptables libseccomp-dev protobuf-compiler hyperfine strace
      iproute2 procps libprotobuf-dev openssl buildah)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# Debian's containerd and docker-registry packages start services; tests start their own.
systemctl disable --now containerd docker-registry >/dev/null 2>&1 || true
