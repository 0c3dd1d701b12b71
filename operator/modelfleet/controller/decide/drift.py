"""Does a live child still hold what we would apply? (pure)

A server-side apply of an unchanged object is still a PATCH request: it costs
the API server a write path and shows in its audit log. So the controller
applies only when the live object differs from the rendered one in a field
the operator sets. Fields the API server or other controllers add (defaults,
status, clusterIP) are not ours and are ignored; values the API server
normalizes (quantities such as ``1024Mi`` → ``1Gi``) compare by value.
"""

from __future__ import annotations

from typing import Any

from modelfleet.api.quantity import parse_quantity

# Metadata the API server owns; everything else under metadata is compared.
_SERVER_METADATA = {"uid", "resourceVersion", "generation", "creationTimestamp", "managedFields", "selfLink"}


def differs(desired: dict[str, Any], live: dict[str, Any] | None) -> bool:
    """True when applying ``desired`` would change ``live`` (or it is missing)."""
    if live is None:
        return True
    desired = {k: v for k, v in desired.items() if k != "status"}
    metadata = {k: v for k, v in desired.get("metadata", {}).items() if k not in _SERVER_METADATA}
    return not _contains(live, {**desired, "metadata": metadata})


def _contains(live: Any, desired: Any) -> bool:
    if isinstance(desired, dict):
        return isinstance(live, dict) and all(
            _contains(live[key], value) if key in live else _is_empty(value) for key, value in desired.items()
        )
    if isinstance(desired, list):
        return (
            isinstance(live, list)
            and len(live) == len(desired)
            and all(_contains(a, b) for a, b in zip(live, desired))
        )
    if isinstance(live, bool) or isinstance(desired, bool):
        return live is desired  # True == 1 in Python, not in JSON
    return live == desired or _same_quantity(live, desired)


def _is_empty(value: Any) -> bool:
    """The API server drops empty lists, maps and nulls; their absence is no drift."""
    return value is None or value == [] or value == {}


def _same_quantity(live: Any, desired: Any) -> bool:
    if not isinstance(live, (str, int, float)) or not isinstance(desired, (str, int, float)):
        return False
    try:  # the API's own parser (kubernetes' is not pure to import: decide stays free of the client)
        return parse_quantity(str(live)) == parse_quantity(str(desired))
    except ValueError:
        return False
