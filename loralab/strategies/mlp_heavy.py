"""`mlp-heavy`: MLP projections get `ratio` times the rank of attention projections.

He et al. 2022 ("Towards a Unified View of Parameter-Efficient Transfer Learning", ICLR) found that
modifying the feed-forward sublayer uses added parameters more effectively than modifying attention
at larger budgets. Rank weight: `ratio` for the mlp family, 1 for attn and other modules.
"""

from __future__ import annotations

from loralab.modules import TargetModule
from loralab.strategies.attention_heavy import FamilyRatioOptions
from loralab.strategies.base import Budget, RankAllocation, Signals, Strategy, StrategyOptions
from loralab.strategies.budget import allocation_from_weights, family_weights
from loralab.strategies.registry import register_strategy


@register_strategy("mlp-heavy")
class MlpHeavy(Strategy):
    description = "MLP modules get `ratio` times the rank of attention modules."
    Options = FamilyRatioOptions

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
        weights = family_weights(modules, {"mlp": opts.ratio})
        return allocation_from_weights(
            self.name, modules, budget, weights, opts, min_rank=min_rank, max_rank=max_rank
        )
