"""The engine profiles: what sizing, rendering, scraping and the runtime know of each inference server.

One module per engine (``vllm``, ``tgi``) holds one ``EngineProfile``:
data and small pure functions, checked against the engine's pinned release
and citing its source. This package sits below sizing and imports only
``api``; everything above asks the profile and never compares engine names.
``PROFILES`` is the one registry.

Adding an engine (SGLang is the likely next) is one module here and its
tests. The module provides a ``PROFILE`` with, read in the pinned release:

- ``kind`` (a new value of ``api.spec.EngineKind``), ``name``, ``version``,
  ``default_image``, ``command`` (empty keeps the image's entrypoint),
  ``env`` (``cache_layout.OFFLINE_ENV`` and whatever makes the engine find
  the hub cache offline), ``port`` and ``health_path``;
- ``owned_flags``: each flag the operator sets and the ``Setting`` it
  carries, in command-line order (``render.engine_args`` writes them), with
  ``quantization_values``, ``kv_cache_dtype_values`` and ``queue_allowance``
  for the settings that need the engine's own words;
- ``parser``: how its command-line parser resolves a token (``flags.ParserRules``:
  every option string it knows when it takes prefixes, its aliases, what it
  normalises), ``repeated_flag_effect``, ``hub_repo_flags`` (values that
  name other repositories, which the offline engine cannot fetch) and
  ``trust_remote_code_flag``;
- ``memory``: a class of its own with ``memory_rules.EngineMemory``'s
  methods (its budget function, the KV slots a sequence holds, each
  overhead in or out of its budget), built from ``memory_rules``' pieces;
  ``replicates_kv_heads`` and ``expert_parallel`` (sharding rules);
- ``metrics`` (the Prometheus names the autoscaler scrapes) and ``warmup``
  (the HTTP the warm-up sidecar may use besides OpenAI's completions);

then one line in ``PROFILES`` below, and the engine's cases in
``tests/unit/test_engine_profiles.py`` and ``test_engine_memory.py``.
"""

from __future__ import annotations

from modelfleet.api.spec import EngineKind

from . import tgi, vllm
from .profile import PORT, EngineMetrics, EngineProfile, HubRepoFlag, OwnedFlag, Setting, WarmupDialect

PROFILES: dict[EngineKind, EngineProfile] = {profile.kind: profile for profile in (vllm.PROFILE, tgi.PROFILE)}


def profile_for(kind: EngineKind) -> EngineProfile:
    return PROFILES[kind]


__all__ = [
    "PORT", "PROFILES", "EngineMetrics", "EngineProfile", "HubRepoFlag", "OwnedFlag", "Setting", "WarmupDialect",
    "profile_for",
]
