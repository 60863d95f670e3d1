"""AdaLoRA's options and schedule: what the PEFT config, the callback and the initial allocation share.

Its own module so that `strategy.py` (which hands out the hooks) and the hook modules
(`peft_config.py`, `callback.py`) both import it, and not each other.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from pydantic import Field

from loralab.errors import StrategyError
from loralab.modules import TargetModule
from loralab.strategies.base import RankAllocation, StrategyOptions

E_PARAMS_PER_RANK = 1  # AdaLoRA's singular value E: one trainable parameter per rank


class AdaLoraOptions(StrategyOptions):
    init_r: int | None = Field(
        None,
        ge=1,
        description="Initial rank of every module; None: ceil(init_ratio x the budget's uniform rank).",
    )
    init_ratio: float = Field(
        1.5, gt=1.0, description="init_r over the uniform rank the budget buys (PEFT's 12 vs 8 is 1.5)."
    )
    tinit: float = Field(
        0.1, ge=0.0, lt=1.0, description="Warm-up before any masking, as a fraction of steps."
    )
    tfinal: float = Field(
        0.3, gt=0.0, lt=1.0, description="Final steps that train the fixed final pattern, as a fraction."
    )
    delta_t: int | None = Field(
        None,
        ge=1,
        description="Steps between re-allocations; None: 1/20 of the budgeting phase (at least 1).",
    )
    beta1: float = Field(0.85, gt=0.0, lt=1.0, description="EMA coefficient of the sensitivity.")
    beta2: float = Field(0.85, gt=0.0, lt=1.0, description="EMA coefficient of the uncertainty.")
    orth_reg_weight: float = Field(0.5, ge=0.0, description="Weight of the orthogonality penalty on P and Q.")
    budget_mode: Literal["params", "ranks"] = Field(
        "params", description="params: final cost <= budget; ranks: PEFT's triplet budget (cost may differ)."
    )
    trajectory_every: int = Field(10, ge=1, description="Record the rank pattern every N steps.")


@dataclass(frozen=True)
class AdaLoraSchedule:
    """Everything the PEFT config and the callback need, derived from an allocation and the step count."""

    init_r: int
    total_step: int
    tinit: int
    tfinal: int
    delta_t: int
    budget_mode: str
    final_params: int  # parameter budget of the final pattern (budget_mode params)
    final_total_rank: int  # triplet budget (budget_mode ranks)
    min_rank: int
    beta1: float
    beta2: float
    orth_reg_weight: float
    trajectory_every: int

    @property
    def final_mask_step(self) -> int:
        """The (0-based) PEFT step at which the final pattern is fixed."""
        return self.total_step - self.tfinal


def adalora_rank_cost(m: TargetModule) -> int:
    """Parameters one AdaLoRA rank of `m` costs: d_in + d_out + 1."""
    return m.cost_per_rank + E_PARAMS_PER_RANK


def adalora_schedule(allocation: RankAllocation, total_step: int) -> AdaLoraSchedule:
    """The AdaLoRA schedule of an `adalora` allocation for a run of `total_step` optimizer steps."""
    if not allocation.dynamic or allocation.strategy != "adalora":
        raise StrategyError(f"an AdaLoRA schedule needs an 'adalora' allocation, not {allocation.strategy!r}")
    opts = AdaLoraOptions.model_validate(allocation.options)
    if total_step < 2:
        raise StrategyError(
            f"adalora needs at least 2 optimizer steps to prune and fine-tune; got {total_step}"
        )
    tinit = round(opts.tinit * total_step)
    tfinal = max(1, round(opts.tfinal * total_step))
    if tinit >= total_step - tfinal:
        raise StrategyError(
            f"adalora options tinit={opts.tinit} and tfinal={opts.tfinal} leave no budgeting phase in"
            f" {total_step} steps; lower them or train longer"
        )
    budgeting = total_step - tfinal - tinit
    modules = list(allocation.modules)
    mean_cost = sum(adalora_rank_cost(m) for m in modules) / len(modules)
    return AdaLoraSchedule(
        init_r=int(allocation.details["init_r"]),
        total_step=total_step,
        tinit=tinit,
        tfinal=tfinal,
        delta_t=opts.delta_t or max(1, budgeting // 20),
        budget_mode=opts.budget_mode,
        final_params=allocation.budget.params,
        final_total_rank=math.floor(allocation.budget.params / mean_cost),
        min_rank=int(allocation.details.get("min_rank", 0)),
        beta1=opts.beta1,
        beta2=opts.beta2,
        orth_reg_weight=opts.orth_reg_weight,
        trajectory_every=opts.trajectory_every,
    )
