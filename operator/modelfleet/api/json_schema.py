"""JSON Schema trees: the one ``$ref`` inliner, and the one pruner of keywords.

Neither the API server (a CRD's structural schema) nor Helm's
``values.schema.json`` should depend on ``$ref``s, and each wants its own
keywords left out. The CRD (``api.crd``) and the chart's values schema
(``charts/values_schema.py``, for pydantic's definitions and for
Kubernetes' own) inline with ``inline_refs`` and prune with
``without_keywords``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

# Called with a definition's name and the node it resolved to; returns the node to use (the CRD marks the
# models whose CEL rules it must attach).
OnRef = Callable[[str, dict[str, Any]], dict[str, Any]]


def inline_refs(node: Any, definitions: Mapping[str, Any], on_ref: OnRef | None = None) -> Any:
    """``node`` with every ``{"$ref": ".../Name", ...}`` replaced by the definition ``Name``, at every level.

    The referring node's own keys win over the definition's: a field's
    description says more than its type's. Definitions must not refer to
    themselves (none of pydantic's here, nor Kubernetes' inlined types do).
    """
    if isinstance(node, list):
        return [inline_refs(item, definitions, on_ref) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        resolved = {**definitions[name], **{key: value for key, value in node.items() if key != "$ref"}}
        return inline_refs(on_ref(name, resolved) if on_ref else resolved, definitions, on_ref)
    return {key: inline_refs(value, definitions, on_ref) for key, value in node.items()}


def without_keywords(node: Any, dropped: Callable[[str], bool]) -> Any:
    """``node`` without the keywords ``dropped`` names, at every level. The names under ``properties`` are
    the schema's fields, not keywords, and are kept whatever they are (``properties`` comes last)."""
    if isinstance(node, list):
        return [without_keywords(item, dropped) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: without_keywords(value, dropped) for key, value in node.items()
           if key != "properties" and not dropped(key)}
    if "properties" in node:
        out["properties"] = {name: without_keywords(sub, dropped) for name, sub in node["properties"].items()}
    return out
