"""Kubeconfig files: one for the user/tests (context modelfleet-local) and
one per component, each with its own client cert. Certs are embedded so the
user's kubeconfig can be copied anywhere on this machine."""
from __future__ import annotations

import base64
import pathlib
from typing import Any

import yaml

from . import settings


def _b64(path: pathlib.Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def render(pki: pathlib.Path, client: str, user: str) -> dict[str, Any]:
    server = f"https://{settings.HOST}:{settings.PORTS['kube-apiserver']}"
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": settings.CONTEXT, "cluster": {
            "server": server, "certificate-authority-data": _b64(pki / "ca.crt")}}],
        "users": [{"name": user, "user": {
            "client-certificate-data": _b64(pki / f"{client}.crt"),
            "client-key-data": _b64(pki / f"{client}.key")}}],
        "contexts": [{"name": settings.CONTEXT, "context": {"cluster": settings.CONTEXT, "user": user}}],
        "current-context": settings.CONTEXT,
    }


def write_all(state: pathlib.Path, pki: pathlib.Path) -> dict[str, pathlib.Path]:
    """Write the admin kubeconfig (settings.kubeconfig_path()) and the
    components' ones; return component name -> path."""
    out = {"admin": settings.kubeconfig_path()}
    for component in ("kube-controller-manager", "kube-scheduler", "kwok", "kubelet", "kube-proxy"):
        out[component] = state / "kubeconfigs" / f"{component}.yaml"
    for client, path in out.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        user = f"{settings.CONTEXT}-admin" if client == "admin" else client
        path.write_text(yaml.safe_dump(render(pki, client, user), sort_keys=False))
        path.chmod(0o600)
    return out
