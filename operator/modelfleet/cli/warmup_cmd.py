"""``modelfleet warmup``: the engine pod's native sidecar; Ready only once the engine is warm.

The contract (arguments, ``/ready``) is written in
``modelfleet.render.runtime_containers``; the work is in
``modelfleet.runtime.warmup``. Runs until SIGTERM.
"""

from __future__ import annotations

import argparse

from modelfleet.engines import PROFILES
from modelfleet.runtime.warmup import WarmupConfig, run_sidecar


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "warmup", help="warm an engine up before its pod turns Ready (serves /ready and /metrics)",
    )
    parser.add_argument("--engine-url", required=True, help="the engine, e.g. http://127.0.0.1:8000")
    parser.add_argument("--engine", required=True, choices=sorted(PROFILES), help="the engine's kind")
    parser.add_argument("--served-model-name", required=True, help="the model name in OpenAI requests")
    parser.add_argument("--max-model-len", required=True, type=int, help="the engine's context length, in tokens")
    parser.add_argument("--max-concurrency", required=True, type=int,
                        help="the engine's batch limit: the warm-up runs at 1, 2, 4, ... up to it")
    parser.add_argument("--timeout-seconds", required=True, type=float,
                        help="longest warm-up, from the engine's first healthy answer; Ready after it regardless")
    parser.add_argument("--port", required=True, type=int, help="port of /ready and /metrics")
    parser.add_argument("--host", default="0.0.0.0", help="address of /ready and /metrics (default 0.0.0.0)")
    parser.add_argument("--num-experts", type=int,
                        help="experts per layer; with routed experts reported, warm until each was hit")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    config = WarmupConfig(
        engine_url=args.engine_url,
        engine_kind=args.engine,
        served_model_name=args.served_model_name,
        max_model_len=args.max_model_len,
        max_concurrency=args.max_concurrency,
        timeout_s=args.timeout_seconds,
        port=args.port,
        host=args.host,
        num_experts=args.num_experts,
    )
    return run_sidecar(config, lambda message: print(message, flush=True))
