"""`uniform`: the same rank on every targeted module — the baseline every other strategy must beat.

With a budget given as 'rN' this is exactly rank N everywhere; with a count or a fraction, the
largest uniform rank that fits, then single ranks added in module order while the budget allows.
Reference: LoRA, Hu et al. 2021 (arXiv:2106.09685), which uses one rank for every adapted matrix.
"""

from __future__ import annotations

from loralab.modules import TargetModule
from loralab.strategies.base import Budget, RankAllocation, Signals, Strategy, StrategyOptions
from loralab.strategies.budget import allocation_from_weights
from loralab.strategies.registry import register_strategy


@register_strategy("uniform")
class Uniform(Strategy):
    description = "Same rank on every targeted module (the baseline; LoRA, Hu et al. 2021)."

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
        weights = {m.name: 1.0 for m in modules}
        return allocation_from_weights(
            self.name, modules, budget, weights, opts, min_rank=min_rank, max_rank=max_rank
        )
