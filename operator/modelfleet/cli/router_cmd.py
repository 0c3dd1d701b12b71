"""``modelfleet router``: the router in front of an LLMDeployment's engine pods; runs until SIGTERM.

The arguments are ``modelfleet.api.runtime_args.RouterArgs``; the work is in ``modelfleet.runtime.router``
(docs/router.md). It runs on uvloop: on asyncio's own loop the relay cost 3.4 times nginx's CPU per chunk
at 100 streams, over issue 27's line of 3; on uvloop 3.0, and the router 2.7 (benchmarks/router/results.md).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

import uvloop
from pydantic import ValidationError

from modelfleet.api.runtime_args import RouterArgs
from modelfleet.runtime.router.server import serve


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "router", help="hold, route and relay requests to an LLMDeployment's engine pods (docs/router.md)",
    )
    RouterArgs.add_arguments(parser)
    parser.set_defaults(handler=run)


def run(namespace: argparse.Namespace) -> int:
    try:
        args = RouterArgs.from_namespace(namespace)
    except ValidationError as exc:
        print(f"error: modelfleet router: {exc}", file=sys.stderr, flush=True)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(_until_sigterm(args))
    return 0


async def _until_sigterm(args: RouterArgs) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await serve(args, stop)
