"""A second strategy for study tests, loaded with --strategy-file: twice the weight on attention."""

from __future__ import annotations

from loralab.modules import TargetModule
from loralab.strategies import Budget, RankAllocation, Signals, Strategy, StrategyOptions, register_strategy
from loralab.strategies.budget import allocation_from_weights


@register_strategy("test_attn_double")
class AttnDouble(Strategy):
    description = "Test strategy: rank weight 2 on attention modules, 1 elsewhere."

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
        weights = {m.name: 2.0 if m.kind.startswith("attn") else 1.0 for m in modules}
        return allocation_from_weights(
            self.name, modules, budget, weights, opts, min_rank=min_rank, max_rank=max_rank
        )
