"""How the operator process is configured: one place, read once at start.

Environment variables (the Helm chart sets them):
  MODELFLEET_SETTINGS        path of a YAML file of OperatorSettings (pools, prices, images)
  MODELFLEET_RESYNC_SECONDS  how often every LLMDeployment is re-checked (default 60)
  MODELFLEET_WATCH_TIMEOUT   server-side watch timeout, seconds (default 300)
  MODELFLEET_AUTOSCALE_SECONDS  how often autoscaled fleets are scraped and decided on (default 15)
  MODELFLEET_WORKERS         reconciles that run at once, each on its own object (default 16: they
                             mostly wait on the API server)
  MODELFLEET_DISCONNECTED_LIMIT  seconds without an answer from the API server before /healthz fails (default 60)
  MODELFLEET_DISCOVERY_SECONDS  how often the operator asks whether the API server serves InferencePools
                             (inference.networking.k8s.io/v1; default 30): CRDs installed later are seen within it
  MODELFLEET_TOKEN_READER_ROLE  the ClusterRole a namespace binds to let the operator read token Secrets' labels
                             there (default modelfleet-hub-token-reader, the chart's name for release modelfleet)
  MODELFLEET_SERVICE_ACCOUNT the operator's ServiceAccount as <namespace>:<name> (default modelfleet-system:modelfleet),
                             named with that ClusterRole in the command a refused LLMDeployment's status gives
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import yaml

from modelfleet.api import OperatorSettings
from modelfleet.api.hub_token import TokenReader


@dataclass(frozen=True)
class ProcessConfig:
    settings: OperatorSettings
    resync_seconds: float
    watch_timeout_seconds: int
    autoscale_seconds: float
    wake_seconds: float = 1.0  # how often fleets at zero look at their routers' held count
    workers: int = 16
    disconnected_limit_seconds: float = 60.0
    token_reader: TokenReader = TokenReader()
    discovery_seconds: float = 30.0


def load_process_config(environ: dict[str, str] | None = None) -> ProcessConfig:
    env = os.environ if environ is None else environ
    path = env.get("MODELFLEET_SETTINGS")
    raw = yaml.safe_load(Path(path).read_text()) if path else {}
    return ProcessConfig(
        settings=OperatorSettings.model_validate(raw or {}),
        resync_seconds=float(env.get("MODELFLEET_RESYNC_SECONDS", "60")),
        watch_timeout_seconds=int(env.get("MODELFLEET_WATCH_TIMEOUT", "300")),
        autoscale_seconds=float(env.get("MODELFLEET_AUTOSCALE_SECONDS", "15")),
        wake_seconds=float(env.get("MODELFLEET_WAKE_SECONDS", "1")),
        workers=int(env.get("MODELFLEET_WORKERS", "16")),
        disconnected_limit_seconds=float(env.get("MODELFLEET_DISCONNECTED_LIMIT", "60")),
        token_reader=TokenReader(
            cluster_role=env.get("MODELFLEET_TOKEN_READER_ROLE", TokenReader.cluster_role),
            service_account=env.get("MODELFLEET_SERVICE_ACCOUNT", TokenReader.service_account),
        ),
        discovery_seconds=float(env.get("MODELFLEET_DISCOVERY_SECONDS", "30")),
    )
