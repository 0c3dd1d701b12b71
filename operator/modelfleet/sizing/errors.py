"""Why a deployment cannot be sized, in numbers a person can act on.

Every error carries ``reason``, one CamelCase word the controller puts in the
Degraded condition; the message says what to change.
"""

from __future__ import annotations


class SizingError(ValueError):
    reason = "SizingFailed"


class UnsupportedArchitecture(SizingError):
    reason = "UnsupportedArchitecture"


class UnservableQuantization(SizingError):
    reason = "UnservableQuantization"


class ContextTooLong(SizingError):
    reason = "ContextTooLong"


class UnknownPool(SizingError):
    reason = "UnknownPool"


class NoPools(SizingError):
    reason = "NoGPUPools"


class InvalidTensorParallel(SizingError):
    reason = "InvalidTensorParallelSize"


class NoPlanFits(SizingError):
    reason = "NoPlanFits"


class UnreadableEngineArgs(SizingError):
    """extraArgs that change the engine's memory in a way sizing cannot count (or the engine cannot read)."""

    reason = "UnreadableEngineArgs"
