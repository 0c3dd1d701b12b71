"""``modelfleet validate -f FILE``: the API server's rules, offline."""

from __future__ import annotations

import argparse
import sys

from modelfleet.api import KIND, validate_llmdeployment

from .documents import UnreadableInput, read_documents


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("validate", help="check LLMDeployment YAML against the API's rules")
    parser.add_argument(
        "-f", "--filename", action="append", required=True, metavar="FILE",
        help="a YAML file, a directory of them, or - for stdin (repeatable)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    try:
        documents = read_documents(args.filename)
    except UnreadableInput as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    failed = 0
    checked = 0
    for doc in documents:
        if isinstance(doc.body, dict) and doc.body.get("kind") not in (None, KIND):
            continue  # other kinds (Secrets, Namespaces) may share the file
        checked += 1
        name = (doc.body.get("metadata") or {}).get("name", "?") if isinstance(doc.body, dict) else "?"
        errors = validate_llmdeployment(doc.body)
        if errors:
            failed += 1
            for error in errors:
                print(f"{doc.source}: {KIND}/{name}: {error}", file=sys.stderr)
        else:
            print(f"{doc.source}: {KIND}/{name}: valid")
    if checked == 0:
        print("error: no LLMDeployment found in the input", file=sys.stderr)
        return 1
    return 1 if failed else 0
