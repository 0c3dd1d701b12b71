"""The Service users call: the OpenAI-compatible API, in front of the router pods or, with ``spec.routing.mode:
service``, the engine pods. Its name and port are the same either way (the router listens on the engines' port
under the same port name): switching changes only its selector."""

from __future__ import annotations

from typing import Any

from modelfleet.api import LLMDeployment
from modelfleet.engines import profile_for

from .labels import ENGINE, ROUTER, metadata, selector_labels
from .names import service_name
from .probes import PORT_NAME
from .router import routed


def service(resource: LLMDeployment, router_ready: bool = True) -> dict[str, Any]:
    """``router_ready``: some router pod is available. Until one is, a routed Service still selects the engine
    pods, so that turning the router on (a new LLMDeployment, an upgraded operator, mode service back to
    leastInFlight) never leaves the Service without an endpoint while the router pods start."""
    name = resource.metadata["name"]
    port = profile_for(resource.spec.engine.kind).port
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(resource, service_name(name), ENGINE),
        "spec": {
            "type": "ClusterIP",
            "selector": selector_labels(name, ROUTER if routed(resource.spec) and router_ready else ENGINE),
            "ports": [
                {"name": PORT_NAME, "port": port, "targetPort": PORT_NAME, "protocol": "TCP", "appProtocol": "http"}
            ],
        },
    }


def endpoint(resource: LLMDeployment) -> str:
    """The in-cluster base URL of the OpenAI API (``status.endpoint``)."""
    name = resource.metadata["name"]
    port = profile_for(resource.spec.engine.kind).port
    return f"http://{service_name(name)}.{resource.metadata['namespace']}.svc:{port}/v1"
