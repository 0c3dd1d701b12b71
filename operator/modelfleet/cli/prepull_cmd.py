"""``modelfleet prepull``: the engine pod's init container; puts the model's files in the hub cache.

The arguments are ``modelfleet.api.runtime_args.PrepullArgs``, which the
renderer writes; the contract (environment, exit codes) is written in
``modelfleet.render.runtime_containers``; the work is in
``modelfleet.runtime.prepull``. The token comes from ``HF_TOKEN`` only and is
never printed. Exit codes: 0 done; 65-77 a known cause (``runtime.errors``),
with one ``error:`` line on stderr naming the repo, the revision and the cause.
"""

from __future__ import annotations

import argparse
import os
import sys

from huggingface_hub import constants
from pydantic import ValidationError

from modelfleet.api.runtime_args import PrepullArgs
from modelfleet.runtime.errors import PrepullError
from modelfleet.runtime.prepull import PrepullRequest, prepull
from modelfleet.runtime.retry import Backoff


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "prepull", help="download the files an engine loads from a Hugging Face repo into the hub cache",
        description="Environment: HF_TOKEN (gated and private repos), HF_ENDPOINT (another Hub), HF_HOME.",
    )
    PrepullArgs.add_arguments(parser)
    parser.set_defaults(handler=run)


def run(namespace: argparse.Namespace) -> int:
    try:
        args = PrepullArgs.from_namespace(namespace)
    except ValidationError as exc:
        print(f"error: modelfleet prepull: {exc}", file=sys.stderr, flush=True)
        return 2
    label = f"prepull {args.model_id}@{args.revision}"
    request = PrepullRequest(
        model_id=args.model_id,
        revision=args.revision,
        cache_dir=args.cache_dir,
        include=args.include,
        endpoint=os.environ.get("HF_ENDPOINT") or constants.ENDPOINT,
        token=os.environ.get("HF_TOKEN") or None,
        backoff=Backoff(attempts=args.attempts, first_delay_s=args.backoff_seconds),
        progress_interval_s=args.progress_seconds,
        workers=args.workers,
    )
    try:
        prepull(request, lambda message: print(f"{label}: {message}", flush=True))
    except PrepullError as exc:
        print(f"error: {label}: {exc}", file=sys.stderr, flush=True)
        return exc.exit_code
    return 0
