"""`middle-heavy`: a bump of extra rank over the middle layers.

Rank weight 1 + (ratio - 1) * bump(x) at relative depth x in [0, 1], where bump is a Gaussian with
standard deviation `width` (or a triangle of half-width `width`) centred at `center`; so the peak
layer gets up to `ratio` times the rank of layers far from it. The hypothesis is that intermediate
layers carry the most transferable features; no single paper establishes it for LoRA, so it is
tested here against the linear depth profiles.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from loralab.modules import TargetModule
from loralab.strategies.base import Signals, StrategyOptions
from loralab.strategies.budget import bump_depth_weights
from loralab.strategies.registry import register_strategy
from loralab.strategies.weighted import WeightedStrategy


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
class MiddleHeavy(WeightedStrategy):
    description = "A bump of extra rank over the middle layers (Gaussian or triangular in depth)."
    Options = MiddleHeavyOptions

    def weights(
        self, modules: list[TargetModule], signals: Signals, options: MiddleHeavyOptions
    ) -> tuple[dict[str, float], dict[str, Any]]:
        weights = bump_depth_weights(
            modules, ratio=options.ratio, center=options.center, width=options.width, shape=options.shape
        )
        return weights, {}
