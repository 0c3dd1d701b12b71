"""The engine's command line and image, from the spec, the plan and the engine's profile.

The profile names the flags and the order (``EngineProfile.owned_flags``) and
what each carries (``Setting``); here is how each setting is read from the
spec and the plan. A setting with nothing to say (no quantization flag for a
repository that is already quantized, no expert parallelism) leaves its flag
out. ``spec.engine.extraArgs`` come last, checked by ``extra_args``.
"""

from __future__ import annotations

from collections.abc import Callable

from modelfleet.api import LLMDeploymentSpec, OperatorSettings, Plan
from modelfleet.engines import EngineProfile, Setting
from modelfleet.engines.flags import flag_uses

# A flag's value; True: a switch without a value; None: the flag is left out.
Value = str | bool | None


def served_model_name(spec: LLMDeploymentSpec) -> str:
    """The name clients put in OpenAI requests' ``model`` field."""
    return spec.model.served_model_name or spec.model.id


def engine_image(spec: LLMDeploymentSpec, profile: EngineProfile, settings: OperatorSettings) -> str:
    """The user's image, else the operator's default."""
    return spec.engine.image or default_engine_image(profile, settings)


def default_engine_image(profile: EngineProfile, settings: OperatorSettings) -> str:
    """The operator's configured image for the engine, else the pinned one."""
    return settings.engine_images.get(profile.kind) or profile.default_image


def engine_args(spec: LLMDeploymentSpec, plan: Plan, profile: EngineProfile) -> list[str]:
    """The engine's command-line arguments, ``spec.engine.extraArgs`` last."""
    return operator_args(spec, plan, profile) + list(spec.engine.extra_args)


def operator_args(spec: LLMDeploymentSpec, plan: Plan, profile: EngineProfile) -> list[str]:
    """The arguments the operator sets from the spec and the plan, in the profile's order; a flag the user may
    set is left to ``extraArgs`` when they set it (the plan was sized with their value)."""
    args: list[str] = []
    users = {use.flag for use in flag_uses(spec.engine.extra_args, profile.parser)}
    for owned in profile.owned_flags:
        if owned.user_may_set and owned.flag in users:
            continue
        value = SETTINGS[owned.setting](spec, plan, profile)
        if value is True:
            args.append(owned.flag)
        elif isinstance(value, str):
            args += [owned.flag, value]
    return args


def _quantization(spec: LLMDeploymentSpec, plan: Plan, profile: EngineProfile) -> Value:
    return profile.quantization_values.get(spec.model.quantization)


def _quantization_at_load(spec: LLMDeploymentSpec, plan: Plan, profile: EngineProfile) -> Value:
    # A pre-quantized repository gets no flag: the engine reads the method from its config.
    return _quantization(spec, plan, profile) if plan.quantized_at_load else None


def _prefill_tokens(plan: Plan, profile: EngineProfile) -> str:
    return str(plan.prefill_tokens or profile.memory.prefill_tokens)


SETTINGS: dict[Setting, Callable[[LLMDeploymentSpec, Plan, EngineProfile], Value]] = {
    Setting.MODEL_ID: lambda spec, plan, profile: spec.model.id,
    Setting.REVISION: lambda spec, plan, profile: spec.model.revision,
    Setting.SERVED_MODEL_NAME: lambda spec, plan, profile: served_model_name(spec),
    Setting.LISTEN_ADDRESS: lambda spec, plan, profile: "0.0.0.0",
    Setting.PORT: lambda spec, plan, profile: str(profile.port),
    Setting.TENSOR_PARALLEL_SIZE: lambda spec, plan, profile: str(plan.tensor_parallel_size),
    Setting.MAX_MODEL_LEN: lambda spec, plan, profile: str(plan.max_model_len),
    Setting.MAX_INPUT_TOKENS: lambda spec, plan, profile: str(plan.max_model_len - 1),
    Setting.MAX_RUNNING_SEQUENCES: lambda spec, plan, profile: str(spec.serving.max_concurrency),
    Setting.MAX_QUEUED_REQUESTS: lambda spec, plan, profile: str(
        spec.serving.max_concurrency * profile.queue_allowance
    ),
    Setting.PREFILL_TOKENS: lambda spec, plan, profile: _prefill_tokens(plan, profile),
    Setting.MEMORY_UTILIZATION: lambda spec, plan, profile: f"{spec.gpu.memory_utilization:g}",
    Setting.QUANTIZATION: _quantization,
    Setting.QUANTIZATION_AT_LOAD: _quantization_at_load,
    Setting.KV_CACHE_DTYPE: lambda spec, plan, profile: profile.kv_cache_dtype_values.get(spec.model.kv_cache_dtype),
    Setting.EXPERT_PARALLEL: lambda spec, plan, profile: plan.expert_parallel or None,
}
