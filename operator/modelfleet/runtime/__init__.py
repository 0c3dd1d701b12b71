"""Programs that run inside the engine pods: pre-pull and warm-up."""
