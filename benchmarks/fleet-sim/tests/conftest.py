"""The fleet simulator's modules are scripts in benchmarks/fleet-sim (run from there): put it on the path."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
