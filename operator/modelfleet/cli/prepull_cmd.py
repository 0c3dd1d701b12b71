"""``modelfleet prepull``: the engine pod's init container; puts the model's files in the hub cache.

The arguments are ``modelfleet.api.runtime_args.PrepullArgs``, which the
renderer writes; the contract (environment, exit codes) is written in
``modelfleet.render.runtime_containers``; the work is in
``modelfleet.runtime.prepull``. The token comes from ``HF_TOKEN`` only and is
never printed: every line, log record and traceback is redacted
(``catalog.redact``), since a Hub may echo the token in its errors. Exit
codes: 0 done; 64-77 a known cause (``runtime.errors``), with one ``error:``
line on stderr naming the repo, the revision and the cause; 1 anything else,
with its (redacted) traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from typing import TextIO

from huggingface_hub import constants
from pydantic import ValidationError

from modelfleet.api.runtime_args import PrepullArgs
from modelfleet.catalog.redact import install_log_redaction, redact
from modelfleet.runtime.errors import PrepullError
from modelfleet.runtime.prepull import PrepullRequest, prepull


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
    token = os.environ.get("HF_TOKEN") or None
    install_log_redaction([token])

    def say(message: str, stream: TextIO = sys.stdout) -> None:
        print(redact(message, [token]), file=stream, flush=True)

    request = PrepullRequest(args, endpoint=os.environ.get("HF_ENDPOINT") or constants.ENDPOINT, token=token)
    try:
        prepull(request, lambda message: say(f"{label}: {message}"))
    except PrepullError as exc:
        say(f"error: {label}: {exc}", sys.stderr)
        return exc.exit_code
    except Exception as exc:  # noqa: BLE001 - said here, redacted, rather than by Python, verbatim
        say("".join(traceback.format_exception(exc)).rstrip("\n"), sys.stderr)
        say(f"error: {label}: unexpected {type(exc).__name__} (traceback above)", sys.stderr)
        return 1
    return 0
