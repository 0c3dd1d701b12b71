"""The ``config.json`` of the models modelfleet is built around, shipped in the package.

These repos are gated on the Hub (a token of an account that accepted
Mistral AI's terms), and the operator must size them before any token or
network is there. The architecture a config.json describes does not change
between revisions of a published repo (later commits touch tokenizer and
chat-template files), so the bundled copy serves every revision.

Files are ``data/<owner>--<name>.json``, copied from the Hub.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

from .model_config import ModelConfig, parse_config

_DATA = resources.files(__package__) / "data"


@cache
def bundled_model_ids() -> tuple[str, ...]:
    names = sorted(entry.name for entry in _DATA.iterdir() if entry.name.endswith(".json"))
    return tuple(name.removesuffix(".json").replace("--", "/", 1) for name in names)


def bundled_config(model_id: str) -> ModelConfig | None:
    """The bundled config of ``model_id``, or None when the package does not ship one."""
    if model_id not in bundled_model_ids():
        return None
    text = (_DATA / f"{model_id.replace('/', '--', 1)}.json").read_text()
    return parse_config(model_id, json.loads(text), "bundled")
