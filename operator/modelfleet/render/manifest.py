"""Rendered objects as a YAML stream, the way ``modelfleet render`` prints them."""

from __future__ import annotations

from typing import Any

import yaml


def to_yaml(objects: list[dict[str, Any]]) -> str:
    """One document per object, each opened by ``---``; keys keep the renderer's order."""
    return yaml.safe_dump_all(objects, sort_keys=False, explicit_start=True, width=120)
