"""Model configs: the bundled catalog, config.json parsing, and the Hub through the local Hub server."""

from __future__ import annotations

import json

import huggingface_hub.constants
import pytest

from modelfleet.catalog import (
    GatedModel,
    HubAccess,
    HubUnreachable,
    InvalidModelConfig,
    ModelNotCached,
    ModelNotFound,
    RevisionNotFound,
    bundled_model_ids,
    load_model_config,
    parse_config,
)
from support.hub_server import HubRepos, HubResponse, HubServer

MISTRAL_IDS = [
    "mistralai/Mistral-7B-v0.1",
    "mistralai/Mistral-7B-Instruct-v0.1",
    "mistralai/Mistral-7B-Instruct-v0.2",
    "mistralai/Mistral-7B-v0.3",
    "mistralai/Mistral-7B-Instruct-v0.3",
    "mistralai/Mixtral-8x7B-v0.1",
    "mistralai/Mixtral-8x7B-Instruct-v0.1",
    "mistralai/Mixtral-8x22B-v0.1",
    "mistralai/Mixtral-8x22B-Instruct-v0.1",
]

LLAMA_CONFIG = {
    "model_type": "llama",
    "hidden_size": 2048,
    "intermediate_size": 8192,
    "num_hidden_layers": 16,
    "num_attention_heads": 32,
    "num_key_value_heads": 8,
    "head_dim": 64,
    "vocab_size": 128256,
    "max_position_embeddings": 131072,
    "tie_word_embeddings": True,
    "torch_dtype": "bfloat16",
}


def test_the_mistral_family_is_bundled():
    assert sorted(bundled_model_ids()) == sorted(MISTRAL_IDS)


@pytest.mark.parametrize("model_id", MISTRAL_IDS)
def test_bundled_configs_load_without_network(model_id, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model = load_model_config(model_id, "0123456789abcdef0123456789abcdef01234567")
    assert model.source == "bundled"
    assert model.dtype == "bfloat16"
    assert (model.num_kv_heads, model.head_dim) == (8, 128)


@pytest.mark.parametrize(
    "model_id, vocab, context, experts",
    [
        ("mistralai/Mistral-7B-v0.1", 32000, 32768, 0),
        ("mistralai/Mistral-7B-Instruct-v0.2", 32000, 32768, 0),
        ("mistralai/Mistral-7B-v0.3", 32768, 32768, 0),
        ("mistralai/Mixtral-8x7B-Instruct-v0.1", 32000, 32768, 8),
        ("mistralai/Mixtral-8x22B-v0.1", 32000, 65536, 8),
        ("mistralai/Mixtral-8x22B-Instruct-v0.1", 32768, 65536, 8),
    ],
)
def test_bundled_configs_hold_the_published_values(model_id, vocab, context, experts):
    model = load_model_config(model_id)
    assert (model.vocab_size, model.max_position_embeddings, model.num_experts) == (vocab, context, experts)
    assert model.mixture_of_experts == bool(experts)


def test_mixtral_8x22b_shape():
    model = load_model_config("mistralai/Mixtral-8x22B-Instruct-v0.1")
    assert (model.hidden_size, model.intermediate_size, model.num_layers) == (6144, 16384, 56)
    assert (model.num_attention_heads, model.num_kv_heads, model.experts_per_token) == (48, 8, 2)


def test_parse_fills_transformers_defaults():
    config = {k: v for k, v in LLAMA_CONFIG.items() if k not in ("head_dim", "num_key_value_heads")}
    model = parse_config("x/y", config, "hub")
    assert model.head_dim == 2048 // 32
    assert model.num_kv_heads == 32
    assert model.tie_word_embeddings


def test_parse_reads_transformers_5_dtype_and_quantization_config():
    data = {**LLAMA_CONFIG, "dtype": "float16", "quantization_config": {"quant_method": "awq", "group_size": 64}}
    del data["torch_dtype"]
    model = parse_config("x/y-AWQ", data, "hub")
    assert (model.dtype, model.quantization, model.quantization_group_size) == ("float16", "awq", 64)


@pytest.mark.parametrize(
    "quantization_config, expected",
    [
        ({"quant_method": "bitsandbytes", "load_in_4bit": True}, "bitsandbytes-4bit"),
        ({"quant_method": "bitsandbytes", "load_in_8bit": True}, "bitsandbytes-8bit"),
        ({"quant_method": "fp8"}, "fp8"),
        ({"quant_method": "compressed-tensors"}, "compressed-tensors"),
    ],
)
def test_parse_names_pre_quantized_repos_in_spec_words(quantization_config, expected):
    config = {**LLAMA_CONFIG, "quantization_config": quantization_config}
    assert parse_config("x/y", config, "hub").quantization == expected


@pytest.mark.parametrize(
    "change, message",
    [
        ({"hidden_size": None}, "has no hidden_size"),
        ({"num_hidden_layers": 0}, "num_hidden_layers must be an integer of at least 1"),
        ({"vocab_size": "32000"}, "vocab_size must be an integer"),
        ({"head_dim": None, "hidden_size": 2050}, "not a multiple of num_attention_heads"),
        ({"num_local_experts": 8, "num_experts_per_tok": 9}, "between 1 and num_local_experts 8"),
    ],
)
def test_parse_rejects_configs_sizing_cannot_use(change, message):
    data = {k: v for k, v in {**LLAMA_CONFIG, **change}.items() if v is not None}
    with pytest.raises(InvalidModelConfig, match=message):
        parse_config("x/y", data, "hub")


def test_hub_access_reads_the_environment_at_call_time():
    hub = HubAccess.from_environment(
        {"HF_ENDPOINT": "http://hub.local/", "HF_TOKEN": "t", "HF_HUB_CACHE": "/c", "HF_HUB_OFFLINE": "yes"}
    )
    assert hub == HubAccess(endpoint="http://hub.local", token="t", cache_dir="/c", offline=True)
    assert HubAccess.from_environment({"HF_TOKEN": "env"}, token="secret").token == "secret"
    assert HubAccess.from_environment({}) == HubAccess()


# --- the Hub path, against the local Hub server -------------------------------------------------

@pytest.fixture
def hub_repos():
    repos = HubRepos()
    repos.add("acme/tiny-llama", {"config.json": json.dumps(LLAMA_CONFIG), "README.md": "# tiny"})
    repos.add("acme/gated-llama", {"config.json": json.dumps(LLAMA_CONFIG)}, gated=True, allowed_tokens=("hf_good",))
    repos.add("acme/no-config", {"README.md": "no model here"})
    return repos


@pytest.fixture
def hub(hub_repos):
    with HubServer(hub_repos) as server:
        yield server


def access(hub, tmp_path, **changes):
    return HubAccess(**{"endpoint": hub.url, "cache_dir": str(tmp_path / "cache"), **changes})


def test_other_models_come_from_the_hub(hub, tmp_path):
    model = load_model_config("acme/tiny-llama", "main", hub=access(hub, tmp_path))
    assert (model.source, model.model_type, model.vocab_size) == ("hub", "llama", 128256)
    assert [r.path for r in hub.requests if r.method == "HEAD"] == ["/acme/tiny-llama/resolve/main/config.json"]


def test_offline_reads_what_an_online_call_cached(hub, tmp_path):
    load_model_config("acme/tiny-llama", "main", hub=access(hub, tmp_path))
    seen = len(hub.requests)
    model = load_model_config("acme/tiny-llama", "main", hub=access(hub, tmp_path, offline=True))
    assert model.vocab_size == 128256
    assert len(hub.requests) == seen


def test_unknown_model_offline_says_how_to_fix_it(hub, tmp_path):
    with pytest.raises(ModelNotCached, match="not a bundled model and HF_HUB_OFFLINE is set"):
        load_model_config("acme/tiny-llama", "main", hub=access(hub, tmp_path, offline=True))
    assert hub.requests == []


def test_offline_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(ModelNotCached, match="unset HF_HUB_OFFLINE"):
        load_model_config("acme/not-bundled")


def test_gated_model_without_a_token_is_401(hub, tmp_path, monkeypatch):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    # nor the token file `hf auth login` writes
    monkeypatch.setattr(huggingface_hub.constants, "HF_TOKEN_PATH", str(tmp_path / "no-token"))
    with pytest.raises(GatedModel, match=r"is gated: the Hub refused config.json \(HTTP 401\) without a token"):
        load_model_config("acme/gated-llama", "main", hub=access(hub, tmp_path))


def test_gated_model_with_a_token_it_does_not_allow_is_403(hub, tmp_path):
    with pytest.raises(GatedModel, match=r"\(HTTP 403\) with the token given; accept the model's terms"):
        load_model_config("acme/gated-llama", "main", hub=access(hub, tmp_path, token="hf_other"))


def test_gated_model_with_an_allowed_token(hub, tmp_path):
    model = load_model_config("acme/gated-llama", "main", hub=access(hub, tmp_path, token="hf_good"))
    assert model.model_type == "llama"
    assert hub.requests[-1].headers["authorization"] == "Bearer hf_good"


def test_hf_token_from_the_environment_is_sent(hub, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_good")
    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    assert load_model_config("acme/gated-llama").source == "hub"


def test_missing_repo_is_404(hub, tmp_path):
    with pytest.raises(ModelNotFound, match="no model repository acme/missing on http://127.0.0.1"):
        load_model_config("acme/missing", "main", hub=access(hub, tmp_path))


def test_missing_revision_is_404(hub, tmp_path):
    with pytest.raises(RevisionNotFound, match="acme/tiny-llama has no revision 'v9'"):
        load_model_config("acme/tiny-llama", "v9", hub=access(hub, tmp_path))


def test_a_repo_without_config_json(hub, tmp_path):
    with pytest.raises(InvalidModelConfig, match="has no config.json"):
        load_model_config("acme/no-config", "main", hub=access(hub, tmp_path))


def test_a_pinned_commit_reads_that_commit(hub, hub_repos, tmp_path):
    old = hub_repos.add("acme/tiny-llama", {"config.json": json.dumps({**LLAMA_CONFIG, "vocab_size": 1000})})
    hub_repos.add("acme/tiny-llama", {"config.json": json.dumps(LLAMA_CONFIG)})
    assert load_model_config("acme/tiny-llama", old, hub=access(hub, tmp_path)).vocab_size == 1000
    assert load_model_config("acme/tiny-llama", "main", hub=access(hub, tmp_path)).vocab_size == 128256


def test_a_failing_hub_names_the_cause(hub, tmp_path):
    hub.responder = lambda request: HubResponse(400, {"Content-Length": "0"})
    with pytest.raises(HubUnreachable, match=f"cannot fetch acme/tiny-llama@main/config.json from {hub.url}: .*400"):
        load_model_config("acme/tiny-llama", "main", hub=access(hub, tmp_path))
