"""`gradient`: rank where the pretrained weights are most sensitive to the task's loss.

Importance I_i of module i is measured once on a few training batches before any adapter exists
(`loralab.signals.measure_gradient_importance`): the first-order Taylor score sum |W * dL/dW|
(Molchanov et al. 2019, "Importance Estimation for Neural Network Pruning"; AdaLoRA's sensitivity,
Zhang et al. 2023) or the diagonal empirical Fisher sum (dL/dW)^2 (as in EWC, Kirkpatrick et al. 2017).
Both sum over a module's weights, so they grow with its size; dividing by the cost of one rank
(d_in + d_out) makes them comparable per unit of budget. Ranks are then ~ (I_i / cost_i)^temperature:
temperature 0 is uniform rank, 1 gives each module a share of the budget proportional to I_i, and
values in between soften the measurement's noise.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import Field

from loralab.errors import StrategyError
from loralab.modules import TargetModule
from loralab.strategies.base import Signals, StrategyOptions
from loralab.strategies.budget import per_rank_cost
from loralab.strategies.registry import register_strategy
from loralab.strategies.weighted import WeightedStrategy


class GradientOptions(StrategyOptions):
    method: Literal["taylor", "fisher"] = Field(
        "taylor", description="taylor: sum |W * grad W|; fisher: sum (grad W)^2 (diagonal empirical Fisher)."
    )
    n_batches: int = Field(8, ge=1, description="Training batches the importance is averaged over.")
    temperature: float = Field(
        1.0,
        ge=0.0,
        description="Exponent on importance per rank cost: 0 uniform, 1 budget share ~ importance.",
    )


def require_signal(
    values: dict[str, Any] | None, modules: list[TargetModule], signal: str, strategy: str
) -> None:
    """Raise a StrategyError naming the first module that `values` (a measured signal) lacks."""
    missing = [m.name for m in modules if values is None or m.name not in values]
    if missing:
        raise StrategyError(
            f"strategy {strategy!r} needs signals.{signal} for every module (missing {missing[0]!r});"
            f" measure it with loralab.signals before allocating"
        )


@register_strategy("gradient")
class Gradient(WeightedStrategy):
    description = "Rank ~ (gradient importance per rank cost)^temperature, measured on a few batches."
    Options = GradientOptions
    needs = frozenset({"importance"})

    def signal_options(self, options: StrategyOptions | None = None) -> dict[str, Any]:
        opts = self.resolve_options(options)
        return {"method": opts.method, "n_batches": opts.n_batches}

    def weights(
        self, modules: list[TargetModule], signals: Signals, options: GradientOptions
    ) -> tuple[dict[str, float], dict[str, Any]]:
        require_signal(signals.importance, modules, "importance", self.name)
        importance = {m.name: float(signals.importance[m.name]) for m in modules}  # type: ignore[index]
        bad = [n for n, v in importance.items() if not math.isfinite(v) or v < 0]
        if bad:
            raise StrategyError(
                f"importance of {bad[0]!r} is {importance[bad[0]]}; it must be finite and >= 0"
            )
        per_cost = per_rank_cost(importance, modules)
        if options.temperature == 0:
            weights = {n: 1.0 for n in per_cost}
        else:
            top = max(per_cost.values())
            # Normalise before the power so tiny raw values do not underflow to an all-zero weighting.
            weights = {n: (v / top) ** options.temperature if top > 0 else 1.0 for n, v in per_cost.items()}
        return weights, {"importance": importance}
