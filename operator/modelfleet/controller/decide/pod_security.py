"""The namespace's Pod Security level, and the cache mode it allows (pure).

A namespace labelled ``pod-security.kubernetes.io/enforce`` at ``baseline``
or ``restricted`` refuses pods with a ``hostPath`` volume
(https://kubernetes.io/docs/concepts/security/pod-security-standards/),
which the ``nodeLocal`` cache is. Left to the API server, the Deployment's
ReplicaSet fails to create pods over and over and nothing serves. So,
before anything is created:

- ``spec.cache.mode`` unset: the operator picks ``none`` there (an emptyDir
  per pod, a download per start: it works at every level) and says so in
  ``status.cacheMode``; ``pvc`` would share one download, but needs a
  ReadWriteMany StorageClass the operator cannot know exists.
- ``spec.cache.mode: nodeLocal`` asked for: refused (``PodSecurityForbids``),
  naming the level, the field and what to use instead; nothing is created.

"restricted" also forbids a root container: the pods then have no
cache-permissions step (``render.runtime_containers``), and so no compile
cache shared through the claim (its directory would be the kubelet's, root's):
each pod compiles into its own scratch volume, and status says so.
"""

from __future__ import annotations

from dataclasses import dataclass

from modelfleet.api import CacheModeChosen, LLMDeployment

from .intent import Problem

ENFORCE_LABEL = "pod-security.kubernetes.io/enforce"
RESTRICTED = "restricted"
FORBID_HOST_PATH = ("baseline", "restricted")
REASON = "PodSecurityForbids"


@dataclass(frozen=True)
class CacheChoice:
    resource: LLMDeployment  # with the cache mode the pods will have
    chosen: CacheModeChosen


def choose_cache_mode(resource: LLMDeployment, namespace: str,
                      level: str | None) -> CacheChoice | Problem:
    """The resource with a cache mode ``level`` allows, or why the mode it asks for is refused."""
    cache = resource.spec.cache
    asked = "mode" in cache.model_fields_set
    if level == RESTRICTED and cache.compile_cache and cache.mode == "pvc":
        return _per_pod_compile(resource, namespace, asked)
    if cache.mode != "nodeLocal" or level not in FORBID_HOST_PATH:
        why = "spec.cache.mode" if asked else "the default"
        return CacheChoice(resource, CacheModeChosen(mode=cache.mode, reason=why))
    if asked:
        return Problem(REASON, (
            f"Namespace {namespace} enforces Pod Security \"{level}\" ({ENFORCE_LABEL}), which forbids hostPath "
            "volumes, and spec.cache.mode: nodeLocal is a hostPath on each node. Set spec.cache.mode to pvc (one "
            "ReadWriteMany volume the replicas share) or none (a download per pod), or leave it out and the "
            "operator picks one the namespace allows. Nothing was created."))
    reason = (f"chosen: namespace {namespace} enforces Pod Security \"{level}\", which forbids the hostPath of the "
              "default nodeLocal cache; each pod downloads the weights into its own volume. Set spec.cache.mode: pvc "
              "for one download the replicas share.")
    return CacheChoice(_with_cache(resource, mode="none"),
                       CacheModeChosen(mode="none", reason=reason))


def _per_pod_compile(resource: LLMDeployment, namespace: str, asked: bool) -> CacheChoice:
    mode = resource.spec.cache.mode
    reason = (f"{'spec.cache.mode' if asked else 'the default'}; namespace {namespace} enforces Pod Security "
              "\"restricted\", so no root step hands a shared compile directory to the engine: each pod compiles "
              "into its own scratch volume")
    return CacheChoice(_with_cache(resource, mode=mode, compile_cache=False), CacheModeChosen(mode=mode, reason=reason))


def _with_cache(resource: LLMDeployment, **changes: object) -> LLMDeployment:
    spec = resource.spec.model_copy(update={"cache": resource.spec.cache.model_copy(update=changes)})
    return resource.model_copy(update={"spec": spec})
