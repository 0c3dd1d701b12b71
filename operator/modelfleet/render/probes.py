"""The engine container's probes, sized to the model.

A replica that loads 100 GiB of weights is not stuck after the kubelet's
default 30 seconds; one that has not come up after the time its weights take
is. So the startup probe's failure budget grows with the checkpoint:

    budget = STARTUP_BASE_SECONDS + checkpoint GiB × LOAD_SECONDS_PER_GIB

- ``LOAD_SECONDS_PER_GIB`` = 6, i.e. 10 minutes per 100 GiB (~170 MiB/s):
  the slow end of the network file systems a pvc cache sits on; a local NVMe
  disk (nodeLocal, none) reads several times faster.
- ``STARTUP_BASE_SECONDS`` = 600: CUDA and NCCL start-up, torch.compile on a
  cold compile cache, CUDA-graph capture (vLLM) or the prefill warm-up (TGI).

Downloading is not part of it: the pre-pull init container has finished
before the engine container starts. Readiness and liveness use the same
``/health`` endpoint once started; liveness tolerates a minute of failures
because a restart costs a full reload of the weights.
"""

from __future__ import annotations

import math
from typing import Any

from modelfleet.api import LLMDeploymentSpec, Plan
from modelfleet.engines import EngineProfile

from .checkpoint import checkpoint_gib

PORT_NAME = "http"
STARTUP_BASE_SECONDS = 600
LOAD_SECONDS_PER_GIB = 6
STARTUP_PERIOD_SECONDS = 10


def startup_budget_seconds(spec: LLMDeploymentSpec, plan: Plan) -> int:
    return STARTUP_BASE_SECONDS + math.ceil(checkpoint_gib(spec, plan) * LOAD_SECONDS_PER_GIB)


def startup_probe(engine: EngineProfile, spec: LLMDeploymentSpec, plan: Plan) -> dict[str, Any]:
    return {
        "httpGet": _health(engine),
        "periodSeconds": STARTUP_PERIOD_SECONDS,
        "timeoutSeconds": 5,
        "failureThreshold": math.ceil(startup_budget_seconds(spec, plan) / STARTUP_PERIOD_SECONDS),
    }


def readiness_probe(engine: EngineProfile) -> dict[str, Any]:
    return {"httpGet": _health(engine), "periodSeconds": 5, "timeoutSeconds": 5, "failureThreshold": 3}


def liveness_probe(engine: EngineProfile) -> dict[str, Any]:
    # /health can be slow on a saturated engine; a restart reloads the weights.
    return {"httpGet": _health(engine), "periodSeconds": 10, "timeoutSeconds": 10, "failureThreshold": 6}


def _health(engine: EngineProfile) -> dict[str, Any]:
    return {"path": engine.health_path, "port": PORT_NAME}
