"""docs/install.md's permission table is what the chart grants now, in every install mode
(scripts/rbac_table.py writes it from `helm template`; issues 28 and 29)."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

from localcluster import settings as cluster_settings

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def rbac_table():
    spec = importlib.util.spec_from_file_location("rbac_table", ROOT / "scripts" / "rbac_table.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def helm() -> Path:
    """The pinned helm, as tests/unit/test_chart.py finds it."""
    path = Path(os.environ.get("MODELFLEET_HELM") or cluster_settings.binary("helm"))
    if not path.exists():
        pytest.fail(f"no helm at {path}: `make helm` builds it", pytrace=False)
    return path


def test_the_docs_table_is_what_the_chart_grants(rbac_table, helm):
    document = (ROOT / "docs" / "install.md").read_text()
    assert rbac_table.with_table(document, rbac_table.table(helm)) == document, (
        "docs/install.md's permission table differs from the chart: python scripts/rbac_table.py")


def test_every_mode_grants_every_rule_somewhere_and_secrets_never_by_default(rbac_table, helm):
    rendered = {title: rbac_table.scopes(rbac_table.render(helm, values)) for title, values in rbac_table.MODES}
    secrets = (("",), ("secrets",), ("get",))
    assert rendered["default"][secrets] == "namespaces that bind `modelfleet-hub-token-reader`"
    assert rendered["`watchNamespaces`"][secrets] == "namespaces that bind `modelfleet-hub-token-reader`"
    assert rendered["`tokenSecretAccess: managedNamespaces`"][secrets] == "cluster-wide"
    # Every mode grants the same rules (only where differs), so the table has no gaps.
    assert len({frozenset(mode) for mode in rendered.values()}) == 1


def test_what_the_docs_say_is_never_granted_is_not(rbac_table, helm):
    """The sentence under the table: no wildcard, no update, no Secret list or watch, no events.k8s.io."""
    for _, values in rbac_table.MODES:
        for group, resources, verbs in rbac_table.scopes(rbac_table.render(helm, values)):
            assert "*" not in group + resources + verbs
            assert "update" not in verbs
            assert "events.k8s.io" not in group
            assert "secrets" not in resources or verbs == ("get",)
            assert "llmdeployments" not in resources or not {"create", "patch", "delete"} & set(verbs)


def test_a_rule_without_a_comment_is_refused(rbac_table):
    template = "  # Why.\n  - apiGroups: [\"\"]\n    resources: [pods]\n    verbs: [list]\n{{- end }}\n" \
               "  - apiGroups: [\"\"]\n    resources: [nodes]\n    verbs: [list]\n"
    with pytest.raises(ValueError, match="no comment saying why"):
        rbac_table.reasons(template)
    assert rbac_table.reasons(template.split("{{- end }}")[0]) == {(("",), ("pods",), ("list",)): "Why."}
