"""What every engine tells the renderer: image, command line, port, probes, files.

An engine is a set of facts about one inference server, checked against its
pinned image. The renderer asks these questions and never branches on the
engine kind itself, so adding an engine means adding one module here.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

from modelfleet.api import LLMDeploymentSpec, OperatorSettings, Plan
from modelfleet.api.spec import EngineKind

from . import cache_layout
from .flags import repeated_flags

# Both engines listen on the same port, so the Service, the warm-up sidecar's
# URL and every client stay the same when a deployment switches engines.
# 8000 is vLLM's own default and is unprivileged (no NET_BIND_SERVICE needed).
PORT = 8000

# Files of a Hugging Face repo the engines load: config and tokenizer files,
# chat templates and the safetensors weights. ``model*.safetensors`` rather
# than ``*.safetensors``: Mistral repos ship the same weights a second time as
# ``consolidated.safetensors`` (Mistral's own format), which would double the
# download and the cache for nothing. ``*.bin``/``*.pt`` copies are skipped too.
HF_FILES = ("*.json", "model*.safetensors", "tokenizer*", "*.model", "*.txt", "*.jinja")


class Engine(ABC):
    """Facts about one inference server and its pinned image."""

    kind: ClassVar[EngineKind]
    version: ClassVar[str]  # the pinned release the image, the rules and the tests follow
    default_image: ClassVar[str]
    port: ClassVar[int] = PORT
    health_path: ClassVar[str] = "/health"
    # Glob patterns of repo files the pre-pull program downloads for this engine.
    files: ClassVar[tuple[str, ...]] = HF_FILES
    # Short spellings of flags the operator sets, so extraArgs cannot repeat them unseen.
    flag_aliases: ClassVar[dict[str, str]] = {}
    # What the engine does with a flag given twice, for the refusal's message.
    repeated_flag_effect: ClassVar[str]

    def image(self, spec: LLMDeploymentSpec, settings: OperatorSettings) -> str:
        """The user's image, else the operator's configured one, else the pinned one."""
        return spec.engine.image or settings.engine_images.get(self.kind) or self.default_image

    @abstractmethod
    def command(self) -> list[str]:
        """The container command; empty keeps the image's entrypoint."""

    def args(self, spec: LLMDeploymentSpec, plan: Plan) -> list[str]:
        """The engine's command-line arguments, ``spec.engine.extraArgs`` last."""
        return self.operator_args(spec, plan) + list(spec.engine.extra_args)

    @abstractmethod
    def operator_args(self, spec: LLMDeploymentSpec, plan: Plan) -> list[str]:
        """The arguments the operator sets from the spec and the plan."""

    def env(self) -> list[tuple[str, str]]:
        """Environment the engine needs to read the pre-pulled cache offline.

        ``HF_HUB_OFFLINE=1``: the pre-pull init container has already put
        every file in the cache, so the engine must not reach the Hub (no
        rate limits, no token, no surprise download of another revision).
        """
        return [("HF_HOME", cache_layout.HF_HOME), ("HF_HUB_OFFLINE", "1")]

    def problems(self, spec: LLMDeploymentSpec, plan: Plan) -> list[str]:
        """Why this engine cannot serve the spec with the plan as asked; empty when it can."""
        repeated = repeated_flags(self.operator_args(spec, plan), list(spec.engine.extra_args), self.flag_aliases)
        if not repeated:
            return []
        return [
            f"extraArgs repeat flags the operator sets from the spec: {', '.join(repeated)} "
            f"({self.repeated_flag_effect}); set the spec's fields instead"
        ]


def served_model_name(spec: LLMDeploymentSpec) -> str:
    """The name clients put in OpenAI requests' ``model`` field."""
    return spec.model.served_model_name or spec.model.id
