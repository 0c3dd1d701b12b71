"""``modelfleet render``: sized and rendered without a cluster, as a user runs it."""

from __future__ import annotations

import yaml

from modelfleet.cli.main import main
from support.render_cases import EXAMPLES, EXAMPLES_DIR, assert_acceptable

MIXTRAL_IN_A_NAMESPACE = """\
apiVersion: v1
kind: Namespace
metadata: {name: llm}
---
apiVersion: modelfleet.io/v1alpha1
kind: LLMDeployment
metadata: {name: mixtral, namespace: llm}
spec:
  model: {id: mistralai/Mixtral-8x7B-Instruct-v0.1}
  serving: {maxModelLen: 8192, maxConcurrency: 8}
  gpu: {pools: [a100-80gb]}
  cache: {mode: pvc}
"""


def rendered(capsys, *argv: str) -> tuple[int, list[dict], str]:
    code = main(["render", *argv])
    out, err = capsys.readouterr()
    return code, [doc for doc in yaml.safe_load_all(out) if doc is not None], err


def test_every_example_renders_objects_the_api_server_accepts(capsys):
    code, objects, err = rendered(capsys, "-f", str(EXAMPLES_DIR))
    assert code == 0, err
    deployments = [obj for obj in objects if obj["kind"] == "Deployment"]
    assert len(deployments) == 2 * len(EXAMPLES)  # the engines' and the router's
    for obj in objects:
        assert_acceptable(obj)


def test_the_output_is_a_yaml_stream_that_does_not_change_between_runs(capsys):
    main(["render", "-f", str(EXAMPLES_DIR / "mixtral-8x7b-vllm.yaml")])
    first = capsys.readouterr().out
    main(["render", "-f", str(EXAMPLES_DIR / "mixtral-8x7b-vllm.yaml")])
    assert capsys.readouterr().out == first
    assert first.startswith("---\n")
    # DaemonSet, Deployment, the router's (headless Service, Deployment, PDB), Service, PDB: each opens with ---
    assert first.count("---\n") == 7


def test_the_sized_plan_and_the_inputs_namespace_are_used(tmp_path, capsys):
    path = tmp_path / "mixtral.yaml"
    path.write_text(MIXTRAL_IN_A_NAMESPACE)
    pools = tmp_path / "pools.yaml"
    pools.write_text("- {name: a100-80gb, gpuProduct: NVIDIA-A100-SXM4-80GB, gpusPerNode: 8}\n")
    code, objects, err = rendered(capsys, "-f", str(path), "--pools", str(pools))
    assert code == 0, err
    assert [obj["kind"] for obj in objects] == ["PersistentVolumeClaim", "Deployment", "Service", "Deployment",
                                                "PodDisruptionBudget", "Service", "PodDisruptionBudget"]
    assert all(obj["metadata"]["namespace"] == "llm" for obj in objects)
    pod = objects[1]["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"modelfleet.io/pool": "a100-80gb"}
    engine = pod["containers"][0]
    assert engine["resources"]["limits"]["nvidia.com/gpu"] == engine["resources"]["requests"]["nvidia.com/gpu"]
    tp = engine["args"][engine["args"].index("--tensor-parallel-size") + 1]
    assert engine["resources"]["requests"]["nvidia.com/gpu"] == tp


def test_a_deployment_no_pool_fits_names_itself_and_fails(tmp_path, capsys):
    path = tmp_path / "big.yaml"
    path.write_text(
        "apiVersion: modelfleet.io/v1alpha1\nkind: LLMDeployment\nmetadata: {name: big}\n"
        "spec: {model: {id: mistralai/Mixtral-8x22B-Instruct-v0.1}, gpu: {pools: [l4]}}\n"
    )
    code, objects, err = rendered(capsys, "-f", str(path))
    assert code == 1 and objects == []
    assert "LLMDeployment/big: no GPU pool can serve" in err


def test_an_invalid_or_empty_input_fails(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: modelfleet.io/v1alpha1\nkind: LLMDeployment\nmetadata: {name: b}\nspec: {}\n")
    code, _, err = rendered(capsys, "-f", str(bad))
    assert code == 1 and "spec.model" in err
    empty = tmp_path / "secret.yaml"
    empty.write_text("apiVersion: v1\nkind: Secret\nmetadata: {name: s}\n")
    code, _, err = rendered(capsys, "-f", str(empty))
    assert code == 1 and "no LLMDeployment" in err
