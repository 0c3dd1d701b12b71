"""Per-engine facts (vLLM, TGI): arguments, ports, probes, metric names."""
