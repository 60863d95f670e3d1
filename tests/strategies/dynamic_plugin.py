"""A dynamic strategy written as a plug-in (loaded with --strategy-file), touching no pipeline code.

`prune-late` starts every module at a rank that costs `start_ratio` times the budget, then, at
`prune_at` of the run, prunes whole modules (last layers first) until the rest fit the budget: their
adapters are zeroed and frozen, and their final rank is 0. It uses every hook a dynamic strategy
has: its own PEFT config (plain LoRA here), a training callback that reports the final ranks, and an
extra loss term (zero, so that it changes nothing but is seen). What each hook saw is recorded in
allocation.json, so a test can read it back from the store.
"""

from __future__ import annotations

from typing import Any

import torch
from pydantic import Field

from loralab.adapters import build_lora_config
from loralab.callbacks import TrainState
from loralab.strategies import (
    Budget,
    RankAllocation,
    RankCallback,
    Strategy,
    StrategyOptions,
    allocate_by_weights,
    register_strategy,
)


class PruneLateOptions(StrategyOptions):
    start_ratio: float = Field(2.0, gt=1.0, description="Initial cost over the budget.")
    prune_at: float = Field(0.5, gt=0.0, lt=1.0, description="When to prune, as a fraction of the steps.")


@register_strategy("prune-late")
class PruneLate(Strategy):
    description = "Test plug-in: start above the budget, prune the last layers' adapters mid-run."
    Options = PruneLateOptions
    dynamic = True

    def __init__(self) -> None:
        self.calls: dict[str, int] = {"peft_config": 0, "training_callback": 0, "extra_loss": 0}

    def allocate(self, modules, budget, signals, options, *, min_rank=0, max_rank=None) -> RankAllocation:
        opts = self.resolve_options(options)
        start = Budget(round(budget.params * opts.start_ratio), budget.spec, budget.reference_rank)
        ranks = allocate_by_weights(modules, {m.name: 1.0 for m in modules}, start, max_rank=max_rank)
        return RankAllocation(
            ranks=ranks,
            modules=tuple(modules),
            budget=budget,
            strategy=self.name,
            options=opts.model_dump(mode="json"),
            dynamic=True,
        )

    def peft_config(self, allocation, total_steps, lora, *, fan_in_fan_out):
        self.calls["peft_config"] += 1
        return build_lora_config(allocation, lora, fan_in_fan_out=fan_in_fan_out)

    def training_callback(self, allocation, total_steps) -> RankCallback:
        self.calls["training_callback"] += 1
        return PruneLateCallback(self, allocation, total_steps)

    def extra_loss(self, model) -> torch.Tensor:
        self.calls["extra_loss"] += 1
        return torch.zeros(())


class PruneLateCallback(RankCallback):
    def __init__(self, strategy: PruneLate, allocation: RankAllocation, total_steps: int):
        self.strategy, self.allocation = strategy, allocation
        opts = PruneLateOptions.model_validate(allocation.options)
        self.prune_step = max(1, round(opts.prune_at * total_steps))
        self.pruned: list[str] = []
        self.pruned_at: int | None = None
        self.peak_params = allocation.params
        self.steps_seen = 0

    def on_train_begin(self, state: TrainState) -> None:
        self._freeze(state.model)  # a resumed run keeps what was pruned

    def on_step_end(self, state: TrainState) -> None:
        self.steps_seen += 1
        if self.pruned_at is None and state.step >= self.prune_step:
            a = self.allocation
            cost = {m.name: a.ranks[m.name] * a.rank_cost(m) for m in a.modules}
            spent = sum(cost.values())
            for m in sorted(a.modules, key=lambda m: (-m.layer, m.name)):
                if spent <= a.budget.params:
                    break
                self.pruned.append(m.name)
                spent -= cost[m.name]
            self.pruned_at = state.step
            self._freeze(state.model)

    def _freeze(self, model: torch.nn.Module) -> None:
        for name, p in model.named_parameters():
            if ("lora_A" in name or "lora_B" in name) and any(f"{m}.lora_" in name for m in self.pruned):
                with torch.no_grad():
                    p.zero_()
                p.requires_grad_(False)

    def state_dict(self) -> dict[str, Any]:
        return {"pruned": list(self.pruned), "pruned_at": self.pruned_at, "steps_seen": self.steps_seen}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.pruned, self.pruned_at = list(state["pruned"]), state["pruned_at"]
        self.steps_seen = state["steps_seen"]

    def final_rank_allocation(self) -> RankAllocation:
        a = self.allocation
        ranks = {n: 0 if n in self.pruned else r for n, r in a.ranks.items()}
        return RankAllocation(
            ranks, a.modules, a.budget, a.strategy, a.options, details={"pruned": self.pruned}
        )

    def record(self) -> dict[str, Any]:
        return {
            "initial": self.allocation.to_dict(),
            "final": self.final_rank_allocation().to_dict(),
            "peak_params": self.peak_params,
            "pruned_at": self.pruned_at,
            "steps_seen": self.steps_seen,
            "hook_calls": dict(self.strategy.calls),
        }
