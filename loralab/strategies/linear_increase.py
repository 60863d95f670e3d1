"""`linear-increase`: rank grows linearly with depth, `ratio` times more rank in the last targeted layer
than in the first.

The idea is that later layers are the most task-specific, so adapting them needs the most capacity;
it mirrors `linear-decay`. Rank weight w(x) = 1 + (ratio - 1) * x at relative depth x in [0, 1].
"""

from __future__ import annotations

from typing import Any

from loralab.modules import TargetModule
from loralab.strategies.base import Signals
from loralab.strategies.budget import linear_depth_weights
from loralab.strategies.linear_decay import LinearDepthOptions
from loralab.strategies.registry import register_strategy
from loralab.strategies.weighted import WeightedStrategy


@register_strategy("linear-increase")
class LinearIncrease(WeightedStrategy):
    description = "Rank grows linearly with depth: the last layer gets `ratio` times the first's."
    Options = LinearDepthOptions

    def weights(
        self, modules: list[TargetModule], signals: Signals, options: LinearDepthOptions
    ) -> tuple[dict[str, float], dict[str, Any]]:
        return linear_depth_weights(modules, first=1.0, last=options.ratio), {}
