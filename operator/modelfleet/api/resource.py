"""The ``LLMDeployment`` resource: names, and the object as a whole."""

from __future__ import annotations

import re
from typing import Any, Final, Literal

from pydantic import Field

from .base import ApiModel, Rule
from .spec import LLMDeploymentSpec
from .status import LLMDeploymentStatus

GROUP = "modelfleet.io"
VERSION = "v1alpha1"
# Spelled out (GROUP/VERSION) so that it is the literal type of the field below.
API_VERSION: Final = "modelfleet.io/v1alpha1"
KIND: Final = "LLMDeployment"
PLURAL = "llmdeployments"
SINGULAR = "llmdeployment"
SHORT_NAMES = ("llmd",)
CRD_NAME = f"{PLURAL}.{GROUP}"

# The name becomes the Service's name (a DNS-1035 label) with room for the
# longest suffix the operator adds to child objects ("-prepull", "-engines").
NAME_PATTERN = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"
MAX_NAME_LENGTH = 52


def _valid_name(resource: LLMDeployment) -> bool:
    name = resource.metadata.get("name", "")
    return isinstance(name, str) and bool(re.match(NAME_PATTERN, name)) and len(name) <= MAX_NAME_LENGTH


class LLMDeployment(ApiModel):
    api_version: Literal["modelfleet.io/v1alpha1"] = Field(API_VERSION, description="modelfleet.io/v1alpha1.")
    kind: Literal["LLMDeployment"] = Field(KIND, description="LLMDeployment.")
    metadata: dict[str, Any] = Field(default_factory=dict, description="Standard object metadata.")
    spec: LLMDeploymentSpec = Field(description="What to serve, on which GPUs, and how to scale it.")
    status: LLMDeploymentStatus | None = Field(None, description="What the operator observed and decided.")

    __rules__ = (
        Rule(
            field="metadata.name",
            cel=f"self.metadata.name.matches('{NAME_PATTERN}') && self.metadata.name.size() <= {MAX_NAME_LENGTH}",
            check=_valid_name,
            message=f"metadata.name must be at most {MAX_NAME_LENGTH} characters of lower-case letters, digits "
            "and '-', starting with a letter (it names the Service)",
        ),
    )
