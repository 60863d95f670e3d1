"""`allocation.json`, typed: a run's initial and final rank allocations in one shape.

A static strategy's final allocation is its initial one; a dynamic strategy (AdaLoRA) keeps the ranks
it started from (`initial`, the one a resumed run starts from), the ranks the budget is held to after
training (`final`), its peak trainable count and, if it keeps one, a rank trajectory. Files written
before this schema hold one of two shapes, both read by `read_allocation`: a flat allocation (static
runs) or the final allocation's keys with `initial`, `final`, `peak_params`, `trajectory` beside them.

The record also keeps the strategy as the run's code described it (`strategy`: description, kind,
signals), so that a study's paper says what its runs ran, not what the installed code says now; records
written before it was kept have none (`strategy` is None) and their readers fall back to the registry.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from loralab.errors import StoreError, validation_message

SCHEMA_VERSION = 1
# Keys of the record itself; in an old dynamic file every other top-level key repeats `final`.
_RECORD_KEYS = ("schema_version", "initial", "final", "peak_params", "trajectory", "signals_wall_s")


class StrategyRecord(BaseModel):
    """A strategy as the run's code described it when the run allocated."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(description="Registered strategy name.")
    description: str = Field(description="The strategy's one-line description (the paper's method list).")
    kind: Literal["static", "dynamic"] = Field(description="static: ranks fixed; dynamic: they change.")
    needs: tuple[str, ...] = Field((), description="Signals it allocates from (importance, spectra), sorted.")


class ModuleRank(BaseModel):
    """One target module and the rank it got (0: no adapter)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(description="Module name in the model (model.layers.0.self_attn.q_proj).")
    layer: int = Field(description="Transformer block index.")
    kind: str = Field(description="Normalised role: attn_q, attn_qkv, mlp_out, ...")
    d_in: int | None = Field(None, description="Input features.")
    d_out: int | None = Field(None, description="Output features.")
    rank: int = Field(ge=0, description="LoRA rank given to the module.")
    cost: int | None = Field(None, description="Trainable params of its adapter at this rank.")


class BudgetRecord(BaseModel):
    """The budget an allocation was made for."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    spec: str = Field(description="The budget as declared (r8, a count, a fraction).")
    params: int = Field(description="Trainable params allowed.")
    reference_rank: int = Field(8, description="The uniform rank the budget is expressed in.")


class Allocation(BaseModel):
    """One rank allocation as `RankAllocation.to_dict` writes it (modules in model order)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    strategy: str = Field(description="Registered strategy name.")
    options: dict[str, Any] = Field(default_factory=dict, description="The strategy's options.")
    dynamic: bool = Field(False, description="Whether the ranks change during training.")
    budget: BudgetRecord | None = Field(None, description="The budget (absent in hand-made test stores).")
    achieved_params: int | None = Field(None, description="Trainable params of this allocation.")
    budget_ratio: float | None = Field(None, description="achieved_params / budget params.")
    tolerance: int | None = Field(None, description="Params the allocation may stay below its budget.")
    budget_status: str | None = Field(None, description="PASS, OVER, UNDER or DYNAMIC.")
    note: str | None = Field(None, description="Why an allocation is below its tolerance (caps).")
    extra_params_per_rank: int = Field(0, description="What one rank costs beyond d_in + d_out.")
    modules: tuple[ModuleRank, ...] = Field(description="Every target module with its rank.")
    details: dict[str, Any] = Field(default_factory=dict, description="Strategy-specific records.")

    @property
    def ranks(self) -> dict[str, int]:
        """Module name -> rank."""
        return {m.name: m.rank for m in self.modules}


class AllocationRecord(BaseModel):
    """allocation.json: initial and final allocations (equal for a static strategy), the peak.

    Extra keys are a dynamic strategy's own (`RankCallback.record()` may keep more) and are kept.
    """

    model_config = ConfigDict(frozen=True, extra="allow")

    schema_version: int = Field(SCHEMA_VERSION, description="Version of this schema.")
    initial: Allocation = Field(description="The allocation training starts from (and a resume).")
    final: Allocation = Field(description="The ranks the budget is held to after training.")
    peak_params: int | None = Field(None, description="Most trainable params at any step.")
    trajectory: list[dict[str, Any]] | None = Field(
        None, description="A dynamic strategy's rank trajectory: step, params, ... per record."
    )
    signals_wall_s: float = Field(0.0, description="Seconds spent measuring the strategy's signals (s).")
    strategy: StrategyRecord | None = Field(
        None, description="The strategy as the run's code described it (None: recorded before it was kept)."
    )

    @property
    def dynamic(self) -> bool:
        """Whether the ranks changed during training (a dynamic strategy)."""
        changed = self.initial != self.final or self.trajectory is not None
        return self.initial.dynamic or self.final.dynamic or changed

    @classmethod
    def static(
        cls,
        allocation: dict[str, Any],
        signals_wall_s: float = 0.0,
        strategy: StrategyRecord | None = None,
    ) -> AllocationRecord:
        """The record of an allocation that training does not change (`RankAllocation.to_dict()`),
        made by `strategy`."""
        alloc = Allocation.model_validate(allocation)
        return cls(
            initial=alloc,
            final=alloc,
            peak_params=alloc.achieved_params,
            signals_wall_s=signals_wall_s,
            strategy=strategy,
        )

    def to_json(self) -> dict[str, Any]:
        """The JSON-able form written to allocation.json."""
        return self.model_dump(mode="json")


def parse_allocation(data: Any) -> AllocationRecord:
    """An allocation record from today's shape or either older one (ValueError if it is none)."""
    if not isinstance(data, dict):
        raise ValueError(f"holds a {type(data).__name__}, not a mapping")
    try:
        if "initial" in data or "final" in data:
            if "schema_version" in data:
                return AllocationRecord.model_validate(data)
            # before the schema: the final allocation's keys repeated beside the record's own
            final_keys = set(Allocation.model_fields)
            kept = {k: v for k, v in data.items() if k not in final_keys}
            kept.setdefault("final", data.get("initial"))
            kept.setdefault("initial", kept["final"])
            return AllocationRecord.model_validate(kept)
        flat = {k: v for k, v in data.items() if k != "signals_wall_s"}
        return AllocationRecord.static(flat, float(data.get("signals_wall_s", 0.0)))
    except ValidationError as e:
        raise ValueError(validation_message(e)) from None


def read_allocation(path: str | Path) -> AllocationRecord:
    """Read a run's allocation.json; a StoreError says whether it is missing or damaged."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise StoreError(f"{path} is missing; rerun the run") from None
    except (OSError, ValueError) as e:
        raise StoreError(f"{path} is damaged ({type(e).__name__}); rerun the run") from None
    try:
        return parse_allocation(data)
    except ValueError as e:
        raise StoreError(f"{path} is damaged ({e}); rerun the run") from None
