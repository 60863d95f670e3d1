"""`WeightedStrategy`: a static strategy defined only by its rank weights.

Most static strategies differ only in how much rank each module should get relative to the others.
They subclass `WeightedStrategy` and implement `weights`; its `allocate` resolves the options, asks
for the weights and turns them into integer ranks within the budget (`budget.allocation_from_weights`,
which also records the weights and the details in the allocation). This lives apart from base.py
because budget.py imports base.py.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from loralab.modules import TargetModule
from loralab.strategies.base import Budget, RankAllocation, Signals, Strategy, StrategyOptions
from loralab.strategies.budget import allocation_from_weights


class WeightedStrategy(Strategy, ABC):
    """A static strategy whose ranks are proportional to `weights`; subclasses implement only that."""

    @abstractmethod
    def weights(
        self, modules: list[TargetModule], signals: Signals, options: Any
    ) -> tuple[dict[str, float], dict[str, Any]]:
        """Rank weight per module name (rank ~ weight, >= 0) and JSON-able details to record ({} if none).

        `options` is this strategy's resolved `Options` instance.
        """

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
        """Integer ranks proportional to `weights`, within `budget` and the rank caps."""
        opts = self.resolve_options(options)
        weights, details = self.weights(modules, signals, opts)
        return allocation_from_weights(
            self.name,
            modules,
            budget,
            weights,
            opts,
            min_rank=min_rank,
            max_rank=max_rank,
            details=details,
        )
