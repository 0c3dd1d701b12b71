"""Memory and CPU in status as Kubernetes quantities (``43.5Gi``, ``24576Mi``, ``1500m``), numbers in Python.

The sizing code works in floats of GiB (and ints of MiB and millicores); on
the wire the same fields read like the rest of Kubernetes, so ``kubectl
describe`` shows ``Weights Per GPU: 13.5Gi``. Reading accepts what is
written, and plain numbers in the field's unit. Only the binary suffixes
and ``m`` this module writes are read back (the status is the operator's
own; it never holds a quantity written by anyone else).

``parse_quantity`` reads the quantities users write (``spec.cache.size``),
in the whole of Kubernetes' syntax.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

# The project's byte units: sizing, the catalog and the API all count in these.
MIB = 2**20
GIB = 2**30

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}
_QUANTITY = re.compile(r"^(?P<number>[0-9]+(?:\.[0-9]+)?)(?P<suffix>Ki|Mi|Gi|Ti|m)?$")
QUANTITY_PATTERN = r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|m)?$"


def _parser(unit_bytes: float | None, millis: bool = False) -> Callable[[Any], Any]:
    def parse(value: Any) -> Any:
        if not isinstance(value, str):
            return value
        match = _QUANTITY.match(value)
        if match is None:
            raise ValueError(f"{value!r} is not a quantity such as 13.5Gi")
        number, suffix = float(match["number"]), match["suffix"]
        if millis:
            return number if suffix == "m" else number * 1000
        if suffix in _BINARY and unit_bytes is not None:
            return number * _BINARY[suffix] / unit_bytes
        return number
    return parse


def _schema(example: str) -> WithJsonSchema:
    return WithJsonSchema({"type": "string", "pattern": QUANTITY_PATTERN,
                           "description": f"A Kubernetes quantity, such as {example}."})


def gib_quantity(value: float) -> str:
    """Short when that is exact (13.5Gi), else every digit: the status is read back and compared to a fresh
    plan, so the text must give the same float (a rounded one would look like a new plan every time)."""
    short = f"{value:g}"
    if "e" in short or float(short) != value:
        short = format(Decimal(repr(value)), "f")  # the shortest exact digits, never an exponent
    return f"{short}Gi"


GiB = Annotated[float, BeforeValidator(_parser(GIB)),
                PlainSerializer(gib_quantity, return_type=str, when_used="json"), _schema("43.5Gi")]
MiB = Annotated[int, BeforeValidator(_parser(MIB)), PlainSerializer(lambda v: f"{v}Mi", return_type=str,
                                                                      when_used="json"), _schema("24576Mi")]
Millicores = Annotated[int, BeforeValidator(_parser(None, millis=True)), PlainSerializer(
    lambda v: f"{v}m", return_type=str, when_used="json"), _schema("1500m")]


# --- Quantities users write (spec.cache.size): the whole of Kubernetes' syntax, for rules on sizes. -----
#
# The API layer imports nothing of Kubernetes (``.importlinter``), so this is
# the same arithmetic as ``kubernetes.utils.quantity.parse_quantity`` (the
# client's own parser, which ``tests/unit/test_api_quantity.py`` checks this
# against) for the strings ``spec.QUANTITY_PATTERN`` accepts.

# Suffixes of apimachinery's resource.Quantity (pkg/api/resource/suffix.go).
SIZE_BINARY: dict[str, int] = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
SIZE_DECIMAL: dict[str, Decimal | int] = {
    "n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"),
    "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18,
}
_SPLIT = re.compile(
    r"^(?P<number>[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)(?P<suffix>[KMGTPE]i|[numkMGTPE])?$"
)


def parse_quantity(text: str) -> Decimal:
    """The quantity's value in base units (bytes for a size); ValueError when it is not a quantity."""
    match = _SPLIT.match(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not a Kubernetes quantity (such as 200Gi or 1.5T)")
    number, suffix = Decimal(match["number"]), match["suffix"]
    if suffix is None:
        return number
    try:
        return number * Decimal(SIZE_BINARY.get(suffix) or SIZE_DECIMAL[suffix])
    except ArithmeticError as exc:  # 1E1000000: beyond any size a volume has
        raise ValueError(f"{text!r} is too large a quantity") from exc


def is_quantity(text: str) -> bool:
    try:
        parse_quantity(text)
    except ValueError:
        return False
    return True
