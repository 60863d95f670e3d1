"""`middle-heavy`: a bump of extra rank over the middle layers.

Rank weight 1 + (ratio - 1) * bump(x) at relative depth x in [0, 1], where bump is a Gaussian with
standard deviation `width` (or a triangle of half-width `width`) centred at `center`; so the peak
layer gets up to `ratio` times the rank of layers far from it. The hypothesis is that intermediate
layers carry the most transferable features; no single paper establishes it for LoRA, so it is
tested here against the linear depth profiles.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from loralab.modules import TargetModule
from loralab.strategies.base import Budget, RankAllocation, Signals, Strategy, StrategyOptions
from loralab.strategies.budget import allocation_from_weights, bump_depth_weights
from loralab.strategies.registry import register_strategy


class MiddleHeavyOptions(StrategyOptions):
    ratio: float = Field(3.0, ge=1.0, description="Rank weight at the bump's peak over far layers.")
    center: float = Field(
        0.5, ge=0.0, le=1.0, description="Peak position as relative depth (0 first, 1 last)."
    )
    width: float = Field(
        0.25, gt=0.0, description="Gaussian sd (or triangle half-width) of the bump, in relative depth."
    )
    shape: Literal["gaussian", "triangular"] = Field("gaussian", description="Bump shape.")


@register_strategy("middle-heavy")
class MiddleHeavy(Strategy):
    description = "A bump of extra rank over the middle layers (Gaussian or triangular in depth)."
    Options = MiddleHeavyOptions

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
        weights = bump_depth_weights(
            modules, ratio=opts.ratio, center=opts.center, width=opts.width, shape=opts.shape
        )
        return allocation_from_weights(
            self.name, modules, budget, weights, opts, min_rank=min_rank, max_rank=max_rank
        )
