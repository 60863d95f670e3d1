"""Rank-allocation strategies, one per module, registered by name when this package is imported.

AdaLoRA's PEFT config (`loralab.adapters.build_adalora_config`) and its training callback
(`loralab.train.adalora`) live with the stages that use them; strategies only allocate.
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

__all__ = [
    "KNOWN_SIGNALS",
    "Budget",
    "BudgetShortfallWarning",
    "RankAllocation",
    "Signals",
    "Strategy",
    "StrategyOptions",
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
