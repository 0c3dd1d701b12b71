"""The InferencePool of the engine pods, for a Gateway API inference gateway (docs/inference-gateway.md).

An ``InferencePool`` (``inference.networking.k8s.io/v1``, GA in the Gateway
API Inference Extension) names a set of model-server pods and the endpoint
picker (EPP) that chooses one of them for each request; an HTTPRoute's
backendRef to the pool makes a conformant gateway (Istio, Agentgateway,
NGINX Gateway Fabric) ask the picker. The fields follow the extension's
``api/v1/inferencepool_types.go`` (release pinned in
``e2e/local/gomod/inference-extension/go.mod``):

- ``selector.matchLabels``: the engine pods' selector (``selector_labels``),
  the same as the Deployment's, so the pool is exactly the replicas;
- ``targetPorts``: the engine's port (one entry: each port is an endpoint);
- ``endpointPickerRef``: a Service of the user's (the picker is the gateway
  side's component, deployed per the gateway's docs), named
  ``<name><serviceSuffix>``, its port and failure mode from the operator's
  settings (``inferencePool.endpointPicker``). Optional in the API since
  v1.5.0, but most implementations still refuse a pool without one.

``appProtocol`` is left to its default (``http``, HTTP/1.1: what vLLM and TGI
serve), and no field newer than v1.0.0 is set, so a cluster with any v1.x
of the CRDs accepts the object.

Rendered only when the controller found the API served (``render_all``'s
flag): rendering stays pure.
"""

from __future__ import annotations

from typing import Any

from modelfleet.api import LLMDeployment, OperatorSettings
from modelfleet.engines import profile_for

from .labels import ENGINE, metadata, selector_labels
from .names import INFERENCE_POOL_API_VERSION, INFERENCE_POOL_KIND, inference_pool_name


def endpoint_picker_name(name: str, settings: OperatorSettings) -> str:
    """The Service of the endpoint picker the LLMDeployment ``name``'s pool names."""
    return f"{name}{settings.inference_pool.endpoint_picker.service_suffix}"


def inference_pool(resource: LLMDeployment, settings: OperatorSettings) -> dict[str, Any]:
    name = resource.metadata["name"]
    picker = settings.inference_pool.endpoint_picker
    return {
        "apiVersion": INFERENCE_POOL_API_VERSION,
        "kind": INFERENCE_POOL_KIND,
        "metadata": metadata(resource, inference_pool_name(name), ENGINE),
        "spec": {
            "selector": {"matchLabels": selector_labels(name)},
            "targetPorts": [{"number": profile_for(resource.spec.engine.kind).port}],
            "endpointPickerRef": {
                "kind": "Service",
                "name": endpoint_picker_name(name, settings),
                "port": {"number": picker.port},
                "failureMode": picker.failure_mode,
            },
        },
    }
