"""`linear-decay`: rank falls linearly with depth, `ratio` times more rank in the first targeted layer
than in the last.

The idea is that early layers hold general features that the new task must reshape most. No single
paper establishes it for instruction tuning; it is one side of the depth question this project asks
(its mirror is `linear-increase`). Rank weight w(x) = ratio + (1 - ratio) * x at relative depth
x in [0, 1], so before rounding and caps rank(first) / rank(last) = ratio.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from loralab.modules import TargetModule
from loralab.strategies.base import Signals, StrategyOptions
from loralab.strategies.budget import linear_depth_weights
from loralab.strategies.registry import register_strategy
from loralab.strategies.weighted import WeightedStrategy


class LinearDepthOptions(StrategyOptions):
    ratio: float = Field(
        3.0, ge=1.0, description="Rank weight of the heavier end over the lighter end (1: uniform)."
    )


@register_strategy("linear-decay")
class LinearDecay(WeightedStrategy):
    description = "Rank falls linearly with depth: the first layer gets `ratio` times the last's."
    Options = LinearDepthOptions

    def weights(
        self, modules: list[TargetModule], signals: Signals, options: LinearDepthOptions
    ) -> tuple[dict[str, float], dict[str, Any]]:
        return linear_depth_weights(modules, first=options.ratio, last=1.0), {}
