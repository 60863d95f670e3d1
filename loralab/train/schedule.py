"""Learning-rate schedules: linear warmup, then cosine, linear or constant.

Our own rather than `transformers.get_scheduler`: its warmup multiplies the first step's LR by
step / warmup = 0 (a wasted step), ours by (step + 1) / warmup, so the first step already learns.
Switching would change every run's numbers, and seeded runs are compared bit for bit; the library
helper does not match, so it is not used.
"""

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
        return (step + 1) / warmup  # not step / warmup (transformers): the first step is not at LR 0
    if kind == "constant" or total <= warmup:
        return 1.0
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    if kind == "linear":
        return 1.0 - progress
    return 0.5 * (1.0 + math.cos(math.pi * progress))


def make_scheduler(optimizer: torch.optim.Optimizer, *, total: int, warmup: int, kind: str) -> LambdaLR:
    """A LambdaLR over `total` steps."""
    return LambdaLR(optimizer, lambda s: lr_lambda(s, total=total, warmup=warmup, kind=kind))
