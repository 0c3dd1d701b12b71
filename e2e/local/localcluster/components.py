"""Command lines of the control-plane processes, in start order.

Every listener is bound to 127.0.0.1. Leader election is off (one instance
each), so a restart does not wait for an old lease to expire.
"""
from __future__ import annotations

import pathlib
from dataclasses import dataclass

from . import settings


@dataclass(frozen=True)
class Component:
    name: str
    argv: list[str]


def _kwok_stage_files() -> list[str]:
    # build.sh copies kwok's own "fast" stages (the set kwokctl uses) next to
    # the binary: nodes become Ready at once, pods Running+Ready, init
    # containers Completed, native sidecars (restartPolicy: Always) Running.
    stages = settings.bin_dirs()["kwok"] / "stages"
    return sorted(str(p) for p in stages.glob("*.yaml"))


def all_components(state: pathlib.Path, kubeconfigs: dict[str, pathlib.Path]) -> list[Component]:
    pki = state / "pki"
    host, ports = settings.HOST, settings.PORTS
    etcd_url = f"http://{host}:{ports['etcd-client']}"
    peer_url = f"http://{host}:{ports['etcd-peer']}"
    b = settings.binary
    logs = state / "logs"
    return [
        Component("etcd", [
            str(b("etcd")), "--name=modelfleet-local", f"--data-dir={state / 'etcd'}",
            f"--listen-client-urls={etcd_url}", f"--advertise-client-urls={etcd_url}",
            f"--listen-peer-urls={peer_url}", f"--initial-advertise-peer-urls={peer_url}",
            f"--initial-cluster=modelfleet-local={peer_url}",
            # Throwaway test data: skipping fsync makes every API write much faster.
            "--unsafe-no-fsync=true", "--log-level=warn",
        ]),
        Component("kube-apiserver", [
            str(b("kube-apiserver")), f"--etcd-servers={etcd_url}",
            # Bound to loopback; advertised at the real node's bridge address, where
            # node_files.py forwards to it, so in-cluster clients (the operator's pod) reach
            # it through the "kubernetes" Service as on any cluster.
            f"--bind-address={host}", f"--advertise-address={settings.BRIDGE_IP}",
            "--kubelet-preferred-address-types=InternalIP",
            f"--kubelet-client-certificate={pki / 'apiserver-kubelet-client.crt'}",
            f"--kubelet-client-key={pki / 'apiserver-kubelet-client.key'}",
            f"--secure-port={ports['kube-apiserver']}",
            f"--tls-cert-file={pki / 'apiserver.crt'}", f"--tls-private-key-file={pki / 'apiserver.key'}",
            f"--client-ca-file={pki / 'ca.crt'}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={pki / 'sa.pub'}",
            f"--service-account-signing-key-file={pki / 'sa.key'}",
            f"--service-cluster-ip-range={settings.SERVICE_CIDR}",
            f"--requestheader-client-ca-file={pki / 'ca.crt'}",
            "--requestheader-allowed-names=front-proxy-client",
            "--requestheader-username-headers=X-Remote-User",
            "--requestheader-group-headers=X-Remote-Group",
            "--requestheader-extra-headers-prefix=X-Remote-Extra-",
            f"--proxy-client-cert-file={pki / 'front-proxy-client.crt'}",
            f"--proxy-client-key-file={pki / 'front-proxy-client.key'}",
            "--authorization-mode=Node,RBAC", "--enable-admission-plugins=NodeRestriction",
            "--allow-privileged=true",
            f"--audit-policy-file={settings.LOCAL_DIR / 'audit-policy.yaml'}",
            f"--audit-log-path={logs / 'audit.log'}", "--audit-log-format=json",
            "--audit-log-maxsize=200", "--audit-log-maxbackup=1",
            f"--cert-dir={state / 'run' / 'kube-apiserver'}", "--profiling=false",
        ]),
        Component("kube-controller-manager", [
            str(b("kube-controller-manager")),
            f"--kubeconfig={kubeconfigs['kube-controller-manager']}",
            f"--authentication-kubeconfig={kubeconfigs['kube-controller-manager']}",
            f"--authorization-kubeconfig={kubeconfigs['kube-controller-manager']}",
            f"--bind-address={host}", f"--secure-port={ports['kube-controller-manager']}",
            f"--cert-dir={state / 'run' / 'kube-controller-manager'}",
            f"--service-account-private-key-file={pki / 'sa.key'}",
            f"--root-ca-file={pki / 'ca.crt'}",
            f"--cluster-signing-cert-file={pki / 'ca.crt'}", f"--cluster-signing-key-file={pki / 'ca.key'}",
            "--use-service-account-credentials=true", "--leader-elect=false",
            f"--service-cluster-ip-range={settings.SERVICE_CIDR}", "--profiling=false",
        ]),
        Component("kube-scheduler", [
            str(b("kube-scheduler")),
            f"--kubeconfig={kubeconfigs['kube-scheduler']}",
            f"--authentication-kubeconfig={kubeconfigs['kube-scheduler']}",
            f"--authorization-kubeconfig={kubeconfigs['kube-scheduler']}",
            f"--bind-address={host}", f"--secure-port={ports['kube-scheduler']}",
            f"--cert-dir={state / 'run' / 'kube-scheduler'}",
            "--leader-elect=false", "--profiling=false",
        ]),
        Component("kwok", [
            str(b("kwok")), f"--kubeconfig={kubeconfigs['kwok']}",
            *(f"--config={f}" for f in _kwok_stage_files()),
            # Manage only the nodes our layout marks as fake; no server
            # (no --server-address/--node-port), so kwok listens nowhere.
            "--manage-all-nodes=false",
            "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
            "--manage-nodes-with-label-selector=", "--manage-single-node=",
            f"--cidr={settings.KWOK_CIDR}", f"--node-ip={settings.KWOK_CIDR.split('/')[0]}",
            "--node-lease-duration-seconds=40",
        ]),
    ]
