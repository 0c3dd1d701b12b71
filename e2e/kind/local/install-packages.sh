#!/usr/bin/env bash
# Debian packages of the local kind cluster, on top of the local cluster's
# (e2e/local/install-packages.sh: buildah, debootstrap, runc, gcc, ...):
# podman (kind's podman provider runs it, rootful) and conmon. Never crun:
# Debian's podman takes crun or runc, and with crun installed buildah runs
# its RUN steps with it, which refuses this host's hybrid cgroup layout
# ("cgroups in hybrid mode not supported"); runc works. Installs only what is
# missing.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bash "$HERE/../../local/install-packages.sh"
packages=(podman conmon runc)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [[ ${#missing[@]} -gt 0 ]]; then
  echo "install-packages: installing ${missing[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" crun- >&2
fi
