"""Switches that change how fast a step runs, not what it computes (up to float rounding).

Each is a `TrainConfig` field, off by default, measured as its own line by `benchmarks/throughput.py`:
the AdamW implementation, activation checkpointing (memory for recompute) and `torch.compile` of the
transformer body (the masked-logits head stays eager: its shape changes every batch).
"""

from __future__ import annotations

import torch
from torch import nn

from loralab.config import TrainConfig
from loralab.nll import backbone_and_head


def make_optimizer(params: list[torch.Tensor], cfg: TrainConfig) -> torch.optim.Optimizer:
    """AdamW over `params` in the configured implementation."""
    kind = {"adamw": {}, "adamw_foreach": {"foreach": True}, "adamw_fused": {"fused": True}}[cfg.optimizer]
    return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay, **kind)


def apply_speedups(model: nn.Module, cfg: TrainConfig) -> None:
    """Turn on activation checkpointing and compilation as `cfg` says (in place)."""
    hf = model.get_base_model() if hasattr(model, "get_base_model") else model
    if cfg.activation_checkpointing:
        # non-reentrant: frozen inputs need no requires_grad trick, and dropout's RNG is replayed
        hf.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
    if cfg.compile:
        body, _ = backbone_and_head(model)
        body.compile(dynamic=True)  # lengths vary per batch: one dynamic graph, not one per shape
