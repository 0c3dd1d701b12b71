"""How an engine pod leaves: requests in flight finish, new ones go elsewhere.

The pinned vLLM and TGI stop generating on SIGTERM: requests still running
are cut off. So the engine container's preStop hook holds SIGTERM back:

1. The pod turns Terminating; the endpoints controller removes it from the
   Service and kube-proxies and ingresses stop sending it new requests
   within ``ENDPOINTS_PROPAGATION_SECONDS``.
2. The requests already running go on for the drain window: the time the
   longest request (maxModelLen tokens) takes at ``MIN_DECODE_TOKENS_PER_SECOND``,
   between ``MIN_DRAIN_SECONDS`` and ``MAX_DRAIN_SECONDS``. The cap trades
   the rare very long generation for GPUs that come free within minutes on
   a scale-down or a rollout.
3. SIGTERM; the engine has ``EXIT_SECONDS`` to tear down NCCL and free the
   GPUs before the kubelet kills it.

The hook is the kubelet's own ``sleep`` action, so it needs nothing in the
engine image.
"""

from __future__ import annotations

import math
from typing import Any

from modelfleet.api import Plan

ENDPOINTS_PROPAGATION_SECONDS = 10
MIN_DECODE_TOKENS_PER_SECOND = 50
MIN_DRAIN_SECONDS = 30
MAX_DRAIN_SECONDS = 300
EXIT_SECONDS = 30


def pre_stop_seconds(plan: Plan) -> int:
    longest_request = math.ceil(plan.max_model_len / MIN_DECODE_TOKENS_PER_SECOND)
    return ENDPOINTS_PROPAGATION_SECONDS + min(max(longest_request, MIN_DRAIN_SECONDS), MAX_DRAIN_SECONDS)


def lifecycle(plan: Plan) -> dict[str, Any]:
    return {"preStop": {"sleep": {"seconds": pre_stop_seconds(plan)}}}


def grace_period_seconds(plan: Plan) -> int:
    return pre_stop_seconds(plan) + EXIT_SECONDS
