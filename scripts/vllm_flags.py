"""Print the pinned vLLM's command-line options as JSON: ``operator/modelfleet/engines/data/vllm-flags.json``.

Run with the engine venv's interpreter (``e2e/engine/venv.sh`` prints its path):

    "$(bash e2e/engine/venv.sh | tail -1)/bin/python" scripts/vllm_flags.py \
        > operator/modelfleet/engines/data/vllm-flags.json

The parser is the one the engine container runs: ``python3 -m
vllm.entrypoints.openai.api_server`` calls
``vllm.entrypoints.launchers.api_server.entry.main``, which builds a
``FlexibleArgumentParser`` and hands it to
``vllm.entrypoints.launchers.cli_args.make_arg_parser`` (at the pinned version). One
line per argument: its option strings in the parser's order; the first long
one is the argument's canonical name. ``tests/engine/test_vllm_flags.py``
checks the committed file against this script's output.
"""

from __future__ import annotations

import json
import sys

import vllm
from vllm.entrypoints.launchers.cli_args import make_arg_parser
from vllm.utils.argparse_utils import FlexibleArgumentParser


def main() -> int:
    # The same constructor call as vllm/entrypoints/launchers/api_server/entry.py main().
    parser = make_arg_parser(FlexibleArgumentParser(description="vLLM OpenAI-Compatible RESTful API server."))
    arguments = [action.option_strings for action in parser._actions if action.option_strings]
    lines = [
        "{",
        f'  "vllm_version": {json.dumps(vllm.__version__)},',
        f'  "allow_abbrev": {json.dumps(parser.allow_abbrev)},',
        '  "arguments": [',
        ",\n".join(f"    {json.dumps(options)}" for options in arguments),
        "  ]",
        "}",
    ]
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
