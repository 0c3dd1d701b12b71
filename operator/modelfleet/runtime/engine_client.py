"""The warm-up's view of the engine in its pod: health, tokenizer and completions over HTTP (aiohttp).

Both engines serve the OpenAI completions API at ``/v1``; what else the
warm-up may use differs, and is the engine profile's ``WarmupDialect``
(``modelfleet.engines.vllm``, ``tgi``: a tokenizer endpoint, token-id
prompts, extra request fields).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import aiohttp

from modelfleet.api.spec import EngineKind
from modelfleet.engines import profile_for

HEALTH_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Completion:
    status: int  # 0: no HTTP answer (connection refused, reset)
    latency_s: float
    routed_experts: tuple[str, ...] = ()  # one base64 .npy per choice, when the engine reports them
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == 200


class EngineClient:
    def __init__(self, session: aiohttp.ClientSession, base_url: str, kind: EngineKind, model: str) -> None:
        self.session = session
        self.base_url = base_url.rstrip("/")
        profile = profile_for(kind)
        self.health_url = self.base_url + profile.health_path
        self.dialect = profile.warmup
        self.model = model

    async def health(self) -> bool | None:
        """True when healthy; False when the engine is down or says it is unwell; None when it answered too late."""
        try:
            timeout = aiohttp.ClientTimeout(total=HEALTH_TIMEOUT_S)
            async with self.session.get(self.health_url, timeout=timeout) as response:
                return response.status == 200
        except TimeoutError:
            return None  # busy, perhaps: not evidence that it went away
        except aiohttp.ClientError:
            return False

    async def tokenize(self, text: str) -> list[int] | None:
        """The engine's token ids for ``text``; None when the engine has no tokenizer endpoint or it failed."""
        if self.dialect.tokenize_path is None:
            return None
        try:
            async with self.session.post(self.base_url + self.dialect.tokenize_path,
                                         json={"model": self.model, "prompt": text}) as response:
                if response.status != 200:
                    return None
                return list((await response.json())["tokens"])
        except (aiohttp.ClientError, KeyError, ValueError):
            return None

    async def token_ends(self, text: str) -> list[int] | None:
        """Where each of ``text``'s tokens ends, as the engine tokenizes it: an offset in ``text``'s UTF-8
        bytes, not its characters (TGI's /tokenize, router/src/server.rs encoding_to_tokens, takes
        ``input.bytes()``). None when the engine has no such endpoint, it failed, or it has no offsets to give:
        TGI answers every span as 0..0 when its router fell back to the Python tokenizer
        (router/src/server.rs: it could not write its converted tokenizer.json), and a cut there is empty."""
        if self.dialect.token_offsets_path is None:
            return None
        try:
            async with self.session.post(self.base_url + self.dialect.token_offsets_path,
                                         json={"inputs": text}) as response:
                if response.status != 200:
                    return None
                ends = [int(token["stop"]) for token in await response.json()]
                return ends if ends and ends[-1] > 0 else None
        except (aiohttp.ClientError, KeyError, TypeError, ValueError):
            return None

    async def complete(self, prompt: str | list[int], max_tokens: int) -> Completion:
        body = {"model": self.model, "prompt": prompt, "max_tokens": max_tokens, "temperature": 0.0,
                **self.dialect.extra_body}
        started = time.monotonic()
        try:
            async with self.session.post(f"{self.base_url}/v1/completions", json=body) as response:
                payload = await response.json(content_type=None)
                latency = time.monotonic() - started
                if response.status != 200:
                    return Completion(response.status, latency, error=_error_text(payload))
                routed = tuple(c["routed_experts"] for c in payload.get("choices", []) if c.get("routed_experts"))
                return Completion(200, latency, routed)
        except (aiohttp.ClientError, ValueError) as exc:
            return Completion(0, time.monotonic() - started, error=f"{type(exc).__name__}: {exc}")


def _error_text(payload: object) -> str:
    if isinstance(payload, dict):
        error = payload.get("error", payload)
        return str(error.get("message", error) if isinstance(error, dict) else error)[:300]
    return str(payload)[:300]
