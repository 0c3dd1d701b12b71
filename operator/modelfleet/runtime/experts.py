"""Which experts of each layer the warm-up has reached, from what vLLM reports.

A vLLM server started with ``--enable-return-routed-experts`` (vLLM 0.32
fills it on its GPU model runner only) puts in each completion choice a
``routed_experts`` field: base64 of a NumPy ``.npy`` array of shape
``(tokens - 1, layers, experts_per_token)``, the expert ids each token was
routed to in each layer (``vllm/entrypoints/openai/completion/protocol.py``,
``CompletionResponseChoice``). The array is read here with the standard
library: the warm-up image carries no NumPy for one field.
"""

from __future__ import annotations

import ast
import base64
import struct
from dataclasses import dataclass, field
from typing import Any

NPY_MAGIC = b"\x93NUMPY"
# .npy dtype codes vLLM's routed-expert arrays use (uint8/uint16/int32) and their neighbours.
STRUCT_CODES = {"u1": "B", "i1": "b", "u2": "H", "i2": "h", "u4": "I", "i4": "i", "u8": "Q", "i8": "q"}


class UnreadableArray(ValueError):
    """Not an .npy array of integers this module can read."""


@dataclass(frozen=True)
class RoutedExperts:
    shape: tuple[int, int, int]  # (tokens, layers, experts per token)
    ids: tuple[int, ...]  # C order


def decode_routed_experts(encoded: str) -> RoutedExperts:
    """The array in a ``routed_experts`` field."""
    data = base64.b64decode(encoded)
    if not data.startswith(NPY_MAGIC):
        raise UnreadableArray("not a .npy array")
    length_format = "<H" if data[6] == 1 else "<I"  # the header's length field grew in format version 2
    header_length = struct.unpack_from(length_format, data, 8)[0]
    body = 8 + struct.calcsize(length_format)
    header = ast.literal_eval(data[body:body + header_length].decode("latin1"))
    shape = tuple(header["shape"])
    if header["fortran_order"] or len(shape) != 3:
        raise UnreadableArray(f"expected a C-order 3-d array, got shape {shape}")
    endian, code = header["descr"][0], header["descr"][1:]
    if code not in STRUCT_CODES:
        raise UnreadableArray(f"unsupported dtype {header['descr']}")
    count = shape[0] * shape[1] * shape[2]
    ids = struct.unpack_from(f"{'>' if endian == '>' else '<'}{count}{STRUCT_CODES[code]}", data, body + header_length)
    return RoutedExperts(shape, ids)


@dataclass
class ExpertCoverage:
    """Per layer, the experts some warm-up token was routed to."""

    hit: dict[int, set[int]] = field(default_factory=dict)

    def add(self, routed: RoutedExperts) -> int:
        """Record one response's routing; returns how many (layer, expert) pairs were new."""
        _, layers, per_token = routed.shape
        before = self.pairs()
        for position, expert in enumerate(routed.ids):
            self.hit.setdefault((position // per_token) % layers, set()).add(expert)
        return self.pairs() - before

    def pairs(self) -> int:
        return sum(len(experts) for experts in self.hit.values())

    def complete(self, num_experts: int) -> bool:
        return bool(self.hit) and all(len(experts) >= num_experts for experts in self.hit.values())

    def missing(self, num_experts: int) -> dict[int, list[int]]:
        """Per layer, the experts no token has reached yet."""
        return {layer: sorted(set(range(num_experts)) - experts) for layer, experts in sorted(self.hit.items())
                if len(experts) < num_experts}

    def summary(self, num_experts: int | None) -> dict[str, Any]:
        per_layer = {str(layer): len(experts) for layer, experts in sorted(self.hit.items())}
        total = None if num_experts is None else num_experts * len(self.hit)
        return {"layers": len(self.hit), "pairs_hit": self.pairs(), "pairs": total, "experts_hit_per_layer": per_layer}
