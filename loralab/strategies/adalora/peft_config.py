"""AdaLoRA's PEFT config, built from an `adalora` allocation and the run's step count."""

from __future__ import annotations

import re

from peft import AdaLoraConfig

from loralab.strategies.adalora.schedule import adalora_schedule
from loralab.strategies.base import RankAllocation


def build_adalora_config(
    allocation: RankAllocation,
    total_step: int,
    *,
    alpha: float,
    dropout: float,
    fan_in_fan_out: bool = False,
    task_type: str | None = "CAUSAL_LM",
) -> AdaLoraConfig:
    """PEFT AdaLoraConfig for an `adalora` allocation: exact module names, init_r, schedule from steps.

    `alpha` is PEFT's lora_alpha; AdaLoRA scales by alpha / init_r throughout, so pass
    alpha_ref * init_r / r_ref to keep the uniform baseline's scaling alpha_ref / r_ref.
    """
    s = adalora_schedule(allocation, total_step)
    names = [m.name for m in allocation.modules]
    return AdaLoraConfig(
        init_r=s.init_r,
        # PEFT sizes its triplet budget as target_r x modules; the callback's allocator replaces it.
        target_r=max(1, s.final_total_rank // len(names)),
        tinit=s.tinit,
        tfinal=s.tfinal,
        deltaT=s.delta_t,
        beta1=s.beta1,
        beta2=s.beta2,
        orth_reg_weight=s.orth_reg_weight,
        total_step=s.total_step,
        target_modules="^(?:" + "|".join(re.escape(n) for n in names) + ")$",
        lora_alpha=alpha,
        lora_dropout=dropout,
        fan_in_fan_out=fan_in_fan_out,
        bias="none",
        task_type=task_type,
    )
