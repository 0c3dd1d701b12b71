"""``modelfleet prepull``: the engine pod's init container; puts the model's files in the hub cache.

The contract (arguments, environment, exit codes) is written in
``modelfleet.render.runtime_containers``; the work is in
``modelfleet.runtime.prepull``. The token comes from ``HF_TOKEN`` only and is
never printed. Exit codes: 0 done; 65-77 a known cause (``runtime.errors``),
with one ``error:`` line on stderr naming the repo, the revision and the cause.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from huggingface_hub import constants

from modelfleet.runtime.errors import PrepullError
from modelfleet.runtime.prepull import PrepullRequest, prepull
from modelfleet.runtime.retry import Backoff


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "prepull", help="download the files an engine loads from a Hugging Face repo into the hub cache",
        description="Environment: HF_TOKEN (gated and private repos), HF_ENDPOINT (another Hub), HF_HOME.",
    )
    parser.add_argument("--model-id", required=True, help="Hugging Face repo id, e.g. mistralai/Mixtral-8x7B-v0.1")
    parser.add_argument("--revision", required=True, help="branch, tag or commit")
    parser.add_argument("--cache-dir", required=True, type=Path, help="the hub cache directory (HF_HOME/hub)")
    parser.add_argument(
        "--include", action="append", required=True, metavar="PATTERN",
        help="glob of repo files the engine loads (repeatable); the weights among them are narrowed to one format",
    )
    parser.add_argument("--attempts", type=int, default=Backoff.attempts,
                        help=f"tries of each Hub call before giving up (default {Backoff.attempts})")
    parser.add_argument("--backoff-seconds", type=float, default=Backoff.first_delay_s,
                        help=f"first wait between tries, doubled each time (default {Backoff.first_delay_s:g})")
    parser.add_argument("--progress-seconds", type=float, default=5.0,
                        help="seconds between progress lines (default 5)")
    parser.add_argument("--workers", type=int, default=4, help="files fetched at once (default 4)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    label = f"prepull {args.model_id}@{args.revision}"
    request = PrepullRequest(
        model_id=args.model_id,
        revision=args.revision,
        cache_dir=args.cache_dir,
        include=tuple(args.include),
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
