"""Observe: everything a writer needs, gathered into a ``Snapshot`` before anything is decided.

The LLMDeployment, its children, its pods and the nodes come from the
watch-fed ``ClusterCache`` (no request); the model's config comes from the
bundled catalog or the Hub, remembered for a while (``ModelConfigs``) so a
resync of a thousand objects is not a thousand Hub requests. Nothing here
decides.

This is the one module that reads the LLMDeployment's raw body: ``parse``
turns it into the typed spec (or the ``InvalidSpec`` that says why it is
not one) and the typed status, once per snapshot, and every writer below
reads those (``tests/unit/test_controller_parse_once.py`` fails on any
other module that parses it, or reads it from the cache).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

from pydantic import ValidationError

from modelfleet.api import (
    GPUPool,
    InvalidSpec,
    LLMDeployment,
    LLMDeploymentStatus,
    OperatorSettings,
    parse_llmdeployment,
)
from modelfleet.api.hub_token import SecretsForbidden, TokenReader
from modelfleet.catalog import ModelConfig, ModelUnavailable, load_model_config
from modelfleet.render import ChildRef, child_refs, is_engine_pod, is_router_pod

from .cache import ClusterCache
from .decide import Ref, Snapshot
from .decide.pod_security import ENFORCE_LABEL
from .kube import Forbidden, Kube
from .pools import pools_from_nodes

LLMDEPLOYMENT_KIND = "LLMDeployment"
# A branch or tag may move on the Hub: its config is fetched again after this long. A failure is
# retried sooner, so a fixed token or a Hub back online is seen within a resync or two.
CONFIG_TTL_SECONDS = 600.0
FAILURE_TTL_SECONDS = 30.0
# A label added to a token Secret is seen within this long.
SECRET_TTL_SECONDS = 15.0


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
    """The labels of Secrets by (namespace, name), read with a metadata-only GET and kept
    ``SECRET_TTL_SECONDS``: the operator may read a Secret it is pointed at, never list them (chart RBAC). Where
    it may not read Secrets at all the answer is ``SecretsForbidden``, kept as long, so a RoleBinding created
    meanwhile is seen at the next reconcile after that."""

    def __init__(self, read: Callable[[str, str], dict[str, str] | None], reader: TokenReader | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._read = read
        self._forbidden = SecretsForbidden(reader or TokenReader())
        self._clock = clock
        self._lock = threading.Lock()
        self._known: dict[tuple[str, str], tuple[float, dict[str, str] | SecretsForbidden | None]] = {}

    def get(self, namespace: str, name: str) -> dict[str, str] | SecretsForbidden | None:
        with self._lock:
            known = self._known.get((namespace, name))
        if known is not None and known[0] > self._clock():
            return known[1]
        labels: dict[str, str] | SecretsForbidden | None
        try:
            labels = self._read(namespace, name)
        except Forbidden:
            labels = self._forbidden
        with self._lock:
            self._known[(namespace, name)] = (self._clock() + SECRET_TTL_SECONDS, labels)
        return labels


def observe(cache: ClusterCache, pools: PoolView, models: ModelConfigs, namespace: str, name: str,
            secrets: SecretLabels | None = None, inference_pools_served: bool = False) -> Snapshot | None:
    """The reconcile's snapshot of one LLMDeployment: the cached one, the pools, the model's config, the
    token Secret's labels and whether InferencePools are served (discovery's last answer); None when it is gone
    or being deleted."""
    cached = observe_cached(cache, namespace, name)
    if cached is None:
        return None
    resource = cached.resource
    if isinstance(resource, InvalidSpec):
        return cached  # decide says why; nothing else is read for a spec that cannot be served
    model = resource.spec.model
    token = model.token_secret_ref
    return replace(
        cached,
        pod_security=pod_security_level(cache, namespace),
        pools=pools.pools(cache),
        model=models.get(model.id, model.revision),
        token_secret_labels=None if token is None or secrets is None else secrets.get(namespace, token.name),
        inference_pools_served=inference_pools_served,
    )


def pod_security_level(cache: ClusterCache, namespace: str) -> str | None:
    """The Pod Security level the namespace enforces, from the watched Namespace (None: no label)."""
    found = cache.get("Namespace", "", namespace)
    return ((found or {}).get("metadata", {}).get("labels") or {}).get(ENFORCE_LABEL)


def observe_cached(cache: ClusterCache, namespace: str, name: str) -> Snapshot | None:
    """What the cache holds of one LLMDeployment (it, its children and engine pods; no request): the loops'
    snapshot and a failed reconcile's. None when it is gone or being deleted."""
    body = cache.get(LLMDEPLOYMENT_KIND, namespace, name)
    if body is None or body["metadata"].get("deletionTimestamp"):
        return None
    children = {}
    for ref in child_refs(name):
        live = cache.get(ref.kind, namespace, ref.name)
        if live is not None:
            children[f"{ref.kind}/{ref.name}"] = live
    return snapshot_of(body, children=children, pods=tuple(engine_pods(cache, namespace, name)),
                       routers=tuple(router_pods(cache, namespace, name)))


def last_decided_zero(cache: ClusterCache, namespace: str, name: str) -> bool:
    """The stored object's last scaling decision was 0, read raw without parsing the spec: the wake loop's
    every-second prefilter (a snapshot parses the spec); ``loops.at_zero`` then checks the spec."""
    body = cache.get(LLMDEPLOYMENT_KIND, namespace, name)
    return body is not None and (body.get("status") or {}).get("desiredReplicas") == 0


def snapshot_of(body: dict[str, Any], children: dict[str, dict[str, Any]] | None = None,
                pods: tuple[dict[str, Any], ...] = (), routers: tuple[dict[str, Any], ...] = ()) -> Snapshot:
    """The snapshot of an LLMDeployment's body, parsed, with its children and engine pods."""
    metadata = body.get("metadata") or {}
    ref = Ref(namespace=metadata.get("namespace") or "", name=metadata["name"], uid=metadata.get("uid") or "",
              generation=metadata.get("generation", 0), resource_version=metadata.get("resourceVersion"))
    return Snapshot(ref=ref, resource=parse(body), status=read_status(body.get("status")), children=children or {},
                    pods=pods, routers=routers)


def parse(body: dict[str, Any]) -> LLMDeployment | InvalidSpec:
    """The spec as the typed ``LLMDeployment`` (its status left out: ``read_status`` reads that), or why it is
    not one."""
    try:
        return parse_llmdeployment({k: v for k, v in body.items() if k != "status"})
    except InvalidSpec as exc:
        return exc


def read_status(raw: dict[str, Any] | None) -> LLMDeploymentStatus:
    """The stored status as the typed object; one written by an older operator that no longer parses
    counts as empty (the next write replaces it)."""
    try:
        return LLMDeploymentStatus.model_validate(raw or {})
    except ValidationError:
        return LLMDeploymentStatus()


def engine_pods(cache: ClusterCache, namespace: str, name: str) -> list[dict[str, Any]]:
    """The LLMDeployment's engine pods: the replicas (its pre-pull pods carry its label too, serve nothing
    and must never count as a replica that gave no metrics)."""
    return [pod for pod in cache.labelled("Pod", namespace, name) if is_engine_pod(pod)]


def router_pods(cache: ClusterCache, namespace: str, name: str) -> list[dict[str, Any]]:
    """The LLMDeployment's router pods: where the requests held while no replica is ready are counted."""
    return [pod for pod in cache.labelled("Pod", namespace, name) if is_router_pod(pod)]


def holders(kube: Kube, namespace: str, refs: Iterable[ChildRef]) -> dict[str, dict[str, Any] | None]:
    """The objects that have the names of children about to be created ("Kind/name" -> it, or None when the
    name is free), asked of the API server: the cache sees only objects with the LLMDeployment label, and
    applying over someone else's object would adopt it."""
    return {f"{ref.kind}/{ref.name}": kube.get(ref.api_version, ref.kind, namespace, ref.name) for ref in refs}
