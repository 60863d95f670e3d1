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

This module holds the initial allocation (`init_r` everywhere, `dynamic=True`; what it costs is the
peak trainable count, above the budget by design) and the hooks that hand the run the rest of the
package; the options and the schedule are in `schedule.py`.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from loralab.errors import BudgetError
from loralab.modules import TargetModule
from loralab.strategies.adalora.schedule import (
    E_PARAMS_PER_RANK,
    AdaLoraOptions,
    adalora_rank_cost,
    adalora_schedule,
)
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
