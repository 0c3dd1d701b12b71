"""What ``spec.engine.extraArgs`` may not do, read the way the engine's own parser reads them.

Each token is resolved to the option the engine would set
(``engines.flags``: prefixes, aliases, ``--flag=value``, underscores, as the
profile's ``ParserRules`` say). A prefix of several options is refused as
the engine would refuse it, at once rather than in a crash-looping pod; then
three things are refused:

- An option the operator sets: the engine would take the last value (vLLM)
  or refuse to start (TGI), and the probes, the Service, the pre-pull and
  the plan follow the operator's. Each has a field in the spec.
- A value that names another Hugging Face repository (a tokenizer, a draft
  model, adapters): the pre-pull fetched only ``spec.model.id`` and the
  engine runs offline (``HF_HUB_OFFLINE=1``), so it could not start.
- Running the repository's own code (``--trust-remote-code``), unless the
  operator's settings allow it (``allowTrustRemoteCode``, off by default).

A launcher that also reads its options from the environment (TGI's clap
``env``) is held to the last two for ``spec.engine.env`` as well.
"""

from __future__ import annotations

from collections.abc import Iterable

from modelfleet.api import LLMDeploymentSpec, OperatorSettings
from modelfleet.engines import EngineProfile, HubRepoFlag
from modelfleet.engines.flags import FlagUse, env_uses, flag_uses

TRUST_SETTING = "allowTrustRemoteCode"


def extra_args_problems(
    spec: LLMDeploymentSpec, operator_args: list[str], profile: EngineProfile, settings: OperatorSettings
) -> list[str]:
    """Why ``spec.engine.extraArgs`` (and options in ``spec.engine.env``) cannot run as asked; empty when they can."""
    uses = list(flag_uses(spec.engine.extra_args, profile.parser))
    from_env = list(env_uses({var.name: var.value for var in spec.engine.env}, profile.parser))
    problems = _repeated(uses, operator_args, profile)
    problems += [problem for use in uses for problem in _ambiguous(use, profile)]
    problems += [problem for use in uses + from_env for problem in _other_repositories(use, spec, profile)]
    problems += [problem for use in uses + from_env for problem in _remote_code(use, profile, settings)]
    return problems


def _repeated(uses: list[FlagUse], operator_args: list[str], profile: EngineProfile) -> list[str]:
    owned = {use.flag for use in flag_uses(operator_args, profile.parser)}
    repeated = _unique(_spelled(use) for use in uses if use.flag in owned)
    if not repeated:
        return []
    return [
        f"extraArgs repeat flags the operator sets from the spec: {', '.join(repeated)} "
        f"({profile.repeated_flag_effect}); set the spec's fields instead"
    ]


def _ambiguous(use: FlagUse, profile: EngineProfile) -> list[str]:
    if not use.ambiguous:
        return []
    return [f"extraArgs {use.given} is ambiguous to {profile.name}, which would refuse to start: it could be "
            f"{', '.join(use.ambiguous)}; spell the option out"]


def _other_repositories(use: FlagUse, spec: LLMDeploymentSpec, profile: EngineProfile) -> list[str]:
    flag = next((f for f in profile.hub_repo_flags if f.flag == use.flag), None)
    if flag is None:
        return []
    others = [repo for repo in _repositories(use, flag) if repo != spec.model.id and not _local_path(repo)]
    return [
        f"{_where(use)} {_spelled(use)} names the repository {repo}, which the pre-pull does not fetch and the "
        f"engine, offline, cannot download: remove it, or serve a repository that holds what it needs as "
        f"spec.model.id"
        for repo in others
    ]


def _remote_code(use: FlagUse, profile: EngineProfile, settings: OperatorSettings) -> list[str]:
    if settings.allow_trust_remote_code or profile.trust_remote_code_flag is None:
        return []
    if use.option != profile.trust_remote_code_flag or not use.switched_on:
        return []
    return [
        f"{_where(use)} {_spelled(use)} runs the model repository's own Python code in the engine pod, which the "
        f"operator's settings do not allow ({TRUST_SETTING}: false): remove it, or ask the cluster's "
        f"administrator to set {TRUST_SETTING} in the operator's Helm values"
    ]


def _repositories(use: FlagUse, flag: HubRepoFlag) -> list[str]:
    value = use.json_value(flag.json_key) if flag.json_key else use.value
    if not value:
        return []
    items = value.split(flag.separator) if flag.separator else [value]
    # TGI's adapters may be given as name=path.
    return [item.split("=", 1)[-1].strip() for item in items if item.strip()]


def _local_path(value: str) -> bool:
    """A path in the engine's image, not a repository id."""
    return value.startswith(("/", "./", "../"))


def _spelled(use: FlagUse) -> str:
    """The token as written, and the option the engine reads it as when that is spelled otherwise."""
    name = use.given.split("=", 1)[0]
    return use.given if use.flag in (None, name) else f"{use.given} (= {use.flag})"


def _where(use: FlagUse) -> str:
    return "env" if use.from_env else "extraArgs"


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))
