"""Hand edits to a child: what someone else added to its spec, found from ``managedFields`` (pure).

Server-side apply takes back the values the operator renders (``force``), but
never removes what another field manager added: a container or an env var
added by ``kubectl patch`` stays, the drift check sees it every time, and the
operator would apply again and again without effect. The operator owns the
whole spec it renders, so such additions are removed with one JSON patch.

An addition is a field or list item that (a) a manager other than the
operator owns (its ``fieldsV1``, for the object itself, not a subresource
such as ``status`` or ``scale``) and (b) the rendered object does not have.
Fields nobody owns are the API server's defaults and stay.

The ``fieldsV1`` format: ``f:<name>`` a field, ``k:<json>`` the list item
with those key fields, ``v:<json>`` a set item, ``.`` the node itself
(https://kubernetes.io/docs/reference/using-api/server-side-apply/#field-management).
"""

from __future__ import annotations

import json
from typing import Any

Path = tuple[str | int, ...]


def foreign_additions(live: dict[str, Any], desired: dict[str, Any], manager: str) -> list[Path]:
    """Paths (under ``spec``) another manager added that ``desired`` does not have, deepest list index first."""
    found: set[Path] = set()
    for entry in live.get("metadata", {}).get("managedFields") or []:
        # The operator's own entries are never foreign; an Update entry of its own would hold the API
        # server's defaults too (tried: creating children with a POST made the prune fight the defaults).
        if entry.get("manager") == manager or entry.get("subresource"):
            continue
        spec_fields = (entry.get("fieldsV1") or {}).get("f:spec")
        if isinstance(spec_fields, dict):
            _walk(spec_fields, live.get("spec"), desired.get("spec"), ("spec",), found)
    kept = [p for p in found if not any(p[:n] in found for n in range(1, len(p)))]  # a removed parent suffices
    return sorted(kept, key=_removal_order, reverse=True)


def removal_patch(live: dict[str, Any], paths: list[Path]) -> list[dict[str, Any]]:
    """A JSON patch that removes ``paths`` from ``live``, only if each still holds what was read there.

    The guard is the values, not the resourceVersion: the controller-manager's status writes move the
    resourceVersion all the time, and a patch guarded by it would fail and be sent again."""
    tests = [{"op": "test", "path": _pointer(p), "value": _at(live, p)} for p in paths]
    return tests + [{"op": "remove", "path": _pointer(p)} for p in paths]


def without(live: dict[str, Any], paths: list[Path]) -> dict[str, Any]:
    """``live`` as it will be once ``paths`` are removed (``paths`` in removal order)."""
    out: dict[str, Any] = json.loads(json.dumps(live))
    for path in paths:
        node: Any = out  # dicts and lists, as the path walks them
        for step in path[:-1]:
            node = node[step]
        del node[path[-1]]
    return out


def _at(obj: Any, path: Path) -> Any:
    for step in path:
        obj = obj[step]
    return obj


def _walk(fields: dict[str, Any], live: Any, desired: Any, path: Path, found: set[Path]) -> None:
    for key, sub in fields.items():
        kind, _, name = key.partition(":")
        if kind == "f" and isinstance(live, dict) and name in live:
            if not isinstance(desired, dict) or name not in desired:
                found.add((*path, name))
            elif isinstance(sub, dict):
                _walk(sub, live[name], desired[name], (*path, name), found)
        elif kind == "k" and isinstance(live, list):
            match = json.loads(name)
            index = next((i for i, item in enumerate(live) if _has(item, match)), None)
            if index is None:
                continue
            mine = next((item for item in desired or [] if _has(item, match)), None) if isinstance(desired, list) \
                else None
            if mine is None:
                found.add((*path, index))
            elif isinstance(sub, dict):
                _walk(sub, live[index], mine, (*path, index), found)
        elif kind == "v" and isinstance(live, list):
            value = json.loads(name)
            if value in live and not (isinstance(desired, list) and value in desired):
                found.add((*path, live.index(value)))


def _has(item: Any, keys: dict[str, Any]) -> bool:
    return isinstance(item, dict) and all(item.get(k) == v for k, v in keys.items())


def _removal_order(path: Path) -> tuple[tuple[int, str | int], ...]:
    """Sort key: list items of one list from the highest index down (each removal shifts the ones after)."""
    return tuple((0, step) if isinstance(step, int) else (1, step) for step in path)


def _pointer(path: Path) -> str:
    return "/" + "/".join(str(step).replace("~", "~0").replace("/", "~1") for step in path)
