"""``modelfleet render -f LLMD.yaml [--pools POOLS.yaml]``: the Kubernetes objects the operator would apply.

Sizes each LLMDeployment in the input exactly as ``modelfleet plan`` does
(same model configs, same pools), renders the chosen plan with the
operator's default settings and prints every object as one YAML stream
(``---`` between documents), in apply order, ready for ``kubectl apply -f -``
or a diff in review. ``--inference-pool`` adds the InferencePool the operator
renders where the API server serves ``inference.networking.k8s.io/v1``
(docs/inference-gateway.md). Objects have the input's namespace, or none. Exit code 1
when the input is bad, no pool fits, or the engine cannot serve the spec.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from modelfleet.api import KIND, GPUPool, InvalidSpec, LLMDeployment, OperatorSettings, parse_llmdeployment
from modelfleet.catalog import ModelUnavailable, default_pools, load_model_config
from modelfleet.render import UnsupportedSpec, render_all, to_yaml
from modelfleet.sizing import SizingError, plan_deployment

from .documents import BadInput, UnreadableInput, llmdeployment_documents, read_pools


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("render", help="print the Kubernetes objects an LLMDeployment becomes (YAML)")
    parser.add_argument(
        "-f", "--filename", action="append", required=True, metavar="FILE",
        help="LLMDeployment YAML: a file, a directory of them, or - for stdin (repeatable)",
    )
    parser.add_argument(
        "--pools", metavar="POOLS.yaml",
        help="GPU pools, as for `modelfleet plan`. Default: 8-GPU nodes of every catalog GPU",
    )
    parser.add_argument(
        "--inference-pool", action="store_true",
        help="also the InferencePool, as where the Gateway API Inference Extension's CRDs are installed",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    try:
        resources = _read_deployments(args.filename)
        pools = read_pools(args.pools) if args.pools else default_pools()
        objects = [obj for resource in resources for obj in _render(resource, pools, args.inference_pool)]
    except (BadInput, UnreadableInput) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    sys.stdout.write(to_yaml(objects))
    return 0


def _read_deployments(filenames: list[str]) -> list[LLMDeployment]:
    """Every LLMDeployment in the input; other kinds (Secrets, Namespaces) may share the files."""
    bodies = llmdeployment_documents(filenames)
    if not bodies:
        raise BadInput("no LLMDeployment found in the input")
    resources = []
    for doc in bodies:
        try:
            resources.append(parse_llmdeployment(doc.body))
        except InvalidSpec as exc:
            raise BadInput(f"{doc.source}: {exc}") from exc
    return resources


def _render(resource: LLMDeployment, pools: list[GPUPool], inference_pool: bool = False) -> list[dict[str, Any]]:
    """The resource's objects, or BadInput naming the resource and why it cannot be served."""
    name = resource.metadata["name"]
    try:
        model = load_model_config(resource.spec.model.id, resource.spec.model.revision)
        result = plan_deployment(resource.spec, model, pools)
        if result.chosen is None:
            raise BadInput(f"{KIND}/{name}: {result.failure_message()}")
        return render_all(resource, result.chosen, OperatorSettings(), inference_pools_served=inference_pool)
    except (ModelUnavailable, SizingError, UnsupportedSpec) as exc:
        raise BadInput(f"{KIND}/{name}: {exc}") from exc
