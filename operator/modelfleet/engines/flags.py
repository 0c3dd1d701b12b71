"""Which of an engine's options a command-line token names, read the way the engine's own parser reads it.

``extraArgs`` come after the operator's arguments, and the renderer must know
which option each of them sets: a repeated option is an error for TGI's
launcher and silently wins for vLLM, where it would break what the operator
relies on (the port the probes and the Service use, the model the pre-pull
fetched, the sizes the plan was computed for). So a token is resolved as the
engine's parser would resolve it (``ParserRules``), not by its spelling:

- ``--flag=value`` is ``--flag`` (argparse ``_parse_optional``; clap too).
- argparse with ``allow_abbrev`` (vLLM: its ``FlexibleArgumentParser`` keeps
  argparse's default) takes an unambiguous prefix of a long option for the
  option (CPython ``Lib/argparse.py`` ``_get_option_tuples``: every option
  string that starts with the prefix; exactly one is a match, more an
  "ambiguous option" error): ``--por 9999`` is ``--port``. A single-dash
  token is a prefix of single-dash options too (``-t`` is ``-tp``), and a
  one-letter option takes its value attached (``-q8`` is ``-q 8``).
- vLLM's ``FlexibleArgumentParser.parse_args`` (``vllm/utils/argparse_utils.py``)
  first turns underscores into dashes in a ``--`` token's name
  (``--max_num_seqs``), and merges ``--config-arg.key value`` into the JSON
  of ``--config-arg``.
- clap with ``env`` on an argument (TGI's launcher) also reads it from the
  variable of its name in upper snake case (``--lora-adapters``:
  ``LORA_ADAPTERS``) when the command line does not set it; a switch so set
  is off for clap's falsey values (``FalseyValueParser``: n, no, f, false,
  off, 0, empty).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from itertools import takewhile


@dataclass(frozen=True)
class ParserRules:
    """How one engine's command-line parser reads an option; ``source`` cites where that was read."""

    # Every option string of the parser -> the argument's canonical (first long) option string.
    options: dict[str, str]
    source: str
    prefixes: bool = False  # argparse allow_abbrev
    underscores_are_dashes: bool = False  # vLLM FlexibleArgumentParser
    dotted_keys: bool = False  # vLLM FlexibleArgumentParser: --arg.key value
    env_fallback: bool = False  # clap ``env``: --some-flag is also the variable SOME_FLAG


@dataclass(frozen=True)
class FlagUse:
    """One option as a token of the command line sets it."""

    given: str  # the token as written
    option: str | None  # the option string the parser resolves it to; None when it resolves to none
    flag: str | None  # that argument's canonical option string (``-tp`` -> ``--tensor-parallel-size``)
    value: str | None  # ``--flag=value``, ``-q8``, else the next token when that is not an option
    keys: tuple[str, ...] = field(default=())  # ``--arg.key.sub`` (vLLM's dotted JSON keys)
    from_env: bool = False  # set by an environment variable (``ParserRules.env_fallback``), not a token
    ambiguous: tuple[str, ...] = ()  # a prefix of several options, which the parser refuses
    # Every value up to the next option (argparse ``nargs="+"``: ``--cudagraph-capture-sizes 1 2 4``).
    values: tuple[str, ...] = ()
    attached: bool = False  # the value is part of the token (``--flag=value``, ``-q8``)

    @property
    def switched_on(self) -> bool:
        """For a switch: whether this use turns it on (a variable with a falsey value does not)."""
        return not self.from_env or (self.value or "").strip().lower() not in FALSEY

    def json_value(self, key: str) -> str | None:
        """The string at ``key`` of the option's JSON value (``--arg.key v`` or ``--arg '{"key": "v"}'``)."""
        if self.keys:
            return self.value if self.keys == (key,) else None
        try:
            loaded = json.loads(self.value or "")
        except ValueError:
            return None
        found = loaded.get(key) if isinstance(loaded, dict) else None
        return found if isinstance(found, str) else None

    def json_field(self, key: str) -> object:
        """The value at ``key`` of the option's JSON value, parsed (``--arg.key 8`` gives 8, as the engine's
        parser reads a dotted key's value as JSON when it can); None when the option does not set it."""
        if self.keys:
            return _json_or_text(self.value) if self.keys == (key,) else None
        loaded = _json_or_text(self.value)
        return loaded.get(key) if isinstance(loaded, dict) else None


def _json_or_text(value: str | None) -> object:
    try:
        return json.loads(value or "")
    except ValueError:
        return value


# clap's FalseyValueParser, which a switch read from the environment uses.
FALSEY = frozenset({"n", "no", "f", "false", "off", "0", ""})


def is_option(token: str) -> bool:
    """A token the parser reads as an option rather than a value (argparse: a negative number is a value)."""
    return token.startswith("-") and len(token) > 1 and not _is_number(token)


def flag_uses(args: Sequence[str], rules: ParserRules) -> Iterator[FlagUse]:
    """Every option ``args`` set, with its value, as ``rules``' parser reads them."""
    for i, token in enumerate(args):
        if not is_option(token):
            continue
        following = tuple(takewhile(lambda t: not is_option(t), args[i + 1:]))
        yield resolve(token, following[0] if following else None, rules, following)


def env_uses(env: dict[str, str], rules: ParserRules) -> Iterator[FlagUse]:
    """The options ``env`` sets for a parser that reads them from the environment (clap ``env``)."""
    if not rules.env_fallback:
        return
    for option, flag in rules.options.items():
        name = option.removeprefix("--").upper().replace("-", "_")
        if option.startswith("--") and name in env:
            yield FlagUse(name, option, flag, env[name], from_env=True)


def resolve(token: str, following: str | None, rules: ParserRules, all_following: tuple[str, ...] = ()) -> FlagUse:
    """The option ``token`` names, and its value (inline, else ``following``; ``values``: the inline value,
    else every token up to the next option, ``all_following``)."""
    name, inline = token.split("=", 1) if "=" in token else (token, None)
    if rules.underscores_are_dashes and name.startswith("--"):
        # argparse_utils.py: the regex (?<=--)[^\.]* turns "_" into "-" up to the first "."
        head, dot, tail = name.partition(".")
        name = head.replace("_", "-") + dot + tail
    keys: tuple[str, ...] = ()
    if rules.dotted_keys and "." in name:
        name, *rest = name.split(".")
        keys = tuple(rest)
    matches = _matches(name, rules)
    option, attached = matches[0] if len(matches) == 1 else (None, None)
    given = inline if inline is not None else attached or None
    value = given if given is not None else following
    values = (given,) if given is not None else all_following or ((following,) if following is not None else ())
    ambiguous = tuple(match for match, _ in matches) if len(matches) > 1 else ()
    return FlagUse(token, option, rules.options.get(option) if option else None, value, keys, ambiguous=ambiguous,
                   values=values, attached=given is not None)


def _matches(name: str, rules: ParserRules) -> list[tuple[str, str | None]]:
    """The option strings ``name`` may resolve to, each with a value attached to a one-letter option."""
    if name in rules.options:
        return [(name, None)]
    if name.startswith("--"):
        return [(option, None) for option in rules.options if option.startswith(name)] if rules.prefixes else []
    # Single dash: a one-letter option takes its value attached ("-q8" is "-q 8"; argparse
    # _get_option_tuples, and clap's short flags); argparse also takes a prefix ("-t" for "-tp").
    attached: list[tuple[str, str | None]] = [(option, name[2:]) for option in rules.options if option == name[:2]]
    prefixed: list[tuple[str, str | None]] = [
        (option, None) for option in rules.options if option.startswith(name) and option != name[:2]
    ]
    return attached + (prefixed if rules.prefixes else [])


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True
