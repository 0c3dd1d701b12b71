#!/usr/bin/env bash
# Build (or reuse) the binaries of the local control plane from pinned Go
# modules into $MODELFLEET_CACHE/bin/<tool>-<version>/. Idempotent: a tool
# whose directory exists is skipped, so only the first run is slow.
# Usage: build.sh [kubernetes|node|etcd|kwok|helm|coredns]...   (default: all)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
source "$HERE/versions.env"
CACHE="${MODELFLEET_CACHE:-$HOME/.cache/modelfleet}"
# readonly: the committed go.mod/go.sum are the pins; never rewrite them here
export CGO_ENABLED=0 GOFLAGS="${GOFLAGS:-} -mod=readonly"
GOBUILD=(go build -trimpath)
# Go's module and build caches are this script's scratch (about 10 GB for these tools): the binaries
# are what is cached, by their sources' hash, so the scratch goes once every requested tool is built.
SCRATCH="$CACHE/go-scratch/local-cluster"
export GOMODCACHE="$SCRATCH/mod" GOCACHE="$SCRATCH/build"

# What a build is made of: the module's pins (go.mod, go.sum), the flags, the packages and Go itself.
sources_hash() {
  local dir="$1"; shift
  { cat "$HERE/gomod/$dir/go.mod" "$HERE/gomod/$dir/go.sum"; printf '%s\n' "$@" "$GOFLAGS" "$(go env GOVERSION)"; } \
    | sha256sum | cut -c1-16
}

# Build packages of the module in gomod/<dir> into bin/<key>, cached by the hash of its sources
# (bin/<key>/.sources); a temp dir is renamed into place only when everything built, so a killed
# build is redone, and a build of other sources replaces it.
build() {
  local dir="$1" key="$2" ldflags="$3"; shift 3
  local out="$CACHE/bin/$key" hash
  hash="$(sources_hash "$dir" "$ldflags" "$@")"
  if [[ -d "$out" && "$(cat "$out/.sources" 2>/dev/null)" == "$hash" ]]; then
    echo "build: $key cached in $out (sources $hash)"; return
  fi
  mkdir -p "$CACHE/bin"
  local tmp; tmp="$(mktemp -d "$CACHE/bin/.$key.XXXX")"; chmod 755 "$tmp"
  local start=$SECONDS
  echo "build: $key ($*) ..."
  (cd "$HERE/gomod/$dir" && "${GOBUILD[@]}" -ldflags="-s -w $ldflags" -o "$tmp/" "$@")
  echo "$hash" > "$tmp/.sources"
  rm -rf "$out"
  mv "$tmp" "$out"
  echo "build: $key done in $((SECONDS - start))s -> $out"
}

k8s_ldflags() {
  # What hack/lib/version.sh stamps, so /version and `kubectl version` report
  # the real release (helm compares charts' kubeVersion against it).
  local v="$K8S_VERSION" minor; minor="$(cut -d. -f2 <<<"$v")"
  local f=""
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    f+=" -X $pkg.gitVersion=$v -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    f+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
  done
  echo "$f"
}

build_kubernetes() {
  build kubernetes "k8s-$K8S_VERSION" "$(k8s_ldflags)" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl
}
# The real node's kubelet and kube-proxy: same module, same release, their own
# cache key so adding them never rebuilds the control plane.
build_node() {
  build kubernetes "k8s-node-$K8S_VERSION" "$(k8s_ldflags)" \
    k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kube-proxy
}
build_etcd() {
  build etcd "etcd-$ETCD_VERSION" "" go.etcd.io/etcd/server/v3 go.etcd.io/etcd/etcdctl/v3
  # go names the server module's main package "server": give it its real name
  local d="$CACHE/bin/etcd-$ETCD_VERSION"
  if [[ -f "$d/server" ]]; then mv "$d/server" "$d/etcd"; fi
}
build_kwok() {
  build kwok "kwok-$KWOK_VERSION" "" sigs.k8s.io/kwok/cmd/kwok
  # kwok needs Stages to act: take the "fast" set kwokctl uses from the very
  # module we built (nodes Ready at once; pods Running+Ready, init containers
  # Completed, native sidecars Running; pods deleted/completed as a kubelet would).
  local stages="$CACHE/bin/kwok-$KWOK_VERSION/stages"
  if [[ ! -d "$stages" ]]; then
    local src tmp
    src="$(cd "$HERE/gomod/kwok" && go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)/kustomize/stage"
    tmp="$(mktemp -d "$stages.XXXX")"
    cp "$src"/pod/fast/pod-{ready,complete,delete}.yaml "$src"/node/fast/node-initialize.yaml \
      "$src"/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml "$tmp/"
    mv "$tmp" "$stages"
  fi
}
# The real node's cluster DNS; e2e/kind/local/build.sh takes this binary for its CoreDNS image.
build_coredns() {
  local pinned
  pinned="$(awk '$1 == "require" && $2 == "github.com/coredns/coredns" {print $3}' "$HERE/gomod/coredns/go.mod")"
  [[ "$pinned" == "$COREDNS_VERSION" ]] \
    || { echo "build: gomod/coredns pins CoreDNS $pinned, versions.env says $COREDNS_VERSION" >&2; exit 1; }
  build coredns "coredns-$COREDNS_VERSION" "" github.com/coredns/coredns
}
build_helm() {
  build helm "helm-$HELM_VERSION" "-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION" \
    helm.sh/helm/v3/cmd/helm
}

tools=("$@")
[[ ${#tools[@]} -gt 0 ]] || tools=(kubernetes node etcd kwok helm coredns)
total=$SECONDS
for t in "${tools[@]}"; do "build_$t"; done
if [[ -d "$SCRATCH" ]]; then
  chmod -R u+w "$SCRATCH" && rm -rf "$SCRATCH"  # the module cache is read-only
  echo "build: removed Go's scratch caches ($SCRATCH)"
fi
echo "build: all requested tools ready in $((SECONDS - total))s under $CACHE/bin"
