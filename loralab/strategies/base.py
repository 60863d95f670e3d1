"""The strategy contract: plain data in (`TargetModule`s, a `Budget`, `Signals`), a `RankAllocation` out.

A static strategy is a pure function of its inputs. Data-driven strategies declare the signals they
need (`needs`), which the pipeline measures once before allocation. Dynamic strategies (AdaLoRA) set
`dynamic = True` and are driven by the training loop through a callback.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from loralab.modules import TargetModule


@dataclass(frozen=True)
class Budget:
    """Trainable LoRA parameters allowed (`params`), as given (`spec`), and r_ref for alpha scaling."""

    params: int
    spec: str
    reference_rank: int


@dataclass(frozen=True)
class Signals:
    """Measurements some strategies allocate from, keyed by module name; `seed` for random ones."""

    seed: int = 0
    importance: dict[str, float] | None = None  # e.g. gradient sensitivity per module
    spectra: dict[str, list[float]] | None = None  # singular values of each pretrained weight
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RankAllocation:
    """Module name -> integer rank (0: no adapter), with the modules and budget it was made for."""

    ranks: dict[str, int]
    modules: tuple[TargetModule, ...]
    budget: Budget
    strategy: str

    @property
    def params(self) -> int:
        """Trainable parameters of this allocation: sum of r * (d_in + d_out)."""
        return sum(self.ranks[m.name] * m.cost_per_rank for m in self.modules)

    @property
    def active(self) -> list[TargetModule]:
        """Modules that get an adapter (rank > 0)."""
        return [m for m in self.modules if self.ranks[m.name] > 0]

    def to_dict(self) -> dict[str, Any]:
        """JSON-able record for allocation.json."""
        return {
            "strategy": self.strategy,
            "budget": {"spec": self.budget.spec, "params": self.budget.params},
            "achieved_params": self.params,
            "budget_ratio": self.params / self.budget.params if self.budget.params else None,
            "modules": [
                {**m.to_dict(), "rank": self.ranks[m.name], "cost": self.ranks[m.name] * m.cost_per_rank}
                for m in self.modules
            ],
        }


class StrategyOptions(BaseModel):
    """Base of every strategy's options model: frozen, unknown keys rejected."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Strategy:
    """A rank-allocation strategy. Subclasses set the class attributes and implement `allocate`."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    dynamic: ClassVar[bool] = False
    needs: ClassVar[frozenset[str]] = frozenset()  # signal names: "importance", "spectra"
    Options: ClassVar[type[StrategyOptions]] = StrategyOptions

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
        """Return integer ranks for `modules` whose cost is within `budget`."""
        raise NotImplementedError
