"""`attention-heavy`: attention projections get `ratio` times the rank of MLP projections.

LoRA (Hu et al. 2021, arXiv:2106.09685) adapted only the attention weights and found W_q, W_v enough
on GPT-3; this strategy keeps every targeted module but tilts rank toward attention. Rank weight:
`ratio` for the attn family, 1 for mlp and other modules. Its mirror is `mlp-heavy`.
"""

from __future__ import annotations

from pydantic import Field

from loralab.modules import TargetModule
from loralab.strategies.base import Budget, RankAllocation, Signals, Strategy, StrategyOptions
from loralab.strategies.budget import allocation_from_weights, family_weights
from loralab.strategies.registry import register_strategy


class FamilyRatioOptions(StrategyOptions):
    ratio: float = Field(
        2.0, ge=1.0, description="Rank of the favoured family's modules over the other's (1: uniform)."
    )


@register_strategy("attention-heavy")
class AttentionHeavy(Strategy):
    description = "Attention modules get `ratio` times the rank of MLP modules."
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
        weights = family_weights(modules, {"attn": opts.ratio})
        return allocation_from_weights(
            self.name, modules, budget, weights, opts, min_rank=min_rank, max_rank=max_rank
        )
