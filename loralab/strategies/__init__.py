"""Rank-allocation strategies, one per module, registered by name when this package is imported.

A static strategy that only decides how much rank each module gets relative to the others subclasses
`WeightedStrategy` and implements `weights`; the budget, rank caps and integer rounding are done for it.
A user strategy (a `--strategy-file` or a `loralab.strategies` entry point) looks like this:

    from pydantic import Field
    from loralab.strategies import StrategyOptions, WeightedStrategy, register_strategy

    class FirstLayerOptions(StrategyOptions):
        first: float = Field(5.0, description="Rank weight of layer-0 modules (others get 1).")

    @register_strategy("first-layer")
    class FirstLayer(WeightedStrategy):
        description = "More rank on layer 0."
        Options = FirstLayerOptions

        def weights(self, modules, signals, options):
            return {m.name: options.first if m.layer == 0 else 1.0 for m in modules}, {}

`weights` returns a rank weight per module name (rank ~ weight) and a JSON-able dict of details for
allocation.json ({} if none); `options` is already this strategy's Options. Strategies that need a
measured signal set `needs` and read it from `signals`. Anything else subclasses `Strategy` and
implements `allocate` itself.

A dynamic strategy, which changes ranks while training, also implements the `Strategy` hooks
`peft_config`, `training_callback` (a `RankCallback`, built on `loralab.callbacks.Callback`) and
`extra_loss`; the run calls them for every strategy and never names one. AdaLoRA (the `adalora`
package) is the built-in example; `tests/strategies/dynamic_plugin.py` a small plug-in.
"""

from loralab.strategies import (  # noqa: F401  (each registers its strategy)
    adalora,
    attention_heavy,
    gradient,
    linear_decay,
    linear_increase,
    middle_heavy,
    mlp_heavy,
    random_dirichlet,
    spectrum,
    uniform,
)
from loralab.strategies.base import (
    KNOWN_SIGNALS,
    Budget,
    RankAllocation,
    RankCallback,
    Signals,
    Strategy,
    StrategyOptions,
)
from loralab.strategies.budget import (
    BudgetShortfallWarning,
    allocate_by_weights,
    allocation_from_weights,
    resolve_budget,
    tolerance,
)
from loralab.strategies.registry import (
    available,
    get_strategy,
    load_strategy_file,
    parse_options,
    register_strategy,
    strategy_class,
)
from loralab.strategies.weighted import WeightedStrategy

__all__ = [
    "KNOWN_SIGNALS",
    "Budget",
    "BudgetShortfallWarning",
    "RankAllocation",
    "RankCallback",
    "Signals",
    "Strategy",
    "StrategyOptions",
    "WeightedStrategy",
    "allocate_by_weights",
    "allocation_from_weights",
    "available",
    "get_strategy",
    "load_strategy_file",
    "parse_options",
    "register_strategy",
    "resolve_budget",
    "strategy_class",
    "tolerance",
]
