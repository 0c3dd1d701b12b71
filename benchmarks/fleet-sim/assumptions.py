"""The numbers the simulation rests on, each with where it comes from.

The plan: Mixtral-8x7B-Instruct (46.7 B parameters, 12.9 B active per token,
32 layers, 8 KV heads of 128) in bfloat16 on 2x H100 80GB with tensor
parallelism 2, vLLM, maxModelLen 4096, maxConcurrency (--max-num-seqs) 64.
"""

# --- one replica -------------------------------------------------------------------------------
GPUS_PER_REPLICA = 2
# Weights 46.7e9 x 2 B = 93 GB, 46.7 GB per GPU. KV cache per token: 32 layers x 8 heads x 128 x
# 2 (K and V) x 2 B = 131 kB, 65.5 kB per GPU. 64 sequences x 4096 tokens x 65.5 kB = 17 GB per GPU,
# which fits next to the weights under 0.9 x 80 GB: the batch limit is --max-num-seqs, not memory.
BATCH_LIMIT = 64
# Decode is memory-bound: each step streams the weights once (93 GB over 2 x 3.35 TB/s = 14 ms) plus
# attention and the MoE's scattered reads, which grow with the batch. We take 20 ms at batch 1 and
# 0.15 ms per extra sequence: 29.6 ms per step at batch 64, i.e. ~2,200 output tokens/s per replica,
# in the range published for Mixtral-8x7B on 2x H100 with vLLM at high concurrency (2-3 k tok/s).
STEP_SECONDS_AT_BATCH_LIMIT = 0.020 + 0.00015 * (BATCH_LIMIT - 1)
# Prefill runs compute-bound at several thousand tokens/s on 2 H100s; chunked prefill shares the
# steps with decode, so a prompt costs its share of steps: prompt tokens / 8,000 tok/s.
PREFILL_TOKENS_PER_SECOND = 8_000.0

# --- requests (chat traffic, ShareGPT-like: prompts longer than answers, long tails) ------------
PROMPT_TOKENS_MEDIAN = 512
PROMPT_TOKENS_SIGMA = 1.0  # lognormal: mean ~840 tokens
OUTPUT_TOKENS_MEDIAN = 200
OUTPUT_TOKENS_SIGMA = 0.8  # lognormal: mean ~275 tokens
MAX_MODEL_LEN = 4096

# --- the fleet ----------------------------------------------------------------------------------
# Pod created -> Ready: llm-d's figure of 180 s for a large model (weights from a node-local cache,
# CUDA graphs, warm-up). GPU nodes are assumed to be there already (no node provisioning).
COLD_START_SECONDS = 180.0
MIN_REPLICAS = 1
MAX_REPLICAS = 10
# What we count as a service-level violation: a request that waits in a queue for more than this.
SLO_QUEUE_WAIT_SECONDS = 2.0
