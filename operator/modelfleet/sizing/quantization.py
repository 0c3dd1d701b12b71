"""Bytes a weight tensor takes in GPU memory under each quantization.

Only the projections (``kind == "linear"``: attention q/k/v/o, MLP and expert
gate/up/down) are quantized; embeddings, lm_head, norms, router and biases stay
16-bit, as vLLM and TGI load them. Engines serve 16-bit models in bfloat16
or float16 (a float32 checkpoint is cast down), so "none" is 2 bytes.

Per projection of ``rows`` (out) × ``cols`` (in) features:

- none: 2 bytes per weight.
- fp8: 1 byte per weight plus one float32 scale per output channel (the
  per-channel layout of pre-quantized checkpoints; vLLM's at-load fp8 keeps
  one scale per tensor, less).
- bitsandbytes-8bit (LLM.int8): 1 byte per weight plus a float32 scale per row.
- awq, gptq: 4 bits per weight; per group of ``group_size`` input features
  (128 unless the repo's quantization_config says otherwise) and per output
  channel, a float16 scale and a 4-bit zero point; gptq also keeps its
  int32 ``g_idx`` (one per input feature).
- bitsandbytes-4bit (NF4): 4 bits per weight plus a float32 absmax per block
  of 64 weights (no double quantization).
"""

from __future__ import annotations

from collections.abc import Callable

from .parameters import TensorGroup

DEFAULT_GROUP_SIZE = 128
NF4_BLOCK_SIZE = 64
UNQUANTIZED_BYTES = 2


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _sixteen_bit(rows: int, cols: int, group: int) -> int:
    return UNQUANTIZED_BYTES * rows * cols


def _fp8(rows: int, cols: int, group: int) -> int:
    return rows * cols + 4 * rows


def _int8_rowwise(rows: int, cols: int, group: int) -> int:
    return rows * cols + 4 * rows


def _awq(rows: int, cols: int, group: int) -> int:
    groups = _ceil_div(cols, group)
    return _ceil_div(rows * cols, 2) + 2 * groups * rows + _ceil_div(groups * rows, 2)


def _gptq(rows: int, cols: int, group: int) -> int:
    return _awq(rows, cols, group) + 4 * cols


def _nf4(rows: int, cols: int, group: int) -> int:
    return _ceil_div(rows * cols, 2) + 4 * _ceil_div(rows * cols, NF4_BLOCK_SIZE)


PROJECTION_BYTES: dict[str, Callable[[int, int, int], int]] = {
    "none": _sixteen_bit,
    "fp8": _fp8,
    "bitsandbytes-8bit": _int8_rowwise,
    "awq": _awq,
    "gptq": _gptq,
    "bitsandbytes-4bit": _nf4,
}


def tensor_bytes(tensor: TensorGroup, quantization: str, group_size: int | None = None) -> int:
    """Bytes of all ``tensor.count`` tensors of the group."""
    if tensor.kind != "linear":
        return UNQUANTIZED_BYTES * tensor.parameters
    return PROJECTION_BYTES[quantization](tensor.rows, tensor.cols, _group(group_size, tensor.cols)) * tensor.count


def _group(group_size: int | None, cols: int) -> int:
    """Input features per scale: the repo's group_size, 128 when unset, all of them for -1 (per channel)."""
    if group_size is None:
        return DEFAULT_GROUP_SIZE
    return group_size if group_size > 0 else cols
