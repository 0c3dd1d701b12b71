"""Which Secrets may serve as Hub tokens: only those that opt in with a label.

``spec.model.tokenSecretRef`` hands a Secret's value to the pre-pull as a
bearer token. Without an opt-in, anyone who may create an LLMDeployment in a
namespace could have the operator mount any Secret of that namespace, one
they cannot read themselves, into a pod whose network traffic they shape. The
Secret's owner says "this is a Hub token" with the label; the controller
checks it before it renders a pod that reads the Secret (docs/install.md).
"""

from __future__ import annotations

from collections.abc import Mapping

from .spec import SecretKeyRef

HUB_TOKEN_LABEL = "modelfleet.io/hub-token"
HUB_TOKEN_LABEL_VALUE = "true"
REASON = "TokenSecretNotAllowed"


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
