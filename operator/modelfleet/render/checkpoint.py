"""How long the model takes to fetch and to load.

Its size on disk is ``sizing.cache_fit.checkpoint_gib`` (the controller's
check that a user-sized cache holds it uses the same number).
Overestimating a timeout is the safe side.
"""

from __future__ import annotations

import math

from modelfleet.api import LLMDeploymentSpec, Plan
from modelfleet.sizing.cache_fit import checkpoint_gib

__all__ = ["checkpoint_gib", "download_seconds"]

# Assumed download rate from the Hugging Face Hub to one node (~0.8 Gbit/s):
# 100 GiB in about 17 minutes.
DOWNLOAD_MIB_PER_SECOND = 100


def download_seconds(spec: LLMDeploymentSpec, plan: Plan) -> int:
    return math.ceil(checkpoint_gib(spec, plan) * 1024 / DOWNLOAD_MIB_PER_SECOND)
