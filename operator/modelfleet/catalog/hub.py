"""Fetching a model's ``config.json`` from the Hugging Face Hub, with errors a person can act on.

huggingface-hub reads ``HF_ENDPOINT`` and ``HF_HUB_OFFLINE`` once, when it is
imported; ``HubAccess.from_environment`` reads them (and ``HF_TOKEN``,
``HF_HUB_CACHE``) at call time and passes them explicitly, so the process
environment at the moment of the call is what counts.

Every message is redacted (``redact``): a Hub may echo the request's token in
its error, and these messages become status conditions, events and logs.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx2
from huggingface_hub import hf_hub_download
from huggingface_hub.errors import HfHubHTTPError, HFValidationError, LocalEntryNotFoundError

from .errors import (
    GatedModel,
    HubTokenRefused,
    HubUnreachable,
    InvalidModelConfig,
    ModelNotCached,
    ModelNotFound,
    ModelUnavailable,
    RevisionNotFound,
)
from .hub_errors import HubAnswer, HubRefusal, hub_refusal
from .model_config import ModelConfig, parse_config
from .redact import redact

DEFAULT_ENDPOINT = "https://huggingface.co"
_TRUE = {"1", "ON", "YES", "TRUE"}
# Set by the chart next to HF_TOKEN: which Secret the operator's token comes from, for messages.
TOKEN_SOURCE_VARIABLE = "MODELFLEET_HUB_TOKEN_SECRET"
DEFAULT_TOKEN_SOURCE = "the operator's HF_TOKEN (the chart's hubTokenSecretRef)"


@dataclass(frozen=True)
class HubAccess:
    """How to reach the Hub: endpoint, token, cache directory, and whether to go online at all."""

    endpoint: str = DEFAULT_ENDPOINT
    token: str | None = None  # None: huggingface-hub's own lookup (HF_TOKEN, then `hf auth login`'s file)
    cache_dir: str | None = None  # None: huggingface-hub's default (~/.cache/huggingface/hub)
    offline: bool = False
    token_source: str = DEFAULT_TOKEN_SOURCE  # where the token comes from, to say which Secret to check

    @classmethod
    def from_environment(cls, env: Mapping[str, str] | None = None, token: str | None = None) -> HubAccess:
        """Settings from HF_ENDPOINT, HF_TOKEN, HF_HUB_CACHE and HF_HUB_OFFLINE; ``token`` overrides HF_TOKEN."""
        env = os.environ if env is None else env
        return cls(
            endpoint=(env.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/"),
            token=token or env.get("HF_TOKEN") or None,
            cache_dir=env.get("HF_HUB_CACHE") or None,
            offline=env.get("HF_HUB_OFFLINE", "").upper() in _TRUE,
            token_source=f"Secret {env[TOKEN_SOURCE_VARIABLE]}" if env.get(TOKEN_SOURCE_VARIABLE)
            else DEFAULT_TOKEN_SOURCE,
        )


def fetch_config(model_id: str, revision: str, hub: HubAccess) -> ModelConfig:
    """Download (or, offline, read from the cache) the repo's config.json and parse it."""
    path = _download_config(model_id, revision, hub)
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise InvalidModelConfig(f"{model_id}@{revision}: config.json is not readable JSON: {exc}") from exc
    return parse_config(model_id, data, "hub")


def _download_config(model_id: str, revision: str, hub: HubAccess) -> str:
    try:
        return hf_hub_download(
            model_id,
            "config.json",
            revision=revision,
            token=hub.token,
            cache_dir=hub.cache_dir,
            endpoint=hub.endpoint,
            local_files_only=hub.offline,
        )
    except (HfHubHTTPError, LocalEntryNotFoundError, HFValidationError, httpx2.HTTPError, OSError) as exc:
        error = _unavailable(model_id, revision, hub, exc)
        # Not "from exc": a traceback would print the Hub's own message, which may carry the token.
        raise type(error)(redact(str(error), [hub.token])) from None


def _unavailable(model_id: str, revision: str, hub: HubAccess, exc: Exception) -> ModelUnavailable:
    """Why config.json could not be had, in terms of what to change."""
    if isinstance(exc, LocalEntryNotFoundError) and hub.offline:
        return ModelNotCached(
            f"{model_id} is not a bundled model and HF_HUB_OFFLINE is set, and its config.json for revision "
            f"{revision} is not in the Hugging Face cache ({hub.cache_dir or 'the default cache'}): "
            "unset HF_HUB_OFFLINE, or fetch it once with network access"
        )
    refusal = hub_refusal(exc)
    if refusal is not None:
        return _refused(model_id, revision, hub, refusal)
    if isinstance(exc, HFValidationError):  # an id that cannot name a repository: refused before any request
        return _not_found(model_id, hub)
    return HubUnreachable(
        f"cannot fetch {model_id}@{revision}/config.json from {hub.endpoint}: {_first_line(_root_cause(exc))}; "
        "check the network or HF_ENDPOINT, or set HF_HUB_OFFLINE=1 to use only bundled models and the local cache"
    )


def _refused(model_id: str, revision: str, hub: HubAccess, refusal: HubRefusal) -> ModelUnavailable:
    """The Hub's answer (``hub_errors``) to the operator, who reads configs with its own token."""
    where = f"{model_id}@{revision}"
    match refusal.answer:
        case HubAnswer.GATED:
            return GatedModel(
                f"{model_id} is gated: the Hub refused config.json (HTTP {refusal.status or 'error'}) "
                f"{'with the token given' if hub.token else 'without a token'}; accept the model's terms at "
                f"{DEFAULT_ENDPOINT}/{model_id} and set HF_TOKEN (or spec.model.tokenSecretRef) to that account's "
                "token"
            )
        case HubAnswer.NO_REVISION:
            return RevisionNotFound(
                f"{model_id} has no revision {revision!r} on {hub.endpoint}: use a branch, tag or commit it has"
            )
        case HubAnswer.NO_FILE:
            return InvalidModelConfig(f"{where} has no config.json: it is not a transformers model repository")
        case HubAnswer.TOKEN_REFUSED:
            return _token_refused(where, refusal.status, hub)
        case HubAnswer.NO_REPOSITORY:
            return _not_found(model_id, hub)


def _not_found(model_id: str, hub: HubAccess) -> ModelNotFound:
    return ModelNotFound(
        f"no model repository {model_id} on {hub.endpoint} (or it is private and the token cannot see it): "
        "check spec.model.id"
    )


def _token_refused(where: str, status: int | None, hub: HubAccess) -> HubTokenRefused:
    if not hub.token:
        return HubTokenRefused(
            f"the Hub at {hub.endpoint} refused to serve {where}/config.json without a token (HTTP {status}): the "
            f"repository is private or gated; give the operator a token that can read it ({hub.token_source})"
        )
    if status == 401:
        return HubTokenRefused(
            f"the Hub at {hub.endpoint} refused the token (HTTP 401: invalid, expired or revoked) reading "
            f"{where}/config.json: put a valid token in {hub.token_source}"
        )
    return HubTokenRefused(
        f"the Hub at {hub.endpoint} accepted the token but it may not read {where}/config.json (HTTP 403): "
        f"check the scopes of the token in {hub.token_source} and the repository's access settings"
    )


def _root_cause(exc: BaseException) -> BaseException:
    """The first error in the chain (a DNS or connection failure), not huggingface-hub's summary of it."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    return exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]
