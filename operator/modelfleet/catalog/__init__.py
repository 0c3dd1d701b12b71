"""Model configs (bundled and from the Hugging Face Hub) and the GPU catalog."""

from .bundled import bundled_config, bundled_model_ids
from .errors import (
    GatedModel,
    HubUnreachable,
    InvalidModelConfig,
    ModelNotCached,
    ModelNotFound,
    ModelUnavailable,
    RevisionNotFound,
)
from .gpus import GPU_CATALOG, GPUInfo, cuda_total, default_pools, gpu_info
from .hub import HubAccess
from .model_config import ModelConfig, parse_config
from .model_source import load_model_config

__all__ = [
    "GPU_CATALOG", "GPUInfo", "cuda_total", "default_pools", "gpu_info",
    "HubAccess", "ModelConfig", "parse_config", "load_model_config", "bundled_config", "bundled_model_ids",
    "ModelUnavailable", "ModelNotCached", "GatedModel", "ModelNotFound", "RevisionNotFound",
    "HubUnreachable", "InvalidModelConfig",
]
