"""Running the operator process: metrics, liveness, and kopf's loop."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import kopf

from . import handlers, metrics
from .kopf_resources import INSIGHTS


def run_operator(namespaces: Sequence[str], liveness_port: int, metrics_port: int, verbose: bool) -> None:
    """Blocks until the process is told to stop (SIGTERM/SIGINT)."""
    assert handlers  # importing it registers the handlers with kopf
    metrics.serve(metrics_port)
    kopf.configure(verbose=verbose, log_prefix=False)
    if not verbose:
        # kopf logs every handler call of every watch event at INFO ("Handler ... succeeded"): tens of
        # thousands of lines, and a measurable share of the CPU, when a thousand objects start at once.
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    kopf.run(
        standalone=True,  # one replica (Recreate): no peering objects to need RBAC for
        clusterwide=not namespaces,
        namespaces=list(namespaces),
        liveness_endpoint=f"http://0.0.0.0:{liveness_port}/healthz",
        insights=INSIGHTS,  # revised by kopf_resources.rescan when discovery sees an optional group come or go
    )
