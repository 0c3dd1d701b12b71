#!/usr/bin/env bash
# Debian packages of the local cluster's real node and of the image builds:
# containerd, runc and the CNI plugins run the pods; nftables for kube-proxy;
# socat forwards pods' API connections; buildah and debootstrap build the
# images; a static libc links the pause binary. Installs only what is missing.
set -euo pipefail
packages=(containerd runc containernetworking-plugins nftables iptables iproute2 socat conntrack
          buildah debootstrap gcc libc6-dev)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [[ ${#missing[@]} -gt 0 ]]; then
  echo "install-packages: installing ${missing[*]}" >&2
  apt-get update -qq
  # With their recommends, as tested here (buildah with fuse-overlayfs; its network backend is never used:
  # the builds run with --network=none).
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
fi
