"""One warm-up of an engine: what is sent, in what order, and what came back.

Why this set: the first requests to a fresh replica pay for what the engine
does lazily on first use: kernels compiled or tuned for a shape it has not
run yet, memory pools grown to the largest activations, code paths taken for
the first time. A mixture of experts has the most of it: vLLM's fused-MoE
Triton kernels are compiled per tile configuration, which depends on how
many tokens a step routes, so each new batch shape is slow once. So the set:

1. one request alone, then the long prompt: a prompt of about maxModelLen
   tokens (prefill in its largest chunks, the KV cache filled end to end);
2. waves of rising concurrency, 1, 2, 4, ... up to maxConcurrency (the
   engine's batch limit), each at least one request per speciality of
   ``warmup_prompts`` (code, five languages, math), so decode runs at every
   batch size real traffic will bring and every kind of token meets its
   experts;
3. where the engine reports routed experts, more waves of mixed prompts
   until every expert of every layer has been hit (or, without the expert
   count, until a wave reaches no new one), at most ``MAX_COVERAGE_WAVES``.

Each prompt starts with its own number: prompts that share a prefix would be
served from the prefix cache and skip the prefill they are meant to warm.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from .engine_client import Completion, EngineClient
from .experts import ExpertCoverage, UnreadableArray, decode_routed_experts
from .warmup_prompts import LONG_CONTEXT_QUESTION, LONG_CONTEXT_TEXT, PROMPTS

MAX_TOKENS = 16
LONG_MAX_TOKENS = 4
MAX_COVERAGE_WAVES = 20
# Without a tokenizer endpoint of either kind: a generous guess (Mistral's tokenizers average near 4
# characters per token on prose); a prompt the engine refuses as too long is shrunk by a quarter and sent again.
CHARS_PER_TOKEN_GUESS = 4
LONG_PROMPT_TRIES = 4


def concurrency_levels(max_concurrency: int) -> list[int]:
    """1, 2, 4, ... and the limit itself: the batch sizes the warm-up runs at."""
    levels = []
    level = 1
    while level < max_concurrency:
        levels.append(level)
        level *= 2
    return levels + [max_concurrency]


@dataclass(frozen=True)
class RequestRecord:
    concurrency: int
    speciality: str
    latency_s: float
    status: int


@dataclass
class WarmupReport:
    records: list[RequestRecord] = field(default_factory=list)
    long_prompt_tokens: int | None = None
    coverage: ExpertCoverage = field(default_factory=ExpertCoverage)
    coverage_waves: int = 0


class WarmupRun:
    """Sends the warm-up set to one engine; ``report`` fills as it goes (read it after a timeout too)."""

    def __init__(
        self,
        client: EngineClient,
        max_model_len: int,
        max_concurrency: int,
        num_experts: int | None,
        log: Callable[[str], None],
        observe: Callable[[RequestRecord], None] = lambda record: None,
    ) -> None:
        self.client = client
        self.max_model_len = max_model_len
        self.max_concurrency = max_concurrency
        self.num_experts = num_experts
        self.log = log
        self.observe = observe
        self.report = WarmupReport()
        self._sent = 0

    async def run(self) -> WarmupReport:
        first, *rest = concurrency_levels(self.max_concurrency)
        await self.wave(first)
        await self.long_prompt()
        for level in rest:
            await self.wave(level)
        await self.cover_experts()
        return self.report

    async def wave(self, concurrency: int, mixed: int | None = None) -> int:
        """Requests of every speciality, ``concurrency`` at a time; returns the expert pairs newly hit."""
        count = max(concurrency, len(PROMPTS))
        prompts = [self._prompt(i, mixed) for i in range(count)]
        gate = asyncio.Semaphore(concurrency)

        async def one(speciality: str, text: str) -> int:
            async with gate:
                return await self._send(text, speciality, concurrency, MAX_TOKENS)

        new = await asyncio.gather(*(one(speciality, text) for speciality, text in prompts))
        return sum(new)

    async def long_prompt(self) -> None:
        """One prompt of about maxModelLen tokens (exactly, where the engine tokenizes for us)."""
        target = self.max_model_len - LONG_MAX_TOKENS
        ids = await self._long_token_ids(target)
        if ids is not None:
            self.report.long_prompt_tokens = len(ids)
            await self._send(ids, "long-context", 1, LONG_MAX_TOKENS)
            return
        text = await self._long_text(target)
        if text is not None:
            self.report.long_prompt_tokens = target
            await self._send(text, "long-context", 1, LONG_MAX_TOKENS)
            return
        chars = target * CHARS_PER_TOKEN_GUESS
        for _ in range(LONG_PROMPT_TRIES):
            self.report.long_prompt_tokens = chars // CHARS_PER_TOKEN_GUESS
            text = _repeat(LONG_CONTEXT_TEXT, chars - len(LONG_CONTEXT_QUESTION)) + LONG_CONTEXT_QUESTION
            completion = await self._complete(text, "long-context", 1, LONG_MAX_TOKENS)
            if completion.status not in (400, 413, 422):
                return
            chars = chars * 3 // 4

    async def cover_experts(self) -> None:
        coverage = self.report.coverage
        if not coverage.hit:
            return  # the engine does not report routing (vLLM: --enable-return-routed-experts, GPU only)
        for wave in range(MAX_COVERAGE_WAVES):
            if self.num_experts is not None and coverage.complete(self.num_experts):
                return
            new = await self.wave(self.max_concurrency, mixed=wave)
            self.report.coverage_waves += 1
            if self.num_experts is None and new == 0:
                return
        if self.num_experts is not None and not coverage.complete(self.num_experts):
            self.log(f"experts never reached after {MAX_COVERAGE_WAVES} waves: {coverage.missing(self.num_experts)}")

    async def _long_token_ids(self, target: int) -> list[int] | None:
        unit = await self.client.tokenize(LONG_CONTEXT_TEXT)
        if not unit or not self.client.dialect.token_id_prompts:
            return None
        copies = target // len(unit) + 2
        ids = await self.client.tokenize(_repeat(LONG_CONTEXT_TEXT, len(LONG_CONTEXT_TEXT) * copies))
        return ids[:target] if ids and len(ids) >= target else None

    async def _long_text(self, target: int) -> str | None:
        """A text of ``target`` tokens, cut at the end of a token the engine reported (the tokens it counts
        may include a start-of-text token, which the completion's prompt gets too). The ends are byte
        offsets: cut by characters, the text's accented words made the prompt 4 tokens too long for TGI."""
        unit = await self.client.token_ends(LONG_CONTEXT_TEXT)
        if not unit:
            return None
        text = _repeat(LONG_CONTEXT_TEXT, len(LONG_CONTEXT_TEXT) * (target // len(unit) + 2))
        ends = await self.client.token_ends(text)
        if not ends or len(ends) < target:
            return None
        return text.encode()[:ends[target - 1]].decode(errors="ignore")

    def _prompt(self, index: int, mixed: int | None) -> tuple[str, str]:
        self._sent += 1
        prompt = PROMPTS[index % len(PROMPTS)]
        if mixed is None:
            return prompt.speciality, f"{self._sent}. {prompt.text}"
        other = PROMPTS[(index + mixed + 1) % len(PROMPTS)]
        return f"{prompt.speciality}+{other.speciality}", f"{self._sent}. {other.text}\n{prompt.text}"

    async def _send(self, prompt: str | list[int], speciality: str, concurrency: int, max_tokens: int) -> int:
        completion = await self._complete(prompt, speciality, concurrency, max_tokens)
        return self._record_routing(completion)

    async def _complete(self, prompt: str | list[int], speciality: str, concurrency: int,
                        max_tokens: int) -> Completion:
        completion = await self.client.complete(prompt, max_tokens)
        record = RequestRecord(concurrency, speciality, completion.latency_s, completion.status)
        self.report.records.append(record)
        self.observe(record)
        if not completion.ok:
            self.log(f"warm-up request ({speciality}, concurrency {concurrency}) failed: "
                     f"HTTP {completion.status or '-'} {completion.error}")
        return completion

    def _record_routing(self, completion: Completion) -> int:
        new = 0
        for encoded in completion.routed_experts:
            try:
                new += self.report.coverage.add(decode_routed_experts(encoded))
            except UnreadableArray as exc:
                self.log(f"ignoring routed_experts the warm-up cannot read: {exc}")
        return new


def _repeat(text: str, length: int) -> str:
    """``text`` over and over, ``length`` characters of it."""
    return ((text + "\n\n") * (length // (len(text) + 2) + 1))[:length]
