"""The real node's taints follow nodes.yaml on every `cluster-up`, and `localcluster env` prints what
docs/local-cluster.md evals (e2e/local/localcluster: node.py, __main__.py).

The kubelet applies registerWithTaints only when it registers the node, so a layout change (the GPU
taint turned PreferNoSchedule, so that the chart's default install can land there) would never reach a
node that is already registered without the patch `label_and_advertise_gpus` computes here."""

from __future__ import annotations

import pathlib
import subprocess
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "e2e" / "local"))

from localcluster import node, settings  # noqa: E402  (lives in e2e/local, not an installed package)

GPU_SOFT = {"key": "nvidia.com/gpu", "value": "present", "effect": "PreferNoSchedule"}


def test_the_layout_gives_the_real_node_a_soft_gpu_taint_only():
    assert node.spec()["taints"] == [GPU_SOFT]


def test_a_taint_of_the_layouts_key_is_replaced_and_others_stay():
    not_ready = {"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule", "timeAdded": "2026-12-06T00:00:00Z"}
    registered = {"spec": {"taints": [{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"},
                                      not_ready]}}
    assert node._taints(registered, [GPU_SOFT]) == [not_ready, GPU_SOFT]


def test_a_node_already_as_the_layout_says_needs_no_patch():
    registered = {"spec": {"taints": [{"effect": "PreferNoSchedule", "key": "nvidia.com/gpu", "value": "present"}]}}
    wanted = node._taints(registered, [GPU_SOFT])
    assert node._unordered(wanted) == node._unordered(registered["spec"]["taints"])


def test_env_points_a_shell_at_the_cluster_and_its_pinned_tools():
    lines = subprocess.run(
        [sys.executable, "-m", "localcluster", "env"], capture_output=True, text=True, check=True,
        cwd=pathlib.Path(__file__).resolve().parents[2] / "e2e" / "local",
    ).stdout
    # PATH, not `command -v`: the unit tier builds helm only, kubectl may not exist yet.
    shown = subprocess.run(["bash", "-c", f'{lines}\necho "$KUBECONFIG"; echo "$PATH"'],
                           capture_output=True, text=True, check=True, env={"PATH": "/usr/bin:/bin"}).stdout
    tools = f"{settings.binary('kubectl').parent}:{settings.binary('helm').parent}"
    assert shown.split() == [str(settings.kubeconfig_path()), f"{tools}:/usr/bin:/bin"]
