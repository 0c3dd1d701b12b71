"""Decide (pure): from a ``Snapshot`` to what each writer writes; no I/O, no clock.

The reconcile (``reconcile.decide``), the autoscaler (``autoscale``), the
capacity loop (``capacity``) and a failed reconcile (``failure``) each turn
the snapshot into writes; ``act`` sends them. Each writer owns its status
fields under its own field manager (``fields``). An import-linter contract
(``.importlinter``: decide is pure) keeps the Kubernetes client, kopf and
aiohttp out of this package.
"""

from .intent import ChildTrouble, Event, Intent, StatusWrite, Writes
from .reconcile import after_troubles, claim, decide
from .snapshot import Ref, Snapshot

__all__ = ["ChildTrouble", "Event", "Intent", "Ref", "Snapshot", "StatusWrite", "Writes", "after_troubles", "claim",
           "decide"]
