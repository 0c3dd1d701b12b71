#!/usr/bin/env bash
# The main job of modelfleet, shown step by step. Run through `make demo`,
# which builds the virtualenv first.
set -euo pipefail
cd "$(dirname "$0")/.."
MF=.venv/bin/modelfleet
STARTED=$SECONDS

CURRENT_STEP="(before the first step)"
step() { CURRENT_STEP="$*"; printf '\n\033[1m== %s\033[0m\n' "$*"; }
# A failed step says which one it was; the live part (demo_cluster.py) also prints the failing
# LLMDeployment's conditions and events.
trap 'status=$?; printf "\n\033[1mmake demo failed (exit %s) at step %s\033[0m\n" "$status" "$CURRENT_STEP" >&2' ERR

step "1. The LLMDeployment API: a generated CRD (first lines)"
$MF crd | sed -n '1,12p'
echo "   ... (crds/modelfleet.io_llmdeployments.yaml, $($MF crd | wc -l) lines)"

step "2. The examples validate offline with the API server's rules"
$MF validate -f examples/

step "3. A mistake is named by its field"
printf 'apiVersion: modelfleet.io/v1alpha1\nkind: LLMDeployment\nmetadata: {name: typo}\nspec:\n  model: {id: mistralai/Mixtral-8x7B-v0.1, quantization: int3}\n  gpu: {tensorParallelSize: 3}\n  autoscaling: {minReplicas: 5, maxReplicas: 2}\n' \
  | $MF validate -f - || true

step "4. Size it: how many GPUs of which kind, and the arithmetic (no cluster needed)"
$MF plan -f examples/mixtral-8x7b-vllm.yaml --pools examples/pools/local-cluster.yaml

step "4b. Sizing follows the engine: Mistral-7B v0.1's 4096-token sliding window, 16 x 32k on H100"
for engine in vllm tgi; do
  printf 'apiVersion: modelfleet.io/v1alpha1\nkind: LLMDeployment\nmetadata: {name: mistral-v01}\nspec:\n  model: {id: mistralai/Mistral-7B-Instruct-v0.1}\n  engine: {kind: %s}\n  serving: {maxModelLen: 32768, maxConcurrency: 16}\n  gpu: {pools: [h100]}\n' "$engine" \
    | $MF plan -f - --pools examples/pools/local-cluster.yaml | grep -E '^[a-zA-Z]|sliding window|^  budget|^h100|^POOL'
done

step "5. Render it: the objects the operator will apply (the engine container's arguments)"
$MF render -f examples/mixtral-8x7b-vllm.yaml --pools examples/pools/local-cluster.yaml \
  | awk '/^kind: Deployment/{d=1} d && /name: engine$/{e=1} e && /args:/{a=1} a{print} a && /enable-expert-parallel/{exit}'

step "6. The local control plane: real kube-apiserver, controller-manager, scheduler; kwok GPU nodes; one real node"
make --no-print-directory cluster-up
"${KUBECTL:-$(PYTHONPATH=e2e/local .venv/bin/python -c 'from localcluster import settings; print(settings.binary("kubectl"))')}" \
  --kubeconfig "$(PYTHONPATH=e2e/local .venv/bin/python -m localcluster kubeconfig)" \
  get nodes -L modelfleet.io/pool,nvidia.com/gpu.product,nvidia.com/gpu.count

PYTHONPATH=e2e/local .venv/bin/python scripts/demo_cluster.py
printf '\nmake demo took %d s\n' "$((SECONDS - STARTED))"
