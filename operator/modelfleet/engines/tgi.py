"""Hugging Face Text Generation Inference, as the pinned TGI image runs it.

``TGI_VERSION`` is TGI's final release: the project went into maintenance
mode in December 2025 (its README) and its repository was archived in March
2026, so no later release will come. Checked against that tag's source
(``launcher/src/main.rs``, the router and the server, cited below):

- No command is set: the image's entrypoint script prepares the environment
  and then runs ``text-generation-launcher`` with our arguments.
- ``--hostname 0.0.0.0`` is explicit because the launcher reads the
  ``HOSTNAME`` variable, which Kubernetes sets to the pod name: TGI would
  listen on the pod IP only and the warm-up sidecar could not reach it on
  localhost.
- Context: ``--max-total-tokens`` is maxModelLen (prompt plus output) and
  ``--max-input-tokens`` maxModelLen - 1, TGI's own default split: a prompt
  may use the whole context as long as one token is left to generate.
- ``--max-concurrent-requests`` counts queued requests too, and TGI refuses
  (HTTP 429) beyond it. It is QUEUE_ALLOWANCE × maxConcurrency so that a queue
  can form (``tgi_queue_size``, which the autoscaler scales on) while a
  replica still pushes back before it drowns; the running batch is bounded by
  the KV memory TGI measures at warm-up.
- ``--cuda-memory-fraction`` is gpu.memoryUtilization and
  ``--max-batch-prefill-tokens`` the plan's prefill tokens: TGI gives its KV
  cache what is free after a warm-up prefill of that many tokens, within
  fraction × 0.90 of the GPU (``sizing.engine_memory.TGI``), which is the
  budget the plan was sized with. Without the flag TGI 3.x picks the prefill
  size from the GPU's flops (``launcher/src/main.rs``), so the warm-up, and
  with it the KV cache, would differ from GPU to GPU.
- Quantization: our names map to ``--quantize`` values; for awq/gptq TGI
  still picks its Marlin kernels where the GPU has them.
- ``--kv-cache-dtype fp8_e4m3fn`` for kvCacheDtype fp8: the same E4M3 format
  vLLM's ``fp8`` uses (scales from the checkpoint, else 1.0). TGI also offers
  ``fp8_e5m2``; E4M3 keeps the two engines numerically alike.
- TGI has no expert-parallel switch: its mixture-of-experts layers shard
  every expert across the tensor-parallel ranks, the same memory per GPU.
- The image runs as root (weights cache default ``/data``, shard sockets in
  ``/tmp``); it cannot run with ``runAsNonRoot``.
"""

from __future__ import annotations

from typing import ClassVar

from modelfleet.api import LLMDeploymentSpec, Plan
from modelfleet.sizing import prefill_tokens

from . import cache_layout
from .base import Engine

QUANTIZE = {
    "fp8": "fp8",
    "awq": "awq",
    "gptq": "gptq",
    "bitsandbytes-8bit": "bitsandbytes",
    "bitsandbytes-4bit": "bitsandbytes-nf4",
}

# TGI's final release (see the module docstring); nothing else in the code spells it.
TGI_VERSION = "3.3.7"

QUEUE_ALLOWANCE = 4

ALIASES = {"-p": "--port"}


class TGI(Engine):
    flag_aliases = ALIASES
    repeated_flag_effect = "TGI refuses a flag given twice"
    kind: ClassVar = "tgi"
    version: ClassVar[str] = TGI_VERSION
    default_image: ClassVar[str] = f"ghcr.io/huggingface/text-generation-inference:{TGI_VERSION}"

    def command(self) -> list[str]:
        return []

    def env(self) -> list[tuple[str, str]]:
        # The launcher and the router look for weights and tokenizer here.
        return super().env() + [("HUGGINGFACE_HUB_CACHE", cache_layout.HUB_CACHE)]

    def operator_args(self, spec: LLMDeploymentSpec, plan: Plan) -> list[str]:
        model = spec.model
        args = [
            "--model-id", model.id,
            "--revision", model.revision,
            "--hostname", "0.0.0.0",
            "--port", str(self.port),
            "--num-shard", str(plan.tensor_parallel_size),
            "--max-input-tokens", str(plan.max_model_len - 1),
            "--max-total-tokens", str(plan.max_model_len),
            "--max-concurrent-requests", str(spec.serving.max_concurrency * QUEUE_ALLOWANCE),
            "--cuda-memory-fraction", f"{spec.gpu.memory_utilization:g}",
            "--max-batch-prefill-tokens", str(plan.prefill_tokens or prefill_tokens(self.kind)),
        ]
        if model.quantization in QUANTIZE:
            args += ["--quantize", QUANTIZE[model.quantization]]
        if model.kv_cache_dtype == "fp8":
            args += ["--kv-cache-dtype", "fp8_e4m3fn"]
        return args
