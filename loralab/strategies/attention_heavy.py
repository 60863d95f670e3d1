"""`attention-heavy`: attention projections get `ratio` times the rank of MLP projections.

LoRA (Hu et al. 2021, arXiv:2106.09685) adapted only the attention weights and found W_q, W_v enough
on GPT-3; this strategy keeps every targeted module but tilts rank toward attention. Rank weight:
`ratio` for the attn family, 1 for mlp and other modules. Its mirror is `mlp-heavy`.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from loralab.modules import TargetModule
from loralab.strategies.base import Signals, StrategyOptions
from loralab.strategies.budget import family_weights
from loralab.strategies.registry import register_strategy
from loralab.strategies.weighted import WeightedStrategy


class FamilyRatioOptions(StrategyOptions):
    ratio: float = Field(
        2.0, ge=1.0, description="Rank of the favoured family's modules over the other's (1: uniform)."
    )


@register_strategy("attention-heavy")
class AttentionHeavy(WeightedStrategy):
    description = "Attention modules get `ratio` times the rank of MLP modules."
    Options = FamilyRatioOptions

    def weights(
        self, modules: list[TargetModule], signals: Signals, options: FamilyRatioOptions
    ) -> tuple[dict[str, float], dict[str, Any]]:
        return family_weights(modules, {"attn": options.ratio}), {}
