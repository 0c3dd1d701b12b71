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
"""

from __future__ import annotations

from dataclasses import dataclass

from modelfleet.api import CacheModeChosen, LLMDeployment

from .intent import Problem

ENFORCE_LABEL = "pod-security.kubernetes.io/enforce"
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
    if cache.mode != "nodeLocal" or level not in FORBID_HOST_PATH:
        why = "spec.cache.mode" if asked else "the default"
        return CacheChoice(resource, CacheModeChosen(mode=cache.mode, reason=why))
    if asked:
        return Problem(REASON, (
            f"Namespace {namespace} enforces Pod Security \"{level}\" ({ENFORCE_LABEL}), which forbids hostPath "
            "volumes, and spec.cache.mode: nodeLocal is a hostPath on each node. Set spec.cache.mode to pvc (one "
            "ReadWriteMany volume the replicas share) or none (a download per pod), or leave it out and the "
            "operator picks one the namespace allows. Nothing was created."))
    spec = resource.spec.model_copy(update={"cache": cache.model_copy(update={"mode": "none"})})
    return CacheChoice(resource.model_copy(update={"spec": spec}), CacheModeChosen(mode="none", reason=(
        f"chosen: namespace {namespace} enforces Pod Security \"{level}\", which forbids the hostPath of the default "
        "nodeLocal cache; each pod downloads the weights into its own volume. Set spec.cache.mode: pvc for one "
        "download the replicas share.")))
