"""`mlp-heavy`: MLP projections get `ratio` times the rank of attention projections.

He et al. 2022 ("Towards a Unified View of Parameter-Efficient Transfer Learning", ICLR) found that
modifying the feed-forward sublayer uses added parameters more effectively than modifying attention
at larger budgets. Rank weight: `ratio` for the mlp family, 1 for attn and other modules.
"""

from __future__ import annotations

from typing import Any

from loralab.modules import TargetModule
from loralab.strategies.attention_heavy import FamilyRatioOptions
from loralab.strategies.base import Signals
from loralab.strategies.budget import family_weights
from loralab.strategies.registry import register_strategy
from loralab.strategies.weighted import WeightedStrategy


@register_strategy("mlp-heavy")
class MlpHeavy(WeightedStrategy):
    description = "MLP modules get `ratio` times the rank of attention modules."
    Options = FamilyRatioOptions

    def weights(
        self, modules: list[TargetModule], signals: Signals, options: FamilyRatioOptions
    ) -> tuple[dict[str, float], dict[str, Any]]:
        return family_weights(modules, {"mlp": options.ratio}), {}
