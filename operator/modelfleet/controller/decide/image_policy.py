"""Which engine images a tenant may run (pure): the cluster admin's list, by default the operator's own.

``spec.engine.image`` is the tenant's to set, and the engine runs it with
the model's weights and the GPUs of the node. The operator's setting
``allowedEngineImages`` (the chart value of the same name) lists the images
(``fnmatch`` patterns: ``registry.example.com/vllm/*``) an LLMDeployment may
name; empty, only the images the operator would pick itself (``engineImages``
or the pinned releases). Another image is refused before anything is
created (``EngineImageNotAllowed``), naming the field and what is allowed.
"""

from __future__ import annotations

from fnmatch import fnmatchcase

from modelfleet.api import LLMDeployment, OperatorSettings
from modelfleet.engines import PROFILES
from modelfleet.render.engine_args import default_engine_image

from .intent import Problem

REASON = "EngineImageNotAllowed"


def allowed_images(settings: OperatorSettings) -> tuple[str, ...]:
    if settings.allowed_engine_images:
        return tuple(settings.allowed_engine_images)
    return tuple(default_engine_image(profile, settings) for profile in PROFILES.values())


def image_refusal(resource: LLMDeployment, settings: OperatorSettings) -> Problem | None:
    image = resource.spec.engine.image
    allowed = allowed_images(settings)
    if image is None or any(fnmatchcase(image, pattern) for pattern in allowed):
        return None
    return Problem(REASON, (
        f"spec.engine.image {image} is not an engine image this cluster allows ({', '.join(allowed)}). Use one of "
        "those, or leave spec.engine.image out for the operator's default; a cluster admin allows more with the "
        "chart value allowedEngineImages (image name patterns). Nothing was created."))
