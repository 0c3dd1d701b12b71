"""Where the operator may not read a token Secret (chart value tokenSecretAccess: perNamespace), it says which
RoleBinding lets it; once bound, the next read sees the Secret (issue 28). On a real API server:
tests/integration/test_rbac_can_i.py."""

from __future__ import annotations

from pathlib import Path

from modelfleet.api.hub_token import SecretsForbidden, TokenReader
from modelfleet.controller.config import load_process_config
from modelfleet.controller.kube import Forbidden
from modelfleet.controller.observe import SECRET_TTL_SECONDS, SecretLabels

ROOT = Path(__file__).resolve().parents[2]


class Namespace:
    """A namespace whose admin has, or has not yet, bound the reader ClusterRole."""

    def __init__(self) -> None:
        self.bound = False
        self.reads = 0

    def read(self, namespace: str, name: str) -> dict[str, str] | None:
        self.reads += 1
        if not self.bound:
            raise Forbidden(f"get secrets in namespace {namespace}")
        return {"modelfleet.io/hub-token": "true"}


def test_a_forbidden_read_is_remembered_briefly_and_seen_bound_after():
    now = [0.0]
    namespace = Namespace()
    reader = TokenReader(cluster_role="ai-hub-token-reader", service_account="platform:ai")
    secrets = SecretLabels(namespace.read, reader, clock=lambda: now[0])
    assert secrets.get("llm", "hf") == SecretsForbidden(reader)
    assert secrets.get("llm", "hf") == SecretsForbidden(reader) and namespace.reads == 1  # kept, not re-asked
    namespace.bound = True
    now[0] += SECRET_TTL_SECONDS + 1
    assert secrets.get("llm", "hf") == {"modelfleet.io/hub-token": "true"}


def test_the_process_knows_the_chart_names_it_gives_in_the_command():
    assert load_process_config({}).token_reader == TokenReader(
        cluster_role="modelfleet-hub-token-reader", service_account="modelfleet-system:modelfleet")
    config = load_process_config({"MODELFLEET_TOKEN_READER_ROLE": "ai-hub-token-reader",
                                  "MODELFLEET_SERVICE_ACCOUNT": "platform:ai-modelfleet"})
    assert config.token_reader.grant_command("llm") == (
        "kubectl create rolebinding modelfleet-hub-token-reader -n llm --clusterrole=ai-hub-token-reader "
        "--serviceaccount=platform:ai-modelfleet")


def test_the_install_docs_give_the_command_the_status_gives():
    docs = (ROOT / "docs" / "install.md").read_text().replace("\\\n  ", "")
    assert TokenReader().grant_command("llm") in docs
