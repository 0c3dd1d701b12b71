"""Why a pre-pull failed, each cause with its own exit code and a message a person can act on.

The kubelet shows an init container's exit code (``kubectl describe pod``:
Last State: Terminated, Exit Code) and its log shows the message, so both say
what happened. Codes follow sysexits(3), which keeps them clear of Python's
own 1 (an unexpected exception) and 2 (a wrong command line):

==  ==============  =====================================================
77  EX_NOPERM       gated or private repo: no token, or one not allowed
66  EX_NOINPUT      the repo or the revision does not exist
65  EX_DATAERR      the repo has no weights the engine can load
76  EX_PROTOCOL     a file's size or content differs from what the Hub
                    lists, or the Hub named a path outside the repository
73  EX_CANTCREAT    the cache volume is full
69  EX_UNAVAILABLE  the Hub kept failing after every retry
64  EX_USAGE        the revision is not a branch, tag or commit
==  ==============  =====================================================
"""

from __future__ import annotations

import errno
from typing import ClassVar

from modelfleet.catalog.hub_errors import HubAnswer, HubRefusal, causes, refusal_of

from .progress import size_text

DISK_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
TOKEN_HINT = "the LLMDeployment's spec.model.tokenSecretRef gives the pod HF_TOKEN"


class PrepullError(Exception):
    """A failure the user can act on; ``str()`` is the cause, without the repo (the CLI adds it)."""

    exit_code: ClassVar[int]


class AccessDenied(PrepullError):
    exit_code = 77


class NotFound(PrepullError):
    exit_code = 66


class NothingToLoad(PrepullError):
    exit_code = 65


class SizeMismatch(PrepullError):
    exit_code = 76


class DiskFull(PrepullError):
    exit_code = 73


class ContentMismatch(PrepullError):
    """A downloaded file's bytes do not hash to the etag the Hub gave for it."""

    exit_code = 76


class UnsafeName(PrepullError):
    """The Hub named a file, commit or blob whose path would leave the repository's directory."""

    exit_code = 76


class BadRevision(PrepullError):
    exit_code = 64


class HubUnavailable(PrepullError):
    exit_code = 69


def is_disk_full(exc: BaseException) -> bool:
    return any(isinstance(e, OSError) and e.errno in DISK_FULL_ERRNOS for e in causes(exc))


def classify(exc: BaseException, *, token_given: bool, endpoint: str) -> PrepullError | None:
    """The user-facing error for a Hub client exception; None when it is not one we know."""
    for cause in causes(exc):
        if isinstance(cause, PrepullError):
            return cause
        refusal = refusal_of(cause)
        if refusal is not None and (said := _refused_to_prepull(refusal, token_given, endpoint)) is not None:
            return said
    return None


def _refused_to_prepull(refusal: HubRefusal, token_given: bool, endpoint: str) -> PrepullError | None:
    """The Hub's answer (``catalog.hub_errors``) to whoever reads the pod: the token is the pod's HF_TOKEN."""
    match refusal.answer:
        case HubAnswer.GATED:
            return _gated(refusal.status, token_given)
        case HubAnswer.NO_REVISION:
            return NotFound("the revision does not exist in the repository (a branch, tag or 40-hex commit)")
        case HubAnswer.NO_REPOSITORY:
            return _repo_not_found(refusal.status, token_given, endpoint)
        case HubAnswer.TOKEN_REFUSED:
            return AccessDenied(_refused(refusal.status, token_given))
        case HubAnswer.NO_FILE:  # a file the listing named: the fetch says which, and retries decide
            return None


def _gated(status: int | None, token_given: bool) -> AccessDenied:
    if not token_given:
        return AccessDenied(
            f"the repository is gated and no token was given (HTTP {status}); {TOKEN_HINT}: "
            "use a token whose account has accepted the model's conditions on its Hub page"
        )
    return AccessDenied(
        f"the repository is gated and the token in HF_TOKEN is not allowed to read it (HTTP {status}); "
        "accept the model's conditions on its Hub page with the token's account, or use another token"
    )


def _repo_not_found(status: int | None, token_given: bool, endpoint: str) -> NotFound:
    private = "a token that can read it" if not token_given else "the token's account to have access"
    return NotFound(
        f"the repository does not exist on {endpoint} (HTTP {status}); check spec.model.id, "
        f"or, if the repository is private, it needs {private}"
    )


def _refused(status: int | None, token_given: bool) -> str:
    if not token_given:
        return f"the Hub refused access without a token (HTTP {status}); {TOKEN_HINT}"
    if status == 401:
        return ("the Hub does not accept the token in HF_TOKEN (HTTP 401: invalid, expired or revoked); "
                "put a valid one in the Secret")
    return ("the token in HF_TOKEN lacks the permission (HTTP 403); "
            "check its scopes and the repository's access settings")


def disk_full(cache_dir: str, free_bytes: int, needed_bytes: int | None = None, present_bytes: int = 0) -> DiskFull:
    """The cache volume is full; with the model's size when known (a write of its files failed)."""
    need = "" if needed_bytes is None else (
        f", the model's files take {size_text(needed_bytes)} ({size_text(present_bytes)} of them already there)"
    )
    return DiskFull(
        f"no space left on the cache volume at {cache_dir}: {size_text(free_bytes)} free{need}; "
        "give the cache more room (spec.cache) and the pre-pull resumes where it stopped"
    )
