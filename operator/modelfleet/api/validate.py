"""Offline validation of LLMDeployment documents, with errors that name the field.

The same checks as the API server: the field schema (pydantic, from which the
CRD is generated) and the cross-field ``__rules__`` (which the CRD carries as
CEL). Messages say what is allowed, so a user knows what to change.
"""

from __future__ import annotations

import typing
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from .base import ApiModel
from .resource import LLMDeployment

# Where pydantic puts an error: field names and list indexes, outermost first.
Loc = tuple[int | str, ...]


@dataclass(frozen=True)
class FieldError:
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class InvalidSpec(ValueError):
    """An LLMDeployment that breaks the API's rules; ``errors`` name each field."""

    def __init__(self, errors: list[FieldError]):
        self.errors = errors
        super().__init__("; ".join(str(e) for e in errors))


def parse_llmdeployment(document: Any) -> LLMDeployment:
    """The document as a model, or InvalidSpec listing every problem."""
    errors = validate_llmdeployment(document)
    if errors:
        raise InvalidSpec(errors)
    return LLMDeployment.model_validate(document)


def validate_llmdeployment(document: Any) -> list[FieldError]:
    """Every problem in the document; empty when it is valid."""
    if not isinstance(document, dict):
        return [FieldError("(document)", f"must be a mapping (an object), not {type(document).__name__}")]
    try:
        resource = LLMDeployment.model_validate(document)
    except ValidationError as exc:
        return [_field_error(err) for err in exc.errors(include_url=False)]
    return list(_rule_errors(resource, ""))


def _rule_errors(model: ApiModel, path: str) -> Iterator[FieldError]:
    for rule in model.__rules__:
        if not rule.check(model):
            yield FieldError(_join(path, rule.field), rule.message)
    for name, field in type(model).model_fields.items():
        value = getattr(model, name)
        alias = field.alias or name
        if isinstance(value, ApiModel):
            yield from _rule_errors(value, _join(path, alias))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                if isinstance(item, ApiModel):
                    yield from _rule_errors(item, f"{_join(path, alias)}[{index}]")


def _field_error(err: ErrorDetails) -> FieldError:
    loc = _clean_loc(err["loc"])
    path = _path(loc)
    kind = err["type"]
    if kind == "extra_forbidden":
        allowed = _allowed_fields(loc[:-1])
        message = "unknown field" + (f"; allowed here: {', '.join(allowed)}" if allowed else "")
    elif kind == "missing":
        message = "required field is missing"
    else:
        message = err["msg"]
        if "input" in err and kind not in ("model_type", "dict_type"):
            message += f" (got {err['input']!r})"
    return FieldError(path, message)


def _clean_loc(loc: Loc) -> Loc:
    """Drop pydantic's union-branch markers such as ``literal['auto']`` or ``int``."""
    return tuple(part for part in loc if not (isinstance(part, str) and _is_branch_marker(part)))


def _is_branch_marker(part: str) -> bool:
    return part.startswith(("literal[", "function-")) or part in ("int", "str", "bool", "float")


def _path(loc: Loc) -> str:
    path = ""
    for part in loc:
        path = f"{path}[{part}]" if isinstance(part, int) else _join(path, str(part))
    return path or "(document)"


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _allowed_fields(loc: Loc) -> list[str]:
    """The wire names of the fields of the model at ``loc``, for 'unknown field' hints."""
    model: type[BaseModel] | None = LLMDeployment
    for part in loc:
        if model is None:
            return []
        if isinstance(part, int):
            continue
        model = _model_of_field(model, str(part))
    if model is None:
        return []
    return sorted(field.alias or name for name, field in model.model_fields.items())


def _model_of_field(model: type[BaseModel], wire_name: str) -> type[BaseModel] | None:
    for name, field in model.model_fields.items():
        if (field.alias or name) == wire_name:
            return _first_model(field.annotation)
    return None


def _first_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _first_model(arg)
        if found is not None:
            return found
    return None
