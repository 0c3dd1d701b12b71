"""The affinity key of a request: the first characters of what the engine reads first.

OpenAI completions carry ``prompt`` (a string, a list of strings, or token ids), OpenAI chat
``messages``, TGI's ``/generate`` and ``/generate_stream`` ``inputs``. Requests that share the key share
the engine's prefix cache when they land on the same replica.
"""

from __future__ import annotations

import json
from typing import Any


def affinity_key(body: bytes, chars: int) -> str:
    """The first ``chars`` characters of the prompt, the chat messages in order, or TGI's inputs; ``""``
    when the body has none (the request is then routed by fewest in flight)."""
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return ""
    if not isinstance(doc, dict):
        return ""
    messages = doc.get("messages")
    if isinstance(messages, list) and messages:
        text = ""
        for message in messages:
            if isinstance(message, dict):
                text += f"{message.get('role', '')}\0{_text(message.get('content'))}\0"
            if len(text) >= chars:
                break
        return text[:chars]
    if "prompt" in doc:
        return _text(doc["prompt"], first_of_list=True)[:chars]
    inputs = doc.get("inputs")
    return inputs[:chars] if isinstance(inputs, str) else ""


def _text(value: Any, first_of_list: bool = False) -> str:
    """A string as it is; a list of prompts by its first; anything else (token ids, content parts) as
    JSON: the same prefix gives the same key either way."""
    if isinstance(value, str):
        return value
    if first_of_list and isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return str(value[0])
    return json.dumps(value, separators=(",", ":"))
