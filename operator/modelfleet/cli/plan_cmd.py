"""``modelfleet plan -f LLMD.yaml [--pools POOLS.yaml] [-o table|json]``: the sizing plan, without a cluster.

The model's config comes from the bundled catalog or the Hugging Face Hub
(HF_TOKEN, HF_HUB_OFFLINE, HF_ENDPOINT and HF_HUB_CACHE apply). Without
``--pools`` the candidates are 8-GPU nodes of every GPU in the catalog, named
as pools usually are (h100, a100-80gb, l4, ...). Exit code 1 when the input is
bad or no pool fits (the message says why, in numbers).
"""

from __future__ import annotations

import argparse
import json
import sys

from modelfleet.api import InvalidSpec, LLMDeployment, parse_llmdeployment
from modelfleet.api.quantity import GIB
from modelfleet.catalog import ModelUnavailable, default_pools, load_model_config
from modelfleet.engines import profile_for
from modelfleet.sizing import Candidate, SizingError, SizingResult, engine_memory, plan_deployment

from .documents import BadInput, UnreadableInput, llmdeployment_documents, read_pools


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "plan", help="size an LLMDeployment: GPUs, tensor-parallel size and the arithmetic behind them"
    )
    parser.add_argument("-f", "--filename", required=True, metavar="FILE", help="LLMDeployment YAML, or - for stdin")
    parser.add_argument(
        "--pools", metavar="POOLS.yaml",
        help="GPU pools: a YAML list of {name, gpuProduct, gpusPerNode, pricePerGpuHour?}. "
        "Default: 8-GPU nodes of every catalog GPU",
    )
    parser.add_argument("-o", "--output", choices=("table", "json"), default="table", help="default: table")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    try:
        resource = _read_deployment(args.filename)
        pools = read_pools(args.pools) if args.pools else default_pools()
        model = load_model_config(resource.spec.model.id, resource.spec.model.revision)
        result = plan_deployment(resource.spec, model, pools)
    except (BadInput, UnreadableInput, InvalidSpec, ModelUnavailable, SizingError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    sys.stdout.write(json.dumps(result.to_wire(), indent=2) + "\n" if args.output == "json" else format_table(result))
    if result.chosen is None:
        print(f"error: {result.failure_message()}", file=sys.stderr)
        return 1
    return 0


def _read_deployment(filename: str) -> LLMDeployment:
    bodies = llmdeployment_documents([filename])
    if len(bodies) != 1:
        raise BadInput(f"{filename}: holds {len(bodies)} LLMDeployments; plan takes exactly one")
    return parse_llmdeployment(bodies[0].body)


HEADER = ("POOL", "GPU", "TP", "WEIGHTS", "KV", "OVERHEAD", "NEED", "BUDGET", "MAX SEQS", "$/H", "VERDICT")


def format_table(result: SizingResult) -> str:
    """The plan as a person reads it: the model, one row per candidate, why each was rejected, the choice."""
    lines = _model_lines(result) + ["", "GiB per GPU:"] + _table(result) + _rejections(result.candidates)
    lines += _overhead_lines(result) + ["", *_chosen_lines(result)]
    return "\n".join(lines) + "\n"


def _model_lines(result: SizingResult) -> list[str]:
    m = result.model
    rules = engine_memory(m.engine)
    active = f" ({m.active_parameters / 1e9:.2f} B active per token)" if m.mixture_of_experts else ""
    at_load = f", quantized by {rules.name} while loading ({rules.load_source})" if m.quantized_at_load else ""
    return [
        f"{m.model_id} on {rules.name} {profile_for(m.engine).version} ({m.config_source} config)",
        f"  {m.parameters / 1e9:.2f} B parameters{active}; quantization {m.quantization}: "
        f"{m.weights_gib:.2f} GiB of weights{at_load}",
        f"  KV cache {m.kv_cache_bytes_per_token / 1024:.1f} KiB per token ({m.kv_cache_dtype}); "
        f"sized for {m.max_concurrency} sequences of {m.max_model_len} tokens",
        *_window_lines(result),
        f"  budget: {rules.budget_rule} ({rules.budget_source})",
    ]


def _window_lines(result: SizingResult) -> list[str]:
    m = result.model
    rules = engine_memory(m.engine)
    if not m.sliding_window:
        return []
    if m.kv_tokens_per_sequence < m.max_model_len:
        return [
            f"  sliding window {m.sliding_window} (config.json): {rules.name} keeps {m.kv_tokens_per_sequence} KV "
            f"slots per sequence, not {m.max_model_len}: {m.kv_reckoning}",
            f"    ({m.kv_rule})",
        ]
    return [f"  sliding window {m.sliding_window} (config.json): {rules.name} allocates all {m.kv_tokens_per_sequence} "
            f"tokens of each sequence ({m.kv_rule})"]


def _overhead_lines(result: SizingResult) -> list[str]:
    """Each overhead of the chosen (else the last) candidate, counted as the engine counts it, and its source."""
    measured = [c for c in result.candidates if c.overheads]
    if not measured:
        return []
    chosen = result.chosen
    shown = next((c for c in measured if chosen and (c.pool, c.tensor_parallel_size) ==
                  (chosen.pool, chosen.tensor_parallel_size)), measured[-1])
    lines = ["", f"{profile_for(result.model.engine).name} at {shown.pool} TP {shown.tensor_parallel_size} runs with:"]
    lines += [f"  {setting}" for setting in shown.engine_settings]
    if shown.cuda_total_gib_per_gpu is not None:
        lines.append(f"  {shown.cuda_total_gib_per_gpu:.2f} GiB per GPU as it counts memory "
                     f"({shown.cuda_total_source})")
    lines += ["", f"Overhead per GPU at {shown.pool} TP {shown.tensor_parallel_size} (GiB):"]
    for o in shown.overheads:
        where = "in the budget " if o.in_budget else "outside budget"
        lines.append(f"  {o.bytes / GIB:5.2f}  {where}  {o.name}: {o.source}")
    return lines


def _table(result: SizingResult) -> list[str]:
    rows = [HEADER] + [_row(c, _verdict(c, result)) for c in result.candidates]
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADER))]
    numeric = {2, 3, 4, 5, 6, 7, 8, 9}
    return [
        "  ".join(
            cell.rjust(widths[i]) if i in numeric else cell.ljust(widths[i]) for i, cell in enumerate(row)
        ).rstrip()
        for row in rows
    ]


def _row(c: Candidate, verdict: str) -> tuple[str, ...]:
    weights, kv, overhead = c.weights_gib_per_gpu, c.kv_cache_gib_per_gpu, c.overhead_gib_per_gpu
    need = None if weights is None or kv is None or overhead is None else weights + kv + overhead
    return (
        c.pool, c.gpu_product, str(c.tensor_parallel_size),
        _num(c.weights_gib_per_gpu), _num(c.kv_cache_gib_per_gpu), _num(c.overhead_gib_per_gpu), _num(need),
        _num(c.budget_gib_per_gpu),
        "-" if c.max_concurrent_sequences is None else str(c.max_concurrent_sequences),
        "-" if c.price_per_hour is None else f"{c.price_per_hour:.2f}",
        verdict,
    )


def _verdict(c: Candidate, result: SizingResult) -> str:
    chosen = result.chosen
    if chosen and (c.pool, c.tensor_parallel_size) == (chosen.pool, chosen.tensor_parallel_size):
        return "chosen"
    if c.fits:
        return "fits"
    return "too big" if c.weights_gib_per_gpu is not None else "not allowed"


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _rejections(candidates: tuple[Candidate, ...]) -> list[str]:
    rejected = [c for c in candidates if not c.fits]
    if not rejected:
        return []
    return ["", "Rejected:"] + [f"  {c.pool} TP {c.tensor_parallel_size}: {c.reason}" for c in rejected]


def _chosen_lines(result: SizingResult) -> list[str]:
    plan = result.chosen
    if plan is None:
        return ["Chosen: none. " + result.failure_message()]
    parallel = "; expert parallel available (--enable-expert-parallel)" if plan.expert_parallel else ""
    return [
        f"Chosen: pool {plan.pool}, {plan.gpus_per_replica}x {plan.gpu_product} per replica "
        f"(TP {plan.tensor_parallel_size}){parallel}, ${plan.price_per_hour:.2f}/h per replica",
        f"  {plan.reason}",
    ]
