"""The base of every API model: camelCase on the wire, unknown fields refused.

Cross-field rules are declared next to the model they constrain (``__rules__``)
so that one declaration feeds both the CRD (as CEL ``x-kubernetes-validations``)
and the offline validator (as a Python predicate): the two cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


@dataclass(frozen=True)
class Rule:
    """A cross-field rule on one model.

    ``cel`` is evaluated by the API server with ``self`` bound to the model's
    object; ``check`` is the same rule on the parsed pydantic model. ``field``
    names the field the message is about (relative to the model).
    """

    field: str
    cel: str
    check: Callable[[Any], bool]
    message: str


class ApiModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        use_attribute_docstrings=False,
    )

    __rules__: ClassVar[tuple[Rule, ...]] = ()

    def to_wire(self) -> dict[str, Any]:
        """The object as the API server stores it: camelCase, no unset fields."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")
