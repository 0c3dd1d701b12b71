"""The operator as a user runs it, for tests: see ``localcluster.operator``."""

from __future__ import annotations

import pytest

from localcluster.operator import (  # noqa: F401  (re-exported for the tests)
    IDLE_CHART_OPERATOR,
    OPERATOR_NAMESPACE,
    RELEASE,
    OperatorProcess,
    install_chart,
    service_account_kubeconfig,
)


@pytest.fixture(scope="session")
def chart_release(cluster) -> None:
    """The chart installed (CRD included): the way users get the CRD and the RBAC."""
    install_chart(cluster.binary("helm"), cluster.kubeconfig, *IDLE_CHART_OPERATOR)
    cluster.kubectl("wait", "--for=condition=Established", "crd/llmdeployments.modelfleet.io")


def start_operator(cluster, directory, namespaces: tuple[str, ...] = (), **env: str) -> OperatorProcess:
    """The operator as the chart's ServiceAccount, logging to ``directory``; stop it when done."""
    kubeconfig = service_account_kubeconfig(cluster.binary("kubectl"), cluster.kubeconfig, directory / "kubeconfig")
    return OperatorProcess(kubeconfig=kubeconfig, log=directory / "operator.log", extra_env=env,
                           namespaces=list(namespaces)).start()
