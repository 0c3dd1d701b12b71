"""The connection to the API server: the dynamic client, which serves every kind (CRDs included)
and server-side apply."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from kubernetes import client, config
from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.exceptions import ForbiddenError, NotFoundError, ResourceNotFoundError

PING_TIMEOUT_S = 3
LIST_PAGE = 500  # objects per page of a LIST, as client-go's informers ask
# A pod's log comes from its kubelet through the API server: an unreachable node must not hold a worker long.
LOG_TIMEOUT_S = (3, 10)  # connect, read
# Ask the API server for an object's metadata only (as client-go's metadata client does): the answer is a
# PartialObjectMetadata, so a Secret's data never leaves the API server. RBAC cannot tell this GET from a full
# one (both are `get secrets`): where the operator may do it is the chart's tokenSecretAccess.
METADATA_ONLY = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"


class Forbidden(Exception):
    """The API server refused the operator's ServiceAccount a request (403): its RBAC does not grant it."""


@dataclass
class Kube:
    dynamic: DynamicClient

    def resource(self, api_version: str, kind: str) -> Any:
        return self.dynamic.resources.get(api_version=api_version, kind=kind)

    def get(self, api_version: str, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        """One object, or None when there is none of that name (or the API server no longer serves its kind)."""
        try:
            found = self.resource(api_version, kind).get(name=name, namespace=namespace)
        except (NotFoundError, ResourceNotFoundError):
            return None
        return cast(dict[str, Any], found.to_dict())

    def list_all(self, api_version: str, kind: str, label_selector: str | None = None,
                 namespace: str | None = None) -> list[dict[str, Any]]:
        """Every object of ``kind`` (cluster-scoped, in ``namespace``, or in every namespace), with the label
        selector if given, page by page. Raises ``Forbidden`` where the operator may not list them there."""
        resource = self.resource(api_version, kind)
        items: list[dict[str, Any]] = []
        token = None
        while True:
            try:
                page = resource.get(limit=LIST_PAGE, _continue=token, label_selector=label_selector,
                                    namespace=namespace).to_dict()
            except ForbiddenError as exc:
                raise Forbidden(f"list {kind} in {namespace or 'every namespace'}") from exc
            items += [{"apiVersion": api_version, "kind": kind, **item} for item in page.get("items") or []]
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                return items

    def serves(self, group: str, version: str, plural: str) -> bool:
        """Whether the API server serves ``plural`` in ``group/version``: its discovery document (``GET
        /apis/<group>/<version>``, 404 when the group version is not served), read afresh, not from the
        dynamic client's cache of it."""
        try:
            found = self.dynamic.request("GET", f"/apis/{group}/{version}").to_dict()
        except NotFoundError:
            return False
        return any(r.get("name") == plural for r in found.get("resources") or [])

    def secret_labels(self, namespace: str, name: str) -> dict[str, str] | None:
        """A Secret's labels, read as metadata only (its data is never sent); None if it does not exist.

        Raises ``Forbidden`` where the operator may not get Secrets (chart value tokenSecretAccess: perNamespace,
        in a namespace that has not bound the reader ClusterRole)."""
        try:
            found = self.resource("v1", "Secret").get(name=name, namespace=namespace,
                                                      header_params={"Accept": METADATA_ONLY})
        except NotFoundError:
            return None
        except ForbiddenError as exc:
            raise Forbidden(f"get secrets in namespace {namespace}") from exc
        metadata = found.to_dict()
        if metadata.get("kind") != "PartialObjectMetadata":  # an API server that ignored the Accept header
            raise RuntimeError(f"asked for the metadata of Secret {namespace}/{name}, got a {metadata.get('kind')}")
        return dict((metadata.get("metadata") or {}).get("labels") or {})

    def pod_log_head(self, namespace: str, name: str, container: str, limit_bytes: int) -> str:
        """The first ``limit_bytes`` of a container's log, each line prefixed with the kubelet's timestamp."""
        return client.CoreV1Api(self.dynamic.client).read_namespaced_pod_log(
            name, namespace, container=container, timestamps=True, limit_bytes=limit_bytes,
            _request_timeout=LOG_TIMEOUT_S)

    def pod_events(self, namespace: str, uid: str) -> list[dict[str, Any]]:
        """The events about one pod (by its UID, so a re-created pod of the same name is not mixed in)."""
        events = self.resource("v1", "Event").get(namespace=namespace, field_selector=f"involvedObject.uid={uid}")
        return [cast(dict[str, Any], item) for item in events.to_dict().get("items") or []]

    def ping(self) -> None:
        """The cheapest question (GET /version, open to every authenticated client); raises if unanswered."""
        client.VersionApi(self.dynamic.client).get_code(_request_timeout=PING_TIMEOUT_S)


def connect() -> Kube:
    """In-cluster config when running in a pod, else the kubeconfig (KUBECONFIG, ~/.kube/config)."""
    try:
        config.load_incluster_config()
        return Kube(dynamic=DynamicClient(client.ApiClient()))
    except config.ConfigException:
        return Kube(dynamic=DynamicClient(config.new_client_from_config()))
