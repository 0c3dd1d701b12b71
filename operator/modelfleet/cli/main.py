"""``modelfleet``: one entry point, one module per sub-command.

Exit codes: 0 success, 1 the input is invalid or cannot be served (the
message says why), 2 the command line is wrong.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable

from modelfleet import __version__

# Sub-commands, each a module ``modelfleet.cli.<name>_cmd`` with ``register(subparsers)``.
COMMANDS = ("crd", "validate", "run", "plan", "render", "keda", "prepull", "warmup", "router")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="modelfleet",
        description="Size, render and run fleets of vLLM and TGI servers on Kubernetes.",
    )
    parser.add_argument("--version", action="version", version=f"modelfleet {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"modelfleet.cli.{name}_cmd").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler  # each command's register() sets it
    return handler(args)


if __name__ == "__main__":
    sys.exit(main())
