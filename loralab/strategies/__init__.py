"""Rank-allocation strategies, one per module, registered by name when this package is imported."""

from loralab.strategies import uniform  # noqa: F401  (registers)
from loralab.strategies.base import Budget, RankAllocation, Signals, Strategy, StrategyOptions
from loralab.strategies.budget import allocate_by_weights, resolve_budget
from loralab.strategies.registry import (
    available,
    get_strategy,
    load_strategy_file,
    parse_options,
    register_strategy,
)

__all__ = [
    "Budget",
    "RankAllocation",
    "Signals",
    "Strategy",
    "StrategyOptions",
    "allocate_by_weights",
    "available",
    "get_strategy",
    "load_strategy_file",
    "parse_options",
    "register_strategy",
    "resolve_budget",
]
