"""A tiny Mixtral-architecture model (and its dense sibling, a tiny Mistral), generated once, for tests
against a real engine.

Nothing can be downloaded here, and the engine-facing code must meet a real
mixture-of-experts checkpoint (router, 8 experts, 2 per token), so the tests
make one: random weights (seeded) in bfloat16 safetensors and a small
byte-level BPE tokenizer trained on a few languages, code and math. It is
about 7 MB and loads in a vLLM CPU server and in TGI. ``arch="mistral"`` makes
the same model without experts (MistralForCausalLM, same tokenizer, same
attention: head dim 64), for the engines' dense path.

Two halves in one file so they cannot drift apart:

- ``ensure_tiny_model(python)`` runs in the project's venv (stdlib only): it
  returns the cached model directory, building it first if needed by running
  this very file under ``python`` (the vLLM venv's interpreter, which has
  torch, transformers and tokenizers).
- ``python tiny_model.py OUT_DIR [ARCH]`` (the ``__main__`` half) builds the model.

The cache key hashes everything that shapes the model (config, seed, corpus,
vocabulary size), so a change here builds a new directory and never reuses a
stale one.
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

SEED = 1234
VOCAB_SIZE = 1536
# hidden/heads = 64: vLLM's CPU attention rejects small head sizes such as 16.
MODEL_CONFIG = {
    "hidden_size": 256,
    "intermediate_size": 256,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "num_local_experts": 8,
    "num_experts_per_tok": 2,
    "max_position_embeddings": 512,
}
ARCHITECTURES = ("mixtral", "mistral")
# The Mistral is the Mixtral without experts; no sliding window, whatever a transformers release defaults to.
MISTRAL_CONFIG = {k: v for k, v in MODEL_CONFIG.items() if k not in ("num_local_experts", "num_experts_per_tok")}
MISTRAL_CONFIG["sliding_window"] = None
SPECIAL_TOKENS = ["<unk>", "<s>", "</s>"]
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "[{{ message['role'] }}] {{ message['content'] }}{{ eos_token }}"
    "{% endfor %}{% if add_generation_prompt %}[assistant] {% endif %}"
)

# Text the tokenizer learns from: the mix the warm-up sends (languages, code, math).
CORPUS = [
    "The quick brown fox jumps over the lazy dog. A model that serves many users must start fast, "
    "scale when the queue grows and never drop a request on the floor. Replicas take minutes to load "
    "their weights, so the autoscaler has to count the ones that are still starting.",
    "Le renard brun rapide saute par-dessus le chien paresseux. Un serveur de modèles de langue doit "
    "répondre vite, même quand la file d'attente s'allonge pendant les heures de pointe.",
    "Der schnelle braune Fuchs springt über den faulen Hund. Ein Sprachmodell beantwortet Anfragen "
    "in einer Warteschlange; wenn sie wächst, braucht der Dienst mehr Repliken.",
    "El rápido zorro marrón salta sobre el perro perezoso. Un servidor de modelos de lenguaje "
    "atiende solicitudes en cola y necesita más réplicas cuando la cola crece.",
    "Il veloce volpe marrone salta sopra il cane pigro. Le richieste aspettano in coda finché "
    "una replica non è libera di servirle.",
    "敏捷的棕色狐狸跳过了懒狗。语言模型服务器在队列变长时需要更多的副本。",
    "すばやい茶色の狐がのろまな犬を飛び越える。待ち行列が長くなるとレプリカを増やす。",
    "def fibonacci(n: int) -> int:\n    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a\n",
    "import asyncio\n\nasync def fetch_all(urls):\n    async with aiohttp.ClientSession() as session:\n"
    "        return await asyncio.gather(*(session.get(url) for url in urls))\n",
    "class Queue:\n    def __init__(self):\n        self.items = []\n\n    def push(self, item):\n"
    "        self.items.append(item)\n\n    def pop(self):\n        return self.items.pop(0)\n",
    "for (int i = 0; i < n; ++i) { sum += values[i] * weights[i]; }\nreturn sum / n;\n",
    "SELECT model, count(*) AS requests FROM queue WHERE waiting > 0 GROUP BY model ORDER BY requests DESC;",
    "Let x = 3 and y = 4. Then x^2 + y^2 = 9 + 16 = 25, so sqrt(x^2 + y^2) = 5. "
    "The integral of 2x dx from 0 to 1 equals 1. If f(x) = e^x then f'(x) = e^x.",
    "Little's law: L = lambda * W. With an arrival rate of 12 requests per second and a mean wait "
    "of 0.5 s, 6 requests are in the queue on average. 2 + 2 = 4; 7 * 8 = 56; 144 / 12 = 12.",
    "Prove that the sum of the first n odd numbers is n^2: 1 + 3 + 5 + ... + (2n - 1) = n^2 by induction.",
]


def cache_root() -> Path:
    return Path(os.environ.get("MODELFLEET_CACHE", Path.home() / ".cache" / "modelfleet"))


def model_key(arch: str = "mixtral") -> str:
    """A short hash of everything that shapes the generated model."""
    recipe = {"config": MODEL_CONFIG, "seed": SEED, "vocab": VOCAB_SIZE, "corpus": CORPUS,
              "special": SPECIAL_TOKENS, "chat": CHAT_TEMPLATE}
    if arch != "mixtral":  # the Mixtral's recipe (and so its cached directory) stays as it always was
        recipe |= {"arch": arch, "config": MISTRAL_CONFIG}
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:12]


def model_dir(arch: str = "mixtral") -> Path:
    return cache_root() / "models" / f"tiny-{arch}-{model_key(arch)}"


def ensure_tiny_model(python: str | os.PathLike, arch: str = "mixtral") -> Path:
    """The model directory, built first with ``python`` (an engine venv's: torch, transformers,
    tokenizers) if it is not cached.

    The build goes to a temporary sibling and is renamed into place, so a
    crash never leaves a half-written model that later runs would trust.
    """
    if arch not in ARCHITECTURES:
        raise ValueError(f"no tiny model of architecture {arch!r}; one of {ARCHITECTURES}")
    target = model_dir(arch)
    if (target / "config.json").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".building-") as tmp:
        result = subprocess.run([str(python), __file__, tmp, arch], capture_output=True, text=True, timeout=600)
        if result.returncode != 0:
            raise RuntimeError(f"building the tiny model failed:\n{result.stdout}\n{result.stderr}")
        try:
            os.rename(tmp, target)
        except OSError:
            if not (target / "config.json").is_file():  # not another builder finishing first
                raise
        # TemporaryDirectory's cleanup would remove the renamed model: recreate what it expects.
        Path(tmp).mkdir(exist_ok=True)
    return target


# ---- the build half: runs under the vLLM venv's python -----------------------------------------


def train_tokenizer(out: Path):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        min_frequency=1,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),  # every byte encodes, whatever the text
        show_progress=False,
    )
    tokenizer.train_from_iterator(CORPUS, trainer=trainer)
    tokenizer.save(str(out / "tokenizer.json"))
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": "<s>",
        "eos_token": "</s>",
        "unk_token": "<unk>",
        "model_max_length": MODEL_CONFIG["max_position_embeddings"],
        "chat_template": CHAT_TEMPLATE,
    }
    (out / "tokenizer_config.json").write_text(json.dumps(config, indent=2))
    return tokenizer


def build(out: Path, arch: str = "mixtral") -> None:
    import torch
    from transformers import MistralConfig, MistralForCausalLM, MixtralConfig, MixtralForCausalLM

    config_class, model_class, shape = {
        "mixtral": (MixtralConfig, MixtralForCausalLM, MODEL_CONFIG),
        "mistral": (MistralConfig, MistralForCausalLM, MISTRAL_CONFIG),
    }[arch]
    tokenizer = train_tokenizer(out)
    config = config_class(
        **shape,
        vocab_size=tokenizer.get_vocab_size(),
        bos_token_id=tokenizer.token_to_id("<s>"),
        eos_token_id=tokenizer.token_to_id("</s>"),
        torch_dtype="bfloat16",
    )
    torch.manual_seed(SEED)
    model = model_class(config).to(torch.bfloat16)
    model.save_pretrained(out, safe_serialization=True)


if __name__ == "__main__":
    build(Path(sys.argv[1]), *sys.argv[2:3])
