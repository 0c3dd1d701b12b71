"""The pinned vLLM's own parser: the committed option list is what it prints, and extraArgs resolve as it resolves them.

``operator/modelfleet/engines/data/vllm-flags.json`` is printed by
``scripts/vllm_flags.py`` from the parser the engine container runs; the
first test fails when the file and the pinned vLLM drift apart (regenerate it
with the command in the script's docstring). The second runs tokens through
both the real parser and ``engines.flags`` and holds them to the same answer:
the option set, or a refusal (ambiguous or unknown).
"""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from modelfleet.engines import profile_for
from modelfleet.engines.flags import flag_uses

pytestmark = [pytest.mark.engine, pytest.mark.timeout(300)]

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "vllm_flags.py"
COMMITTED = ROOT / "operator" / "modelfleet" / "engines" / "data" / "vllm-flags.json"

# For each token list: which of vLLM's arguments it sets (by the parser's dest), or "ERROR" when it refuses it.
REAL_PARSER = r"""
import json, sys
from vllm.entrypoints.launchers.cli_args import make_arg_parser
from vllm.utils.argparse_utils import FlexibleArgumentParser

parser = make_arg_parser(FlexibleArgumentParser(description="vLLM OpenAI-Compatible RESTful API server."))
defaults = vars(parser.parse_args([]))
answers = []
for tokens, flag in json.loads(sys.stdin.read()):
    try:
        parsed = vars(parser.parse_args(tokens))
    except SystemExit:
        answers.append(["ERROR", None])
        continue
    changed = sorted(k for k in parsed if parsed[k] != defaults[k])
    dest = parser._option_string_actions[flag].dest if flag else None
    answers.append([changed, dest])
print(json.dumps(answers))
"""

TOKENS = [
    ["--tensor-parallel", "8"],
    ["--por", "9999"],
    ["--max-model", "1048576"],
    ["--por=9999"],
    ["--tensor_parallel", "8"],
    ["--max_model=5"],
    ["-tp", "8"],
    ["-t", "8"],
    ["-tp=2"],
    ["-qfp8"],
    ["--enable-expert"],
    ["-ep"],
    ["--served-model", "other"],
    ["--tok", "x"],
    ["--max-num", "3"],
    ["--trust-rem"],
    ["--tokenizer=other/repo"],
    ["--hf-config", "other/repo"],
    ["--spec-mod", "other/repo"],
    ["--speculative-config.model", "other/repo"],
    ["-sc.model", "other/repo"],
    ["--enable-prefix-caching"],
    ["--seed", "3"],
]


def test_the_committed_option_list_is_what_the_pinned_vllm_prints(vllm_python):
    printed = subprocess.run([vllm_python, SCRIPT], capture_output=True, text=True, check=True, timeout=240).stdout
    assert printed == COMMITTED.read_text()


def test_extra_args_resolve_as_vllms_own_parser_resolves_them(vllm_python):
    rules = profile_for("vllm").parser
    ours = [next(iter(flag_uses(tokens, rules))) for tokens in TOKENS]
    request = json.dumps([[tokens, use.option] for tokens, use in zip(TOKENS, ours)])
    answers = json.loads(subprocess.run([vllm_python, "-c", REAL_PARSER], input=request, capture_output=True,
                                        text=True, check=True, timeout=240).stdout)
    for tokens, use, (changed, dest) in zip(TOKENS, ours, answers):
        if use.option is None:  # ambiguous or unknown: vLLM refuses it too
            assert changed == "ERROR", (tokens, use, changed)
        else:
            assert changed == [dest], (tokens, use, changed)
