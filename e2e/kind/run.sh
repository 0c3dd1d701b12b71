#!/usr/bin/env bash
# The e2e suite (e2e/suite) on a kind cluster, with the operator running in
# the cluster from its image. Needs docker, kind, kubectl and helm on PATH
# (versions: versions.env) and the project's virtualenv (`make venv`).
#
#   bash e2e/kind/run.sh            # create (or reuse) the cluster, build, install, test
#   KEEP_CLUSTER=1 bash e2e/kind/run.sh   # leave the cluster up afterwards
#
# Steps: create the cluster (cluster.yaml); make its workers look like GPU
# nodes (fake nvidia.com/gpu capacity, GPU Feature Discovery labels, the h100
# pool label); build the operator and fake-engine images and load them into
# the nodes; admit small engine requests (small-engine-requests.yaml);
# install the chart (values.yaml); run the suite against it.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
# shellcheck source=versions.env
source "$HERE/versions.env"

CLUSTER=modelfleet-e2e
export KUBECONFIG="${KUBECONFIG_FILE:-${TMPDIR:-/tmp}/modelfleet-e2e.kubeconfig}"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
OPERATOR_IMAGE=modelfleet/operator:e2e
ENGINE_IMAGE=modelfleet/fake-engine:e2e
GPUS_PER_NODE=8

log() { printf '\n== %s\n' "$*"; }

for tool in docker kind kubectl helm; do
  command -v "$tool" >/dev/null || { echo "$tool is not on PATH (versions: $HERE/versions.env)" >&2; exit 1; }
done

cleanup() {
  if [[ -z "${KEEP_CLUSTER:-}" ]]; then
    kind delete cluster --name "$CLUSTER" --kubeconfig "$KUBECONFIG"
  fi
}
trap cleanup EXIT

log "cluster $CLUSTER ($KIND_NODE_IMAGE)"
if kind get clusters | grep -qx "$CLUSTER"; then
  kind export kubeconfig --name "$CLUSTER" --kubeconfig "$KUBECONFIG"
else
  kind create cluster --name "$CLUSTER" --config "$HERE/cluster.yaml" --image "$KIND_NODE_IMAGE" \
    --kubeconfig "$KUBECONFIG" --wait 120s
fi

log "fake GPUs on the workers"
for node in $(kubectl get nodes -l '!node-role.kubernetes.io/control-plane' -o jsonpath='{.items[*].metadata.name}'); do
  # An extended resource is advertised by patching the node's status
  # (PATCH /api/v1/nodes/<node>/status), as Kubernetes documents; the
  # kubelet then adds it to allocatable. No device plugin runs here.
  kubectl patch node "$node" --subresource=status --type=json \
    -p "[{\"op\": \"add\", \"path\": \"/status/capacity/nvidia.com~1gpu\", \"value\": \"$GPUS_PER_NODE\"}]"
  # What NVIDIA GPU Feature Discovery labels an 8x H100 node with, plus the pool label.
  kubectl label node "$node" --overwrite \
    nvidia.com/gpu.present=true \
    nvidia.com/gpu.product=NVIDIA-H100-80GB-HBM3 \
    nvidia.com/gpu.memory=81559 \
    nvidia.com/gpu.count="$GPUS_PER_NODE" \
    nvidia.com/gpu.family=hopper \
    modelfleet.io/pool=h100
  kubectl wait "node/$node" --for=jsonpath='{.status.allocatable.nvidia\.com/gpu}'="$GPUS_PER_NODE" --timeout=60s
done

log "images"
docker build -t "$OPERATOR_IMAGE" -f "$ROOT/images/Dockerfile" --target operator "$ROOT"
docker build -t "$ENGINE_IMAGE" "$HERE/fake-engine"
kind load docker-image --name "$CLUSTER" "$OPERATOR_IMAGE" "$ENGINE_IMAGE"

log "admission policy for small engine requests"
kubectl apply -f "$HERE/small-engine-requests.yaml"

log "chart"
helm upgrade --install modelfleet "$ROOT/charts/modelfleet" --namespace modelfleet-system --create-namespace \
  -f "$HERE/values.yaml" --wait --timeout 180s

log "e2e suite"
cd "$ROOT"
# The real-node tests need the local cluster (its Hub on the node's bridge, its vLLM CPU image).
MODELFLEET_E2E_KUBECONFIG="$KUBECONFIG" \
MODELFLEET_E2E_OPERATOR=in-cluster \
MODELFLEET_E2E_ENGINE_IMAGE="$ENGINE_IMAGE" \
  "$PYTHON" -m pytest e2e/suite -v -m "not realnode" "$@"
