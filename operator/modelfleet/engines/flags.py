"""Command-line flags the operator owns, so ``extraArgs`` cannot fight them.

``extraArgs`` come after the operator's arguments. A repeated flag is an
error for TGI's launcher (clap refuses a flag given twice) and silently wins
for vLLM (argparse keeps the last value), where it would break what the
operator relies on: the port the probes and the Service use, the model the
pre-pull fetched, the sizes the plan was computed for. Each of those has a
field in the spec; extraArgs are for everything else.
"""

from __future__ import annotations


def flag_name(arg: str) -> str | None:
    """``--max_num_seqs=8`` -> ``--max-num-seqs``; None for a value, not a flag."""
    if not arg.startswith("-") or _is_number(arg):
        return None
    name = arg.split("=", 1)[0]
    return name[:2] + name[2:].replace("_", "-") if name.startswith("--") else name


def repeated_flags(operator_args: list[str], extra_args: list[str], aliases: dict[str, str]) -> list[str]:
    """Flags in ``extra_args`` that name one of the operator's (short aliases included)."""
    owned = {flag_name(a) for a in operator_args} - {None}
    repeated = []
    for arg in extra_args:
        name = flag_name(arg)
        if name is not None and aliases.get(name, name) in owned and arg not in repeated:
            repeated.append(arg)
    return repeated


def _is_number(arg: str) -> bool:
    try:
        float(arg)
    except ValueError:
        return False
    return True
