"""Which Secrets may serve as Hub tokens: only those that opt in with a label.

``spec.model.tokenSecretRef`` hands a Secret's value to the pre-pull as a
bearer token. Without an opt-in, anyone who may create an LLMDeployment in a
namespace could have the operator mount any Secret of that namespace, one
they cannot read themselves, into a pod whose network traffic they shape. The
Secret's owner says "this is a Hub token" with the label; the controller
checks it before it renders a pod that reads the Secret (docs/install.md).

To check the label the operator must be allowed to `get` the Secret. With the
chart's default (tokenSecretAccess: perNamespace) it may only in namespaces
whose admin bound the chart's reader ClusterRole there; elsewhere the
LLMDeployment says which RoleBinding to create (``forbidden_refusal``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .spec import SecretKeyRef

HUB_TOKEN_LABEL = "modelfleet.io/hub-token"
HUB_TOKEN_LABEL_VALUE = "true"
REASON = "TokenSecretNotAllowed"
FORBIDDEN_REASON = "TokenSecretForbidden"
# The RoleBinding a namespace admin creates to let the operator read token Secrets' metadata there.
READER_BINDING = "modelfleet-hub-token-reader"


@dataclass(frozen=True)
class TokenReader:
    """Who reads token Secrets and what a namespace binds to let it: the chart's names for its release."""

    cluster_role: str = "modelfleet-hub-token-reader"  # the chart's <release>-hub-token-reader
    service_account: str = "modelfleet-system:modelfleet"  # <namespace>:<name>, as kubectl's --serviceaccount

    @classmethod
    def of_release(cls, fullname: str, namespace: str) -> TokenReader:
        """The names the chart gives a release whose full name (``modelfleet.fullname``) is ``fullname``,
        installed in ``namespace``: the ClusterRole ``<fullname>-hub-token-reader``, the ServiceAccount ``fullname``."""
        return cls(cluster_role=f"{fullname}-hub-token-reader", service_account=f"{namespace}:{fullname}")

    def grant_command(self, namespace: str) -> str:
        return (f"kubectl create rolebinding {READER_BINDING} -n {namespace} --clusterrole={self.cluster_role} "
                f"--serviceaccount={self.service_account}")


@dataclass(frozen=True)
class SecretsForbidden:
    """What the operator learnt of a token Secret where it may not read Secrets: only who it is."""

    reader: TokenReader


def forbidden_refusal(ref: SecretKeyRef, namespace: str, reader: TokenReader) -> str:
    """Why the operator could not check the Secret ``ref`` names: it may not read Secrets in ``namespace``."""
    return (
        f"the operator may not read Secrets in namespace {namespace}, so it cannot check that Secret {ref.name} "
        f"(spec.model.tokenSecretRef) is labelled {HUB_TOKEN_LABEL}={HUB_TOKEN_LABEL_VALUE}: the operator reads a "
        f"token Secret's labels only in namespaces that allow it (it never sees the token itself). A namespace "
        f"admin allows it with: {reader.grant_command(namespace)}"
    )


def hub_token_refusal(ref: SecretKeyRef, labels: Mapping[str, str] | None) -> str | None:
    """Why the Secret ``ref`` names may not be used as a Hub token (given its labels); None when it may."""
    value = (labels or {}).get(HUB_TOKEN_LABEL)
    if value == HUB_TOKEN_LABEL_VALUE:
        return None
    found = "it has no such label" if value is None else f"its value is {value!r}"
    return (
        f"Secret {ref.name} is not marked as a Hugging Face token: spec.model.tokenSecretRef may only name a Secret "
        f"labelled {HUB_TOKEN_LABEL}={HUB_TOKEN_LABEL_VALUE} ({found}); label it "
        f"(kubectl label secret {ref.name} {HUB_TOKEN_LABEL}={HUB_TOKEN_LABEL_VALUE}) if it holds a Hub token "
        "meant for this namespace's models, or name another Secret"
    )
