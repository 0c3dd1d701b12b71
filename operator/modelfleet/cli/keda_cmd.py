"""``modelfleet keda -f LLMD.yaml --prometheus URL``: a KEDA ScaledObject for each LLMDeployment in the input.

For users who scale with KEDA instead of the built-in autoscaler: set
``autoscaling.enabled: false`` (the operator then leaves replicas to the scale
subresource), apply this object, and KEDA scales on the engines' requests in
flight against a share of ``maxConcurrency`` (``autoscale.keda``; the fair
fleet benchmark has the numbers). ``autoscaling``'s bounds and stabilization
windows carry over. Exit code 1 when the input is bad.
"""

from __future__ import annotations

import argparse
import sys

from modelfleet.api import InvalidSpec, parse_llmdeployment
from modelfleet.autoscale.keda import scaled_object
from modelfleet.render import to_yaml

from .documents import BadInput, UnreadableInput, llmdeployment_documents


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("keda", help="print a KEDA ScaledObject for each LLMDeployment (YAML)")
    parser.add_argument("-f", "--filename", action="append", required=True, metavar="FILE",
                        help="LLMDeployment YAML: a file, a directory of them, or - for stdin (repeatable)")
    parser.add_argument("--prometheus", required=True, metavar="URL",
                        help="the Prometheus that scrapes the engine pods, as KEDA reaches it")
    parser.add_argument("-n", "--namespace", default="default",
                        help="namespace of LLMDeployments that name none (default: default)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    try:
        bodies = llmdeployment_documents(args.filename)
        if not bodies:
            raise BadInput("no LLMDeployment found in the input")
        objects = []
        for doc in bodies:
            try:
                resource = parse_llmdeployment(doc.body)
            except InvalidSpec as exc:
                raise BadInput(f"{doc.source}: {exc}") from exc
            spec = resource.spec
            objects.append(scaled_object(
                resource.metadata["name"], resource.metadata.get("namespace") or args.namespace, spec.engine.kind,
                spec.autoscaling, prometheus_url=args.prometheus, batch_limit=spec.serving.max_concurrency))
    except (BadInput, UnreadableInput) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    sys.stdout.write(to_yaml(objects))
    return 0
