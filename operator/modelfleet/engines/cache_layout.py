"""Where the weights cache is mounted in every container, and its layout.

The cache volume holds the Hugging Face hub cache (weights, config,
tokenizer). The pre-pull program fills it and is the only writer; the
engines mount it read-only and read it offline. In nodeLocal mode the volume
is one directory per node shared by every tenant's models, and the engine's
image is the user's choice: a writable mount would let one tenant's engine
rewrite the weights another tenant's replicas load.

What an engine writes (transformers' copies of a repo's remote code) goes
to its pod's own scratch volume instead, an emptyDir: not shared with any
other pod, bounded in size, gone with the pod. vLLM's compile directory
(``VLLM_CACHE_ROOT``, inside the scratch mount) is the exception: the
renderer mounts the LLMDeployment's own compile cache over it
(``render.cache``: a directory per object, keyed by image, revision and
flags), so the object's next replica finds its graphs compiled.
"""

from __future__ import annotations

MOUNT_PATH = "/cache"

# HF_HOME: huggingface-hub keeps its hub cache, token-less settings and the
# Xet chunk cache under it.
HF_HOME = f"{MOUNT_PATH}/huggingface"

# The hub cache proper (models--<owner>--<name>/snapshots/<commit>/...), the
# directory both the pre-pull program and the engines resolve a revision in.
HUB_CACHE = f"{HF_HOME}/hub"

# The engine container's own writable directory (an emptyDir per pod).
SCRATCH_PATH = "/scratch"

# vLLM's VLLM_CACHE_ROOT: vLLM keeps its torch.compile artifacts (Inductor and
# Triton kernels) under it, keyed by a hash of the model and engine config; the
# LLMDeployment's compile cache is mounted here when it has one.
VLLM_CACHE_ROOT = f"{SCRATCH_PATH}/vllm"

# transformers' HF_MODULES_CACHE: where it copies a repo's Python code to import
# it (trust_remote_code). Its default is under HF_HOME, which engines read only.
HF_MODULES_CACHE = f"{SCRATCH_PATH}/hf-modules"

# The engine runs as a user its image does not know (render.security): its home is the scratch volume, and USER
# names it for getpass (torch's Inductor names its cache directory after the user, and has no passwd entry to
# read).
ENGINE_USER_ENV = (("HOME", SCRATCH_PATH), ("USER", "modelfleet"))

# What every engine needs to read the pre-pulled cache offline. ``HF_HUB_OFFLINE=1``:
# the pre-pull init container has already put every file in the cache, so the
# engine must not reach the Hub (no rate limits, no token, no surprise download
# of another revision). ``HF_MODULES_CACHE``: the cache is mounted read-only.
OFFLINE_ENV = (("HF_HOME", HF_HOME), ("HF_HUB_OFFLINE", "1"), ("HF_MODULES_CACHE", HF_MODULES_CACHE))
