#!/usr/bin/env bash
# The kind CLI and a kind node image for this machine, from local parts only:
# no image registry is reachable here, so nothing is pulled.
#
#   bash e2e/kind/local/build.sh        # prints the node image's tag last
#
# The node image is assembled the way kind's own images/base/Dockerfile and
# `kind build node-image` do it, from:
# - a Debian base made by debootstrap, with systemd and Debian's containerd,
#   runc and CNI plugins, plus kind's base files (entrypoint, systemd units,
#   sysctls, /kind/bin) taken from the pinned kind Go module;
# - kubeadm, kubelet and kubectl (the kubelet and kubectl the local cluster
#   builds, e2e/local/build.sh; kubeadm from the same Kubernetes module);
# - the images kubeadm and kind deploy, built here from their binaries and
#   imported into the node's containerd at build time (what `kind build
#   node-image` does with pulled images): kube-apiserver, -controller-manager,
#   -scheduler and kube-proxy (v1.34.4, the local cluster's binaries), etcd
#   (the local cluster's v3.6.16), CoreDNS (the local cluster's, which runs it
#   as its cluster DNS: e2e/local/gomod/coredns), local-path-provisioner and its
#   helper, pause (e2e/local/node/pause.c), and our CNI (cni/): kind's
#   kindnetd is not on the Go module proxy.
#
# Everything is cached under $MODELFLEET_CACHE/kind, keyed by a hash of its
# sources (Go binaries: go.mod, go.sum, flags, Go's version; images: their
# inputs' hashes and the function that builds them), so a warm run only checks.
# Images are tagged $IMAGE_REPO/* in the shared containers storage (buildah,
# podman), apart from the local cluster's.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../../.." && pwd)"
# shellcheck source=../../local/versions.env
source "$ROOT/e2e/local/versions.env"
# shellcheck source=../versions.env
source "$ROOT/e2e/kind/versions.env"
# shellcheck source=versions.env
source "$HERE/versions.env"
CACHE="${MODELFLEET_CACHE:-$HOME/.cache/modelfleet}"
KCACHE="$CACHE/kind"
STAMPS="$KCACHE/stamps"
export CGO_ENABLED=0 GOFLAGS="${GOFLAGS:-} -mod=readonly"
mkdir -p "$KCACHE/bin" "$STAMPS"

log() { echo "kind-build: $*" >&2; }
sha() { sha256sum | cut -c1-16; }
# The version a gomod/<dir> pins of a module.
pinned() { awk -v m="$2" '$1 == m || ($1 == "require" && $2 == m) {print $NF; exit}' "$HERE/gomod/$1/go.mod"; }

# ------------------------------------------------------------------ Go binaries

# Packages of the module in gomod/<dir> into $KCACHE/bin/<key>, cached by the hash of its
# sources (bin/<key>/.sources), like e2e/local/build.sh.
gobuild() {
  local dir="$1" key="$2" ldflags="$3"; shift 3
  local out="$KCACHE/bin/$key" hash
  hash="$({ cat "$HERE/gomod/$dir/go.mod" "$HERE/gomod/$dir/go.sum"; printf '%s\n' "$ldflags" "$@" "$GOFLAGS" "$(go env GOVERSION)"; } | sha)"
  if [[ -d "$out" && "$(cat "$out/.sources" 2>/dev/null)" == "$hash" ]]; then return; fi
  local tmp start=$SECONDS; tmp="$(mktemp -d "$KCACHE/bin/.$key.XXXX")"; chmod 755 "$tmp"
  log "go build $key ($*) ..."
  (cd "$HERE/gomod/$dir" && go build -trimpath -ldflags="-s -w $ldflags" -o "$tmp/" "$@")
  echo "$hash" > "$tmp/.sources"
  rm -rf "$out"; mv "$tmp" "$out"
  log "go build $key done in $((SECONDS - start))s"
}

k8s_ldflags() {  # as e2e/local/build.sh stamps them
  local v="$K8S_VERSION" minor f=""; minor="$(cut -d. -f2 <<<"$v")"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    f+=" -X $pkg.gitVersion=$v -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    f+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
  done
  echo "$f"
}

LPP_VERSION="$(pinned local-path-provisioner github.com/rancher/local-path-provisioner)"
CRICTL_VERSION="$(pinned cri-tools sigs.k8s.io/cri-tools)"
[[ "$(pinned kind sigs.k8s.io/kind)" == "$KIND_VERSION" ]] || { echo "gomod/kind pins another kind than e2e/kind/versions.env" >&2; exit 1; }

build_binaries() {
  # The local cluster's binaries: built by `make cluster-binaries` (e2e/local/build.sh), never
  # from here (its cache key includes GOFLAGS, which this script changes: a call from here would
  # rebuild and replace them under the running local cluster).
  local f
  for f in "$K8S_BIN/kube-apiserver" "$K8S_BIN/kubectl" "$NODE_BIN/kubelet" "$NODE_BIN/kube-proxy" "$ETCD_BIN/etcd" \
           "$COREDNS_BIN/coredns"; do
    [[ -x "$f" ]] || { echo "kind-build: no $f: run make cluster-binaries" >&2; exit 1; }
  done
  gobuild kind "kind-$KIND_VERSION" "" sigs.k8s.io/kind
  gobuild kubeadm "kubeadm-$K8S_VERSION" "$(k8s_ldflags)" k8s.io/kubernetes/cmd/kubeadm
  gobuild cri-tools "crictl-$CRICTL_VERSION" "-X sigs.k8s.io/cri-tools/pkg/version.Version=$CRICTL_VERSION" sigs.k8s.io/cri-tools/cmd/crictl
  gobuild local-path-provisioner "local-path-provisioner-$LPP_VERSION" "-X main.VERSION=$LPP_VERSION" github.com/rancher/local-path-provisioner
}

K8S_BIN="$CACHE/bin/k8s-$K8S_VERSION"
NODE_BIN="$CACHE/bin/k8s-node-$K8S_VERSION"
ETCD_BIN="$CACHE/bin/etcd-$ETCD_VERSION"
# COREDNS_VERSION: e2e/local/versions.env, the version e2e/local/gomod/coredns pins.
COREDNS_BIN="$CACHE/bin/coredns-$COREDNS_VERSION"

# ------------------------------------------------------------------ images

image_id() { buildah inspect --type image --format '{{.FromImageID}}' "$1" 2>/dev/null || true; }
stamp_of() { echo "$STAMPS/$(tr '/:' '__' <<<"$1").sources"; }
# Whether image $1 exists and was built from sources hashing to $2.
current() { [[ -n "$(image_id "$1")" && "$(cat "$(stamp_of "$1")" 2>/dev/null)" == "$2" ]]; }
record() { echo "$2" > "$(stamp_of "$1")"; }
# What an image is made of: the function that builds it, and the rest of the arguments.
recipe() { { declare -f "$1"; shift; printf '%s\n' "$@"; } | sha; }
# The hash of files' contents (binaries: their .sources, which say what they were built from).
files_hash() { cat "$@" < /dev/null | sha; }

ctr_run() { buildah run --network none "$@"; }
# Working containers are named after this run, and removed if it fails halfway.
new_ctr() { buildah from --name "modelfleet-kind-build-$$-$RANDOM" "$1"; }
drop_working_containers() {
  buildah containers --format '{{.ContainerName}} {{.ContainerID}}' 2>/dev/null \
    | awk -v p="modelfleet-kind-build-$$-" 'index($1, p) == 1 {print $2}' | xargs -r buildah rm > /dev/null
  rm -rf "$KCACHE/.rootfs.$$."* "$KCACHE/.node.$$."*
}
trap drop_working_containers EXIT

# Commit container $1 as $2; the image $2 named before, now nameless, is removed (it was ours).
commit() {
  local old; old="$(image_id "$2")"
  buildah commit --quiet --rm "$1" "$2" >/dev/null
  if [[ -n "$old" && "$old" != "$(image_id "$2")" ]]; then buildah rmi "$old" >/dev/null 2>&1 || true; fi
}

# A Debian root filesystem from debootstrap --variant=minbase, as an image.
debootstrap_image() {
  local tag="$1" packages="$2" hash
  hash="$(recipe debootstrap_image "$DEBIAN_SUITE" "$DEBIAN_MIRROR" "$packages")"
  current "$tag" "$hash" && return
  log "debootstrap $tag ($packages) ..."
  local start=$SECONDS tmp c
  tmp="$(mktemp -d "$KCACHE/.rootfs.$$.XXXX")"
  debootstrap --variant=minbase --include="$packages" "$DEBIAN_SUITE" "$tmp/rootfs" "$DEBIAN_MIRROR" > "$tmp/log" 2>&1 \
    || { tail -20 "$tmp/log" >&2; rm -rf "$tmp"; return 1; }
  rm -rf "$tmp/rootfs/var/cache/apt/archives/"*.deb "$tmp/rootfs/var/lib/apt/lists/"*_Packages
  c="$(new_ctr scratch)"
  cp -a "$tmp/rootfs/." "$(buildah mount "$c")/"
  buildah umount "$c" >/dev/null
  buildah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$c"
  commit "$c" "$tag"
  rm -rf "$tmp"
  record "$tag" "$hash"
  log "debootstrap $tag done in $((SECONDS - start))s"
}

# The kind module's files (images/base/files, manifests): fetched into the module cache first, which
# `go list` alone does not do (and a cleaned module cache no longer has them).
KIND_SRC="$(cd "$HERE/gomod/kind" && go mod download sigs.k8s.io/kind && go list -m -f '{{.Dir}}' sigs.k8s.io/kind)"
[[ -d "$KIND_SRC/images/base/files" ]] || { echo "kind-build: no kind module files in '$KIND_SRC'" >&2; exit 1; }
ROOTFS_IMAGE="$IMAGE_REPO/node-rootfs:$DEBIAN_SUITE"
NET_IMAGE="$IMAGE_REPO/debian-net:$DEBIAN_SUITE"
BASE_IMAGE="$IMAGE_REPO/base:$KIND_VERSION-$DEBIAN_SUITE"

# kind's images/base: its files (from the kind module) on the Debian root filesystem, and what
# its Dockerfile's RUN steps do; containerd's configuration is ours (Debian's containerd 1.6).
build_base() {
  local files="$KIND_SRC/images/base/files" hash
  hash="$(recipe build_base "$(image_id "$ROOTFS_IMAGE")" "$(cd "$files" && find . -type f | sort | xargs cat | sha)" \
    "$(files_hash "$HERE/node/containerd.toml")")"
  current "$BASE_IMAGE" "$hash" && return
  log "base image $BASE_IMAGE ..."
  local c; c="$(new_ctr "$ROOTFS_IMAGE")"
  buildah copy --chmod 0755 "$c" "$files/usr/local/bin/" /usr/local/bin/ >/dev/null
  buildah copy --chmod 0644 "$c" "$files/kind/" /kind/ >/dev/null
  buildah copy --chmod 0755 "$c" "$files/kind/bin/" /kind/bin/ >/dev/null
  buildah copy --chmod 0644 "$c" "$files/etc/crictl.yaml" /etc/ >/dev/null
  for d in default sysctl.d systemd/system systemd/system/kubelet.service.d; do
    for f in "$files/etc/$d"/*; do
      [[ -f "$f" ]] && buildah copy --chmod 0644 "$c" "$f" "/etc/$d/" >/dev/null
    done
  done
  buildah copy --chmod 0644 "$c" "$HERE/node/containerd.toml" /etc/containerd/config.toml >/dev/null
  # kind's units start /usr/local/bin/containerd (its own build); Debian's is in /usr/bin.
  ctr_run "$c" -- bash -euc '
    chmod 755 /kind /kind/bin
    ln -sf /usr/bin/containerd /usr/local/bin/containerd
    find /lib/systemd/system/sysinit.target.wants/ -name "systemd-tmpfiles-setup.service" -delete
    rm -f /lib/systemd/system/multi-user.target.wants/* /etc/systemd/system/*.wants/* \
      /lib/systemd/system/local-fs.target.wants/* /lib/systemd/system/sockets.target.wants/*udev* \
      /lib/systemd/system/sockets.target.wants/*initctl* /lib/systemd/system/basic.target.wants/*
    echo "ReadKMsg=no" >> /etc/systemd/journald.conf
    ln -sf /usr/lib/systemd/systemd /sbin/init
    systemctl enable kubelet.service containerd.service undo-mount-hacks.service
    systemctl mask systemd-binfmt.service
    mkdir -p /etc/kubernetes/manifests /etc/cni/net.d
    # the base runtime spec of the CRI, with kind'"'"'s product_uuid hook, as kind makes it
    ctr oci spec \
      | jq ".hooks.createContainer[.hooks.createContainer| length] |= . + {\"path\": \"/kind/bin/mount-product-files.sh\"}" \
      | jq "del(.process.rlimits)" > /etc/containerd/cri-base.json
    containerd --version'
  buildah config --env container=docker --stop-signal SIGRTMIN+3 \
    --entrypoint '["/usr/local/bin/entrypoint", "/sbin/init"]' "$c"
  commit "$c" "$BASE_IMAGE"
  record "$BASE_IMAGE" "$hash"
}

# An image of static binaries: FROM scratch (or $base), the files into /usr/local/bin.
binary_image() {
  local tag="$1" base="$2" entrypoint="$3"; shift 3
  local hash; hash="$(recipe binary_image "$base" "$(image_id "$base")" "$entrypoint" "$(files_hash "$@")")"
  current "$tag" "$hash" && return
  log "image $tag"
  local c; c="$(new_ctr "$base")"
  for f in "$@"; do
    [[ "$(basename "$f")" == .sources ]] || buildah copy --chmod 0755 "$c" "$f" /usr/local/bin/ >/dev/null
  done
  buildah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$c"
  [[ -z "$entrypoint" ]] || buildah config --entrypoint "$entrypoint" "$c"
  commit "$c" "$tag"
  record "$tag" "$hash"
}

PAUSE_IMAGE="$IMAGE_REPO/pause:3.10.1"   # the tag kubeadm v1.34 lists (ours is e2e/local/node/pause.c)
build_pause() {
  local src="$ROOT/e2e/local/node/pause.c" hash; hash="$(recipe build_pause "$(files_hash "$src")")"
  current "$PAUSE_IMAGE" "$hash" && return
  local tmp; tmp="$(mktemp -d)"
  cc -static -O2 -o "$tmp/pause" "$src"
  local c; c="$(new_ctr scratch)"
  buildah copy --chmod 0755 "$c" "$tmp/pause" /pause >/dev/null
  buildah config --user 65535:65535 --entrypoint '["/pause"]' "$c"
  commit "$c" "$PAUSE_IMAGE"
  rm -rf "$tmp"
  record "$PAUSE_IMAGE" "$hash"
}

CNI_IMAGE="$IMAGE_REPO/cni:$K8S_VERSION"
LPP_IMAGE="$IMAGE_REPO/local-path-provisioner:$LPP_VERSION"
LPP_HELPER_IMAGE="$IMAGE_REPO/local-path-helper:$DEBIAN_SUITE"

build_images() {
  debootstrap_image "$ROOTFS_IMAGE" "$NODE_PACKAGES"
  debootstrap_image "$NET_IMAGE" "$NET_PACKAGES"
  build_base
  local s=scratch
  binary_image "$IMAGE_REPO/kube-apiserver:$K8S_VERSION" $s "" "$K8S_BIN/kube-apiserver" "$K8S_BIN/.sources"
  binary_image "$IMAGE_REPO/kube-controller-manager:$K8S_VERSION" $s "" "$K8S_BIN/kube-controller-manager" "$K8S_BIN/.sources"
  binary_image "$IMAGE_REPO/kube-scheduler:$K8S_VERSION" $s "" "$K8S_BIN/kube-scheduler" "$K8S_BIN/.sources"
  # nftables mode: kube-proxy runs nft
  binary_image "$IMAGE_REPO/kube-proxy:$K8S_VERSION" "$NET_IMAGE" "" "$NODE_BIN/kube-proxy" "$NODE_BIN/.sources"
  binary_image "$IMAGE_REPO/etcd:$ETCD_VERSION" $s "" "$ETCD_BIN/etcd" "$ETCD_BIN/etcdctl" "$ETCD_BIN/.sources"
  # kubeadm's CoreDNS Deployment passes only arguments: the image's entrypoint is coredns
  binary_image "$IMAGE_REPO/coredns:$COREDNS_VERSION" $s '["/usr/local/bin/coredns"]' \
    "$COREDNS_BIN/coredns" "$COREDNS_BIN/.sources"
  binary_image "$LPP_IMAGE" $s "" \
    "$KCACHE/bin/local-path-provisioner-$LPP_VERSION/local-path-provisioner" "$KCACHE/bin/local-path-provisioner-$LPP_VERSION/.sources"
  # the provisioner's helper pods run its setup and teardown scripts with sh
  binary_image "$LPP_HELPER_IMAGE" "$NET_IMAGE" ""
  binary_image "$CNI_IMAGE" "$NET_IMAGE" "" "$HERE/cni/modelfleet-kind-cni" "$K8S_BIN/kubectl" "$K8S_BIN/.sources"
  build_pause
}

# The images the node's containerd holds from the start (kubeadm's, kind's CNI and storage).
NODE_IMAGES=()
node_images() {
  NODE_IMAGES=("$IMAGE_REPO/kube-apiserver:$K8S_VERSION" "$IMAGE_REPO/kube-controller-manager:$K8S_VERSION"
    "$IMAGE_REPO/kube-scheduler:$K8S_VERSION" "$IMAGE_REPO/kube-proxy:$K8S_VERSION" "$IMAGE_REPO/etcd:$ETCD_VERSION"
    "$IMAGE_REPO/coredns:$COREDNS_VERSION" "$PAUSE_IMAGE" "$CNI_IMAGE" "$LPP_IMAGE" "$LPP_HELPER_IMAGE")
}

# kind's default storage manifest (local-path-provisioner), as the pinned kind writes it into
# its node images, with our images.
storage_manifest() {
  python3 - "$KIND_SRC/pkg/build/nodeimage/const_storage.go" "$LPP_IMAGE" "$LPP_HELPER_IMAGE" <<'EOF'
import re, sys
src = open(sys.argv[1]).read()
consts = dict(re.findall(r'^const (\w+) = "([^"]+)"$', src, re.M))
body = re.search(r'^const defaultStorageManifest = `(.*?)\n`$', src, re.M | re.S).group(1)
parts = re.split(r'` \+ (\w+) \+ `', body)
out = "".join(consts[p] if i % 2 else p for i, p in enumerate(parts))
out = out.replace(consts["storageProvisionerImage"], sys.argv[2]).replace(consts["storageHelperImage"], sys.argv[3])
sys.stdout.write(out)
EOF
}

NODE_IMAGE="$IMAGE_REPO/node:$K8S_VERSION"
# `kind build node-image`: the Kubernetes binaries into /usr/bin, /kind/version, the CNI and
# storage manifests, and the images imported into containerd (not unpacked) inside the image.
build_node() {
  node_images
  local ids=() img
  for img in "${NODE_IMAGES[@]}"; do ids+=("$img=$(image_id "$img")"); done
  local hash; hash="$(recipe build_node "$(image_id "$BASE_IMAGE")" "${ids[@]}" \
    "$(files_hash "$KCACHE/bin/kubeadm-$K8S_VERSION/.sources" "$NODE_BIN/.sources" "$K8S_BIN/.sources" \
       "$KCACHE/bin/crictl-$CRICTL_VERSION/.sources" "$HERE/cni/default-cni.yaml")" "$(storage_manifest | sha)")"
  current "$NODE_IMAGE" "$hash" && return
  log "node image $NODE_IMAGE ..."
  local tmp c start=$SECONDS; tmp="$(mktemp -d "$KCACHE/.node.$$.XXXX")"
  for img in "${NODE_IMAGES[@]}"; do
    buildah push --quiet "$img" "docker-archive:$tmp/$(basename "${img%%:*}").tar:$img"
  done
  sed "s#@CNI_IMAGE@#$CNI_IMAGE#" "$HERE/cni/default-cni.yaml" > "$tmp/default-cni.yaml"
  storage_manifest > "$tmp/default-storage.yaml"
  echo -n "$K8S_VERSION" > "$tmp/version"
  c="$(new_ctr "$BASE_IMAGE")"
  buildah copy --chmod 0755 "$c" "$KCACHE/bin/kubeadm-$K8S_VERSION/kubeadm" "$NODE_BIN/kubelet" "$K8S_BIN/kubectl" /usr/bin/ >/dev/null
  buildah copy --chmod 0755 "$c" "$KCACHE/bin/crictl-$CRICTL_VERSION/crictl" /usr/local/bin/ >/dev/null
  buildah copy --chmod 0644 "$c" "$tmp/version" /kind/version >/dev/null
  buildah copy --chmod 0644 "$c" "$tmp/default-cni.yaml" "$tmp/default-storage.yaml" /kind/manifests/ >/dev/null
  ctr_run -v "$tmp:/kind/import:ro" "$c" -- bash -euc '
    containerd > /tmp/containerd.log 2>&1 &
    for _ in $(seq 100); do ctr version > /dev/null 2>&1 && break; sleep 0.2; done
    for f in /kind/import/*.tar; do
      ctr --namespace=k8s.io images import --all-platforms --no-unpack --digests "$f" > /dev/null
    done
    ctr --namespace=k8s.io images list -q | grep -v -e "^sha256:" -e "^import-"
    kill %1; wait || true
    rm -rf /tmp/containerd.log /run/containerd'
  commit "$c" "$NODE_IMAGE"
  rm -rf "$tmp"
  record "$NODE_IMAGE" "$hash"
  log "node image done in $((SECONDS - start))s"
}

start=$SECONDS
build_binaries
build_images
build_node
log "ready in $((SECONDS - start))s: kind $KCACHE/bin/kind-$KIND_VERSION/kind, node image $NODE_IMAGE"
echo "$NODE_IMAGE"
