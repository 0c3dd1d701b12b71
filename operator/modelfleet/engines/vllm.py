"""vLLM's OpenAI-compatible server, as the pinned ``vllm/vllm-openai`` image runs it.

Checked against vLLM 0.11 (``vllm serve --help`` and the engine-args docs):

- The command is set explicitly (``python3 -m vllm.entrypoints.openai.api_server``)
  so the arguments mean the same whatever ENTRYPOINT an overriding image has.
- ``--model`` is the repo id with ``--revision``; ``HF_HOME`` points at the
  pre-pulled hub cache and ``HF_HUB_OFFLINE=1`` makes vLLM resolve the
  revision there. No ``--download-dir``: vLLM takes a file lock in that
  directory before it resolves the snapshot (and again for the quantization
  config), ``vllm/model_executor/model_loader/weight_utils.py``, ``get_lock``:
  ``lock_dir = cache_dir or temp_dir``. The hub cache belongs to the runtime
  user and the engine runs as root without CAP_DAC_OVERRIDE, so the lock
  failed and the engine died at load (seen on the real node); without the
  flag the lock goes to the container's ``/tmp`` and huggingface-hub finds the
  same hub cache through ``HF_HOME``. ``--tokenizer-revision`` too: without it
  vLLM loads the tokenizer at the repo's default branch, which an offline
  cache filled for a pinned commit does not have.
- Quantization: ``--quantization fp8`` quantizes a 16-bit checkpoint at load
  (or serves an fp8 one); ``--quantization bitsandbytes`` quantizes at load to
  4 bits, or serves a pre-quantized 4- or 8-bit bitsandbytes checkpoint
  (vLLM 0.11 picks the bitsandbytes load format by itself). That vLLM cannot
  make 8 bits at load is a sizing rule (``sizing.rules``), which knows the
  repo's config. For ``awq`` and ``gptq`` no flag is passed: vLLM reads the
  method from the repo's ``quantization_config`` and picks the Marlin kernels
  where the GPU has them, whereas an explicit ``awq``/``gptq`` forces the
  slower original kernels.
- ``--kv-cache-dtype fp8`` is FP8 E4M3 (scales from the checkpoint, else 1.0).
- The image runs as root and writes to ``$HOME`` (``/root``): FlashInfer and
  Triton JIT caches. It cannot run with ``runAsNonRoot``.
"""

from __future__ import annotations

from typing import ClassVar

from modelfleet.api import LLMDeploymentSpec, Plan
from modelfleet.sizing import prefill_tokens

from . import cache_layout
from .base import Engine, served_model_name

QUANTIZATION = {"fp8": "fp8", "bitsandbytes-8bit": "bitsandbytes", "bitsandbytes-4bit": "bitsandbytes"}

# Short spellings vLLM's parser accepts for flags the operator sets.
ALIASES = {"-tp": "--tensor-parallel-size", "-q": "--quantization"}


class VLLM(Engine):
    flag_aliases = ALIASES
    repeated_flag_effect = "vLLM would take the last one"
    kind: ClassVar = "vllm"
    default_image: ClassVar[str] = "vllm/vllm-openai:v0.11.2"

    def command(self) -> list[str]:
        return ["python3", "-m", "vllm.entrypoints.openai.api_server"]

    def env(self) -> list[tuple[str, str]]:
        return super().env() + [("VLLM_CACHE_ROOT", cache_layout.VLLM_CACHE_ROOT)]

    def operator_args(self, spec: LLMDeploymentSpec, plan: Plan) -> list[str]:
        model = spec.model
        args = [
            "--model", model.id,
            "--revision", model.revision,
            "--tokenizer-revision", model.revision,
            "--served-model-name", served_model_name(spec),
            "--host", "0.0.0.0",
            "--port", str(self.port),
            "--tensor-parallel-size", str(plan.tensor_parallel_size),
            "--max-model-len", str(plan.max_model_len),
            "--max-num-seqs", str(spec.serving.max_concurrency),
            # Sizing reserves activations for this many tokens; vLLM's own default depends on the GPU.
            "--max-num-batched-tokens", str(prefill_tokens("vllm", plan.max_model_len)),
            "--gpu-memory-utilization", f"{spec.gpu.memory_utilization:g}",
        ]
        if model.quantization in QUANTIZATION:
            args += ["--quantization", QUANTIZATION[model.quantization]]
        if model.kv_cache_dtype == "fp8":
            args += ["--kv-cache-dtype", "fp8"]
        if plan.expert_parallel:
            args.append("--enable-expert-parallel")
        return args
