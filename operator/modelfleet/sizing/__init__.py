"""The memory model, the parallelism rules and the Plan: pure functions."""
