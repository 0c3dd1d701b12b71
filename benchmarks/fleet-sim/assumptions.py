"""The numbers the simulation rests on, each with where it comes from.

The plan is modelfleet's own: ``modelfleet plan -f plan.yaml`` (Mixtral-8x7B
Instruct, 16-bit, vLLM, maxModelLen 4096, maxConcurrency 64 on H100 80GB).
The batch limit and the KV-cache capacity below are read from that plan.
"""
from __future__ import annotations

import json
from pathlib import Path

from engine import H100X2_MIXTRAL, StepModel
from modelfleet.api import parse_llmdeployment
from modelfleet.api.quantity import GIB
from modelfleet.catalog import default_pools, load_model_config
from modelfleet.cli.documents import llmdeployment_documents
from modelfleet.sizing import plan_deployment

HERE = Path(__file__).resolve().parent


def _plan():
    (body,) = llmdeployment_documents([str(HERE / "plan.yaml")])
    spec = parse_llmdeployment(body.body).spec
    result = plan_deployment(spec, load_model_config(spec.model.id, spec.model.revision), default_pools())
    return spec, result.require_chosen(), result.model


SPEC, PLAN, MODEL = _plan()

# --- one replica -------------------------------------------------------------------------------
GPUS_PER_REPLICA: int = PLAN.gpus_per_replica
BATCH_LIMIT: int = SPEC.serving.max_concurrency  # --max-num-seqs, rendered from maxConcurrency
MAX_MODEL_LEN: int = SPEC.serving.max_model_len
# vLLM gives the KV cache everything under the memory budget that weights and overhead leave
# (vllm/v1/worker/gpu_worker.py determine_available_memory); per GPU, each token takes
# kvCacheBytesPerToken / TP. The plan's own per-GPU numbers:
KV_TOKENS: int = int((PLAN.budget_gi_b_per_gpu - PLAN.weights_gi_b_per_gpu - PLAN.overhead_gi_b_per_gpu) * GIB
                     / (MODEL.kv_cache_bytes_per_token / PLAN.tensor_parallel_size))
STEP: StepModel = H100X2_MIXTRAL

# --- the fleet ----------------------------------------------------------------------------------
_COLD = json.loads((HERE / "coldstart_phases.json").read_text())
COLD_START_PHASES: dict[str, float] = {p["name"]: float(p["seconds"]) for p in _COLD["phases"]}
COLD_START_SECONDS: float = sum(COLD_START_PHASES.values())
MIN_REPLICAS = 1
MAX_REPLICAS = 10
# The simulation's clock: engines advance in ticks of this many seconds.
TICK_SECONDS = 1.0
# Prometheus scrapes the engines every 15 s (a common PodMonitor interval; Prometheus' own default is
# 1 min): a peer that reads through Prometheus sees the last scrape; the simulator puts the scrapes
# half a period out of phase with the HPA's syncs, so the value read is 7 s old (the mean of a
# random phase). The HPA syncs every 15 s (--horizontal-pod-autoscaler-sync-period). modelfleet
# scrapes the engines itself every 15 s (MODELFLEET_AUTOSCALE_SECONDS, controller/config.py).
# KubeAI counts requests at its own proxy.
PROMETHEUS_SCRAPE_SECONDS = 15.0
# What we count as a service-level violation: a request that waits in a queue for more than this.
SLO_QUEUE_WAIT_SECONDS = 2.0
# "After a burst": the wait of requests that arrive in the first minutes of a burst.
AFTER_BURST_SECONDS = 300.0
