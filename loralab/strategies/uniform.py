"""`uniform`: the same rank on every targeted module — the baseline every other strategy must beat.

With a budget given as 'rN' this is exactly rank N everywhere; with a count or a fraction, the
largest uniform rank that fits, then single ranks added in module order while the budget allows.
Reference: LoRA, Hu et al. 2021 (arXiv:2106.09685), which uses one rank for every adapted matrix.
"""

from __future__ import annotations

from typing import Any

from loralab.modules import TargetModule
from loralab.strategies.base import Signals, StrategyOptions
from loralab.strategies.registry import register_strategy
from loralab.strategies.weighted import WeightedStrategy


@register_strategy("uniform")
class Uniform(WeightedStrategy):
    description = "Same rank on every targeted module (the baseline; LoRA, Hu et al. 2021)."

    def weights(
        self, modules: list[TargetModule], signals: Signals, options: StrategyOptions
    ) -> tuple[dict[str, float], dict[str, Any]]:
        return {m.name: 1.0 for m in modules}, {}
