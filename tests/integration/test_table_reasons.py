"""`kubectl get llmd` shows trouble in the table: the three mistakes a new user made (issue 29), each with
Health Degraded and its reason in the REASON column, not only in `kubectl describe`.

The operator here asks a local Hub (tests/support/hub_server.py, holding no repository) about models it does not
bundle, so a missing model is the Hub's own RepoNotFound answer, as on huggingface.co.
"""

from __future__ import annotations

import re

import pytest
import yaml

from support.hub_server import HubRepos, HubServer
from support.operator_process import start_operator
from support.specs import small_mistral
from support.waiting import wait_for

pytestmark = pytest.mark.controlplane

# (name, spec change, the REASON column)
MISTAKES = [
    ("wrong-pool", {"gpu": {"pools": ["h200"]}}, "UnknownPool"),
    ("no-such-model", {"model": {"id": "mistralai/No-Such-Model-v9"}}, "ModelNotFound"),
    ("too-long", {"serving": {"maxModelLen": 1_048_576, "maxConcurrency": 4}}, "ContextTooLong"),
]


@pytest.fixture(scope="module")
def operator(cluster, chart_release, tmp_path_factory):
    with HubServer(HubRepos()) as hub:
        process = start_operator(cluster, tmp_path_factory.mktemp("operator"), HF_ENDPOINT=hub.url,
                                 HF_HUB_OFFLINE="0")
        yield process
        process.stop()


def columns(cluster, namespace: str) -> tuple[str, dict[str, dict[str, str]]]:
    """The table as printed, and each row's cells by header. kubectl aligns every column on its header and
    leaves a missing value blank (the plan's columns of an unplanned object), so cells are cut at the headers'
    offsets, not split on spaces."""
    table = cluster.kubectl("get", "llmd", "-n", namespace).stdout
    header, *rows = table.splitlines()
    starts = [m.start() for m in re.finditer(r"\S+", header)]
    bounds = list(zip(starts, [*starts[1:], None], strict=True))
    cells = [{header[a:b].strip(): row[a:b].strip() for a, b in bounds} for row in rows]
    return table, {cell["NAME"]: cell for cell in cells}


def test_kubectl_get_shows_each_mistakes_reason(cluster, namespace, operator):
    for name, change, _ in MISTAKES:
        document = small_mistral(name, replicas=1)
        document["spec"].update(change)
        cluster.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(document))
    wanted = {name: ("Degraded", reason) for name, _, reason in MISTAKES}

    def shown() -> bool:
        _, rows = columns(cluster, namespace)
        return {name: (row.get("HEALTH"), row.get("REASON")) for name, row in rows.items()} == wanted
    wait_for("each mistake's reason in the table", shown, 60)
    print(f"\n$ kubectl get llmd\n{columns(cluster, namespace)[0]}")
