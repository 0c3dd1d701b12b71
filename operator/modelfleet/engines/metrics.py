"""Per-engine metric names: the Prometheus series each engine exposes on ``/metrics``.

Facts, checked against the engines themselves:

- vLLM (checked on vLLM 0.32, recorded in ``tests/support/metrics/vllm-0.32.txt``):
  gauges ``vllm:num_requests_waiting`` (requests queued, not yet scheduled),
  ``vllm:num_requests_running`` (requests in the running batch) and
  ``vllm:kv_cache_usage_perc`` (fraction 0..1 of KV-cache blocks in use);
  counter ``vllm:request_success_total`` (requests finished, one series per
  ``finished_reason``).
  Releases before 0.10 named the last one ``vllm:gpu_cache_usage_perc``;
  both are accepted, the newer name first. Every series carries an
  ``engine`` and a ``model_name`` label; a server has one engine per
  data-parallel rank, so samples are summed (queue, batch) or averaged (KV).
  The KV cache it really got is the info gauge ``vllm:cache_config_info``:
  its labels ``num_gpu_blocks`` × ``block_size`` are the token slots
  (``vllm/v1/metrics/loggers.py`` ``PrometheusStatLogger.log_metrics_info``
  writes the CacheConfig as labels once the engine has sized its cache; the
  CPU build too).
- TGI (text-generation-inference, ``docs/source/reference/metrics.md`` and the
  router's ``metrics::describe_gauge!`` calls): gauges ``tgi_queue_size``
  (requests waiting) and ``tgi_batch_current_size`` (requests in the batch);
  counter ``tgi_request_success`` (requests finished). TGI exports no
  KV-cache usage; the KV cache it got after warm-up is the gauge
  ``tgi_batch_max_total_tokens`` (``backends/v3/src/lib.rs``
  ``connect_backend``: "Setting max batch total tokens to ...").

Names are metric *family* names as ``prometheus_client``'s parser reports
them: a counter's family drops the ``_total`` suffix of its samples.
"""

from __future__ import annotations

from dataclasses import dataclass

from modelfleet.api.spec import EngineKind


@dataclass(frozen=True)
class EngineMetrics:
    """Names of the gauges one engine kind exposes; earlier names are preferred."""

    metrics_path: str
    waiting: tuple[str, ...]
    running: tuple[str, ...]
    kv_cache_usage: tuple[str, ...]
    completed: tuple[str, ...]
    # The KV cache's token slots: an info gauge whose labels give blocks × block size, or a plain gauge of tokens.
    kv_blocks_info: str | None = None
    kv_tokens: tuple[str, ...] = ()


VLLM = EngineMetrics(
    metrics_path="/metrics",
    waiting=("vllm:num_requests_waiting",),
    running=("vllm:num_requests_running",),
    kv_cache_usage=("vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc"),
    completed=("vllm:request_success",),
    kv_blocks_info="vllm:cache_config_info",
)

TGI = EngineMetrics(
    metrics_path="/metrics",
    waiting=("tgi_queue_size",),
    running=("tgi_batch_current_size",),
    kv_cache_usage=(),
    completed=("tgi_request_success",),
    kv_tokens=("tgi_batch_max_total_tokens",),
)

ENGINE_METRICS: dict[EngineKind, EngineMetrics] = {"vllm": VLLM, "tgi": TGI}


def metrics_for(kind: EngineKind) -> EngineMetrics:
    return ENGINE_METRICS[kind]
