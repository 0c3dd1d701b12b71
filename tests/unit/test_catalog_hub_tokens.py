"""A refused token is said to be one, with the Secret to check; a token a Hub echoes is said nowhere.

The Hub test server is wrapped to echo the request's Authorization header in
its error (``X-Error-Message`` and the JSON body), as a misconfigured proxy
or mirror does: huggingface-hub copies both into its exception.
"""

from __future__ import annotations

import io
import json
import logging
import re
import traceback

import huggingface_hub
import pytest

from modelfleet.catalog import HubAccess, load_model_config
from modelfleet.catalog.errors import HubTokenRefused, HubUnreachable, ModelUnavailable
from modelfleet.catalog.redact import REDACTED, install_log_redaction, redact
from modelfleet.cli.main import main
from support.hub_server import HubRepos, HubResponse, HubServer

TOKEN = "hf_EchoedSecretToken0123456789abcdef"
SOURCE = "Secret modelfleet-system/hf-token (key token)"


def echoing(status: int):
    def respond(request) -> HubResponse:
        said = f"denied for authorization: {request.headers.get('authorization', '(none)')}"
        body = json.dumps({"error": said, "headers": dict(request.headers)}).encode()
        return HubResponse(status, {"X-Error-Message": said, "Content-Type": "application/json",
                                    "Content-Length": str(len(body))}, body)
    return respond


@pytest.fixture
def hub():
    repos = HubRepos()
    repos.add("acme/private", {"config.json": "{}"})
    with HubServer(repos) as server:
        yield server


def access(hub, tmp_path, token: str | None = TOKEN) -> HubAccess:
    return HubAccess(endpoint=hub.url, token=token, cache_dir=str(tmp_path), token_source=SOURCE)


def said(error: BaseException) -> str:
    """Everything a log line, a status condition or a traceback of the error would show."""
    return str(error) + "".join(traceback.format_exception(error))


@pytest.mark.parametrize(("status", "words"), [
    (401, "refused the token (HTTP 401: invalid, expired or revoked) reading acme/private@main/config.json: "
          f"put a valid token in {SOURCE}"),
    (403, f"(HTTP 403): check the scopes of the token in {SOURCE}"),
])
def test_a_refused_token_is_reported_as_refused_with_the_secret_to_check(hub, tmp_path, status, words):
    hub.responder = echoing(status)
    with pytest.raises(HubTokenRefused) as refused:
        load_model_config("acme/private", "main", hub=access(hub, tmp_path))
    assert refused.value.reason == "HubTokenRefused"
    assert words in str(refused.value)
    assert "check the network" not in str(refused.value)
    assert hub.requests and all(r.headers["authorization"] == f"Bearer {TOKEN}" for r in hub.requests)
    assert TOKEN not in said(refused.value)


def test_no_token_at_all_says_the_operator_needs_one(hub, tmp_path, monkeypatch):
    monkeypatch.setattr(huggingface_hub.constants, "HF_TOKEN_PATH", str(tmp_path / "no-token"))
    monkeypatch.delenv("HF_TOKEN", raising=False)
    hub.responder = echoing(401)
    with pytest.raises(HubTokenRefused, match=r"without a token \(HTTP 401\).*" + re.escape(f"({SOURCE})")):
        load_model_config("acme/private", "main", hub=access(hub, tmp_path, token=None))


def test_any_other_hub_error_that_echoes_the_token_does_not_repeat_it(hub, tmp_path):
    hub.responder = echoing(400)
    with pytest.raises(ModelUnavailable) as failed:
        load_model_config("acme/private", "main", hub=access(hub, tmp_path))
    assert isinstance(failed.value, HubUnreachable)
    assert TOKEN not in said(failed.value)


def test_the_secret_comes_from_the_charts_variable():
    env = {"HF_TOKEN": TOKEN, "MODELFLEET_HUB_TOKEN_SECRET": "ops/hf (key token)"}
    assert HubAccess.from_environment(env).token_source == "Secret ops/hf (key token)"
    assert "hubTokenSecretRef" in HubAccess.from_environment({}).token_source


@pytest.mark.parametrize("text", [
    f"Authorization: Bearer {TOKEN}",
    f"{{'authorization': 'Bearer {TOKEN}'}}",
    f'{{"Authorization": "{TOKEN}"}}',
    f"token {TOKEN} was refused",
    "bearer abc.def-ghi_jkl",
])
def test_credentials_are_redacted_whatever_their_shape(text):
    redacted = redact(text)
    assert TOKEN not in redacted and "abc.def" not in redacted and REDACTED in redacted


def test_code_that_looks_a_little_like_a_token_is_left_alone():
    text = 'File "huggingface_hub/utils/_http.py", line 866, in hf_raise_for_status'
    assert redact(text) == text


def test_known_secrets_are_redacted_even_when_they_look_like_nothing():
    assert redact("the value s3cret-Zq8W leaked", ["s3cret-Zq8W"]) == f"the value {REDACTED} leaked"


@pytest.fixture
def log_output():
    """A logger writing through an ordinary handler; the record factory is restored afterwards."""
    factory = logging.getLogRecordFactory()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    logger = logging.getLogger("test.redaction")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield logger, stream
    finally:
        logger.removeHandler(handler)
        logging.setLogRecordFactory(factory)


def test_every_log_record_and_traceback_is_redacted_once_installed(log_output):
    logger, stream = log_output
    install_log_redaction(["s3cret-Zq8W"])
    logger.debug("Hub answered %s", {"authorization": f"Bearer {TOKEN}", "x": "s3cret-Zq8W"})
    try:
        raise RuntimeError(f"401 Client Error: echoed Authorization: Bearer {TOKEN}")
    except RuntimeError:
        logger.exception("reading config.json failed")
    text = stream.getvalue()
    assert "Hub answered" in text and "RuntimeError: 401 Client Error" in text
    assert TOKEN not in text and "s3cret-Zq8W" not in text


def test_the_operator_redacts_its_logs_from_the_start(log_output, monkeypatch):
    """``modelfleet run`` installs the redaction before kopf logs anything (kopf itself is not started here)."""
    import modelfleet.controller.operator as operator

    logger, stream = log_output
    monkeypatch.setenv("HF_TOKEN", "opaque-operator-token-42")

    def run_operator(namespaces, liveness_port, metrics_port, verbose):
        logging.getLogger("test.redaction").debug("Hub said: token opaque-operator-token-42 is invalid")

    monkeypatch.setattr(operator, "run_operator", run_operator)
    assert main(["run"]) == 0
    assert "Hub said: token" in stream.getvalue() and "opaque-operator-token-42" not in stream.getvalue()
