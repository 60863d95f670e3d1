"""`adalora`: ranks decided during training (AdaLoRA, Zhang et al. 2023, "Adaptive Budget Allocation for
Parameter-Efficient Fine-Tuning", ICLR; arXiv:2303.10512).

Every module starts at `init_r` in SVD form P diag(E) Q. During training each singular triplet is
scored by the smoothed sensitivity |w * dL/dw| times its uncertainty, and the lowest-scoring ones are
masked while the budget shrinks on a cubic schedule from the initial one to the final one between
steps `tinit` and `total_step - tfinal`; the last `tfinal` steps train the final pattern.

Equal budgets. PEFT's AdaLoRA counts its budget in triplets (target_r x modules), but one rank costs
d_in + d_out + 1 parameters (the +1 is E) and that differs between modules, so a triplet budget does
not fix the parameter count. With `budget_mode: params` (default) the budget is in parameters: the
triplets are kept in order of score while they fit (keeping the top `min_rank` of each module first),
so the final adapters cost at most the run's budget and, in practice, within its tolerance. This is
AdaLoRA's rule where all modules cost the same, and its natural extension where they do not.
`budget_mode: ranks` keeps PEFT's triplet budget (sized so that a uniform outcome would cost the
budget) and records what the final ranks cost, which may exceed the budget.

This module holds the options, the schedule, the initial allocation (`init_r` everywhere,
`dynamic=True`; what it costs is the peak trainable count, above the budget by design) and the hooks
that hand the run the rest of the package.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from loralab.errors import BudgetError, StrategyError
from loralab.modules import TargetModule
from loralab.strategies.alpha import module_alpha
from loralab.strategies.base import (
    Budget,
    RankAllocation,
    RankCallback,
    Signals,
    Strategy,
    StrategyOptions,
)
from loralab.strategies.budget import rank_caps
from loralab.strategies.registry import register_strategy

if TYPE_CHECKING:
    from loralab.config import LoraConfig

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


@register_strategy("adalora")
class AdaLora(Strategy):
    description = "AdaLoRA (Zhang et al. 2023): prune SVD triplets by sensitivity during training."
    Options = AdaLoraOptions
    dynamic = True

    def allocate(
        self,
        modules: list[TargetModule],
        budget: Budget,
        signals: Signals,
        options: StrategyOptions,
        *,
        min_rank: int = 0,
        max_rank: int | None = None,
    ) -> RankAllocation:
        opts = self.resolve_options(options)
        per_rank = sum(adalora_rank_cost(m) for m in modules)
        uniform_rank = budget.params / per_rank
        cap = min(rank_caps(modules, max_rank).values())
        init_r = opts.init_r or max(math.ceil(opts.init_ratio * uniform_rank), math.floor(uniform_rank) + 1)
        init_r = min(init_r, cap)
        if init_r * per_rank <= budget.params:
            raise BudgetError(
                f"adalora: init_r={init_r} on every module costs {init_r * per_rank} parameters, not above"
                f" the budget {budget.spec} = {budget.params}, so there is nothing to prune; raise"
                " strategy_options.init_r (or lora.max_rank) or lower the budget"
            )
        if min_rank > init_r:
            raise BudgetError(f"adalora: lora.min_rank={min_rank} is above init_r={init_r}; lower min_rank")
        if min_rank * per_rank > budget.params:
            raise BudgetError(
                f"lora.min_rank={min_rank} on every module costs {min_rank * per_rank} parameters, above the"
                f" budget {budget.spec} = {budget.params}; lower min_rank or raise the budget"
            )
        return RankAllocation(
            ranks={m.name: init_r for m in modules},
            modules=tuple(modules),
            budget=budget,
            strategy=self.name,
            options=opts.model_dump(mode="json"),
            dynamic=True,
            extra_params_per_rank=E_PARAMS_PER_RANK,
            details={
                "init_r": init_r,
                "min_rank": min_rank,
                "max_rank": max_rank,
                "uniform_rank": uniform_rank,
                "peak_params": init_r * per_rank,
            },
        )

    def peft_config(
        self, allocation: RankAllocation, total_steps: int, lora: LoraConfig, *, fan_in_fan_out: bool
    ) -> Any:
        """PEFT's AdaLoraConfig, with alpha keeping the uniform baseline's scaling alpha / r_ref."""
        from loralab.strategies.adalora.peft_config import build_adalora_config

        init_r = adalora_schedule(allocation, total_steps).init_r
        # AdaLoRA scales by alpha / init_r: keep the baseline's alpha / r_ref under the ratio policy.
        alpha = module_alpha(init_r, allocation.budget.reference_rank, lora)
        return build_adalora_config(
            allocation, total_steps, alpha=alpha, dropout=lora.dropout, fan_in_fan_out=fan_in_fan_out
        )

    def training_callback(self, allocation: RankAllocation, total_steps: int) -> RankCallback:
        """The callback that masks triplets by score and records the trajectory."""
        from loralab.strategies.adalora.callback import AdaLoraCallback

        return AdaLoraCallback(allocation, total_steps)

    def extra_loss(self, model: Any) -> Any | None:
        """The weighted orthogonality penalty on P and Q."""
        from loralab.strategies.adalora.loss import adalora_orth_loss

        return adalora_orth_loss(model)
