#!/usr/bin/env bash
# The e2e suite's kind cluster on this machine: rootful podman (kind's podman
# provider), the node image build.sh assembles from local parts, cluster.yaml.
#
#   bash e2e/kind/local/cluster.sh up       # build (cached), create, wait until every node is Ready
#   bash e2e/kind/local/cluster.sh down     # delete it and put the host back as it was before `up`
#   bash e2e/kind/local/cluster.sh status
#
# What `up` changes on the host, and `down` undoes:
# - a podman network, modelfleet-kind (198.18.100.0/24, bridge podmanN): its
#   route, its bridge, aardvark-dns on its gateway, and netavark's iptables
#   rules (port forward of the API server to 127.0.0.1, masquerade);
# - an nft table of ours, inet modelfleet-kind, that drops whatever would be
#   forwarded between that bridge and any other interface: nothing from the
#   nodes leaves the machine, nor reaches the local cluster's bridge mf0;
# - an empty /lib/modules when the host has none (kind mounts it into every node);
# - the sysctls the nodes' kubelets set, which are not per network namespace
#   (vm.overcommit_memory, kernel.panic, kernel.panic_on_oops), and
#   net.ipv4.ip_forward (netavark). The local cluster's real node changes them
#   too: both hold them (e2e/local/localcluster/hostsysctls.py), and the last of
#   the two to go down puts back what the first found.
# `up` records the host (routes, links, nft ruleset, iptables rules, those
# sysctls) under $MODELFLEET_CACHE/kind/cluster/ the first time; `down` deletes
# the cluster, the network and our table, removes the empty NETAVARK chains
# netavark leaves behind (and the base chains it made, when they were not there
# before and are empty), releases the sysctls, and prints what still differs
# (sysctls the local cluster still holds left out).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../../.." && pwd)"
# shellcheck source=../../local/versions.env
source "$ROOT/e2e/local/versions.env"
# shellcheck source=../versions.env
source "$ROOT/e2e/kind/versions.env"
CACHE="${MODELFLEET_CACHE:-$HOME/.cache/modelfleet}"
KCACHE="$CACHE/kind"
STATE="$KCACHE/cluster"
CONFIG="${KIND_LOCAL_CONFIG:-$HERE/cluster.yaml}"
CLUSTER="$(awk '$1 == "name:" {print $2; exit}' "$CONFIG")"
NETWORK=modelfleet-kind
SUBNET=198.18.100.0/24
GATEWAY=198.18.100.1
NFT_TABLE=modelfleet-kind
SYSCTLS=(vm.overcommit_memory kernel.panic kernel.panic_on_oops net.ipv4.ip_forward)
KIND="$KCACHE/bin/kind-$KIND_VERSION/kind"
KUBECTL="$CACHE/bin/k8s-$K8S_VERSION/kubectl"
export KUBECONFIG="$KCACHE/kubeconfig"
export CONTAINERS_CONF="$HERE/containers.conf"
SYSCTL_HOLDER=kind
export KIND_EXPERIMENTAL_PROVIDER=podman KIND_EXPERIMENTAL_PODMAN_NETWORK="$NETWORK"

log() { echo "kind-local: $*" >&2; }

# The sysctls shared with the local cluster (e2e/local/localcluster/hostsysctls.py): hold WITNESS KEY...,
# release, others. Our witness, the file that exists while we are up: the picture of the host from up.
hostsysctls() {
  PYTHONPATH="$ROOT/e2e/local" python3 -c 'import sys; from localcluster import hostsysctls; sys.exit(hostsysctls.main(sys.argv[1:]))' \
    "$1" "$SYSCTL_HOLDER" "${@:2}"
}

# ------------------------------------------------------------------ the host's picture

# iptables-nft's rules without counters; the nft ruleset without counters or sets' elements.
host_picture() {
  local dir="$1"; mkdir -p "$dir"
  ip route > "$dir/route"
  ip -br link | awk '{print $1, $2}' | grep -v '^veth' > "$dir/link" || true
  nft -s list ruleset 2> /dev/null > "$dir/nft"
  # A host with no rules at all (the local cluster down, nothing else) saves only comments: grep
  # then selects nothing and exits 1, which must not end `up` silently (pipefail, set -e).
  { iptables-save; ip6tables-save; } 2>/dev/null | { grep -v '^#' || true; } > "$dir/iptables"
  for s in "${SYSCTLS[@]}"; do echo "$s=$(sysctl -n "$s")"; done > "$dir/sysctls"
  [[ -d /lib/modules ]] && echo present > "$dir/lib-modules" || echo absent > "$dir/lib-modules"
}

# What differs from the picture taken before `up`. The local cluster's kube-proxy rewrites its
# own tables (ip/ip6 kube-proxy) whenever its Services change: those are left out of the nft
# comparison, and said so.
compare_host() {
  local before="$STATE/before" after="$STATE/after" f same=1
  host_picture "$after"
  # Sysctls the local cluster holds are its to give back.
  local others; others="$(hostsysctls others | paste -sd'|')"
  for f in route link iptables sysctls lib-modules; do
    if [[ "$f" == sysctls && -n "$others" ]]; then
      grep -Ev "^($others)=" "$before/$f" > "$before/$f.mine" || true
      grep -Ev "^($others)=" "$after/$f" > "$after/$f.mine" || true
      if ! diff -u "$before/$f.mine" "$after/$f.mine" > "$after/$f.diff"; then same=0; log "differs: $f"; cat "$after/$f.diff" >&2; fi
      continue
    fi
    if ! diff -u "$before/$f" "$after/$f" > "$after/$f.diff"; then same=0; log "differs: $f"; cat "$after/$f.diff" >&2; fi
  done
  if ! diff -u <(without_kube_proxy < "$before/nft") <(without_kube_proxy < "$after/nft") > "$after/nft.diff"; then
    same=0; log "differs: nft ruleset (the local cluster's kube-proxy tables left out)"; cat "$after/nft.diff" >&2
  fi
  if (( same )); then log "host as before: routes, links, iptables, nft ruleset (kube-proxy's tables left out), sysctls, /lib/modules"; fi
  return $(( 1 - same ))
}

without_kube_proxy() {
  awk '/^table (ip|ip6) kube-proxy /{skip=1} /^table / && !/kube-proxy/{skip=0} !skip'
}

# ------------------------------------------------------------------ network

bridge() { podman network inspect "$NETWORK" --format '{{.NetworkInterface}}'; }

network_up() {
  if ! podman network exists "$NETWORK"; then
    log "podman network $NETWORK ($SUBNET)"
    podman network create --subnet "$SUBNET" --gateway "$GATEWAY" --label modelfleet.io/kind=true "$NETWORK" > /dev/null
  fi
  local br; br="$(bridge)"
  # Forwarded traffic between the nodes' bridge and anything else is dropped: the nodes talk to
  # each other (bridged) and to the host (the API server's port forward, aardvark-dns), no further.
  nft -f - <<EOF
table inet $NFT_TABLE
delete table inet $NFT_TABLE
table inet $NFT_TABLE {
  chain forward {
    type filter hook forward priority filter - 10; policy accept;
    iifname "$br" oifname != "$br" counter drop
    oifname "$br" iifname != "$br" counter drop
  }
}
EOF
}

network_down() {
  if podman network exists "$NETWORK"; then podman network rm "$NETWORK" > /dev/null; fi
  nft delete table inet "$NFT_TABLE" 2>/dev/null || true
  # netavark (1.4) leaves its shared chains behind, empty, with the jumps to them: remove those
  # that were not there before up, then the base chains it made, if empty and new.
  local table chain
  for table in filter nat; do
    while read -r chain; do
      [[ -n "$chain" ]] || continue
      grep -q "^:$chain " "$STATE/before/iptables" 2>/dev/null && continue
      iptables -t "$table" -S | awk -v c="$chain" '$1 == "-A" && $0 ~ "-j " c "( |$)"' | sed 's/^-A/-D/' \
        | while read -r rule; do eval "iptables -t $table $rule"; done
      iptables -t "$table" -F "$chain" && iptables -t "$table" -X "$chain"
    done < <(iptables -t "$table" -S | awk '$1 == "-N" && $2 ~ /^NETAVARK/ {print $2}')
    for chain in FORWARD PREROUTING OUTPUT POSTROUTING INPUT; do
      nft list chain ip "$table" "$chain" > /dev/null 2>&1 || continue
      nft_chains < "$STATE/before/nft" | grep -qx "ip $table $chain" && continue
      if [[ "$(iptables -t "$table" -S "$chain" | grep -c '^-A')" == 0 ]]; then nft delete chain ip "$table" "$chain"; fi
    done
    # The table itself, when iptables-nft made it for netavark (not in the picture) and it is empty now.
    if nft list table ip "$table" > /dev/null 2>&1 && ! grep -qx "table ip $table {" "$STATE/before/nft" 2>/dev/null \
        && [[ -z "$(nft list table ip "$table" | awk '$1 == "chain"')" ]]; then
      nft delete table ip "$table"
    fi
  done
}

# "family table chain" for each chain of an `nft list ruleset`.
nft_chains() {
  awk '$1 == "table" {family = $2; table = $3} $1 == "chain" {print family, table, $2}'
}

# ------------------------------------------------------------------ up / down

up() {
  local start=$SECONDS image
  image="$(bash "$HERE/build.sh" | tail -n 1)"
  log "built or found in $((SECONDS - start))s: $image"
  if [[ ! -f "$STATE/before/nft" ]]; then host_picture "$STATE/before"; fi
  hostsysctls hold "$STATE/before/sysctls" "${SYSCTLS[@]}"
  if [[ ! -d /lib/modules ]]; then mkdir /lib/modules; fi
  network_up
  if "$KIND" get clusters 2>/dev/null | grep -qx "$CLUSTER"; then
    log "cluster $CLUSTER exists"
    "$KIND" export kubeconfig --name "$CLUSTER" --kubeconfig "$KUBECONFIG"
  else
    local t=$SECONDS
    "$KIND" create cluster --name "$CLUSTER" --config "$CONFIG" --image "$image" --kubeconfig "$KUBECONFIG" --wait 300s
    log "kind create cluster: $((SECONDS - t))s"
  fi
  "$KUBECTL" wait --for=condition=Ready nodes --all --timeout=300s > /dev/null
  log "up in $((SECONDS - start))s; export KUBECONFIG=$KUBECONFIG   (context kind-$CLUSTER)"
}

down() {
  local start=$SECONDS
  if [[ -x "$KIND" ]] && "$KIND" get clusters 2>/dev/null | grep -qx "$CLUSTER"; then
    "$KIND" delete cluster --name "$CLUSTER" --kubeconfig "$KUBECONFIG"
  fi
  network_down
  local restored
  restored="$(hostsysctls release | paste -sd' ')"
  log "sysctls released${restored:+; put back: $restored}"
  if [[ -f "$STATE/before/lib-modules" ]]; then
    if [[ "$(cat "$STATE/before/lib-modules")" == absent && -d /lib/modules ]]; then rmdir /lib/modules; fi
    local rc=0
    compare_host || rc=$?
    rm -rf "$STATE/before" "$STATE/after"
    log "down in $((SECONDS - start))s"
    return "$rc"
  fi
  log "down in $((SECONDS - start))s (no picture of the host from up)"
}

status() {
  "$KIND" get clusters
  podman ps --filter "label=io.x-k8s.kind.cluster=$CLUSTER"
  "$KUBECTL" get nodes -o wide
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
