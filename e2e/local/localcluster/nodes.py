"""Fake GPU nodes from a layout (nodes.yaml): render, edit, sync.

A layout is plain data ({"defaults": ..., "pools": [...]}), so a test can
copy it, change it with the helpers below and `sync` it: nodes missing from
the cluster are created (with status: capacity, allocatable), kept nodes get
their labels/taints/capacity updated, and our nodes not in the layout are
deleted. Only nodes labelled `modelfleet.io/local-cluster=true` are ours.
"""
from __future__ import annotations

import copy
import json
import pathlib
import subprocess
from typing import Any

import yaml

from . import settings

DEFAULT_LAYOUT = settings.LOCAL_DIR / "nodes.yaml"
OWNED = "modelfleet.io/local-cluster"
POOL = "modelfleet.io/pool"
# A node layout (nodes.yaml) or a Kubernetes object, as YAML and JSON give them.
Obj = dict[str, Any]


def load_layout(path: pathlib.Path | str = DEFAULT_LAYOUT) -> Obj:
    layout: Obj = yaml.safe_load(pathlib.Path(path).read_text())
    return layout


def pool(layout: Obj, name: str) -> Obj:
    found: Obj
    for found in layout["pools"]:
        if found["name"] == name:
            return found
    raise KeyError(f"no pool {name!r} in layout")


def scale_pool(layout: Obj, name: str, count: int) -> Obj:
    """A copy of `layout` with pool `name` at `count` nodes."""
    out = copy.deepcopy(layout)
    pool(out, name)["count"] = count
    return out


def add_pool(layout: Obj, spec: Obj) -> Obj:
    """A copy of `layout` with one more pool (same keys as nodes.yaml)."""
    out = copy.deepcopy(layout)
    if any(p["name"] == spec["name"] for p in out["pools"]):
        raise ValueError(f"pool {spec['name']!r} exists")
    out["pools"].append(copy.deepcopy(spec))
    return out


def remove_pool(layout: Obj, name: str) -> Obj:
    out = copy.deepcopy(layout)
    pool(out, name)
    out["pools"] = [p for p in out["pools"] if p["name"] != name]
    return out


def render(layout: Obj) -> list[Obj]:
    """The Node objects of a layout, with labels as GPU Feature Discovery sets them."""
    defaults = layout.get("defaults", {})
    nodes = []
    for pool_index, p in enumerate(layout["pools"]):
        gpu = p.get("gpu")
        resources = {"cpu": str(p["cpu"]), "memory": str(p["memory"]),
                     "pods": str(p.get("pods", defaults.get("pods", "110"))),
                     "ephemeral-storage": str(p.get("ephemeralStorage", "1Ti"))}
        if gpu:
            resources["nvidia.com/gpu"] = str(gpu["count"])
        taints = p.get("taints", defaults.get("gpuTaints", []) if gpu else [])
        for i in range(p["count"]):
            name = f"{p['name']}-{i}"
            labels = {
                **defaults.get("labels", {}),
                "kubernetes.io/hostname": name,
                "node.kubernetes.io/instance-type": p["instanceType"],
                "type": "kwok",
                POOL: p["name"],
                OWNED: "true",
            }
            if gpu:
                labels.update({
                    "nvidia.com/gpu.present": "true",
                    "nvidia.com/gpu.product": gpu["product"],
                    "nvidia.com/gpu.memory": str(gpu["memoryMiB"]),
                    "nvidia.com/gpu.count": str(gpu["count"]),
                    "nvidia.com/gpu.family": gpu.get("family", ""),
                    "nvidia.com/gpu.compute.major": str(gpu.get("computeMajor", "")),
                    "nvidia.com/gpu.compute.minor": str(gpu.get("computeMinor", "")),
                })
            labels.update(p.get("labels", {}))
            nodes.append({
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {
                    "name": name,
                    "labels": {k: v for k, v in labels.items() if v != ""},
                    # kwok manages nodes with this annotation (see components.py)
                    "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
                },
                "spec": {"taints": copy.deepcopy(taints)},
                # A distinct InternalIP per node (kwok would give all the same
                # --node-ip), on loopback like the pods' (settings.KWOK_CIDR).
                "status": {"capacity": dict(resources), "allocatable": dict(resources),
                           "addresses": [{"type": "InternalIP", "address": f"127.2.{pool_index}.{i + 1}"},
                                         {"type": "Hostname", "address": name}]},
            })
    return nodes


def _kubectl(kubeconfig: pathlib.Path | str, *args: str, stdin: str | None = None) -> str:
    return subprocess.run([str(settings.binary("kubectl")), f"--kubeconfig={kubeconfig}", *args],
                          input=stdin, check=True, capture_output=True, text=True).stdout


def sync(layout: Obj, kubeconfig: pathlib.Path | str | None = None) -> list[str]:
    """Make the cluster's fake nodes match `layout`; return the node names."""
    kubeconfig = kubeconfig or settings.kubeconfig_path()
    wanted = {n["metadata"]["name"]: n for n in render(layout)}
    existing = {n["metadata"]["name"]: n for n in json.loads(
        _kubectl(kubeconfig, "get", "nodes", "-l", f"{OWNED}=true", "-o", "json"))["items"]}
    missing = [n for name, n in wanted.items() if name not in existing]
    if missing:
        # create (not apply): only a create stores the status we send
        _kubectl(kubeconfig, "create", "-f", "-",
                 stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": missing}))
    for name, node in wanted.items():
        if name not in existing:
            continue
        old = existing[name]
        stale = {k: None for k in old["metadata"].get("labels", {}) if k not in node["metadata"]["labels"]}
        if stale or old["metadata"].get("labels") != node["metadata"]["labels"] or \
                old["spec"].get("taints", []) != node["spec"]["taints"]:
            patch = {"metadata": {"labels": {**stale, **node["metadata"]["labels"]}},
                     "spec": {"taints": node["spec"]["taints"]}}
            _kubectl(kubeconfig, "patch", "node", name, "--type=merge", "-p", json.dumps(patch))
        status = {k: node["status"][k] for k in ("capacity", "allocatable")}
        if {k: old["status"].get(k) for k in status} != status:
            for k, resources in status.items():  # null removes a resource in a merge patch
                resources.update({r: None for r in old["status"].get(k, {}) if r not in resources})
            _kubectl(kubeconfig, "patch", "node", name, "--subresource=status", "--type=merge",
                     "-p", json.dumps({"status": status}))
    gone = sorted(set(existing) - set(wanted))
    if gone:
        _kubectl(kubeconfig, "delete", "node", "--wait=false", *gone)
    return sorted(wanted)
