"""The LLMDeployment API: pydantic models, CRD generation, offline validation."""

from .base import ApiModel, Rule
from .resource import (
    API_VERSION,
    CRD_NAME,
    GROUP,
    KIND,
    PLURAL,
    SHORT_NAMES,
    SINGULAR,
    VERSION,
    LLMDeployment,
)
from .settings import DEFAULT_POOL_LABEL_KEY, GPUPool, OperatorSettings
from .spec import (
    TENSOR_PARALLEL_SIZES,
    AutoscalingSpec,
    CacheSpec,
    EngineSpec,
    GPUSpec,
    LLMDeploymentSpec,
    ModelSpec,
    PlacementSpec,
    ServingSpec,
    WarmupSpec,
)
from .status import (
    COLD_START_PHASES,
    COLD_START_SAMPLES,
    CacheModeChosen,
    ColdStart,
    ColdStartPhases,
    ColdStartSample,
    ColdStartSummary,
    Condition,
    KVCapacity,
    LLMDeploymentStatus,
    Plan,
    PlanOverhead,
    WarmupMeasured,
)
from .validate import FieldError, InvalidSpec, parse_llmdeployment, validate_llmdeployment

__all__ = [
    "API_VERSION", "CRD_NAME", "GROUP", "KIND", "PLURAL", "SHORT_NAMES", "SINGULAR", "VERSION",
    "TENSOR_PARALLEL_SIZES",
    "ApiModel", "Rule", "LLMDeployment", "LLMDeploymentSpec", "LLMDeploymentStatus",
    "ModelSpec", "EngineSpec", "ServingSpec", "GPUSpec", "AutoscalingSpec", "CacheSpec",
    "WarmupSpec", "PlacementSpec", "Condition", "Plan", "PlanOverhead", "KVCapacity", "WarmupMeasured",
    "COLD_START_PHASES", "COLD_START_SAMPLES", "CacheModeChosen", "ColdStart", "ColdStartPhases", "ColdStartSample",
    "ColdStartSummary",
    "DEFAULT_POOL_LABEL_KEY", "GPUPool", "OperatorSettings",
    "FieldError", "InvalidSpec", "parse_llmdeployment", "validate_llmdeployment",
]
