"""One reading of the Hub's answers (``catalog.hub_errors``), whatever shape huggingface-hub gives them.

The operator (``catalog.hub``) and the pre-pull (``runtime.errors``) word the
answers for their own readers; ``test_catalog_models.py``,
``test_catalog_hub_tokens.py`` and ``test_runtime_prepull.py`` hold those
words against the local Hub server. Here: the shapes, answer by answer.
"""

from __future__ import annotations

import httpx2
import pytest
from huggingface_hub.errors import (
    GatedRepoError,
    HfHubHTTPError,
    LocalEntryNotFoundError,
    RemoteEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from modelfleet.catalog.hub_errors import HubAnswer, HubRefusal, hub_refusal
from modelfleet.runtime.errors import AccessDenied, NotFound, classify

REQUEST = httpx2.Request("HEAD", "https://hub.example/acme/model/resolve/main/config.json")


def answered(kind: type[HfHubHTTPError], status: int) -> HfHubHTTPError:
    return kind(f"{status} from the Hub", response=httpx2.Response(status, request=REQUEST))


def wrapped(cause: BaseException) -> LocalEntryNotFoundError:
    """As ``file_download._raise_on_head_call_error`` hands a failed HEAD on."""
    try:
        raise LocalEntryNotFoundError("An error happened while trying to locate the file on the Hub") from cause
    except LocalEntryNotFoundError as exc:
        return exc


@pytest.mark.parametrize(("exc", "answer", "status"), [
    (answered(GatedRepoError, 401), HubAnswer.GATED, 401),
    (answered(RevisionNotFoundError, 404), HubAnswer.NO_REVISION, 404),
    (answered(RemoteEntryNotFoundError, 404), HubAnswer.NO_FILE, 404),
    # The Hub answers 401 for a repository it will not say exists: the class says more than the status.
    (answered(RepositoryNotFoundError, 401), HubAnswer.NO_REPOSITORY, 401),
    (answered(HfHubHTTPError, 401), HubAnswer.TOKEN_REFUSED, 401),
    (wrapped(answered(HfHubHTTPError, 403)), HubAnswer.TOKEN_REFUSED, 403),
    (wrapped(answered(GatedRepoError, 403)), HubAnswer.GATED, 403),
])
def test_each_answer_is_read_the_same_whatever_its_shape(exc, answer, status):
    assert hub_refusal(exc) == HubRefusal(answer, status)


@pytest.mark.parametrize("exc", [
    answered(HfHubHTTPError, 503),
    answered(HfHubHTTPError, 400),
    wrapped(httpx2.ConnectError("connection refused")),
    OSError("disk full"),
])
def test_what_the_hub_did_not_answer_is_no_answer(exc):
    assert hub_refusal(exc) is None


def test_the_pre_pull_says_the_same_answers_in_its_own_words():
    gated = classify(wrapped(answered(GatedRepoError, 403)), token_given=True, endpoint="https://hub.example")
    assert isinstance(gated, AccessDenied) and "gated" in str(gated) and "(HTTP 403)" in str(gated)
    missing = classify(answered(RepositoryNotFoundError, 401), token_given=False, endpoint="https://hub.example")
    assert isinstance(missing, NotFound) and "does not exist on https://hub.example (HTTP 401)" in str(missing)
    assert classify(answered(RemoteEntryNotFoundError, 404), token_given=True, endpoint="x") is None
