"""The command lines of the runtime programs in an engine pod: one model per sub-command.

The renderer (``render.runtime_containers``) builds a ``PrepullArgs`` or a
``WarmupArgs`` (and will build the router's ``RouterArgs``) and writes it into the pod with ``to_argv``; the runtime's
command line (``modelfleet prepull``, ``modelfleet warmup``) reads the same
model back (``add_arguments`` and ``from_namespace``, or ``parse``) and
hands it as it is to the program (``runtime.prepull``, ``runtime.warmup``),
which reads its fields by these names: nothing is copied over. Names,
types, defaults and help are written once, here: a field ``model_id`` is the
option ``--model-id``, a tuple a repeated option, ``None`` an option left
out; ``to_argv`` leaves out what is at its default, so a pod's command line
carries only what the renderer chose.
"""

from __future__ import annotations

import argparse
import types
from pathlib import Path
from typing import Any, ClassVar, Literal, Self, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .spec import EngineKind


class CommandArgs(BaseModel):
    """A sub-command's options, to and from argv."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    command: ClassVar[str]

    def to_argv(self) -> list[str]:
        """``[command, --option, value, ...]`` in field order; options at their default are left out."""
        argv = [self.command]
        for name, field in type(self).model_fields.items():
            value = getattr(self, name)
            if not field.is_required() and value == field.default:
                continue
            for item in value if isinstance(value, tuple) else (value,):
                text = _text(item)
                # argparse would read a separate "-x" as an option: such a value is attached.
                argv += [f"{_option(name)}={text}"] if text.startswith("-") else [_option(name), text]
        return argv

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        """Declare every field as an option of ``parser`` (values are checked by the model, not argparse)."""
        for name, field in cls.model_fields.items():
            kwargs: dict[str, Any] = {"dest": name, "help": _help(field.description, field)}
            if field.is_required():
                kwargs["required"] = True
            else:
                kwargs["default"] = field.default
            if _is_tuple(field.annotation):
                kwargs["action"] = "append"
                if not field.is_required():
                    kwargs["default"] = list(field.default)  # argparse appends to a copy of the default
                kwargs["metavar"] = name.upper().removesuffix("S") or None
            choices = _literal_choices(field.annotation)
            if choices:
                kwargs["choices"] = choices
            parser.add_argument(_option(name), **kwargs)

    @classmethod
    def from_namespace(cls, namespace: argparse.Namespace) -> Self:
        """The model of a parsed namespace; pydantic converts the strings (a bad value raises ValidationError)."""
        return cls.model_validate({name: getattr(namespace, name) for name in cls.model_fields})

    @classmethod
    def parse(cls, argv: list[str]) -> Self:
        """The model of ``argv`` as ``to_argv`` writes it (the sub-command first)."""
        if not argv or argv[0] != cls.command:
            raise ValueError(f"not a {cls.command} command line: {argv[:1]}")
        parser = argparse.ArgumentParser(prog=f"modelfleet {cls.command}", exit_on_error=False)
        cls.add_arguments(parser)
        return cls.from_namespace(parser.parse_args(argv[1:]))


class PrepullArgs(CommandArgs):
    """``modelfleet prepull``: put the files an engine loads from a Hugging Face repo into the hub cache."""

    command: ClassVar[str] = "prepull"

    model_id: str = Field(description="Hugging Face repo id, e.g. mistralai/Mixtral-8x7B-v0.1")
    revision: str = Field(description="branch, tag or commit")
    cache_dir: Path = Field(description="the hub cache directory (HF_HOME/hub)")
    include: tuple[str, ...] = Field(
        min_length=1,
        description="glob of repo files the engine loads (repeatable); the weights among them are narrowed to one "
        "format",
    )
    attempts: int = Field(6, ge=1, description="tries of each Hub call before giving up")
    backoff_seconds: float = Field(2.0, ge=0, description="first wait between tries, doubled each time")
    progress_seconds: float = Field(5.0, gt=0, description="seconds between progress lines")
    workers: int = Field(4, ge=1, description="files fetched at once")


class WarmupArgs(CommandArgs):
    """``modelfleet warmup``: warm an engine up before its pod turns Ready (serves /ready and /metrics)."""

    command: ClassVar[str] = "warmup"

    engine_url: str = Field(description="the engine, e.g. http://127.0.0.1:8000")
    engine: EngineKind = Field(description="the engine's kind")
    served_model_name: str = Field(description="the model name in OpenAI requests")
    max_model_len: int = Field(ge=1, description="the engine's context length, in tokens")
    max_concurrency: int = Field(
        ge=1, description="the engine's batch limit: the warm-up runs at 1, 2, 4, ... up to it"
    )
    timeout_seconds: float = Field(
        gt=0, description="longest warm-up, from the engine's first healthy answer; Ready after it regardless"
    )
    port: int = Field(ge=1, le=65535, description="port of /ready and /metrics")
    host: str = Field("0.0.0.0", description="address of /ready and /metrics")
    num_experts: int | None = Field(
        None, ge=1, description="experts per layer; with routed experts reported, warm until each was hit"
    )


class RouterArgs(CommandArgs):
    """``modelfleet router``: hold, route and relay requests to an LLMDeployment's engine pods (docs/router.md)."""

    command: ClassVar[str] = "router"

    endpoints_dns: str | None = Field(
        None, description="headless Service whose A records are the ready replicas, e.g. mixtral-engines.llm.svc"
    )
    endpoints_static: tuple[str, ...] = Field(
        (), description="a fixed replica host:port (repeatable), instead of --endpoints-dns: tests, a fleet outside "
        "Kubernetes"
    )
    endpoints_port: int = Field(8000, ge=1, le=65535, description="the replicas' port")
    dns_refresh_seconds: float = Field(1.0, gt=0, description="how often the replicas are read again")
    routing: Literal["least-in-flight", "prefix"] = Field(
        "least-in-flight", description="fewest requests in flight, or prefix affinity (consistent hashing with "
        "bounded loads over the prompt's first characters)"
    )
    affinity_prefix_chars: int = Field(256, ge=1, description="characters of the prompt or chat messages hashed")
    affinity_load_bound: float = Field(
        1.25, ge=1, description="with prefix routing, a replica takes at most this times the average in flight"
    )
    max_held: int = Field(1000, ge=0, description="requests held at once while no replica is ready (then 429)")
    max_hold_seconds: float = Field(300.0, ge=0, description="longest hold of one request (then 503)")
    retry_after_seconds: float = Field(5.0, ge=0, description="Retry-After of a refused request")
    max_body_bytes: int = Field(32 << 20, ge=1, description="largest request body (then 413)")
    host: str = Field("0.0.0.0", description="address of both ports")
    port: int = Field(8000, ge=1, le=65535, description="port of user traffic (the engines' own)")
    admin_port: int = Field(9090, ge=1, le=65535, description="port of /healthz, /readyz and /metrics")
    drain_delay_seconds: float = Field(
        5.0, ge=0, description="after SIGTERM, unready but serving while the Service's endpoints catch up"
    )
    drain_timeout_seconds: float = Field(
        600.0, ge=0, description="then, how long requests in flight and held may take to finish"
    )

    @model_validator(mode="after")
    def _one_source_of_replicas(self) -> Self:
        if (self.endpoints_dns is None) == (not self.endpoints_static):
            raise ValueError("give exactly one of --endpoints-dns and --endpoints-static")
        return self


def _option(name: str) -> str:
    return "--" + name.replace("_", "-")


def _text(value: object) -> str:
    """A value as the command line carries it; a whole float without its ``.0`` (``600``, not ``600.0``)."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _help(description: str | None, field: Any) -> str:
    if field.is_required() or field.default is None:
        return description or ""
    return f"{description} (default {_text(field.default)})"


def _is_tuple(annotation: Any) -> bool:
    return get_origin(annotation) is tuple


def _literal_choices(annotation: Any) -> list[str] | None:
    if get_origin(annotation) in (Union, types.UnionType):
        annotation = next(a for a in get_args(annotation) if a is not type(None))
    return list(get_args(annotation)) if get_origin(annotation) is Literal else None
