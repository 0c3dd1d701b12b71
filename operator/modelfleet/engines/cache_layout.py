"""Where the weights cache is mounted in every container, and its layout.

The cache volume holds the Hugging Face hub cache (weights, config,
tokenizer). The pre-pull program fills it and is the only writer; the
engines read it offline, and mount only their own model's directory of it,
read-only (``engine_weights_mount``). In nodeLocal mode the volume is one
directory per node shared by every namespace's public models, and the
engine's image is the user's choice: a writable mount would let one tenant's
engine rewrite the weights another tenant's replicas load, and a mount of
the whole cache would let it read every other model on the node.

What an engine writes (transformers' copies of a repo's remote code) goes
to its pod's own scratch volume instead, an emptyDir: not shared with any
other pod, bounded in size, gone with the pod. vLLM's compile directory
(``VLLM_CACHE_ROOT``, inside the scratch mount) is the exception: the
renderer mounts the LLMDeployment's own compile cache over it
(``render.cache``: a directory per object, keyed by image, revision and
flags), so the object's next replica finds its graphs compiled.
"""

from __future__ import annotations

import posixpath

from huggingface_hub.constants import REPO_ID_SEPARATOR

MOUNT_PATH = "/cache"

# HF_HOME: huggingface-hub keeps its hub cache, token-less settings and the
# Xet chunk cache under it.
HF_HOME = f"{MOUNT_PATH}/huggingface"

# The hub cache proper (models--<owner>--<name>/snapshots/<commit>/...), the
# directory both the pre-pull program and the engines resolve a revision in.
HUB_CACHE = f"{HF_HOME}/hub"


def repo_dir(model_id: str) -> str:
    """The model's directory in the hub cache (``models--<owner>--<name>``), the one the pre-pull lays it out in.

    huggingface-hub's rule (``file_download.repo_folder_name``), with its separator; not the function itself: it
    also validates the id, and the renderer must render whatever the API accepts (the pre-pull, which calls it,
    is where a repo id the Hub refuses fails, naming it)."""
    return REPO_ID_SEPARATOR.join(("models", *model_id.split("/")))


def engine_weights_mount(model_id: str) -> tuple[str, str]:
    """``(subPath in the cache volume, mountPath)`` of the one directory of the cache an engine mounts: its model's.

    Offline, the engines read nothing else under ``HF_HOME`` (checked at the pinned releases):

    - vLLM 0.32: with ``HF_HUB_OFFLINE`` set, ``vllm/engine/arg_utils.py`` (``EngineArgs.__post_init__``) swaps
      the model and tokenizer ids for ``vllm/transformers_utils/repo_utils.py`` ``get_model_path``: huggingface-hub's
      ``snapshot_download(local_files_only=True)``, which reads ``refs/<revision>``, ``snapshots/<commit>`` and its
      tree listing ``trees/``, all in the repo's directory (``huggingface_hub/_snapshot_download.py``); config,
      tokenizer and weights are then read from that snapshot path. Its download lock is in ``/tmp``
      (``model_loader/weight_utils.py`` ``get_lock``).
    - TGI 3.3.7: the router, offline, reads ``Cache::new(HUGGINGFACE_HUB_CACHE)`` (``router/src/server.rs``) and the
      launcher ``config.json`` through hf-hub's cache (``launcher/src/main.rs`` ``get_config``): hf-hub's
      ``Cache::get`` reads ``<repo dir>/refs/<revision>`` and ``<repo dir>/snapshots/<commit>/<file>``; the shards
      ``server/text_generation_server/utils/hub.py`` ``_get_cached_revision_directory``: the same two. The
      ``HF_HOME/token`` file they look for is optional (the engine runs tokenless, offline).

    The snapshot's files are relative symlinks into the repo's ``blobs/``, so the repo directory, not the snapshot,
    is the smallest unit that loads. Mounted at its own path under ``HUB_CACHE``, so ``HF_HOME`` resolves as before.
    """
    directory = repo_dir(model_id)
    return posixpath.join(posixpath.relpath(HUB_CACHE, MOUNT_PATH), directory), posixpath.join(HUB_CACHE, directory)


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
