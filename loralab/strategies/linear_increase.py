"""`linear-increase`: rank grows linearly with depth, `ratio` times more rank in the last targeted layer
than in the first.

The idea is that later layers are the most task-specific, so adapting them needs the most capacity;
it mirrors `linear-decay`. Rank weight w(x) = 1 + (ratio - 1) * x at relative depth x in [0, 1].
"""

from __future__ import annotations

from loralab.modules import TargetModule
from loralab.strategies.base import Budget, RankAllocation, Signals, Strategy, StrategyOptions
from loralab.strategies.budget import allocation_from_weights, linear_depth_weights
from loralab.strategies.linear_decay import LinearDepthOptions
from loralab.strategies.registry import register_strategy


@register_strategy("linear-increase")
class LinearIncrease(Strategy):
    description = "Rank grows linearly with depth: the last layer gets `ratio` times the first's."
    Options = LinearDepthOptions

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
        weights = linear_depth_weights(modules, first=1.0, last=opts.ratio)
        return allocation_from_weights(
            self.name, modules, budget, weights, opts, min_rank=min_rank, max_rank=max_rank
        )
