"""PKI of the local control plane, made with the openssl command.

One CA signs everything: the API server's serving cert (127.0.0.1/localhost
and the in-cluster service names) and the client certs of each component. The
service-account key pair signs and verifies tokens. Certs are made once and
kept, so a kubeconfig stays valid across cluster-down/cluster-up.
"""
from __future__ import annotations

import pathlib
import subprocess
import tempfile

# client cert name -> (subject, extended key usage)
CLIENTS = {
    # O=system:masters: the admin (tests, the user) and kwok, which stands in
    # for every kubelet and must write any node's and pod's status.
    "admin": ("/O=system:masters/CN=modelfleet-admin", "clientAuth"),
    "kwok": ("/O=system:masters/CN=kwok-controller", "clientAuth"),
    # The built-in RBAC roles bind these user names.
    "kube-controller-manager": ("/CN=system:kube-controller-manager", "clientAuth"),
    "kube-scheduler": ("/CN=system:kube-scheduler", "clientAuth"),
    # The real node (node.py): the kubelet as the Node authorizer and
    # NodeRestriction expect it, and kube-proxy as its built-in role binds it.
    "kubelet": ("/O=system:nodes/CN=system:node:real-0", "clientAuth"),
    "kube-proxy": ("/CN=system:kube-proxy", "clientAuth"),
    # The API server's identity towards the kubelet (logs, exec, port-forward), which
    # accepts no anonymous requests.
    "apiserver-kubelet-client": ("/O=system:masters/CN=kube-apiserver-kubelet-client", "clientAuth"),
    # The API server's identity towards aggregated API servers; also makes
    # the requestheader CA bundle exist, which every delegating component
    # (controller-manager, scheduler, aggregated APIs) loads.
    "front-proxy-client": ("/CN=front-proxy-client", "clientAuth"),
}
SERVER_SANS = ",".join([
    # 198.19.0.1: the "kubernetes" Service (settings.KUBERNETES_SERVICE_IP); 198.18.0.1: where
    # the real node's pods reach the API server (settings.BRIDGE_IP).
    "IP:127.0.0.1", "DNS:localhost", "IP:198.19.0.1", "IP:198.18.0.1", "DNS:kubernetes", "DNS:kubernetes.default",
    "DNS:kubernetes.default.svc", "DNS:kubernetes.default.svc.cluster.local",
])
DAYS = "3650"


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def _signed(pki: pathlib.Path, name: str, subject: str, extensions: str) -> None:
    key, csr, crt = (pki / f"{name}.{ext}" for ext in ("key", "csr", "crt"))
    _openssl("req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
             "-out", str(csr), "-subj", subject)
    with tempfile.NamedTemporaryFile("w", suffix=".cnf") as ext:
        ext.write(extensions)
        ext.flush()
        _openssl("x509", "-req", "-in", str(csr), "-CA", str(pki / "ca.crt"), "-CAkey",
                 str(pki / "ca.key"), "-CAcreateserial", "-days", DAYS, "-out", str(crt),
                 "-extfile", ext.name)
    csr.unlink()


def ensure(pki: pathlib.Path) -> pathlib.Path:
    """Create the PKI under `pki` unless it is complete already."""
    wanted = ["ca.crt", "sa.key", "sa.pub", "apiserver.crt"] + [f"{c}.crt" for c in CLIENTS]
    sans = pki / "sans"
    if all((pki / f).exists() for f in wanted) and sans.exists() and sans.read_text() == SERVER_SANS:
        return pki
    # Anything missing or made for other addresses: make all of it again.
    for old in pki.glob("*"):
        old.unlink()
    pki.mkdir(parents=True, exist_ok=True)
    pki.chmod(0o700)
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(pki / "ca.key"),
             "-out", str(pki / "ca.crt"), "-days", DAYS, "-subj", "/CN=modelfleet-local-ca",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign,digitalSignature")
    usage = "keyUsage=critical,digitalSignature,keyEncipherment\n"
    _signed(pki, "apiserver", "/CN=kube-apiserver",
            usage + f"extendedKeyUsage=serverAuth\nsubjectAltName={SERVER_SANS}\n")
    for name, (subject, eku) in CLIENTS.items():
        _signed(pki, name, subject, usage + f"extendedKeyUsage={eku}\n")
    _openssl("genrsa", "-out", str(pki / "sa.key"), "2048")
    _openssl("rsa", "-in", str(pki / "sa.key"), "-pubout", "-out", str(pki / "sa.pub"))
    (pki / "sans").write_text(SERVER_SANS)
    return pki
