"""Learning-rate schedules: linear warmup, then cosine, linear or constant."""

from __future__ import annotations

import math

import torch
from torch.optim.lr_scheduler import LambdaLR


def warmup_steps(total: int, steps: int, ratio: float) -> int:
    """Warmup length: explicit steps plus ratio of the total, at most the total."""
    return min(total, steps + math.ceil(ratio * total))


def lr_lambda(step: int, *, total: int, warmup: int, kind: str) -> float:
    """Multiplier of the peak LR after `step` optimizer steps."""
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    if kind == "constant" or total <= warmup:
        return 1.0
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    if kind == "linear":
        return 1.0 - progress
    return 0.5 * (1.0 + math.cos(math.pi * progress))


def make_scheduler(optimizer: torch.optim.Optimizer, *, total: int, warmup: int, kind: str) -> LambdaLR:
    """A LambdaLR over `total` steps."""
    return LambdaLR(optimizer, lambda s: lr_lambda(s, total=total, warmup=warmup, kind=kind))
