"""The attach stage: PEFT adapters shaped by the allocation, the parameter counts and the steps."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from loralab.adapters import attach_lora
from loralab.models import count_parameters
from loralab.run.prepare import Prepared
from loralab.run.resolved import ResolvedRun
from loralab.strategies import RankAllocation


@dataclass
class Attached:
    """The model with its adapters attached, its parameter counts and the run's optimizer steps."""

    model: torch.nn.Module
    trainable_params: int
    total_params: int
    max_steps: int


def attach(run: ResolvedRun, prepared: Prepared, allocation: RankAllocation) -> Attached:
    """Attach PEFT adapters shaped by `allocation` (the strategy's own, if it has some; identity at
    start: B = 0)."""
    model = attach_lora(
        prepared.model,
        allocation,
        run.lora,
        seed=run.seed,
        total_steps=run.total_steps,
        strategy=run.strategy,
    )
    trainable, total = count_parameters(model)
    model.to(prepared.device)
    return Attached(model, trainable, total, run.total_steps)
