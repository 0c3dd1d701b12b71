"""``modelfleet warmup``: the engine pod's native sidecar; Ready only once the engine is warm.

The arguments are ``modelfleet.api.runtime_args.WarmupArgs``, which the
renderer writes; the contract (``/ready``) is written in
``modelfleet.render.runtime_containers``; the work is in
``modelfleet.runtime.warmup``. Runs until SIGTERM.
"""

from __future__ import annotations

import argparse
import sys

from pydantic import ValidationError

from modelfleet.api.runtime_args import WarmupArgs
from modelfleet.runtime.warmup import run_sidecar


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "warmup", help="warm an engine up before its pod turns Ready (serves /ready and /metrics)",
    )
    WarmupArgs.add_arguments(parser)
    parser.set_defaults(handler=run)


def run(namespace: argparse.Namespace) -> int:
    try:
        args = WarmupArgs.from_namespace(namespace)
    except ValidationError as exc:
        print(f"error: modelfleet warmup: {exc}", file=sys.stderr, flush=True)
        return 2
    return run_sidecar(args, lambda message: print(message, flush=True))
