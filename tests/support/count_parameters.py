"""Parameter counts as transformers builds the model; runs under the engine venv's python (torch, transformers).

Reads ``{name: config.json dict}`` as JSON on stdin, instantiates each model
on the meta device (shapes without memory) and prints ``{name: {total,
experts}}``: every parameter once (tied embeddings are one tensor), and those
of the routed experts.
"""
from __future__ import annotations

import json
import sys

import torch
from transformers import AutoConfig, AutoModelForCausalLM


def count(config: dict) -> dict[str, int]:
    settings = {key: value for key, value in config.items() if key != "model_type"}
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(AutoConfig.for_model(config["model_type"], **settings))
    named = list(model.named_parameters())
    return {
        "total": sum(p.numel() for _, p in named),
        "experts": sum(p.numel() for name, p in named if ".experts." in name),
    }


if __name__ == "__main__":
    json.dump({name: count(config) for name, config in json.load(sys.stdin).items()}, sys.stdout)
