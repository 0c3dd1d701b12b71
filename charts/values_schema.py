"""Generate charts/modelfleet/values.schema.json, so Helm refuses a mistyped value.

    python charts/values_schema.py > charts/modelfleet/values.schema.json

One source for each part of the values:
- the operator's settings (poolLabelKey, declaredPools, gpuPrices, ...) are
  ``OperatorSettings`` itself: ``ChartValues`` subclasses it, so the chart
  accepts exactly what the operator reads from its settings file;
- Kubernetes fields (resources, tolerations, affinity) are Kubernetes' own
  strict schemas for 1.34 (the ones kubernetes-validate ships);
- the rest (image, ports, ServiceMonitor, ...) is declared below.

Every object refuses unknown keys (``additionalProperties: false``), so
``resyncSecond: 5`` fails ``helm install`` and names the key. A unit test keeps
the committed file equal to this output.
"""

from __future__ import annotations

import json
import typing
from pathlib import Path
from typing import Annotated, Any, Literal

import kubernetes_validate
from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema
from pydantic.alias_generators import to_camel

from modelfleet.api import OperatorSettings
from modelfleet.api.json_schema import inline_refs, without_keywords
from modelfleet.api.settings import RouterSettings
from modelfleet.api.spec import DNS_LABEL_PATTERN, EngineKind, SecretKeyRef

KUBERNETES_VERSION = "1.34.0"  # the version the chart's tests validate against (e2e/local)
# A Prometheus duration: 30s, 1m, 1h30m.
DURATION_PATTERN = r"^([0-9]+(ms|s|m|h|d|w|y))+$"
DROPPED_KEYS = {"title", "default"}


def kubernetes_schema(name: str) -> dict[str, Any]:
    """A Kubernetes type's strict JSON schema, references inlined.

    Descriptions and x-kubernetes-* hints are left out: `kubectl explain` has
    them, and they would make up most of the file.
    """
    root = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
    definitions = json.loads((root / f"v{KUBERNETES_VERSION}-local-strict" / "_definitions.json").read_text())["$defs"]
    schema = inline_refs(definitions[f"io.k8s.api.core.v1.{name}"], definitions)
    return without_keywords(schema, lambda key: key == "description" or key.startswith("x-kubernetes"))


def kubernetes(name: str) -> WithJsonSchema:
    return WithJsonSchema(kubernetes_schema(name))


class Values(BaseModel):
    """A block of chart values: camelCase keys, nothing unknown."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class Crds(Values):
    enabled: bool = Field(description="Install the LLMDeployment CRD (kept on uninstall).")


class Image(Values):
    repository: str = Field(description="Operator image repository.", min_length=1)
    tag: str = Field(description="Operator image tag. Empty: the chart's appVersion.")
    pull_policy: Literal["Always", "IfNotPresent", "Never"] = Field(description="Image pull policy.")


class Metrics(Values):
    port: int = Field(description="Port of the operator's Prometheus /metrics.", ge=1, le=65535)


class ServiceMonitor(Values):
    enabled: bool = Field(description="Create a prometheus-operator ServiceMonitor for the operator's metrics.")
    interval: str = Field(description="Scrape interval, e.g. 30s.", pattern=DURATION_PATTERN)
    scrape_timeout: str = Field(description="Scrape timeout, e.g. 10s.", pattern=DURATION_PATTERN)
    labels: dict[str, str] = Field(
        description="Extra labels, for the Prometheus serviceMonitorSelector (e.g. release: kube-prometheus-stack)."
    )


class RouterValues(RouterSettings):
    # Kubernetes' own schemas, as for the operator pod's placement below.
    tolerations: Annotated[list[dict[str, Any]], WithJsonSchema({
        "type": "array", "items": kubernetes_schema("Toleration"),
    })] = Field(default_factory=list, description="Tolerations of the router pods.")
    affinity: Annotated[dict[str, Any] | None, kubernetes("Affinity")] = Field(
        None, description="Affinity of the router pods.")


class ChartValues(OperatorSettings):
    crds: Crds
    image: Image
    watch_namespaces: list[Annotated[str, Field(pattern=DNS_LABEL_PATTERN, max_length=63)]] = Field(
        description="Watch these namespaces only; empty watches every namespace."
    )
    token_secret_access: Literal["perNamespace", "managedNamespaces"] = Field(
        description="Where the operator may read the labels of the Secret spec.model.tokenSecretRef names: "
        "perNamespace, only in namespaces that bind the ClusterRole <release>-hub-token-reader; managedNamespaces, in "
        "every namespace it manages."
    )
    resync_seconds: float = Field(description="How often every LLMDeployment is re-checked (seconds).", gt=0)
    # Keys are engine kinds: a typo such as `vlm` must fail, not be ignored.
    engine_images: Annotated[dict[str, str], WithJsonSchema({
        "type": "object",
        "properties": {kind: {"type": "string", "minLength": 1} for kind in typing.get_args(EngineKind)},
        "additionalProperties": False,
    })] = Field(description="Default engine image by engine kind, overriding the operator's pinned ones.")
    # Not required: Helm drops keys whose value is null (the default here).
    hub_token_secret_ref: SecretKeyRef | None = Field(
        None,
        description="Secret (in the release namespace) with a Hugging Face token for reading gated models' configs.",
    )
    resources: Annotated[dict[str, Any], kubernetes("ResourceRequirements")] = Field(
        description="The operator container's resources."
    )
    router: RouterValues = Field(description="The router pods: CPU request and placement.")
    metrics: Metrics
    service_monitor: ServiceMonitor
    liveness_port: int = Field(description="Port of the operator's /healthz.", ge=1, le=65535)
    node_selector: dict[str, str] = Field(description="Node labels for the operator pod.")
    tolerations: Annotated[list[dict[str, Any]], WithJsonSchema({
        "type": "array", "items": kubernetes_schema("Toleration"),
    })] = Field(description="Tolerations of the operator pod.")
    affinity: Annotated[dict[str, Any], kubernetes("Affinity")] = Field(description="Affinity of the operator pod.")


def values_schema() -> dict[str, Any]:
    # Helm validates the values after merging them with values.yaml, so
    # "required" holds for every key values.yaml sets.
    schema = ChartValues.model_json_schema(by_alias=True, mode="validation")
    definitions = schema.pop("$defs", {})
    # Titles and defaults out: values.yaml holds the defaults.
    schema = without_keywords(inline_refs(schema, definitions), lambda key: key in DROPPED_KEYS)
    return {"$schema": "http://json-schema.org/draft-07/schema#", "title": "modelfleet chart values", **schema}


def schema_json() -> str:
    return json.dumps(values_schema(), indent=2) + "\n"


if __name__ == "__main__":
    print(schema_json(), end="")
