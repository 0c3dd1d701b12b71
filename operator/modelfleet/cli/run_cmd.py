"""``modelfleet run``: the operator itself."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("run", help="run the operator against the current kube context")
    parser.add_argument(
        "-n", "--namespace", action="append", default=[], metavar="NS",
        help="watch only this namespace (repeatable); default: every namespace",
    )
    parser.add_argument("--liveness-port", type=int, default=8080, help="serves /healthz (default 8080)")
    parser.add_argument("--metrics-port", type=int, default=9090, help="serves Prometheus /metrics (default 9090)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every handler call")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from modelfleet.catalog.redact import environment_tokens, install_log_redaction
    from modelfleet.controller.operator import run_operator  # kopf is imported only when running

    # A Hub may echo the operator's token (HF_TOKEN) in an error, which kopf and
    # the handlers log at any level: every record is redacted before any handler sees it.
    install_log_redaction(environment_tokens())
    run_operator(args.namespace, args.liveness_port, args.metrics_port, args.verbose)
    return 0
