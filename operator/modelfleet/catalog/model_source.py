"""Where a model's config comes from: the bundled catalog first, then the Hub."""

from __future__ import annotations

from .bundled import bundled_config
from .hub import HubAccess, fetch_config
from .model_config import ModelConfig


def load_model_config(model_id: str, revision: str = "main", *, hub: HubAccess | None = None) -> ModelConfig:
    """The sizing view of ``model_id`` at ``revision``.

    Bundled models never touch the network (see ``bundled``). Any other model's
    config.json comes through huggingface-hub with ``hub`` (default: the
    process environment), so HF_HUB_OFFLINE, HF_TOKEN, HF_ENDPOINT and
    HF_HUB_CACHE apply. Raises a ModelUnavailable subclass that says what to change.
    """
    return bundled_config(model_id) or fetch_config(model_id, revision, hub or HubAccess.from_environment())
