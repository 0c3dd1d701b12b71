#!/usr/bin/env bash
# The e2e suite (e2e/suite) on a kind cluster, the operator running in the cluster from its image
# (`make e2e-kind`). One cluster layout, chart and suite; two image sources (KIND_IMAGES):
#
#   upstream  Docker, kind's kindest/node image (versions.env), images built with `docker build` and
#             loaded with `kind load docker-image`: the e2e-kind workflow, a laptop with Docker.
#   local     rootful podman (kind's podman provider), the node image e2e/kind/local assembles from
#             local parts, images built with buildah (the local cluster's builds, cached) and loaded
#             with `kind load image-archive`: this project's CI (no Docker, no image registry there).
#   Default: upstream where `docker info` answers, local otherwise.
#
# and two engines (KIND_ENGINE), each with the tests it can pass:
#   fake  (default upstream) fake-engine/, a small server that answers like vLLM, as engine and
#         runtime image: the cluster-agnostic tests (test_e2e.py: plan, pods on the h100 pool,
#         endpoints, kubectl scale, delete), -m "e2e and not realnode".
#   vllm  (default local) vLLM's CPU build (the local cluster's engine image; upstream: name one you
#         built in MODELFLEET_E2E_VLLM_IMAGE) and the runtime image, the tiny model served by the Hub
#         test server that the suite runs on the kind network's gateway (the chart's hubEndpoint): the
#         real-node tests marked kind (test_real_node.py, vLLM's): the operator's pod, pre-pull,
#         warm-up gating Ready, completions through the Service, the status they report, load
#         scaling to 2 and back, delete: -m "realnode and kind" -k "not tgi".
#
#   bash e2e/kind/run.sh                  # create (or reuse) the cluster, build, load, install, test, delete
#   KEEP_CLUSTER=1 bash e2e/kind/run.sh   # leave the cluster up afterwards
#   bash e2e/kind/run.sh -k scale         # extra arguments go to pytest
#
# The layout (cluster.yaml, local/cluster.yaml): a control plane and two workers. <cluster>-worker2 is
# made to look like an 8x H100 node (pool h100: fake nvidia.com/gpu capacity, GPU Feature Discovery's
# labels); <cluster>-worker like the local cluster's real node (pool local: 4 "L4" GPUs, tainted for
# GPU pods only), and the engine image is loaded there alone.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
# shellcheck source=versions.env
source "$HERE/versions.env"

CLUSTER=modelfleet-e2e
ENGINE_NODE="$CLUSTER-worker"
H100_NODE="$CLUSTER-worker2"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
OPERATOR_IMAGE=modelfleet/operator:e2e
FAKE_ENGINE_IMAGE=modelfleet/fake-engine:e2e
RUNTIME_IMAGE=modelfleet/runtime:e2e
HUB_PORT=18080
IMAGES="${KIND_IMAGES:-}"
if [[ -z "$IMAGES" ]]; then
  if command -v docker > /dev/null && docker info > /dev/null 2>&1; then IMAGES=upstream; else IMAGES=local; fi
fi
case "$IMAGES" in
  upstream) ENGINE="${KIND_ENGINE:-fake}" ;;
  local) ENGINE="${KIND_ENGINE:-vllm}" ;;
  *) echo "KIND_IMAGES=$IMAGES: upstream or local" >&2; exit 2 ;;
esac
[[ "$ENGINE" == fake || "$ENGINE" == vllm ]] || { echo "KIND_ENGINE=$ENGINE: fake or vllm" >&2; exit 2; }

STEPS=()
step_start=$SECONDS
log() { printf '\n== %s\n' "$*"; }
# Time of the step that ends here, for the table at the end.
took() { STEPS+=("$(printf '%5d s  %s' "$((SECONDS - step_start))" "$1")"); step_start=$SECONDS; }
report() {
  local rc=$?
  if [[ ${#STEPS[@]} -gt 0 ]]; then
    echo; echo "== kind e2e ($IMAGES images, $ENGINE engine): $SECONDS s"; printf '%s\n' "${STEPS[@]}"
  fi
  return "$rc"
}

if [[ "$IMAGES" == upstream ]]; then
  export KUBECONFIG="${KUBECONFIG_FILE:-${TMPDIR:-/tmp}/modelfleet-e2e.kubeconfig}"
  for tool in docker kind kubectl helm; do
    command -v "$tool" > /dev/null || { echo "$tool is not on PATH (versions: $HERE/versions.env)" >&2; exit 1; }
  done
  cluster_up() {
    if kind get clusters | grep -qx "$CLUSTER"; then
      kind export kubeconfig --name "$CLUSTER" --kubeconfig "$KUBECONFIG"
    else
      kind create cluster --name "$CLUSTER" --config "$HERE/cluster.yaml" --image "$KIND_NODE_IMAGE" \
        --kubeconfig "$KUBECONFIG" --wait 120s
    fi
  }
  cluster_down() { kind delete cluster --name "$CLUSTER" --kubeconfig "$KUBECONFIG"; }
  # Where pods reach this machine: the gateway of kind's Docker network (its IPv4 one).
  gateway() { docker network inspect kind -f '{{range .IPAM.Config}}{{.Gateway}} {{end}}' | tr ' ' '\n' | grep -m1 '\.'; }
  load_images() {
    docker build -t "$OPERATOR_IMAGE" -f "$ROOT/images/Dockerfile" --target operator "$ROOT"
    if [[ "$ENGINE" == fake ]]; then
      docker build -t "$FAKE_ENGINE_IMAGE" "$HERE/fake-engine"
      kind load docker-image --name "$CLUSTER" --nodes "$ENGINE_NODE,$H100_NODE" "$OPERATOR_IMAGE" "$FAKE_ENGINE_IMAGE"
    else
      docker build -t "$RUNTIME_IMAGE" -f "$ROOT/images/Dockerfile" --target runtime "$ROOT"
      kind load docker-image --name "$CLUSTER" --nodes "$ENGINE_NODE,$H100_NODE" "$OPERATOR_IMAGE" "$RUNTIME_IMAGE"
      kind load docker-image --name "$CLUSTER" --nodes "$ENGINE_NODE" "$VLLM_IMAGE"
    fi
  }
  if [[ "$ENGINE" == vllm ]]; then
    VLLM_IMAGE="${MODELFLEET_E2E_VLLM_IMAGE:?upstream with KIND_ENGINE=vllm: name the vLLM CPU image you built (e2e/local/images/vllm-cpu.Dockerfile) in MODELFLEET_E2E_VLLM_IMAGE}"
  fi
else
  # shellcheck source=../local/versions.env
  source "$ROOT/e2e/local/versions.env"
  CACHE="${MODELFLEET_CACHE:-$HOME/.cache/modelfleet}"
  export KUBECONFIG="$CACHE/kind/kubeconfig"
  export KIND="$CACHE/kind/bin/kind-$KIND_VERSION/kind"
  export KIND_EXPERIMENTAL_PROVIDER=podman KIND_EXPERIMENTAL_PODMAN_NETWORK=modelfleet-kind
  export CONTAINERS_CONF="$HERE/local/containers.conf"
  # kind, and the local cluster's kubectl and helm (the suite finds them on PATH).
  PATH="$(dirname "$KIND"):$CACHE/bin/k8s-$K8S_VERSION:$CACHE/bin/helm-$HELM_VERSION:$PATH"
  # Both clusters' vLLM on two cores would make neither's timing mean anything.
  if [[ -z "${KIND_WITH_LOCAL_CLUSTER:-}" ]] && PYTHONPATH="$ROOT/e2e/local" python3 -m localcluster status > /dev/null 2>&1; then
    echo "the local cluster is up: stop it first (make cluster-down), or set KIND_WITH_LOCAL_CLUSTER=1" >&2
    exit 1
  fi
  cluster_up() {
    bash "$HERE/local/install-packages.sh"
    bash "$HERE/local/cluster.sh" up
  }
  cluster_down() { bash "$HERE/local/cluster.sh" down; }
  gateway() { podman network inspect "$KIND_EXPERIMENTAL_PODMAN_NETWORK" --format '{{range .Subnets}}{{.Gateway}}{{end}}'; }
  load_images() {
    PYTHONPATH="$ROOT/e2e/local" "$PYTHON" "$HERE/local/load_images.py" --engine "$ENGINE" --cluster "$CLUSTER" \
      --nodes "$ENGINE_NODE,$H100_NODE" --engine-node "$ENGINE_NODE"
  }
  VLLM_IMAGE="$(PYTHONPATH="$ROOT/e2e/local" python3 -c 'from localcluster import images; print(images.engine_image())')"
fi

cleanup() {
  local rc=$?
  if [[ -z "${KEEP_CLUSTER:-}" ]]; then
    log "cluster $CLUSTER down"
    cluster_down || rc=$?
    took "cluster down"
  fi
  report
  exit "$rc"
}
trap cleanup EXIT

log "cluster $CLUSTER ($IMAGES images)"
cluster_up
took "cluster up"

log "fake GPUs on the workers"
# An extended resource is advertised by patching the node's status (PATCH /api/v1/nodes/<node>/status),
# as Kubernetes documents; the kubelet then adds it to allocatable. No device plugin runs here.
gpus() {
  kubectl patch node "$1" --subresource=status --type=json \
    -p "[{\"op\": \"add\", \"path\": \"/status/capacity/nvidia.com~1gpu\", \"value\": \"$2\"}]"
  kubectl wait "node/$1" --for=jsonpath='{.status.allocatable.nvidia\.com/gpu}'="$2" --timeout=60s
}
# What NVIDIA GPU Feature Discovery labels an 8x H100 node with, and the pool label.
kubectl label node "$H100_NODE" --overwrite nvidia.com/gpu.present=true nvidia.com/gpu.product=NVIDIA-H100-80GB-HBM3 \
  nvidia.com/gpu.memory=81559 nvidia.com/gpu.count=8 nvidia.com/gpu.family=hopper modelfleet.io/pool=h100
gpus "$H100_NODE" 8
# The engine node: e2e/local/nodes.yaml's realNode (4 "L4" for a replica's share of a small machine),
# tainted as GPU nodes are, so only engine pods and their pre-pull land there.
kubectl label node "$ENGINE_NODE" --overwrite nvidia.com/gpu.present=true nvidia.com/gpu.product=NVIDIA-L4 \
  nvidia.com/gpu.memory=23034 nvidia.com/gpu.count=4 nvidia.com/gpu.family=ada-lovelace modelfleet.io/pool=local \
  node.kubernetes.io/instance-type=local-machine
kubectl taint node "$ENGINE_NODE" nvidia.com/gpu=present:NoSchedule --overwrite
gpus "$ENGINE_NODE" 4
took "nodes labelled, fake GPUs"

log "images ($ENGINE engine)"
load_images
took "images built and loaded"

log "admission policy for small engine requests"
kubectl apply -f "$HERE/small-engine-requests.yaml"

log "chart"
values=(-f "$HERE/values.yaml")
if [[ "$ENGINE" == vllm ]]; then
  HUB="$(gateway):$HUB_PORT"
  values+=(-f "$HERE/values-vllm.yaml" --set "hubEndpoint=http://$HUB")
fi
helm upgrade --install modelfleet "$ROOT/charts/modelfleet" --namespace modelfleet-system --create-namespace \
  "${values[@]}" --wait --timeout 180s
took "chart installed"

log "e2e suite"
cd "$ROOT"
export MODELFLEET_E2E_KUBECONFIG="$KUBECONFIG" MODELFLEET_E2E_OPERATOR=in-cluster MODELFLEET_TIER_PREFIX="kind: "
if [[ "$ENGINE" == fake ]]; then
  MODELFLEET_E2E_ENGINE_IMAGE="$FAKE_ENGINE_IMAGE" "$PYTHON" -m pytest e2e/suite -v --durations=0 \
    -m "e2e and not realnode" "$@"
else
  # -rP: what the passed tests printed (the completion a pod of the cluster got through the Service).
  MODELFLEET_E2E_VLLM_IMAGE="$VLLM_IMAGE" MODELFLEET_E2E_HUB="$HUB" MODELFLEET_E2E_ENGINE_NODE="$ENGINE_NODE" \
    "$PYTHON" -m pytest e2e/suite -v -rP --durations=0 -m "realnode and kind" -k "not tgi" "$@"
fi
took "e2e suite ($ENGINE engine)"
