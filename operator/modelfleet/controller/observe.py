"""Observe: everything one reconcile needs, gathered into a ``Snapshot`` before anything is decided.

The LLMDeployment, its children, its pods and the nodes come from the
watch-fed ``ClusterCache`` (no request); the model's config comes from the
bundled catalog or the Hub, remembered for a while (``ModelConfigs``) so a
resync of a thousand objects is not a thousand Hub requests. ``decide``
(pure) takes the snapshot; nothing here decides.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from modelfleet.api import GPUPool, OperatorSettings
from modelfleet.catalog import ModelConfig, ModelUnavailable, load_model_config
from modelfleet.render import child_refs, is_engine_pod

from .cache import ClusterCache
from .pools import pools_from_nodes

LLMDEPLOYMENT_KIND = "LLMDeployment"
# A branch or tag may move on the Hub: its config is fetched again after this long. A failure is
# retried sooner, so a fixed token or a Hub back online is seen within a resync or two.
CONFIG_TTL_SECONDS = 600.0
FAILURE_TTL_SECONDS = 30.0
# A label added to a token Secret is seen within this long.
SECRET_TTL_SECONDS = 15.0


@dataclass(frozen=True)
class Snapshot:
    """One LLMDeployment and the part of the cluster its reconcile reads."""

    body: dict[str, Any]  # the LLMDeployment as last seen, status included
    children: dict[str, dict[str, Any]] = field(default_factory=dict)  # "Kind/name" -> live child that exists
    pods: tuple[dict[str, Any], ...] = ()  # the engine pods (by the LLMDeployment's label)
    pools: tuple[GPUPool, ...] = ()
    model: ModelConfig | ModelUnavailable | None = None  # None: the spec names no model it could read
    # The labels of the Secret spec.model.tokenSecretRef names; None when it names none or it does not exist.
    token_secret_labels: dict[str, str] | None = None

    @property
    def previous_status(self) -> dict[str, Any]:
        return self.body.get("status") or {}


class ModelConfigs:
    """Model configs by (id, revision), kept for ``CONFIG_TTL_SECONDS`` (failures for less)."""

    def __init__(self, load: Callable[[str, str], ModelConfig] = load_model_config,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._load = load
        self._clock = clock
        self._lock = threading.Lock()
        self._known: dict[tuple[str, str], tuple[float, ModelConfig | ModelUnavailable]] = {}

    def get(self, model_id: str, revision: str) -> ModelConfig | ModelUnavailable:
        key = (model_id, revision)
        with self._lock:
            known = self._known.get(key)
        if known is not None and known[0] > self._clock():
            return known[1]
        try:
            found: ModelConfig | ModelUnavailable = self._load(model_id, revision)
            ttl = CONFIG_TTL_SECONDS
        except ModelUnavailable as exc:
            found, ttl = exc, FAILURE_TTL_SECONDS
        with self._lock:
            self._known[key] = (self._clock() + ttl, found)
        return found


class PoolView:
    """The GPU pools, recomputed only when the nodes the watch delivered changed."""

    def __init__(self, settings: OperatorSettings) -> None:
        self._settings = settings
        self._lock = threading.Lock()
        self._seen: tuple[int, tuple[GPUPool, ...]] | None = None

    def pools(self, cache: ClusterCache) -> tuple[GPUPool, ...]:
        version = cache.version("Node")
        with self._lock:
            if self._seen is not None and self._seen[0] == version:
                return self._seen[1]
        pools = tuple(pools_from_nodes(cache.all("Node"), self._settings.pool_label_key,
                                       self._settings.declared_pools))
        with self._lock:
            self._seen = (version, pools)
        return pools


class SecretLabels:
    """The labels of Secrets by (namespace, name), read with a GET and kept ``SECRET_TTL_SECONDS``: the
    operator may read a Secret it is pointed at, never list them (chart RBAC)."""

    def __init__(self, read: Callable[[str, str], dict[str, str] | None],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._read = read
        self._clock = clock
        self._lock = threading.Lock()
        self._known: dict[tuple[str, str], tuple[float, dict[str, str] | None]] = {}

    def get(self, namespace: str, name: str) -> dict[str, str] | None:
        with self._lock:
            known = self._known.get((namespace, name))
        if known is not None and known[0] > self._clock():
            return known[1]
        labels = self._read(namespace, name)
        with self._lock:
            self._known[(namespace, name)] = (self._clock() + SECRET_TTL_SECONDS, labels)
        return labels


def observe(cache: ClusterCache, pools: PoolView, models: ModelConfigs, namespace: str, name: str,
            secrets: SecretLabels | None = None) -> Snapshot | None:
    """The snapshot for one LLMDeployment; None when it is gone or being deleted."""
    body = cache.get(LLMDEPLOYMENT_KIND, namespace, name)
    if body is None or body["metadata"].get("deletionTimestamp"):
        return None
    children = {}
    for ref in child_refs(name):
        live = cache.get(ref.kind, namespace, ref.name)
        if live is not None:
            children[f"{ref.kind}/{ref.name}"] = live
    return Snapshot(
        body=body,
        children=children,
        pods=tuple(engine_pods(cache, namespace, name)),
        pools=pools.pools(cache),
        model=_model(models, body),
        token_secret_labels=_token_secret_labels(secrets, body),
    )


def engine_pods(cache: ClusterCache, namespace: str, name: str) -> list[dict[str, Any]]:
    """The LLMDeployment's engine pods: the replicas (its pre-pull pods carry its label too, serve nothing
    and must never count as a replica that gave no metrics)."""
    return [pod for pod in cache.labelled("Pod", namespace, name) if is_engine_pod(pod)]


def _model(models: ModelConfigs, body: dict[str, Any]) -> ModelConfig | ModelUnavailable | None:
    model = (body.get("spec") or {}).get("model") or {}
    if not isinstance(model.get("id"), str):
        return None  # the spec is invalid; decide says so
    revision = model.get("revision")
    return models.get(model["id"], revision if isinstance(revision, str) else "main")



def _token_secret_labels(secrets: SecretLabels | None, body: dict[str, Any]) -> dict[str, str] | None:
    ref = ((body.get("spec") or {}).get("model") or {}).get("tokenSecretRef") or {}
    if secrets is None or not isinstance(ref.get("name"), str):
        return None
    return secrets.get(body["metadata"]["namespace"], ref["name"])
