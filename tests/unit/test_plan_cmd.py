"""``modelfleet plan`` as a user runs it: table and JSON, exit codes, errors on stderr."""

from __future__ import annotations

import json
from pathlib import Path

import huggingface_hub.constants
import pytest
import yaml

from modelfleet.cli.main import main
from modelfleet.engines.tgi import TGI_VERSION
from modelfleet.engines.vllm import VLLM_VERSION
from support.hub_server import HubRepos, HubServer

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
LOCAL_POOLS = str(EXAMPLES / "pools" / "local-cluster.yaml")


def deployment(tmp_path: Path, model: dict, serving: dict | None = None, gpu: dict | None = None,
               engine: str = "vllm") -> str:
    path = tmp_path / "llmd.yaml"
    spec = {"model": model, "engine": {"kind": engine}, "serving": serving or {}, "gpu": gpu or {}}
    path.write_text(yaml.safe_dump({"apiVersion": "modelfleet.io/v1alpha1", "kind": "LLMDeployment",
                                    "metadata": {"name": "m"}, "spec": spec}))
    return str(path)


def test_table_shows_every_candidate_the_rejections_and_the_choice(capsys):
    assert main(["plan", "-f", str(EXAMPLES / "mixtral-8x7b-vllm.yaml"), "--pools", LOCAL_POOLS]) == 0
    out = capsys.readouterr().out
    assert f"mistralai/Mixtral-8x7B-Instruct-v0.1 on vLLM {VLLM_VERSION} (bundled config)" in out
    assert "46.70 B parameters (12.88 B active per token)" in out
    header = next(line for line in out.splitlines() if line.startswith("POOL"))
    assert header.split() == ["POOL", "GPU", "TP", "WEIGHTS", "KV", "OVERHEAD", "NEED", "BUDGET", "MAX", "SEQS",
                              "$/H", "VERDICT"]
    rows = [line.split() for line in out.splitlines() if line.startswith(("h100 ", "a100-80gb "))]
    assert [(r[0], r[2], r[-1]) for r in rows] == [
        ("h100", "1", "big"), ("h100", "2", "fits"),
        ("a100-80gb", "1", "big"), ("a100-80gb", "2", "chosen"),
    ]
    assert "  h100 TP 1: needs 130.5 GiB per GPU at TP 1 on NVIDIA-H100-80GB-HBM3 (71.3 GiB budget)" in out
    assert "Chosen: pool a100-80gb, 2x NVIDIA-A100-SXM4-80GB per replica (TP 2); expert parallel available" in out


MISTRAL_V01 = {"id": "mistralai/Mistral-7B-Instruct-v0.1"}
SIXTEEN_BY_32K = {"maxModelLen": 32768, "maxConcurrency": 16}


def test_mistral_v01_on_vllm_is_tp_1_with_the_windowed_kv_explained(tmp_path, capsys):
    assert main(["plan", "-f", deployment(tmp_path, MISTRAL_V01, SIXTEEN_BY_32K, {"pools": ["h100"]}),
                 "--pools", LOCAL_POOLS]) == 0
    out = capsys.readouterr().out
    assert ("sliding window 4096 (config.json): vLLM keeps 20496 KV slots per sequence, not 32768: "
            "20479 tokens (window - 1 + 2 × 8192 in flight) in blocks of 16, plus one") in out
    assert "SlidingWindowSpec.max_admission_blocks_per_request" in out
    rows = [line.split() for line in out.splitlines() if line.startswith("h100 ")]
    assert [(r[2], r[4], r[-1]) for r in rows] == [("1", "40.0", "chosen")]  # 16 × 20496 × 128 KiB
    assert "outside budget  CUDA context and NCCL: vllm/v1/worker/gpu_worker.py" in out


def test_mistral_v01_on_tgi_sizes_the_full_context(tmp_path, capsys):
    assert main(["plan", "-f", deployment(tmp_path, MISTRAL_V01, SIXTEEN_BY_32K, {"pools": ["h100"]}, engine="tgi"),
                 "--pools", LOCAL_POOLS]) == 0
    out = capsys.readouterr().out
    assert f"on TGI {TGI_VERSION}" in out
    assert "TGI allocates all 32768 tokens of each sequence" in out and "window_size=None" in out
    assert "budget: gpu.memoryUtilization × GPU memory × 0.9 (" in out
    rows = [line.split() for line in out.splitlines() if line.startswith("h100 ")]
    assert [(r[2], r[4], r[-1]) for r in rows] == [("1", "64.0", "big"), ("2", "32.0", "chosen")]
    assert "outside budget  CUDA graphs:" in out


def test_json_has_the_chosen_plan_and_every_candidate(capsys):
    assert main(["plan", "-f", str(EXAMPLES / "mistral-7b-tgi.yaml"), "--pools", LOCAL_POOLS, "-o", "json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["chosen"]["pool"] == "a100-80gb"
    assert result["chosen"]["tensorParallelSize"] == 1
    assert [(c["pool"], c["tensorParallelSize"]) for c in result["candidates"]] == [("l4", 1), ("a100-80gb", 1)]
    assert result["model"]["parameters"] == 7_241_732_096


def test_without_pools_the_catalog_gpus_are_the_candidates(capsys):
    assert main(["plan", "-f", str(EXAMPLES / "mistral-7b-vllm.yaml"), "-o", "json"]) == 0
    pools = {c["pool"] for c in json.loads(capsys.readouterr().out)["candidates"]}
    assert {"t4", "l4", "a100-80gb", "h100", "h200", "b200"} <= pools


def test_nothing_fits_prints_null_and_exits_1_with_the_numbers(tmp_path, capsys):
    llmd = deployment(tmp_path, {"id": "mistralai/Mixtral-8x22B-Instruct-v0.1"}, {"maxConcurrency": 64},
                      {"pools": ["l4"]})
    assert main(["plan", "-f", llmd, "--pools", LOCAL_POOLS, "-o", "json"]) == 1
    captured = capsys.readouterr()
    assert json.loads(captured.out)["chosen"] is None
    assert captured.err.startswith("error: no GPU pool can serve mistralai/Mixtral-8x22B-Instruct-v0.1 (16-bit weights")
    assert "l4: needs" in captured.err
    assert "GiB per GPU at TP 1 on NVIDIA-L4 (19.6 GiB budget): weights 261.9 + KV" in captured.err


def test_nothing_fits_in_the_table_too(tmp_path, capsys):
    llmd = deployment(tmp_path, {"id": "mistralai/Mixtral-8x7B-v0.1"}, gpu={"pools": ["l4"]})
    assert main(["plan", "-f", llmd, "--pools", LOCAL_POOLS]) == 1
    captured = capsys.readouterr()
    assert "Chosen: none. no GPU pool can serve" in captured.out
    assert "error: no GPU pool" in captured.err


def test_unknown_model_offline(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "cache"))
    assert main(["plan", "-f", deployment(tmp_path, {"id": "acme/not-bundled"})]) == 1
    assert capsys.readouterr().err == (
        "error: acme/not-bundled is not a bundled model and HF_HUB_OFFLINE is set, and its config.json for revision "
        f"main is not in the Hugging Face cache ({tmp_path / 'cache'}): unset HF_HUB_OFFLINE, or fetch it once "
        "with network access\n"
    )


def test_a_quantization_the_engine_cannot_serve(tmp_path, capsys):
    llmd = deployment(tmp_path, {"id": "mistralai/Mistral-7B-v0.3", "quantization": "bitsandbytes-8bit"})
    assert main(["plan", "-f", llmd]) == 1
    err = capsys.readouterr().err
    assert "error: vLLM cannot serve mistralai/Mistral-7B-v0.3 with quantization bitsandbytes-8bit" in err


def test_an_explicit_tp_that_breaks_a_rule(tmp_path, capsys):
    llmd = deployment(tmp_path, {"id": "mistralai/Mixtral-8x7B-v0.1"}, gpu={"tensorParallelSize": 16}, engine="tgi")
    assert main(["plan", "-f", llmd]) == 1
    assert "TGI: 8 KV heads do not split over TP 16" in capsys.readouterr().err


def test_a_pool_name_that_does_not_exist(tmp_path, capsys):
    """A listed pool without nodes is skipped and named (node groups at zero); none at all is an error."""
    llmd = deployment(tmp_path, {"id": "mistralai/Mistral-7B-v0.3"}, gpu={"pools": ["h100", "tpu"]})
    assert main(["plan", "-f", llmd, "--pools", LOCAL_POOLS]) == 0
    assert "spec.gpu.pools also names tpu, which has no nodes now" in capsys.readouterr().out
    llmd = deployment(tmp_path, {"id": "mistralai/Mistral-7B-v0.3"}, gpu={"pools": ["tpu"]})
    assert main(["plan", "-f", llmd, "--pools", LOCAL_POOLS]) == 1
    assert capsys.readouterr().err == (
        "error: spec.gpu.pools names tpu, which is not a GPU pool; available pools: a100-80gb, h100, l4\n"
    )


def test_a_context_longer_than_the_model(tmp_path, capsys):
    llmd = deployment(tmp_path, {"id": "mistralai/Mistral-7B-v0.3"}, {"maxModelLen": 65536})
    assert main(["plan", "-f", llmd]) == 1
    assert "longer than mistralai/Mistral-7B-v0.3's context of 32768 tokens" in capsys.readouterr().err


def test_an_invalid_deployment(tmp_path, capsys):
    llmd = deployment(tmp_path, {"id": "mistralai/Mistral-7B-v0.3", "quantization": "int3"})
    assert main(["plan", "-f", llmd]) == 1
    assert "error: spec.model.quantization:" in capsys.readouterr().err


@pytest.mark.parametrize(
    "pools, message",
    [
        ("[]", "must be a non-empty YAML list of pools"),
        ("- {name: a, gpuProduct: NVIDIA-L4}", "[0]: gpusPerNode: Field required"),
        ("- {name: a, gpuProduct: NVIDIA-L4, gpusPerNode: 1}\n- {name: a, gpuProduct: Tesla-T4, gpusPerNode: 1}",
         "pool names must be unique; repeated: a"),
        ("- [", "cannot read pools"),
    ],
)
def test_a_bad_pools_file(tmp_path, capsys, pools, message):
    (tmp_path / "pools.yaml").write_text(pools)
    llmd = deployment(tmp_path, {"id": "mistralai/Mistral-7B-v0.3"})
    assert main(["plan", "-f", llmd, "--pools", str(tmp_path / "pools.yaml")]) == 1
    assert message in capsys.readouterr().err


def test_one_deployment_per_plan(tmp_path, capsys):
    one = Path(deployment(tmp_path, {"id": "mistralai/Mistral-7B-v0.3"})).read_text()
    (tmp_path / "two.yaml").write_text(one + "---\n" + one)
    assert main(["plan", "-f", str(tmp_path / "two.yaml")]) == 1
    assert "holds 2 LLMDeployments; plan takes exactly one" in capsys.readouterr().err


LLAMA = {
    "model_type": "llama", "hidden_size": 2048, "intermediate_size": 8192, "num_hidden_layers": 16,
    "num_attention_heads": 32, "num_key_value_heads": 8, "vocab_size": 128256, "max_position_embeddings": 131072,
    "tie_word_embeddings": True, "torch_dtype": "bfloat16",
}


@pytest.fixture
def hub(monkeypatch, tmp_path):
    repos = HubRepos()
    repos.add("meta-llama/Llama-3.2-1B", {"config.json": json.dumps(LLAMA)}, gated=True, allowed_tokens=("hf_ok",))
    with HubServer(repos) as server:
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "cache"))
        # no token file from `hf auth login`: only HF_TOKEN counts here
        monkeypatch.setattr(huggingface_hub.constants, "HF_TOKEN_PATH", str(tmp_path / "no-token"))
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
        yield server


def test_a_model_from_the_hub_with_hf_token(hub, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_ok")
    llmd = deployment(tmp_path, {"id": "meta-llama/Llama-3.2-1B"}, {"maxModelLen": 8192})
    assert main(["plan", "-f", llmd, "--pools", LOCAL_POOLS, "-o", "json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["model"]["configSource"] == "hub"
    assert result["model"]["parameters"] == 1_235_814_400
    assert result["chosen"]["tensorParallelSize"] == 1


def test_a_gated_model_without_a_token(hub, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    assert main(["plan", "-f", deployment(tmp_path, {"id": "meta-llama/Llama-3.2-1B"})]) == 1
    assert "meta-llama/Llama-3.2-1B is gated: the Hub refused config.json (HTTP 401) without a token" in (
        capsys.readouterr().err
    )
