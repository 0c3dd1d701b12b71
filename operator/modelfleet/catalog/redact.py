"""Tokens out of everything the operator and the pre-pull say about a Hub response.

A Hub (or a proxy in front of it) may echo the request's ``Authorization``
header in its error: huggingface_hub puts the server's message into the
exception (``utils/_http.py``, ``_format``: ``X-Error-Message`` and the body's
``error``), and from there it reaches status messages, events and logs at any
level. huggingface_hub hides the header in its own debug lines (``_curlify``);
everything else that is said is redacted here: the token values the process
knows, and anything shaped like a credential (``Bearer ...``, an
``Authorization`` header's value, a Hugging Face token ``hf_...``).
"""

from __future__ import annotations

import logging
import os
import re
import traceback
from collections.abc import Iterable, Mapping
from typing import Any

REDACTED = "<redacted>"
# Environment variables whose values are Hub tokens (huggingface_hub/constants.py, utils/_auth.py).
TOKEN_VARIABLES = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")
CREDENTIAL_SHAPES = (
    # An Authorization header, as a header line, a JSON field or a dict repr: its whole value.
    re.compile(r"""(?i)(authorization["']?\s*[:=]\s*["']?)(?:bearer\s+|basic\s+|token\s+)?[^\s"',;}\]]+"""),
    re.compile(r"(?i)(\bbearer\s+)[A-Za-z0-9._~+/=-]+"),
    # User access tokens: "hf_" and 34 letters and digits (not "hf_raise_for_status": no '_' in a token).
    re.compile(r"()\bhf_[A-Za-z0-9]{30,}\b"),
)


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """``text`` without the ``secrets`` and without anything shaped like a credential."""
    for secret in sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    for shape in CREDENTIAL_SHAPES:
        text = shape.sub(lambda m: m.group(1) + REDACTED, text)
    return text


def environment_tokens(env: Mapping[str, str] | None = None) -> tuple[str, ...]:
    env = os.environ if env is None else env
    return tuple(env[name] for name in TOKEN_VARIABLES if env.get(name))


def install_log_redaction(secrets: Iterable[str | None] = ()) -> None:
    """Every log record this process makes from now on is redacted, tracebacks included.

    A record factory rather than a handler's filter: it covers every logger
    and every handler, including the ones a framework (kopf) installs later.
    The traceback is formatted here, redacted, and handed to the formatter as
    ``exc_text``, which ``logging.Formatter`` uses instead of formatting it again.
    """
    known = tuple(s for s in secrets if s)
    make_record = logging.getLogRecordFactory()
    if getattr(make_record, "redacts", False):
        make_record = getattr(make_record, "wrapped")  # noqa: B009  (set below, on our own factory)

    def redacting(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        try:
            record.msg, record.args = redact(record.getMessage(), known), None
        except Exception:  # noqa: BLE001 - a malformed record is the handler's to report (handleError)
            record.msg = redact(str(record.msg), known)
        if record.exc_info and record.exc_info[0] is not None:
            record.exc_text = redact("".join(traceback.format_exception(*record.exc_info)).rstrip("\n"), known)
        return record

    redacting.redacts = True  # type: ignore[attr-defined]
    redacting.wrapped = make_record  # type: ignore[attr-defined]
    logging.setLogRecordFactory(redacting)
