"""The CustomResourceDefinition, generated from the pydantic models.

Pydantic writes JSON Schema; the API server wants a *structural* OpenAPI v3
schema. The fixes: inline ``$ref``s (``json_schema.inline_refs``, marking
the models that carry rules), then in one pass over the tree turn ``anyOf
[T, null]`` into ``nullable``, drop titles and defaults (defaults are
applied by the operator, so stored objects hold only what the user wrote),
drop ``additionalProperties: false`` (unknown fields are refused by the API
server's strict field validation instead), use OpenAPI v3.0's boolean
``exclusiveMinimum``, and attach each model's ``__rules__`` as CEL.
"""

from __future__ import annotations

import typing
from typing import Any

from pydantic import BaseModel

from .base import ApiModel
from .json_schema import inline_refs
from .resource import (
    API_VERSION,
    CRD_NAME,
    GROUP,
    KIND,
    PLURAL,
    SHORT_NAMES,
    SINGULAR,
    VERSION,
    LLMDeployment,
)
from .spec import LLMDeploymentSpec
from .status import LLMDeploymentStatus

PRINTER_COLUMNS = [
    {"name": "Model", "type": "string", "jsonPath": ".spec.model.id"},
    # From the plan, not the spec: defaults are not stored, so .spec.engine.kind may be absent.
    {"name": "Engine", "type": "string", "jsonPath": ".status.plan.engine"},
    {"name": "GPU", "type": "string", "jsonPath": ".status.plan.gpuProduct"},
    {"name": "TP", "type": "integer", "jsonPath": ".status.plan.tensorParallelSize"},
    {"name": "Ready", "type": "integer", "jsonPath": ".status.readyReplicas"},
    {"name": "Desired", "type": "integer", "jsonPath": ".status.desiredReplicas"},
    {"name": "Queue", "type": "number", "jsonPath": ".status.queueDepth"},
    # Trouble shows in the table, not only in describe: Argo CD's word for the object and the condition's reason.
    {"name": "Health", "type": "string", "jsonPath": ".status.health",
     "description": "Healthy, Progressing or Degraded, as Argo CD's health check says."},
    {"name": "Reason", "type": "string", "jsonPath": ".status.reason",
     "description": "Why: the reason of the condition that decided Health (kubectl describe has its message)."},
    # Wide output only: full-length sequences the KV cache of a running engine really holds.
    {"name": "KV Seqs", "type": "integer", "jsonPath": ".status.kvCapacity.measuredSequences", "priority": 1,
     "description": "Sequences of maxModelLen tokens the KV cache of a Ready engine holds, as it reports it."},
    {"name": "KV Source", "type": "string", "jsonPath": ".status.kvCapacity.source", "priority": 1,
     "description": "Where KV Seqs came from; 'none' when the engine reports no KV cache size (condition "
                    "KVCacheSufficient says why)."},
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
]

_DROPPED_KEYS = {"title", "default", "$defs"}
# Marks, while refs are inlined, the node a model with CEL rules became; never written out.
_RULES_OF = "x-modelfleet-rules-of"


def generate_crd() -> dict[str, Any]:
    """The CRD object for LLMDeployment, ready to ``kubectl apply``."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": CRD_NAME},
        "spec": {
            "group": GROUP,
            "names": {
                "kind": KIND,
                "listKind": f"{KIND}List",
                "plural": PLURAL,
                "singular": SINGULAR,
                "shortNames": list(SHORT_NAMES),
                "categories": ["all", "modelfleet"],
            },
            "scope": "Namespaced",
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": openapi_schema()},
                    "subresources": {
                        "status": {},
                        "scale": {
                            "specReplicasPath": ".spec.replicas",
                            "statusReplicasPath": ".status.replicas",
                            "labelSelectorPath": ".status.selector",
                        },
                    },
                    "additionalPrinterColumns": PRINTER_COLUMNS,
                }
            ],
        },
    }


def openapi_schema() -> dict[str, Any]:
    """The structural schema of the whole object."""
    return {
        "type": "object",
        "description": "LLMDeployment serves one Hugging Face model on a right-sized, warmed-up, "
        "autoscaled fleet of vLLM or TGI replicas.",
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string", "description": f"{API_VERSION}."},
            "kind": {"type": "string", "description": f"{KIND}."},
            # Declared so the name rule below can point at it (fieldPath).
            "metadata": {"type": "object", "properties": {"name": {"type": "string"}}},
            "spec": _described(model_schema(LLMDeploymentSpec), "spec"),
            "status": _described(model_schema(LLMDeploymentStatus), "status"),
        },
        "x-kubernetes-validations": _cel_rules(LLMDeployment),
    }


def _described(schema: dict[str, Any], field: str) -> dict[str, Any]:
    return {**schema, "description": LLMDeployment.model_fields[field].description}


def model_schema(model: type[ApiModel]) -> dict[str, Any]:
    """One model's structural schema, refs inlined and rules attached."""
    raw = model.model_json_schema(by_alias=True, mode="validation")
    ruled = {cls.__name__: cls for cls in _models_under(model) if cls.__rules__}

    def mark(name: str, node: dict[str, Any]) -> dict[str, Any]:
        return {**node, _RULES_OF: name} if name in ruled else node

    root = {key: value for key, value in raw.items() if key != "$defs"}
    inlined = inline_refs(mark(model.__name__, root), raw.get("$defs", {}), mark)
    schema: dict[str, Any] = _structural(inlined, ruled)
    return schema


def _structural(node: Any, ruled: dict[str, type[ApiModel]]) -> Any:
    if isinstance(node, list):
        return [_structural(item, ruled) for item in node]
    if not isinstance(node, dict):
        return node
    node = _collapse_nullable(node)
    if node.get("x-kubernetes-int-or-string"):
        return _keep(node, "description", "x-kubernetes-int-or-string")
    if node.get("x-kubernetes-preserve-unknown-fields"):
        return _keep(node, "description", "type", "nullable", "x-kubernetes-preserve-unknown-fields")
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROPPED_KEYS or key == _RULES_OF or (key == "additionalProperties" and value is False):
            continue
        if key == "exclusiveMinimum":
            out["minimum"], out["exclusiveMinimum"] = value, True
        elif key == "properties":
            out[key] = {name: _structural(sub, ruled) for name, sub in value.items()}
        else:
            out[key] = _structural(value, ruled)
    if _RULES_OF in node:
        out["x-kubernetes-validations"] = _cel_rules(ruled[node[_RULES_OF]])
    return out


def _collapse_nullable(node: dict[str, Any]) -> dict[str, Any]:
    """``anyOf: [T, {type: null}]`` → ``T`` with ``nullable: true``."""
    options = node.get("anyOf")
    if not options:
        return node
    non_null = [o for o in options if o.get("type") != "null"]
    if len(non_null) == len(options) or len(non_null) != 1:
        return node
    rest = {k: v for k, v in node.items() if k != "anyOf"}
    collapsed = {**non_null[0], **rest, "nullable": True}
    if "enum" in collapsed:
        # The API server checks a null against the enum too.
        collapsed["enum"] = [*collapsed["enum"], None]
    return collapsed


def _keep(node: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: node[k] for k in keys if k in node}


def _cel_rules(model: type[ApiModel]) -> list[dict[str, str]]:
    return [{"rule": r.cel, "message": r.message, "fieldPath": f".{r.field}"} for r in model.__rules__]


def _models_under(model: type[BaseModel]) -> set[type[ApiModel]]:
    """Every ApiModel reachable from ``model``'s fields (to find their rules)."""
    found: set[type[ApiModel]] = set()
    stack: list[Any] = [model]
    while stack:
        annotation = stack.pop()
        if isinstance(annotation, type) and issubclass(annotation, ApiModel):
            if annotation in found:
                continue
            found.add(annotation)
            stack.extend(f.annotation for f in annotation.model_fields.values())
        else:
            stack.extend(typing.get_args(annotation))
    return found
