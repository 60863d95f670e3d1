"""The strategy contract: plain data in (`TargetModule`s, a `Budget`, `Signals`), a `RankAllocation` out.

A static strategy is a pure function of its inputs. Data-driven strategies declare the signals they
need (`needs`), which the pipeline measures once before allocation (`signal_options` says how).
Dynamic strategies (AdaLoRA) set `dynamic = True`: their allocation is the *initial* one, and they
change ranks during training through three optional hooks, which the run calls for every strategy
(the defaults do nothing): `peft_config` (the adapters to attach), `training_callback` (a
`RankCallback` the loop drives, which reports the final ranks, the peak and a trajectory) and
`extra_loss` (a term added to the training loss). Their budget is checked on the final ranks.

The budget invariant, for every static allocation:
`budget - max(1% of budget, one rank of the cheapest module) <= params <= budget`. When the rank caps
(`min(d_in, d_out)`, `lora.max_rank`) make that unreachable, the allocation spends what the caps allow,
says why in `note`, and `budget_status` is `UNDER` instead of `PASS`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict

from loralab.callbacks import Callback
from loralab.errors import StrategyError
from loralab.modules import TargetModule

if TYPE_CHECKING:
    from loralab.config import LoraConfig


@dataclass(frozen=True)
class Budget:
    """Trainable LoRA parameters allowed (`params`), as given (`spec`), and r_ref for alpha scaling."""

    params: int
    spec: str
    reference_rank: int


KNOWN_SIGNALS = ("importance", "spectra")  # what the pipeline can measure (loralab.signals)


@dataclass(frozen=True)
class Signals:
    """Measurements some strategies allocate from, keyed by module name; `seed` for random ones."""

    seed: int = 0
    importance: dict[str, float] | None = None  # e.g. gradient sensitivity per module
    spectra: dict[str, list[float]] | None = None  # singular values of each pretrained weight
    extra: dict[str, Any] = field(default_factory=dict)


def tolerance_params(budget_params: int, cheapest_rank_cost: int) -> int:
    """How far below a budget an allocation may land: max(1% of it, one rank of the cheapest module)."""
    return max(math.ceil(0.01 * budget_params), cheapest_rank_cost)


@dataclass(frozen=True)
class RankAllocation:
    """Module name -> integer rank (0: no adapter), with the modules and budget it was made for.

    `extra_params_per_rank` is what one rank costs beyond d_in + d_out (AdaLoRA's singular value: 1),
    so `params` is exactly what PEFT counts as trainable. `note` says why an allocation is below the
    budget's tolerance (caps), `details` holds strategy-specific JSON-able records (weights used, ...).
    """

    ranks: dict[str, int]
    modules: tuple[TargetModule, ...]
    budget: Budget
    strategy: str
    options: dict[str, Any] = field(default_factory=dict)
    dynamic: bool = False
    extra_params_per_rank: int = 0
    note: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def rank_cost(self, m: TargetModule) -> int:
        """Parameters one rank of `m` costs in this allocation's adapter type."""
        return m.cost_per_rank + self.extra_params_per_rank

    @property
    def params(self) -> int:
        """Trainable parameters of this allocation: sum of r * (d_in + d_out [+ extra])."""
        return sum(self.ranks[m.name] * self.rank_cost(m) for m in self.modules)

    @property
    def active(self) -> list[TargetModule]:
        """Modules that get an adapter (rank > 0)."""
        return [m for m in self.modules if self.ranks[m.name] > 0]

    @property
    def tolerance(self) -> int:
        """Parameters the allocation may stay below its budget."""
        return tolerance_params(self.budget.params, min(self.rank_cost(m) for m in self.modules))

    @property
    def budget_status(self) -> str:
        """PASS (within tolerance), OVER (above budget), UNDER (below tolerance; see `note`) or DYNAMIC."""
        if self.dynamic:
            return "DYNAMIC"
        if self.params > self.budget.params:
            return "OVER"
        if self.params < self.budget.params - self.tolerance:
            return "UNDER"
        return "PASS"

    def to_dict(self) -> dict[str, Any]:
        """JSON-able record for allocation.json."""
        b = self.budget
        return {
            "strategy": self.strategy,
            "options": dict(self.options),
            "dynamic": self.dynamic,
            "budget": {"spec": b.spec, "params": b.params, "reference_rank": b.reference_rank},
            "achieved_params": self.params,
            "budget_ratio": self.params / b.params if b.params else None,
            "tolerance": self.tolerance,
            "budget_status": self.budget_status,
            "note": self.note,
            "extra_params_per_rank": self.extra_params_per_rank,
            "modules": [
                {**m.to_dict(), "rank": self.ranks[m.name], "cost": self.ranks[m.name] * self.rank_cost(m)}
                for m in self.modules
            ],
            "details": dict(self.details),
        }

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> RankAllocation:
        """Rebuild an allocation from its `to_dict` record (e.g. on resume)."""
        b = record["budget"]
        modules = tuple(
            TargetModule(name=m["name"], layer=m["layer"], kind=m["kind"], d_in=m["d_in"], d_out=m["d_out"])
            for m in record["modules"]
        )
        return cls(
            ranks={m["name"]: int(m["rank"]) for m in record["modules"]},
            modules=modules,
            budget=Budget(
                params=int(b["params"]), spec=b["spec"], reference_rank=int(b.get("reference_rank", 8))
            ),
            strategy=record["strategy"],
            options=dict(record.get("options", {})),
            dynamic=bool(record.get("dynamic", False)),
            extra_params_per_rank=int(record.get("extra_params_per_rank", 0)),
            note=record.get("note"),
            details=dict(record.get("details", {})),
        )


class StrategyOptions(BaseModel):
    """Base of every strategy's options model: frozen, unknown keys rejected."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Strategy:
    """A rank-allocation strategy. Subclasses set the class attributes and implement `allocate`.

    A static strategy defined by a rank weight per module subclasses `WeightedStrategy` instead
    (`loralab.strategies.weighted`) and implements only `weights`; see the package docstring.
    """

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

    # Hooks of a dynamic strategy. The run calls them for every strategy; these defaults mean "static".

    def peft_config(
        self, allocation: RankAllocation, total_steps: int, lora: LoraConfig, *, fan_in_fan_out: bool
    ) -> Any | None:
        """The PEFT config to attach for `allocation` over `total_steps` optimizer steps; None: the plain
        LoRA config of `loralab.adapters.build_lora_config`. Its trainable count must be
        `allocation.params` (the run refuses to train otherwise)."""
        return None

    def training_callback(self, allocation: RankAllocation, total_steps: int) -> RankCallback | None:
        """A callback the training loop drives (masking, pruning, freezing ...); None: nothing to drive.

        Its state is checkpointed under its `state_key`, so a resumed run continues it exactly."""
        return None

    def extra_loss(self, model: Any) -> Any | None:
        """A term (a scalar tensor) added to every micro-batch's loss, e.g. a regulariser; None: none."""
        return None

    def signal_options(self, options: StrategyOptions | None = None) -> dict[str, Any]:
        """Keyword arguments for measuring this strategy's signals (e.g. method, n_batches); {} if none."""
        return {}

    def resolve_options(self, options: StrategyOptions | dict[str, Any] | None) -> Any:
        """This strategy's Options: as given, defaults for None/empty base options, validated from a dict."""
        if isinstance(options, self.Options):
            return options
        if options is None or (type(options) is StrategyOptions):
            return self.Options()
        if isinstance(options, dict):
            return self.Options.model_validate(options)
        raise StrategyError(
            f"strategy {self.name!r} got options of type {type(options).__name__},"
            f" not {self.Options.__name__}"
        )


class RankCallback(Callback):
    """A dynamic strategy's training callback: it also reports what the ranks became.

    After training the run holds the budget to `final_rank_allocation()`, writes allocation.json as an
    `AllocationRecord` (loralab/results/allocation.py) built from `record()` (which must keep the
    initial allocation under "initial", the one a resumed run starts from; keys of its own are kept)
    and records `peak_params` as the run's peak trainable count.
    """

    peak_params: int = 0

    def final_rank_allocation(self) -> RankAllocation:
        """The ranks at the end of training (call after training)."""
        raise NotImplementedError

    def record(self) -> dict[str, Any]:
        """JSON-able record for allocation.json: {"initial": ..., "final": ..., "peak_params": ...} and
        whatever else the strategy keeps (e.g. a rank trajectory)."""
        raise NotImplementedError
