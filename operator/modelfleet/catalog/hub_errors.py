"""What the Hub answered, read once from huggingface-hub's exceptions, for the operator and the pre-pull alike.

huggingface-hub says one answer in several shapes: an error class of its
own (``GatedRepoError``, ``RevisionNotFoundError``, ...), a bare HTTP error
with a status, or either of them wrapped in a cache miss (a 403 on a file's
HEAD comes as a ``LocalEntryNotFoundError`` raised from it:
``file_download._raise_on_head_call_error``). ``refusal_of`` reads one
exception; ``hub_refusal`` the first answer in an exception's chain. The
operator reading a model's config (``catalog.hub``) and the pre-pull in a
pod (``runtime.errors``) then each say it to their own reader, with what
that reader can change; neither reads huggingface-hub's classes itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum

from huggingface_hub.errors import (
    GatedRepoError,
    HfHubHTTPError,
    RemoteEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)


class HubAnswer(Enum):
    GATED = "the repository is gated and the request may not read it"
    NO_REVISION = "the repository has no such branch, tag or commit"
    NO_FILE = "the repository has no such file"
    NO_REPOSITORY = "no such repository, or a private one the request may not see"
    TOKEN_REFUSED = "the token, or its absence, was refused (401 or 403)"


@dataclass(frozen=True)
class HubRefusal:
    answer: HubAnswer
    status: int | None  # the HTTP status, when the exception carries the response


def causes(exc: BaseException) -> Iterator[BaseException]:
    """The exception and what it was raised from (or during): the Hub client wraps network errors."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def status_of(exc: BaseException) -> int | None:
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    return status if isinstance(status, int) else None


def refusal_of(exc: BaseException) -> HubRefusal | None:
    """The Hub's answer that ``exc`` itself carries; None for anything else (a network error, a 5xx).

    Subclasses before their bases: a GatedRepoError is a RepositoryNotFoundError, and every one of
    them an HfHubHTTPError. A missing repository is often a 401 (the Hub does not say whether a
    private one exists): the class says more than the status.
    """
    status = status_of(exc)
    for kind, answer in _CLASSES:
        if isinstance(exc, kind):
            return HubRefusal(answer, status)
    if isinstance(exc, HfHubHTTPError) and status in (401, 403):
        return HubRefusal(HubAnswer.TOKEN_REFUSED, status)
    return None


_CLASSES: tuple[tuple[type[BaseException], HubAnswer], ...] = (
    (GatedRepoError, HubAnswer.GATED),
    (RevisionNotFoundError, HubAnswer.NO_REVISION),
    (RemoteEntryNotFoundError, HubAnswer.NO_FILE),
    (RepositoryNotFoundError, HubAnswer.NO_REPOSITORY),
)


def hub_refusal(exc: BaseException) -> HubRefusal | None:
    """The first answer of the Hub in ``exc``'s chain of causes."""
    return next((refusal for cause in causes(exc) if (refusal := refusal_of(cause)) is not None), None)
