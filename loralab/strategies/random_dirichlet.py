"""`random`: a random split of the budget — the control that tells whether a structured strategy beats
an arbitrary non-uniform one.

Budget shares s ~ Dirichlet(concentration * 1) over the modules, drawn from `signals.seed` (the run
seed, offset by `seed_offset`), become rank weights s_i / cost_i, so each module gets about share s_i
of the budget. The same seed gives the same allocation. A large concentration approaches an equal
split of the budget (not of rank); a small one puts most of it on a few modules.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import Field

from loralab.modules import TargetModule
from loralab.strategies.base import Signals, StrategyOptions
from loralab.strategies.budget import shares_to_rank_weights
from loralab.strategies.registry import register_strategy
from loralab.strategies.weighted import WeightedStrategy


class RandomOptions(StrategyOptions):
    concentration: float = Field(
        1.0, gt=0.0, description="Dirichlet concentration: large -> near-equal shares, small -> spiky."
    )
    seed_offset: int = Field(
        0, ge=0, description="Added to the run seed, to draw a different allocation at the same seed."
    )


@register_strategy("random")
class RandomDirichlet(WeightedStrategy):
    description = "Random budget shares per module from a seeded Dirichlet (the non-uniform control)."
    Options = RandomOptions

    def weights(
        self, modules: list[TargetModule], signals: Signals, options: RandomOptions
    ) -> tuple[dict[str, float], dict[str, Any]]:
        seed = int(signals.seed) + options.seed_offset
        # A seed sequence keyed by a fixed tag keeps this stream apart from other users of the run seed.
        rng = np.random.default_rng([seed & 0xFFFFFFFF, 0x52414E44])
        draw = rng.dirichlet(np.full(len(modules), options.concentration))
        shares = {m.name: float(s) for m, s in zip(modules, draw, strict=True)}
        return shares_to_rank_weights(shares, modules), {"seed": seed, "shares": shares}
