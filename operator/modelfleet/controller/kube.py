"""Connections to the API server: the typed client for reads, the dynamic one for apply."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kubernetes import client, config
from kubernetes.dynamic import DynamicClient

FIELD_MANAGER = "modelfleet"


@dataclass
class Kube:
    api: client.ApiClient
    dynamic: DynamicClient

    def resource(self, api_version: str, kind: str) -> Any:
        return self.dynamic.resources.get(api_version=api_version, kind=kind)


def connect(kubeconfig: str | None = None, context: str | None = None) -> Kube:
    """In-cluster config when running in a pod, else the kubeconfig (KUBECONFIG, ~/.kube/config)."""
    if kubeconfig is None and context is None:
        try:
            config.load_incluster_config()
            api = client.ApiClient()
            return Kube(api=api, dynamic=DynamicClient(api))
        except config.ConfigException:
            pass
    api = config.new_client_from_config(config_file=kubeconfig, context=context)
    return Kube(api=api, dynamic=DynamicClient(api))
