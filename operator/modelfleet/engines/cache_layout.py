"""Where the weights cache is mounted in every container, and its layout.

One volume holds everything that is slow to make and the same on every start:
the Hugging Face hub cache (weights, config, tokenizer) and the engines'
compile caches. The pre-pull program fills the hub cache; the engines read it
offline and write their compile caches next to it, so the second start of a
replica on the same cache skips both the download and the compilation.
"""

from __future__ import annotations

MOUNT_PATH = "/cache"

# HF_HOME: huggingface-hub keeps its hub cache, token-less settings and the
# Xet chunk cache under it.
HF_HOME = f"{MOUNT_PATH}/huggingface"

# The hub cache proper (models--<owner>--<name>/snapshots/<commit>/...), the
# directory both the pre-pull program and the engines resolve a revision in.
HUB_CACHE = f"{HF_HOME}/hub"

# vLLM's VLLM_CACHE_ROOT: vLLM keeps its torch.compile artifacts (Inductor and
# Triton kernels) under it, keyed by a hash of the model and engine config.
VLLM_CACHE_ROOT = f"{MOUNT_PATH}/vllm"

# What every engine needs to read the pre-pulled cache offline. ``HF_HUB_OFFLINE=1``:
# the pre-pull init container has already put every file in the cache, so the
# engine must not reach the Hub (no rate limits, no token, no surprise download
# of another revision).
OFFLINE_ENV = (("HF_HOME", HF_HOME), ("HF_HUB_OFFLINE", "1"))
